//! Webhooks in: every 8x8 voice webhook, parsed tolerantly into typed events.
//!
//! Tolerant means: unknown fields anywhere are ignored, numbers arrive with or without
//! `+` (we always hand them on with `+`), integers may come as JSON strings, captured
//! digits come in any of the three documented shapes, and statuses we do not know yet
//! are kept verbatim (`Other`). Missing required fields are errors that name the field.

use serde::Deserialize;
use serde::de::Deserializer;

use crate::number::normalize;

/// One webhook from the voice platform.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// `CALL_ACTION`: the platform waits for a callflow.
    CallAction(CallAction),
    /// `CALL_STATUS`: a leg changed state.
    CallStatus(Call),
    /// `SESSION_SUMMARY`: a session ended.
    SessionSummary(SessionSummary),
    /// `CALL_RECORDING_STATUS`: a recording changed state.
    RecordingStatus(RecordingStatus),
    /// `VIRTUAL_NUMBER_UPDATE`: numbers changed state.
    VirtualNumberUpdate(VirtualNumberUpdate),
}

/// The kind of a webhook, as named by its `eventType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// `CALL_ACTION`
    CallAction,
    /// `CALL_STATUS`
    CallStatus,
    /// `SESSION_SUMMARY`
    SessionSummary,
    /// `CALL_RECORDING_STATUS`
    RecordingStatus,
    /// `VIRTUAL_NUMBER_UPDATE`
    VirtualNumberUpdate,
}

impl EventKind {
    /// Every kind, in a fixed order (for metrics).
    pub const ALL: [EventKind; 5] = [
        EventKind::CallAction,
        EventKind::CallStatus,
        EventKind::SessionSummary,
        EventKind::RecordingStatus,
        EventKind::VirtualNumberUpdate,
    ];

    /// 8x8's `eventType` for this kind.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::CallAction => "CALL_ACTION",
            EventKind::CallStatus => "CALL_STATUS",
            EventKind::SessionSummary => "SESSION_SUMMARY",
            EventKind::RecordingStatus => "CALL_RECORDING_STATUS",
            EventKind::VirtualNumberUpdate => "VIRTUAL_NUMBER_UPDATE",
        }
    }

    fn from_event_type(s: &str) -> Option<Self> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The `payload` fields a webhook of this kind must carry, non-empty: without one
    /// the body is refused with [`ParseError::MissingField`] naming it. Every other field
    /// is optional.
    pub fn required_fields(self) -> &'static [&'static str] {
        match self {
            EventKind::CallAction | EventKind::CallStatus => &[
                "eventId",
                "callId",
                "sessionId",
                "subAccountId",
                "callStatus",
                "source",
                "destination",
            ],
            EventKind::SessionSummary => &["sessionId", "subAccountId", "sessionStatus"],
            EventKind::RecordingStatus => &["sessionId", "recordingId", "status"],
            EventKind::VirtualNumberUpdate => &[],
        }
    }
}

/// The status of a call leg (`callStatus`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallStatus {
    /// `CALL_INITIATED`
    CallInitiated,
    /// `CALL_RECEIVED`
    CallReceived,
    /// `CALL_CONNECTED`
    CallConnected,
    /// `CALL_DISCONNECTED`
    CallDisconnected,
    /// `CALL_UPDATED`
    CallUpdated,
    /// `DTMF_RECEIVED`
    DtmfReceived,
    /// `ACTION_COMPLETED`
    ActionCompleted,
    /// Anything else, verbatim.
    Other(String),
}

impl CallStatus {
    fn parse(s: String) -> Self {
        match s.as_str() {
            "CALL_INITIATED" => Self::CallInitiated,
            "CALL_RECEIVED" => Self::CallReceived,
            "CALL_CONNECTED" => Self::CallConnected,
            "CALL_DISCONNECTED" => Self::CallDisconnected,
            "CALL_UPDATED" => Self::CallUpdated,
            "DTMF_RECEIVED" => Self::DtmfReceived,
            "ACTION_COMPLETED" => Self::ActionCompleted,
            _ => Self::Other(s),
        }
    }

    /// 8x8's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            Self::CallInitiated => "CALL_INITIATED",
            Self::CallReceived => "CALL_RECEIVED",
            Self::CallConnected => "CALL_CONNECTED",
            Self::CallDisconnected => "CALL_DISCONNECTED",
            Self::CallUpdated => "CALL_UPDATED",
            Self::DtmfReceived => "DTMF_RECEIVED",
            Self::ActionCompleted => "ACTION_COMPLETED",
            Self::Other(s) => s,
        }
    }
}

/// The direction of a call leg (`callDirection`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallDirection {
    /// `INBOUND`
    Inbound,
    /// `OUTBOUND`
    Outbound,
    /// Anything else, verbatim.
    Other(String),
}

