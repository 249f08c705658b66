//! `/kapis/networking.k8s.io/v1/…networkpolicies` and `/kapis/network.kubesphere.io/v1alpha1/…namespacenetworkpolicies`
//! (api §2): thin handlers over [`crate::service::dynamic`] (writes) and [`crate::service::lists`] (reads).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{MethodRouter, get};
use axum::{Json, Router};
use serde_json::Value;

use super::extract::{CheckedPath, QueryPairs, RequestId};
use super::{ApiError, AppState};
use crate::auth::Caller;
use crate::service::dynamic::{self, PolicyResource, WriteRequest, WriteVerb};
use crate::service::lists;

/// The list, get and write routes of both resources.
pub fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for resource in PolicyResource::ALL {
        let api = resource.api_resource();
        let base = format!("/kapis/{}", api.api_version);
        let plural = &api.plural;
        router = router
            .route(&format!("{base}/{plural}"), cluster_collection(resource))
            .route(
                &format!("{base}/namespaces/{{namespace}}/{plural}"),
                collection(resource),
            )
            .route(
                &format!("{base}/namespaces/{{namespace}}/{plural}/{{name}}"),
                object(resource),
            );
    }
    router
}

/// Whether a matched route template is a collection of a policy resource (cluster-wide or in a namespace): a
/// DELETE there is a deletecollection, which the method-not-allowed answer names (api §2). The routes do not
/// accept DELETE, so their `Allow` header lists only the methods they serve.
pub fn is_collection(template: &str) -> bool {
    PolicyResource::ALL.iter().any(|resource| {
        let api = resource.api_resource();
        let base = format!("/kapis/{}", api.api_version);
        let plural = &api.plural;
        template == format!("{base}/{plural}")
            || template == format!("{base}/namespaces/{{namespace}}/{plural}")
    })
}

fn cluster_collection(resource: PolicyResource) -> MethodRouter<AppState> {
    get(
        move |State(state): State<AppState>, caller: Caller, QueryPairs(query): QueryPairs| async move {
            let list =
                lists::dynamic_list(&state.services, &caller, resource, None, &query).await?;
            Ok::<_, ApiError>(list)
        },
    )
}

fn collection(resource: PolicyResource) -> MethodRouter<AppState> {
    get(
        move |State(state): State<AppState>,
              caller: Caller,
              Path(namespace): Path<String>,
              QueryPairs(query): QueryPairs| async move {
            let namespace = Some(namespace.as_str());
            let list =
                lists::dynamic_list(&state.services, &caller, resource, namespace, &query).await?;
            Ok::<_, ApiError>(list)
        },
    )
    .post(
        move |State(state): State<AppState>,
              caller: Caller,
              CheckedPath(namespace): CheckedPath<String>,
              QueryPairs(query): QueryPairs,
              RequestId(request_id): RequestId,
              headers: HeaderMap,
              body: Bytes| async move {
            let request = WriteRequest {
                verb: WriteVerb::Create,
                namespace: &namespace,
                name: None,
                query: &query,
                content_type: content_type(&headers),
                body: &body,
                request_id: &request_id,
            };
            respond(dynamic::write(&state.services, &caller, resource, request).await)
        },
    )
}

fn object(resource: PolicyResource) -> MethodRouter<AppState> {
    let write = move |verb: WriteVerb| {
        move |State(state): State<AppState>,
              caller: Caller,
              CheckedPath((namespace, name)): CheckedPath<(String, String)>,
              QueryPairs(query): QueryPairs,
              RequestId(request_id): RequestId,
              headers: HeaderMap,
              body: Bytes| async move {
            let request = WriteRequest {
                verb,
                namespace: &namespace,
                name: Some(&name),
                query: &query,
                content_type: content_type(&headers),
                body: &body,
                request_id: &request_id,
            };
            respond(dynamic::write(&state.services, &caller, resource, request).await)
        }
    };
    get(
        move |State(state): State<AppState>,
              caller: Caller,
              Path((namespace, name)): Path<(String, String)>| async move {
            let object =
                lists::dynamic_get(&state.services, &caller, resource, &namespace, &name).await?;
            Ok::<_, ApiError>(Json(object))
        },
    )
    .put(write(WriteVerb::Update))
    .patch(write(WriteVerb::Patch))
    .delete(write(WriteVerb::Delete))
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn respond(
    result: Result<(StatusCode, Value), crate::service::Error>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (code, body) = result?;
    Ok((code, Json(body)))
}
