//! What a tenant keeps across reloads of its configuration and plugin: counters and their
//! recent history, the plugin's recent log lines, the duplicate-delivery cache, pinned calls, its fuel rate, the in-flight count and the
//! outcome of its last load.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::activity::Activity;
use super::dedupe::Deliveries;
use super::pins::{PIN_TTL, Pins};
use super::rate::FuelRate;
use crate::config::HostConfig;
use crate::metrics::TenantStats;
use crate::runtime::PluginLogs;
use crate::throttle::Throttle;

/// Failure log lines per tenant per second (every failure is counted in `/metrics`).
pub const FAILURE_LOGS_PER_SECOND: u32 = 10;

/// Per-tenant state kept across reloads.
#[derive(Debug)]
pub struct TenantState {
    /// Counters.
    pub stats: TenantStats,
    /// The counters' recent history, for the console.
    pub activity: Activity,
    /// Answers to recent deliveries, by delivery key.
    pub deliveries: Deliveries,
    /// Calls in progress and the version that answered their first event.
    pub pins: Pins,
    in_flight: AtomicU32,
    last_load: Mutex<LoadRecord>,
    /// The tenant's CPU share.
    pub(super) fuel: FuelRate,
    /// The budget of the plugin's log lines, over all its events, and the recent ones.
    pub plugin_logs: Arc<PluginLogs>,
    /// The budget of the host's lines about the tenant's failures
    /// ([`FAILURE_LOGS_PER_SECOND`]).
    pub failure_logs: Throttle,
    /// Until when (milliseconds since the Unix epoch) the tenant's invocations go to the
    /// runtime's long lane: [`LONG_LANE_FOR`] after its last long one.
    long_until: AtomicU64,
}

/// How long a tenant's invocations stay on the long lane after one ran long.
pub const LONG_LANE_FOR: Duration = Duration::from_secs(1);

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The outcome of the tenant's most recent (re)load.
#[derive(Debug, Clone, Default, serde::Serialize, schemars::JsonSchema)]
pub struct LoadRecord {
    /// When it happened (seconds since the Unix epoch).
    pub at: u64,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// Loads so far.
    pub loads: u64,
    /// Failed loads so far.
    pub failures: u64,
}

impl TenantState {
    pub(super) fn new(host: &HostConfig) -> Self {
        Self {
            stats: TenantStats::default(),
            activity: Activity::starting_at(super::unix_seconds()),
            deliveries: Deliveries::new(host.answer_window, host.answers_budget),
            pins: Pins::new(host.pins_budget, PIN_TTL),
            in_flight: AtomicU32::new(0),
            last_load: Mutex::default(),
            fuel: FuelRate::default(),
            plugin_logs: Arc::default(),
            failure_logs: Throttle::new(),
            long_until: AtomicU64::new(0),
        }
    }

    /// Whether the tenant's invocations go to the long lane now.
    pub(super) fn runs_long(&self) -> bool {
        self.long_until.load(Ordering::Relaxed) > unix_millis()
    }

    /// One of the tenant's invocations ran long: its next ones go to the long lane.
    pub(super) fn ran_long(&self) {
        let until = unix_millis().saturating_add(LONG_LANE_FOR.as_millis() as u64);
        self.long_until.fetch_max(until, Ordering::Relaxed);
    }

    pub(super) fn record_load(&self, error: Option<String>) {
        let mut record = self.last_load.lock().unwrap_or_else(|e| e.into_inner());
        record.at = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        record.loads += 1;
        if error.is_some() {
            record.failures += 1;
            tracing::error!(
                cause = error.as_deref().unwrap_or_default(),
                "tenant reload failed"
            );
        }
        record.error = error;
    }

    /// The outcome of the most recent (re)load.
    pub fn last_load(&self) -> LoadRecord {
        self.last_load
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Events of this tenant running now.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Claims one of `max` concurrent invocation slots; `None` when all are taken.
    pub(super) fn try_acquire(self: &Arc<Self>, max: u32) -> Option<InFlight> {
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| InFlight(Arc::clone(self)))
    }
}

/// A claimed invocation slot, released on drop.
#[derive(Debug)]
pub struct InFlight(Arc<TenantState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}