impl CallDirection {
    fn parse(s: String) -> Self {
        match s.as_str() {
            "INBOUND" => Self::Inbound,
            "OUTBOUND" => Self::Outbound,
            _ => Self::Other(s),
        }
    }

    /// 8x8's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Inbound => "INBOUND",
            Self::Outbound => "OUTBOUND",
            Self::Other(s) => s,
        }
    }
}

/// The fields of a call-leg webhook (call action, call status).
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// Unique per event; repeated deliveries keep it.
    pub event_id: String,
    /// The call leg.
    pub call_id: String,
    /// The session.
    pub session_id: String,
    /// The sub-account.
    pub sub_account_id: String,
    /// The leg's status.
    pub status: CallStatus,
    /// The leg's direction.
    pub direction: CallDirection,
    /// `PSTN` or `VOIP`, verbatim (empty when absent).
    pub call_type: String,
    /// The calling number, `+`-prefixed when it is E.164.
    pub source: String,
    /// The called number, `+`-prefixed when it is E.164.
    pub destination: String,
    /// Country of the source.
    pub source_country_code: Option<String>,
    /// Country of the destination.
    pub destination_country_code: Option<String>,
    /// Reference id of the source virtual number.
    pub source_ref_id: Option<String>,
    /// Reference id of the destination virtual number.
    pub destination_ref_id: Option<String>,
    /// Seconds the leg has lasted.
    pub call_duration: u32,
    /// Final SIP status.
    pub sip_code: Option<u32>,
    /// When the platform processed the event, verbatim.
    pub timestamp: String,
}

/// A Voice Call Action.
#[derive(Debug, Clone, PartialEq)]
pub struct CallAction {
    /// The leg.
    pub call: Call,
    /// The `clientActionId` of the callflow that just completed.
    pub client_action_id: Option<String>,
    /// Captured digits; `None` when nothing was captured.
    pub digits: Option<String>,
}

/// How a session ended (`sessionStatus`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionStatus {
    /// `COMPLETED`
    Completed,
    /// `BUSY`
    Busy,
    /// `NO_ANSWER`
    NoAnswer,
    /// `FAILED`
    Failed,
    /// `CANCELED` (also `CANCELLED`)
    Canceled,
    /// `ERROR`
    Error,
    /// Anything else, verbatim.
    Other(String),
}

impl SessionStatus {
    fn parse(s: String) -> Self {
        match s.as_str() {
            "COMPLETED" => Self::Completed,
            "BUSY" => Self::Busy,
            "NO_ANSWER" => Self::NoAnswer,
            "FAILED" => Self::Failed,
            "CANCELED" | "CANCELLED" => Self::Canceled,
            "ERROR" => Self::Error,
            _ => Self::Other(s),
        }
    }

    /// 8x8's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Completed => "COMPLETED",
            Self::Busy => "BUSY",
            Self::NoAnswer => "NO_ANSWER",
            Self::Failed => "FAILED",
            Self::Canceled => "CANCELED",
            Self::Error => "ERROR",
            Self::Other(s) => s,
        }
    }
}

/// Audio quality of a leg.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CallQuality {
    /// Mean opinion score.
    pub mos: Option<f64>,
    /// Lost packets, as a fraction.
    pub packet_loss_rate: Option<f64>,
    /// Jitter in milliseconds.
    pub jitter: Option<f64>,
}

/// One leg of a finished session.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SessionLeg {
    /// The leg's key in `details` (`callA`, `CallB`, ...), verbatim.
    pub name: String,
    /// The leg.
    pub call_id: Option<String>,
    /// `INBOUND` or `OUTBOUND`, verbatim.
    pub direction: Option<String>,
    /// `PSTN` or `VOIP`, verbatim.
    pub call_type: Option<String>,
    /// Calling number.
    pub source: Option<String>,
    /// Called number.
    pub destination: Option<String>,
    /// Reference id of the source virtual number.
    pub source_ref_id: Option<String>,
    /// Reference id of the destination virtual number.
    pub destination_ref_id: Option<String>,
    /// The leg's final status, verbatim.
    pub status: Option<String>,
    /// Seconds the leg lasted.
    pub call_duration: Option<u32>,
    /// Final SIP status.
    pub sip_code: Option<u32>,
    /// When the leg was set up.
    pub initiated_at: Option<String>,
    /// When the leg was answered.
    pub connected_at: Option<String>,
    /// When the leg ended.
    pub disconnected_at: Option<String>,
    /// Audio quality.
    pub quality: Option<CallQuality>,
}

/// Why a session failed (`errorDetails`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorDetails {
    /// 8x8's code, for example -2003.
    pub code: i32,
    /// 8x8's message.
    pub message: String,
}

