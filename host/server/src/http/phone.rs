//! The dev phone's routes under `/v1/admin/tenants/{tenant}/phone/calls`: place a call
//! against one of the tenant's versions, press keys at its prompts, read it, hang up.
//! Authenticated as the admin API is ([`super::auth`]); the calls themselves are
//! [`crate::phone`]'s.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use callflow_wire::number;
use callflow_wire::platform::{CallSetup, Press};

use super::auth::authorize;
use super::bodies::{Dial, PhonePress};
use super::{AppState, HttpError, Params, read_body, tenant_or_404};
use crate::config::SubAccounts;
use crate::runtime::LoadedPlugin;
use crate::tenant::Tenant;
use crate::tenant::sync::NewVersions;

/// Largest request body: a few numbers, a digest or some keys.
const MAX_BODY_BYTES: usize = 4 << 10;

/// Most keys taken at one prompt (8x8's `maxDigits` is at most 25, with `#`).
const MAX_KEYS: usize = 32;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/tenants/{tenant}/phone/calls", post(dial))
        .route(
            "/v1/admin/tenants/{tenant}/phone/calls/{call}",
            get(show).delete(hang_up),
        )
        .route(
            "/v1/admin/tenants/{tenant}/phone/calls/{call}/press",
            post(press),
        )
}

/// The request's JSON body as `T` (`{}` at least: the document says a body is required).
async fn json_body<T: serde::de::DeserializeOwned>(
    state: &AppState,
    request: Request,
) -> Result<T, HttpError> {
    let body = read_body(request.into_body(), MAX_BODY_BYTES, state.body_timeout).await?;
    serde_json::from_slice(&body).map_err(|e| {
        HttpError::InvalidRequest(format!("the body is not what this route takes: {e}"))
    })
}

async fn dial(
    State(state): State<AppState>,
    Params(id): Params<String>,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, HttpError> {
    authorize(&state, &headers, Some(&id))?;
    let tenant = tenant_or_404(&state, &id)?;
    let dial: Dial = json_body(&state, request).await?;
    let defaults = CallSetup::default();
    let caller = phone_number("caller", dial.caller.as_deref(), &defaults.caller)?;
    let dialled = phone_number("dialled", dial.dialled.as_deref(), &defaults.virtual_number)?;
    // Before any loading: a tenant at its calls' bound costs nothing more.
    state.phones.room_for(&tenant.id)?;
    let plugin = match dial.version {
        Some(digest) => version(&state, &tenant, digest).await?,
        None => tenant
            .plugin
            .get()
            .await
            .map_err(|e| HttpError::PluginUnavailable(e.to_string()))?,
    };
    let setup = CallSetup {
        caller,
        virtual_number: dialled,
        sub_account_id: match &tenant.config.sub_accounts {
            SubAccounts::Only(ids) if !ids.is_empty() => ids[0].clone(),
            _ => defaults.sub_account_id.clone(),
        },
        started_at_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0)),
        ..defaults
    };
    let call = state
        .phones
        .dial(&state.registry, tenant, plugin, setup)
        .await?;
    Ok((StatusCode::CREATED, Json(call)).into_response())
}

/// A number from the request (as the schema says: E.164, the `+` optional) with its `+`,
/// or `default`; 400 otherwise.
fn phone_number(field: &str, given: Option<&str>, default: &str) -> Result<String, HttpError> {
    let Some(given) = given else {
        return Ok(default.to_owned());
    };
    if number::is_e164(given) {
        Ok(number::normalize(given))
    } else {
        Err(HttpError::InvalidRequest(format!(
            "{field} {given:?} is not an E.164 number (+ and up to 15 digits)"
        )))
    }
}

/// One of the tenant's stored versions, loaded for calls.
async fn version(
    state: &AppState,
    tenant: &Arc<Tenant>,
    digest: String,
) -> Result<LoadedPlugin, HttpError> {
    // On a cluster node, a version uploaded through another node may be on its way here.
    if let Some(cluster) = state.registry.cluster() {
        crate::tenant::sync::apply(&state.registry, cluster, &tenant.id, NewVersions::Store)
            .await
            .map_err(|_| HttpError::StoreUnavailable)?;
    }
    let repo = state.registry.repo();
    if repo.version(&tenant.id, &digest).is_none() {
        return Err(HttpError::UnknownVersion {
            tenant: tenant.id.to_string(),
            digest,
        });
    }
    let runtime = Arc::clone(state.registry.runtime());
    let path = repo.version_path(&tenant.id, &digest);
    tokio::task::spawn_blocking(move || runtime.load_version_for_call(&digest, &path))
        .await
        .map_err(|e| HttpError::storage("loading the version", e))?
        .map_err(HttpError::PluginRejected)
}

async fn show(
    State(state): State<AppState>,
    Params((id, call)): Params<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    authorize(&state, &headers, Some(&id))?;
    Ok(Json(state.phones.get(&id, &call).await?).into_response())
}

async fn press(
    State(state): State<AppState>,
    Params((id, call)): Params<(String, String)>,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, HttpError> {
    authorize(&state, &headers, Some(&id))?;
    let body: PhonePress = json_body(&state, request).await?;
    // Exactly what the schema takes: keys alone (`0`-`9`, `*`, `#`, at most 32; none
    // for a try that timed out), or `hangup: true` alone.
    let press = match (body.keys, body.hangup) {
        (None, Some(true)) => Press::HangUp,
        (Some(keys), None) if keys.is_empty() => Press::Nothing,
        (Some(keys), None)
            if keys.len() <= MAX_KEYS
                && keys
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#') =>
        {
            Press::Keys(keys)
        }
        (Some(keys), None) => {
            return Err(HttpError::InvalidRequest(format!(
                "keys {keys:?}: at most {MAX_KEYS} of 0-9, * and # (\"\" for none)"
            )));
        }
        _ => {
            return Err(HttpError::InvalidRequest(
                r#"send {"keys": "1"} (or "" for none) or {"hangup": true}, not both"#.into(),
            ));
        }
    };
    let view = state
        .phones
        .press(&state.registry, &id, &call, press)
        .await?;
    Ok(Json(view).into_response())
}

async fn hang_up(
    State(state): State<AppState>,
    Params((id, call)): Params<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    authorize(&state, &headers, Some(&id))?;
    state.phones.hang_up(&state.registry, &id, &call).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
