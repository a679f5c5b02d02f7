//! The tenant API edge: `/v1/tenants/{tenant}/api/{*path}`, any method, served by the
//! tenant's plugin through its `api` export.
//!
//! Owns: the API key check (`Authorization: Bearer <key>`, its sha256 compared in
//! constant time with every digest in the tenant's `api_keys_sha256`), the body limit,
//! handing the request to the tenant's [admission](crate::tenant::admission) (429 with
//! `Retry-After` over the tenant's concurrency cap or fuel rate, exactly as a webhook is
//! refused its plugin), checking the plugin's status and sanitising the headers it sets.
//!
//! Unlike a webhook this is not a call: there is no fallback. A plugin failure is a 5xx
//! JSON error with a stable code (`plugin_failed`, `plugin_timeout`), counted in the
//! tenant's failure metrics like a webhook's.
//!
//! Must not: log bodies, query strings or header values (they carry the tenant's
//! customers' data; the path is logged with long digit runs masked), or hand the caller's
//! credentials to the plugin.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use sha2::{Digest as _, Sha256};
use subtle::{Choice, ConstantTimeEq};
use tracing::{Instrument, field::Empty, info_span, warn};

use super::{AppState, HttpError, Params, bearer, read_body, tenant_or_404};
use crate::runtime::{ApiRequest, ApiResponse};
use crate::tenant::{Refusal, Tenant};

/// Request headers the plugin never sees: the caller's credentials.
const WITHHELD: &[&str] = &["authorization", "proxy-authorization", "cookie"];

/// Response headers a plugin may not set: hop-by-hop and framing headers (the host frames
/// the response), cookies, and what the server itself says.
const DROPPED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
    "set-cookie",
    "set-cookie2",
    "server",
    "date",
    "host",
];

/// Headers kept from one response at most; the rest are dropped.
const MAX_HEADERS: usize = 32;
/// Longest header value kept, in bytes.
const MAX_HEADER_VALUE: usize = 4096;

/// The API routes, to be merged into the app.
pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/v1/tenants/{tenant}/api/{*path}", any(serve))
}

async fn serve(
    State(state): State<AppState>,
    Params((tenant_id, _)): Params<(String, String)>,
    request: Request,
) -> Result<Response, HttpError> {
    let prefix = format!("/v1/tenants/{tenant_id}/api");
    // The raw path, so the plugin decodes its own parameters (`%2F` stays a character).
    let path = request
        .uri()
        .path()
        .strip_prefix(&prefix)
        .unwrap_or("/")
        .to_owned();
    let span = info_span!(
        "api",
        node = %state.node,
        tenant = %tenant_id,
        method = %request.method(),
        path = %callflow_wire::number::mask_digit_runs(&path),
        status = Empty,
        version = Empty,
    );
    async move {
        let tenant = tenant_or_404(&state, &tenant_id)?;
        authorize(&tenant, request.headers())?;
        let (parts, body) = request.into_parts();
        let body = read_body(body, state.registry.host().max_body_bytes, state.body_timeout).await?;
        let stats = &tenant.state.stats;
        if state.registry.cluster().is_some_and(|c| !c.healthy()) {
            stats.failure("store_unavailable");
            return Err(HttpError::StoreUnavailable);
        }
        // Admitted before the plugin is loaded: a flood over the limits costs a check.
        let admission = tenant
            .admit(state.registry.runtime(), &state.kv)
            .map_err(|refusal| {
                stats.failure(refusal.reason());
                match refusal {
                    Refusal::Busy(n) => HttpError::ConcurrencyLimit(n),
                    Refusal::FuelRate(n) => HttpError::FuelRateLimit(n),
                }
            })?;
        let plugin = tenant.plugin.get().await.map_err(|e| {
            stats.failure("not_loaded");
            HttpError::PluginUnavailable(e.to_string())
        })?;
        tracing::Span::current().record("version", plugin.digest());
        let api_request = ApiRequest {
            method: parts.method.as_str().to_owned(),
            path,
            query: parts.uri.query().map(str::to_owned),
            headers: forwarded(&parts.headers),
            body: body.to_vec(),
        };
        let answer = admission.request(&plugin, api_request).await.map_err(|failure| {
            stats.failure(failure.reason());
            if crate::webhook::failure_line(&tenant) {
                warn!(reason = failure.reason(), cause = %failure, "plugin failed on an API request");
            }
            HttpError::plugin(failure)
        })?;
        let response = respond(answer.response)?;
        tracing::Span::current().record("status", response.status().as_u16());
        Ok(response)
    }
    .instrument(span)
    .await
}

