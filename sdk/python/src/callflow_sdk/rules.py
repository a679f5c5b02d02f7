"""8x8's rules for a callflow, as the host checks them before the platform sees one
(``docs/callflow-rules.md``; the host's own copy is ``callflow_wire::rules``). The testing
harness applies them to every callflow a plugin answers, so a test fails where 8x8 would
refuse the answer and the caller would get the fallback.
"""

from __future__ import annotations

import re
from typing import Optional

from .callflow import Callflow, Hangup, MakeCall, PlayFile, Say, SayAndCapture

MAX_TEXT_CHARS = 3000
MAX_CLIENT_ACTION_ID = 128
MAX_MAKE_CALLS = 2
MAX_DIGITS = 25
MAX_TRIES = 5
MAX_BODY_BYTES = 64 * 1024

_E164 = re.compile(r"\+?[0-9]{1,15}")
_ID = re.compile(r"[A-Za-z0-9_.:-]+")


class Violation(Exception):
    """A rule the callflow breaks: 8x8's error code (0 for the host's own rules), where,
    and why."""

    def __init__(self, code: int, at: str, message: str) -> None:
        super().__init__(f"{at}: {message} (8x8 code {code})")
        self.code, self.at, self.message = code, at, message


def is_e164(number: str) -> bool:
    """An optional ``+`` and 1 to 15 digits."""
    return _E164.fullmatch(number) is not None


# The WIT's types: what the canonical ABI can carry. A value outside them fails the
# component's call after ``handle`` returned; checked here so that the harness refuses it
# as the component would, and used by the component's glue (``_guest.py``) to convert.
U8, U32 = 0xFF, 0xFFFF_FFFF


def wit_str(v: object, name: str) -> str:
    """``v`` as a WIT ``string``, or :class:`Violation` naming ``name``."""
    if not isinstance(v, str):
        raise Violation(0, name, f"must be a str, not {type(v).__name__}")
    return v


def wit_opt(v: object, name: str, kind: type, top: int = 0) -> object:
    """``v`` as a WIT ``option`` of ``kind`` (``int`` up to ``top``, ``float``, ``bool``,
    ``str``), or :class:`Violation` naming ``name``."""
    if v is None:
        return None
    if kind is int and (isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= top):
        raise Violation(0, name, f"must be an int from 0 to {top}, not {v!r}")
    if kind is float and (isinstance(v, bool) or not isinstance(v, (int, float)) or v != v):
        raise Violation(0, name, f"must be a number, not {v!r}")
    if kind in (bool, str) and not isinstance(v, kind):
        raise Violation(0, name, f"must be a {kind.__name__}, not {v!r}")
    return float(v) if kind is float else v


def check_types(flow: Callflow) -> None:
    """Raises :class:`Violation` for the first field of ``flow`` the WIT cannot carry."""
    wit_opt(flow.id, "clientActionId", str)
    for i, a in enumerate(flow.actions):
        at = f"callflow[{i}].params."
        if isinstance(a, Say):
            wit_str(a.text, at + "text")
            wit_str(a.voice_profile, at + "voiceProfile")
            wit_opt(a.times, at + "repetition", int, U8)
            wit_opt(a.rate, at + "speed", float)
        elif isinstance(a, SayAndCapture):
            wit_str(a.prompt_message, at + "promptMessage")
            wit_str(a.voice_profile, at + "voiceProfile")
            wit_opt(a.success, at + "successMessage", str)
            wit_opt(a.failure, at + "failureMessage", str)
            wit_opt(a.rate, at + "speed", float)
            wit_opt(a.on_hash, at + "completeOnHash", bool)
            wit_opt(a.min_digits, at + "minDigits", int, U8)
            wit_opt(a.max_digits, at + "maxDigits", int, U8)
            wit_opt(a.digit_timeout, at + "digitTimeout", int, U32)
            wit_opt(a.overall_timeout_ms, at + "overallTimeout", int, U32)
            wit_opt(a.no_of_tries, at + "noOfTries", int, U8)
        elif isinstance(a, MakeCall):
            wit_str(a.source, at + "source")
            wit_str(a.destination, at + "destination")
            wit_opt(a.recording, at + "callRecording", bool)
        elif isinstance(a, PlayFile):
            wit_str(a.file_url, at + "fileUrl")
            wit_opt(a.times, at + "repetition", int, U8)
        elif not isinstance(a, Hangup):
            raise Violation(0, f"callflow[{i}]", f"not a callflow action: {a!r}")


