//! `/kapis/network.kubesphere.io/v1alpha2` (api §1): thin handlers over [`crate::service::pools`].

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use super::{ApiError, AppState};
use crate::auth::Caller;
use crate::service::lists::JsonText;
use crate::service::pools;

const BASE: &str = "/kapis/network.kubesphere.io/v1alpha2";

/// The routes of api §1.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(&format!("{BASE}/ippools"), get(list))
        .route(&format!("{BASE}/ippools/{{name}}"), get(get_one))
        .route(
            &format!("{BASE}/ippools/{{name}}/migrate"),
            get(migration_targets),
        )
        .route(
            &format!("{BASE}/namespaces/{{namespace}}/ippools"),
            get(namespace_pools),
        )
}

/// api §1.1: every Calico pool with its occupancy status, sorted by name.
pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<JsonText, ApiError> {
    Ok(pools::list(&state.services, &caller).await?)
}

/// api §1.2: one pool with its occupancy status.
pub async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(pools::get(&state.services, &caller, &name).await?))
}

/// api §1.3: pools the named pool may be migrated to.
pub async fn migration_targets(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        pools::migration_targets(&state.services, &caller, &name).await?,
    ))
}

/// api §1.5: pools a namespace may use.
pub async fn namespace_pools(
    State(state): State<AppState>,
    caller: Caller,
    Path(namespace): Path<String>,
) -> Result<Json<Vec<Value>>, ApiError> {
    Ok(Json(
        pools::usable_by_namespace(&state.services, &caller, &namespace).await?,
    ))
}