/// A Voice Session Summary.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionSummary {
    /// Unique per event, when sent.
    pub event_id: Option<String>,
    /// The session.
    pub session_id: String,
    /// The sub-account.
    pub sub_account_id: String,
    /// How it ended.
    pub status: SessionStatus,
    /// When it started.
    pub start_time: Option<String>,
    /// When it ended.
    pub end_time: Option<String>,
    /// The last action the platform ran.
    pub last_action: Option<String>,
    /// Number of call legs.
    pub call_count: u32,
    /// The id given when the session was started through the Callflows API.
    pub client_request_id: Option<String>,
    /// Present when the session failed.
    pub error: Option<ErrorDetails>,
    /// Every leg, ordered by name.
    pub legs: Vec<SessionLeg>,
}

/// A call recording changed state.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingStatus {
    /// Unique per event, when sent.
    pub event_id: Option<String>,
    /// The recorded session.
    pub session_id: String,
    /// The sub-account, when present.
    pub sub_account_id: Option<String>,
    /// The recording.
    pub recording_id: String,
    /// Length of the recording.
    pub duration_seconds: u32,
    /// Where 8x8 stored it.
    pub file_path: Option<String>,
    /// The recording's state, verbatim.
    pub status: String,
}

/// Health of a virtual number (`operationalStatus`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NumberState {
    /// `Active`
    Active,
    /// `Unhealthy`
    Unhealthy,
    /// Anything else, verbatim.
    Other(String),
}

impl NumberState {
    fn parse(s: String) -> Self {
        if s.eq_ignore_ascii_case("active") {
            Self::Active
        } else if s.eq_ignore_ascii_case("unhealthy") {
            Self::Unhealthy
        } else {
            Self::Other(s)
        }
    }
}

/// One number in a virtual-number update.
#[derive(Debug, Clone, PartialEq)]
pub struct VirtualNumber {
    /// The number, `+`-prefixed.
    pub number: String,
    /// 8x8's reference id.
    pub ref_id: Option<String>,
    /// Country.
    pub country_code: Option<String>,
    /// New state.
    pub state: NumberState,
}

/// Virtual numbers changed state.
#[derive(Debug, Clone, PartialEq)]
pub struct VirtualNumberUpdate {
    /// Unique per event, when sent.
    pub event_id: Option<String>,
    /// The sub-account, when present.
    pub sub_account_id: Option<String>,
    /// The numbers that changed.
    pub numbers: Vec<VirtualNumber>,
}

impl Event {
    /// The kind of this event.
    pub fn kind(&self) -> EventKind {
        match self {
            Event::CallAction(_) => EventKind::CallAction,
            Event::CallStatus(_) => EventKind::CallStatus,
            Event::SessionSummary(_) => EventKind::SessionSummary,
            Event::RecordingStatus(_) => EventKind::RecordingStatus,
            Event::VirtualNumberUpdate(_) => EventKind::VirtualNumberUpdate,
        }
    }

    /// The sub-account the event belongs to, when it names one.
    pub fn sub_account_id(&self) -> Option<&str> {
        match self {
            Event::CallAction(a) => Some(&a.call.sub_account_id),
            Event::CallStatus(c) => Some(&c.sub_account_id),
            Event::SessionSummary(s) => Some(&s.sub_account_id),
            Event::RecordingStatus(r) => r.sub_account_id.as_deref(),
            Event::VirtualNumberUpdate(u) => u.sub_account_id.as_deref(),
        }
    }

    /// The session, when the event belongs to one.
    pub fn session_id(&self) -> Option<&str> {
        match self {
            Event::CallAction(a) => Some(&a.call.session_id),
            Event::CallStatus(c) => Some(&c.session_id),
            Event::SessionSummary(s) => Some(&s.session_id),
            Event::RecordingStatus(r) => Some(&r.session_id),
            Event::VirtualNumberUpdate(_) => None,
        }
    }

    /// The call leg, for call-leg events.
    pub fn call_id(&self) -> Option<&str> {
        match self {
            Event::CallAction(a) => Some(&a.call.call_id),
            Event::CallStatus(c) => Some(&c.call_id),
            _ => None,
        }
    }

    /// 8x8's `eventId`, when the event carries one.
    pub fn event_id(&self) -> Option<&str> {
        match self {
            Event::CallAction(a) => Some(&a.call.event_id),
            Event::CallStatus(c) => Some(&c.event_id),
            Event::SessionSummary(s) => s.event_id.as_deref(),
            Event::RecordingStatus(r) => r.event_id.as_deref(),
            Event::VirtualNumberUpdate(u) => u.event_id.as_deref(),
        }
    }

