// Write callflow-host plugins in JavaScript: 8x8 voice events in, callflows out.
//
// A plugin answers 8x8 voice webhooks. The host parses each webhook into an event, hands
// it to the plugin, checks the Callflow the plugin answers with against 8x8's rules and
// sends it to the platform. The names follow the Rust SDK's: Callflow, Say,
// SayAndCapture, MakeCall, PlayFile, Context, and the errors BadEvent, Unavailable and
// Internal.
//
//   import { Callflow, Plugin, Say } from "@callflow/sdk";
//
//   export default class Greeter extends Plugin {
//     handle(event, ctx) {
//       if (event.kind !== "CALL_ACTION") return undefined; // no answer needed
//       const greeting = ctx.requireConfig("greeting");
//       return new Callflow().say(new Say(greeting, "en-US-BenjaminRUS").speed(1)).hangup();
//     }
//   }
//
// The module's default export (a Plugin class or instance) is the component's plugin;
// `callflow-js build app.js -o plugin.wasm` builds it with componentize-js, and the same
// code runs natively under `node --test` with "@callflow/sdk/testing".

/** The plugin contract (WIT package) this SDK builds against. */
export const CONTRACT = "callflow:plugin@0.2.0";

// ---------------------------------------------------------------------------------------
// Events in. Statuses and directions are plain strings: these constants for the values
// the contract knows, any other value verbatim.

export const CallStatus = Object.freeze({
  CALL_INITIATED: "CALL_INITIATED",
  CALL_RECEIVED: "CALL_RECEIVED",
  CALL_CONNECTED: "CALL_CONNECTED",
  CALL_DISCONNECTED: "CALL_DISCONNECTED",
  CALL_UPDATED: "CALL_UPDATED",
  DTMF_RECEIVED: "DTMF_RECEIVED",
  ACTION_COMPLETED: "ACTION_COMPLETED",
});

export const CallDirection = Object.freeze({ INBOUND: "INBOUND", OUTBOUND: "OUTBOUND" });

export const SessionStatus = Object.freeze({
  COMPLETED: "COMPLETED",
  BUSY: "BUSY",
  NO_ANSWER: "NO_ANSWER",
  FAILED: "FAILED",
  CANCELED: "CANCELED",
  ERROR: "ERROR",
});

export const NumberState = Object.freeze({ ACTIVE: "ACTIVE", UNHEALTHY: "UNHEALTHY" });

/** 8x8's `eventType` of each event the host hands over, as `event.kind`. */
export const EventKind = Object.freeze({
  CALL_ACTION: "CALL_ACTION",
  CALL_STATUS: "CALL_STATUS",
  SESSION_SUMMARY: "SESSION_SUMMARY",
  CALL_RECORDING_STATUS: "CALL_RECORDING_STATUS",
  VIRTUAL_NUMBER_UPDATE: "VIRTUAL_NUMBER_UPDATE",
});

// ---------------------------------------------------------------------------------------
// Callflows out, rendered as 8x8's exact JSON.

function put(out, key, value) {
  if (value !== undefined && value !== null) out[key] = value;
}

/** Bridge the caller to another party. */
export class MakeCall {
  constructor(source, destination) {
    this.source = source;
    this.destination = destination;
    this.callRecording = undefined;
  }
  /** Record the call (needs recording set up on the 8x8 account). */
  recording(on) {
    this.callRecording = on;
    return this;
  }
  params() {
    const out = { source: this.source, destination: this.destination };
    put(out, "callRecording", this.callRecording);
    return out;
  }
}

/** Speak text to the caller. */
export class Say {
  constructor(text, voiceProfile) {
    this.text = text;
    this.voiceProfile = voiceProfile;
    this.times = undefined;
    this.rate = undefined;
  }
  /** How many times to say it, 1 to 3. */
  repetition(times) {
    this.times = times;
    return this;
  }
  /** Speech speed, 0.5 to 2.0. */
  speed(speed) {
    this.rate = speed;
    return this;
  }
  params() {
    const out = { text: this.text, voiceProfile: this.voiceProfile };
    put(out, "repetition", this.times);
    put(out, "speed", this.rate); // JSON writes 1.0 as 1, as 8x8's samples and the host do
    return out;
  }
}

