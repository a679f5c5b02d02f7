// The component's side of the contract: the WIT exports that call the plugin, and the
// WIT imports behind Context. Only the component's entry (written by `callflow-js build`)
// imports this module; everything a plugin touches is the SDK's own types, converted
// here, so that the same plugin code runs natively under `node --test`.
//
// componentize-js's shapes: records are objects with camelCase fields, variants
// `{tag, val}`, enums strings, `option<T>` undefined or the value, `list<u8>` a
// Uint8Array, `u64` a BigInt; an export returning `result` throws for `err` (the
// thrown value's `payload`, else the value itself), and an import's `err` is thrown
// with the error variant as its `payload`.

import { log as witLog } from "callflow:plugin/log@0.2.0";
import { get as witConfigGet } from "callflow:plugin/config@0.2.0";
import {
  compareAndSwap as witCas,
  delete as witDelete,
  get as witGet,
  set as witSet,
} from "callflow:plugin/kv@0.2.0";

import { ApiError, Request, Response } from "./api.js";
import { U32, U8, witOption, witString } from "./rules.js";
import {
  CallDirection,
  CallStatus,
  Callflow,
  Context,
  Hangup,
  Internal,
  KvError,
  MakeCall,
  NumberState,
  PlayFile,
  PluginError,
  Say,
  SayAndCapture,
  SessionStatus,
  pluginOf,
} from "./index.js";

/** A WIT variant with an `other(string)` case (`{tag: "call-received"}`) as the SDK's
 * string (`"CALL_RECEIVED"`). */
function named(known, variant) {
  if (variant.tag === "other") return variant.val;
  const name = variant.tag.toUpperCase().replaceAll("-", "_");
  return known[name] ?? name;
}

function call(c) {
  return {
    ...c,
    status: named(CallStatus, c.status),
    direction: named(CallDirection, c.direction),
  };
}

/** The SDK's event for the one the host handed over. */
export function eventFromWit(event) {
  const v = event.val;
  switch (event.tag) {
    case "call-action":
      return { kind: "CALL_ACTION", call: call(v.call), clientActionId: v.clientActionId, digits: v.digits };
    case "call-status":
      return { kind: "CALL_STATUS", call: call(v) };
    case "session-summary":
      return { kind: "SESSION_SUMMARY", ...v, status: named(SessionStatus, v.status) };
    case "recording-status":
      return { kind: "CALL_RECORDING_STATUS", ...v };
    default:
      return {
        kind: "VIRTUAL_NUMBER_UPDATE",
        ...v,
        numbers: v.numbers.map((n) => ({ ...n, state: named(NumberState, n.state) })),
      };
  }
}

// Values the canonical ABI cannot lower would fail after `handleEvent` returned, out of
// reach of its error handling: rules.js checks them (the harness runs the same check),
// and a failure is the plugin's error.
function text(v, name) {
  try {
    return witString(v, name);
  } catch (err) {
    throw new Internal(err.message);
  }
}
function opt(v, name, kind, top = 0) {
  try {
    return witOption(v, name, kind, top);
  } catch (err) {
    throw new Internal(err.message);
  }
}

