//! Invoking: per event (or API request) a fresh `Store` with its own fuel budget,
//! deadline, memory cap and deny-all WASI context, the plugin instantiated from its
//! `InstancePre`, the export called, every failure classified, the store dropped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{Instrument as _, Span};
use wasmtime::component::Instance;
use wasmtime::{Engine, Store, Trap, UpdateDeadline};

use super::bindings::callflow::plugin::types as wit;
use super::bindings::exports::callflow::plugin::handler::PluginError;
use super::host::{self, MemoryLimitExceeded, State};
use super::load::Exports;
use super::{
    ApiAnswer, ApiRequest, ApiResponse, EventAnswer, InvokeContext, Limits, LoadedPlugin,
    PluginFailure, Runtime, Stages, convert,
};

impl Runtime {
    /// Runs `plugin` on `event` in a fresh instance.
    ///
    /// The instance gets `ctx.limits.fuel` fuel, a deadline of `ctx.limits.timeout` from
    /// now (any wait for a pool slot and instantiation included; kept within about 2 ms),
    /// and at most `ctx.limits.memory_bytes` of memory
    /// (capped to the runtime's maximum). The plugin's log lines and output go to
    /// `tracing` with the tenant, inside `ctx.span`. When every pool slot is
    /// taken it waits for one, within the same deadline: it must run on a Tokio runtime
    /// with its timer enabled.
    pub async fn invoke(
        &self,
        plugin: &LoadedPlugin,
        ctx: InvokeContext,
        event: &callflow_wire::Event,
    ) -> Result<EventAnswer, PluginFailure> {
        let answer = self
            .run(
                plugin,
                ctx,
                EventCall(convert::event(event)),
                Instant::now(),
            )
            .await?;
        Ok(EventAnswer::from(answer))
    }

    /// [`invoke`](Self::invoke), on the long lane (`lane.rs`): for a tenant whose plugin
    /// runs long, so that it does not hold a serving worker while it burns.
    pub async fn invoke_long(
        self: &Arc<Self>,
        plugin: &LoadedPlugin,
        ctx: InvokeContext,
        event: &callflow_wire::Event,
    ) -> Result<EventAnswer, PluginFailure> {
        let (this, plugin, start) = (Arc::clone(self), plugin.clone(), Instant::now());
        let call = EventCall(convert::event(event));
        let span = ctx.span.made().cloned().unwrap_or_else(Span::none);
        let answer = self
            .long_lane
            .run(async move { this.run(&plugin, ctx, call, start).await }.instrument(span))
            .await?;
        Ok(EventAnswer::from(answer))
    }

    /// Runs `plugin`'s `api` export on `request` in a fresh instance, under exactly the
    /// sandbox and limits of [`invoke`](Self::invoke); a response body over
    /// `ctx.limits.output_bytes` is [`PluginFailure::OutputTooLarge`].
    pub async fn invoke_api(
        &self,
        plugin: &LoadedPlugin,
        ctx: InvokeContext,
        request: ApiRequest,
    ) -> Result<ApiAnswer, PluginFailure> {
        let answer = self
            .run(plugin, ctx, ApiCall(request), Instant::now())
            .await?;
        Ok(ApiAnswer::from(answer))
    }

    /// [`invoke_api`](Self::invoke_api), on the long lane, as
    /// [`invoke_long`](Self::invoke_long).
    pub async fn invoke_api_long(
        self: &Arc<Self>,
        plugin: &LoadedPlugin,
        ctx: InvokeContext,
        request: ApiRequest,
    ) -> Result<ApiAnswer, PluginFailure> {
        let (this, plugin, start) = (Arc::clone(self), plugin.clone(), Instant::now());
        let span = ctx.span.made().cloned().unwrap_or_else(Span::none);
        let answer = self
            .long_lane
            .run(
                async move { this.run(&plugin, ctx, ApiCall(request), start).await }
                    .instrument(span),
            )
            .await?;
        Ok(ApiAnswer::from(answer))
    }