/** Speak a prompt, then capture keypresses; the digits arrive in the next call action. */
export class SayAndCapture {
  constructor(promptMessage, voiceProfile) {
    this.promptMessage = promptMessage;
    this.voiceProfile = voiceProfile;
    this.success = undefined;
    this.failure = undefined;
    this.rate = undefined;
    this.onHash = undefined;
    this.minDigits = undefined;
    this.maxDigits = undefined;
    this.digitTimeout = undefined;
    this.overallTimeoutMs = undefined;
    this.noOfTries = undefined;
  }
  successMessage(text) {
    this.success = text;
    return this;
  }
  failureMessage(text) {
    this.failure = text;
    return this;
  }
  speed(speed) {
    this.rate = speed;
    return this;
  }
  /** End the capture on `#`; when false, maxDigits is required. */
  completeOnHash(on) {
    this.onHash = on;
    return this;
  }
  /** Fewest and most digits accepted (at most 25). */
  digits(min, max) {
    this.minDigits = min;
    this.maxDigits = max;
    return this;
  }
  /** Milliseconds between digits and for the whole input; the first must be less. */
  timeouts(digitMs, overallMs) {
    this.digitTimeout = digitMs;
    this.overallTimeoutMs = overallMs;
    return this;
  }
  overallTimeout(overallMs) {
    this.overallTimeoutMs = overallMs;
    return this;
  }
  /** How many times the prompt is tried on failed input, 1 to 5. */
  tries(tries) {
    this.noOfTries = tries;
    return this;
  }
  params() {
    const out = { promptMessage: this.promptMessage, voiceProfile: this.voiceProfile };
    put(out, "successMessage", this.success);
    put(out, "failureMessage", this.failure);
    put(out, "speed", this.rate); // JSON writes 1.0 as 1, as 8x8's samples and the host do
    put(out, "completeOnHash", this.onHash);
    put(out, "minDigits", this.minDigits);
    put(out, "maxDigits", this.maxDigits);
    put(out, "digitTimeout", this.digitTimeout);
    put(out, "overallTimeout", this.overallTimeoutMs);
    put(out, "noOfTries", this.noOfTries);
    return out;
  }
}

/** Play an audio file (a public http(s) `.mp3` or `.wav` under 5 MB). */
export class PlayFile {
  constructor(fileUrl) {
    this.fileUrl = fileUrl;
    this.times = undefined;
  }
  repetition(times) {
    this.times = times;
    return this;
  }
  params() {
    const out = { fileUrl: this.fileUrl };
    put(out, "repetition", this.times);
    return out;
  }
}

/** End the call. */
export class Hangup {}

/** 8x8's name of an action: `say`, `sayAndCapture`, `makeCall`, `playFile`, `hangup`. */
export function actionName(action) {
  if (action instanceof Say) return "say";
  if (action instanceof SayAndCapture) return "sayAndCapture";
  if (action instanceof MakeCall) return "makeCall";
  if (action instanceof PlayFile) return "playFile";
  if (action instanceof Hangup) return "hangup";
  throw new Internal(`not a callflow action: ${String(action)}`);
}

/** The answer to a call action: actions the platform runs in order. */
export class Callflow {
  constructor() {
    this.actions = [];
    this.id = undefined;
  }
  /** Echoed back by 8x8 in the next call action: where the caller is in your flow. At
   * most 128 characters of `[A-Za-z0-9_.:-]`; never personal data. */
  clientActionId(id) {
    this.id = id;
    return this;
  }
  /** Appends any action. (The Rust and Python SDKs call this `then`; in JavaScript a
   * `then` method would make every Callflow look like a promise, and `await` on one, or
   * returning one from an async function, would never finish.) */
  add(action) {
    this.actions.push(action);
    return this;
  }
  say(say) {
    return this.add(say);
  }
  sayAndCapture(capture) {
    return this.add(capture);
  }
  makeCall(call) {
    return this.add(call);
  }
  playFile(file) {
    return this.add(file);
  }
  hangup() {
    return this.add(new Hangup());
  }
  /** The 8x8 JSON object (the id first, as the Rust SDK writes it). */
  toObject() {
    const out = {};
    put(out, "clientActionId", this.id);
    out.callflow = this.actions.map((a) =>
      a instanceof Hangup ? { action: "hangup" } : { action: actionName(a), params: a.params() },
    );
    return out;
  }
  /** 8x8's JSON, compact. */
  toJSON() {
    return this.toObject();
  }
  toString() {
    return JSON.stringify(this.toObject());
  }
  /** Reads 8x8's JSON object back (as a test's expected answer). */
  static fromObject(value) {
    const flow = new Callflow();
    if (value.clientActionId !== undefined) flow.clientActionId(value.clientActionId);
    for (const step of value.callflow) {
      const p = step.params ?? {};
      switch (step.action) {
        case "say": {
          const s = new Say(p.text, p.voiceProfile);
          s.times = p.repetition;
          s.rate = p.speed;
          flow.add(s);
          break;
        }
        case "sayAndCapture": {
          const c = new SayAndCapture(p.promptMessage, p.voiceProfile);
          Object.assign(c, {
            success: p.successMessage,
            failure: p.failureMessage,
            rate: p.speed,
            onHash: p.completeOnHash,
            minDigits: p.minDigits,
            maxDigits: p.maxDigits,
            digitTimeout: p.digitTimeout,
            overallTimeoutMs: p.overallTimeout,
            noOfTries: p.noOfTries,
          });
          flow.add(c);
          break;
        }
        case "makeCall":
          flow.add(new MakeCall(p.source, p.destination).recording(p.callRecording));
          break;
        case "playFile": {
          const f = new PlayFile(p.fileUrl);
          f.times = p.repetition;
          flow.add(f);
          break;
        }
        case "hangup":
          flow.hangup();
          break;
        default:
          throw new Error(`unknown action ${JSON.stringify(step.action)}`);
      }
    }
    return flow;
  }
}