def validate(flow: Callflow) -> None:
    """Raises :class:`Violation` for the first rule ``flow`` breaks (the WIT's types
    first)."""
    check_types(flow)
    if flow.id is not None:
        check_client_action_id(flow.id)
    if not flow.actions:
        raise Violation(-1001, "callflow", "a callflow needs at least one action")
    make_calls = 0
    for i, action in enumerate(flow.actions):
        at = f"callflow[{i}]"
        if isinstance(action, MakeCall):
            make_calls += 1
            if make_calls > MAX_MAKE_CALLS:
                raise Violation(-1010, at, f"at most {MAX_MAKE_CALLS} makeCall actions per callflow")
            for field, value in (("source", action.source), ("destination", action.destination)):
                if not is_e164(value):
                    raise Violation(
                        -1017, f"{at}.params.{field}", f"{value!r} is not an E.164 number (optional '+', 1 to 15 digits)"
                    )
        elif isinstance(action, Say):
            _text(action.text, f"{at}.params.text")
            _voice(action.voice_profile, at)
            _repetition(action.times, at)
            _speed(action.rate, at)
        elif isinstance(action, SayAndCapture):
            _capture(action, at)
        elif isinstance(action, PlayFile):
            _play_file(action, at)
        elif isinstance(action, Hangup):
            if i + 1 < len(flow.actions):
                raise Violation(-1012, f"callflow[{i + 1}]", "nothing may follow hangup")
            if i > 0 and isinstance(flow.actions[i - 1], SayAndCapture):
                raise Violation(
                    -1012,
                    at,
                    "hangup directly after sayAndCapture drops the captured digits; "
                    "end the callflow with the sayAndCapture instead",
                )
        else:
            raise Violation(0, at, f"not a callflow action: {action!r}")
    size = len(flow.to_json().encode("utf-8"))
    if size > MAX_BODY_BYTES:
        raise Violation(0, "callflow", f"the callflow is {size} bytes of JSON; the limit is {MAX_BODY_BYTES}")


def check_client_action_id(id: str) -> None:
    if not 1 <= len(id) <= MAX_CLIENT_ACTION_ID:
        raise Violation(0, "clientActionId", f"must be 1 to {MAX_CLIENT_ACTION_ID} characters, is {len(id)}")
    if _ID.fullmatch(id) is None:
        raise Violation(
            0,
            "clientActionId",
            "use only A-Z, a-z, 0-9, '_', '.', ':' and '-' "
            "(it round-trips through 8x8; keep personal data out of it)",
        )


def _text(text: str, at: str) -> None:
    if not text.strip():
        raise Violation(-1009, at, "must not be empty")
    if len(text) > MAX_TEXT_CHARS:
        raise Violation(-1009, at, f"is {len(text)} characters; the limit is {MAX_TEXT_CHARS}")


def _voice(voice: str, at: str) -> None:
    if not voice.strip():
        raise Violation(-1009, f"{at}.params.voiceProfile", 'is required, for example "en-US-BenjaminRUS"')


def _speed(speed: Optional[float], at: str) -> None:
    if speed is not None and not 0.5 <= speed <= 2.0:
        raise Violation(-1002, f"{at}.params.speed", f"{speed} is outside 0.5 to 2.0")


def _repetition(times: Optional[int], at: str) -> None:
    if times is not None and not 1 <= times <= 3:
        raise Violation(-1009, f"{at}.params.repetition", f"{times} is outside 1 to 3")


def _capture(c: SayAndCapture, at: str) -> None:
    _text(c.prompt_message, f"{at}.params.promptMessage")
    _voice(c.voice_profile, at)
    if c.success is not None:
        _text(c.success, f"{at}.params.successMessage")
    if c.failure is not None:
        _text(c.failure, f"{at}.params.failureMessage")
    _speed(c.rate, at)
    if c.min_digits is not None and c.max_digits is None:
        raise Violation(-1003, f"{at}.params.minDigits", "minDigits requires maxDigits")
    if c.max_digits is not None:
        low = 1 if c.min_digits is None else c.min_digits
        if not 1 <= low <= c.max_digits <= MAX_DIGITS:
            raise Violation(
                -1003,
                f"{at}.params.maxDigits",
                f"need 1 <= minDigits ({low}) <= maxDigits ({c.max_digits}) <= {MAX_DIGITS}",
            )
    if c.on_hash is False and c.max_digits is None:
        raise Violation(-1008, f"{at}.params.completeOnHash", "completeOnHash false requires maxDigits")
    if c.digit_timeout is not None:
        if c.overall_timeout_ms is None:
            raise Violation(-1005, f"{at}.params.digitTimeout", "digitTimeout requires overallTimeout")
        if c.digit_timeout >= c.overall_timeout_ms:
            raise Violation(
                -1006,
                f"{at}.params.digitTimeout",
                f"digitTimeout ({c.digit_timeout}) must be less than overallTimeout ({c.overall_timeout_ms})",
            )
    if c.no_of_tries is not None and not 1 <= c.no_of_tries <= MAX_TRIES:
        raise Violation(-1009, f"{at}.params.noOfTries", f"{c.no_of_tries} is outside 1 to {MAX_TRIES}")


def _play_file(f: PlayFile, at: str) -> None:
    url = f.file_url
    rest = url[8:] if url.startswith("https://") else url[7:] if url.startswith("http://") else None
    path = None if rest is None else re.split(r"[?#]", rest)[0]
    lower = (path or "").lower()
    if path is None or "/" not in path or not (lower.endswith(".mp3") or lower.endswith(".wav")):
        raise Violation(-1009, f"{at}.params.fileUrl", f"{url!r} must be an http(s) URL of an .mp3 or .wav file")
    _repetition(f.times, at)
