//! The operator's API under `/v1/admin`: tenants, plugin versions, status, recent
//! activity and log lines, dry runs.
//!
//! Authenticated ([`super::auth`]) with the operator token (every tenant) or a tenant
//! token (its own tenant only; listing, creating, changing or deleting tenants is the
//! operator's).
//!
//! Uploads and activations go through the same path as the tenants directory watcher:
//! files are written atomically by [`crate::tenant::repo`], then [`Registry::reload`] swaps the
//! tenant in. A plugin is checked (component, our world, compiles, size) before it is
//! stored, so a rejected upload changes nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;

use super::auth::{Identity, authorize, identify, operator_only};
use super::bodies::{
    Activity, ActivityPoint, DryRun, DryRunResult, KvStatus, LimitsStatus, Logs, NodesReady,
    Quantiles, Role, TenantList, TenantStatus, Uploaded, VersionEntry, VersionList, VersionStatus,
    WhoAmI,
};
use super::{AppState, HttpError, Params, read_body, tenant_or_404};
use crate::config::TenantConfig;
use crate::metrics::FAILURE_REASONS;
use crate::runtime::LoadError;
use crate::store::{KvStore, MemoryStore};
use crate::tenant::repo::Version;
use crate::tenant::sync::NewVersions;
use crate::tenant::{Refusal, Reloaded, Tenant, valid_id};

/// Largest `tenant.toml` accepted, in bytes.
const MAX_TENANT_TOML_BYTES: usize = 64 << 10;

/// How long an upload to a cluster waits for every live node to compile the new version
/// before it activates it anyway (a late node serves it once it has compiled it).
const UPLOAD_WAITS_FOR_NODES: Duration = Duration::from_secs(30);

/// Bytes of keys and values a dry run's scratch store holds.
const DRY_RUN_STORE_BYTES: usize = 16 << 20;

/// The admin routes, to be merged into the app.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/whoami", get(whoami))
        .route("/v1/admin/tenants", get(list_tenants))
        .route(
            "/v1/admin/tenants/{tenant}",
            get(status).put(put_tenant).delete(delete_tenant),
        )
        .route(
            "/v1/admin/tenants/{tenant}/versions",
            get(list_versions).post(upload),
        )
        .route(
            "/v1/admin/tenants/{tenant}/versions/{digest}/activate",
            post(activate),
        )
        .route(
            "/v1/admin/tenants/{tenant}/versions/{digest}/dry-run",
            post(dry_run),
        )
        .route("/v1/admin/tenants/{tenant}/rollback", post(rollback))
        .route("/v1/admin/tenants/{tenant}/activity", get(activity))
        .route("/v1/admin/tenants/{tenant}/logs", get(logs))
}

/// The version the tenant serves (known before it is loaded).
fn active_version(tenant: &Tenant) -> Option<String> {
    tenant.plugin.digest().map(str::to_owned)
}

