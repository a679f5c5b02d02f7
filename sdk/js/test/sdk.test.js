// The JavaScript SDK natively: callflows render 8x8's exact JSON (the same bytes as the
// Rust SDK), the rules refuse what 8x8 refuses, the harness keeps the host's store rules,
// the router answers as the Rust one, and webhooks parse as the host parses them.
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import {
  BadEvent,
  CONTRACT,
  Callflow,
  Internal,
  KvError,
  MakeCall,
  PlayFile,
  Plugin,
  Say,
  SayAndCapture,
  Unavailable,
} from "../src/index.js";
import { Request, Response, Router } from "../src/api.js";
import { Violation, validate } from "../src/rules.js";
import { Harness, callAction, eventFromJson } from "../src/testing.js";
import { witDir } from "../src/build.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

test("the SDK names the contract version of the WIT it builds against", () => {
  const wit = readFileSync(join(witDir, "callflow.wit"), "utf8");
  assert.ok(wit.split("\n").includes(`package ${CONTRACT};`));
});

test("a callflow renders the same JSON as the Rust SDK", () => {
  const flow = new Callflow()
    .say(new Say("Our restaurant hours are between 9AM and 9PM.", "en-US-BenjaminRUS").speed(1.0))
    .hangup();
  assert.equal(
    JSON.stringify(flow),
    '{"callflow":[{"action":"say","params":{"text":"Our restaurant hours are between 9AM and 9PM.","voiceProfile":"en-US-BenjaminRUS","speed":1}},{"action":"hangup"}]}',
  );
  assert.equal(JSON.stringify(new Callflow().clientActionId("m").hangup()), '{"clientActionId":"m","callflow":[{"action":"hangup"}]}');
});

test("every expected IVR answer round-trips through the builders", () => {
  for (const name of readdirSync(join(root, "tests/cases/ivr"))) {
    const expected = JSON.parse(readFileSync(join(root, "tests/cases/ivr", name, "response.json"), "utf8"));
    const flow = Callflow.fromObject(expected);
    validate(flow);
    assert.deepEqual(JSON.parse(JSON.stringify(flow)), expected, name);
  }
});

const refused = [
  [new Callflow(), -1001],
  [new Callflow().say(new Say("", "en-US-BenjaminRUS")), -1009],
  [new Callflow().say(new Say("hi", "v").speed(3)), -1002],
  [new Callflow().sayAndCapture(new SayAndCapture("p", "v").timeouts(10_000, 10_000)), -1006],
  [new Callflow().sayAndCapture(new SayAndCapture("p", "v")).hangup(), -1012],
  [new Callflow().hangup().say(new Say("late", "v")), -1012],
  [new Callflow().makeCall(new MakeCall("+65", "not a number")), -1017],
  [new Callflow().makeCall(new MakeCall("+6512345678\n", "+6587654321")), -1017],
  [new Callflow().playFile(new PlayFile("ftp://x/a.mp3")), -1009],
  [new Callflow().clientActionId("has space").hangup(), 0],
  // What the WIT cannot carry: refused here as the component would fail on it.
  [new Callflow().say(new Say("hi", "v").speed("1")), 0],
  [new Callflow().sayAndCapture(new SayAndCapture("p", "v").digits(1.5, 3)), 0],
  [new Callflow().sayAndCapture(new SayAndCapture("p", "v").timeouts(-1, 5000)), 0],
  [new Callflow().makeCall(new MakeCall("+6512345678", "+6587654321").recording("yes")), 0],
];
for (const [flow, code] of refused) {
  test(`the rules refuse ${JSON.stringify(flow)} with ${code}`, () => {
    assert.throws(() => validate(flow), (err) => err instanceof Violation && err.code === code);
  });
}

class Echo extends Plugin {
  handle(event) {
    if (event.kind !== "CALL_ACTION") return undefined;
    return new Callflow().say(new Say(`You pressed ${event.digits}`, "en-US-BenjaminRUS")).hangup();
  }
}

test("the harness runs a plugin and checks its answer", () => {
  const flow = new Harness().handle(new Echo(), callAction({ clientActionId: "menu", digits: "7" }));
  assert.deepEqual(flow.actions[0], new Say("You pressed 7", "en-US-BenjaminRUS"));
  class Broken extends Plugin {
    handle() {
      return new Callflow();
    }
  }
  assert.throws(() => new Harness().handle(new Broken(), callAction()), /at least one action/);
});