    /// A key that is the same for every delivery of this event and differs between events:
    /// the `eventId` when there is one, else what identifies the event (a session has one
    /// summary; a recording has one event per status).
    pub fn delivery_key(&self) -> String {
        if let Some(id) = self.event_id() {
            return id.to_owned();
        }
        match self {
            Event::SessionSummary(s) => format!("summary:{}", s.session_id),
            Event::RecordingStatus(r) => format!("recording:{}:{}", r.recording_id, r.status),
            Event::VirtualNumberUpdate(u) => {
                let mut key = String::from("numbers");
                for n in &u.numbers {
                    key.push(':');
                    key.push_str(&n.number);
                    key.push('=');
                    key.push_str(match &n.state {
                        NumberState::Active => "active",
                        NumberState::Unhealthy => "unhealthy",
                        NumberState::Other(s) => s,
                    });
                }
                key
            }
            // Call-leg events always have an event id.
            Event::CallAction(_) | Event::CallStatus(_) => String::new(),
        }
    }
}

/// Why a webhook body could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The body is not JSON, or a field has the wrong type.
    #[error("malformed JSON: {0}")]
    Malformed(String),
    /// A required field is absent or null.
    #[error("missing required field `{0}`")]
    MissingField(&'static str),
    /// `eventType` names an event this host does not handle.
    #[error(
        "unknown eventType {0:?}; expected one of CALL_ACTION, CALL_STATUS, SESSION_SUMMARY, CALL_RECORDING_STATUS, VIRTUAL_NUMBER_UPDATE"
    )]
    UnknownEventType(String),
}

impl ParseError {
    /// A stable, machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            ParseError::Malformed(_) => "malformed_json",
            ParseError::MissingField(_) => "missing_field",
            ParseError::UnknownEventType(_) => "unknown_event_type",
        }
    }
}

/// Parses one webhook body.
pub fn parse_webhook(body: &[u8]) -> Result<Event, ParseError> {
    let Object(raw): Object<RawWebhook> =
        serde_json::from_slice(body).map_err(|e| ParseError::Malformed(e.to_string()))?;
    let event_type = raw
        .event_type
        .ok_or(ParseError::MissingField("eventType"))?;
    let kind =
        EventKind::from_event_type(&event_type).ok_or(ParseError::UnknownEventType(event_type))?;
    let Object(payload) = raw.payload.ok_or(ParseError::MissingField("payload"))?;
    Ok(match kind {
        EventKind::CallAction => Event::CallAction(CallAction {
            client_action_id: payload.client_action_id.clone().filter(|s| !s.is_empty()),
            digits: payload.digits(),
            call: payload.into_call()?,
        }),
        EventKind::CallStatus => Event::CallStatus(payload.into_call()?),
        EventKind::SessionSummary => Event::SessionSummary(payload.into_summary()?),
        EventKind::RecordingStatus => Event::RecordingStatus(payload.into_recording()?),
        EventKind::VirtualNumberUpdate => Event::VirtualNumberUpdate(payload.into_numbers()),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawWebhook {
    event_type: Option<String>,
    payload: Option<Object<RawPayload>>,
}

/// A `T` that must be written as a JSON object. serde's derived structs also take an
/// array of their fields' values in order (`"payload": [null, "abc"]`), which no
/// webhook is, and which would make the documented schema a lie.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Fields<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(Fields(std::marker::PhantomData))
            .map(Object)
    }
}

#[cfg(feature = "schema")]
impl<T: schemars::JsonSchema> schemars::JsonSchema for Object<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }
    fn schema_id() -> std::borrow::Cow<'static, str> {
        T::schema_id()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}

/// Every payload field of every webhook kind, all optional: which are required depends on
/// `eventType`, checked after parsing so that the error names the field.
#[derive(Deserialize, Default)]
#[cfg_attr(
    feature = "schema",
    derive(schemars::JsonSchema),
    schemars(rename = "WebhookPayload")
)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct RawPayload {
    event_id: Option<String>,
    call_id: Option<String>,
    session_id: Option<String>,
    sub_account_id: Option<String>,
    call_status: Option<String>,
    call_direction: Option<String>,
    call_type: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "crate::schema::lenient_string")
    )]
    source: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "crate::schema::lenient_string")
    )]
    destination: Option<String>,
    source_country_code: Option<String>,
    destination_country_code: Option<String>,
    source_ref_id: Option<String>,
    destination_ref_id: Option<String>,
    #[serde(deserialize_with = "lenient_u32")]
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "crate::schema::lenient_number")
    )]
    call_duration: Option<u32>,
    #[serde(deserialize_with = "lenient_u32")]
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "crate::schema::lenient_number")
    )]
    sip_code: Option<u32>,
    #[serde(alias = "Timestamp")]
    timestamp: Option<String>,
    client_action_id: Option<String>,
    event_data: Option<RawEventData>,
    #[serde(deserialize_with = "lenient_string")]
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "crate::schema::lenient_string")
    )]
    dtmf: Option<String>,
    // Session summary.
    session_status: Option<String>,
    start_time: Option<String>,
    end_time: Option<String>,
    last_action: Option<String>,
    #[serde(deserialize_with = "lenient_u32")]
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "crate::schema::lenient_number")
    )]
    call_count: Option<u32>,
    client_request_id: Option<String>,
    error_details: Option<Object<RawErrorDetails>>,
    details: Option<std::collections::BTreeMap<String, serde_json::Value>>,
    // Recording status.
    recording_id: Option<String>,
    #[serde(deserialize_with = "lenient_u32")]
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "crate::schema::lenient_number")
    )]
    duration_seconds: Option<u32>,
    file_path: Option<String>,
    status: Option<String>,
    // Virtual-number update.
    virtual_numbers: Option<Vec<Object<RawVirtualNumber>>>,
    msisdn: Option<String>,
    virtual_number: Option<String>,
    operational_status: Option<String>,
    reference_id: Option<String>,
    country_code: Option<String>,
}

