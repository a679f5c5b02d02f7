"""Events in: the webhooks 8x8 posts, as the host hands them to a plugin.

The host parses each webhook (numbers normalised to E.164 with a leading ``+``,
lenient about 8x8's optional fields) and passes one of the five event classes below.
Statuses and directions are plain strings: the constants in :class:`CallStatus`,
:class:`CallDirection` and :class:`SessionStatus` for the values this contract knows,
and any other value verbatim, so a new status from 8x8 never breaks a plugin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union


class CallStatus:
    """The values of :attr:`Call.status` that the contract knows."""

    CALL_INITIATED = "CALL_INITIATED"
    CALL_RECEIVED = "CALL_RECEIVED"
    CALL_CONNECTED = "CALL_CONNECTED"
    CALL_DISCONNECTED = "CALL_DISCONNECTED"
    CALL_UPDATED = "CALL_UPDATED"
    DTMF_RECEIVED = "DTMF_RECEIVED"
    ACTION_COMPLETED = "ACTION_COMPLETED"


class CallDirection:
    """The values of :attr:`Call.direction` that the contract knows."""

    INBOUND = "INBOUND"
    OUTBOUND = "OUTBOUND"


class SessionStatus:
    """The values of :attr:`SessionSummary.status` that the contract knows."""

    COMPLETED = "COMPLETED"
    BUSY = "BUSY"
    NO_ANSWER = "NO_ANSWER"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    ERROR = "ERROR"


class NumberState:
    """The values of :attr:`VirtualNumber.state` that the contract knows."""

    ACTIVE = "ACTIVE"
    UNHEALTHY = "UNHEALTHY"


@dataclass
class Call:
    """The fields every call-leg webhook (call action, call status) carries."""

    event_id: str
    """Unique per delivery of an event; repeated deliveries keep it."""
    call_id: str
    session_id: str
    """The whole session: every leg and every webhook of one call share it."""
    sub_account_id: str
    status: str
    """One of :class:`CallStatus`, or a status the contract does not know, verbatim."""
    direction: str
    """One of :class:`CallDirection`, or another direction, verbatim."""
    call_type: str
    """``PSTN`` or ``VOIP``, verbatim."""
    source: str
    """The calling number, E.164 with a leading ``+``."""
    destination: str
    """The called number, E.164 with a leading ``+``."""
    source_country_code: Optional[str] = None
    destination_country_code: Optional[str] = None
    source_ref_id: Optional[str] = None
    destination_ref_id: Optional[str] = None
    call_duration: int = 0
    sip_code: Optional[int] = None
    timestamp: str = ""


@dataclass
class CallAction:
    """``CALL_ACTION``: the platform waits for the callflow to run next."""

    call: Call
    client_action_id: Optional[str] = None
    """The ``clientActionId`` of the callflow that just completed (your own echo)."""
    digits: Optional[str] = None
    """Digits captured by the last ``sayAndCapture``; ``None`` when nothing was captured."""

    kind = "CALL_ACTION"


@dataclass
class CallStatusEvent:
    """``CALL_STATUS``: a leg changed state."""

    call: Call

    kind = "CALL_STATUS"


@dataclass
class CallQuality:
    mos: Optional[float] = None
    packet_loss_rate: Optional[float] = None
    jitter: Optional[float] = None


@dataclass
class SessionLeg:
    name: str
    call_id: Optional[str] = None
    direction: Optional[str] = None
    call_type: Optional[str] = None
    source: Optional[str] = None
    destination: Optional[str] = None
    source_ref_id: Optional[str] = None
    destination_ref_id: Optional[str] = None
    status: Optional[str] = None
    call_duration: Optional[int] = None
    sip_code: Optional[int] = None
    initiated_at: Optional[str] = None
    connected_at: Optional[str] = None
    disconnected_at: Optional[str] = None
    quality: Optional[CallQuality] = None


@dataclass
class ErrorDetails:
    code: int
    message: str


@dataclass
class SessionSummary:
    """``SESSION_SUMMARY``: a session ended."""

    session_id: str
    sub_account_id: str
    status: str
    """One of :class:`SessionStatus`, or another status, verbatim."""
    event_id: Optional[str] = None
    start_time: Optional[str] = None
    end_time: Optional[str] = None
    last_action: Optional[str] = None
    call_count: int = 0
    client_request_id: Optional[str] = None
    error: Optional[ErrorDetails] = None
    legs: list[SessionLeg] = field(default_factory=list)

    kind = "SESSION_SUMMARY"


@dataclass
class RecordingStatus:
    """``CALL_RECORDING_STATUS``: a recording changed state."""

    session_id: str
    recording_id: str
    status: str
    event_id: Optional[str] = None
    sub_account_id: Optional[str] = None
    duration_seconds: int = 0
    file_path: Optional[str] = None

    kind = "CALL_RECORDING_STATUS"


@dataclass
class VirtualNumber:
    number: str
    state: str
    """One of :class:`NumberState`, or another state, verbatim."""
    ref_id: Optional[str] = None
    country_code: Optional[str] = None


@dataclass
class VirtualNumberUpdate:
    """``VIRTUAL_NUMBER_UPDATE``: a number's health changed."""

    event_id: Optional[str] = None
    sub_account_id: Optional[str] = None
    numbers: list[VirtualNumber] = field(default_factory=list)

    kind = "VIRTUAL_NUMBER_UPDATE"


Event = Union[CallAction, CallStatusEvent, SessionSummary, RecordingStatus, VirtualNumberUpdate]
"""One webhook; ``event.kind`` is 8x8's ``eventType``."""
