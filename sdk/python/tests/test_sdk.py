"""The Python SDK natively: callflows render 8x8's exact JSON (the same bytes as the Rust
SDK), the rules refuse what 8x8 refuses, the harness keeps the host's store rules, the
router answers as the Rust one, and webhooks parse as the host parses them."""

import json
from pathlib import Path

import pytest

import callflow_sdk
from callflow_sdk import (
    BadEvent,
    CallAction,
    Callflow,
    Internal,
    KvError,
    MakeCall,
    PlayFile,
    Plugin,
    Say,
    SayAndCapture,
    Unavailable,
)
from callflow_sdk.api import Request, Response, Router
from callflow_sdk.rules import Violation, validate
from callflow_sdk.testing import Harness, call_action, event_from_json

ROOT = Path(__file__).resolve().parents[3]


def test_the_sdk_names_the_contract_version_of_the_wit_it_builds_against():
    package = Path(callflow_sdk.__file__).parent
    wit = (package / "wit" / "callflow.wit").read_text()
    assert f"package {callflow_sdk.CONTRACT};" in wit.splitlines()
    # componentize-py finds that WIT through the package's own configuration.
    config = (package / "componentize-py.toml").read_text()
    assert 'wit_directory = "wit"' in config.splitlines()


def test_a_callflow_renders_the_same_json_as_the_rust_sdk():
    # The Rust SDK's doc example (sdk/wire/src/callflow.rs), byte for byte.
    flow = (
        Callflow()
        .say(Say("Our restaurant hours are between 9AM and 9PM.", "en-US-BenjaminRUS").speed(1.0))
        .hangup()
    )
    assert flow.to_json() == (
        '{"callflow":[{"action":"say","params":{"text":"Our restaurant hours are between 9AM and 9PM.",'
        '"voiceProfile":"en-US-BenjaminRUS","speed":1}},{"action":"hangup"}]}'
    )
    assert Say("x", "v").speed(1.25).params()["speed"] == 1.25
    # With an id: serde writes `clientActionId` first (the Rust field order).
    assert Callflow().client_action_id("m").hangup().to_json() == (
        '{"clientActionId":"m","callflow":[{"action":"hangup"}]}'
    )


def test_every_expected_ivr_answer_round_trips_through_the_builders():
    for case in sorted((ROOT / "tests" / "cases" / "ivr").iterdir()):
        expected = json.loads((case / "response.json").read_text())
        flow = Callflow.from_dict(expected)
        validate(flow)
        assert flow.to_dict() == expected, case.name


@pytest.mark.parametrize(
    "flow, code",
    [
        (Callflow(), -1001),
        (Callflow().say(Say("", "en-US-BenjaminRUS")), -1009),
        (Callflow().say(Say("hi", "v").speed(3.0)), -1002),
        (Callflow().say_and_capture(SayAndCapture("p", "v").timeouts(10_000, 10_000)), -1006),
        (Callflow().say_and_capture(SayAndCapture("p", "v").timeouts(1000, 5000)).then(SayAndCapture("p", "v")).hangup(), -1012),
        (Callflow().hangup().say(Say("late", "v")), -1012),
        (Callflow().make_call(MakeCall("+65", "not a number")), -1017),
        (Callflow().play_file(PlayFile("ftp://x/a.mp3")), -1009),
        (Callflow().client_action_id("has space").hangup(), 0),
        (Callflow().client_action_id("menu\n").hangup(), 0),
        (Callflow().make_call(MakeCall("+6512345678\n", "+6587654321")), -1017),
        # What the WIT cannot carry: refused here as the component would fail on it.
        (Callflow().say(Say("hi", "v").speed("1")), 0),
        (Callflow().say_and_capture(SayAndCapture("p", "v").digits(1.5, 3)), 0),
        (Callflow().say_and_capture(SayAndCapture("p", "v").timeouts(-1, 5000)), 0),
        (Callflow().make_call(MakeCall("+6512345678", "+6587654321").call_recording("yes")), 0),
    ],
)
def test_the_rules_refuse_what_8x8_refuses(flow, code):
    with pytest.raises(Violation) as err:
        validate(flow)
    assert err.value.code == code


class Echo(Plugin):
    def handle(self, event, ctx):
        if not isinstance(event, CallAction):
            return None
        return Callflow().say(Say(f"You pressed {event.digits}", "en-US-BenjaminRUS")).hangup()


