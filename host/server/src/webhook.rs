//! One 8x8 voice webhook, from its body to the answer the platform gets.
//!
//! Owns: parsing (through [`callflow_wire::parse_webhook`]), the sub-account check, the
//! duplicate-delivery cache, session pinning, calling the plugin through the tenant's
//! [admission](crate::tenant::admission), and choosing between the plugin's callflow and
//! the tenant's fallback. It never fails a call action with an error once the event is
//! understood: every plugin failure becomes the fallback, logged once with its typed
//! reason and counted.
//!
//! Must not: know about HTTP (it takes the body's bytes and gives the answer's; the
//! edge is [`crate::http`]), or about wasmtime beyond [`crate::runtime::Runtime`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use callflow_wire::{Event, EventKind, ParseError, parse_webhook};
use tracing::{Instrument as _, Span, debug, warn};

use crate::callflow::{EventFailure, answer};
use crate::cluster::{Claim, Cluster};
use crate::event_span::EventSpan;
use crate::metrics::Outcome;
use crate::runtime::{LoadedPlugin, PluginLogs};
use crate::store::KvStore;
use crate::tenant::pins::PIN_TTL;
use crate::tenant::state::FAILURE_LOGS_PER_SECOND;
use crate::tenant::{Registry, Tenant};
use crate::throttle::Verdict;

/// The answer to a non-call-action webhook: 8x8 only needs the 200.
pub const ACK_BODY: &[u8] = b"{}";

/// Why a webhook was refused before any plugin ran.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The body is not an 8x8 voice webhook we understand.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The payload's `subAccountId` is not one the tenant owns.
    #[error("sub-account {0:?} does not belong to this tenant")]
    SubAccount(String),
    /// The event names no sub-account and the tenant is bound to some.
    #[error("the event names no sub-account; this tenant only accepts its own")]
    NoSubAccount,
}

/// Handles one webhook body for `tenant`, on the node named `node`; the answer is the
/// response body (callflow JSON for a call action, [`ACK_BODY`] otherwise), always sent
/// with 200.
pub async fn handle(
    registry: &Registry,
    kv: &Arc<dyn KvStore>,
    tenant: &Arc<Tenant>,
    node: &Arc<str>,
    body: &[u8],
) -> Result<Bytes, WebhookError> {
    let event = Arc::new(parse_webhook(body)?);
    match event.sub_account_id() {
        Some(id) if !tenant.config.sub_accounts.owns(id) => {
            return Err(WebhookError::SubAccount(id.to_owned()));
        }
        None if tenant.config.sub_accounts != crate::config::SubAccounts::Any => {
            return Err(WebhookError::NoSubAccount);
        }
        _ => {}
    }
    let span = EventSpan::for_event(node, &tenant.id, &event);
    let made = span.made().cloned().unwrap_or_else(Span::none);
    deliver(registry, kv, tenant, event, &span)
        .instrument(made)
        .await
}

/// [`handle`], once the event is understood: answered from the duplicate cache or run.
async fn deliver(
    registry: &Registry,
    kv: &Arc<dyn KvStore>,
    tenant: &Arc<Tenant>,
    event: Arc<Event>,
    span: &EventSpan,
) -> Result<Bytes, WebhookError> {
    let kind = event.kind();
    let key = event.delivery_key();
    let cell = tenant.state.deliveries.cell(&key);
    let ran = AtomicBool::new(false);
    // Concurrent deliveries to this node share the cell; in a cluster, the first node to
    // claim the delivery runs it. An answer given because the cluster was unreachable is
    // not kept: a later delivery tries again.
    let answered = cell
        .get_or_try_init(|| {
            ran.store(true, Ordering::Relaxed);
            async {
                match registry.cluster() {
                    None => Ok(run(registry, kv, tenant, &event, span, None).await),
                    Some(cluster) => {
                        run_once_in_cluster(registry, cluster, kv, tenant, &event, span, &key).await
                    }
                }
            }
        })
        .await;
    let body = match answered {
        Ok(body) => body.clone(),
        Err(unkept) => {
            tenant.state.deliveries.keep(&key, None);
            return Ok(unkept);
        }
    };
    if ran.load(Ordering::Relaxed) {
        tenant.state.deliveries.keep(&key, Some(&body));
    } else {
        // `run` counts the outcome of the delivery that ran the plugin.
        debug!("repeated delivery answered from the cache");
        tenant.state.stats.webhook(kind, Outcome::Duplicate);
    }
    Ok(body)
}

