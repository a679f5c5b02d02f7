//! `POST /v1/tenants/{tenant}/webhooks/voice`: an 8x8 voice webhook, checked at the edge
//! (tenant, webhook authentication, content type, size) and handed to
//! [`crate::webhook`] for the answer.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use subtle::ConstantTimeEq;

use super::{AppState, HttpError, Params, read_body, tenant_or_404};
use crate::tenant::Tenant;

/// The webhook route, to be merged into the app.
pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/v1/tenants/{tenant}/webhooks/voice", post(voice_webhook))
}

async fn voice_webhook(
    State(state): State<AppState>,
    Params(tenant_id): Params<String>,
    request: Request,
) -> Result<Response, HttpError> {
    let tenant = tenant_or_404(&state, &tenant_id)?;
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    authenticate(&tenant, request.headers(), peer)?;
    check_content_type(request.headers())?;
    let limit = state.registry.host().max_body_bytes;
    let body = read_body(request.into_body(), limit, state.body_timeout).await?;
    // The event's lines get their span from `webhook::handle`, once it is parsed.
    let answer =
        crate::webhook::handle(&state.registry, &state.kv, &tenant, &state.node, &body).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        answer,
    )
        .into_response())
}

/// Checks the tenant's webhook authentication: the static `Authorization` value (compared
/// in constant time) and the source-IP allowlist.
fn authenticate(
    tenant: &Tenant,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
) -> Result<(), HttpError> {
    let auth = &tenant.config.auth;
    if !auth.allowed_ips.is_empty() && !peer.is_some_and(|p| auth.allows_ip(p.ip())) {
        return Err(HttpError::IpNotAllowed(
            peer.map_or_else(|| "unknown".to_owned(), |p| p.ip().to_string()),
        ));
    }
    if let Some(expected) = &auth.authorization {
        let given = headers
            .get(header::AUTHORIZATION)
            .map_or(&[][..], HeaderValue::as_bytes);
        if given.is_empty() {
            return Err(HttpError::MissingAuthorization);
        }
        if !bool::from(given.ct_eq(expected.as_bytes())) {
            return Err(HttpError::BadAuthorization);
        }
    }
    Ok(())
}

fn check_content_type(headers: &HeaderMap) -> Result<(), HttpError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(HttpError::UnsupportedMediaType(content_type.to_owned()))
    }
}
