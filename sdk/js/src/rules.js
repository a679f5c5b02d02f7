// 8x8's rules for a callflow, as the host checks them before the platform sees one
// (docs/callflow-rules.md; the host's own copy is callflow_wire::rules). The testing
// harness applies them to every callflow a plugin answers, so a test fails where 8x8
// would refuse the answer and the caller would get the fallback.

import { Hangup, MakeCall, PlayFile, Say, SayAndCapture } from "./index.js";

export const MAX_TEXT_CHARS = 3000;
export const MAX_CLIENT_ACTION_ID = 128;
export const MAX_MAKE_CALLS = 2;
export const MAX_DIGITS = 25;
export const MAX_TRIES = 5;
export const MAX_BODY_BYTES = 64 * 1024;

/** A rule the callflow breaks: 8x8's error code (0 for the host's own), where, why. */
export class Violation extends Error {
  constructor(code, at, message) {
    super(`${at}: ${message} (8x8 code ${code})`);
    this.code = code;
    this.at = at;
    this.detail = message;
  }
}

/** An optional `+` and 1 to 15 digits. */
export function isE164(number) {
  return typeof number === "string" && /^\+?[0-9]{1,15}$/.test(number);
}

// The WIT's types: what the canonical ABI can carry. A value outside them fails the
// component's call after `handle` returned; checked here so that the harness refuses it
// as the component would, and used by the component's glue (guest.js) to convert.
export const U8 = 0xff;
export const U32 = 0xffff_ffff;

/** `v` as a WIT `string`, or Violation naming `name`. */
export function witString(v, name) {
  if (typeof v !== "string") throw new Violation(0, name, `must be a string, not ${typeof v}`);
  return v;
}

/** `v` as a WIT `option<kind>` (`int` up to `top`, `float`, `boolean`, `string`). */
export function witOption(v, name, kind, top = 0) {
  if (v === undefined || v === null) return undefined;
  if (kind === "int" && !(Number.isInteger(v) && v >= 0 && v <= top)) {
    throw new Violation(0, name, `must be an integer from 0 to ${top}, not ${JSON.stringify(v)}`);
  }
  if (kind === "float" && (typeof v !== "number" || !Number.isFinite(v))) {
    throw new Violation(0, name, `must be a finite number, not ${JSON.stringify(v)}`);
  }
  if ((kind === "boolean" || kind === "string") && typeof v !== kind) {
    throw new Violation(0, name, `must be a ${kind}, not ${JSON.stringify(v)}`);
  }
  return v;
}

/** Throws Violation for the first field of `flow` the WIT cannot carry. */
export function checkTypes(flow) {
  witOption(flow.id, "clientActionId", "string");
  if (!Array.isArray(flow.actions)) throw new Violation(0, "callflow", "actions must be an array");
  flow.actions.forEach((a, i) => {
    const at = (field) => `callflow[${i}].params.${field}`;
    if (a instanceof Say) {
      witString(a.text, at("text"));
      witString(a.voiceProfile, at("voiceProfile"));
      witOption(a.times, at("repetition"), "int", U8);
      witOption(a.rate, at("speed"), "float");
    } else if (a instanceof SayAndCapture) {
      witString(a.promptMessage, at("promptMessage"));
      witString(a.voiceProfile, at("voiceProfile"));
      witOption(a.success, at("successMessage"), "string");
      witOption(a.failure, at("failureMessage"), "string");
      witOption(a.rate, at("speed"), "float");
      witOption(a.onHash, at("completeOnHash"), "boolean");
      witOption(a.minDigits, at("minDigits"), "int", U8);
      witOption(a.maxDigits, at("maxDigits"), "int", U8);
      witOption(a.digitTimeout, at("digitTimeout"), "int", U32);
      witOption(a.overallTimeoutMs, at("overallTimeout"), "int", U32);
      witOption(a.noOfTries, at("noOfTries"), "int", U8);
    } else if (a instanceof MakeCall) {
      witString(a.source, at("source"));
      witString(a.destination, at("destination"));
      witOption(a.callRecording, at("callRecording"), "boolean");
    } else if (a instanceof PlayFile) {
      witString(a.fileUrl, at("fileUrl"));
      witOption(a.times, at("repetition"), "int", U8);
    } else if (!(a instanceof Hangup)) {
      throw new Violation(0, `callflow[${i}]`, `not a callflow action: ${String(a)}`);
    }
  });
}

