//! The axum edge: routes, content type and size checks, tenant lookup, webhook
//! authentication, and the one error type every refusal goes through.
//!
//! Every refusal is a specific 4xx with a JSON body `{"code": ..., "message": ...}`,
//! logged once. Once a webhook is understood and authenticated, the answer is always
//! 200 (see [`crate::webhook`]): 8x8 has no fallback URL.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use callflow_wire::ParseError;
use serde_json::json;
use subtle::ConstantTimeEq;
use tracing::{Instrument, field::Empty, info, info_span};

use crate::admin::AdminAuth;
use crate::store::KvStore;
use crate::tenant::{Registry, Tenant};
use crate::webhook::{self, WebhookError};

/// What every request handler shares.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The tenants.
    pub registry: Arc<Registry>,
    /// Tenant state behind the plugins' `kv` import.
    pub kv: Arc<dyn KvStore>,
    /// Who may use the admin API.
    pub admin: AdminAuth,
}

/// The host's routes.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/v1/tenants/{tenant}/webhooks/voice", post(voice_webhook))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .route(
            "/openapi.json",
            get(|| async { Json(crate::openapi::document()) }),
        )
        .merge(crate::admin::routes())
        .merge(crate::api::routes())
        .fallback(not_found)
        .with_state(state)
}

/// A refusal: status, stable code, human message.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    /// A refusal with `status`, a stable `code` and a `message` for humans.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        info!(status = self.status.as_u16(), code = self.code, message = %self.message, "request refused");
        (
            self.status,
            Json(json!({ "code": self.code, "message": self.message })),
        )
            .into_response()
    }
}

impl From<WebhookError> for ApiError {
    fn from(err: WebhookError) -> Self {
        let message = err.to_string();
        match err {
            WebhookError::Parse(ParseError::Malformed(_)) => {
                ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", message)
            }
            WebhookError::Parse(ParseError::MissingField(_)) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "missing_field", message)
            }
            WebhookError::Parse(ParseError::UnknownEventType(_)) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_event_type",
                message,
            ),
            WebhookError::SubAccount(_) | WebhookError::NoSubAccount => {
                ApiError::new(StatusCode::FORBIDDEN, "sub_account_not_allowed", message)
            }
        }
    }
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

