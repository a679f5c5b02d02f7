// The JavaScript IVR natively, under `node --test`: every case of the shared IVR case data
// (`tests/cases/ivr`, which the Rust and Python plugins and the real host answer too),
// and whole calls through the SDK's walker.
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { Unavailable } from "@callflow/sdk";
import { Harness, callAction, eventFromJson, loadCase } from "@callflow/sdk/testing";

import Ivr, { text } from "../app.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const casesDir = join(root, "tests", "cases", "ivr");
const cases = readdirSync(casesDir).sort();
const CONFIG = { virtual_number: "+6512345678", representative_number: "+6587654321" };

test("there are cases", () => assert.ok(cases.length >= 20));

for (const name of cases) {
  test(`case ${name} answers as the seed says`, () => {
    const { event, expected } = loadCase(join(casesDir, name));
    const flow = new Harness(CONFIG).handle(new Ivr(), event);
    assert.deepEqual(flow.toObject(), expected.toObject());
  });
}

test("booking for today: 1, 1, 1", () => {
  const t = new Harness(CONFIG).call(new Ivr(), "1,1,1");
  assert.deepEqual(t.heard, [text.MAIN_MENU, text.RESERVATIONS, text.BOOK_TABLE, text.BOOKED_TODAY]);
  assert.equal(t.ended, "the callflow hung up");
});

test("connect bridges to the representative and hangs up after", () => {
  const t = new Harness(CONFIG).call(new Ivr(), "2,1");
  assert.deepEqual(t.bridged, ["+6587654321"]);
  assert.deepEqual(t.callflows.at(-1).toObject(), { callflow: [{ action: "hangup" }] });
});

test("connect without configuration is unavailable, naming the key", () => {
  const h = new Harness({ representative_number: "+6587654321" });
  assert.throws(() => h.handle(new Ivr(), callAction({ clientActionId: "connect_call", digits: "1" })), (err) => {
    return err instanceof Unavailable && err.message.includes("virtual_number");
  });
});

test("an unknown menu starts over with a warning", () => {
  const h = new Harness(CONFIG);
  const flow = h.handle(new Ivr(), callAction({ clientActionId: "nowhere", digits: "1" }));
  assert.equal(flow.id, "main_menu");
  assert.deepEqual(h.logs().map((l) => l.level), ["warn"]);
});

test("other events need no answer", () => {
  const status = eventFromJson({ eventType: "CALL_STATUS", payload: { callStatus: "CALL_DISCONNECTED", source: "6591178965" } });
  assert.equal(status.call.source, "+6591178965");
  assert.equal(new Harness(CONFIG).handle(new Ivr(), status), undefined);
});