/// Whether a line about one of `tenant`'s failures may be logged now (at most
/// [`FAILURE_LOGS_PER_SECOND`]; every failure is counted); logs the summary of those
/// suppressed before it.
pub(crate) fn failure_line(tenant: &Tenant) -> bool {
    match tenant.state.failure_logs.admit(FAILURE_LOGS_PER_SECOND) {
        Verdict::Log { suppressed } => {
            if suppressed > 0 {
                warn!(tenant = %tenant.id, suppressed, "more failures of this tenant were not logged");
            }
            true
        }
        Verdict::Suppress => false,
    }
}

/// Runs the plugin once for `event`, decides the answer, logs and counts it.
async fn run(
    registry: &Registry,
    kv: &Arc<dyn KvStore>,
    tenant: &Arc<Tenant>,
    event: &Event,
    span: &EventSpan,
    pinned: Option<String>,
) -> Bytes {
    let kind = event.kind();
    let handled = process_on(registry, kv, tenant, event, span, pinned).await;
    let stats = &tenant.state.stats;
    if let Some(failure) = &handled.failure {
        stats.failure(failure.reason());
        if !failure_line(tenant) {
        } else if kind == EventKind::CallAction {
            span.in_scope(|| warn!(reason = failure.reason(), cause = %failure, "plugin failed; answering with the fallback"));
        } else {
            span.in_scope(
                || warn!(reason = failure.reason(), cause = %failure, "plugin failed on an event"),
            );
        }
    }
    stats.webhook(kind, handled.outcome);
    handled.body
}

/// The version a call runs on across the cluster: the one its first event got on any
/// node (the pin and the active pointer are read and set in one script), loaded here from
/// this node's mirror. `current` is this node's active version.
async fn pinned_in_cluster(
    registry: &Registry,
    cluster: &Cluster,
    tenant: &Arc<Tenant>,
    session: &str,
    span: &EventSpan,
    current: LoadedPlugin,
    known: Option<String>,
) -> Result<LoadedPlugin, EventFailure> {
    let digest = match known {
        Some(digest) => Some(digest),
        None => cluster
            .pin(&tenant.id, session, PIN_TTL)
            .await
            .map_err(|e| EventFailure::StoreUnavailable(e.to_string()))?,
    };
    let Some(digest) = digest.filter(|d| d != current.digest()) else {
        return Ok(current);
    };
    if let Some(plugin) = registry.runtime().in_memory(&digest) {
        return Ok(plugin);
    }
    let runtime = Arc::clone(registry.runtime());
    let path = registry.repo().version_path(&tenant.id, &digest);
    let version = digest.clone();
    match tokio::task::spawn_blocking(move || runtime.load_version_for_call(&version, &path)).await
    {
        Ok(Ok(plugin)) => Ok(plugin),
        failed => {
            // The mirror is behind (it gets the version within a poll): the call goes on
            // the version this node serves rather than on no version at all.
            if failure_line(tenant) {
                span.in_scope(|| warn!(version = %digest, cause = ?failed.map(|r| r.err()), "the call's pinned version is not here yet; using the active one"));
            }
            Ok(current)
        }
    }
}

