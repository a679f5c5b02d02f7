// Types of "@callflow/sdk": write callflow-host plugins in JavaScript or TypeScript.

/** The plugin contract (WIT package) this SDK builds against. */
export declare const CONTRACT: "callflow:plugin@0.2.0";

export declare const CallStatus: {
  readonly CALL_INITIATED: "CALL_INITIATED";
  readonly CALL_RECEIVED: "CALL_RECEIVED";
  readonly CALL_CONNECTED: "CALL_CONNECTED";
  readonly CALL_DISCONNECTED: "CALL_DISCONNECTED";
  readonly CALL_UPDATED: "CALL_UPDATED";
  readonly DTMF_RECEIVED: "DTMF_RECEIVED";
  readonly ACTION_COMPLETED: "ACTION_COMPLETED";
};
export declare const CallDirection: { readonly INBOUND: "INBOUND"; readonly OUTBOUND: "OUTBOUND" };
export declare const SessionStatus: {
  readonly COMPLETED: "COMPLETED";
  readonly BUSY: "BUSY";
  readonly NO_ANSWER: "NO_ANSWER";
  readonly FAILED: "FAILED";
  readonly CANCELED: "CANCELED";
  readonly ERROR: "ERROR";
};
export declare const NumberState: { readonly ACTIVE: "ACTIVE"; readonly UNHEALTHY: "UNHEALTHY" };
export declare const EventKind: {
  readonly CALL_ACTION: "CALL_ACTION";
  readonly CALL_STATUS: "CALL_STATUS";
  readonly SESSION_SUMMARY: "SESSION_SUMMARY";
  readonly CALL_RECORDING_STATUS: "CALL_RECORDING_STATUS";
  readonly VIRTUAL_NUMBER_UPDATE: "VIRTUAL_NUMBER_UPDATE";
};

/** The fields every call-leg webhook (call action, call status) carries. */
export interface Call {
  /** Unique per delivery of an event; repeated deliveries keep it. */
  eventId: string;
  callId: string;
  /** Every leg and every webhook of one call share it. */
  sessionId: string;
  subAccountId: string;
  /** One of CallStatus, or a status the contract does not know, verbatim. */
  status: string;
  /** One of CallDirection, or another direction, verbatim. */
  direction: string;
  /** `PSTN` or `VOIP`, verbatim. */
  callType: string;
  /** E.164 with a leading `+`. */
  source: string;
  /** E.164 with a leading `+`. */
  destination: string;
  sourceCountryCode?: string;
  destinationCountryCode?: string;
  sourceRefId?: string;
  destinationRefId?: string;
  callDuration: number;
  sipCode?: number;
  timestamp: string;
}

/** `CALL_ACTION`: the platform waits for the callflow to run next. */
export interface CallActionEvent {
  kind: "CALL_ACTION";
  call: Call;
  /** The clientActionId of the callflow that just completed (your own echo). */
  clientActionId?: string;
  /** Digits captured by the last sayAndCapture; undefined when nothing was captured. */
  digits?: string;
}

/** `CALL_STATUS`: a leg changed state. */
export interface CallStatusEvent {
  kind: "CALL_STATUS";
  call: Call;
}

export interface CallQuality {
  mos?: number;
  packetLossRate?: number;
  jitter?: number;
}

export interface SessionLeg {
  name: string;
  callId?: string;
  direction?: string;
  callType?: string;
  source?: string;
  destination?: string;
  sourceRefId?: string;
  destinationRefId?: string;
  status?: string;
  callDuration?: number;
  sipCode?: number;
  initiatedAt?: string;
  connectedAt?: string;
  disconnectedAt?: string;
  quality?: CallQuality;
}

/** `SESSION_SUMMARY`: a session ended. */
export interface SessionSummaryEvent {
  kind: "SESSION_SUMMARY";
  eventId?: string;
  sessionId: string;
  subAccountId: string;
  /** One of SessionStatus, or another status, verbatim. */
  status: string;
  startTime?: string;
  endTime?: string;
  lastAction?: string;
  callCount: number;
  clientRequestId?: string;
  error?: { code: number; message: string };
  legs: SessionLeg[];
}

/** `CALL_RECORDING_STATUS`: a recording changed state. */
export interface RecordingStatusEvent {
  kind: "CALL_RECORDING_STATUS";
  eventId?: string;
  sessionId: string;
  subAccountId?: string;
  recordingId: string;
  durationSeconds: number;
  filePath?: string;
  status: string;
}

/** `VIRTUAL_NUMBER_UPDATE`: a number's health changed. */
export interface VirtualNumberUpdateEvent {
  kind: "VIRTUAL_NUMBER_UPDATE";
  eventId?: string;
  subAccountId?: string;
  numbers: { number: string; refId?: string; countryCode?: string; state: string }[];
}

/** One webhook; `event.kind` is 8x8's `eventType`. */
export type Event =
  | CallActionEvent
  | CallStatusEvent
  | SessionSummaryEvent
  | RecordingStatusEvent
  | VirtualNumberUpdateEvent;