// ---------------------------------------------------------------------------------------
// Errors: the caller gets the tenant's fallback.

/** A failure the plugin reports itself. Throw one of the three kinds; anything else a
 * plugin throws is reported as Internal with its message. */
export class PluginError extends Error {
  get kind() {
    return "internal";
  }
}
/** The event lacks something the plugin needs. */
export class BadEvent extends PluginError {
  get kind() {
    return "bad-event";
  }
}
/** A dependency (configuration, the store) was unavailable. */
export class Unavailable extends PluginError {
  get kind() {
    return "unavailable";
  }
}
/** Anything else. */
export class Internal extends PluginError {
  get kind() {
    return "internal";
  }
}

/** A key-value operation failed; `reason` is `too-large`, `unavailable` or
 * `quota-exceeded`. It is an Unavailable, so letting it escape gives the caller the
 * fallback. */
export class KvError extends Unavailable {
  constructor(reason, detail) {
    super(`key-value store: ${reason}: ${detail}`);
    this.reason = reason;
    this.detail = detail;
  }
}

// ---------------------------------------------------------------------------------------
// The context: what a plugin can ask of its host while it handles one event.

export const Level = Object.freeze({
  TRACE: "trace",
  DEBUG: "debug",
  INFO: "info",
  WARN: "warn",
  ERROR: "error",
});

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function toBytes(value) {
  return typeof value === "string" ? encoder.encode(value) : new Uint8Array(value);
}

/** The tenant's key-value store: no tenant sees another's keys. Keys are at most 1 KiB,
 * values 64 KiB; every operation throws KvError on failure. */
export class Kv {
  constructor(host) {
    this.host = host;
  }
  /** The value under `key` (a Uint8Array), or undefined. */
  get(key) {
    return this.host.kvGet(key);
  }
  /** The value under `key` as UTF-8 text, or undefined. */
  getString(key) {
    const v = this.get(key);
    return v === undefined ? undefined : decoder.decode(v);
  }
  /** Stores `value` (a string or bytes); with `ttlMs` it expires after that long. */
  set(key, value, ttlMs) {
    this.host.kvSet(key, toBytes(value), ttlMs);
  }
  /** Removes `key`; true when it existed. */
  delete(key) {
    return this.host.kvDelete(key);
  }
  /** Replaces the value of `key` with `next` (undefined deletes it) if the current one
   * is `expected` (undefined: absent). True when it swapped. */
  compareAndSwap(key, expected, next, ttlMs) {
    return this.host.kvCompareAndSwap(
      key,
      expected === undefined ? undefined : toBytes(expected),
      next === undefined ? undefined : toBytes(next),
      ttlMs,
    );
  }
}

/** Everything a plugin can ask of its host while it handles one event. Nothing a plugin
 * keeps in memory survives the event: state that must last goes in `kv()`. */
export class Context {
  constructor(host) {
    this.host = host;
  }
  /** The tenant's configuration value for `key`, or undefined. */
  config(key) {
    return this.host.config(key);
  }
  /** The value for `key`, or Unavailable naming the missing key. */
  requireConfig(key) {
    const value = this.config(key);
    if (value === undefined) throw new Unavailable(`tenant configuration has no \`${key}\``);
    return value;
  }
  kv() {
    return new Kv(this.host);
  }
  /** Milliseconds since the Unix epoch: the host's clock in a component, the harness's
   * own (movable) clock in tests. */
  nowMs() {
    return this.host.nowMs();
  }
  /** One line in the host's log, tagged with tenant, session and event. */
  log(level, message) {
    this.host.log(level, String(message));
  }
  trace(message) {
    this.log(Level.TRACE, message);
  }
  debug(message) {
    this.log(Level.DEBUG, message);
  }
  info(message) {
    this.log(Level.INFO, message);
  }
  warn(message) {
    this.log(Level.WARN, message);
  }
  error(message) {
    this.log(Level.ERROR, message);
  }
}

// ---------------------------------------------------------------------------------------
// The plugin.

/** What a plugin implements: one event in, maybe a callflow out. For a CALL_ACTION, the
 * returned Callflow is what the caller gets next; undefined or a thrown error gives the
 * caller the tenant's fallback. Every event runs in a fresh instance. */
export class Plugin {
  handle(_event, _ctx) {
    throw new Internal("a plugin implements handle(event, ctx)");
  }
  /** Serves one request to the tenant's API; the default serves none (404). */
  api(_request, _ctx) {
    return undefined;
  }
}

/** The plugin a module's default export stands for: a Plugin class is instantiated. */
export function pluginOf(exported) {
  const plugin = typeof exported === "function" ? new exported() : exported;
  if (!plugin || typeof plugin.handle !== "function") {
    throw new TypeError("the plugin module's default export must be a Plugin (class or instance)");
  }
  return plugin;
}