/// Checks `Authorization: Bearer <key>` against the tenant's key digests, every one of
/// them, in constant time.
fn authorize(tenant: &Tenant, headers: &HeaderMap) -> Result<(), HttpError> {
    let key = bearer(headers).ok_or(HttpError::MissingApiKey)?;
    let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
    let keys = &tenant.config.api_keys_sha256;
    let mut matched = Choice::from(0);
    for known in keys {
        matched |= known.ct_eq(&digest);
    }
    if bool::from(matched) {
        return Ok(());
    }
    Err(HttpError::BadApiKey(if keys.is_empty() {
        "this tenant has no API keys (`api_keys_sha256` in its tenant.toml)"
    } else {
        "the API key is not one of the tenant's"
    }))
}

/// The request headers the plugin gets: all but credentials, names in lower case, values
/// that are not UTF-8 left out.
fn forwarded(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| !WITHHELD.contains(&name.as_str()))
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect()
}

/// The plugin's response as the caller gets it: its status (if it is one), its headers
/// less the ones it may not set, JSON unless it said otherwise.
fn respond(plugin: ApiResponse) -> Result<Response, HttpError> {
    let status = StatusCode::from_u16(plugin.status)
        .ok()
        .filter(|s| (200..=599).contains(&s.as_u16()))
        .ok_or(HttpError::PluginBadResponse(plugin.status))?;
    let mut response = (status, plugin.body).into_response();
    let headers = response.headers_mut();
    headers.remove(header::CONTENT_TYPE);
    let mut kept = 0;
    for (name, value) in plugin.headers {
        let lower = name.to_ascii_lowercase();
        let valid = HeaderName::from_bytes(lower.as_bytes())
            .ok()
            .zip(HeaderValue::from_str(&value).ok())
            .filter(|_| value.len() <= MAX_HEADER_VALUE);
        match valid {
            Some((name, value)) if kept < MAX_HEADERS && !DROPPED.contains(&lower.as_str()) => {
                headers.append(name, value);
                kept += 1;
            }
            _ => tracing::debug!(header = %lower, "dropped a header the plugin set"),
        }
    }
    headers
        .entry(header::CONTENT_TYPE)
        .or_insert(HeaderValue::from_static("application/json"));
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // The plugin's answer shares its origin with the console: whatever it is (HTML a
    // plugin made up included), a browser runs no script of it and lets it load nothing.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'; frame-ancestors 'none'"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_withheld_from_the_plugin() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer k"));
        headers.insert(header::COOKIE, HeaderValue::from_static("a=b"));
        headers.insert("x-request-id", HeaderValue::from_static("r1"));
        assert_eq!(
            forwarded(&headers),
            [("x-request-id".to_owned(), "r1".to_owned())]
        );
    }

    #[test]
    fn responses_keep_safe_headers_only() {
        let response = respond(ApiResponse {
            status: 201,
            headers: vec![
                ("X-Kept".into(), "yes".into()),
                ("set-cookie".into(), "a=b".into()),
                ("Content-Length".into(), "999".into()),
                ("bad header".into(), "x".into()),
                ("x-split".into(), "a\r\nx-injected: 1".into()),
                ("content-type".into(), "text/plain".into()),
            ],
            body: b"hi".to_vec(),
        })
        .expect("valid");
        assert_eq!(response.status(), StatusCode::CREATED);
        let h = response.headers();
        assert_eq!(h.get("x-kept").map(|v| v.as_bytes()), Some(&b"yes"[..]));
        assert!(h.get("set-cookie").is_none() && h.get("x-split").is_none());
        assert_eq!(
            h.get("content-type").map(|v| v.as_bytes()),
            Some(&b"text/plain"[..])
        );
        assert!(h.get("content-length").is_none_or(|v| v.as_bytes() == b"2"));
        let err = respond(ApiResponse {
            status: 99,
            headers: Vec::new(),
            body: Vec::new(),
        })
        .expect_err("not a status");
        assert_eq!(
            err.into_response().status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
