// 8x8 Number Masking in JavaScript: the seed's ride-sharing story, a port of the Rust
// plugin (`plugins/number-masking`, whose module documentation explains every choice)
// with the same API, the same store layout and the same answers; the end-to-end tests run
// the same scenarios against both.
//
// When a ride is booked, the business asks this plugin's API for a virtual number for the
// pair (`POST /bookings`); when either party dials that number, 8x8 posts a call action
// and the plugin answers `makeCall` from the virtual number to the other party, so neither
// sees the other's real number; when the ride ends (`DELETE /bookings/{id}`) or the
// booking's time to live passes, the number goes back to the pool for that pair.
//
// The rule: one participant never holds the same virtual number in two active bookings.
// Each virtual number has one key, its slot (`nm/vn/{number}`), listing its active
// bookings; allocation picks the least-loaded healthy number where neither participant
// appears and writes the slot by compare-and-swap against the exact bytes it checked, so
// a concurrent creation that changed the slot in between makes the swap fail and the slot
// is read and checked again. Numbers never appear in a log line (masked to the last four
// digits), a clientActionId (`nm.<booking id>`) or the call log (which records roles).
//
// Configuration: `pool` ("+6568001001=vn-ref-1, +6568001002=vn-ref-2", required),
// `call_recording`, `stranger_text`, `voice_profile`, `default_ttl_seconds`,
// `max_ttl_seconds`, `retention_seconds`.

import { Callflow, MakeCall, Plugin, Say, Unavailable } from "@callflow/sdk";
import { ApiError, Response, Router } from "@callflow/sdk/api";
import { isE164 } from "@callflow/sdk/rules";

export const DEFAULT_STRANGER_TEXT =
  "Sorry, this number cannot connect your call. Please check the number in your booking. Goodbye.";
export const DEFAULT_VOICE = "en-US-BenjaminRUS";
export const BRIDGED_PREFIX = "nm.";
const MAX_ROUNDS = 64;
const MAX_LOG_ENTRIES = 200;
const HEALTH_KEY = "nm/health";
const slotKey = (number) => `nm/vn/${number}`;
const bookingKey = (id) => `nm/booking/${id}`;
const callsKey = (id) => `nm/calls/${id}`;
const sessionKey = (sessionId) => `nm/session/${sessionId}`;

// ---------------------------------------------------------------------------------------
// Numbers, as callflow_wire::number.

export function normalize(s) {
  const t = s.trim();
  return isE164(t) && !t.startsWith("+") ? `+${t}` : t;
}
export const sameNumber = (a, b) => a.trim().replace(/^\++/, "") === b.trim().replace(/^\++/, "");
/** `+6591234567` -> `*******4567`: all but the last four characters hidden, for logs. */
export function mask(s) {
  const chars = [...s];
  return chars.map((c, i) => (i + 4 < chars.length && c !== "+" ? "*" : c)).join("");
}
const rfc3339 = (ms) => new Date(ms).toISOString();

// ---------------------------------------------------------------------------------------
// Settings.

export function parsePool(text) {
  const pool = [];
  for (const item of text.split(/[\s,]+/).filter((s) => s !== "")) {
    const eq = item.indexOf("=");
    const number = eq < 0 ? item : item.slice(0, eq);
    const refId = eq < 0 || eq === item.length - 1 ? undefined : item.slice(eq + 1);
    if (!isE164(number)) throw new Error(`\`pool\`: ${JSON.stringify(number)} is not an E.164 number`);
    const n = normalize(number);
    if (pool.some((vn) => vn.number === n)) throw new Error(`\`pool\`: ${n} is listed twice`);
    pool.push({ number: n, refId });
  }
  if (pool.length === 0) throw new Error("`pool` lists no virtual numbers");
  return pool;
}

