"""Callflows out: what a call action is answered with, rendered as 8x8's exact JSON.

The names are the Rust SDK's::

    flow = (
        Callflow()
        .client_action_id("main_menu")
        .say_and_capture(
            SayAndCapture("Press 1 for reservations.", "en-US-BenjaminRUS")
            .speed(1.0).digits(1, 1).timeouts(5000, 10000).tries(2)
        )
    )
    flow.to_json()
    # {"clientActionId":"main_menu","callflow":[{"action":"sayAndCapture","params":{...}}]}

The host checks every callflow against 8x8's rules before the platform sees it
(``docs/callflow-rules.md``); so does :mod:`callflow_sdk.testing`, so a test fails on a
callflow 8x8 would refuse.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional, Union


@dataclass
class MakeCall:
    """Bridge the caller to another party."""

    source: str
    """The calling number shown to the other party: one of the sub-account's virtual numbers."""
    destination: str
    """The party to call, E.164."""
    recording: Optional[bool] = None

    def call_recording(self, on: bool) -> "MakeCall":
        """Record the call (needs recording set up on the 8x8 account)."""
        self.recording = on
        return self

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source, "destination": self.destination}
        if self.recording is not None:
            out["callRecording"] = self.recording
        return out


@dataclass
class Say:
    """Speak text to the caller."""

    text: str
    voice_profile: str
    times: Optional[int] = None
    rate: Optional[float] = None

    def repetition(self, times: int) -> "Say":
        """How many times to say it, 1 to 3."""
        self.times = times
        return self

    def speed(self, speed: float) -> "Say":
        """Speech speed, 0.5 to 2.0."""
        self.rate = speed
        return self

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"text": self.text, "voiceProfile": self.voice_profile}
        _put(out, "repetition", self.times)
        _put(out, "speed", _speed(self.rate))
        return out


@dataclass
class SayAndCapture:
    """Speak a prompt, then capture keypresses; the digits arrive in the next call action."""

    prompt_message: str
    voice_profile: str
    success: Optional[str] = None
    failure: Optional[str] = None
    rate: Optional[float] = None
    on_hash: Optional[bool] = None
    min_digits: Optional[int] = None
    max_digits: Optional[int] = None
    digit_timeout: Optional[int] = None
    overall_timeout_ms: Optional[int] = None
    no_of_tries: Optional[int] = None

    def success_message(self, text: str) -> "SayAndCapture":
        self.success = text
        return self

    def failure_message(self, text: str) -> "SayAndCapture":
        self.failure = text
        return self

    def speed(self, speed: float) -> "SayAndCapture":
        self.rate = speed
        return self

    def complete_on_hash(self, on: bool) -> "SayAndCapture":
        """End the capture on ``#``; when false, ``max_digits`` is required."""
        self.on_hash = on
        return self

    def digits(self, min: int, max: int) -> "SayAndCapture":
        """Fewest and most digits accepted (at most 25)."""
        self.min_digits, self.max_digits = min, max
        return self

    def timeouts(self, digit_ms: int, overall_ms: int) -> "SayAndCapture":
        """Milliseconds between digits and for the whole input; the first must be less."""
        self.digit_timeout, self.overall_timeout_ms = digit_ms, overall_ms
        return self

    def overall_timeout(self, overall_ms: int) -> "SayAndCapture":
        self.overall_timeout_ms = overall_ms
        return self

    def tries(self, tries: int) -> "SayAndCapture":
        """How many times the prompt is tried on failed input, 1 to 5."""
        self.no_of_tries = tries
        return self

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "promptMessage": self.prompt_message,
            "voiceProfile": self.voice_profile,
        }
        _put(out, "successMessage", self.success)
        _put(out, "failureMessage", self.failure)
        _put(out, "speed", _speed(self.rate))
        _put(out, "completeOnHash", self.on_hash)
        _put(out, "minDigits", self.min_digits)
        _put(out, "maxDigits", self.max_digits)
        _put(out, "digitTimeout", self.digit_timeout)
        _put(out, "overallTimeout", self.overall_timeout_ms)
        _put(out, "noOfTries", self.no_of_tries)
        return out


