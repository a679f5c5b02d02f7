//! The axum edge: the router, and what every handler shares (the state, the one error
//! type, reading a body, finding the tenant, the bearer credential).
//!
//! Each handler lives in its own file and imports only this module and the rooms past
//! the edge, never another handler:
//!
//! - `webhook`: `POST /v1/tenants/{tenant}/webhooks/voice`, 8x8's voice webhooks;
//! - `api`: `/v1/tenants/{tenant}/api/{*path}`, the plugin's own API;
//! - `admin`: `/v1/admin/...`, the operator's API, and `phone`: its dev-phone calls
//!   (both authenticated by `auth`);
//! - `console`: `/console`, the web console's embedded pages;
//! - `status`: `/healthz`, `/readyz`, `/metrics`;
//! - [`openapi`]: `/openapi.json`, generated from the one route table.
//!
//! Every refusal is an [`HttpError`]: a specific status with a JSON body
//! `{"code": ..., "message": ...}`, logged once. Once a webhook is understood and
//! authenticated, the answer is always 200 (see [`crate::webhook`]): 8x8 has no fallback
//! URL.

mod admin;
mod api;
mod auth;
mod bodies;
mod console;
mod error;
pub mod openapi;
mod phone;
mod serve;
mod status;
mod webhook;

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use axum::routing::get;
use axum::{Json, Router};

pub use auth::AdminAuth;
pub use error::{HttpError, flush_refusal_logs};
pub(crate) use serve::serve;

use crate::store::KvStore;
use crate::tenant::{Registry, Tenant};

/// What every request handler shares.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The tenants.
    pub registry: Arc<Registry>,
    /// Tenant state behind the plugins' `kv` import.
    pub kv: Arc<dyn KvStore>,
    /// Who may use the admin API.
    pub admin: AdminAuth,
    /// This node's name (`/readyz`, `/metrics`).
    pub node: Arc<str>,
    /// Set once the server was told to stop: `/readyz` says not ready.
    pub draining: Arc<std::sync::atomic::AtomicBool>,
    /// How long a request's body may take to arrive.
    pub body_timeout: Duration,
    /// The dev phone's calls in progress on this node.
    pub phones: Arc<crate::phone::Phones>,
}

/// The host's routes. Serve them with the client's address (a `ConnectInfo<SocketAddr>`
/// extension on each request, as [`crate::Server::run`] does): without it every
/// IP-allowlisted tenant answers 403.
pub(crate) fn app(state: AppState) -> Router {
    Router::new()
        .merge(webhook::routes())
        .merge(api::routes())
        .merge(admin::routes())
        .merge(phone::routes())
        .merge(console::routes())
        .merge(status::routes())
        .route("/openapi.json", get(|| async { Json(openapi::document()) }))
        .fallback(|| async { HttpError::NotFound })
        .with_state(state)
}

/// The path's parameters, or 400 `invalid_path` (say, a segment that is not UTF-8 once
/// percent-decoded) in the host's JSON error rather than axum's plain text.
#[derive(Debug)]
struct Params<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> axum::extract::FromRequestParts<S>
    for Params<T>
{
    type Rejection = HttpError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, HttpError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(params)) => Ok(Params(params)),
            Err(rejection) => Err(HttpError::InvalidPath(rejection.body_text())),
        }
    }
}

/// The tenant named in the path, or 404 `unknown_tenant`.
fn tenant_or_404(state: &AppState, id: &str) -> Result<Arc<Tenant>, HttpError> {
    state
        .registry
        .get(id)
        .ok_or_else(|| HttpError::UnknownTenant(id.to_owned()))
}

/// The credential of `Authorization: Bearer <credential>` (scheme in any case), if any.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let (scheme, credential) = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .split_once(' ')?;
    let credential = credential.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !credential.is_empty()).then_some(credential)
}

/// The whole body: 413 `body_too_large` past `limit` bytes, 408 `request_timeout` when
/// it does not arrive within `timeout`, 400 `unreadable_body` when it cannot be read.
async fn read_body(body: Body, limit: usize, timeout: Duration) -> Result<Bytes, HttpError> {
    let read = tokio::time::timeout(timeout, axum::body::to_bytes(body, limit))
        .await
        .map_err(|_| HttpError::RequestTimeout(timeout))?;
    read.map_err(|err| {
        let is_limit = std::error::Error::source(&err)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if is_limit {
            HttpError::BodyTooLarge(limit)
        } else {
            HttpError::UnreadableBody(err.to_string())
        }
    })
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn bearer_takes_the_scheme_in_any_case_and_nothing_empty() {
        let with = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, HeaderValue::from_static(v));
            h
        };
        assert_eq!(bearer(&with("Bearer abc")), Some("abc"));
        assert_eq!(bearer(&with("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(&with("Basic abc")), None);
        assert_eq!(bearer(&with("Bearer ")), None);
        assert_eq!(bearer(&HeaderMap::new()), None);
    }
}
