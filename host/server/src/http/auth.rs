//! Who may use the operator's routes (`/v1/admin/...`): the operator token (every
//! tenant) or a tenant's admin token (its own tenant only). Tokens are kept as sha256
//! digests and compared in constant time. Shared by the admin API and the dev phone.

use std::sync::Arc;

use axum::http::HeaderMap;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

use super::{AppState, HttpError, bearer};

/// The operator's credentials.
#[derive(Clone, Default)]
pub struct AdminAuth {
    operator: Option<[u8; 32]>,
}

impl std::fmt::Debug for AdminAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminAuth")
            .field("operator", &self.operator.map(|_| "<set>"))
            .finish()
    }
}

impl AdminAuth {
    /// Admin access with `token` as the operator token; `None` leaves only tenant tokens.
    pub fn new(operator_token: Option<&str>) -> Self {
        Self {
            operator: operator_token.map(|t| Sha256::digest(t.as_bytes()).into()),
        }
    }
}

/// Who a valid token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Identity {
    /// The operator.
    Operator,
    /// This tenant.
    Tenant(Arc<str>),
}

/// Who is calling, once allowed to act on a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Caller {
    Operator,
    Tenant,
}

/// Whose the request's bearer token is: 401 `missing_token` or `bad_token` when nobody's.
pub(super) fn identify(state: &AppState, headers: &HeaderMap) -> Result<Identity, HttpError> {
    let token = bearer(headers).ok_or(HttpError::MissingToken)?;
    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    if let Some(op) = &state.admin.operator
        && bool::from(op.ct_eq(&digest))
    {
        return Ok(Identity::Operator);
    }
    // Which tenant a token belongs to is found by checking every tenant, so a token for
    // tenant A used on B is told apart from junk.
    state
        .registry
        .all()
        .into_iter()
        .find(|t| {
            t.config
                .admin_token_sha256
                .as_ref()
                .is_some_and(|h| bool::from(h.ct_eq(&digest)))
        })
        .map(|owner| Identity::Tenant(Arc::clone(&owner.id)))
        .ok_or(HttpError::BadToken)
}

/// Checks the caller may act on `tenant` (`None`: on the host as a whole): a tenant
/// token opens its own tenant only (403 `forbidden` elsewhere).
pub(super) fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    tenant: Option<&str>,
) -> Result<Caller, HttpError> {
    match (identify(state, headers)?, tenant) {
        (Identity::Operator, _) => Ok(Caller::Operator),
        (Identity::Tenant(owner), Some(id)) if &*owner == id => Ok(Caller::Tenant),
        (Identity::Tenant(owner), _) => Err(HttpError::Forbidden(owner.to_string())),
    }
}

/// 403 `operator_only` for a tenant token.
pub(super) fn operator_only(caller: Caller) -> Result<(), HttpError> {
    match caller {
        Caller::Operator => Ok(()),
        Caller::Tenant => Err(HttpError::OperatorOnly),
    }
}
