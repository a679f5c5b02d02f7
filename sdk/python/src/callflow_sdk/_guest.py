"""The component's side of the contract: the WIT exports that call the exported plugin,
and the WIT imports behind :class:`~callflow_sdk.Context`.

Only a component imports this module: ``wit_world`` is the bindings componentize-py
generates from the SDK's WIT while it builds. Everything a plugin touches (events,
callflows, the context) is the SDK's own pure-Python types, converted here, so that the
same plugin code runs natively under ``pytest``.
"""

from __future__ import annotations

from typing import Optional

import wit_world
from componentize_py_types import Err
from wit_world.exports import api as wit_api
from wit_world.imports import config as wit_config
from wit_world.imports import kv as wit_kv
from wit_world.imports import log as wit_log
from wit_world.imports import types as wit

from . import callflow as cf
from . import events as ev
from .api import ApiError, Request, Response
from .context import Context, Internal, KvError, PluginError, system_now_ms
from .rules import U8, U32, Violation, wit_opt, wit_str
from . import exported_plugin

_CALL_STATUS = {
    wit.CallStatus_CallInitiated: ev.CallStatus.CALL_INITIATED,
    wit.CallStatus_CallReceived: ev.CallStatus.CALL_RECEIVED,
    wit.CallStatus_CallConnected: ev.CallStatus.CALL_CONNECTED,
    wit.CallStatus_CallDisconnected: ev.CallStatus.CALL_DISCONNECTED,
    wit.CallStatus_CallUpdated: ev.CallStatus.CALL_UPDATED,
    wit.CallStatus_DtmfReceived: ev.CallStatus.DTMF_RECEIVED,
    wit.CallStatus_ActionCompleted: ev.CallStatus.ACTION_COMPLETED,
}
_DIRECTION = {
    wit.CallDirection_Inbound: ev.CallDirection.INBOUND,
    wit.CallDirection_Outbound: ev.CallDirection.OUTBOUND,
}
_SESSION_STATUS = {
    wit.SessionStatus_Completed: ev.SessionStatus.COMPLETED,
    wit.SessionStatus_Busy: ev.SessionStatus.BUSY,
    wit.SessionStatus_NoAnswer: ev.SessionStatus.NO_ANSWER,
    wit.SessionStatus_Failed: ev.SessionStatus.FAILED,
    wit.SessionStatus_Canceled: ev.SessionStatus.CANCELED,
    wit.SessionStatus_Error: ev.SessionStatus.ERROR,
}
_NUMBER_STATE = {
    wit.NumberState_Active: ev.NumberState.ACTIVE,
    wit.NumberState_Unhealthy: ev.NumberState.UNHEALTHY,
}
_LEVEL = {
    "trace": wit_log.Level.TRACE,
    "debug": wit_log.Level.DEBUG,
    "info": wit_log.Level.INFO,
    "warn": wit_log.Level.WARN,
    "error": wit_log.Level.ERROR,
}
_KV_REASON = {
    wit_kv.KvError_TooLarge: "too-large",
    wit_kv.KvError_Unavailable: "unavailable",
    wit_kv.KvError_QuotaExceeded: "quota-exceeded",
}


def _named(table: dict, value: object) -> str:
    """A WIT variant with an ``other(string)`` case, as the SDK's string."""
    known = table.get(type(value))
    return known if known is not None else value.value  # type: ignore[attr-defined]


def _call(c: wit.Call) -> ev.Call:
    return ev.Call(
        event_id=c.event_id,
        call_id=c.call_id,
        session_id=c.session_id,
        sub_account_id=c.sub_account_id,
        status=_named(_CALL_STATUS, c.status),
        direction=_named(_DIRECTION, c.direction),
        call_type=c.call_type,
        source=c.source,
        destination=c.destination,
        source_country_code=c.source_country_code,
        destination_country_code=c.destination_country_code,
        source_ref_id=c.source_ref_id,
        destination_ref_id=c.destination_ref_id,
        call_duration=c.call_duration,
        sip_code=c.sip_code,
        timestamp=c.timestamp,
    )


