import type { Callflow } from "./index.js";

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
export declare const U8: number;
export declare const U32: number;
/** `v` as a WIT `string`, or Violation naming `name`. */
export declare function witString(v: unknown, name: string): string;
/** `v` as a WIT `option<kind>`, or Violation naming `name`. */
export declare function witOption(
  v: unknown,
  name: string,
  kind: "int" | "float" | "boolean" | "string",
  top?: number,
): unknown;
/** Throws Violation for the first field of `flow` the WIT cannot carry. */
export declare function checkTypes(flow: Callflow): void;
