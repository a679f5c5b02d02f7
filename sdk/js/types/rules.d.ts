import type { Callflow } from "./index";

export declare const MAX_TEXT_CHARS: number;
export declare const MAX_CLIENT_ACTION_ID: number;
export declare const MAX_MAKE_CALLS: number;
export declare const MAX_DIGITS: number;
export declare const MAX_TRIES: number;
export declare const MAX_BODY_BYTES: number;

/** A rule the callflow breaks: 8x8's error code (0 for the host's own), where, why. */
export declare class Violation extends Error {
  code: number;
  at: string;
  detail: string;
}
/** An optional `+` and 1 to 15 digits. */
export declare function isE164(number: string): boolean;
/** Throws Violation for the first rule `flow` breaks. */
export declare function validate(flow: Callflow): void;
export declare function checkClientActionId(id: string): void;