def _leg(leg: wit.SessionLeg) -> ev.SessionLeg:
    q = leg.quality
    return ev.SessionLeg(
        name=leg.name,
        call_id=leg.call_id,
        direction=leg.direction,
        call_type=leg.call_type,
        source=leg.source,
        destination=leg.destination,
        source_ref_id=leg.source_ref_id,
        destination_ref_id=leg.destination_ref_id,
        status=leg.status,
        call_duration=leg.call_duration,
        sip_code=leg.sip_code,
        initiated_at=leg.initiated_at,
        connected_at=leg.connected_at,
        disconnected_at=leg.disconnected_at,
        quality=None if q is None else ev.CallQuality(q.mos, q.packet_loss_rate, q.jitter),
    )


def event_from_wit(event: wit.Event) -> ev.Event:
    """The SDK's event for the one the host handed over."""
    v = event.value
    if isinstance(event, wit.Event_CallAction):
        return ev.CallAction(_call(v.call), v.client_action_id, v.digits)
    if isinstance(event, wit.Event_CallStatus):
        return ev.CallStatusEvent(_call(v))
    if isinstance(event, wit.Event_SessionSummary):
        err = v.error
        return ev.SessionSummary(
            session_id=v.session_id,
            sub_account_id=v.sub_account_id,
            status=_named(_SESSION_STATUS, v.status),
            event_id=v.event_id,
            start_time=v.start_time,
            end_time=v.end_time,
            last_action=v.last_action,
            call_count=v.call_count,
            client_request_id=v.client_request_id,
            error=None if err is None else ev.ErrorDetails(err.code, err.message),
            legs=[_leg(leg) for leg in v.legs],
        )
    if isinstance(event, wit.Event_RecordingStatus):
        return ev.RecordingStatus(
            session_id=v.session_id,
            recording_id=v.recording_id,
            status=v.status,
            event_id=v.event_id,
            sub_account_id=v.sub_account_id,
            duration_seconds=v.duration_seconds,
            file_path=v.file_path,
        )
    return ev.VirtualNumberUpdate(
        event_id=v.event_id,
        sub_account_id=v.sub_account_id,
        numbers=[
            ev.VirtualNumber(n.number, _named(_NUMBER_STATE, n.state), n.ref_id, n.country_code)
            for n in v.numbers
        ],
    )


# Values the canonical ABI cannot lower would trap after `handle_event` returned, out
# of reach of its error handling: rules.py checks them (the harness runs the same check),
# and a failure is the plugin's error.
def _str(v: object, name: str) -> str:
    try:
        return wit_str(v, name)
    except Violation as err:
        raise Internal(str(err)) from None


def _opt(v: object, name: str, kind: type, top: int = 0) -> object:
    try:
        return wit_opt(v, name, kind, top)
    except Violation as err:
        raise Internal(str(err)) from None


def _action_to_wit(action: cf.Action) -> wit.Action:
    if isinstance(action, cf.Say):
        return wit.Action_Say(
            wit.Say(
                _str(action.text, "say.text"),
                _str(action.voice_profile, "say.voice_profile"),
                _opt(action.times, "say.repetition", int, U8),
                _opt(action.rate, "say.speed", float),
            )
        )
    if isinstance(action, cf.SayAndCapture):
        a = action
        return wit.Action_SayAndCapture(
            wit.SayAndCapture(
                _str(a.prompt_message, "say_and_capture.prompt_message"),
                _str(a.voice_profile, "say_and_capture.voice_profile"),
                _opt(a.success, "say_and_capture.success_message", str),
                _opt(a.failure, "say_and_capture.failure_message", str),
                _opt(a.rate, "say_and_capture.speed", float),
                _opt(a.on_hash, "say_and_capture.complete_on_hash", bool),
                _opt(a.min_digits, "say_and_capture.min_digits", int, U8),
                _opt(a.max_digits, "say_and_capture.max_digits", int, U8),
                _opt(a.digit_timeout, "say_and_capture.digit_timeout", int, U32),
                _opt(a.overall_timeout_ms, "say_and_capture.overall_timeout", int, U32),
                _opt(a.no_of_tries, "say_and_capture.tries", int, U8),
            )
        )
    if isinstance(action, cf.MakeCall):
        return wit.Action_MakeCall(
            wit.MakeCall(
                _str(action.source, "make_call.source"),
                _str(action.destination, "make_call.destination"),
                _opt(action.recording, "make_call.call_recording", bool),
            )
        )
    if isinstance(action, cf.PlayFile):
        return wit.Action_PlayFile(
            wit.PlayFile(
                _str(action.file_url, "play_file.file_url"),
                _opt(action.times, "play_file.repetition", int, U8),
            )
        )
    if isinstance(action, cf.Hangup):
        return wit.Action_Hangup()
    raise Internal(f"not a callflow action: {action!r}")