/** The tenant's settings, or an Error saying which is wrong. */
export function loadSettings(ctx) {
  const poolText = ctx.config("pool");
  if (poolText === undefined) throw new Error("the tenant configuration has no `pool` of virtual numbers");
  const pool = parsePool(poolText);
  const secs = (key, dflt) => {
    const v = ctx.config(key);
    if (v === undefined) return dflt;
    const t = v.trim();
    if (!/^[0-9]+$/.test(t) || Number(t) === 0) {
      throw new Error(`\`${key}\` must be a whole number of seconds above 0, not ${JSON.stringify(v)}`);
    }
    return Number(t);
  };
  const recording = ctx.config("call_recording")?.trim();
  if (recording !== undefined && recording !== "true" && recording !== "false") {
    throw new Error(`\`call_recording\` must be true or false, not ${JSON.stringify(recording)}`);
  }
  const text = (key, dflt) => {
    const v = ctx.config(key);
    return v === undefined || v.trim() === "" ? dflt : v;
  };
  const defaultTtl = secs("default_ttl_seconds", 7200);
  const maxTtl = secs("max_ttl_seconds", 7 * 86_400);
  if (defaultTtl > maxTtl) throw new Error("`default_ttl_seconds` is above `max_ttl_seconds`");
  return {
    pool,
    callRecording: recording === "true",
    strangerText: text("stranger_text", DEFAULT_STRANGER_TEXT),
    voiceProfile: text("voice_profile", DEFAULT_VOICE),
    defaultTtlSecs: defaultTtl,
    maxTtlSecs: maxTtl,
    retentionSecs: secs("retention_seconds", 7 * 86_400),
    poolNumber(number) {
      return this.pool.find((vn) => sameNumber(vn.number, number));
    },
  };
}

// ---------------------------------------------------------------------------------------
// The store: JSON values, changed by compare-and-swap against the bytes read.

class StoreError extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind; // "corrupt" | "contended"
  }
}

const decoder = new TextDecoder();

/** `[raw bytes or undefined, parsed value or dflt]`. */
function read(kv, key, dflt) {
  const raw = kv.get(key);
  if (raw === undefined) return [undefined, dflt()];
  try {
    return [raw, JSON.parse(decoder.decode(raw))];
  } catch {
    throw new StoreError("corrupt", `the value under ${key} is not readable`);
  }
}

const live = (slot, now) => (slot.b ?? []).filter((e) => e.exp > now);
const prune = (slot, now) => ({ b: live(slot, now) });
const holds = (slot, number, now) => live(slot, now).some((e) => e.p.includes(number));
const healthState = (health, number) => (health.down ?? []).find(([n]) => n === number)?.[1];

function getBooking(kv, id) {
  const raw = kv.get(bookingKey(id));
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(decoder.decode(raw));
  } catch {
    throw new StoreError("corrupt", `the value under ${bookingKey(id)} is not readable`);
  }
}

function putBooking(kv, booking, now, retentionMs) {
  const end = booking.releasedAt ?? booking.expiresAt;
  const ttl = Math.max(1, end + retentionMs - now);
  kv.set(bookingKey(booking.id), JSON.stringify(booking), ttl);
}

/** Reads `key`, lets `change` edit it (returning `[write, result]`), and writes it back by
 * compare-and-swap, again until the swap lands. */
function update(kv, key, ttl, dflt, change) {
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const [raw, value] = read(kv, key, dflt);
    const [write, result] = change(value);
    if (!write) return result;
    if (kv.compareAndSwap(key, raw, JSON.stringify(value), ttl)) return result;
  }
  throw new StoreError("contended", "too many concurrent writers; retry");
}

// ---------------------------------------------------------------------------------------
// The API.

function apiError(err) {
  if (err instanceof StoreError) {
    return err.kind === "corrupt"
      ? new ApiError(500, "store_corrupt", err.message)
      : new ApiError(503, "contended", err.message);
  }
  return ApiError.from(err);
}

function settingsOrError(ctx) {
  try {
    return loadSettings(ctx);
  } catch (err) {
    throw new ApiError(503, "pool_not_configured", err.message);
  }
}

function checkParticipants(settings, participants) {
  // Wrong types are serde's `invalid_field` in the Rust plugin; the count is its own check.
  if (!Array.isArray(participants) || participants.some((p) => typeof p !== "string")) {
    throw new ApiError(422, "invalid_field", "`participants` must be an array of strings");
  }
  if (participants.length !== 2) {
    throw new ApiError(
      422,
      "invalid_participants",
      `\`participants\` must list exactly two phone numbers, not ${participants.length}`,
    );
  }
  const out = participants.map((p, i) => {
    if (!isE164(p.trim())) {
      throw new ApiError(422, "invalid_number", `participants[${i}] is not an E.164 phone number (\`+\` and up to 15 digits)`);
    }
    const n = normalize(p);
    if (settings.poolNumber(n)) {
      throw new ApiError(422, "invalid_number", `participants[${i}] is one of the pool's virtual numbers`);
    }
    return n;
  });
  if (out[0] === out[1]) throw new ApiError(422, "same_participant", "the two participants are the same number");
  return out;
}