#[derive(Deserialize)]
#[cfg_attr(
    feature = "schema",
    derive(schemars::JsonSchema),
    schemars(rename = "CapturedDigits")
)]
#[serde(untagged)]
enum RawEventData {
    Digits(String),
    Object {
        #[serde(default, deserialize_with = "lenient_string")]
        #[cfg_attr(
            feature = "schema",
            schemars(schema_with = "crate::schema::lenient_string")
        )]
        dtmf: Option<String>,
    },
    // Any other shape means nothing usable was captured; it must not fail the webhook.
    Other(#[allow(dead_code, reason = "kept only so that any shape parses")] serde_json::Value),
}

#[derive(Deserialize, Default)]
#[cfg_attr(
    feature = "schema",
    derive(schemars::JsonSchema),
    schemars(rename = "SessionErrorDetails")
)]
#[serde(rename_all = "camelCase", default)]
struct RawErrorDetails {
    #[serde(deserialize_with = "lenient_i32")]
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "crate::schema::lenient_number")
    )]
    error_code: Option<i32>,
    error_msg: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RawLeg {
    call_id: Option<String>,
    call_direction: Option<String>,
    call_type: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    source: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    destination: Option<String>,
    source_ref_id: Option<String>,
    destination_ref_id: Option<String>,
    call_status: Option<String>,
    #[serde(deserialize_with = "lenient_u32")]
    call_duration: Option<u32>,
    #[serde(deserialize_with = "lenient_u32")]
    sip_code: Option<u32>,
    initiated_timestamp: Option<String>,
    connected_timestamp: Option<String>,
    disconnected_timestamp: Option<String>,
    call_quality: Option<RawQuality>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RawQuality {
    #[serde(deserialize_with = "lenient_f64")]
    mos: Option<f64>,
    #[serde(deserialize_with = "lenient_f64")]
    packet_loss_rate: Option<f64>,
    #[serde(deserialize_with = "lenient_f64")]
    jitter: Option<f64>,
}

#[derive(Deserialize, Default)]
#[cfg_attr(
    feature = "schema",
    derive(schemars::JsonSchema),
    schemars(rename = "VirtualNumberEntry")
)]
#[serde(rename_all = "camelCase", default)]
struct RawVirtualNumber {
    #[serde(alias = "virtualNumber", alias = "number")]
    msisdn: Option<String>,
    reference_id: Option<String>,
    country_code: Option<String>,
    #[serde(alias = "status")]
    operational_status: Option<String>,
}

fn required(value: Option<String>, field: &'static str) -> Result<String, ParseError> {
    value
        .filter(|s| !s.is_empty())
        .ok_or(ParseError::MissingField(field))
}

impl RawPayload {
    fn digits(&self) -> Option<String> {
        let digits = match &self.event_data {
            Some(RawEventData::Digits(d)) => Some(d.clone()),
            Some(RawEventData::Object { dtmf }) => dtmf.clone(),
            Some(RawEventData::Other(_)) | None => None,
        };
        digits
            .or_else(|| self.dtmf.clone())
            .map(|d| d.trim().to_owned())
            .filter(|d| !d.is_empty())
    }

    fn into_call(self) -> Result<Call, ParseError> {
        Ok(Call {
            event_id: required(self.event_id, "payload.eventId")?,
            call_id: required(self.call_id, "payload.callId")?,
            session_id: required(self.session_id, "payload.sessionId")?,
            sub_account_id: required(self.sub_account_id, "payload.subAccountId")?,
            status: CallStatus::parse(required(self.call_status, "payload.callStatus")?),
            direction: CallDirection::parse(self.call_direction.unwrap_or_default()),
            call_type: self.call_type.unwrap_or_default(),
            source: normalize(&required(self.source, "payload.source")?),
            destination: normalize(&required(self.destination, "payload.destination")?),
            source_country_code: self.source_country_code,
            destination_country_code: self.destination_country_code,
            source_ref_id: self.source_ref_id,
            destination_ref_id: self.destination_ref_id,
            call_duration: self.call_duration.unwrap_or(0),
            sip_code: self.sip_code,
            timestamp: self.timestamp.unwrap_or_default(),
        })
    }

