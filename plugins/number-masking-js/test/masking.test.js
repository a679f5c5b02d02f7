// Number masking natively, under `node --test`: bookings over the API, calls as 8x8 posts
// them, on the SDK's in-memory host. The end-to-end tests run the Rust plugin's scenarios
// against this one through a real host.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Request } from "@callflow/sdk/api";
import { Harness, callAction, eventFromJson } from "@callflow/sdk/testing";

import NumberMasking, { mask, parsePool } from "../app.js";

const POOL = "+6568001001=vn-1, +6568001002=vn-2";
const A = "+6591110001";
const B = "+6591110002";
const C = "+6591110003";

const harness = () => new Harness({ pool: POOL });
const book = (h, participants, ttlSeconds) =>
  h.api(new NumberMasking(), Request.post("/bookings").withJson(ttlSeconds ? { participants, ttlSeconds } : { participants }));

test("a booked pair is bridged both ways through its virtual number", () => {
  const h = harness();
  const created = book(h, [A, B]);
  assert.equal(created.status, 201);
  const booking = created.jsonValue();
  assert.equal(booking.status, "active");
  assert.match(booking.bookingId, /^bk_[a-z2-7]{24}$/);
  for (const [from, to] of [[A, B], [B, A]]) {
    const flow = h.handle(new NumberMasking(), callAction({ source: from, destination: booking.virtualNumber, status: "CALL_RECEIVED" }));
    assert.deepEqual(flow.toObject(), {
      clientActionId: `nm.${booking.bookingId}`,
      callflow: [{ action: "makeCall", params: { source: booking.virtualNumber, destination: to } }],
    });
  }
  const log = h.api(new NumberMasking(), Request.get(`/bookings/${booking.bookingId}/calls`)).jsonValue();
  assert.deepEqual(log.calls.map((c) => [c.from, c.to]), [["participant:0", "participant:1"]], "the same eventId is logged once");
  assert.ok(!h.logs().some((l) => l.message.includes(A) || l.message.includes(B)), "no number in a log line");
});

test("a stranger is turned away with the stranger text", () => {
  const h = harness();
  const booking = book(h, [A, B]).jsonValue();
  const flow = h.handle(new NumberMasking(), callAction({ source: C, destination: booking.virtualNumber, status: "CALL_RECEIVED" }));
  assert.equal(flow.actions[0].text, "Sorry, this number cannot connect your call. Please check the number in your booking. Goodbye.");
});

test("a participant never gets a number they already hold", () => {
  const h = harness();
  const first = book(h, [A, B]).jsonValue();
  const second = book(h, [A, C]).jsonValue();
  assert.notEqual(first.virtualNumber, second.virtualNumber);
  const third = book(h, [A, "+6591110004"]);
  assert.equal(third.status, 409);
  assert.equal(third.jsonValue().code, "pool_exhausted");
});

test("release frees the number; expiry ends the booking", () => {
  const h = harness();
  const booking = book(h, [A, B], 60).jsonValue();
  const released = h.api(new NumberMasking(), Request.delete(`/bookings/${booking.bookingId}`));
  assert.equal(released.jsonValue().status, "released");
  const again = book(h, [A, B], 60).jsonValue();
  assert.equal(again.virtualNumber, booking.virtualNumber, "the least-loaded number, free again");
  h.advance(61_000);
  const shown = h.api(new NumberMasking(), Request.get(`/bookings/${again.bookingId}`)).jsonValue();
  assert.equal(shown.status, "expired");
});

test("bad requests get specific errors", () => {
  const h = harness();
  const cases = [
    [{ participants: [A] }, 422, "invalid_participants"],
    [{ participants: [A, "nope"] }, 422, "invalid_number"],
    [{ participants: [A, A] }, 422, "same_participant"],
    [{ participants: [A, "+6568001001"] }, 422, "invalid_number"],
    [{ participants: [A, B], ttlSeconds: 0 }, 422, "invalid_ttl"],
    [{ participants: [A, B], extra: 1 }, 422, "invalid_field"],
    [{}, 422, "missing_field"],
    [{ participants: "+6591110001" }, 422, "invalid_field"],
    [{ participants: [A, B], ttlSeconds: "60" }, 422, "invalid_field"],
    [{ participants: [A, B], ttlSeconds: 1.5 }, 422, "invalid_field"],
  ];
  for (const [body, status, code] of cases) {
    const r = h.api(new NumberMasking(), Request.post("/bookings").withJson(body));
    assert.deepEqual([r.status, r.jsonValue().code], [status, code], JSON.stringify(body));
  }
  const unknown = h.api(new NumberMasking(), Request.get("/bookings/bk_aaaaaaaaaaaaaaaaaaaaaaaa"));
  assert.equal(unknown.status, 404);
  const unconfigured = new Harness().api(new NumberMasking(), Request.get("/pool"));
  assert.deepEqual([unconfigured.status, unconfigured.jsonValue().code], [503, "pool_not_configured"]);
});

test("an unhealthy number takes no new bookings", () => {
  const h = harness();
  h.handle(
    new NumberMasking(),
    eventFromJson({ eventType: "VIRTUAL_NUMBER_UPDATE", payload: { virtualNumbers: [{ msisdn: "+6568001001", operationalStatus: "UNHEALTHY" }] } }),
  );
  const pool = h.api(new NumberMasking(), Request.get("/pool")).jsonValue();
  assert.deepEqual(pool.numbers.map((n) => n.health), ["unhealthy", "active"]);
  assert.equal(book(h, [A, B]).jsonValue().virtualNumber, "+6568001002");
});

test("pool parsing and masking", () => {
  assert.deepEqual(parsePool("6568001001=vn-1 +6568001002"), [
    { number: "+6568001001", refId: "vn-1" },
    { number: "+6568001002", refId: undefined },
  ]);
  assert.throws(() => parsePool("+65x"), /not an E.164/);
  assert.throws(() => parsePool("+6568001001, 6568001001"), /listed twice/);
  assert.equal(mask("+6591234567"), "+******4567");
});
