//! The OpenAPI 3.1 document of every route (`openapi` mode, `/openapi.json`, `openapi/`), written to be exact:
//! each operation lists its parameters with the grammar the server enforces (patterns derived from the parsers,
//! [`crate::query::patterns`]), its request bodies with their content types, and every status code it can answer
//! with the Kubernetes `Status` schema, including those of the middleware (401, 413, 429, 500, 503, 504).
//! `scripts/schemathesis.sh` holds the server to it.
//!
//! [`operations`] describes the operations of each surface, [`schemas`] the shared schemas; this module adds what
//! every operation shares and assembles the document.

mod operations;
pub use operations::BINDABLE_POOL_NAME;
mod schemas;

use std::sync::LazyLock;

use axum::Json;
use serde_json::{Map, Value, json};

use operations::{Operation, Security};

/// The paths that are never shed by the in-flight limits (`middleware::HEALTH_PATHS`).
const NEVER_SHED: &[&str] = &["/healthz", "/livez", "/readyz"];

/// `#/components/schemas/<name>`.
fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// A response with a JSON body of `schema`.
fn json_response(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

/// An error response: a `Status` object.
fn status_response(description: &str) -> Value {
    json_response(description, schema_ref("Status"))
}

/// An error response that always carries `header` with `value`.
fn status_with_header(description: &str, header: &str, value: &str) -> Value {
    let mut response = status_response(description);
    response["headers"] =
        json!({header: {"description": format!("`{value}`"), "schema": {"enum": [value]}}});
    response
}

/// Adds the answers every operation can get from the middleware (api §0.2, §0.5, §0.7), and `X-Request-Id` on
/// every response.
fn with_common_responses(operation: &mut Operation) {
    let mut add = |code: u16, response: Value| {
        operation.responses.entry(code).or_insert(response);
    };
    if operation.security == Security::Bearer {
        add(
            401,
            status_with_header(
                "No or invalid credentials (`Unauthorized`)",
                "WWW-Authenticate",
                "Bearer",
            ),
        );
        add(
            503,
            status_response("The credentials cannot be checked right now (TokenReview failed)"),
        );
    }
    if operation.request_body.is_some() {
        add(
            413,
            status_response("The body is larger than `server.maxRequestBodyBytes`"),
        );
    }
    if !NEVER_SHED.contains(&operation.path.as_str()) {
        add(
            429,
            status_with_header(
                "Too many requests in flight (`server.maxRequestsInFlight`, `maxMutatingRequestsInFlight`)",
                "Retry-After",
                "1",
            ),
        );
    }
    add(
        500,
        status_response("Unexpected failure (logged, never shown)"),
    );
    add(
        504,
        status_response("The request outlasted its timeout (`request timed out`)"),
    );
    for response in operation.responses.values_mut() {
        if let Some(response) = response.as_object_mut() {
            let headers = response
                .entry("headers")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(headers) = headers.as_object_mut() {
                headers.insert(
                    "X-Request-Id".into(),
                    json!({"$ref": "#/components/headers/X-Request-Id"}),
                );
            }
        }
    }
}

/// The whole document.
fn build() -> Value {
    let mut paths = Map::new();
    for mut operation in operations::all() {
        with_common_responses(&mut operation);
        let path = paths
            .entry(operation.path.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(path) = path.as_object_mut() {
            path.insert(operation.method.to_owned(), operation.into_json());
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "ks-network-apiserver",
            "description": "KubeSphere's network API on Calico and Kubernetes. Errors are Kubernetes `Status` objects; \
                            every response carries `X-Request-Id`. Behaviour: the specification's api.md.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
            "version": env!("CARGO_PKG_VERSION"),
        },
        "paths": paths,
        "components": {
            "schemas": schemas::all(),
            "parameters": operations::shared_parameters(),
            "headers": {
                "X-Request-Id": {
                    "description": "The request's id: taken from the request, else a generated UUID",
                    "schema": {"type": "string"},
                },
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "tags": [
            {"name": "operations", "description": "Health, readiness, metrics and documentation"},
            {"name": "ippools", "description": "Calico IP pools: occupancy, usable pools, migration"},
            {"name": "resources", "description": "Paged, sorted, filtered lists of namespaces, pods and more"},
            {"name": "policies", "description": "NetworkPolicies and NamespaceNetworkPolicies: reads from caches, writes as the caller"},
            {"name": "aggregated", "description": "The APIService v1alpha2.network.kubesphere.io: discovery, IPPools, IPPoolMigrations"},
        ],
    })
}

/// The document, built once.
pub fn document_model() -> &'static Value {
    static DOCUMENT: LazyLock<Value> = LazyLock::new(build);
    &DOCUMENT
}

/// The document as pretty JSON (what `openapi` mode prints and `openapi/` holds).
pub fn pretty_json() -> String {
    serde_json::to_string_pretty(document_model()).unwrap_or_default()
}

/// `GET /openapi.json`: this document.
pub async fn document() -> Json<&'static Value> {
    Json(document_model())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_document_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("openapi/ks-network-apiserver.json");
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == format!("{}\n", pretty_json()),
            "{} is stale; run `cargo run -- openapi > openapi/ks-network-apiserver.json`",
            path.display()
        );
    }

    /// Every `$ref` of the document points at something it defines.
    #[test]
    fn references_resolve() {
        fn walk(value: &Value, doc: &Value, refs: &mut usize) {
            match value {
                Value::Object(map) => {
                    if let Some(Value::String(target)) = map.get("$ref") {
                        let pointer = target.trim_start_matches('#');
                        assert!(doc.pointer(pointer).is_some(), "dangling {target}");
                        *refs += 1;
                    }
                    map.values().for_each(|v| walk(v, doc, refs));
                }
                Value::Array(items) => items.iter().for_each(|v| walk(v, doc, refs)),
                _ => {}
            }
        }
        let doc = document_model();
        let mut refs = 0;
        walk(doc, doc, &mut refs);
        assert!(refs > 100, "{refs}");
    }

    /// Each `{parameter}` of a path template is declared as a required path parameter of every operation on it,
    /// and no operation declares one the template lacks.
    #[test]
    fn path_parameters_match_the_templates() {
        let paths = document_model()["paths"].as_object().unwrap();
        for (template, operations) in paths {
            let mut expected: Vec<&str> = template
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                .collect();
            expected.sort_unstable();
            for (method, operation) in operations.as_object().unwrap() {
                let mut declared: Vec<&str> = operation["parameters"]
                    .as_array()
                    .map(|ps| {
                        ps.iter()
                            .filter(|p| p["in"] == "path")
                            .inspect(|p| assert_eq!(p["required"], true, "{method} {template}"))
                            .filter_map(|p| p["name"].as_str())
                            .collect()
                    })
                    .unwrap_or_default();
                declared.sort_unstable();
                assert_eq!(declared, expected, "{method} {template}");
            }
        }
    }

    /// Every error answer is a `Status`; every operation has the middleware's answers.
    #[test]
    fn errors_are_status_objects() {
        let paths = document_model()["paths"].as_object().unwrap();
        for (template, operations) in paths {
            for (method, operation) in operations.as_object().unwrap() {
                let responses = operation["responses"].as_object().unwrap();
                for code in ["500", "504"] {
                    assert!(responses.contains_key(code), "{method} {template} {code}");
                }
                let public = operation["security"] == json!([{}]);
                assert_eq!(
                    responses.contains_key("401"),
                    !public,
                    "{method} {template}"
                );
                for (code, response) in responses {
                    let schema = &response["content"]["application/json"]["schema"];
                    if code.starts_with('4') || code == "504" {
                        assert_eq!(
                            schema["$ref"], "#/components/schemas/Status",
                            "{method} {template} {code}"
                        );
                    }
                    assert!(response["headers"]["X-Request-Id"].is_object());
                }
            }
        }
    }

    #[test]
    fn document_is_openapi_3_1() {
        let json = document_model();
        assert!(json["openapi"].as_str().unwrap().starts_with("3.1"));
        assert!(json["paths"]["/readyz"].is_object());
        assert!(json["paths"]["/kapis/network.kubesphere.io/v1alpha2/ippools"]["get"].is_object());
        let nsnp = "/kapis/network.kubesphere.io/v1alpha1/namespaces/{namespace}/namespacenetworkpolicies/{name}";
        let patch = &json["paths"][nsnp]["patch"];
        let types: Vec<&String> = patch["requestBody"]["content"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(
            types,
            [
                "application/merge-patch+json",
                "application/json",
                "application/strategic-merge-patch+json",
                "application/json-patch+json",
                "application/apply-patch+yaml"
            ]
        );
        let migrations = "/apis/network.kubesphere.io/v1alpha2/ippoolmigrations";
        assert!(json["paths"][migrations]["post"].is_object());
    }
}
