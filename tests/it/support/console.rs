//! The KubeSphere console's writes to kube-apiserver, built as the console builds them (kubesphere/console
//! master, `packages/bootstrap/assets/v3dist/`; docs/console.md): the request goes to kube-apiserver as it
//! leaves the console's `request` (`main.558f452048e49db23323.js`), as the admin.

use kube::Client;
use serde_json::{Value, json};

use super::api::IPV4POOLS;

/// Sends `method path` with `content_type` and `body` to kube-apiserver and returns the JSON answer; panics on an
/// error answer (the console's writes in these tests must succeed).
pub async fn send(
    client: &Client,
    method: http::Method,
    path: &str,
    content_type: &str,
    body: &Value,
) -> Value {
    let request = http::Request::builder()
        .method(method.clone())
        .uri(path)
        .header(http::header::CONTENT_TYPE, content_type)
        .body(body.to_string().into_bytes())
        .expect("request");
    let text = client
        .request_text(request)
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: {e}: {text}"))
}

/// The console's `POST` of a new object: `request` adds `metadata.annotations["kubesphere.io/creator"]` (the user
/// name) to every POST body that has `metadata`.
pub async fn create(client: &Client, path: &str, mut object: Value, user: &str) -> Value {
    object["metadata"]["annotations"]["kubesphere.io/creator"] = json!(user);
    send(
        client,
        http::Method::POST,
        path,
        "application/json",
        &object,
    )
    .await
}

/// The pool detail's "projects" tab binding or unbinding `pool` (`4.49e1bbd1d064c2cb5c0d.js`, the tab's
/// `handleAdd` / `handleDelete` → namespace store `patchNamespace`): `namespace` is the item as a
/// `/kapis/resources.kubesphere.io/v1alpha3/namespaces` list showed it; the console parses its `ipv4pools`
/// (`"[]"` when absent), appends or removes the pool, and PUTs the item back (mapper `_originData`: the item
/// without `status`, `uid`, `selfLink`, `generation`, `ownerReferences`, `resourceVersion`, `managedFields`).
pub async fn put_namespace_pools(client: &Client, namespace: &Value, pool: &str, bind: bool) {
    let mut body = namespace.clone();
    let object = body.as_object_mut().expect("namespace object");
    object.remove("status");
    let metadata = object
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .expect("metadata");
    for field in [
        "uid",
        "selfLink",
        "generation",
        "ownerReferences",
        "resourceVersion",
        "managedFields",
    ] {
        metadata.remove(field);
    }
    let current = metadata
        .get("annotations")
        .and_then(|a| a.get(IPV4POOLS))
        .and_then(Value::as_str)
        .unwrap_or("[]");
    let mut pools: Vec<String> = serde_json::from_str(current).expect("ipv4pools");
    if bind {
        if !pools.iter().any(|p| p == pool) {
            pools.push(pool.to_owned());
        }
    } else {
        pools.retain(|p| p != pool);
    }
    body["metadata"]["annotations"][IPV4POOLS] = json!(serde_json::to_string(&pools).unwrap());
    let name = body["metadata"]["name"].as_str().expect("name").to_owned();
    let path = format!("/api/v1/namespaces/{name}");
    send(client, http::Method::PUT, &path, "application/json", &body).await;
}