/** Throws Violation for the first rule `flow` breaks (the WIT's types first). */
export function validate(flow) {
  checkTypes(flow);
  if (flow.id !== undefined) checkClientActionId(flow.id);
  if (flow.actions.length === 0) {
    throw new Violation(-1001, "callflow", "a callflow needs at least one action");
  }
  let makeCalls = 0;
  flow.actions.forEach((action, i) => {
    const at = `callflow[${i}]`;
    if (action instanceof MakeCall) {
      makeCalls += 1;
      if (makeCalls > MAX_MAKE_CALLS) {
        throw new Violation(-1010, at, `at most ${MAX_MAKE_CALLS} makeCall actions per callflow`);
      }
      for (const field of ["source", "destination"]) {
        if (!isE164(action[field])) {
          throw new Violation(
            -1017,
            `${at}.params.${field}`,
            `${JSON.stringify(action[field])} is not an E.164 number (optional '+', 1 to 15 digits)`,
          );
        }
      }
    } else if (action instanceof Say) {
      text(action.text, `${at}.params.text`);
      voice(action.voiceProfile, at);
      repetition(action.times, at);
      speed(action.rate, at);
    } else if (action instanceof SayAndCapture) {
      capture(action, at);
    } else if (action instanceof PlayFile) {
      playFile(action, at);
    } else if (action instanceof Hangup) {
      if (i + 1 < flow.actions.length) {
        throw new Violation(-1012, `callflow[${i + 1}]`, "nothing may follow hangup");
      }
      if (i > 0 && flow.actions[i - 1] instanceof SayAndCapture) {
        throw new Violation(
          -1012,
          at,
          "hangup directly after sayAndCapture drops the captured digits; end the callflow with the sayAndCapture instead",
        );
      }
    } else {
      throw new Violation(0, at, `not a callflow action: ${String(action)}`);
    }
  });
  const size = new TextEncoder().encode(JSON.stringify(flow)).length;
  if (size > MAX_BODY_BYTES) {
    throw new Violation(0, "callflow", `the callflow is ${size} bytes of JSON; the limit is ${MAX_BODY_BYTES}`);
  }
}

export function checkClientActionId(id) {
  if (typeof id !== "string" || id.length < 1 || id.length > MAX_CLIENT_ACTION_ID) {
    throw new Violation(0, "clientActionId", `must be 1 to ${MAX_CLIENT_ACTION_ID} characters`);
  }
  if (!/^[A-Za-z0-9_.:-]+$/.test(id)) {
    throw new Violation(
      0,
      "clientActionId",
      "use only A-Z, a-z, 0-9, '_', '.', ':' and '-' (it round-trips through 8x8; keep personal data out of it)",
    );
  }
}

function text(value, at) {
  if (typeof value !== "string" || value.trim() === "") throw new Violation(-1009, at, "must not be empty");
  const chars = [...value].length;
  if (chars > MAX_TEXT_CHARS) {
    throw new Violation(-1009, at, `is ${chars} characters; the limit is ${MAX_TEXT_CHARS}`);
  }
}

function voice(value, at) {
  if (typeof value !== "string" || value.trim() === "") {
    throw new Violation(-1009, `${at}.params.voiceProfile`, 'is required, for example "en-US-BenjaminRUS"');
  }
}

function speed(value, at) {
  if (value !== undefined && !(value >= 0.5 && value <= 2.0)) {
    throw new Violation(-1002, `${at}.params.speed`, `${value} is outside 0.5 to 2.0`);
  }
}

function repetition(value, at) {
  if (value !== undefined && !(Number.isInteger(value) && value >= 1 && value <= 3)) {
    throw new Violation(-1009, `${at}.params.repetition`, `${value} is outside 1 to 3`);
  }
}

function capture(c, at) {
  text(c.promptMessage, `${at}.params.promptMessage`);
  voice(c.voiceProfile, at);
  if (c.success !== undefined) text(c.success, `${at}.params.successMessage`);
  if (c.failure !== undefined) text(c.failure, `${at}.params.failureMessage`);
  speed(c.rate, at);
  if (c.minDigits !== undefined && c.maxDigits === undefined) {
    throw new Violation(-1003, `${at}.params.minDigits`, "minDigits requires maxDigits");
  }
  if (c.maxDigits !== undefined) {
    const low = c.minDigits ?? 1;
    if (!(1 <= low && low <= c.maxDigits && c.maxDigits <= MAX_DIGITS)) {
      throw new Violation(
        -1003,
        `${at}.params.maxDigits`,
        `need 1 <= minDigits (${low}) <= maxDigits (${c.maxDigits}) <= ${MAX_DIGITS}`,
      );
    }
  }
  if (c.onHash === false && c.maxDigits === undefined) {
    throw new Violation(-1008, `${at}.params.completeOnHash`, "completeOnHash false requires maxDigits");
  }
  if (c.digitTimeout !== undefined) {
    if (c.overallTimeoutMs === undefined) {
      throw new Violation(-1005, `${at}.params.digitTimeout`, "digitTimeout requires overallTimeout");
    }
    if (c.digitTimeout >= c.overallTimeoutMs) {
      throw new Violation(
        -1006,
        `${at}.params.digitTimeout`,
        `digitTimeout (${c.digitTimeout}) must be less than overallTimeout (${c.overallTimeoutMs})`,
      );
    }
  }
  if (c.noOfTries !== undefined && !(c.noOfTries >= 1 && c.noOfTries <= MAX_TRIES)) {
    throw new Violation(-1009, `${at}.params.noOfTries`, `${c.noOfTries} is outside 1 to ${MAX_TRIES}`);
  }
}

function playFile(f, at) {
  const url = f.fileUrl;
  const rest = url.startsWith("https://") ? url.slice(8) : url.startsWith("http://") ? url.slice(7) : undefined;
  const path = rest === undefined ? undefined : rest.split(/[?#]/)[0];
  const lower = (path ?? "").toLowerCase();
  if (path === undefined || !path.includes("/") || !(lower.endsWith(".mp3") || lower.endsWith(".wav"))) {
    throw new Violation(-1009, `${at}.params.fileUrl`, `${JSON.stringify(url)} must be an http(s) URL of an .mp3 or .wav file`);
  }
  repetition(f.times, at);
}