    fn into_summary(self) -> Result<SessionSummary, ParseError> {
        let mut legs: Vec<SessionLeg> = self
            .details
            .unwrap_or_default()
            .into_iter()
            // A leg that is not an object (8x8 may add scalar details) is not a leg.
            .filter_map(|(name, value)| {
                let raw: RawLeg = serde_json::from_value(value).ok()?;
                Some(raw.into_leg(name))
            })
            .collect();
        legs.sort_by_key(|leg| leg.name.to_ascii_lowercase());
        Ok(SessionSummary {
            // An empty id is none: it would make every such event one delivery.
            event_id: self.event_id.filter(|id| !id.is_empty()),
            session_id: required(self.session_id, "payload.sessionId")?,
            sub_account_id: required(self.sub_account_id, "payload.subAccountId")?,
            status: SessionStatus::parse(required(self.session_status, "payload.sessionStatus")?),
            start_time: self.start_time,
            end_time: self.end_time,
            last_action: self.last_action,
            call_count: self
                .call_count
                .unwrap_or(u32::try_from(legs.len()).unwrap_or(u32::MAX)),
            client_request_id: self.client_request_id,
            error: self.error_details.map(|Object(e)| ErrorDetails {
                code: e.error_code.unwrap_or(0),
                message: e.error_msg.unwrap_or_default(),
            }),
            legs,
        })
    }

    fn into_recording(self) -> Result<RecordingStatus, ParseError> {
        Ok(RecordingStatus {
            // An empty id is none: it would make every such event one delivery.
            event_id: self.event_id.filter(|id| !id.is_empty()),
            session_id: required(self.session_id, "payload.sessionId")?,
            sub_account_id: self.sub_account_id,
            recording_id: required(self.recording_id, "payload.recordingId")?,
            duration_seconds: self.duration_seconds.unwrap_or(0),
            file_path: self.file_path,
            status: required(self.status, "payload.status")?,
        })
    }

    fn into_numbers(self) -> VirtualNumberUpdate {
        let mut numbers: Vec<VirtualNumber> = self
            .virtual_numbers
            .unwrap_or_default()
            .into_iter()
            .filter_map(|Object(n)| {
                Some(VirtualNumber {
                    number: normalize(&n.msisdn?),
                    ref_id: n.reference_id,
                    country_code: n.country_code,
                    state: NumberState::parse(n.operational_status.unwrap_or_default()),
                })
            })
            .collect();
        // A single-number update may put the number at the top of the payload.
        if let Some(number) = self.msisdn.or(self.virtual_number) {
            numbers.push(VirtualNumber {
                number: normalize(&number),
                ref_id: self.reference_id,
                country_code: self.country_code,
                state: NumberState::parse(
                    self.operational_status.or(self.status).unwrap_or_default(),
                ),
            });
        }
        VirtualNumberUpdate {
            // An empty id is none: it would make every such event one delivery.
            event_id: self.event_id.filter(|id| !id.is_empty()),
            sub_account_id: self.sub_account_id,
            numbers,
        }
    }
}

impl RawLeg {
    fn into_leg(self, name: String) -> SessionLeg {
        SessionLeg {
            name,
            call_id: self.call_id,
            direction: self.call_direction,
            call_type: self.call_type,
            source: self.source.map(|s| normalize(&s)),
            destination: self.destination.map(|s| normalize(&s)),
            source_ref_id: self.source_ref_id,
            destination_ref_id: self.destination_ref_id,
            status: self.call_status,
            call_duration: self.call_duration,
            sip_code: self.sip_code,
            initiated_at: self.initiated_timestamp,
            connected_at: self.connected_timestamp,
            disconnected_at: self.disconnected_timestamp,
            quality: self.call_quality.map(|q| CallQuality {
                mos: q.mos,
                packet_loss_rate: q.packet_loss_rate,
                jitter: q.jitter,
            }),
        }
    }
}

/// A string, or a number written without quotes (8x8 documents some numbers as strings).
fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum S {
        Str(String),
        U(u64),
        I(i64),
        F(f64),
    }
    Ok(Option::<S>::deserialize(d)?.map(|s| match s {
        S::Str(s) => s,
        S::U(n) => n.to_string(),
        S::I(n) => n.to_string(),
        S::F(n) => n.to_string(),
    }))
}