async fn whoami(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, HttpError> {
    let who = match identify(&state, &headers)? {
        Identity::Operator => WhoAmI {
            role: Role::Operator,
            tenant: None,
        },
        Identity::Tenant(id) => WhoAmI {
            role: Role::Tenant,
            tenant: Some(id.to_string()),
        },
    };
    Ok(Json(who).into_response())
}

async fn list_tenants(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    operator_only(authorize(&state, &headers, None)?)?;
    let mut tenants = Vec::new();
    for tenant in state.registry.all() {
        tenants.push(status_json(&state, &tenant).await);
    }
    Ok(Json(TenantList { tenants }).into_response())
}

async fn status(
    State(state): State<AppState>,
    Params(id): Params<String>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    authorize(&state, &headers, Some(&id))?;
    let tenant = tenant_or_404(&state, &id)?;
    Ok(Json(status_json(&state, &tenant).await).into_response())
}

async fn status_json(state: &AppState, tenant: &Tenant) -> TenantStatus {
    let stats = &tenant.state.stats;
    let quota = tenant.config.limits.sandbox.kv_quota;
    // The store may be unreachable (a cluster's Redis): the rest of the status still is.
    let usage = state.kv.usage(&tenant.id).await.ok();
    let failures = FAILURE_REASONS
        .iter()
        .filter_map(|r| {
            let n = stats.failures(r);
            (n > 0).then(|| ((*r).to_owned(), n))
        })
        .collect();
    let loaded_at = tenant
        .loaded_at
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    TenantStatus {
        tenant: tenant.id.to_string(),
        active_version: active_version(tenant),
        plugin_resident: tenant.plugin.is_loaded(),
        plugin_error: tenant.plugin.error().map(|e| e.to_string()),
        loaded_at,
        last_load: tenant.state.last_load(),
        stored_versions: state
            .registry
            .repo()
            .versions(&tenant.id)
            .map(|v| v.len())
            .unwrap_or(0),
        invocations: stats.invocations(),
        failures,
        fuel: Quantiles {
            p50: stats.fuel.quantile(0.5),
            p99: stats.fuel.quantile(0.99),
        },
        latency_us: Quantiles {
            p50: stats.latency_us.quantile(0.5),
            p99: stats.latency_us.quantile(0.99),
        },
        in_flight: tenant.state.in_flight(),
        pinned_calls: tenant.state.pins.len(),
        kv: KvStatus {
            keys: usage.map(|u| u.keys),
            bytes: usage.map(|u| u.bytes),
            quota_keys: quota.keys,
            quota_bytes: quota.bytes,
            refused: stats.kv_refused(),
        },
        limits: limits_json(&tenant.config.limits),
        config: tenant
            .config
            .config
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        recent: ActivityPoint::from(
            &tenant
                .state
                .activity
                .recent(stats, crate::tenant::unix_seconds()),
        ),
    }
}

fn limits_json(limits: &crate::config::TenantLimits) -> LimitsStatus {
    let sandbox = &limits.sandbox;
    LimitsStatus {
        fuel: sandbox.fuel,
        timeout_ms: u64::try_from(sandbox.timeout.as_millis()).unwrap_or(u64::MAX),
        memory_bytes: sandbox.memory_bytes,
        output_bytes: sandbox.output_bytes as u64,
        kv_ops: sandbox.kv_ops,
        log_lines: sandbox.log_lines,
        log_lines_per_second: sandbox.log_lines_per_second,
        fuel_per_second: limits.fuel_per_second,
        max_concurrency: limits.max_concurrency,
    }
}

async fn activity(
    State(state): State<AppState>,
    Params(id): Params<String>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    authorize(&state, &headers, Some(&id))?;
    let tenant = tenant_or_404(&state, &id)?;
    let points = tenant
        .state
        .activity
        .points(&tenant.state.stats, crate::tenant::unix_seconds())
        .into_iter()
        .map(|p| ActivityPoint::from(&p))
        .collect();
    Ok(Json(Activity {
        tenant: id,
        interval_s: crate::tenant::activity::STEP_S,
        points,
    })
    .into_response())
}

async fn logs(
    State(state): State<AppState>,
    Params(id): Params<String>,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, HttpError> {
    authorize(&state, &headers, Some(&id))?;
    let tenant = tenant_or_404(&state, &id)?;
    let after = after_param(request.uri().query())?;
    let (lines, missed) = tenant.state.plugin_logs.since(after);
    Ok(Json(Logs {
        tenant: id,
        lines,
        missed,
        next: tenant.state.plugin_logs.next_seq(),
    })
    .into_response())
}

/// `?after=N` (0 when absent): log lines numbered after N.
fn after_param(query: Option<&str>) -> Result<u64, HttpError> {
    let mut after = 0;
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        after = match pair.split_once('=') {
            Some(("after", n)) => n.parse().map_err(|_| {
                HttpError::InvalidQuery(format!(
                    "after={n:?}: give the number of the last line you have (0 or more)"
                ))
            })?,
            _ => {
                return Err(HttpError::InvalidQuery(format!(
                    "unexpected query {pair:?}: this route takes only after=N"
                )));
            }
        };
    }
    Ok(after)
}

async fn put_tenant(
    State(state): State<AppState>,
    Params(id): Params<String>,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, HttpError> {
    operator_only(authorize(&state, &headers, Some(&id))?)?;
    if !valid_id(&id) {
        return Err(HttpError::InvalidTenantId);
    }
    let body = read_body(
        request.into_body(),
        MAX_TENANT_TOML_BYTES,
        state.body_timeout,
    )
    .await?;
    let text = std::str::from_utf8(&body).map_err(|_| HttpError::InvalidToml)?;
    let repo = state.registry.repo();
    // Check before writing, so a refused configuration changes nothing.
    TenantConfig::parse(text, &repo.tenant_dir(&id), state.registry.host())
        .map_err(|e| HttpError::InvalidConfig(e.to_string()))?;
    let created = !repo.exists(&id);
    let tenant = commit(&state, &id, Change::Config(text))
        .await?
        .ok_or_else(|| HttpError::UnknownTenant(id.clone()))?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(status_json(&state, &tenant).await)).into_response())
}