test("the harness store keeps the host's rules", () => {
  const h = new Harness({}, { kvQuotaKeys: 2 });
  const kv = h.context().kv();
  kv.set("a", "1", 1000);
  assert.equal(kv.getString("a"), "1");
  h.advance(1000);
  assert.equal(kv.get("a"), undefined, "expired on the harness clock");
  assert.throws(() => kv.set("k".repeat(1025), ""), (e) => e instanceof KvError && e.reason === "too-large");
  kv.set("x", "1");
  kv.set("y", "2");
  assert.throws(() => kv.set("z", "3"), (e) => e instanceof KvError && e.reason === "quota-exceeded" && e instanceof Unavailable);
  assert.ok(kv.compareAndSwap("x", "1", "9"));
  assert.ok(!kv.compareAndSwap("x", "1", "8"));
  assert.equal(kv.getString("x"), "9");
  assert.ok(kv.delete("x"));
  assert.ok(!kv.delete("x"));
});

test("config and log", () => {
  const h = new Harness({ greeting: "hi" });
  const ctx = h.context();
  assert.equal(ctx.requireConfig("greeting"), "hi");
  assert.throws(() => ctx.requireConfig("missing"), (e) => e instanceof Unavailable && e.message.includes("`missing`"));
  ctx.warn("careful");
  assert.deepEqual(h.logs(), [{ level: "warn", message: "careful" }]);
});

test("plugin errors have the WIT kinds", () => {
  assert.deepEqual([new BadEvent("x").kind, new Unavailable("x").kind, new Internal("x").kind], ["bad-event", "unavailable", "internal"]);
});

class Notes extends Plugin {
  handle() {
    return undefined;
  }
  api(request, ctx) {
    return new Router()
      .post("/notes", (req, ctx) => {
        const note = req.jsonObject("text");
        ctx.kv().set("note", note.text);
        return Response.json(201, { text: note.text });
      })
      .get("/notes/{id}", (req, ctx) => Response.json(200, { id: req.param("id"), text: ctx.kv().getString("note") }))
      .handle(request, ctx);
  }
}

test("the router answers as the Rust one", () => {
  const h = new Harness();
  assert.equal(h.api(new Notes(), Request.post("/notes").withJson({ text: "hi" })).status, 201);
  assert.deepEqual(h.api(new Notes(), Request.get("/notes/n%201")).jsonValue(), { id: "n 1", text: "hi" });
  const wrong = h.api(new Notes(), Request.post("/notes").withBody("{"));
  assert.deepEqual([wrong.status, wrong.jsonValue().code], [400, "malformed_json"]);
  const empty = h.api(new Notes(), Request.post("/notes"));
  assert.deepEqual([empty.status, empty.jsonValue().code], [400, "malformed_json"]);
  const lacking = h.api(new Notes(), Request.post("/notes").withJson({ txt: "hi" }));
  assert.deepEqual([lacking.status, lacking.jsonValue().code], [422, "missing_field"]);
  const gone = h.api(new Notes(), Request.delete("/notes/n1"));
  assert.deepEqual([gone.status, gone.header("allow")], [405, "GET"]);
  assert.equal(h.api(new Notes(), Request.get("/nowhere")).status, 404);
  assert.equal(h.api(new Echo(), Request.get("/x")).jsonValue().code, "not_found");
});

test("webhooks parse as the host parses them", () => {
  for (const name of readdirSync(join(root, "tests/cases/webhooks"))) {
    const body = JSON.parse(readFileSync(join(root, "tests/cases/webhooks", name, "request.json"), "utf8"));
    assert.equal(eventFromJson(body).kind, body.eventType, name);
  }
  const action = eventFromJson(readFileSync(join(root, "tests/cases/ivr/07-reservations-1--book-table/request.json"), "utf8"));
  assert.deepEqual([action.clientActionId, action.digits, action.call.source], ["reservations", "1", "+6591178965"]);
});

test("a whole call is walked", () => {
  const t = new Harness().call(new Echo(), "");
  assert.deepEqual(t.heard, ["You pressed undefined"]);
  assert.equal(t.ended, "the callflow hung up");
});

test("a Callflow is not a thenable: awaiting one gives it back", async () => {
  const flow = new Callflow().hangup();
  assert.equal(await flow, flow);
});

test("a plugin class gets a fresh instance per event, as in the component", () => {
  class Counter extends Plugin {
    count = 0;
    handle() {
      this.count += 1;
      return new Callflow().say(new Say(`event ${this.count}`, "v")).hangup();
    }
  }
  const h = new Harness();
  for (let i = 0; i < 2; i++) {
    assert.equal(h.handle(Counter, callAction()).actions[0].text, "event 1");
  }
});