/** Bridge the caller to another party. */
export declare class MakeCall {
  constructor(source: string, destination: string);
  source: string;
  destination: string;
  /** Record the call (needs recording set up on the 8x8 account). */
  recording(on: boolean): this;
}

/** Speak text to the caller. */
export declare class Say {
  constructor(text: string, voiceProfile: string);
  text: string;
  voiceProfile: string;
  /** How many times to say it, 1 to 3. */
  repetition(times: number): this;
  /** Speech speed, 0.5 to 2.0. */
  speed(speed: number): this;
}

/** Speak a prompt, then capture keypresses; the digits arrive in the next call action. */
export declare class SayAndCapture {
  constructor(promptMessage: string, voiceProfile: string);
  promptMessage: string;
  voiceProfile: string;
  successMessage(text: string): this;
  failureMessage(text: string): this;
  speed(speed: number): this;
  /** End the capture on `#`; when false, maxDigits is required. */
  completeOnHash(on: boolean): this;
  /** Fewest and most digits accepted (at most 25). */
  digits(min: number, max: number): this;
  /** Milliseconds between digits and for the whole input; the first must be less. */
  timeouts(digitMs: number, overallMs: number): this;
  overallTimeout(overallMs: number): this;
  /** How many times the prompt is tried on failed input, 1 to 5. */
  tries(tries: number): this;
}

/** Play an audio file (a public http(s) `.mp3` or `.wav` under 5 MB). */
export declare class PlayFile {
  constructor(fileUrl: string);
  fileUrl: string;
  repetition(times: number): this;
}

/** End the call. */
export declare class Hangup {}

export type Action = MakeCall | Say | SayAndCapture | PlayFile | Hangup;

/** 8x8's name of an action: `say`, `sayAndCapture`, `makeCall`, `playFile`, `hangup`. */
export declare function actionName(action: Action): string;

/** The answer to a call action: actions the platform runs in order. */
export declare class Callflow {
  actions: Action[];
  /** The clientActionId, if set. */
  id?: string;
  /** Echoed back by 8x8 in the next call action: where the caller is in your flow. */
  clientActionId(id: string): this;
  /** Appends any action (`then` in the Rust and Python SDKs; a `then` method would make
   * a Callflow a thenable in JavaScript). */
  add(action: Action): this;
  say(say: Say): this;
  sayAndCapture(capture: SayAndCapture): this;
  makeCall(call: MakeCall): this;
  playFile(file: PlayFile): this;
  hangup(): this;
  /** The 8x8 JSON object. */
  toObject(): { clientActionId?: string; callflow: { action: string; params?: Record<string, unknown> }[] };
  toJSON(): ReturnType<Callflow["toObject"]>;
  static fromObject(value: ReturnType<Callflow["toObject"]>): Callflow;
}

/** A failure the plugin reports itself; the caller gets the tenant's fallback. */
export declare class PluginError extends Error {
  readonly kind: "bad-event" | "unavailable" | "internal";
}
/** The event lacks something the plugin needs. */
export declare class BadEvent extends PluginError {}
/** A dependency (configuration, the store) was unavailable. */
export declare class Unavailable extends PluginError {}
/** Anything else. */
export declare class Internal extends PluginError {}
/** A key-value operation failed. */
export declare class KvError extends Unavailable {
  constructor(reason: "too-large" | "unavailable" | "quota-exceeded", detail: string);
  readonly reason: "too-large" | "unavailable" | "quota-exceeded";
  readonly detail: string;
}

export declare const Level: {
  readonly TRACE: "trace";
  readonly DEBUG: "debug";
  readonly INFO: "info";
  readonly WARN: "warn";
  readonly ERROR: "error";
};
export type LogLevel = (typeof Level)[keyof typeof Level];

/** The tenant's key-value store (keys at most 1 KiB, values 64 KiB). */
export declare class Kv {
  get(key: string): Uint8Array | undefined;
  getString(key: string): string | undefined;
  set(key: string, value: string | Uint8Array, ttlMs?: number): void;
  delete(key: string): boolean;
  compareAndSwap(
    key: string,
    expected: string | Uint8Array | undefined,
    next: string | Uint8Array | undefined,
    ttlMs?: number,
  ): boolean;
}

/** Everything a plugin can ask of its host while it handles one event. */
export declare class Context {
  config(key: string): string | undefined;
  /** The value for `key`, or Unavailable naming the missing key. */
  requireConfig(key: string): string;
  kv(): Kv;
  nowMs(): number;
  log(level: LogLevel, message: string): void;
  trace(message: string): void;
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** What a plugin implements. Export it (class or instance) as the module's default. */
export declare class Plugin {
  /** For a CALL_ACTION, the callflow the caller gets next; undefined or a thrown error
   * gives the tenant's fallback. Other events: return undefined. */
  handle(event: Event, ctx: Context): Callflow | undefined;
  /** Serves one request to the tenant's API; the default (undefined) is a 404. */
  api(request: import("./api.js").Request, ctx: Context): import("./api.js").Response | undefined;
}

export declare function pluginOf(exported: Plugin | (new () => Plugin)): Plugin;