macro_rules! lenient_number {
    ($name:ident, $ty:ty) => {
        /// A number, or a string holding one. Out-of-range values saturate; a string that
        /// holds no number is read as absent: these fields only describe the call, and a
        /// call must not go unanswered over one of them.
        fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<$ty>, D::Error> {
            #[derive(Deserialize)]
            #[serde(untagged)]
            enum N {
                Num($ty),
                Float(f64),
                Str(String),
            }
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                trivial_numeric_casts,
                reason = "8x8 may send whole numbers as floats; out-of-range values saturate"
            )]
            let saturate = |f: f64| f as $ty;
            Ok(match Option::<N>::deserialize(d)? {
                None => None,
                Some(N::Num(n)) => Some(n),
                Some(N::Float(f)) => Some(saturate(f)),
                Some(N::Str(s)) => {
                    let s = s.trim();
                    s.parse::<$ty>().ok().or_else(|| {
                        s.parse::<f64>()
                            .ok()
                            .filter(|f| f.is_finite())
                            .map(saturate)
                    })
                }
            })
        }
    };
}
lenient_number!(lenient_u32, u32);
lenient_number!(lenient_i32, i32);
lenient_number!(lenient_f64, f64);

#[cfg(test)]
mod tests {
    use super::*;

    /// A payload with every field any kind requires, each non-empty.
    fn full_payload() -> serde_json::Map<String, serde_json::Value> {
        let mut payload = serde_json::Map::new();
        for kind in EventKind::ALL {
            for field in kind.required_fields() {
                payload.insert((*field).to_owned(), "x-1".into());
            }
        }
        payload
    }

    #[test]
    fn the_required_fields_are_exactly_those_the_parser_refuses_to_go_without() {
        for kind in EventKind::ALL {
            let full = full_payload();
            let body = |payload: &serde_json::Map<String, serde_json::Value>| {
                serde_json::json!({ "eventType": kind.as_str(), "payload": payload }).to_string()
            };
            assert!(parse_webhook(body(&full).as_bytes()).is_ok(), "{kind:?}");
            for field in full.keys() {
                let required = kind.required_fields().contains(&field.as_str());
                for gone in [serde_json::Value::Null, "".into()] {
                    let mut payload = full.clone();
                    payload.insert(field.clone(), gone.clone());
                    let parsed = parse_webhook(body(&payload).as_bytes());
                    let wanted = format!("payload.{field}");
                    match parsed {
                        Err(ParseError::MissingField(f)) => {
                            assert!(required && f == wanted, "{kind:?} {field}={gone}: {f}")
                        }
                        Err(other) => panic!("{kind:?} {field}={gone}: {other}"),
                        Ok(_) => assert!(!required, "{kind:?} went without {field}={gone}"),
                    }
                }
            }
        }
    }

