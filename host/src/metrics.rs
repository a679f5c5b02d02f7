//! Counters for `/metrics`, in Prometheus text format.
//!
//! Per-event recording is lock-free: each tenant owns a fixed grid of atomics indexed by
//! event kind and outcome, and a row per failure reason. Rendering walks the registry.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use callflow_wire::EventKind;

/// What became of a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A call action answered with the plugin's callflow.
    Answered,
    /// A call action answered with the tenant's fallback.
    Fallback,
    /// A non-call-action event the plugin handled.
    Handled,
    /// A non-call-action event the plugin failed on (still acknowledged with 200).
    Failed,
    /// A repeated delivery answered from the cache.
    Duplicate,
    /// Refused before the plugin ran (auth, sub-account, malformed).
    Rejected,
}

impl Outcome {
    const ALL: [Outcome; 6] = [
        Outcome::Answered,
        Outcome::Fallback,
        Outcome::Handled,
        Outcome::Failed,
        Outcome::Duplicate,
        Outcome::Rejected,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::Fallback => "fallback",
            Outcome::Handled => "handled",
            Outcome::Failed => "failed",
            Outcome::Duplicate => "duplicate",
            Outcome::Rejected => "rejected",
        }
    }
}

/// Every failure reason, as the metric label and log field spell it.
pub const FAILURE_REASONS: [&str; 11] = [
    "out_of_fuel",
    "deadline",
    "memory_limit",
    "trap",
    "plugin_error",
    "output_too_large",
    "host_error",
    "invalid_callflow",
    "no_callflow",
    "not_loaded",
    "concurrency_limit",
];

const KINDS: usize = EventKind::ALL.len();
const OUTCOMES: usize = Outcome::ALL.len();

/// One tenant's counters; they outlive plugin versions.
#[derive(Debug, Default)]
pub struct TenantStats {
    webhooks: [[AtomicU64; OUTCOMES]; KINDS],
    failures: [AtomicU64; FAILURE_REASONS.len()],
    fuel_used: AtomicU64,
    invocations: AtomicU64,
}

fn kind_index(kind: EventKind) -> usize {
    EventKind::ALL.iter().position(|k| *k == kind).unwrap_or(0)
}

impl TenantStats {
    /// Counts a webhook.
    pub fn webhook(&self, kind: EventKind, outcome: Outcome) {
        let o = Outcome::ALL.iter().position(|x| *x == outcome).unwrap_or(0);
        self.webhooks[kind_index(kind)][o].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a failure by reason (one of [`FAILURE_REASONS`]).
    pub fn failure(&self, reason: &str) {
        if let Some(i) = FAILURE_REASONS.iter().position(|r| *r == reason) {
            self.failures[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a plugin invocation and the fuel it used.
    pub fn invocation(&self, fuel: u64) {
        self.invocations.fetch_add(1, Ordering::Relaxed);
        self.fuel_used.fetch_add(fuel, Ordering::Relaxed);
    }

    /// Failures so far for `reason`.
    pub fn failures(&self, reason: &str) -> u64 {
        FAILURE_REASONS
            .iter()
            .position(|r| *r == reason)
            .map_or(0, |i| self.failures[i].load(Ordering::Relaxed))
    }

    /// Plugin invocations so far.
    pub fn invocations(&self) -> u64 {
        self.invocations.load(Ordering::Relaxed)
    }
}

/// Renders every tenant's counters in Prometheus text format.
pub fn render<'a>(tenants: impl Iterator<Item = (&'a str, &'a TenantStats)> + Clone) -> String {
    let mut out = String::with_capacity(4096);
    let _ = writeln!(
        out,
        "# HELP callflow_webhooks_total Webhooks received, by tenant, event type and outcome.\n# TYPE callflow_webhooks_total counter"
    );
    for (tenant, stats) in tenants.clone() {
        for (k, kind) in EventKind::ALL.iter().enumerate() {
            for (o, outcome) in Outcome::ALL.iter().enumerate() {
                let n = stats.webhooks[k][o].load(Ordering::Relaxed);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "callflow_webhooks_total{{tenant=\"{tenant}\",event_type=\"{}\",outcome=\"{}\"}} {n}",
                        kind.as_str(),
                        outcome.as_str()
                    );
                }
            }
        }
    }
    let _ = writeln!(
        out,
        "# HELP callflow_plugin_failures_total Plugin failures, by tenant and reason.\n# TYPE callflow_plugin_failures_total counter"
    );
    for (tenant, stats) in tenants.clone() {
        for (i, reason) in FAILURE_REASONS.iter().enumerate() {
            let n = stats.failures[i].load(Ordering::Relaxed);
            if n > 0 {
                let _ = writeln!(
                    out,
                    "callflow_plugin_failures_total{{tenant=\"{tenant}\",reason=\"{reason}\"}} {n}"
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "# HELP callflow_plugin_invocations_total Plugin invocations, by tenant.\n# TYPE callflow_plugin_invocations_total counter"
    );
    for (tenant, stats) in tenants.clone() {
        let _ = writeln!(
            out,
            "callflow_plugin_invocations_total{{tenant=\"{tenant}\"}} {}",
            stats.invocations()
        );
    }
    let _ = writeln!(
        out,
        "# HELP callflow_plugin_fuel_total Fuel consumed by plugins, by tenant.\n# TYPE callflow_plugin_fuel_total counter"
    );
    for (tenant, stats) in tenants {
        let _ = writeln!(
            out,
            "callflow_plugin_fuel_total{{tenant=\"{tenant}\"}} {}",
            stats.fuel_used.load(Ordering::Relaxed)
        );
    }
    out
}