def test_the_harness_runs_a_plugin_and_checks_its_answer():
    flow = Harness().handle(Echo(), call_action(client_action_id="menu", digits="7"))
    assert flow.actions[0] == Say("You pressed 7", "en-US-BenjaminRUS")

    class Broken(Plugin):
        def handle(self, event, ctx):
            return Callflow()

    with pytest.raises(Violation, match="at least one action"):
        Harness().handle(Broken(), call_action())


def test_the_harness_store_keeps_the_hosts_rules():
    h = Harness(kv_quota_keys=2)
    kv = h.context().kv()
    kv.set("a", "1", ttl_ms=1000)
    assert kv.get_str("a") == "1"
    h.advance(1000)
    assert kv.get("a") is None, "expired on the harness clock"
    with pytest.raises(KvError) as err:
        kv.set("k" * 1025, b"")
    assert err.value.reason == "too-large"
    kv.set("x", b"1")
    kv.set("y", b"2")
    with pytest.raises(KvError) as err:
        kv.set("z", b"3")
    assert err.value.reason == "quota-exceeded"
    assert isinstance(err.value, Unavailable), "an escaped store error is the fallback"
    assert kv.compare_and_swap("x", b"1", b"9") and not kv.compare_and_swap("x", b"1", b"8")
    assert kv.get("x") == b"9"
    assert kv.delete("x") and not kv.delete("x")


def test_config_and_log():
    h = Harness({"greeting": "hi"})
    ctx = h.context()
    assert ctx.require_config("greeting") == "hi"
    with pytest.raises(Unavailable, match="`missing`"):
        ctx.require_config("missing")
    ctx.warn("careful")
    assert [(l.level, l.message) for l in h.logs()] == [("warn", "careful")]


def test_plugin_errors_have_the_wit_kinds():
    assert (BadEvent("x").kind, Unavailable("x").kind, Internal("x").kind) == (
        "bad-event",
        "unavailable",
        "internal",
    )


class Notes(Plugin):
    def handle(self, event, ctx):
        return None

    def api(self, request, ctx):
        def create(req, ctx):
            note = req.json_object("text")
            ctx.kv().set("note", note["text"])
            return Response.json(201, {"text": note["text"]})

        def read(req, ctx):
            text = ctx.kv().get_str("note")
            return Response.json(200, {"id": req.param("id"), "text": text})

        return Router().post("/notes", create).get("/notes/{id}", read).handle(request, ctx)


def test_the_router_answers_as_the_rust_one():
    h = Harness()
    assert h.api(Notes(), Request.post("/notes").with_json({"text": "hi"})).status == 201
    read = h.api(Notes(), Request.get("/notes/n%201"))
    assert read.json_value() == {"id": "n 1", "text": "hi"}
    wrong = h.api(Notes(), Request.post("/notes").with_body("{"))
    assert (wrong.status, wrong.json_value()["code"]) == (400, "malformed_json")
    empty = h.api(Notes(), Request.post("/notes"))
    assert (empty.status, empty.json_value()["code"]) == (400, "malformed_json")
    lacking = h.api(Notes(), Request.post("/notes").with_json({"txt": "hi"}))
    assert (lacking.status, lacking.json_value()["code"]) == (422, "missing_field")
    assert Response.json(200, {"x": float("nan")}).status == 500, "NaN is not JSON"
    gone = h.api(Notes(), Request.delete("/notes/n1"))
    assert (gone.status, gone.header("allow")) == (405, "GET")
    assert h.api(Notes(), Request.get("/nowhere")).status == 404
    assert h.api(Echo(), Request.get("/x")).json_value()["code"] == "not_found"


def test_webhooks_parse_as_the_host_parses_them():
    for case in sorted((ROOT / "tests" / "cases" / "webhooks").iterdir()):
        body = json.loads((case / "request.json").read_text())
        event = event_from_json(body)
        assert event.kind == body["eventType"], case.name
    action = event_from_json((ROOT / "tests/cases/ivr/07-reservations-1--book-table/request.json").read_text())
    assert (action.client_action_id, action.digits, action.call.source) == ("reservations", "1", "+6591178965")


def test_a_whole_call_is_walked():
    t = Harness().call(Echo(), "")
    assert t.heard == ["You pressed None"] and t.ended == "the callflow hung up"


def test_a_plugin_class_gets_a_fresh_instance_per_event_as_in_the_component():
    class Counter(Plugin):
        def __init__(self):
            self.count = 0

        def handle(self, event, ctx):
            self.count += 1
            return Callflow().say(Say(f"event {self.count}", "v")).hangup()

    h = Harness()
    for _ in range(2):
        assert h.handle(Counter, call_action()).actions[0].text == "event 1"