    /// The one path every invocation takes: a fresh store with the limits of `ctx`, the
    /// plugin instantiated from its `InstancePre`, `call` on it, every failure classified,
    /// the plugin's output logged, the store dropped, each stage timed. The deadline and
    /// the elapsed time count from `start`, when the invocation was asked for (a wait for
    /// the long lane included).
    async fn run<C: Export>(
        &self,
        plugin: &LoadedPlugin,
        ctx: InvokeContext,
        call: C,
        start: Instant,
    ) -> Result<(C::Output, Run), PluginFailure> {
        if !Engine::same(&plugin.0.engine, &self.engine) {
            return Err(PluginFailure::Host(
                "the plugin was loaded by another runtime".into(),
            ));
        }
        let limits = ctx.limits;
        let tenant = Arc::clone(&ctx.tenant);
        let began = Instant::now();
        // Every slot of the pool may be held by plugins that yield while they burn their
        // deadline: wait for one, within this invocation's own deadline (no timer when a
        // slot is free, as it nearly always is).
        let _instance = match self.instances.try_acquire() {
            Ok(permit) => permit,
            Err(_) => {
                let deadline = tokio::time::Instant::from_std(start) + limits.timeout;
                let Ok(Ok(permit)) =
                    tokio::time::timeout_at(deadline, self.instances.acquire()).await
                else {
                    return Err(PluginFailure::Host(
                        "every instance slot stayed taken until the event's deadline".into(),
                    ));
                };
                permit
            }
        };
        let _running = self.ticker.running();

        let memory_cap = limits.memory_bytes.min(self.max_memory_bytes);
        let mut store = Store::new(
            &self.engine,
            State::new(ctx, usize::try_from(memory_cap).unwrap_or(usize::MAX)),
        );
        store.limiter(|s| &mut s.limiter);
        store
            .set_fuel(limits.fuel)
            .map_err(|e| PluginFailure::Host(format!("{e:#}")))?;
        // The deadline counts from the start, the wait for a pool slot included.
        self.set_deadline(&mut store, start + limits.timeout);
        let t_store = Instant::now();

        let instance = plugin
            .0
            .pre
            .instance_pre()
            .instantiate_async(&mut store)
            .await;
        let t_instantiate = Instant::now();
        let result = match instance {
            Err(err) => Err(classify(&err, &store, Phase::Instantiate)),
            Ok(instance) => match call
                .call(&plugin.0.exports, &instance, &mut store, &limits)
                .await
            {
                Err(err) => Err(classify(&err, &store, Phase::Call)),
                Ok(answer) => answer,
            },
        };
        let t_call = Instant::now();
        let fuel_used = limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0));

        let state = store.data();
        state.output.log(
            &tenant,
            state.host.span(),
            || state.host.admit_line(),
            |level, text| state.host.keep_line(level, text),
        );
        if state.host.log_lines_dropped() > 0 && state.host.admit_line() {
            state.host.span().in_scope(|| {
                tracing::warn!(
                    target: host::LOG_TARGET,
                    tenant = &*tenant,
                    dropped = state.host.log_lines_dropped(),
                    "plugin log lines over the per-event budget were dropped"
                );
            });
        }
        let kv_refused = state.host.kv_refused();
        drop(store);
        let end = Instant::now();

        let output = result?;
        Ok((
            output,
            Run {
                fuel_used,
                kv_refused,
                elapsed: end - start,
                stages: Stages {
                    store_new: t_store - began,
                    instantiate: t_instantiate - t_store,
                    call: t_call - t_instantiate,
                    drop: end - t_call,
                },
            },
        ))
    }

    /// Traps with `Interrupt` once `deadline` has passed, yielding to the executor at
    /// every epoch tick on the way but the first (the next tick may come at once: a
    /// plugin runs at least a whole tick before it yields, so a short one never does).
    ///
    /// Yielding lets other events run on this worker, and the I/O driver be polled,
    /// while a slow plugin burns its deadline; each yield also tells the ticker to tick
    /// finely for a while (see `engine.rs`). The deadline is kept by the clock, checked
    /// at each tick: a plugin is interrupted within two coarse ticks (about 2 ms) of it.
    fn set_deadline(&self, store: &mut Store<State>, deadline: Instant) {
        let slices = self.ticker.slices();
        store.set_epoch_deadline(2);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                return Ok(UpdateDeadline::Interrupt);
            }
            slices.yielding();
            // tokio's `yield_now` lets the worker's other tasks run before this one
            // resumes (a plain self-wake may be polled again at once).
            Ok(UpdateDeadline::YieldCustom(
                1,
                Box::pin(tokio::task::yield_now()),
            ))
        });
    }
}

/// What one invocation cost.
struct Run {
    fuel_used: u64,
    kv_refused: u32,
    elapsed: Duration,
    stages: Stages,
}