function newId() {
  const bytes = new Uint8Array(15);
  try {
    crypto.getRandomValues(bytes);
  } catch (err) {
    throw new ApiError(503, "no_randomness", `no random source: ${err.message}`);
  }
  const alphabet = "abcdefghijklmnopqrstuvwxyz234567";
  let id = "bk_";
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = ((acc << 8) | b) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      id += alphabet[(acc >> bits) & 31];
    }
  }
  return id;
}
const validId = (id) => /^bk_[a-z2-7]{24}$/.test(id);

/** The pool index the entry landed in, or throws (409 pool_exhausted, store errors). */
function allocate(ctx, settings, entry, now) {
  const kv = ctx.kv();
  const [, health] = read(kv, HEALTH_KEY, () => ({ down: [] }));
  const unhealthy = settings.pool.filter((vn) => healthState(health, vn.number) !== undefined).length;
  const view = settings.pool.map((vn) => {
    if (healthState(health, vn.number) !== undefined) return undefined;
    const [raw, slot] = read(kv, slotKey(vn.number), () => ({ b: [] }));
    return { raw, slot: prune(slot, now) };
  });
  const fits = (slot) => !entry.p.some((p) => holds(slot, p, now));
  for (let round = 0; round < MAX_ROUNDS; round++) {
    let best;
    view.forEach((v, i) => {
      if (v && fits(v.slot) && (best === undefined || v.slot.b.length < view[best].slot.b.length)) best = i;
    });
    if (best === undefined) {
      ctx.warn(
        `pool exhausted for ${mask(entry.p[0])} and ${mask(entry.p[1])} (${unhealthy} of ${settings.pool.length} numbers unhealthy)`,
      );
      throw new ApiError(
        409,
        "pool_exhausted",
        unhealthy > 0
          ? `no virtual number is free for these participants (${unhealthy} of the pool's ${settings.pool.length} are unhealthy)`
          : "no virtual number is free for these participants: each already holds every healthy number in another active booking",
      );
    }
    const key = slotKey(settings.pool[best].number);
    const next = { b: [...view[best].slot.b, entry] };
    try {
      if (kv.compareAndSwap(key, view[best].raw, JSON.stringify(next))) return best;
      // Someone else changed this slot: look again.
      const [raw, slot] = read(kv, key, () => ({ b: [] }));
      view[best] = { raw, slot: prune(slot, now) };
    } catch (err) {
      // The slot is at the store's size limit: this number is full.
      if (err?.reason === "too-large") view[best] = undefined;
      else throw err;
    }
  }
  throw new StoreError("contended", "too many concurrent writers; retry");
}

function bookingJson(b, status, health) {
  const v = {
    bookingId: b.id,
    status,
    participants: b.participants,
    virtualNumber: b.virtualNumber,
    virtualNumberRefId: b.refId ?? null,
    createdAt: rfc3339(b.createdAt),
    expiresAt: rfc3339(b.expiresAt),
  };
  if (b.releasedAt !== undefined) v.releasedAt = rfc3339(b.releasedAt);
  if (status === "active") v.virtualNumberHealth = (health ?? "active").toLowerCase();
  return v;
}

function removeFromSlot(ctx, b, now) {
  return update(ctx.kv(), slotKey(b.virtualNumber), undefined, () => ({ b: [] }), (slot) => {
    const before = (slot.b ?? []).length;
    const had = live(slot, now).some((e) => e.id === b.id);
    slot.b = live({ b: (slot.b ?? []).filter((e) => e.id !== b.id) }, now);
    return [slot.b.length !== before, had];
  });
}

