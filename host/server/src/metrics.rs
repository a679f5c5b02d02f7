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
}

impl Outcome {
    const ALL: [Outcome; 5] = [
        Outcome::Answered,
        Outcome::Fallback,
        Outcome::Handled,
        Outcome::Failed,
        Outcome::Duplicate,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::Fallback => "fallback",
            Outcome::Handled => "handled",
            Outcome::Failed => "failed",
            Outcome::Duplicate => "duplicate",
        }
    }
}

/// Every failure reason, as the metric label and log field spell it.
pub const FAILURE_REASONS: [&str; 13] = [
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
    "fuel_rate_limit",
    "store_unavailable",
];

const KINDS: usize = EventKind::ALL.len();
const OUTCOMES: usize = Outcome::ALL.len();

/// Buckets of a [`Histogram`].
pub const HISTOGRAM_BUCKETS: usize = 48;

/// A lock-free histogram with power-of-two buckets: bucket `i` counts values below
/// `2^i` (the last bucket takes the rest). Quantiles are read as bucket upper bounds,
/// so they are exact to within a factor of two, which is what p50/p99 dashboards need.
#[derive(Debug)]
pub struct Histogram {
    buckets: [AtomicU64; HISTOGRAM_BUCKETS],
    sum: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    /// Records `value`.
    pub fn record(&self, value: u64) {
        let i = (64 - value.leading_zeros() as usize).min(self.buckets.len() - 1);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(value, Ordering::Relaxed);
    }

    /// The upper bound of the bucket holding quantile `q` (0 when empty).
    pub fn quantile(&self, q: f64) -> u64 {
        quantile_of(&self.counts(), q)
    }

    /// Each bucket's count, as of now.
    pub fn counts(&self) -> [u64; HISTOGRAM_BUCKETS] {
        std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed))
    }

    fn render(&self, out: &mut String, name: &str, tenant: &str) {
        let mut cumulative = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            let n = b.load(Ordering::Relaxed);
            cumulative += n;
            if n > 0 {
                let _ = writeln!(
                    out,
                    "{name}_bucket{{tenant=\"{tenant}\",le=\"{}\"}} {cumulative}",
                    1u64 << i
                );
            }
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{tenant=\"{tenant}\",le=\"+Inf\"}} {cumulative}"
        );
        let _ = writeln!(
            out,
            "{name}_sum{{tenant=\"{tenant}\"}} {}",
            self.sum.load(Ordering::Relaxed)
        );
        let _ = writeln!(out, "{name}_count{{tenant=\"{tenant}\"}} {cumulative}");
    }
}

/// The upper bound of the bucket holding quantile `q` of a histogram's bucket counts
/// (0 when empty).
pub fn quantile_of(counts: &[u64], q: f64) -> u64 {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return 0;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "a rank among at most u64::MAX samples"
    )]
    let rank = ((total as f64) * q).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (i, n) in counts.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return 1u64 << i;
        }
    }
    u64::MAX
}

/// One tenant's counters; they outlive plugin versions.
#[derive(Debug, Default)]
pub struct TenantStats {
    webhooks: [[AtomicU64; OUTCOMES]; KINDS],
    failures: [AtomicU64; FAILURE_REASONS.len()],
    fuel_used: AtomicU64,
    invocations: AtomicU64,
    kv_refused: AtomicU64,
    long_lane: AtomicU64,
    /// Fuel per invocation.
    pub fuel: Histogram,
    /// Wall-clock microseconds per invocation (instantiate + call).
    pub latency_us: Histogram,
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

    /// Counts a plugin invocation, the fuel it used and how long it took.
    pub fn invocation(&self, fuel: u64, elapsed: std::time::Duration) {
        self.invocations.fetch_add(1, Ordering::Relaxed);
        self.fuel_used.fetch_add(fuel, Ordering::Relaxed);
        self.fuel.record(fuel);
        self.latency_us
            .record(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX));
    }

    /// Counts key-value operations refused for the tenant's quota or an event's cap.
    pub fn kv_refused_add(&self, n: u32) {
        if n > 0 {
            self.kv_refused.fetch_add(u64::from(n), Ordering::Relaxed);
        }
    }

    /// Key-value operations refused so far.
    pub fn kv_refused(&self) -> u64 {
        self.kv_refused.load(Ordering::Relaxed)
    }

    /// Counts an invocation run on the runtime's long lane.
    pub fn long_lane_add(&self) {
        self.long_lane.fetch_add(1, Ordering::Relaxed);
    }

    /// Invocations run on the long lane so far.
    pub fn long_lane(&self) -> u64 {
        self.long_lane.load(Ordering::Relaxed)
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

    /// Failures so far, one count per reason of [`FAILURE_REASONS`] in its order.
    pub fn failure_counts(&self) -> [u64; FAILURE_REASONS.len()] {
        std::array::from_fn(|i| self.failures[i].load(Ordering::Relaxed))
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
    for (tenant, stats) in tenants.clone() {
        let _ = writeln!(
            out,
            "callflow_plugin_fuel_total{{tenant=\"{tenant}\"}} {}",
            stats.fuel_used.load(Ordering::Relaxed)
        );
    }
    let _ = writeln!(
        out,
        "# HELP callflow_plugin_long_lane_total Plugin invocations run on the long lane (threads below the serving workers' priority) because the tenant's plugin ran long, by tenant.\n# TYPE callflow_plugin_long_lane_total counter"
    );
    for (tenant, stats) in tenants.clone() {
        let _ = writeln!(
            out,
            "callflow_plugin_long_lane_total{{tenant=\"{tenant}\"}} {}",
            stats.long_lane()
        );
    }
    let _ = writeln!(
        out,
        "# HELP callflow_kv_refused_total Key-value operations refused for the tenant's store quota or an event's operation cap, by tenant.\n# TYPE callflow_kv_refused_total counter"
    );
    for (tenant, stats) in tenants.clone() {
        let _ = writeln!(
            out,
            "callflow_kv_refused_total{{tenant=\"{tenant}\"}} {}",
            stats.kv_refused()
        );
    }
    let _ = writeln!(
        out,
        "# HELP callflow_plugin_fuel Fuel per invocation.\n# TYPE callflow_plugin_fuel histogram"
    );
    for (tenant, stats) in tenants.clone() {
        stats.fuel.render(&mut out, "callflow_plugin_fuel", tenant);
    }
    let _ = writeln!(
        out,
        "# HELP callflow_plugin_latency_microseconds Wall-clock time per invocation.\n# TYPE callflow_plugin_latency_microseconds histogram"
    );
    for (tenant, stats) in tenants {
        stats
            .latency_us
            .render(&mut out, "callflow_plugin_latency_microseconds", tenant);
    }
    out
}
