"""Run plugins natively under plain ``pytest``: an in-memory host, events built from
8x8's JSON, and whole scripted calls.

::

    from callflow_sdk.testing import Harness, call_action

    def test_pressing_7_is_repeated():
        flow = Harness().handle(Echo(), call_action(client_action_id="menu", digits="7"))
        assert flow.actions[0] == Say("You pressed 7", "en-US-BenjaminRUS")

What the harness promises: the plugin sees the SDK's event types, as in a component; its
key-value store keeps the host's rules (sizes, expiry on the harness's own clock); and a
callflow that 8x8 would reject fails the test on the spot (:mod:`callflow_sdk.rules`).

Three ways to make events:

- :func:`call_action`: a call action with what the test is about set;
- :func:`event_from_json`: a webhook as 8x8 posts it (``tests/cases/*/request.json``);
- :meth:`Harness.call`: a whole call, 8x8's side played by a small walker: each
  ``sayAndCapture`` takes the script's next digits, and the call ends at a hangup.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from .. import rules
from ..api import Request, Response
from ..callflow import Callflow, Hangup, MakeCall, PlayFile, Say, SayAndCapture
from ..context import Context, KvError, Level, PluginError
from ..events import (
    Call,
    CallAction,
    CallDirection,
    CallQuality,
    CallStatus,
    CallStatusEvent,
    ErrorDetails,
    Event,
    RecordingStatus,
    SessionLeg,
    SessionSummary,
    VirtualNumber,
    VirtualNumberUpdate,
)

MAX_KEY_BYTES = 1024
MAX_VALUE_BYTES = 64 * 1024

__all__ = [
    "Harness",
    "LogLine",
    "Transcript",
    "call_action",
    "event_from_json",
    "load_case",
]


@dataclass
class LogLine:
    level: str
    message: str


class _MemoryHost:
    """The in-memory host: configuration, a key-value store with the host's limits and
    expiry, a log, and a clock the test moves."""

    def __init__(self, config: dict[str, str], now_ms: int, quota_keys: int, quota_bytes: int) -> None:
        self.config_values = dict(config)
        self.store: dict[str, tuple[bytes, Optional[int]]] = {}
        self.lines: list[LogLine] = []
        self.clock_ms = now_ms
        self.quota_keys, self.quota_bytes = quota_keys, quota_bytes

    def log(self, level: str, message: str) -> None:
        if level not in Level.ALL:
            raise ValueError(f"unknown log level {level!r}")
        self.lines.append(LogLine(level, message))

    def config(self, key: str) -> Optional[str]:
        return self.config_values.get(key)

    def _live(self, key: str) -> Optional[bytes]:
        entry = self.store.get(key)
        if entry is None:
            return None
        value, expires = entry
        if expires is not None and expires <= self.clock_ms:
            del self.store[key]
            return None
        return value

    def _check(self, key: str, value: Optional[bytes]) -> None:
        if len(key.encode("utf-8")) > MAX_KEY_BYTES:
            raise KvError("too-large", f"key is {len(key.encode())} bytes; the limit is {MAX_KEY_BYTES}")
        if value is not None and len(value) > MAX_VALUE_BYTES:
            raise KvError("too-large", f"value is {len(value)} bytes; the limit is {MAX_VALUE_BYTES}")

    def _quota(self, key: str, value: bytes) -> None:
        for k in list(self.store):
            self._live(k)
        keys = len(self.store) + (0 if key in self.store else 1)
        used = sum(len(k.encode()) + len(v) for k, (v, _) in self.store.items() if k != key)
        used += len(key.encode()) + len(value)
        if keys > self.quota_keys or used > self.quota_bytes:
            raise KvError("quota-exceeded", f"the tenant's store is full ({self.quota_keys} keys, {self.quota_bytes} bytes)")

    def kv_get(self, key: str) -> Optional[bytes]:
        self._check(key, None)
        return self._live(key)

    def kv_set(self, key: str, value: bytes, ttl_ms: Optional[int]) -> None:
        self._check(key, value)
        self._quota(key, value)
        self.store[key] = (bytes(value), None if ttl_ms is None else self.clock_ms + ttl_ms)

    def kv_delete(self, key: str) -> bool:
        self._check(key, None)
        existed = self._live(key) is not None
        self.store.pop(key, None)
        return existed

    def kv_compare_and_swap(
        self, key: str, expected: Optional[bytes], new: Optional[bytes], ttl_ms: Optional[int]
    ) -> bool:
        self._check(key, new)
        if self._live(key) != expected:
            return False
        if new is None:
            self.store.pop(key, None)
        else:
            self._quota(key, new)
            self.store[key] = (bytes(new), None if ttl_ms is None else self.clock_ms + ttl_ms)
        return True

    def now_ms(self) -> int:
        return self.clock_ms


class Harness:
    """An in-memory host for plugins under test."""

    def __init__(
        self,
        config: Optional[dict[str, str]] = None,
        now_ms: int = 1_767_694_639_375,
        kv_quota_keys: int = 100_000,
        kv_quota_bytes: int = 64 << 20,
    ) -> None:
        self._host = _MemoryHost(config or {}, now_ms, kv_quota_keys, kv_quota_bytes)

    def config(self, key: str, value: str) -> "Harness":
        """Sets one configuration value."""
        self._host.config_values[key] = value
        return self

    def context(self) -> Context:
        """A context on this harness's host (to call plugin helpers directly)."""
        return Context(self._host)

    def advance(self, ms: int) -> None:
        """Moves the harness's clock (values with a TTL expire by it)."""
        self._host.clock_ms += ms

    def logs(self) -> list[LogLine]:
        """Every line the plugin logged so far."""
        return list(self._host.lines)

    def handle(self, plugin: Any, event: Event) -> Optional[Callflow]:
        """Runs ``plugin.handle`` (pass the class for a fresh instance per event, as in the
        component); a callflow 8x8 would refuse, or one the WIT cannot carry, raises
        :class:`callflow_sdk.rules.Violation`. A :class:`PluginError` propagates."""
        # A class is instantiated for each event, as the component runs every event in a
        # fresh instance; an instance is used as given.
        instance = plugin() if isinstance(plugin, type) else plugin
        flow = instance.handle(event, self.context())
        if flow is None:
            return None
        if not isinstance(flow, Callflow):
            raise TypeError(f"handle() returned {type(flow).__name__}, not a Callflow or None")
        rules.validate(flow)
        return flow

    def api(self, plugin: Any, request: Request) -> Response:
        """Runs ``plugin.api``; an escaped exception becomes the JSON 5xx the component
        would answer."""
        from ..api import ApiError

        instance = plugin() if isinstance(plugin, type) else plugin
        try:
            response = instance.api(request, self.context())
        except Exception as err:  # noqa: BLE001 - as in the component
            api = ApiError.from_exception(err)
            response = Response.error(api.status, api.code, api.message)
        return response

    def call(self, plugin: Any, script: str = "", source: str = "+6591178965", destination: str = "+6568332048") -> "Transcript":
        """A whole inbound call: 8x8's side played against ``plugin``.

        ``script`` is what the caller presses at each ``sayAndCapture``, comma-separated
        (``"1,1,2"``); ``-`` presses nothing. When it runs out, the caller hangs up at
        the next prompt. A failed event ends the call with the fallback's reason."""
        presses = [p.strip() for p in script.split(",")] if script.strip() else []
        transcript = Transcript()
        client_action_id: Optional[str] = None
        digits: Optional[str] = None
        status = CallStatus.CALL_RECEIVED
        for step in range(64):
            event = call_action(
                event_id=f"sim-{step + 1}",
                status=status,
                source=source,
                destination=destination,
                client_action_id=client_action_id,
                digits=digits,
            )
            try:
                flow = self.handle(plugin, event)
            except (PluginError, rules.Violation) as err:
                transcript.ended = f"fallback: {err}"
                return transcript
            if flow is None:
                transcript.ended = "fallback: the plugin answered no callflow"
                return transcript
            transcript.callflows.append(flow)
            status = CallStatus.ACTION_COMPLETED
            client_action_id, digits = flow.id, None
            for action in flow.actions:
                if isinstance(action, Say):
                    transcript.heard.append(action.text)
                elif isinstance(action, PlayFile):
                    transcript.heard.append(f"(file {action.file_url})")
                elif isinstance(action, SayAndCapture):
                    transcript.heard.append(action.prompt_message)
                    if not presses:
                        transcript.ended = "the caller hung up at a prompt"
                        return transcript
                    pressed = presses.pop(0)
                    digits = None if pressed in ("", "-") else pressed
                    transcript.pressed.append(pressed)
                elif isinstance(action, MakeCall):
                    transcript.bridged.append(action.destination)
                elif isinstance(action, Hangup):
                    transcript.ended = "the callflow hung up"
                    return transcript
        transcript.ended = "the call went on for 64 callflows; stopped"
        return transcript