/// Runs the plugin for `event` unless another node has (its answer is replayed) or is
/// running it (its answer is awaited). `Err` is an answer not to keep: the cluster could
/// not be reached, and the caller got the fallback.
async fn run_once_in_cluster(
    registry: &Registry,
    cluster: &Arc<Cluster>,
    kv: &Arc<dyn KvStore>,
    tenant: &Arc<Tenant>,
    event: &Event,
    span: &EventSpan,
    key: &str,
) -> Result<Bytes, Bytes> {
    let kind = event.kind();
    let unreachable = |cause: String| {
        let failure = EventFailure::StoreUnavailable(cause);
        let stats = &tenant.state.stats;
        stats.failure(failure.reason());
        if failure_line(tenant) {
            span.in_scope(|| warn!(reason = failure.reason(), cause = %failure, "cluster unreachable; answering without the plugin"));
        }
        let (body, outcome) = if kind == EventKind::CallAction {
            (tenant.fallback_body.clone(), Outcome::Fallback)
        } else {
            (Bytes::from_static(ACK_BODY), Outcome::Failed)
        };
        stats.webhook(kind, outcome);
        body
    };
    if !cluster.healthy() {
        return Err(unreachable("redis did not answer the last ping".into()));
    }
    // Longer than the plugin may run: a claim outlives a slow plugin, not a dead node.
    let claim_ttl = tenant.config.limits.sandbox.timeout * 2 + Duration::from_secs(1);
    let session = event.session_id().map(|s| (s, PIN_TTL));
    let mut claim = cluster.claim(&tenant.id, key, claim_ttl, session).await;
    if let Ok(Claim::Running(node)) = &claim {
        debug!(node = %node, "another node runs this delivery; waiting for its answer");
        claim = cluster.await_answer(&tenant.id, key, claim_ttl).await;
    }
    match claim {
        Ok(Claim::Mine(pinned)) => {
            let body = run(registry, kv, tenant, event, span, pinned).await;
            // Shared without holding up the answer: a duplicate waits for it.
            let (cluster, tenant, key, shared, span) = (
                Arc::clone(cluster),
                Arc::clone(tenant),
                key.to_owned(),
                body.clone(),
                span.clone(),
            );
            let made = span.made().cloned().unwrap_or_else(Span::none);
            tokio::spawn(
                async move {
                    if let Err(e) = cluster.answered(&tenant.id, &key, &shared).await
                        && failure_line(&tenant)
                    {
                        span.in_scope(|| warn!(cause = %e, "the answer could not be shared; a repeated delivery to another node may run the plugin again"));
                    }
                }
                .instrument(made),
            );
            Ok(body)
        }
        Ok(Claim::Running(node)) => Err(unreachable(format!(
            "node {node} still holds the delivery after its claim should have expired"
        ))),
        Ok(Claim::Answered(body)) => {
            debug!("repeated delivery answered by another node");
            tenant.state.stats.webhook(kind, Outcome::Duplicate);
            Ok(body)
        }
        Err(e) => Err(unreachable(e.to_string())),
    }
}

/// What the host made of one event.
#[derive(Debug)]
pub struct Handled {
    /// The answer 8x8 gets: the plugin's callflow, the tenant's fallback, or [`ACK_BODY`].
    pub body: Bytes,
    /// How the answer came about, as `/metrics` counts it.
    pub outcome: Outcome,
    /// Why the plugin's answer was not used, when it was not.
    pub failure: Option<EventFailure>,
    /// Fuel used and wall-clock time, when the plugin ran to the end.
    pub cost: Option<(u64, Duration)>,
}

/// Runs the tenant's plugin for `event` and decides the answer, exactly as a webhook is
/// answered, minus the duplicate cache, the log line and the webhook counter: the
/// simulator's way in, so that a simulated call meets the server's own rules.
pub async fn process(
    registry: &Registry,
    kv: &Arc<dyn KvStore>,
    tenant: &Arc<Tenant>,
    event: &Event,
) -> Handled {
    process_on(registry, kv, tenant, event, &EventSpan::current(), None).await
}