function create(req, ctx) {
  const settings = settingsOrError(ctx);
  const body = req.json();
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new ApiError(422, "invalid_field", "the body must be a JSON object");
  }
  for (const key of Object.keys(body)) {
    if (key !== "participants" && key !== "ttlSeconds") {
      throw new ApiError(422, "invalid_field", `unknown field \`${key}\`, expected \`participants\` or \`ttlSeconds\``);
    }
  }
  if (!("participants" in body)) throw new ApiError(422, "missing_field", "missing field `participants`");
  const participants = checkParticipants(settings, body.participants);
  const ttl = body.ttlSeconds ?? settings.defaultTtlSecs;
  if (!Number.isInteger(ttl) || ttl < 0) {
    throw new ApiError(422, "invalid_field", "`ttlSeconds` must be a whole number of seconds");
  }
  if (ttl < 1 || ttl > settings.maxTtlSecs) {
    throw new ApiError(422, "invalid_ttl", `\`ttlSeconds\` must be 1 to ${settings.maxTtlSecs} (the tenant's maximum)`);
  }
  const now = ctx.nowMs();
  const entry = { id: newId(), p: participants, exp: now + ttl * 1000 };
  const index = allocate(ctx, settings, entry, now);
  const vn = settings.pool[index];
  const booking = {
    id: entry.id,
    participants,
    virtualNumber: vn.number,
    refId: vn.refId,
    createdAt: now,
    expiresAt: entry.exp,
  };
  // The slot already holds the booking; should the record's write fail, take it back out
  // of the slot before answering the error.
  try {
    putBooking(ctx.kv(), booking, now, settings.retentionSecs * 1000);
  } catch (err) {
    try {
      removeFromSlot(ctx, booking, now);
    } catch {
      // The answer is the first error.
    }
    throw err;
  }
  ctx.info(
    `booking ${booking.id} created on ${booking.virtualNumber} for ${mask(participants[0])} and ${mask(participants[1])}, expires ${rfc3339(booking.expiresAt)}`,
  );
  return Response.json(201, bookingJson(booking, "active", undefined));
}

function find(req, ctx) {
  const id = req.param("id") ?? "";
  const unknown = () => new ApiError(404, "unknown_booking", `no booking ${JSON.stringify(id)}`);
  if (!validId(id)) throw unknown();
  const booking = getBooking(ctx.kv(), id);
  if (booking === undefined) throw unknown();
  return booking;
}

function show(req, ctx) {
  const booking = find(req, ctx);
  const now = ctx.nowMs();
  let status;
  if (booking.releasedAt !== undefined) status = "released";
  else if (booking.expiresAt <= now) status = "expired";
  else {
    const [, slot] = read(ctx.kv(), slotKey(booking.virtualNumber), () => ({ b: [] }));
    status = live(slot, now).some((e) => e.id === booking.id) ? "active" : "released";
  }
  const [, health] = read(ctx.kv(), HEALTH_KEY, () => ({ down: [] }));
  return Response.json(200, bookingJson(booking, status, healthState(health, booking.virtualNumber)));
}

function release(req, ctx) {
  const settings = settingsOrError(ctx);
  const booking = find(req, ctx);
  const now = ctx.nowMs();
  const wasActive = removeFromSlot(ctx, booking, now);
  if (wasActive && booking.releasedAt === undefined) {
    booking.releasedAt = now;
    putBooking(ctx.kv(), booking, now, settings.retentionSecs * 1000);
    ctx.info(`booking ${booking.id} released; ${booking.virtualNumber} is free for its participants`);
  }
  const status = booking.releasedAt !== undefined ? "released" : booking.expiresAt <= now ? "expired" : "released";
  return Response.json(200, bookingJson(booking, status, undefined));
}

function calls(req, ctx) {
  const booking = find(req, ctx);
  const [, log] = read(ctx.kv(), callsKey(booking.id), () => ({ entries: [], truncated: false }));
  return Response.json(200, { bookingId: booking.id, calls: log.entries ?? [], truncated: log.truncated ?? false });
}

function pool(_req, ctx) {
  const settings = settingsOrError(ctx);
  const kv = ctx.kv();
  const now = ctx.nowMs();
  const [, health] = read(kv, HEALTH_KEY, () => ({ down: [] }));
  const numbers = settings.pool.map((vn) => {
    const [, slot] = read(kv, slotKey(vn.number), () => ({ b: [] }));
    return {
      number: vn.number,
      refId: vn.refId ?? null,
      health: (healthState(health, vn.number) ?? "active").toLowerCase(),
      activeBookings: live(slot, now).length,
    };
  });
  return Response.json(200, { numbers });
}

/** A route's errors, store ones included, as the Rust plugin answers them. */
const guarded = (route) => (req, ctx) => {
  try {
    return route(req, ctx);
  } catch (err) {
    return apiError(err).toResponse();
  }
};