def callflow_to_wit(flow: cf.Callflow) -> wit.Callflow:
    actions = flow.actions if isinstance(flow.actions, list) else list(flow.actions)
    return wit.Callflow(_opt(flow.id, "client_action_id", str), [_action_to_wit(a) for a in actions])


def _plugin_error(err: BaseException) -> wit.PluginError:
    message = err.message if isinstance(err, PluginError) else f"{type(err).__name__}: {err}"
    kind = err.kind if isinstance(err, PluginError) else "internal"
    if kind == "bad-event":
        return wit.PluginError_BadEvent(message)
    if kind == "unavailable":
        return wit.PluginError_Unavailable(message)
    return wit.PluginError_Internal(message)


class _Imports:
    """The host's imports, as the SDK's :class:`~callflow_sdk.context.Host`."""

    def log(self, level: str, message: str) -> None:
        wit_log.log(_LEVEL.get(level, wit_log.Level.INFO), message)

    def config(self, key: str) -> Optional[str]:
        return wit_config.get(key)

    def kv_get(self, key: str) -> Optional[bytes]:
        return _kv(wit_kv.get, key)

    def kv_set(self, key: str, value: bytes, ttl_ms: Optional[int]) -> None:
        _kv(wit_kv.set, key, value, ttl_ms)

    def kv_delete(self, key: str) -> bool:
        return _kv(wit_kv.delete, key)

    def kv_compare_and_swap(
        self, key: str, expected: Optional[bytes], new: Optional[bytes], ttl_ms: Optional[int]
    ) -> bool:
        return _kv(wit_kv.compare_and_swap, key, expected, new, ttl_ms)

    def now_ms(self) -> int:
        return system_now_ms()


def _kv(op, *args):
    try:
        return op(*args)
    except Err as err:
        reason = _KV_REASON.get(type(err.value), "unavailable")
        raise KvError(reason, err.value.value) from None


_CONTEXT = Context(_Imports())


class Handler(wit_world.exports.Handler):
    """The ``handler`` export: one webhook to the exported plugin."""

    def handle_event(self, event: wit.Event) -> Optional[wit.Callflow]:
        try:
            flow = exported_plugin().handle(event_from_wit(event), _CONTEXT)
            if flow is None:
                return None
            if not isinstance(flow, cf.Callflow):
                raise Internal(f"handle() returned {type(flow).__name__}, not a Callflow or None")
            return callflow_to_wit(flow)
        except Exception as err:  # noqa: BLE001 - every failure is the caller's fallback
            raise Err(_plugin_error(err)) from None


class Api(wit_world.exports.Api):
    """The ``api`` export: one request to the exported plugin's API."""

    def handle_request(self, request: wit_api.ApiRequest) -> wit_api.ApiResponse:
        req = Request(request.method, request.path, request.query, list(request.headers), request.body)
        try:
            resp = exported_plugin().api(req, _CONTEXT)
        except Exception as err:  # noqa: BLE001 - an escaped error is a JSON 5xx
            api = ApiError.from_exception(err)
            resp = Response.error(api.status, api.code, api.message)
        try:
            status = _opt(resp.status, "response.status", int, 0xFFFF)
            headers = [(_str(n, "header name"), _str(v, "header value")) for n, v in resp.headers]
            body = bytes(resp.body)
        except (Internal, TypeError, ValueError) as err:
            return wit_api.ApiResponse(500, [("content-type", "application/json")], Response.error(500, "internal", str(err)).body)
        return wit_api.ApiResponse(status, headers, body)
