//! The 8x8 voice wire format and callflow rules, written once.
//!
//! The host, the SDK's native test harness and the simulator all speak 8x8 through this
//! crate, so what a plugin author sees in `cargo test` is what the platform gets:
//!
//! - [`event`]: webhooks in. Tolerant: unknown fields are ignored, digits arrive in any of
//!   8x8's three documented shapes, numbers with or without `+`.
//! - [`callflow`]: callflows out, serialised in 8x8's exact JSON (unset optional params
//!   are omitted, never `null`).
//! - [`rules`]: what 8x8 accepts, as `docs/callflow-rules.md` describes them; nothing that breaks a rule
//!   may reach the platform.
//! - [`number`]: E.164 normalisation shared by all of the above.
//! - [`platform`]: 8x8's side of a whole call (the webhooks it sends, what it does with
//!   each callflow), as a state machine the simulator and the SDK's harness both drive.
//!
//! - `schema` (feature `schema`): JSON Schemas of the webhook bodies and callflows,
//!   derived from the types above, for the host's OpenAPI document.
//!
//! This crate does no I/O and holds no global state.
#![deny(missing_docs)]

pub mod callflow;
pub mod event;
pub mod number;
pub mod platform;
pub mod rules;
#[cfg(feature = "schema")]
pub mod schema;

pub use callflow::{Action, Callflow, MakeCall, PlayFile, Say, SayAndCapture};
pub use event::{
    Call, CallAction, CallDirection, CallQuality, CallStatus, ErrorDetails, Event, EventKind,
    NumberState, ParseError, RecordingStatus, SessionLeg, SessionStatus, SessionSummary,
    VirtualNumber, VirtualNumberUpdate, parse_webhook,
};
pub use rules::{Violation, render, validate};