@dataclass
class PlayFile:
    """Play an audio file (public http(s) ``.mp3`` or ``.wav`` under 5 MB)."""

    file_url: str
    times: Optional[int] = None

    def repetition(self, times: int) -> "PlayFile":
        self.times = times
        return self

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"fileUrl": self.file_url}
        _put(out, "repetition", self.times)
        return out


class Hangup:
    """End the call."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Hangup)

    def __repr__(self) -> str:
        return "Hangup()"


Action = Union[MakeCall, Say, SayAndCapture, PlayFile, Hangup]

_ACTION_NAMES = {
    MakeCall: "makeCall",
    Say: "say",
    SayAndCapture: "sayAndCapture",
    PlayFile: "playFile",
    Hangup: "hangup",
}


def action_name(action: Action) -> str:
    """8x8's name of an action: ``say``, ``sayAndCapture``, ``makeCall``, ..."""
    return _ACTION_NAMES[type(action)]


@dataclass
class Callflow:
    """The answer to a call action: actions the platform runs in order."""

    actions: list[Action] = field(default_factory=list)
    id: Optional[str] = None

    def client_action_id(self, id: str) -> "Callflow":
        """Echoed back by 8x8 in the next call action: where the caller is in your flow.
        At most 128 characters of ``[A-Za-z0-9_.:-]``; never personal data."""
        self.id = id
        return self

    def then(self, action: Action) -> "Callflow":
        self.actions.append(action)
        return self

    def say(self, say: Say) -> "Callflow":
        return self.then(say)

    def say_and_capture(self, capture: SayAndCapture) -> "Callflow":
        return self.then(capture)

    def make_call(self, call: MakeCall) -> "Callflow":
        return self.then(call)

    def play_file(self, file: PlayFile) -> "Callflow":
        return self.then(file)

    def hangup(self) -> "Callflow":
        return self.then(Hangup())

    def to_dict(self) -> dict[str, Any]:
        """The 8x8 JSON object."""
        steps = []
        for action in self.actions:
            step: dict[str, Any] = {"action": action_name(action)}
            if not isinstance(action, Hangup):
                step["params"] = action.params()
            steps.append(step)
        # The Rust SDK's field order: the id first, as 8x8's samples write it.
        out: dict[str, Any] = {}
        if self.id is not None:
            out["clientActionId"] = self.id
        out["callflow"] = steps
        return out

    def to_json(self) -> str:
        """8x8's JSON, compact."""
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)

    @staticmethod
    def from_dict(value: dict[str, Any]) -> "Callflow":
        """Reads 8x8's JSON object back (as a test's expected answer)."""
        flow = Callflow(id=value.get("clientActionId"))
        for step in value["callflow"]:
            p = step.get("params", {})
            name = step["action"]
            if name == "say":
                flow.then(Say(p["text"], p["voiceProfile"], p.get("repetition"), p.get("speed")))
            elif name == "sayAndCapture":
                flow.then(
                    SayAndCapture(
                        p["promptMessage"],
                        p["voiceProfile"],
                        p.get("successMessage"),
                        p.get("failureMessage"),
                        p.get("speed"),
                        p.get("completeOnHash"),
                        p.get("minDigits"),
                        p.get("maxDigits"),
                        p.get("digitTimeout"),
                        p.get("overallTimeout"),
                        p.get("noOfTries"),
                    )
                )
            elif name == "makeCall":
                flow.then(MakeCall(p["source"], p["destination"], p.get("callRecording")))
            elif name == "playFile":
                flow.then(PlayFile(p["fileUrl"], p.get("repetition")))
            elif name == "hangup":
                flow.then(Hangup())
            else:
                raise ValueError(f"unknown action {name!r}")
        return flow


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        out[key] = value


def _speed(speed: Optional[float]) -> Optional[float]:
    # 8x8's samples write whole speeds as integers (`"speed": 1`); so does the host.
    if speed is not None and float(speed).is_integer() and 0 <= speed <= 255:
        return int(speed)
    return speed