const router = new Router()
  .post("/bookings", guarded(create))
  .get("/bookings/{id}", guarded(show))
  .delete("/bookings/{id}", guarded(release))
  .get("/bookings/{id}/calls", guarded(calls))
  .get("/pool", guarded(pool));

// ---------------------------------------------------------------------------------------
// Calls.

const unavailable = (err) => new Unavailable(`key-value store: ${err.message}`);

function role(booking, number) {
  if (number === undefined || number === null) return "unknown";
  if (sameNumber(number, booking.virtualNumber)) return "virtual_number";
  const i = booking.participants.findIndex((p) => sameNumber(p, number));
  return i < 0 ? "unknown" : `participant:${i}`;
}

function append(ctx, settings, bookingId, entry) {
  const ttl = (settings.retentionSecs + settings.maxTtlSecs) * 1000;
  return update(ctx.kv(), callsKey(bookingId), ttl, () => ({ entries: [], truncated: false }), (log) => {
    log.entries ??= [];
    if (log.entries.some((e) => e.eventId === entry.eventId)) return [false, false];
    if (log.entries.length >= MAX_LOG_ENTRIES) {
      const changed = !log.truncated;
      log.truncated = true;
      return [changed, false];
    }
    log.entries.push(entry);
    return [true, true];
  });
}

function callAction(ctx, settings, action) {
  const call = action.call;
  // After the bridged leg ended, 8x8 asks what next: nothing, hang up.
  if (action.clientActionId?.startsWith(BRIDGED_PREFIX) || call.status === "ACTION_COMPLETED") {
    return new Callflow().hangup();
  }
  const now = ctx.nowMs();
  let found;
  const vn = settings.poolNumber(call.destination);
  if (vn) {
    let slot;
    try {
      [, slot] = read(ctx.kv(), slotKey(vn.number), () => ({ b: [] }));
    } catch (err) {
      throw unavailable(err);
    }
    for (const entry of live(slot, now)) {
      const caller = entry.p.findIndex((p) => sameNumber(p, call.source));
      if (caller >= 0) {
        found = { virtualNumber: vn.number, bookingId: entry.id, caller, other: entry.p[1 - caller] };
        break;
      }
    }
  }
  if (!found) {
    ctx.info(`caller ${mask(call.source)} has no active booking on ${mask(call.destination)}; turned away`);
    return new Callflow().say(new Say(settings.strangerText, settings.voiceProfile)).hangup();
  }
  const { virtualNumber, bookingId, caller, other } = found;
  ctx.info(
    `booking ${bookingId}: bridging participant ${caller} (${mask(call.source)}) to participant ${1 - caller} (${mask(other)}) via ${virtualNumber}`,
  );
  // The call log and the session's booking help reporting; a failure there must not stop
  // the call.
  try {
    ctx.kv().set(sessionKey(call.sessionId), bookingId, settings.retentionSecs * 1000);
  } catch (err) {
    ctx.warn(`booking ${bookingId}: could not remember the session: ${err.message}`);
  }
  try {
    append(ctx, settings, bookingId, {
      eventId: call.eventId,
      type: "CALL_ACTION",
      at: call.timestamp,
      sessionId: call.sessionId,
      callId: call.callId,
      status: call.status,
      from: `participant:${caller}`,
      to: `participant:${1 - caller}`,
      action: "makeCall",
    });
  } catch (err) {
    ctx.warn(`booking ${bookingId}: could not log the call: ${err.message}`);
  }
  const makeCall = new MakeCall(virtualNumber, other);
  if (settings.callRecording) makeCall.recording(true);
  return new Callflow().clientActionId(`${BRIDGED_PREFIX}${bookingId}`).makeCall(makeCall);
}

/** The booking a session's event belongs to: remembered at bridging, else found from its
 * legs' numbers. */
function resolve(ctx, settings, sessionId, legs) {
  const kv = ctx.kv();
  const remembered = kv.get(sessionKey(sessionId));
  if (remembered !== undefined) return getBooking(kv, decoder.decode(remembered));
  const now = ctx.nowMs();
  for (const [source, destination] of legs) {
    if (!source || !destination) continue;
    let vn = settings.poolNumber(destination);
    let participant = source;
    if (!vn) {
      vn = settings.poolNumber(source);
      participant = destination;
    }
    if (!vn) continue;
    const [, slot] = read(kv, slotKey(vn.number), () => ({ b: [] }));
    const entry = live(slot, now).find((e) => e.p.some((p) => sameNumber(p, participant)));
    if (entry) return getBooking(kv, entry.id);
  }
  return undefined;
}

