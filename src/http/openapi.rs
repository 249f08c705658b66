//! The OpenAPI 3.1 document of every route (`openapi` mode, `/openapi.json`, `openapi/`).

use axum::Json;
use utoipa::OpenApi;

use super::{aggregated, docs, error, health, ippools, metrics, migration, resources};
use crate::service::dynamic::PolicyResource;

/// The annotated routes; [`document_model`] adds the generated NetworkPolicy and NSNP ones.
#[derive(OpenApi)]
#[openapi(
    info(title = "ks-network-apiserver", description = "KubeSphere's network API on Calico and Kubernetes."),
    paths(
        health::healthz, health::livez, health::readyz, document, docs::redirect, docs::page, metrics::metrics,
        ippools::list, ippools::get_one, ippools::migration_targets, ippools::namespace_pools,
        migration::migrate, migration::unbind,
        resources::list_cluster, resources::get_cluster, resources::list_namespaced, resources::get_namespaced,
        aggregated::api_groups, aggregated::api_group, aggregated::api_resources, aggregated::list,
        aggregated::get_one, aggregated::create_migration,
    ),
    components(schemas(error::Status, error::StatusDetails)),
    modifiers(&BearerToken),
    tags(
        (name = "operations", description = "Health, readiness and documentation"),
        (name = "ippools", description = "Calico IP pools: occupancy, usable pools, migration"),
        (name = "resources", description = "Paged, sorted, filtered lists of namespaces, pods and more"),
        (name = "policies", description = "NetworkPolicies and NamespaceNetworkPolicies: reads from caches, writes as the caller"),
        (name = "aggregated", description = "The APIService v1alpha2.network.kubesphere.io: discovery, IPPools, IPPoolMigrations")
    )
)]
pub struct ApiDoc;

/// Every request but the public ones (api §0.2) carries `Authorization: Bearer <token>`: declared once, so
/// clients and the `/docs` page know how to authenticate.
struct BearerToken;

impl utoipa::Modify for BearerToken {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
        };
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        doc.security = Some(vec![SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
    }
}

/// The whole document: the annotated handlers plus the dynamic NetworkPolicy/NSNP routes, which are generated
/// per resource and so are described here.
pub fn document_model() -> utoipa::openapi::OpenApi {
    use utoipa::openapi::HttpMethod;
    use utoipa::openapi::path::OperationBuilder;
    use utoipa::openapi::response::ResponseBuilder;

    let mut doc = ApiDoc::openapi();
    let operation = |summary: String, ok: &str| {
        OperationBuilder::new()
            .tag("policies")
            .summary(Some(summary))
            .response("200", ResponseBuilder::new().description(ok))
            .response(
                "400",
                ResponseBuilder::new().description("Bad query parameters or body (Status)"),
            )
            .response(
                "401",
                ResponseBuilder::new().description("No or invalid credentials (Status)"),
            )
            .response(
                "403",
                ResponseBuilder::new().description("Forbidden (Status)"),
            )
            .build()
    };
    for resource in PolicyResource::ALL {
        let api = resource.api_resource();
        let (kind, plural) = (&api.kind, &api.plural);
        let base = format!("/kapis/{}", api.api_version);
        let collection = format!("{base}/namespaces/{{namespace}}/{plural}");
        let object = format!("{collection}/{{name}}");
        let list_ok =
            "A Kubernetes list; metadata.continue = filtered total, metadata.remainingItemCount";
        let paths = &mut doc.paths;
        paths.add_path_operation(
            format!("{base}/{plural}"),
            vec![HttpMethod::Get],
            operation(format!("List {kind}s in every namespace"), list_ok),
        );
        paths.add_path_operation(
            &collection,
            vec![HttpMethod::Get],
            operation(format!("List {kind}s of a namespace"), list_ok),
        );
        paths.add_path_operation(
            &collection,
            vec![HttpMethod::Post],
            operation(
                format!("Create a {kind} as the caller"),
                "201: the stored object",
            ),
        );
        paths.add_path_operation(
            &object,
            vec![HttpMethod::Get],
            operation(format!("Get a {kind}"), "The object"),
        );
        paths.add_path_operation(
            &object,
            vec![HttpMethod::Put],
            operation(
                format!("Replace a {kind} as the caller"),
                "The stored object",
            ),
        );
        paths.add_path_operation(
            &object,
            vec![HttpMethod::Patch],
            operation(
                format!("Patch a {kind} as the caller (type by Content-Type)"),
                "The stored object",
            ),
        );
        paths.add_path_operation(
            &object,
            vec![HttpMethod::Delete],
            operation(
                format!("Delete a {kind} as the caller"),
                "kube-apiserver's answer",
            ),
        );
    }
    doc
}

/// The document as pretty JSON (what `openapi` mode prints and `openapi/` holds).
pub fn pretty_json() -> String {
    document_model().to_pretty_json().unwrap_or_default()
}

/// `GET /openapi.json`: this document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
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

    #[test]
    fn document_is_openapi_3_1() {
        let json = serde_json::to_value(document_model()).unwrap();
        assert!(json["openapi"].as_str().unwrap().starts_with("3.1"));
        assert!(json["paths"]["/readyz"].is_object());
        assert!(json["paths"]["/kapis/network.kubesphere.io/v1alpha2/ippools"]["get"].is_object());
        let nsnp = "/kapis/network.kubesphere.io/v1alpha1/namespaces/{namespace}/namespacenetworkpolicies/{name}";
        assert!(json["paths"][nsnp]["patch"].is_object());
        let migrations = "/apis/network.kubesphere.io/v1alpha2/ippoolmigrations";
        assert!(json["paths"][migrations]["post"].is_object());
    }
}