impl From<(Option<callflow_wire::Callflow>, Run)> for EventAnswer {
    fn from((callflow, run): (Option<callflow_wire::Callflow>, Run)) -> Self {
        Self {
            callflow,
            fuel_used: run.fuel_used,
            kv_refused: run.kv_refused,
            elapsed: run.elapsed,
            stages: run.stages,
        }
    }
}

impl From<(ApiResponse, Run)> for ApiAnswer {
    fn from((response, run): (ApiResponse, Run)) -> Self {
        Self {
            response,
            fuel_used: run.fuel_used,
            kv_refused: run.kv_refused,
            elapsed: run.elapsed,
            stages: run.stages,
        }
    }
}

/// One call of an export on a fresh instance: the part of an invocation that differs
/// between a webhook event and an API request. [`Runtime::run`] does the rest.
trait Export {
    /// What the export's answer becomes.
    type Output;

    /// Calls the export. `Err` is a wasmtime error (a trap, fuel, the deadline), which
    /// `run` classifies; `Ok(Err)` is a failure the answer itself shows (the plugin's own
    /// error, an answer over the output limit).
    async fn call(
        self,
        exports: &Exports,
        instance: &Instance,
        store: &mut Store<State>,
        limits: &Limits,
    ) -> wasmtime::Result<Result<Self::Output, PluginFailure>>;
}

/// `handle-event`, with the event as the plugin gets it.
struct EventCall(wit::Event);

impl Export for EventCall {
    type Output = Option<callflow_wire::Callflow>;

    async fn call(
        self,
        exports: &Exports,
        instance: &Instance,
        store: &mut Store<State>,
        limits: &Limits,
    ) -> wasmtime::Result<Result<Self::Output, PluginFailure>> {
        let (answer,) = exports
            .handle_event(store, instance)?
            .call_async(&mut *store, (&self.0,))
            .await?;
        Ok(match answer {
            Err(err) => Err(plugin_error(err)),
            Ok(flow) => {
                let flow = flow.map(convert::callflow);
                match flow.as_ref().map(convert::rendered_len) {
                    Some(bytes) if bytes > limits.output_bytes => {
                        Err(PluginFailure::OutputTooLarge { bytes })
                    }
                    _ => Ok(flow),
                }
            }
        })
    }
}

/// `handle-request`.
struct ApiCall(ApiRequest);

impl Export for ApiCall {
    type Output = ApiResponse;

    async fn call(
        self,
        exports: &Exports,
        instance: &Instance,
        store: &mut Store<State>,
        limits: &Limits,
    ) -> wasmtime::Result<Result<Self::Output, PluginFailure>> {
        let request = convert::api_request(self.0);
        let (response,) = exports
            .handle_request(store, instance)?
            .call_async(&mut *store, (&request,))
            .await?;
        let response = convert::api_response(response);
        Ok(if response.body.len() > limits.output_bytes {
            Err(PluginFailure::OutputTooLarge {
                bytes: response.body.len(),
            })
        } else {
            Ok(response)
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Instantiate,
    Call,
}

/// Names the failure behind a wasmtime error.
fn classify(err: &wasmtime::Error, store: &Store<State>, phase: Phase) -> PluginFailure {
    if store.data().limiter.hit.is_some() || err.downcast_ref::<MemoryLimitExceeded>().is_some() {
        return PluginFailure::MemoryLimit;
    }
    if let Some(trap) = err.downcast_ref::<Trap>() {
        return match trap {
            Trap::OutOfFuel => PluginFailure::OutOfFuel,
            Trap::Interrupt => PluginFailure::Deadline,
            other => {
                tracing::debug!(cause = ?err, "plugin trap");
                PluginFailure::Trap(other.to_string())
            }
        };
    }
    if let Some(exit) = err.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return PluginFailure::Trap(format!("the plugin exited with status {}", exit.0));
    }
    match phase {
        // Before the plugin's code runs, a failure is the host's (no free slot, ...).
        Phase::Instantiate => PluginFailure::Host(format!("{err:#}")),
        // During the call, an error that is not a trap comes from a host function the
        // plugin misused; it is the plugin's failure.
        Phase::Call => PluginFailure::Trap(format!("{err:#}")),
    }
}

fn plugin_error(err: PluginError) -> PluginFailure {
    let (kind, message) = match err {
        PluginError::BadEvent(m) => ("bad_event", m),
        PluginError::Unavailable(m) => ("unavailable", m),
        PluginError::Internal(m) => ("internal", m),
    };
    PluginFailure::PluginError { kind, message }
}