    #[test]
    fn objects_must_be_objects_not_arrays_of_their_fields() {
        for body in [
            r#"["VIRTUAL_NUMBER_UPDATE", {}]"#,
            r#"{"eventType":"VIRTUAL_NUMBER_UPDATE","payload":[null, null]}"#,
            r#"{"eventType":"VIRTUAL_NUMBER_UPDATE","payload":{"virtualNumbers":[["+6512345678"]]}}"#,
            r#"{"eventType":"SESSION_SUMMARY","payload":{"sessionId":"s","subAccountId":"a","sessionStatus":"ERROR","errorDetails":[1,"x"]}}"#,
        ] {
            assert!(
                matches!(
                    parse_webhook(body.as_bytes()),
                    Err(ParseError::Malformed(_))
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn a_number_field_holding_text_that_is_no_number_is_absent_not_an_error() {
        let body = CALL_ACTION.replace(r#""callDuration":"0""#, r#""callDuration":"soon""#);
        let Event::CallAction(action) = parse_webhook(body.as_bytes()).expect("parses") else {
            panic!("not a call action");
        };
        assert_eq!(action.call.call_duration, 0);
        let body = CALL_ACTION.replace(r#""sipCode":200"#, r#""sipCode":"1e12""#);
        let Event::CallAction(action) = parse_webhook(body.as_bytes()).expect("parses") else {
            panic!("not a call action");
        };
        assert_eq!(
            action.call.sip_code,
            Some(u32::MAX),
            "out of range saturates"
        );
    }

    const CALL_ACTION: &str = r#"{
        "namespace":"VOICE","eventType":"CALL_ACTION","description":"Action request of a call",
        "payload":{"eventId":"eb0fc709","callId":"a1d6a5e3","sessionId":"a1d6a5e2",
        "subAccountId":"acc","callStatus":"CALL_RECEIVED","callDirection":"INBOUND",
        "callType":"PSTN","source":"+65123456789","destination":"65987654321",
        "sourceFormat":"MSISDN","destinationRefId":"vn-ref-1","callDuration":"0","sipCode":200,
        "timestamp":"2019-10-16T08:12:01Z","somethingNew":{"x":1}}}"#;

    fn action(body: &str) -> CallAction {
        match parse_webhook(body.as_bytes()).expect("parses") {
            Event::CallAction(a) => a,
            other => panic!("not a call action: {other:?}"),
        }
    }

    #[test]
    fn parses_call_action_ignoring_unknown_fields_and_adding_plus() {
        let a = action(CALL_ACTION);
        assert_eq!(a.call.status, CallStatus::CallReceived);
        assert_eq!(a.call.direction, CallDirection::Inbound);
        assert_eq!(a.call.source, "+65123456789");
        assert_eq!(a.call.destination, "+65987654321");
        assert_eq!(a.call.destination_ref_id.as_deref(), Some("vn-ref-1"));
        assert_eq!(a.call.call_duration, 0);
        assert_eq!(a.digits, None);
    }

    #[test]
    fn digits_arrive_in_three_shapes() {
        let with = |extra: &str| {
            CALL_ACTION.replace(r#""somethingNew""#, &format!("{extra},\"somethingNew\""))
        };
        assert_eq!(
            action(&with(r#""eventData":{"dtmf":"12"}"#))
                .digits
                .as_deref(),
            Some("12")
        );
        assert_eq!(
            action(&with(r#""eventData":"3""#)).digits.as_deref(),
            Some("3")
        );
        assert_eq!(action(&with(r#""dtmf":"4""#)).digits.as_deref(), Some("4"));
        assert_eq!(action(&with(r#""dtmf":5"#)).digits.as_deref(), Some("5"));
        assert_eq!(action(&with(r#""eventData":{"dtmf":null}"#)).digits, None);
        assert_eq!(action(&with(r#""eventData":null"#)).digits, None);
        assert_eq!(action(&with(r#""eventData":{"dtmf":""}"#)).digits, None);
    }

    #[test]
    fn missing_fields_are_named() {
        let body = CALL_ACTION.replace(r#""callId":"a1d6a5e3","#, "");
        assert_eq!(
            parse_webhook(body.as_bytes()),
            Err(ParseError::MissingField("payload.callId"))
        );
        assert_eq!(
            parse_webhook(br#"{"payload":{}}"#),
            Err(ParseError::MissingField("eventType"))
        );
    }

    #[test]
    fn unknown_event_type_and_bad_json_are_errors() {
        assert!(matches!(
            parse_webhook(br#"{"eventType":"SMS_RECEIVED","payload":{}}"#),
            Err(ParseError::UnknownEventType(t)) if t == "SMS_RECEIVED"
        ));
        assert!(matches!(
            parse_webhook(b"{not json"),
            Err(ParseError::Malformed(_))
        ));
        assert!(matches!(
            parse_webhook(br#"{"eventType":"CALL_STATUS","payload":{"callDuration":true}}"#),
            Err(ParseError::Malformed(_))
        ));
        assert!(matches!(
            parse_webhook(br#"{"eventType":"CALL_STATUS","payload":{"callId":["a"]}}"#),
            Err(ParseError::Malformed(_))
        ));
    }

    #[test]
    fn session_summary_legs_accept_either_capitalisation() {
        let body = br#"{"eventType":"SESSION_SUMMARY","payload":{"sessionId":"s","subAccountId":"a",
            "sessionStatus":"ERROR","callCount":2,"errorDetails":{"errorCode":-2003,"errorMsg":"call flow invalid"},
            "details":{"CallB":{"callId":"b","source":"6511"},"callA":{"callId":"a","callQuality":{"mos":4.5,"packetLossRate":0,"jitter":20}}}}}"#;
        let Ok(Event::SessionSummary(s)) = parse_webhook(body) else {
            panic!("not a summary")
        };
        assert_eq!(s.status, SessionStatus::Error);
        assert_eq!(
            s.error,
            Some(ErrorDetails {
                code: -2003,
                message: "call flow invalid".into()
            })
        );
        let names: Vec<_> = s.legs.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["callA", "CallB"]);
        assert_eq!(s.legs[1].source.as_deref(), Some("+6511"));
        assert_eq!(s.legs[0].quality.as_ref().and_then(|q| q.mos), Some(4.5));
        assert_eq!(Event::SessionSummary(s).delivery_key(), "summary:s");
    }

    #[test]
    fn virtual_number_update_lists_numbers() {
        let body = br#"{"eventType":"VIRTUAL_NUMBER_UPDATE","payload":{"subAccountId":"a",
            "virtualNumbers":[{"msisdn":"+65123","operationalStatus":"Active","referenceId":"r1"},
            {"msisdn":"65987","operationalStatus":"Unhealthy"}]}}"#;
        let Ok(Event::VirtualNumberUpdate(u)) = parse_webhook(body) else {
            panic!("not an update")
        };
        assert_eq!(u.numbers.len(), 2);
        assert_eq!(u.numbers[1].number, "+65987");
        assert_eq!(u.numbers[1].state, NumberState::Unhealthy);
        assert_eq!(u.numbers[0].ref_id.as_deref(), Some("r1"));
    }
}
