//! `/kapis/networking.k8s.io/v1/…networkpolicies` and `/kapis/network.kubesphere.io/v1alpha1/…namespacenetworkpolicies`
//! (api §2): thin handlers over [`crate::service::dynamic`] and [`crate::service::lists`].

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::routing::{MethodRouter, get};
use axum::{Json, Router};
use serde_json::Value;

use super::{ApiError, AppState};
use crate::auth::Caller;
use crate::service::dynamic::{
    self, DynamicResource, NAMESPACE_NETWORK_POLICIES, NETWORK_POLICIES, WriteRequest,
};
use crate::service::lists;

/// The routes of api §2 for both resources.
pub fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for resource in [NETWORK_POLICIES, NAMESPACE_NETWORK_POLICIES] {
        let base = format!("/kapis/{}/{}", resource.group, resource.version);
        router = router
            .route(
                &format!("{base}/{}", resource.plural),
                cluster_collection(resource),
            )
            .route(
                &format!("{base}/namespaces/{{namespace}}/{}", resource.plural),
                collection(resource),
            )
            .route(
                &format!(
                    "{base}/namespaces/{{namespace}}/{}/{{name}}",
                    resource.plural
                ),
                object(resource),
            );
    }
    router
}

fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    serde_urlencoded::from_str(query.unwrap_or_default()).unwrap_or_default()
}

fn request_id(headers: &HeaderMap) -> &str {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

async fn deletecollection() -> ApiError {
    ApiError::MethodNotAllowed("deletecollection is not supported".into())
}

fn cluster_collection(resource: DynamicResource) -> MethodRouter<AppState> {
    get(
        move |State(state): State<AppState>, caller: Caller, RawQuery(query): RawQuery| async move {
            lists::dynamic_list(
                &state,
                &caller,
                resource,
                None,
                &query_pairs(query.as_deref()),
            )
            .await
            .map(Json)
        },
    )
    .delete(deletecollection)
}

fn collection(resource: DynamicResource) -> MethodRouter<AppState> {
    get(
        move |State(state): State<AppState>,
              caller: Caller,
              Path(namespace): Path<String>,
              RawQuery(query): RawQuery| async move {
            lists::dynamic_list(
                &state,
                &caller,
                resource,
                Some(&namespace),
                &query_pairs(query.as_deref()),
            )
            .await
            .map(Json)
        },
    )
    .post(
        move |State(state): State<AppState>,
              caller: Caller,
              Path(namespace): Path<String>,
              RawQuery(query): RawQuery,
              headers: HeaderMap,
              body: Bytes| async move {
            let query = query_pairs(query.as_deref());
            let request = WriteRequest {
                namespace: &namespace,
                name: None,
                query: &query,
                content_type: content_type(&headers),
                body: &body,
                request_id: request_id(&headers),
            };
            respond(dynamic::write(&state, &caller, resource, Method::POST, request).await)
        },
    )
    .delete(deletecollection)
}

fn object(resource: DynamicResource) -> MethodRouter<AppState> {
    let write = move |method: Method| {
        move |State(state): State<AppState>,
              caller: Caller,
              Path((namespace, name)): Path<(String, String)>,
              RawQuery(query): RawQuery,
              headers: HeaderMap,
              body: Bytes| {
            let method = method.clone();
            async move {
                let query = query_pairs(query.as_deref());
                let request = WriteRequest {
                    namespace: &namespace,
                    name: Some(&name),
                    query: &query,
                    content_type: content_type(&headers),
                    body: &body,
                    request_id: request_id(&headers),
                };
                respond(dynamic::write(&state, &caller, resource, method, request).await)
            }
        }
    };
    get(
        move |State(state): State<AppState>,
              caller: Caller,
              Path((namespace, name)): Path<(String, String)>| async move {
            lists::dynamic_get(&state, &caller, resource, &namespace, &name)
                .await
                .map(Json)
        },
    )
    .put(write(Method::PUT))
    .patch(write(Method::PATCH))
    .delete(write(Method::DELETE))
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn respond(
    result: Result<(StatusCode, Value), ApiError>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    result.map(|(code, body)| (code, Json(body)))
}