/// Runs `plugin`, one of the tenant's versions (not necessarily the active one), for
/// `event` with the tenant's state in `kv` (a scratch store), and decides the answer as
/// [`process`] does, minus the pins: the dev phone's way in. The tenant's admission
/// applies ([`Admission::scratch`](crate::tenant::Admission::scratch): the tenant's rate
/// and concurrency, not its counters); the plugin's log lines go to `logs`.
pub async fn process_version(
    registry: &Registry,
    kv: &Arc<dyn KvStore>,
    tenant: &Arc<Tenant>,
    plugin: &LoadedPlugin,
    event: &Event,
    logs: Arc<PluginLogs>,
) -> Handled {
    let result = match tenant.admit(registry.runtime(), kv) {
        Err(refusal) => Err(EventFailure::from(refusal)),
        Ok(admission) => admission
            .scratch(logs)
            .event(plugin, event)
            .await
            .map_err(EventFailure::from),
    };
    let mut cost = None;
    let result = result.and_then(|answered| {
        cost = Some((answered.fuel_used, answered.elapsed));
        if event.kind() == EventKind::CallAction {
            answer(answered.callflow)
        } else {
            Ok(Bytes::new())
        }
    });
    decide(tenant, event.kind(), result, cost)
}

/// [`process`], with the call's version when the cluster already named it (with the
/// delivery's claim).
async fn process_on(
    registry: &Registry,
    kv: &Arc<dyn KvStore>,
    tenant: &Arc<Tenant>,
    event: &Event,
    span: &EventSpan,
    pinned: Option<String>,
) -> Handled {
    let mut cost = None;
    let result = invoke(registry, kv, tenant, event, span, pinned, &mut cost).await;
    decide(tenant, event.kind(), result, cost)
}

/// The answer to an event of `kind` the plugin answered with `result`.
fn decide(
    tenant: &Tenant,
    kind: EventKind,
    result: Result<Bytes, EventFailure>,
    cost: Option<(u64, Duration)>,
) -> Handled {
    let (body, outcome, failure) = match (kind, result) {
        (EventKind::CallAction, Ok(body)) => (body, Outcome::Answered, None),
        (EventKind::CallAction, Err(failure)) => (
            tenant.fallback_body.clone(),
            Outcome::Fallback,
            Some(failure),
        ),
        (_, Ok(_)) => (Bytes::from_static(ACK_BODY), Outcome::Handled, None),
        (_, Err(failure)) => (Bytes::from_static(ACK_BODY), Outcome::Failed, Some(failure)),
    };
    Handled {
        body,
        outcome,
        failure,
        cost,
    }
}

async fn invoke(
    registry: &Registry,
    kv: &Arc<dyn KvStore>,
    tenant: &Arc<Tenant>,
    event: &Event,
    span: &EventSpan,
    cluster_pin: Option<String>,
    cost: &mut Option<(u64, Duration)>,
) -> Result<Bytes, EventFailure> {
    // Admitted first: a flood over the tenant's limits costs no load and no pin.
    let admission = tenant.admit(registry.runtime(), kv)?.in_span(span.clone());
    // A call stays on the version that answered its first event, across reloads (and,
    // in a cluster, across nodes).
    let pinned = event.session_id().and_then(|s| tenant.state.pins.get(s));
    let plugin = match pinned {
        Some(plugin) => plugin,
        None => {
            let current = tenant.plugin.get().await.map_err(EventFailure::NotLoaded)?;
            match (event.session_id(), registry.cluster()) {
                (Some(session), Some(cluster)) => {
                    let plugin = pinned_in_cluster(
                        registry,
                        cluster,
                        tenant,
                        session,
                        span,
                        current,
                        cluster_pin,
                    )
                    .await?;
                    tenant.state.pins.pin(session, &plugin)
                }
                (Some(session), None) => tenant.state.pins.pin(session, &current),
                (None, _) => current,
            }
        }
    };
    span.set_version(&plugin);
    let answered = admission.event(&plugin, event).await;
    if let Event::SessionSummary(summary) = event {
        tenant.state.pins.release(&summary.session_id);
        if let Some(cluster) = registry.cluster()
            && let Err(e) = cluster.unpin(&tenant.id, &summary.session_id).await
        {
            debug!(cause = %e, "the call's pin stays until it expires");
        }
    }
    let answered = answered?;
    *cost = Some((answered.fuel_used, answered.elapsed));
    if event.kind() == EventKind::CallAction {
        answer(answered.callflow)
    } else {
        Ok(Bytes::new())
    }
}