function actionToWit(a) {
  if (a instanceof Say) {
    return {
      tag: "say",
      val: {
        text: text(a.text, "say.text"),
        voiceProfile: text(a.voiceProfile, "say.voiceProfile"),
        repetition: opt(a.times, "say.repetition", "int", U8),
        speed: opt(a.rate, "say.speed", "float"),
      },
    };
  }
  if (a instanceof SayAndCapture) {
    return {
      tag: "say-and-capture",
      val: {
        promptMessage: text(a.promptMessage, "sayAndCapture.promptMessage"),
        voiceProfile: text(a.voiceProfile, "sayAndCapture.voiceProfile"),
        successMessage: opt(a.success, "sayAndCapture.successMessage", "string"),
        failureMessage: opt(a.failure, "sayAndCapture.failureMessage", "string"),
        speed: opt(a.rate, "sayAndCapture.speed", "float"),
        completeOnHash: opt(a.onHash, "sayAndCapture.completeOnHash", "boolean"),
        minDigits: opt(a.minDigits, "sayAndCapture.minDigits", "int", U8),
        maxDigits: opt(a.maxDigits, "sayAndCapture.maxDigits", "int", U8),
        digitTimeout: opt(a.digitTimeout, "sayAndCapture.digitTimeout", "int", U32),
        overallTimeout: opt(a.overallTimeoutMs, "sayAndCapture.overallTimeout", "int", U32),
        noOfTries: opt(a.noOfTries, "sayAndCapture.tries", "int", U8),
      },
    };
  }
  if (a instanceof MakeCall) {
    return {
      tag: "make-call",
      val: {
        source: text(a.source, "makeCall.source"),
        destination: text(a.destination, "makeCall.destination"),
        callRecording: opt(a.callRecording, "makeCall.callRecording", "boolean"),
      },
    };
  }
  if (a instanceof PlayFile) {
    return {
      tag: "play-file",
      val: { fileUrl: text(a.fileUrl, "playFile.fileUrl"), repetition: opt(a.times, "playFile.repetition", "int", U8) },
    };
  }
  if (a instanceof Hangup) return { tag: "hangup" };
  throw new Internal(`not a callflow action: ${String(a)}`);
}

export function callflowToWit(flow) {
  return {
    clientActionId: opt(flow.id, "clientActionId", "string"),
    actions: flow.actions.map(actionToWit),
  };
}

/** A thrown value as the WIT `plugin-error` the host reads. */
function pluginError(err) {
  const tag = err instanceof PluginError ? err.kind : "internal";
  const message = err instanceof PluginError ? err.message : `${err?.name ?? "Error"}: ${err?.message ?? String(err)}`;
  const e = new Error(message);
  e.payload = { tag, val: message };
  return e;
}

function kv(op, ...args) {
  try {
    return op(...args);
  } catch (err) {
    const payload = err?.payload ?? err;
    if (payload && typeof payload.tag === "string") throw new KvError(payload.tag, String(payload.val));
    throw new KvError("unavailable", String(err));
  }
}

const ttl = (ms) => {
  if (ms === undefined || ms === null) return undefined;
  const n = Math.trunc(Number(ms));
  if (!Number.isFinite(n)) throw new KvError("too-large", `ttl ${String(ms)} is not a number of milliseconds`);
  return BigInt(Math.max(0, n));
};

const imports = {
  log: (level, message) => witLog(level, message),
  config: (key) => witConfigGet(key),
  kvGet: (key) => kv(witGet, key),
  kvSet: (key, value, ttlMs) => kv(witSet, key, value, ttl(ttlMs)),
  kvDelete: (key) => kv(witDelete, key),
  kvCompareAndSwap: (key, expected, next, ttlMs) => kv(witCas, key, expected, next, ttl(ttlMs)),
  nowMs: () => Date.now(),
};

/** The `handler` and `api` exports for a plugin module's default export. */
export function exportsFor(exported) {
  const ctx = new Context(imports);
  let plugin;
  const get = () => (plugin ??= pluginOf(exported));
  return {
    handler: {
      handleEvent(event) {
        try {
          const flow = get().handle(eventFromWit(event), ctx);
          if (flow === undefined || flow === null) return undefined;
          if (!(flow instanceof Callflow)) throw new Internal("handle() returned something other than a Callflow or undefined");
          return callflowToWit(flow);
        } catch (err) {
          throw pluginError(err);
        }
      },
    },
    api: {
      handleRequest(request) {
        const req = new Request(request.method, request.path, request.query, request.headers, request.body);
        let resp;
        try {
          resp = get().api(req, ctx) ?? Response.notFound();
        } catch (err) {
          resp = ApiError.from(err).toResponse();
        }
        try {
          return {
            status: opt(resp.status, "response.status", "int", 0xffff),
            headers: resp.headers.map(([n, v]) => [text(n, "header name"), text(v, "header value")]),
            body: resp.body instanceof Uint8Array ? resp.body : new Uint8Array(resp.body),
          };
        } catch (err) {
          const e = Response.error(500, "internal", err.message);
          return { status: 500, headers: e.headers, body: e.body };
        }
      },
    },
  };
}
