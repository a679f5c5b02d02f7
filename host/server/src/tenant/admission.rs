//! The one way into the sandbox. A webhook, a plugin API request and a dry run all go
//! through [`Tenant::admit`]: it checks the tenant's fuel rate and concurrency cap
//! (before any plugin is loaded or pinned, so a flood over them costs a counter check),
//! builds the invocation's context (the tenant's configuration, its store, its limits),
//! and the [`Admission`] it returns runs the plugin and charges the fuel burned to the
//! tenant's rate and counters, whatever the plugin did.
//!
//! Must not: choose the plugin version (the caller does: a pinned call's, the active
//! one, or the version a dry run names), or decide what a failure becomes (a fallback,
//! a 5xx).

use std::sync::Arc;
use std::time::Duration;

use callflow_wire::Event;

use super::Tenant;
use super::state::InFlight;
use crate::event_span::EventSpan;
use crate::runtime::{
    ApiAnswer, ApiRequest, EventAnswer, InvokeContext, LoadedPlugin, PluginFailure, PluginLogs,
    Runtime,
};
use crate::store::KvStore;

/// Why an invocation was not admitted. Each has its own metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The tenant already runs as many invocations as its limit allows.
    #[error("the tenant's concurrency limit of {0} invocations is reached")]
    Busy(u32),
    /// The tenant burned more fuel per second than its share allows.
    #[error("the tenant's fuel rate of {0} per second is used up")]
    FuelRate(u64),
}

impl Refusal {
    /// The stable label for logs and metrics (one of [`crate::metrics::FAILURE_REASONS`]).
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Busy(_) => "concurrency_limit",
            Refusal::FuelRate(_) => "fuel_rate_limit",
        }
    }
}

/// Fuel a plugin reached at about one core for a wall-clock duration: wasmtime burns
/// roughly 10 billion fuel a second on these machines.
const FUEL_PER_CORE_MICROSECOND: u64 = 10_000;

/// Fuel burned by an invocation that held its core for two slices (500 µs at about one
/// core): the tenant's next invocations run on the runtime's long lane
/// ([`Runtime::invoke_long`]), below the serving workers' priority, for
/// [`LONG_LANE_FOR`](super::state::LONG_LANE_FOR). Well above the example IVR in any of
/// its languages (12 thousand fuel in Rust, 550 thousand in Python, 3 million in
/// JavaScript), so that a plugin doing an ordinary event's work keeps the serving
/// workers' priority; a plugin that burns its budget or meets its deadline goes.
const LONG_FUEL: u64 = 500 * FUEL_PER_CORE_MICROSECOND;

/// An admitted invocation: holds one of the tenant's concurrency slots until it is run.
#[derive(Debug)]
pub struct Admission {
    tenant: Arc<Tenant>,
    runtime: Arc<Runtime>,
    ctx: InvokeContext,
    /// Whether the invocation is counted in the tenant's counters.
    counted: bool,
    _slot: InFlight,
}

impl Tenant {
    /// Admits one invocation with the tenant's state in `kv` (the live store, or a
    /// scratch one for a dry run), or says why not.
    pub fn admit(
        self: &Arc<Self>,
        runtime: &Arc<Runtime>,
        kv: &Arc<dyn KvStore>,
    ) -> Result<Admission, Refusal> {
        let limits = self.config.limits;
        if !self.state.fuel.available(limits.fuel_per_second) {
            return Err(Refusal::FuelRate(limits.fuel_per_second));
        }
        let slot = self
            .state
            .try_acquire(limits.max_concurrency)
            .ok_or(Refusal::Busy(limits.max_concurrency))?;
        Ok(Admission {
            tenant: Arc::clone(self),
            runtime: Arc::clone(runtime),
            ctx: InvokeContext {
                tenant: Arc::clone(&self.id),
                config: Arc::clone(&self.config.config),
                kv: Arc::clone(kv),
                limits: limits.sandbox,
                logs: Arc::clone(&self.state.plugin_logs),
                span: EventSpan::current(),
            },
            counted: true,
            _slot: slot,
        })
    }
}

impl Admission {
    /// Makes this a scratch invocation (a dev-phone call's): the plugin's log lines go to
    /// `logs` rather than the tenant's recent lines, and the invocation is left out of
    /// the tenant's counters and charts. Its fuel is still charged to the tenant's rate
    /// and it holds one of its concurrency slots: it is the tenant's CPU.
    pub fn scratch(mut self, logs: Arc<PluginLogs>) -> Self {
        self.ctx.logs = logs;
        self.counted = false;
        self
    }

    /// Writes the plugin's lines in `span` (a webhook's) rather than the current span.
    pub fn in_span(mut self, span: EventSpan) -> Self {
        self.ctx.span = span;
        self
    }

    /// Runs `plugin`'s `handle-event` on `event`.
    pub async fn event(
        self,
        plugin: &LoadedPlugin,
        event: &Event,
    ) -> Result<EventAnswer, PluginFailure> {
        let answer = if self.long_lane() {
            self.runtime
                .invoke_long(plugin, self.ctx.clone(), event)
                .await
        } else {
            self.runtime.invoke(plugin, self.ctx.clone(), event).await
        };
        if let Ok(a) = &answer
            && self.counted
        {
            self.tenant.state.stats.kv_refused_add(a.kv_refused);
        }
        self.charge(answer.as_ref().map(|a| (a.fuel_used, a.elapsed)));
        answer
    }

    /// Runs `plugin`'s `handle-request` on `request`.
    pub async fn request(
        self,
        plugin: &LoadedPlugin,
        request: ApiRequest,
    ) -> Result<ApiAnswer, PluginFailure> {
        let answer = if self.long_lane() {
            self.runtime
                .invoke_api_long(plugin, self.ctx.clone(), request)
                .await
        } else {
            self.runtime
                .invoke_api(plugin, self.ctx.clone(), request)
                .await
        };
        if let Ok(a) = &answer {
            self.tenant.state.stats.kv_refused_add(a.kv_refused);
        }
        self.charge(answer.as_ref().map(|a| (a.fuel_used, a.elapsed)));
        answer
    }

    /// Whether this invocation goes to the long lane: its tenant's plugin ran long lately.
    fn long_lane(&self) -> bool {
        let long = self.tenant.state.runs_long();
        if long && self.counted {
            self.tenant.state.stats.long_lane_add();
        }
        long
    }

    /// Charges what the invocation burned to the tenant's fuel rate and counts it. A
    /// failure reports no fuel figure: out of fuel is the whole budget; a deadline is the
    /// wall clock at about one core, within the budget.
    fn charge(&self, cost: Result<(u64, Duration), &PluginFailure>) {
        let limits = self.tenant.config.limits;
        let state = &self.tenant.state;
        let burned = match cost {
            Ok((fuel, elapsed)) => {
                if self.counted {
                    state.stats.invocation(fuel, elapsed);
                }
                fuel
            }
            Err(failure) => {
                if self.counted {
                    state.stats.invocation(0, Duration::ZERO);
                }
                match failure {
                    PluginFailure::OutOfFuel => limits.sandbox.fuel,
                    PluginFailure::Deadline => u64::try_from(limits.sandbox.timeout.as_micros())
                        .unwrap_or(u64::MAX)
                        .saturating_mul(FUEL_PER_CORE_MICROSECOND)
                        .min(limits.sandbox.fuel),
                    _ => 0,
                }
            }
        };
        state.fuel.charge(limits.fuel_per_second, burned);
        if burned >= LONG_FUEL {
            state.ran_long();
        }
    }
}
