//! `/kapis/resources.kubesphere.io/v1alpha3` (api §3): thin handlers over [`crate::service::lists`].

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use super::extract::QueryPairs;
use super::{ApiError, AppState};
use crate::auth::Caller;
use crate::service::lists::{self, JsonText, ResourceList};

const BASE: &str = "/kapis/resources.kubesphere.io/v1alpha3";

/// The routes of api §3.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(&format!("{BASE}/{{resources}}"), get(list_cluster))
        .route(&format!("{BASE}/{{resources}}/{{name}}"), get(get_cluster))
        .route(
            &format!("{BASE}/namespaces/{{namespace}}/{{resources}}"),
            get(list_namespaced),
        )
        .route(
            &format!("{BASE}/namespaces/{{namespace}}/{{resources}}/{{name}}"),
            get(get_namespaced),
        )
}

/// R1: `{"items":[…],"totalItems":N}` across namespaces.
pub async fn list_cluster(
    State(state): State<AppState>,
    caller: Caller,
    Path(resources): Path<String>,
    QueryPairs(query): QueryPairs,
) -> Result<JsonText, ApiError> {
    let resource = ResourceList::from_path(&resources)?;
    lists::v1alpha3_list(&state.services, &caller, resource, None, &query)
        .await
        .map_err(ApiError::from)
}

/// R2: one cluster-scoped object.
pub async fn get_cluster(
    State(state): State<AppState>,
    caller: Caller,
    Path((resources, name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let resource = ResourceList::from_path(&resources)?;
    let object = lists::v1alpha3_get(&state.services, &caller, resource, None, &name).await?;
    Ok(Json(object))
}

/// R3: `{"items":[…],"totalItems":N}` in one namespace.
pub async fn list_namespaced(
    State(state): State<AppState>,
    caller: Caller,
    Path((namespace, resources)): Path<(String, String)>,
    QueryPairs(query): QueryPairs,
) -> Result<JsonText, ApiError> {
    let resource = ResourceList::from_path(&resources)?;
    let namespace = Some(namespace.as_str());
    lists::v1alpha3_list(&state.services, &caller, resource, namespace, &query)
        .await
        .map_err(ApiError::from)
}

/// R4: one object in a namespace.
pub async fn get_namespaced(
    State(state): State<AppState>,
    caller: Caller,
    Path((namespace, resources, name)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let resource = ResourceList::from_path(&resources)?;
    let namespace = Some(namespace.as_str());
    let object = lists::v1alpha3_get(&state.services, &caller, resource, namespace, &name).await?;
    Ok(Json(object))
}