function logEvent(ctx, settings, sessionId, legs, entryFor) {
  try {
    const booking = resolve(ctx, settings, sessionId, legs);
    if (!booking) {
      ctx.debug("an event of a session with no booking; not logged");
      return undefined;
    }
    const entry = entryFor(booking);
    const logged = append(ctx, settings, booking.id, entry);
    ctx.debug(`booking ${booking.id}: ${logged ? "logged" : "already logged"} ${entry.type}`);
    return undefined;
  } catch (err) {
    // Store failures are a dependency being unavailable; anything else is a bug, and
    // stays what it is (an internal error).
    if (err instanceof StoreError) throw unavailable(err);
    throw err;
  }
}

function numberUpdate(ctx, settings, update_) {
  const changes = update_.numbers
    .map((n) => {
      const vn = settings.poolNumber(n.number);
      if (!vn) return undefined;
      const state = n.state === "ACTIVE" ? undefined : n.state === "UNHEALTHY" ? "Unhealthy" : n.state;
      return [vn.number, state];
    })
    .filter((c) => c !== undefined);
  if (changes.length === 0) return undefined;
  try {
    update(ctx.kv(), HEALTH_KEY, undefined, () => ({ down: [] }), (health) => {
      const before = JSON.stringify(health.down ?? []);
      let down = health.down ?? [];
      for (const [number, state] of changes) {
        down = down.filter(([n]) => n !== number);
        if (state !== undefined) down.push([number, state]);
      }
      health.down = down;
      return [JSON.stringify(down) !== before, undefined];
    });
  } catch (err) {
    throw unavailable(err);
  }
  for (const [number, state] of changes) ctx.info(`virtual number ${number} is ${state ?? "Active"}`);
  return undefined;
}

export default class NumberMasking extends Plugin {
  handle(event, ctx) {
    let settings;
    try {
      settings = loadSettings(ctx);
    } catch (err) {
      throw new Unavailable(err.message);
    }
    switch (event.kind) {
      case "CALL_ACTION":
        return callAction(ctx, settings, event);
      case "CALL_STATUS": {
        const call = event.call;
        return logEvent(ctx, settings, call.sessionId, [[call.source, call.destination]], (b) => ({
          eventId: call.eventId,
          type: "CALL_STATUS",
          at: call.timestamp,
          sessionId: call.sessionId,
          callId: call.callId,
          status: call.status,
          direction: call.direction,
          from: role(b, call.source),
          to: role(b, call.destination),
          durationSeconds: call.callDuration,
          sipCode: call.sipCode ?? null,
        }));
      }
      case "SESSION_SUMMARY": {
        const s = event;
        const legs = s.legs.map((l) => [l.source, l.destination]);
        return logEvent(ctx, settings, s.sessionId, legs, (b) => ({
          eventId: s.eventId ?? `summary:${s.sessionId}`,
          type: "SESSION_SUMMARY",
          at: s.endTime ?? null,
          sessionId: s.sessionId,
          status: s.status,
          startTime: s.startTime ?? null,
          endTime: s.endTime ?? null,
          lastAction: s.lastAction ?? null,
          callCount: s.callCount,
          error: s.error ? { code: s.error.code, message: s.error.message } : null,
          legs: s.legs.map((l) => ({
            name: l.name,
            callId: l.callId ?? null,
            direction: l.direction ?? null,
            status: l.status ?? null,
            durationSeconds: l.callDuration ?? null,
            from: role(b, l.source),
            to: role(b, l.destination),
          })),
        }));
      }
      case "CALL_RECORDING_STATUS": {
        const r = event;
        return logEvent(ctx, settings, r.sessionId, [], () => ({
          eventId: r.eventId ?? `recording:${r.recordingId}:${r.status}`,
          type: "CALL_RECORDING_STATUS",
          sessionId: r.sessionId,
          recordingId: r.recordingId,
          status: r.status,
          durationSeconds: r.durationSeconds,
          filePath: r.filePath ?? null,
        }));
      }
      default:
        return numberUpdate(ctx, settings, event);
    }
  }

  api(request, ctx) {
    return router.handle(request, ctx);
  }
}
