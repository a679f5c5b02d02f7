//! The webhooks of the seed and of 8x8's reference, one call each, as the host parses
//! them.
//!
//! ```
//! use callflow_sdk::testing::samples;
//! use callflow_sdk::{CallStatus, Event};
//!
//! let Event::CallAction(action) = samples::action_completed() else { unreachable!() };
//! assert_eq!(action.call.status, CallStatus::ActionCompleted);
//! assert_eq!(action.digits.as_deref(), Some("1"));
//! ```
//!
//! The bodies are the end-to-end tests' case data (`tests/cases/webhooks/*/request.json`,
//! each folder's `SOURCE` names the document it was copied from), so the SDK, the host's
//! tests and the docs agree on one copy.

use callflow_wire::Event;

use super::event_from_json;

macro_rules! sample {
    ($dir:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/cases/webhooks/",
            $dir,
            "/request.json"
        ))
    };
}

/// Every sample: its name (as in this module) and its body.
pub const ALL: [(&str, &str); 8] = [
    ("call_received", CALL_RECEIVED),
    ("action_completed", ACTION_COMPLETED),
    ("call_status", CALL_STATUS),
    ("session_summary", SESSION_SUMMARY),
    ("session_summary_busy", SESSION_SUMMARY_BUSY),
    ("session_summary_error", SESSION_SUMMARY_ERROR),
    ("recording_status", RECORDING_STATUS),
    ("virtual_number_update", VIRTUAL_NUMBER_UPDATE),
];

/// Body of [`call_received`].
pub const CALL_RECEIVED: &str = sample!("seed--call_action--call_received");
/// Body of [`action_completed`].
pub const ACTION_COMPLETED: &str =
    sample!("voice-call-action-webhook-guide--call_action--action_completed");
/// Body of [`call_status`].
pub const CALL_STATUS: &str = sample!("seed--call_status--call_received");
/// Body of [`session_summary`].
pub const SESSION_SUMMARY: &str = sample!("session-summary-ivr--session_summary--completed");
/// Body of [`session_summary_busy`].
pub const SESSION_SUMMARY_BUSY: &str = sample!("session-summary-ivr--session_summary--busy");
/// Body of [`session_summary_error`].
pub const SESSION_SUMMARY_ERROR: &str =
    sample!("session-summary-number-masking--session_summary--error");
/// Body of [`recording_status`].
pub const RECORDING_STATUS: &str = sample!("seed--call_recording_status--upload_completed");
/// Body of [`virtual_number_update`].
pub const VIRTUAL_NUMBER_UPDATE: &str =
    sample!("virtual-number-updated--virtual_number_update--update");

/// The seed's new inbound call: `CALL_ACTION` with `CALL_RECEIVED`, no `clientActionId`.
pub fn call_received() -> Event {
    event_from_json(CALL_RECEIVED)
}

/// 8x8's call action after a capture (Voice Call Action guide): `ACTION_COMPLETED`,
/// `clientActionId` `ivr1_level1`, digits `1`.
pub fn action_completed() -> Event {
    event_from_json(ACTION_COMPLETED)
}

/// The seed's `CALL_STATUS` (`CALL_RECEIVED`, inbound).
pub fn call_status() -> Event {
    event_from_json(CALL_STATUS)
}

/// 8x8's IVR session summary: inbound call bridged and answered, `COMPLETED`, two legs.
pub fn session_summary() -> Event {
    event_from_json(SESSION_SUMMARY)
}

/// 8x8's IVR session summary of a bridge to a busy number: `BUSY`.
pub fn session_summary_busy() -> Event {
    event_from_json(SESSION_SUMMARY_BUSY)
}

/// 8x8's number-masking session summary of a failed session: `ERROR` with its details.
pub fn session_summary_error() -> Event {
    event_from_json(SESSION_SUMMARY_ERROR)
}

/// The seed's `CALL_RECORDING_STATUS` (upload completed).
pub fn recording_status() -> Event {
    event_from_json(RECORDING_STATUS)
}

/// 8x8's `VIRTUAL_NUMBER_UPDATE` (a number's health changed).
pub fn virtual_number_update() -> Event {
    event_from_json(VIRTUAL_NUMBER_UPDATE)
}

#[cfg(test)]
mod tests {
    use callflow_wire::{EventKind, SessionStatus};

    use super::*;

    #[test]
    fn every_sample_parses_as_its_kind() {
        let kinds = [
            (call_received(), EventKind::CallAction),
            (action_completed(), EventKind::CallAction),
            (call_status(), EventKind::CallStatus),
            (session_summary(), EventKind::SessionSummary),
            (session_summary_busy(), EventKind::SessionSummary),
            (session_summary_error(), EventKind::SessionSummary),
            (recording_status(), EventKind::RecordingStatus),
            (virtual_number_update(), EventKind::VirtualNumberUpdate),
        ];
        assert_eq!(kinds.len(), ALL.len());
        for (event, kind) in kinds {
            assert_eq!(event.kind(), kind);
        }
        let Event::SessionSummary(busy) = session_summary_busy() else {
            unreachable!()
        };
        assert_eq!(busy.status, SessionStatus::Busy);
        let Event::SessionSummary(error) = session_summary_error() else {
            unreachable!()
        };
        assert!(error.error.is_some());
    }
}