@dataclass
class Transcript:
    """What happened on a simulated call."""

    heard: list[str] = field(default_factory=list)
    """Every text said or prompted, in order."""
    pressed: list[str] = field(default_factory=list)
    bridged: list[str] = field(default_factory=list)
    """Numbers a ``makeCall`` bridged the caller to."""
    callflows: list[Callflow] = field(default_factory=list)
    ended: str = ""


def call_action(
    *,
    client_action_id: Optional[str] = None,
    digits: Optional[str] = None,
    status: str = CallStatus.CALL_RECEIVED,
    direction: str = CallDirection.INBOUND,
    source: str = "+6591178965",
    destination: str = "+6568332048",
    event_id: str = "evt-1",
    call_id: str = "e1ff6a14-eae8-11f0-baa6-c93abb37794a",
    session_id: str = "session-1",
    sub_account_id: str = "8x8_test",
) -> CallAction:
    """A call action as 8x8 sends one, with what the test is about set. With digits or a
    client action id and no status, the status is ``ACTION_COMPLETED``."""
    if status == CallStatus.CALL_RECEIVED and (digits is not None or client_action_id is not None):
        status = CallStatus.ACTION_COMPLETED
    call = Call(
        event_id=event_id,
        call_id=call_id,
        session_id=session_id,
        sub_account_id=sub_account_id,
        status=status,
        direction=direction,
        call_type="PSTN",
        source=source,
        destination=destination,
        source_country_code="SG",
        destination_country_code="SG",
        call_duration=0,
        sip_code=200,
        timestamp="2026-01-06T10:17:19.375Z",
    )
    return CallAction(call, client_action_id, digits)


