import type { Request, Response } from "./api.js";
import type { CallActionEvent, Callflow, Context, Event, LogLevel, Plugin } from "./index.js";

export interface Transcript {
  /** Every text said or prompted, in order. */
  heard: string[];
  pressed: string[];
  /** Numbers a makeCall bridged the caller to. */
  bridged: string[];
  callflows: Callflow[];
  ended: string;
}

/** An in-memory host for plugins under test. */
export declare class Harness {
  constructor(
    config?: Record<string, string>,
    options?: { nowMs?: number; kvQuotaKeys?: number; kvQuotaBytes?: number },
  );
  config(key: string, value: string): this;
  context(): Context;
  advance(ms: number): void;
  logs(): { level: LogLevel; message: string }[];
  /** Runs `plugin.handle` (a class: a fresh instance per event, as in the component); a
   * callflow 8x8 would refuse, or one the WIT cannot carry, throws Violation. */
  handle(plugin: Plugin | (new () => Plugin), event: Event): Callflow | undefined;
  api(plugin: Plugin | (new () => Plugin), request: Request): Response;
  /** A whole call; `script` is what the caller presses at each prompt (`"1,1,2"`). */
  call(
    plugin: Plugin | (new () => Plugin),
    script?: string,
    numbers?: { source?: string; destination?: string },
  ): Transcript;
}

export declare function callAction(fields?: {
  clientActionId?: string;
  digits?: string;
  status?: string;
  direction?: string;
  source?: string;
  destination?: string;
  eventId?: string;
  callId?: string;
  sessionId?: string;
  subAccountId?: string;
}): CallActionEvent;

export declare function loadCase(folder: string): { event: Event; expected?: Callflow };
export declare function eventFromJson(body: string | Record<string, unknown>): Event;
