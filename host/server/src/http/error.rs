//! The one error every refusal at the HTTP edge goes through: a variant per reason, a
//! stable [`code`](HttpError::code) clients can match on, a status, a human message, and
//! one [`IntoResponse`] that logs it once and answers `{"code": ..., "message": ...}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use callflow_wire::ParseError;

use std::sync::atomic::{AtomicU64, Ordering};

use super::bodies::ErrorBody;
use crate::phone::PhoneError;
use crate::runtime::{CompileBusy, LoadError, PluginFailure};
use crate::throttle::{Throttle, Verdict};
use crate::webhook::WebhookError;

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// No route matches.
    #[error("no such route")]
    NotFound,
    /// The path names no tenant the host serves.
    #[error("no tenant named {0:?}")]
    UnknownTenant(String),
    /// The body is larger than the route takes.
    #[error("the body exceeds the limit of {0} bytes")]
    BodyTooLarge(usize),
    /// The body could not be read (the client went away, bad chunked framing, ...).
    #[error("the body could not be read: {0}")]
    UnreadableBody(String),
    /// The webhook is not JSON.
    #[error("expected Content-Type application/json, got {0:?}")]
    UnsupportedMediaType(String),
    /// The webhook body is not an 8x8 voice webhook, or not the tenant's.
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    /// The source address is not in the tenant's allowlist.
    #[error("source address {0} is not in the tenant's allowlist")]
    IpNotAllowed(String),
    /// The tenant requires a webhook `Authorization` header and there is none.
    #[error("this tenant requires an Authorization header")]
    MissingAuthorization,
    /// The webhook `Authorization` header is not the tenant's.
    #[error("the Authorization header does not match the tenant's")]
    BadAuthorization,
    /// The plugin API takes an API key and there is none.
    #[error("send one of the tenant's API keys as `Authorization: Bearer <key>`")]
    MissingApiKey,
    /// The API key is not one of the tenant's (or the tenant has none).
    #[error("{0}")]
    BadApiKey(&'static str),
    /// The admin API takes a token and there is none.
    #[error("send the operator or tenant token as `Authorization: Bearer <token>`")]
    MissingToken,
    /// The token is not the operator's or any tenant's.
    #[error("the token is not the operator's or any tenant's")]
    BadToken,
    /// A tenant token used on another tenant.
    #[error("this token belongs to tenant {0:?} and may act on it only")]
    Forbidden(String),
    /// A tenant token used for what only the operator may do.
    #[error("creating, changing and deleting tenants takes the operator token")]
    OperatorOnly,
    /// The tenant id in the path is not a safe name.
    #[error("use 1 to 64 characters of [A-Za-z0-9_-]")]
    InvalidTenantId,
    /// A `tenant.toml` body that is not text.
    #[error("the body is not UTF-8")]
    InvalidToml,
    /// A `tenant.toml` that does not validate.
    #[error("{0}")]
    InvalidConfig(String),
    /// The tenant has no such plugin version.
    #[error("tenant {tenant:?} has no version {digest:?}")]
    UnknownVersion {
        /// The tenant.
        tenant: String,
        /// The version asked for.
        digest: String,
    },
    /// Rollback with no earlier activated version.
    #[error("tenant {0:?} has no earlier activated version")]
    NothingToRollBackTo(String),
    /// An uploaded (or stored) plugin failed one of the checks.
    #[error("check `{check}` failed: {0}", check = load_check(.0))]
    PluginRejected(LoadError),
    /// The host could not read or write its own files.
    #[error("{context}: {message}")]
    Storage {
        /// What it was doing.
        context: &'static str,
        /// Why it failed.
        message: String,
    },
    /// The tenant already runs as many invocations as it may.
    #[error("the tenant already runs {0} requests at once; retry shortly")]
    ConcurrencyLimit(u32),
    /// The tenant has used its fuel for now.
    #[error("the tenant is over its fuel rate of {0} per second; retry shortly")]
    FuelRateLimit(u64),
    /// The tenant, or the host, has as many plugin compiles waiting as it may.
    #[error(transparent)]
    CompileBusy(CompileBusy),
    /// The tenant's plugin could not be loaded.
    #[error("the tenant's plugin is not loaded: {0}")]
    PluginUnavailable(String),
    /// The plugin ran past its deadline.
    #[error("the tenant's plugin ran past its deadline")]
    PluginTimeout,
    /// The plugin failed any other way.
    #[error("the tenant's plugin failed ({reason}): {0}", reason = .0.reason())]
    PluginFailed(PluginFailure),
    /// The host could not run the plugin.
    #[error("the host could not run the tenant's plugin ({reason}); retry shortly", reason = .0.reason())]
    HostUnavailable(PluginFailure),
    /// The path cannot be read (a segment not UTF-8 once percent-decoded, say).
    #[error("{0}")]
    InvalidPath(String),
    /// A query parameter the route does not take, or a value it cannot be.
    #[error("{0}")]
    InvalidQuery(String),
    /// The host's disk is full (or over its quota): nothing was changed.
    #[error("{0}: the host's disk is full; nothing was changed")]
    StorageFull(&'static str),
    /// The client did not send the request (its body) in time.
    #[error("the request body did not arrive within {} s", .0.as_secs())]
    RequestTimeout(std::time::Duration),
    /// The cluster's shared store (Redis) cannot be reached.
    #[error("the cluster's shared store is unreachable; retry shortly")]
    StoreUnavailable,
    /// The plugin answered with a status that is not one.
    #[error("the plugin answered status {0}; a status must be 200 to 599")]
    PluginBadResponse(u16),
    /// A JSON request body that does not say what the route takes.
    #[error("{0}")]
    InvalidRequest(String),
    /// A dev-phone call could not be placed or answered.
    #[error(transparent)]
    Phone(#[from] PhoneError),
}

/// The name of the check a load failed.
fn load_check(err: &LoadError) -> &'static str {
    match err {
        LoadError::Read { .. } => "read",
        LoadError::TooLarge { .. } => "size",
        LoadError::NotAComponent(_) => "component",
        LoadError::Compile(_) => "compile",
        LoadError::WrongWorld(_) => "world",
        LoadError::ContractVersion { .. } => "contract_version",
        LoadError::PoolLimit { .. } => "pool",
    }
}

/// Every [`HttpError::code`], the label of `callflow_http_refusals_total`.
pub const CODES: [&str; 44] = [
    "not_found",
    "unknown_tenant",
    "body_too_large",
    "unreadable_body",
    "unsupported_media_type",
    "malformed_json",
    "missing_field",
    "unknown_event_type",
    "sub_account_not_allowed",
    "ip_not_allowed",
    "missing_authorization",
    "bad_authorization",
    "missing_api_key",
    "bad_api_key",
    "missing_token",
    "bad_token",
    "forbidden",
    "operator_only",
    "invalid_tenant_id",
    "invalid_toml",
    "invalid_config",
    "unknown_version",
    "nothing_to_roll_back_to",
    "plugin_rejected",
    "storage_error",
    "concurrency_limit",
    "fuel_rate_limit",
    "plugin_unavailable",
    "plugin_timeout",
    "plugin_failed",
    "host_unavailable",
    "plugin_bad_response",
    "store_unavailable",
    "request_timeout",
    "storage_full",
    "invalid_path",
    "compile_busy",
    "invalid_query",
    "invalid_request",
    "too_many_phone_calls",
    "unknown_phone_call",
    "phone_call_not_waiting",
    "too_many_connections",
    "other",
];

/// Refusal log lines per code per second; the rest are counted and summed up.
pub const REFUSALS_LOGGED_PER_SECOND: u32 = 5;

/// Per code: refusals so far, and the budget of their log lines.
struct Refusals {
    count: AtomicU64,
    log: Throttle,
}

static REFUSALS: [Refusals; CODES.len()] = [const {
    Refusals {
        count: AtomicU64::new(0),
        log: Throttle::new(),
    }
}; CODES.len()];

/// Counts a refusal with `code` and says whether (and what) to log.
pub(crate) fn record_refusal(code: &str) -> Verdict {
    let i = CODES
        .iter()
        .position(|c| *c == code)
        .unwrap_or(CODES.len() - 1);
    REFUSALS[i].count.fetch_add(1, Ordering::Relaxed);
    REFUSALS[i].log.admit(REFUSALS_LOGGED_PER_SECOND)
}

/// Refusals so far, by code (codes never refused are left out).
pub fn refusals() -> impl Iterator<Item = (&'static str, u64)> {
    CODES
        .iter()
        .zip(&REFUSALS)
        .map(|(code, r)| (*code, r.count.load(Ordering::Relaxed)))
        .filter(|(_, n)| *n > 0)
}

/// Logs one summary line per code whose refusals were suppressed in a second that ended.
pub fn flush_refusal_logs() {
    for (code, r) in CODES.iter().zip(&REFUSALS) {
        let suppressed = r.log.flush();
        if suppressed > 0 {
            tracing::info!(
                code,
                suppressed,
                "more requests refused with this code were not logged"
            );
        }
    }
}

impl HttpError {
    /// A failure to read or write the host's own files.
    pub fn storage(context: &'static str, err: impl std::fmt::Display) -> Self {
        Self::Storage {
            context,
            message: err.to_string(),
        }
    }

    /// A failure to write the host's own files: 507 `storage_full` when the disk is full
    /// (or over its quota), else 500 `storage_error`.
    pub fn disk(context: &'static str, err: &std::io::Error) -> Self {
        match err.kind() {
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
                Self::StorageFull(context)
            }
            _ => Self::storage(context, err),
        }
    }

    /// How a plugin's failure on an API request reaches the caller.
    pub fn plugin(failure: PluginFailure) -> Self {
        match failure {
            PluginFailure::Deadline => Self::PluginTimeout,
            PluginFailure::Host(_) => Self::HostUnavailable(failure),
            other => Self::PluginFailed(other),
        }
    }

    /// The stable code clients match on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::UnknownTenant(_) => "unknown_tenant",
            Self::BodyTooLarge(_) => "body_too_large",
            Self::UnreadableBody(_) => "unreadable_body",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Webhook(WebhookError::Parse(ParseError::Malformed(_))) => "malformed_json",
            Self::Webhook(WebhookError::Parse(ParseError::MissingField(_))) => "missing_field",
            Self::Webhook(WebhookError::Parse(ParseError::UnknownEventType(_))) => {
                "unknown_event_type"
            }
            Self::Webhook(WebhookError::SubAccount(_) | WebhookError::NoSubAccount) => {
                "sub_account_not_allowed"
            }
            Self::IpNotAllowed(_) => "ip_not_allowed",
            Self::MissingAuthorization => "missing_authorization",
            Self::BadAuthorization => "bad_authorization",
            Self::MissingApiKey => "missing_api_key",
            Self::BadApiKey(_) => "bad_api_key",
            Self::MissingToken => "missing_token",
            Self::BadToken => "bad_token",
            Self::Forbidden(_) => "forbidden",
            Self::OperatorOnly => "operator_only",
            Self::InvalidTenantId => "invalid_tenant_id",
            Self::InvalidToml => "invalid_toml",
            Self::InvalidConfig(_) => "invalid_config",
            Self::UnknownVersion { .. } => "unknown_version",
            Self::NothingToRollBackTo(_) => "nothing_to_roll_back_to",
            Self::PluginRejected(_) => "plugin_rejected",
            Self::Storage { .. } => "storage_error",
            Self::ConcurrencyLimit(_) => "concurrency_limit",
            Self::FuelRateLimit(_) => "fuel_rate_limit",
            Self::CompileBusy(_) => "compile_busy",
            Self::PluginUnavailable(_) => "plugin_unavailable",
            Self::PluginTimeout => "plugin_timeout",
            Self::PluginFailed(_) => "plugin_failed",
            Self::HostUnavailable(_) => "host_unavailable",
            Self::PluginBadResponse(_) => "plugin_bad_response",
            Self::StoreUnavailable => "store_unavailable",
            Self::RequestTimeout(_) => "request_timeout",
            Self::StorageFull(_) => "storage_full",
            Self::InvalidPath(_) => "invalid_path",
            Self::InvalidQuery(_) => "invalid_query",
            Self::InvalidRequest(_) => "invalid_request",
            Self::Phone(PhoneError::TooMany(_)) => "too_many_phone_calls",
            Self::Phone(PhoneError::Unknown(_)) => "unknown_phone_call",
            Self::Phone(PhoneError::NotWaiting(_)) => "phone_call_not_waiting",
        }
    }

    /// The status it is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound | Self::UnknownTenant(_) | Self::UnknownVersion { .. } => {
                StatusCode::NOT_FOUND
            }
            Self::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::PluginRejected(LoadError::TooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnreadableBody(_)
            | Self::InvalidTenantId
            | Self::InvalidToml
            | Self::Webhook(WebhookError::Parse(ParseError::Malformed(_))) => {
                StatusCode::BAD_REQUEST
            }
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Webhook(WebhookError::Parse(_))
            | Self::InvalidConfig(_)
            | Self::PluginRejected(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Webhook(_) | Self::IpNotAllowed(_) | Self::Forbidden(_) | Self::OperatorOnly => {
                StatusCode::FORBIDDEN
            }
            Self::MissingAuthorization
            | Self::BadAuthorization
            | Self::MissingApiKey
            | Self::BadApiKey(_)
            | Self::MissingToken
            | Self::BadToken => StatusCode::UNAUTHORIZED,
            Self::NothingToRollBackTo(_) => StatusCode::CONFLICT,
            Self::Storage { .. } | Self::PluginFailed(_) | Self::PluginBadResponse(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            Self::ConcurrencyLimit(_) | Self::FuelRateLimit(_) | Self::CompileBusy(_) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::PluginUnavailable(_) | Self::HostUnavailable(_) | Self::StoreUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::PluginTimeout => StatusCode::GATEWAY_TIMEOUT,
            Self::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::StorageFull(_) => StatusCode::INSUFFICIENT_STORAGE,
            Self::InvalidPath(_) | Self::InvalidQuery(_) | Self::InvalidRequest(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::Phone(PhoneError::TooMany(_)) => StatusCode::TOO_MANY_REQUESTS,
            Self::Phone(PhoneError::Unknown(_)) => StatusCode::NOT_FOUND,
            Self::Phone(PhoneError::NotWaiting(_)) => StatusCode::CONFLICT,
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let status = self.status();
        let code = self.code();
        let message = self.to_string();
        if let Verdict::Log { suppressed } = record_refusal(code) {
            if suppressed > 0 {
                tracing::info!(
                    code,
                    suppressed,
                    "more requests refused with this code were not logged"
                );
            }
            tracing::info!(status = status.as_u16(), code, detail = %message, "request refused");
        }
        let mut response = (status, Json(ErrorBody { code, message })).into_response();
        if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_over_a_limit_say_when_to_retry() {
        for err in [
            HttpError::ConcurrencyLimit(4),
            HttpError::FuelRateLimit(10),
            HttpError::CompileBusy(CompileBusy::Owner(2)),
        ] {
            let response = err.into_response();
            assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(
                response
                    .headers()
                    .get(header::RETRY_AFTER)
                    .map(|v| v.as_bytes()),
                Some(&b"1"[..])
            );
        }
    }

    #[test]
    fn an_oversized_upload_is_413_and_other_rejections_422() {
        let big = HttpError::PluginRejected(LoadError::TooLarge { bytes: 9, max: 8 });
        assert_eq!(big.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(big.to_string().starts_with("check `size` failed"), "{big}");
        let wrong = HttpError::PluginRejected(LoadError::WrongWorld("no handler".into()));
        assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(wrong.code(), "plugin_rejected");
    }
}