async fn delete_tenant(
    State(state): State<AppState>,
    Params(id): Params<String>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    operator_only(authorize(&state, &headers, Some(&id))?)?;
    tenant_or_404(&state, &id)?;
    commit(&state, &id, Change::Delete).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// On a cluster node, brings the tenant's mirror in step first (a version uploaded
/// through another node a moment ago is then here).
async fn refresh(state: &AppState, id: &str) -> Result<(), HttpError> {
    if let Some(cluster) = state.registry.cluster() {
        crate::tenant::sync::apply(&state.registry, cluster, id, NewVersions::Store)
            .await
            .map_err(|_| HttpError::StoreUnavailable)?;
    }
    Ok(())
}

/// A change an operator makes to a tenant.
#[derive(Debug, Clone, Copy)]
enum Change<'a> {
    /// Its `tenant.toml` (already validated).
    Config(&'a str),
    /// Away with it.
    Delete,
    /// A new version (already checked).
    Version {
        digest: &'a str,
        wasm: &'a axum::body::Bytes,
    },
    /// This version becomes the active one.
    Activate(&'a str),
}

/// Makes `change`: on a cluster node, in the cluster's catalog (every node follows it),
/// then in this node's mirror at once; on a single host, in the tenants directory. Then
/// the tenant is reloaded; returns it as it now serves (`None` once deleted).
async fn commit(
    state: &AppState,
    id: &str,
    change: Change<'_>,
) -> Result<Option<Arc<Tenant>>, HttpError> {
    let Some(cluster) = state.registry.cluster() else {
        let repo = state.registry.repo();
        let written = match change {
            Change::Config(toml) => repo.write_config(id, toml),
            Change::Delete => repo.delete(id),
            // Megabytes written and synced: off the serving workers.
            Change::Version { wasm, .. } => {
                let (registry, owned, wasm) =
                    (Arc::clone(&state.registry), id.to_owned(), wasm.clone());
                tokio::task::spawn_blocking(move || {
                    registry.repo().add_version(&owned, &wasm).map(|_| ())
                })
                .await
                .map_err(|e| HttpError::storage("writing the version", e))?
            }
            Change::Activate(digest) => repo.activate(id, digest),
        };
        written.map_err(|e| HttpError::disk("writing the tenants directory", &e))?;
        if let Change::Version { .. } = change {
            return Ok(state.registry.get(id));
        }
        return match reload(state, id).await {
            Ok(tenant) => Ok(Some(tenant)),
            Err(HttpError::UnknownTenant(_)) => Ok(None),
            Err(e) => Err(e),
        };
    };
    let written = match change {
        Change::Config(toml) => cluster.put_config(id, toml).await,
        Change::Delete => cluster.delete_tenant(id).await,
        Change::Version { digest, wasm } => cluster.add_version(id, digest, wasm).await,
        Change::Activate(digest) => cluster.activate(id, digest).await,
    };
    written.map_err(|_| HttpError::StoreUnavailable)?;
    crate::tenant::sync::apply(&state.registry, cluster, id, NewVersions::Compile)
        .await
        .map_err(|e| HttpError::storage("bringing this node in step", e))?;
    Ok(state.registry.get(id))
}

async fn reload(state: &AppState, id: &str) -> Result<Arc<Tenant>, HttpError> {
    let registry = Arc::clone(&state.registry);
    let owned = id.to_owned();
    let result = tokio::task::spawn_blocking(move || registry.reload(&owned))
        .await
        .map_err(|e| HttpError::storage("reloading", e))?;
    match result {
        Ok(Reloaded::Loaded(tenant)) => Ok(tenant),
        Ok(Reloaded::Removed) => Err(HttpError::UnknownTenant(id.to_owned())),
        Err(e) => Err(HttpError::InvalidConfig(e.to_string())),
    }
}

async fn list_versions(
    State(state): State<AppState>,
    Params(id): Params<String>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    authorize(&state, &headers, Some(&id))?;
    let tenant = tenant_or_404(&state, &id)?;
    let active = active_version(&tenant);
    let versions = state
        .registry
        .repo()
        .versions(&id)
        .map_err(|e| HttpError::storage("listing versions", e))?
        .into_iter()
        .map(|v| VersionEntry {
            status: if active.as_deref() == Some(v.digest.as_str()) {
                VersionStatus::Active
            } else {
                VersionStatus::Inactive
            },
            digest: v.digest,
            size: v.size,
            uploaded_at: v.uploaded_at,
        })
        .collect();
    Ok(Json(VersionList {
        tenant: id,
        versions,
    })
    .into_response())
}

async fn upload(
    State(state): State<AppState>,
    Params(id): Params<String>,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, HttpError> {
    authorize(&state, &headers, Some(&id))?;
    tenant_or_404(&state, &id)?;
    let activate = activate_param(request.uri().query())?;
    let max = state.registry.runtime().max_plugin_bytes();
    let wasm = read_body(request.into_body(), max, state.body_timeout)
        .await
        .map_err(|e| match e {
            HttpError::BodyTooLarge(_) => HttpError::PluginRejected(LoadError::TooLarge {
                bytes: max + 1,
                max,
            }),
            other => other,
        })?;
    // Every check runs before anything is stored: compile on the compile threads, with
    // a place in their queue (refused, 429, when the tenant or the host has too many).
    let runtime = Arc::clone(state.registry.runtime());
    let ticket = runtime.admit_compile(&id).map_err(HttpError::CompileBusy)?;
    let checked = wasm.clone();
    let plugin = tokio::task::spawn_blocking(move || {
        let _ticket = ticket;
        runtime.load(&checked)
    })
    .await
    .map_err(|e| HttpError::storage("checking the plugin", e))?
    .map_err(HttpError::PluginRejected)?;
    commit(
        &state,
        &id,
        Change::Version {
            digest: plugin.digest(),
            wasm: &wasm,
        },
    )
    .await?;
    // On a cluster, every node compiles the new version as its bytes arrive; it is
    // activated once they all can serve it, so that it serves everywhere at once.
    let mut nodes = None;
    if let Some(cluster) = state.registry.cluster()
        && activate
    {
        let readiness = cluster
            .await_ready(&id, plugin.digest(), UPLOAD_WAITS_FOR_NODES)
            .await
            .map_err(|_| HttpError::StoreUnavailable)?;
        if !readiness.late.is_empty() {
            tracing::warn!(
                tenant = id,
                late = ?readiness.late,
                "activating a version some nodes have not compiled yet: they serve it once they have"
            );
        }
        nodes = Some(NodesReady {
            ready: readiness.ready,
            late: readiness.late,
        });
    }
    if activate {
        commit(&state, &id, Change::Activate(plugin.digest())).await?;
    }
    let version = state
        .registry
        .repo()
        .version(&id, plugin.digest())
        .ok_or_else(|| {
            HttpError::storage("storing the version", "it is not there after writing")
        })?;
    Ok((
        StatusCode::CREATED,
        Json(upload_json(&version, activate, nodes)),
    )
        .into_response())
}

/// `?activate=true|false` (true when absent); any other parameter or value is refused, so
/// that a typo never activates what was meant to be stored only.
fn activate_param(query: Option<&str>) -> Result<bool, HttpError> {
    let mut activate = true;
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        activate = match pair.split_once('=') {
            Some(("activate", "true")) => true,
            Some(("activate", "false")) => false,
            _ => {
                return Err(HttpError::InvalidQuery(format!(
                    "unexpected query {pair:?}: this route takes only activate=true or activate=false"
                )));
            }
        };
    }
    Ok(activate)
}

/// What an upload answers: the version, whether it is active, and on a cluster which
/// live nodes had compiled it when it was activated.
fn upload_json(version: &Version, activated: bool, nodes: Option<NodesReady>) -> Uploaded {
    Uploaded {
        digest: version.digest.clone(),
        size: version.size,
        uploaded_at: version.uploaded_at,
        activated,
        nodes,
    }
}

async fn activate(
    State(state): State<AppState>,
    Params((id, digest)): Params<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    authorize(&state, &headers, Some(&id))?;
    tenant_or_404(&state, &id)?;
    activate_version(&state, &id, &digest).await
}

async fn activate_version(state: &AppState, id: &str, digest: &str) -> Result<Response, HttpError> {
    // A cluster's versions are the catalog's (one uploaded through another node a moment
    // ago may not be in this node's mirror yet; `commit` brings it).
    let known = match state.registry.cluster() {
        Some(cluster) => cluster
            .tenant(id)
            .await
            .map_err(|_| HttpError::StoreUnavailable)?
            .versions
            .iter()
            .any(|v| v == digest),
        None => state.registry.repo().version(id, digest).is_some(),
    };
    if !known {
        return Err(HttpError::UnknownVersion {
            tenant: id.to_owned(),
            digest: digest.to_owned(),
        });
    }
    let tenant = commit(state, id, Change::Activate(digest))
        .await?
        .ok_or_else(|| HttpError::UnknownTenant(id.to_owned()))?;
    Ok(Json(status_json(state, &tenant).await).into_response())
}

async fn rollback(
    State(state): State<AppState>,
    Params(id): Params<String>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    authorize(&state, &headers, Some(&id))?;
    tenant_or_404(&state, &id)?;
    // A cluster's history is the catalog's: a node may not have seen every activation.
    let previous = match state.registry.cluster() {
        Some(cluster) => cluster
            .tenant(&id)
            .await
            .map_err(|_| HttpError::StoreUnavailable)?
            .previous()
            .map(str::to_owned),
        None => state.registry.repo().previous(&id),
    }
    .ok_or_else(|| HttpError::NothingToRollBackTo(id.clone()))?;
    activate_version(&state, &id, &previous).await
}

async fn dry_run(
    State(state): State<AppState>,
    Params((id, digest)): Params<(String, String)>,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, HttpError> {
    authorize(&state, &headers, Some(&id))?;
    let tenant = tenant_or_404(&state, &id)?;
    // The version's bytes must be in this node's mirror to run it here.
    refresh(&state, &id).await?;
    let repo = state.registry.repo();
    if repo.version(&id, &digest).is_none() {
        return Err(HttpError::UnknownVersion { tenant: id, digest });
    }
    let body = read_body(
        request.into_body(),
        state.registry.host().max_body_bytes,
        state.body_timeout,
    )
    .await?;
    let event = callflow_wire::parse_webhook(&body)
        .map_err(|e| HttpError::Webhook(crate::webhook::WebhookError::Parse(e)))?;
    let runtime = Arc::clone(state.registry.runtime());
    let path = repo.version_path(&id, &digest);
    let version = digest.clone();
    let plugin =
        tokio::task::spawn_blocking(move || runtime.load_version_for_call(&version, &path))
            .await
            .map_err(|e| HttpError::storage("loading the version", e))?
            .map_err(HttpError::PluginRejected)?;
    // A scratch store, discarded after the call: a dry run never touches live state.
    let scratch: Arc<dyn KvStore> = Arc::new(MemoryStore::new(DRY_RUN_STORE_BYTES));
    // The same admission as a webhook's: the tenant's fuel rate and concurrency cap.
    let admission = tenant
        .admit(state.registry.runtime(), &scratch)
        .map_err(|refusal| match refusal {
            Refusal::Busy(n) => HttpError::ConcurrencyLimit(n),
            Refusal::FuelRate(n) => HttpError::FuelRateLimit(n),
        })?;
    let start = Instant::now();
    let result = admission.event(&plugin, &event).await;
    let elapsed_us = start.elapsed().as_micros();
    let fallback = || serde_json::from_slice::<Value>(&tenant.fallback_body).unwrap_or(Value::Null);
    let failed = |failure: &'static str, message: String| DryRunResult::Failure {
        failure,
        message,
        fallback: fallback(),
    };
    let elapsed_us = u64::try_from(elapsed_us).unwrap_or(u64::MAX);
    let answer = match result {
        Ok(answered) => DryRun {
            version: digest,
            fuel_used: Some(answered.fuel_used),
            elapsed_us,
            result: match crate::callflow::answer(answered.callflow) {
                Ok(body) => DryRunResult::Answer {
                    answer: serde_json::from_slice(&body).unwrap_or(Value::Null),
                },
                Err(failure) => failed(failure.reason(), failure.to_string()),
            },
        },
        Err(failure) => DryRun {
            version: digest,
            fuel_used: None,
            elapsed_us,
            result: failed(failure.reason(), failure.to_string()),
        },
    };
    Ok(Json(answer).into_response())
}