async fn ready(State(state): State<AppState>) -> Response {
    let tenants = state.registry.all();
    let residency = state.registry.residency();
    let body = Json(json!({
        "tenants": tenants.len(),
        "plugins_loaded": residency.resident,
        "plugins_failed": tenants.iter().filter(|t| t.plugin.error().is_some()).count(),
    }));
    if tenants.is_empty() {
        (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
    } else {
        body.into_response()
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let tenants = state.registry.all();
    let mut text = crate::metrics::render(tenants.iter().map(|t| (&*t.id, &t.state.stats)));
    text.push_str("# HELP callflow_plugin_loaded Whether the tenant's plugin is in memory (plugins load on first event and are evicted when idle).\n# TYPE callflow_plugin_loaded gauge\n");
    for t in &tenants {
        text.push_str(&format!(
            "callflow_plugin_loaded{{tenant=\"{}\"}} {}\n",
            t.id,
            u8::from(t.plugin.is_loaded())
        ));
    }
    text.push_str("# HELP callflow_plugin_load_failed Whether the tenant's plugin failed its last load.\n# TYPE callflow_plugin_load_failed gauge\n");
    for t in &tenants {
        text.push_str(&format!(
            "callflow_plugin_load_failed{{tenant=\"{}\"}} {}\n",
            t.id,
            u8::from(t.plugin.error().is_some())
        ));
    }
    let residency = state.registry.residency();
    text.push_str(&format!(
        "# HELP callflow_plugins_resident Distinct plugins (by digest) that tenants hold in memory.\n# TYPE callflow_plugins_resident gauge\ncallflow_plugins_resident {}\n\
         # HELP callflow_tenants_resident Tenants whose plugin is in memory.\n# TYPE callflow_tenants_resident gauge\ncallflow_tenants_resident {}\n\
         # HELP callflow_plugins_resident_max The bound on plugins in memory (max_loaded_plugins).\n# TYPE callflow_plugins_resident_max gauge\ncallflow_plugins_resident_max {}\n\
         # HELP callflow_components_in_memory Distinct compiled components in memory (tenants sharing a digest share one).\n# TYPE callflow_components_in_memory gauge\ncallflow_components_in_memory {}\n\
         # HELP callflow_plugin_loads_total Plugins loaded on demand (first event, or after an eviction).\n# TYPE callflow_plugin_loads_total counter\ncallflow_plugin_loads_total {}\n\
         # HELP callflow_plugin_evictions_total Tenants' plugins dropped from memory to stay within max_loaded_plugins.\n# TYPE callflow_plugin_evictions_total counter\ncallflow_plugin_evictions_total {}\n",
        residency.resident,
        residency.tenants,
        residency.capacity,
        state.registry.runtime().components_in_memory(),
        residency.loads,
        residency.evictions,
    ));
    text.push_str("# HELP callflow_reloads_total Tenant (re)loads, by tenant and result.\n# TYPE callflow_reloads_total counter\n");
    for t in &tenants {
        let load = t.state.last_load();
        text.push_str(&format!(
            "callflow_reloads_total{{tenant=\"{}\",result=\"ok\"}} {}\ncallflow_reloads_total{{tenant=\"{}\",result=\"failed\"}} {}\n",
            t.id,
            load.loads - load.failures,
            t.id,
            load.failures
        ));
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        text,
    )
        .into_response()
}

async fn voice_webhook(
    State(state): State<AppState>,
    Path(tenant_id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let span = info_span!(
        "webhook",
        tenant = %tenant_id,
        event_type = Empty,
        session_id = Empty,
        call_id = Empty,
        event_id = Empty,
        version = Empty,
    );
    async move {
        let tenant = state.registry.get(&tenant_id).ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_tenant",
                format!("no tenant named {tenant_id:?}"),
            )
        })?;
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        authenticate(&tenant, request.headers(), peer)?;
        check_content_type(request.headers())?;
        let limit = state.registry.host().max_body_bytes;
        let body = read_body(request.into_body(), limit).await?;
        let answer = webhook::handle(state.registry.runtime(), &state.kv, &tenant, &body).await?;
        Ok((
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            answer,
        )
            .into_response())
    }
    .instrument(span)
    .await
}

/// Checks the tenant's webhook authentication: the static `Authorization` value (compared
/// in constant time) and the source-IP allowlist.
fn authenticate(
    tenant: &Tenant,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
) -> Result<(), ApiError> {
    let auth = &tenant.config.auth;
    if !auth.allowed_ips.is_empty() {
        let allowed = peer.is_some_and(|p| auth.allows_ip(p.ip()));
        if !allowed {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "ip_not_allowed",
                format!(
                    "source address {} is not in the tenant's allowlist",
                    peer.map_or_else(|| "unknown".to_owned(), |p| p.ip().to_string())
                ),
            ));
        }
    }
    if let Some(expected) = &auth.authorization {
        let given = headers
            .get(header::AUTHORIZATION)
            .map_or(&[][..], HeaderValue::as_bytes);
        if given.is_empty() {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing_authorization",
                "this tenant requires an Authorization header",
            ));
        }
        if !bool::from(given.ct_eq(expected.as_bytes())) {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "bad_authorization",
                "the Authorization header does not match the tenant's",
            ));
        }
    }
    Ok(())
}

fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("expected Content-Type application/json, got {content_type:?}"),
        ))
    }
}

/// The whole body, or 413 `body_too_large` past `limit` bytes.
pub(crate) async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body exceeds the limit of {limit} bytes"),
        )
    };
    axum::body::to_bytes(body, limit).await.map_err(|err| {
        let is_limit = std::error::Error::source(&err)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if is_limit {
            too_large()
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "unreadable_body",
                format!("the body could not be read: {err}"),
            )
        }
    })
}
