// Run plugins natively under `node --test`: an in-memory host, events built from 8x8's
// JSON, and whole scripted calls.
//
//   import { Harness, callAction } from "@callflow/sdk/testing";
//   const flow = new Harness().handle(new Echo(), callAction({ clientActionId: "menu", digits: "7" }));
//
// The harness keeps the host's store rules (sizes, expiry on its own clock, quota) and
// fails on a callflow 8x8 would refuse (rules.js). Three ways to make events:
// callAction(), eventFromJson() for a webhook as 8x8 posts it, and Harness.call() for a
// whole call.

import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";

import { ApiError, Response } from "./api.js";
import {
  CallDirection,
  CallStatus,
  Callflow,
  Context,
  Hangup,
  KvError,
  Level,
  MakeCall,
  PlayFile,
  PluginError,
  Say,
  SayAndCapture,
} from "./index.js";
import { Violation, validate } from "./rules.js";

export const MAX_KEY_BYTES = 1024;
export const MAX_VALUE_BYTES = 64 * 1024;

const byteLength = (s) => new TextEncoder().encode(s).length;

function sameBytes(a, b) {
  if (a === undefined || b === undefined) return a === b;
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

class MemoryHost {
  constructor(config, nowMs, quotaKeys, quotaBytes) {
    this.configValues = { ...config };
    this.store = new Map();
    this.lines = [];
    this.clockMs = nowMs;
    this.quotaKeys = quotaKeys;
    this.quotaBytes = quotaBytes;
  }
  log(level, message) {
    if (!Object.values(Level).includes(level)) throw new Error(`unknown log level ${level}`);
    this.lines.push({ level, message });
  }
  config(key) {
    return this.configValues[key];
  }
  live(key) {
    const entry = this.store.get(key);
    if (!entry) return undefined;
    if (entry.expires !== undefined && entry.expires <= this.clockMs) {
      this.store.delete(key);
      return undefined;
    }
    return entry.value;
  }
  check(key, value) {
    if (byteLength(key) > MAX_KEY_BYTES) {
      throw new KvError("too-large", `key is ${byteLength(key)} bytes; the limit is ${MAX_KEY_BYTES}`);
    }
    if (value !== undefined && value.length > MAX_VALUE_BYTES) {
      throw new KvError("too-large", `value is ${value.length} bytes; the limit is ${MAX_VALUE_BYTES}`);
    }
  }
  quota(key, value) {
    for (const k of [...this.store.keys()]) this.live(k);
    const keys = this.store.size + (this.store.has(key) ? 0 : 1);
    let used = byteLength(key) + value.length;
    for (const [k, e] of this.store) if (k !== key) used += byteLength(k) + e.value.length;
    if (keys > this.quotaKeys || used > this.quotaBytes) {
      throw new KvError("quota-exceeded", `the tenant's store is full (${this.quotaKeys} keys, ${this.quotaBytes} bytes)`);
    }
  }
  put(key, value, ttlMs) {
    this.store.set(key, {
      value: new Uint8Array(value),
      expires: ttlMs === undefined ? undefined : this.clockMs + Number(ttlMs),
    });
  }
  kvGet(key) {
    this.check(key);
    return this.live(key);
  }
  kvSet(key, value, ttlMs) {
    this.check(key, value);
    this.quota(key, value);
    this.put(key, value, ttlMs);
  }
  kvDelete(key) {
    this.check(key);
    const existed = this.live(key) !== undefined;
    this.store.delete(key);
    return existed;
  }
  kvCompareAndSwap(key, expected, next, ttlMs) {
    this.check(key, next);
    if (!sameBytes(this.live(key), expected)) return false;
    if (next === undefined) {
      this.store.delete(key);
    } else {
      this.quota(key, next);
      this.put(key, next, ttlMs);
    }
    return true;
  }
  nowMs() {
    return this.clockMs;
  }
}

/** An in-memory host for plugins under test. */
export class Harness {
  constructor(config = {}, { nowMs = 1_767_694_639_375, kvQuotaKeys = 100_000, kvQuotaBytes = 64 << 20 } = {}) {
    this.host = new MemoryHost(config, nowMs, kvQuotaKeys, kvQuotaBytes);
  }
  config(key, value) {
    this.host.configValues[key] = value;
    return this;
  }
  context() {
    return new Context(this.host);
  }
  /** Moves the harness's clock (values with a TTL expire by it). */
  advance(ms) {
    this.host.clockMs += ms;
  }
  /** Every line the plugin logged so far: `{level, message}`. */
  logs() {
    return [...this.host.lines];
  }
  /** Runs `plugin.handle` (pass the class for a fresh instance per event, as in the
   * component); a callflow 8x8 would refuse, or one the WIT cannot carry, throws
   * Violation; a PluginError propagates. */
  handle(plugin, event) {
    // A class is instantiated for each event, as the component runs every event in a
    // fresh instance; an instance is used as given.
    const instance = typeof plugin === "function" ? new plugin() : plugin;
    const flow = instance.handle(event, this.context());
    if (flow === undefined || flow === null) return undefined;
    if (!(flow instanceof Callflow)) throw new TypeError("handle() returned something other than a Callflow or undefined");
    validate(flow);
    return flow;
  }
  /** Runs `plugin.api`; a thrown error becomes the JSON 5xx the component answers. */
  api(plugin, request) {
    const instance = typeof plugin === "function" ? new plugin() : plugin;
    try {
      return instance.api(request, this.context()) ?? Response.notFound();
    } catch (err) {
      return ApiError.from(err).toResponse();
    }
  }
  /** A whole inbound call, 8x8's side played against `plugin`. `script` is what the
   * caller presses at each sayAndCapture, comma-separated (`"1,1,2"`); `-` presses
   * nothing; when it runs out, the caller hangs up at the next prompt. */
  call(plugin, script = "", { source = "+6591178965", destination = "+6568332048" } = {}) {
    const presses = script.trim() ? script.split(",").map((p) => p.trim()) : [];
    const t = { heard: [], pressed: [], bridged: [], callflows: [], ended: "" };
    let clientActionId;
    let digits;
    let status = CallStatus.CALL_RECEIVED;
    for (let step = 0; step < 64; step++) {
      const event = callAction({ eventId: `sim-${step + 1}`, status, source, destination, clientActionId, digits });
      let flow;
      try {
        flow = this.handle(plugin, event);
      } catch (err) {
        if (err instanceof PluginError || err instanceof Violation) {
          t.ended = `fallback: ${err.message}`;
          return t;
        }
        throw err;
      }
      if (flow === undefined) {
        t.ended = "fallback: the plugin answered no callflow";
        return t;
      }
      t.callflows.push(flow);
      status = CallStatus.ACTION_COMPLETED;
      clientActionId = flow.id;
      digits = undefined;
      for (const action of flow.actions) {
        if (action instanceof Say) t.heard.push(action.text);
        else if (action instanceof PlayFile) t.heard.push(`(file ${action.fileUrl})`);
        else if (action instanceof SayAndCapture) {
          t.heard.push(action.promptMessage);
          if (presses.length === 0) {
            t.ended = "the caller hung up at a prompt";
            return t;
          }
          const pressed = presses.shift();
          digits = pressed === "" || pressed === "-" ? undefined : pressed;
          t.pressed.push(pressed);
        } else if (action instanceof MakeCall) t.bridged.push(action.destination);
        else if (action instanceof Hangup) {
          t.ended = "the callflow hung up";
          return t;
        }
      }
    }
    t.ended = "the call went on for 64 callflows; stopped";
    return t;
  }
}

/** A call action as 8x8 sends one, with what the test is about set. With digits or a
 * client action id and no status, the status is ACTION_COMPLETED. */
export function callAction({
  clientActionId,
  digits,
  status,
  direction = CallDirection.INBOUND,
  source = "+6591178965",
  destination = "+6568332048",
  eventId = "evt-1",
  callId = "e1ff6a14-eae8-11f0-baa6-c93abb37794a",
  sessionId = "session-1",
  subAccountId = "8x8_test",
} = {}) {
  status ??= digits !== undefined || clientActionId !== undefined ? CallStatus.ACTION_COMPLETED : CallStatus.CALL_RECEIVED;
  return {
    kind: "CALL_ACTION",
    call: {
      eventId,
      callId,
      sessionId,
      subAccountId,
      status,
      direction,
      callType: "PSTN",
      source,
      destination,
      sourceCountryCode: "SG",
      destinationCountryCode: "SG",
      sourceRefId: undefined,
      destinationRefId: undefined,
      callDuration: 0,
      sipCode: 200,
      timestamp: "2026-01-06T10:17:19.375Z",
    },
    clientActionId,
    digits,
  };
}

/** A case folder (`request.json`, and `response.json` when the answer is a callflow) as
 * `{event, expected}`. */
export function loadCase(folder) {
  const event = eventFromJson(readFileSync(join(folder, "request.json"), "utf8"));
  const response = join(folder, "response.json");
  const expected = existsSync(response) ? Callflow.fromObject(JSON.parse(readFileSync(response, "utf8"))) : undefined;
  return { event, expected };
}

const str = (v) => (v === undefined || v === null ? undefined : typeof v === "string" ? v : JSON.stringify(v));
const int = (v) => {
  if (v === undefined || v === null || typeof v === "boolean") return undefined;
  const n = Math.trunc(Number(v));
  return Number.isFinite(n) ? n : undefined;
};
const num = (v) => {
  const n = v === undefined || v === null ? NaN : Number(v);
  return Number.isFinite(n) ? n : undefined;
};
const number = (v) => {
  const s = str(v)?.trim();
  if (s === undefined) return undefined;
  return s === "" || s.startsWith("+") || !/^[0-9]+$/.test(s) ? s : `+${s}`;
};

/** A webhook as 8x8 posts it, as the host hands it to a plugin (numbers normalised to
 * E.164 with a leading `+`). */
export function eventFromJson(body) {
  const doc = typeof body === "string" ? JSON.parse(body) : body;
  const kind = doc.eventType;
  const p = doc.payload ?? {};
  if (kind === "CALL_ACTION" || kind === "CALL_STATUS") {
    const call = {
      eventId: str(p.eventId) ?? "",
      callId: str(p.callId) ?? "",
      sessionId: str(p.sessionId) ?? "",
      subAccountId: str(p.subAccountId) ?? "",
      status: str(p.callStatus) ?? "",
      direction: str(p.callDirection) ?? "",
      callType: str(p.callType) ?? "",
      source: number(p.source) ?? "",
      destination: number(p.destination) ?? "",
      sourceCountryCode: str(p.sourceCountryCode),
      destinationCountryCode: str(p.destinationCountryCode),
      sourceRefId: str(p.sourceRefId),
      destinationRefId: str(p.destinationRefId),
      callDuration: int(p.callDuration) ?? 0,
      sipCode: int(p.sipCode),
      timestamp: str(p.timestamp ?? p.Timestamp) ?? "",
    };
    if (kind === "CALL_STATUS") return { kind, call };
    const data = p.eventData;
    const dtmf = typeof data === "string" ? data : data && typeof data === "object" ? data.dtmf : undefined;
    const digits = str(dtmf ?? p.dtmf);
    return { kind, call, clientActionId: str(p.clientActionId), digits: digits || undefined };
  }
  if (kind === "SESSION_SUMMARY") {
    const err = p.errorDetails;
    const details = p.details && typeof p.details === "object" ? p.details : {};
    return {
      kind,
      eventId: str(p.eventId),
      sessionId: str(p.sessionId) ?? "",
      subAccountId: str(p.subAccountId) ?? "",
      status: str(p.sessionStatus) ?? "",
      startTime: str(p.startTime),
      endTime: str(p.endTime),
      lastAction: str(p.lastAction),
      callCount: int(p.callCount) ?? 0,
      clientRequestId: str(p.clientRequestId),
      error: err && typeof err === "object" ? { code: int(err.errorCode) ?? 0, message: str(err.errorMsg) ?? "" } : undefined,
      legs: Object.keys(details)
        .sort()
        .filter((name) => details[name] && typeof details[name] === "object")
        .map((name) => {
          const l = details[name];
          const q = l.callQuality;
          return {
            name,
            callId: str(l.callId),
            direction: str(l.callDirection),
            callType: str(l.callType),
            source: number(l.source),
            destination: number(l.destination),
            sourceRefId: str(l.sourceRefId),
            destinationRefId: str(l.destinationRefId),
            status: str(l.callStatus),
            callDuration: int(l.callDuration),
            sipCode: int(l.sipCode),
            initiatedAt: str(l.initiatedTimestamp),
            connectedAt: str(l.connectedTimestamp),
            disconnectedAt: str(l.disconnectedTimestamp),
            quality: q && typeof q === "object" ? { mos: num(q.mos), packetLossRate: num(q.packetLossRate), jitter: num(q.jitter) } : undefined,
          };
        }),
    };
  }
  if (kind === "CALL_RECORDING_STATUS") {
    return {
      kind,
      eventId: str(p.eventId),
      sessionId: str(p.sessionId) ?? "",
      subAccountId: str(p.subAccountId),
      recordingId: str(p.recordingId) ?? "",
      durationSeconds: int(p.durationSeconds) ?? 0,
      filePath: str(p.filePath),
      status: str(p.status) ?? "",
    };
  }
  if (kind === "VIRTUAL_NUMBER_UPDATE") {
    const entries = Array.isArray(p.virtualNumbers) ? p.virtualNumbers : [p];
    return {
      kind,
      eventId: str(p.eventId),
      subAccountId: str(p.subAccountId),
      numbers: entries
        .filter((e) => e && typeof e === "object")
        .map((e) => ({
          number: number(e.msisdn ?? e.virtualNumber ?? e.number) ?? "",
          refId: str(e.referenceId),
          countryCode: str(e.countryCode),
          state: (str(e.operationalStatus ?? e.status) ?? "").toUpperCase(),
        })),
    };
  }
  throw new Error(`unknown eventType ${JSON.stringify(kind)}`);
}
