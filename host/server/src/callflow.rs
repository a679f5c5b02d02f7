//! What leaves for the platform: the plugin's callflow, checked against 8x8's rules and
//! rendered as 8x8 JSON, or the reason it cannot be sent (and the fallback goes instead).
//!
//! The rules themselves live in [`callflow_wire::rules`], shared with the SDK's harness;
//! this module only decides what a plugin's answer becomes.

use std::sync::Arc;

use bytes::Bytes;
use callflow_wire::{Callflow, Violation, rules};

use crate::runtime::{LoadError, PluginFailure};
use crate::tenant::Refusal;

/// Why the plugin's answer to an event was not used (a call action gets the fallback).
/// Each has its own metric label.
#[derive(Debug, thiserror::Error)]
pub enum EventFailure {
    /// The plugin trapped, ran out of fuel, time or memory, or returned an error.
    #[error(transparent)]
    Plugin(#[from] PluginFailure),
    /// The plugin's callflow breaks one of 8x8's rules.
    #[error("invalid callflow: {0}")]
    Invalid(Violation),
    /// The plugin answered a call action with no callflow.
    #[error("the plugin returned no callflow for a call action")]
    NoCallflow,
    /// The tenant has no loadable plugin.
    #[error("no loadable plugin: {0}")]
    NotLoaded(Arc<LoadError>),
    /// The tenant is over its concurrency cap or its fuel rate.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The cluster's shared state (Redis) cannot be reached: no plugin runs without it.
    #[error("the cluster's shared store is unreachable: {0}")]
    StoreUnavailable(String),
}

impl EventFailure {
    /// The stable label for logs and metrics (one of [`crate::metrics::FAILURE_REASONS`]).
    pub fn reason(&self) -> &'static str {
        match self {
            EventFailure::Plugin(p) => p.reason(),
            EventFailure::Invalid(_) => "invalid_callflow",
            EventFailure::NoCallflow => "no_callflow",
            EventFailure::NotLoaded(_) => "not_loaded",
            EventFailure::Refused(r) => r.reason(),
            EventFailure::StoreUnavailable(_) => "store_unavailable",
        }
    }
}

/// The body to answer a call action with, if the plugin's callflow may be sent.
pub fn answer(callflow: Option<Callflow>) -> Result<Bytes, EventFailure> {
    let flow = callflow.ok_or(EventFailure::NoCallflow)?;
    rules::render(&flow)
        .map(Bytes::from)
        .map_err(EventFailure::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use callflow_wire::Say;

    #[test]
    fn valid_callflow_is_rendered_as_8x8_json() {
        let flow = Callflow::new()
            .say(Say::new("Hi", "en-US-ZiraRUS"))
            .hangup();
        let body = answer(Some(flow.clone())).expect("valid");
        assert_eq!(body, flow.to_json().as_bytes());
    }

    #[test]
    fn invalid_or_missing_callflow_is_a_typed_failure() {
        let err = answer(Some(Callflow::new())).expect_err("empty");
        assert_eq!(err.reason(), "invalid_callflow");
        assert_eq!(answer(None).expect_err("none").reason(), "no_callflow");
    }
}
