//! Application services: what an endpoint does, between the HTTP handlers (parsing, serialising) and the
//! domain rules and caches. Errors are the HTTP layer's [`ApiError`], so handlers just pass them on.

pub mod dynamic;
pub mod lists;
pub mod migration;
pub mod pools;

use kube::runtime::reflector::Store;

use crate::auth::{Access, Caller};
use crate::cluster::cache::{Cache, Cached};
use crate::http::{ApiError, AppState};

/// 403 unless `caller` may perform `access` (api §0.3).
pub async fn authorize(state: &AppState, caller: &Caller, access: &Access) -> Result<(), ApiError> {
    match state.authorizer.allowed(&caller.identity, access).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(ApiError::Forbidden(
            access.forbidden_message(&caller.identity.user),
        )),
        Err(error) => Err(ApiError::ServiceUnavailable(format!(
            "cannot check permissions: {error}"
        ))),
    }
}

/// The cache's store, or 503 while it has not synced (an absent API reads as empty).
pub fn synced<K: Cached>(cache: &Cache<K>) -> Result<&Store<K>, ApiError> {
    if cache.is_ready() {
        Ok(cache.store())
    } else {
        Err(ApiError::ServiceUnavailable(format!(
            "the server is not ready to serve {}",
            cache.name()
        )))
    }
}