def load_case(folder: Union[str, Path]) -> tuple[Event, Optional[Callflow]]:
    """A case folder (``request.json`` and, when the answer is a callflow,
    ``response.json``) as the event and the expected callflow."""
    folder = Path(folder)
    event = event_from_json((folder / "request.json").read_text())
    response = folder / "response.json"
    expected = Callflow.from_dict(json.loads(response.read_text())) if response.exists() else None
    return event, expected


def event_from_json(body: Union[str, bytes, dict[str, Any]]) -> Event:
    """A webhook as 8x8 posts it, as the host hands it to a plugin (numbers normalised to
    E.164 with a leading ``+``)."""
    doc = json.loads(body) if isinstance(body, (str, bytes)) else body
    kind = doc.get("eventType")
    p = doc.get("payload") or {}
    if kind in ("CALL_ACTION", "CALL_STATUS"):
        call = Call(
            event_id=_str(p.get("eventId")) or "",
            call_id=_str(p.get("callId")) or "",
            session_id=_str(p.get("sessionId")) or "",
            sub_account_id=_str(p.get("subAccountId")) or "",
            status=_str(p.get("callStatus")) or "",
            direction=_str(p.get("callDirection")) or "",
            call_type=_str(p.get("callType")) or "",
            source=_number(p.get("source")) or "",
            destination=_number(p.get("destination")) or "",
            source_country_code=_str(p.get("sourceCountryCode")),
            destination_country_code=_str(p.get("destinationCountryCode")),
            source_ref_id=_str(p.get("sourceRefId")),
            destination_ref_id=_str(p.get("destinationRefId")),
            call_duration=_int(p.get("callDuration")) or 0,
            sip_code=_int(p.get("sipCode")),
            timestamp=_str(p.get("timestamp") or p.get("Timestamp")) or "",
        )
        if kind == "CALL_STATUS":
            return CallStatusEvent(call)
        data = p.get("eventData")
        digits = data if isinstance(data, str) else (data or {}).get("dtmf") if isinstance(data, dict) else None
        digits = _str(digits if digits is not None else p.get("dtmf"))
        return CallAction(call, _str(p.get("clientActionId")), digits or None)
    if kind == "SESSION_SUMMARY":
        err = p.get("errorDetails")
        legs = [
            SessionLeg(
                name=name,
                call_id=_str(leg.get("callId")),
                direction=_str(leg.get("callDirection")),
                call_type=_str(leg.get("callType")),
                source=_number(leg.get("source")),
                destination=_number(leg.get("destination")),
                source_ref_id=_str(leg.get("sourceRefId")),
                destination_ref_id=_str(leg.get("destinationRefId")),
                status=_str(leg.get("callStatus")),
                call_duration=_int(leg.get("callDuration")),
                sip_code=_int(leg.get("sipCode")),
                initiated_at=_str(leg.get("initiatedTimestamp")),
                connected_at=_str(leg.get("connectedTimestamp")),
                disconnected_at=_str(leg.get("disconnectedTimestamp")),
                quality=_quality(leg.get("callQuality")),
            )
            for name, leg in sorted((p.get("details") or {}).items())
            if isinstance(leg, dict)
        ]
        return SessionSummary(
            session_id=_str(p.get("sessionId")) or "",
            sub_account_id=_str(p.get("subAccountId")) or "",
            status=_str(p.get("sessionStatus")) or "",
            event_id=_str(p.get("eventId")),
            start_time=_str(p.get("startTime")),
            end_time=_str(p.get("endTime")),
            last_action=_str(p.get("lastAction")),
            call_count=_int(p.get("callCount")) or 0,
            client_request_id=_str(p.get("clientRequestId")),
            error=None
            if not isinstance(err, dict)
            else ErrorDetails(_int(err.get("errorCode")) or 0, _str(err.get("errorMsg")) or ""),
            legs=legs,
        )
    if kind == "CALL_RECORDING_STATUS":
        return RecordingStatus(
            session_id=_str(p.get("sessionId")) or "",
            recording_id=_str(p.get("recordingId")) or "",
            status=_str(p.get("status")) or "",
            event_id=_str(p.get("eventId")),
            sub_account_id=_str(p.get("subAccountId")),
            duration_seconds=_int(p.get("durationSeconds")) or 0,
            file_path=_str(p.get("filePath")),
        )
    if kind == "VIRTUAL_NUMBER_UPDATE":
        entries = p.get("virtualNumbers") or [p]
        return VirtualNumberUpdate(
            event_id=_str(p.get("eventId")),
            sub_account_id=_str(p.get("subAccountId")),
            numbers=[
                VirtualNumber(
                    _number(e.get("msisdn") or e.get("virtualNumber") or e.get("number")) or "",
                    (_str(e.get("operationalStatus") or e.get("status")) or "").upper(),
                    _str(e.get("referenceId")),
                    _str(e.get("countryCode")),
                )
                for e in entries
                if isinstance(e, dict)
            ],
        )
    raise ValueError(f"unknown eventType {kind!r}")


def _str(v: Any) -> Optional[str]:
    if v is None:
        return None
    return v if isinstance(v, str) else json.dumps(v)


def _int(v: Any) -> Optional[int]:
    try:
        return None if v is None or isinstance(v, bool) else int(float(v))
    except (TypeError, ValueError):
        return None


def _number(v: Any) -> Optional[str]:
    s = _str(v)
    if s is None:
        return None
    s = s.strip()
    return s if not s or s.startswith("+") or not s.isdigit() else f"+{s}"


def _quality(q: Any) -> Optional[CallQuality]:
    if not isinstance(q, dict):
        return None

    def num(v: Any) -> Optional[float]:
        try:
            return None if v is None else float(v)
        except (TypeError, ValueError):
            return None

    return CallQuality(num(q.get("mos")), num(q.get("packetLossRate")), num(q.get("jitter")))

