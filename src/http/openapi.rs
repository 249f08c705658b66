//! The OpenAPI 3.1 document of every route (`openapi` mode, `/openapi.json`, `openapi/`).

use axum::Json;
use utoipa::OpenApi;

use super::{error, health, ippools, metrics, migration, resources};

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "ks-network-apiserver", description = "KubeSphere's network API on Calico and Kubernetes."),
    paths(
        health::healthz, health::livez, health::readyz, document, metrics::metrics,
        ippools::list, ippools::get_one, ippools::migration_targets, ippools::namespace_pools,
        migration::migrate, migration::unbind,
        resources::list_cluster, resources::get_cluster, resources::list_namespaced, resources::get_namespaced,
    ),
    components(schemas(error::Status, error::StatusDetails)),
    tags(
        (name = "operations", description = "Health, readiness and documentation"),
        (name = "ippools", description = "Calico IP pools: occupancy, usable pools, migration"),
        (name = "resources", description = "Paged, sorted, filtered lists of namespaces, pods and more")
    )
)]
pub struct ApiDoc;

/// The document as pretty JSON (what `openapi` mode prints and `openapi/` holds).
pub fn pretty_json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default()
}

/// `GET /openapi.json`: this document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
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

    #[test]
    fn document_is_openapi_3_1() {
        let json = serde_json::to_value(ApiDoc::openapi()).unwrap();
        assert!(json["openapi"].as_str().unwrap().starts_with("3.1"));
        assert!(json["paths"]["/readyz"].is_object());
    }
}
