//! What leaves for the platform: the plugin's callflow, checked against 8x8's rules and
//! rendered as 8x8 JSON, or the reason it cannot be sent (and the fallback goes instead).
//!
//! The rules themselves live in [`callflow_wire::rules`], shared with the SDK's harness;
//! this module only decides what a plugin's answer becomes.

use std::sync::Arc;

use axum::body::Bytes;
use callflow_wire::{Callflow, Violation, rules};

use crate::runtime::{LoadError, PluginFailure};

/// Why a call action is answered with the fallback. Each has its own metric label.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
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
    /// The tenant already has as many events in flight as its limit allows.
    #[error("the tenant's concurrency limit of {0} events is reached")]
    Busy(u32),
    /// The tenant burned more fuel per second than its share allows.
    #[error("the tenant's fuel rate of {0} per second is used up")]
    FuelRate(u64),
}

impl Failure {
    /// The stable label for logs and metrics (one of [`crate::metrics::FAILURE_REASONS`]).
    pub fn reason(&self) -> &'static str {
        match self {
            Failure::Plugin(p) => p.reason(),
            Failure::Invalid(_) => "invalid_callflow",
            Failure::NoCallflow => "no_callflow",
            Failure::NotLoaded(_) => "not_loaded",
            Failure::Busy(_) => "concurrency_limit",
            Failure::FuelRate(_) => "fuel_rate_limit",
        }
    }
}

/// The body to answer a call action with, if the plugin's callflow may be sent.
pub fn answer(callflow: Option<Callflow>) -> Result<Bytes, Failure> {
    let flow = callflow.ok_or(Failure::NoCallflow)?;
    rules::render(&flow)
        .map(Bytes::from)
        .map_err(Failure::Invalid)
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
