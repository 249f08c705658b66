//! The operations of every surface, with their parameters, bodies and handler-level answers. The answers of the
//! middleware are added by [`super::with_common_responses`].

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{json_response, schema_ref, status_response};
use crate::http::extract::{NAME_PATTERN, NAMESPACE_PATTERN};
use crate::query::patterns;
use crate::service::dynamic::PolicyResource;

/// How an operation is authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// `Authorization: Bearer` (or the front proxy's certificate): the document's default.
    Bearer,
    /// No authentication (api §0.2).
    Public,
}

/// One operation: a method on a path.
pub struct Operation {
    pub method: &'static str,
    pub path: String,
    pub id: String,
    pub tag: &'static str,
    pub summary: String,
    pub description: Option<String>,
    pub security: Security,
    pub parameters: Vec<Value>,
    pub request_body: Option<Value>,
    pub responses: BTreeMap<u16, Value>,
}

impl Operation {
    fn new(
        method: &'static str,
        path: impl Into<String>,
        id: impl Into<String>,
        tag: &'static str,
    ) -> Self {
        Operation {
            method,
            path: path.into(),
            id: id.into(),
            tag,
            summary: String::new(),
            description: None,
            security: Security::Bearer,
            parameters: Vec::new(),
            request_body: None,
            responses: BTreeMap::new(),
        }
    }

    fn summary(mut self, summary: impl Into<String>) -> Self {
        self.summary = summary.into();
        self
    }

    fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    fn public(mut self) -> Self {
        self.security = Security::Public;
        self
    }

    fn params(mut self, parameters: impl IntoIterator<Item = Value>) -> Self {
        self.parameters.extend(parameters);
        self
    }

    fn body(mut self, body: Value) -> Self {
        self.request_body = Some(body);
        self
    }

    fn response(mut self, code: u16, response: Value) -> Self {
        self.responses.insert(code, response);
        self
    }

    /// Adds `Status` answers: `(code, description)`.
    fn errors(mut self, errors: &[(u16, &str)]) -> Self {
        for (code, description) in errors {
            self.responses.insert(*code, status_response(description));
        }
        self
    }

    /// The operation object.
    pub fn into_json(self) -> Value {
        let mut operation = json!({
            "tags": [self.tag],
            "summary": self.summary,
            "operationId": self.id,
        });
        if let Some(description) = self.description {
            operation["description"] = description.into();
        }
        if !self.parameters.is_empty() {
            operation["parameters"] = self.parameters.into();
        }
        if let Some(body) = self.request_body {
            operation["requestBody"] = body;
        }
        let responses: serde_json::Map<String, Value> = self
            .responses
            .into_iter()
            .map(|(code, response)| (code.to_string(), response))
            .collect();
        operation["responses"] = responses.into();
        if self.security == Security::Public {
            operation["security"] = json!([{}]);
        }
        operation
    }
}

/// Every operation of the API (api §1–§5).
pub fn all() -> Vec<Operation> {
    let mut all = operational();
    all.extend(ippools());
    all.extend(resources());
    for resource in PolicyResource::ALL {
        all.extend(policies(resource));
    }
    all.extend(aggregated());
    all
}

// ---------------------------------------------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------------------------------------------

fn path_param(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "path", "required": true, "description": description, "schema": schema})
}

fn query_param(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "description": description, "schema": schema})
}

/// A name read from a cache: anything can be asked for, and what does not exist is a 404.
fn any_name(name: &str, description: &str, example: &str) -> Value {
    path_param(
        name,
        description,
        json!({"type": "string", "minLength": 1, "examples": [example]}),
    )
}

/// `{namespace}` of a write: a DNS-1123 label, else 400 before anything is forwarded.
fn checked_namespace() -> Value {
    path_param(
        "namespace",
        "Namespace: a DNS-1123 label (anything else is a 400)",
        json!({"type": "string", "pattern": NAMESPACE_PATTERN}),
    )
}

/// `{name}` of a write: a DNS-1123 subdomain, else 400.
fn checked_name() -> Value {
    path_param(
        "name",
        "Object name: a DNS-1123 subdomain (anything else is a 400)",
        json!({"type": "string", "pattern": NAME_PATTERN}),
    )
}

fn selector_param(name: &str, description: &str) -> Value {
    query_param(
        name,
        description,
        json!({"type": "string", "pattern": patterns::label_selector(), "examples": ["app=web,tier in (a,b)"]}),
    )
}

/// `#/components/parameters/<name>`.
fn parameter_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/parameters/{name}")})
}

/// The filters of algorithms §9.4 (every resource), then those of §9.5–§9.6 (pods, namespaces).
const FILTERS: &[(&str, &str)] = &[
    (
        "names",
        "Objects whose name is one of these comma-separated names",
    ),
    (
        "name",
        "Objects whose name contains the value, or whose `kubesphere.io/alias-name` does (any case)",
    ),
    ("nameAndAlias", "Same as `name`"),
    ("uid", "The object with this uid"),
    (
        "ownerReference",
        "Objects with an owner of this uid (pods: also their ReplicaSet's owner)",
    ),
    ("ownerKind", "Objects with an owner of this kind"),
];
const RESOURCE_FILTERS: &[(&str, &str)] = &[
    ("nodeName", "Pods on this node"),
    ("pvcName", "Pods mounting this PersistentVolumeClaim"),
    (
        "serviceName",
        "Pods selected by this Service of their namespace",
    ),
    ("phase", "Pods in this `status.phase`"),
    ("podIP", "Pods with an IP containing the value"),
    (
        "status",
        "Pods with this derived status (`Running`, `Waiting`, `Error`, `Completed`); namespaces with this phase",
    ),
];

/// The list parameters of algorithms §9.1 and the filters, shared by every list (`#/components/parameters`).
pub fn shared_parameters() -> serde_json::Map<String, Value> {
    let mut params = vec![
        query_param(
            "page",
            "1-based page (default 1); an integer below 1 is a 400, a value that is not an integer is ignored",
            json!({"anyOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": patterns::PAGE}]}),
        ),
        query_param(
            "limit",
            "Page size (default −1: everything; 0: an empty page); an integer below −1 is a 400, a value that is \
             not an integer is ignored",
            json!({"anyOf": [{"type": "integer", "minimum": -1}, {"type": "string", "pattern": patterns::LIMIT}]}),
        ),
        query_param(
            "sortBy",
            "`name`, `createTime`/`creationTimestamp` (default), `startTime` (pods); another value sorts by creation time",
            json!({"type": "string", "examples": ["createTime"]}),
        ),
        query_param(
            "ascending",
            "`1`, `t`, `T`, `TRUE`, `true`, `True`: ascending; anything else (default): descending",
            json!({"type": "string", "examples": ["true"]}),
        ),
        selector_param(
            "labelSelector",
            "Kubernetes label selector (algorithms §9.3): a 400 when it does not parse",
        ),
        selector_param(
            "label",
            "The same selector grammar, as a filter on the effective labels",
        ),
        selector_param("annotation", "The selector grammar on annotations"),
        query_param(
            "watch",
            "Not supported: `true` or `1` is a 400 `watch is not supported`; other values are ignored",
            json!({"type": "string", "pattern": patterns::WATCH}),
        ),
        query_param(
            "fieldSelector",
            "Comma-separated `path=value`, `path==value`, `path!=value` on the object's JSON (algorithms §9.8)",
            json!({"type": "string", "pattern": patterns::field_selector(), "examples": ["metadata.name=web"]}),
        ),
    ];
    params.extend(
        FILTERS
            .iter()
            .chain(RESOURCE_FILTERS)
            .map(|(name, description)| query_param(name, description, json!({"type": "string"}))),
    );
    params
        .into_iter()
        .filter_map(|param| Some((param["name"].as_str()?.to_owned(), param)))
        .collect()
}

/// The list parameters of a list: `fieldSelector` on dynamic lists only, the pod and namespace filters on v1alpha3.
fn list_params(field_selector: bool, resource_filters: bool) -> Vec<Value> {
    let mut names = vec![
        "page",
        "limit",
        "sortBy",
        "ascending",
        "labelSelector",
        "label",
        "annotation",
        "watch",
    ];
    if field_selector {
        names.push("fieldSelector");
    }
    names.extend(FILTERS.iter().map(|(name, _)| *name));
    if resource_filters {
        names.extend(RESOURCE_FILTERS.iter().map(|(name, _)| *name));
    }
    names.into_iter().map(parameter_ref).collect()
}

// ---------------------------------------------------------------------------------------------------------------
// Operational endpoints (api §5)
// ---------------------------------------------------------------------------------------------------------------

fn text(description: &str, media_type: &str, schema: Value) -> Value {
    json!({"description": description, "content": {media_type: {"schema": schema}}})
}

fn operational() -> Vec<Operation> {
    let ok = || text("The process serves", "text/plain", json!({"enum": ["ok"]}));
    let readiness = |what: &str| text(what, "text/plain", json!({"type": "string"}));
    vec![
        Operation::new("get", "/healthz", "healthz", "operations")
            .summary("Liveness: `ok` while the process serves")
            .public()
            .response(200, ok()),
        Operation::new("get", "/livez", "livez", "operations")
            .summary("Liveness: same as /healthz")
            .public()
            .response(200, ok()),
        Operation::new("get", "/readyz", "readyz", "operations")
            .summary("Readiness: every watch cache synced, watches healthy, not draining")
            .public()
            .params([query_param(
                "verbose",
                "Present (any value): list every check, also on success",
                json!({"type": "string"}),
            )])
            .response(200, readiness("Ready: `ok`, or the checks with `?verbose`"))
            .response(
                503,
                readiness("Not ready: one line per check (`[-]informer-sync failed`), then `readyz check failed`"),
            ),
        Operation::new("get", "/openapi.json", "openapi", "operations")
            .summary("This OpenAPI 3.1 document")
            .public()
            .response(200, json_response("The document", json!({"type": "object"}))),
        Operation::new("get", "/docs", "docsRedirect", "operations")
            .summary("Redirect to the interactive API page")
            .public()
            .response(
                308,
                json!({"description": "To /docs/", "headers": {"Location": {"schema": {"enum": ["/docs/"]}}}}),
            ),
        Operation::new("get", "/docs/", "docs", "operations")
            .summary("The interactive API page (Swagger UI over /openapi.json)")
            .public()
            .response(200, text("The page", "text/html", json!({"type": "string"}))),
        Operation::new("get", "/docs/{file}", "docsFile", "operations")
            .summary("A file of the vendored Swagger UI (its script, style sheet, icon, LICENSE and NOTICE)")
            .public()
            .params([path_param(
                "file",
                "File name; another name is a 404",
                json!({"type": "string", "minLength": 1, "examples": ["swagger-ui.css"]}),
            )])
            .response(
                200,
                json!({
                    "description": "The file",
                    "content": {
                        "text/javascript": {"schema": {"type": "string"}},
                        "text/css": {"schema": {"type": "string"}},
                        "image/png": {"schema": {"type": "string", "contentMediaType": "image/png"}},
                        "text/plain": {"schema": {"type": "string"}},
                    },
                }),
            )
            .errors(&[(404, "No such file")]),
        Operation::new("get", "/metrics", "metrics", "operations")
            .summary("Prometheus metrics: pools, orphan blocks, caches, requests, controller")
            .description(
                "Needs a caller allowed `get` on the non-resource URL `/metrics` unless `server.metricsRequireAuth` is false.",
            )
            .response(200, text("Prometheus text format", "text/plain", json!({"type": "string"})))
            .errors(&[(403, "The caller may not get /metrics")]),
    ]
}

// ---------------------------------------------------------------------------------------------------------------
// /kapis/network.kubesphere.io/v1alpha2 (api §1)
// ---------------------------------------------------------------------------------------------------------------

const NETWORK: &str = "/kapis/network.kubesphere.io/v1alpha2";

/// The 503 of reads from caches that have not synced yet.
const NOT_SYNCED: (u16, &str) = (
    503,
    "The caches this needs have not synced yet, or credentials cannot be checked",
);

fn pools_array(description: &str) -> Value {
    json_response(
        description,
        json!({"type": "array", "items": schema_ref("IPPool")}),
    )
}

/// The fields of a migration request (api §1.4 inputs).
fn migration_fields(json: bool) -> Value {
    let name = |what: &str| json!({"type": "string", "minLength": 1, "description": what});
    let dry_run = if json {
        json!({"description": "`true`, `\"true\"` or `\"All\"`: plan only; any other value: write"})
    } else {
        json!({"type": "string", "description": "`true` or `All`: plan only"})
    };
    json!({
        "type": "object",
        "required": ["oldippool", "newippool"],
        "properties": {
            "oldippool": name("The pool to move away from"),
            "newippool": name("The pool to move to (a different one)"),
            "dryRun": dry_run,
        },
        "example": {"oldippool": "pool-disabled", "newippool": "pool-b", "dryRun": "true"},
    })
}

fn ippools() -> Vec<Operation> {
    let dry_run = || {
        query_param(
            "dryRun",
            "`true` or `All`: plan only; other values: write",
            json!({"type": "string", "examples": ["true"]}),
        )
    };
    let summary = |what: &str| json_response(what, schema_ref("MigrationSummary"));
    vec![
        Operation::new("get", format!("{NETWORK}/ippools"), "listIPPools", "ippools")
            .summary("Every Calico pool with its occupancy status, sorted by name")
            .response(200, pools_array("A JSON array of IPPools"))
            .errors(&[(403, "The caller may not list Calico ippools"), NOT_SYNCED]),
        Operation::new("get", format!("{NETWORK}/ippools/{{name}}"), "readIPPool", "ippools")
            .summary("One pool with its occupancy status")
            .params([any_name("name", "Pool name", "default-ipv4-ippool")])
            .response(200, json_response("The IPPool", schema_ref("IPPool")))
            .errors(&[(403, "The caller may not get the pool"), (404, "No such pool"), NOT_SYNCED]),
        Operation::new("get", format!("{NETWORK}/ippools/{{name}}/migrate"), "listMigrationTargets", "ippools")
            .summary("Pools the named pool can be migrated to (same family, usable), sorted by name")
            .params([any_name("name", "Source pool", "pool-disabled")])
            .response(200, json_response("A Calico IPPoolList", schema_ref("IPPoolList")))
            .errors(&[(403, "The caller may not get the pool"), (404, "No such pool"), NOT_SYNCED]),
        Operation::new("get", format!("{NETWORK}/namespaces/{{namespace}}/ippools"), "listNamespaceIPPools", "ippools")
            .summary("Pools a namespace may use: its bound usable pools, else every usable pool")
            .params([any_name("namespace", "Namespace", "demo")])
            .response(200, pools_array("A JSON array of IPPools, sorted by name (the console maps over it)"))
            .errors(&[(403, "The caller may not get the namespace"), (404, "No such namespace"), NOT_SYNCED]),
        Operation::new("post", format!("{NETWORK}/ippoolmigrations"), "migrateIPPool", "ippools")
            .summary("Move namespaces and workloads from `oldippool` to `newippool`")
            .description(
                "Each field is taken from the body (form, multipart or JSON), else from the query string. Validation \
                 (api §1.4): both names required and different (400), both pools exist (404), same IP family, new \
                 pool enabled, usable by workloads, not being deleted and a valid label name (400); every planned \
                 write allowed (403). Runs under `server.longRequestTimeoutSeconds`.",
            )
            .params([
                query_param("oldippool", "Source pool, when the body has none", json!({"type": "string"})),
                query_param("newippool", "Target pool, when the body has none", json!({"type": "string"})),
                dry_run(),
            ])
            .body(json!({
                "required": true,
                "content": {
                    "application/x-www-form-urlencoded": {"schema": migration_fields(false)},
                    "multipart/form-data": {"schema": migration_fields(false)},
                    "application/json": {"schema": migration_fields(true)},
                },
            }))
            .response(200, summary("Done (or planned, with dryRun): what was changed"))
            .response(500, summary("Partial failure: the same summary with `errors`; repeating it is safe"))
            .errors(&[
                (400, "Invalid request body, or a validation failure of api §1.4"),
                (403, "A planned write is not allowed to the caller"),
                (404, "A pool does not exist"),
                (415, "A body of another content type"),
                NOT_SYNCED,
            ]),
        Operation::new("post", format!("{NETWORK}/ippools/{{name}}/unbind"), "unbindIPPool", "ippools")
            .summary("Unbind every namespace from a pool (the pool need not exist)")
            .params([
                path_param(
                    "name",
                    "Pool name: a DNS-1123 subdomain that is a valid label name (at most 63 characters), else 400",
                    json!({"type": "string", "pattern": BINDABLE_POOL_NAME}),
                ),
                dry_run(),
            ])
            .body(json!({
                "description": "Optional: `{\"dryRun\": true}` (any JSON; other fields are ignored)",
                "content": {"application/json": {"schema": {"examples": [{"dryRun": true}]}}},
            }))
            .response(200, json_response("Done (or planned): the namespaces", schema_ref("UnbindSummary")))
            .response(500, json_response("Partial failure, with `errors`", schema_ref("UnbindSummary")))
            .errors(&[
                (400, "The body is not JSON, or the name is not a valid label name"),
                (403, "Patching an affected namespace is not allowed to the caller"),
                NOT_SYNCED,
            ]),
    ]
}

/// A DNS-1123 subdomain of at most 63 characters: a `{name}` that passes both the path check and algorithms §4.5.
pub const BINDABLE_POOL_NAME: &str =
    "^(?![-a-z0-9.]{64})[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$";

// ---------------------------------------------------------------------------------------------------------------
// /kapis/resources.kubesphere.io/v1alpha3 (api §3)
// ---------------------------------------------------------------------------------------------------------------

const RESOURCES: &str = "/kapis/resources.kubesphere.io/v1alpha3";

fn resources() -> Vec<Operation> {
    let resource = |served: &[&str], description: &str| {
        path_param(
            "resources",
            &format!("{description}; another resource is a 404 `resource is not supported`"),
            json!({"enum": served}),
        )
    };
    let all = [
        "namespaces",
        "pods",
        "services",
        "networkpolicies",
        "namespacenetworkpolicies",
        "ippools",
        "workspaces",
    ];
    let cluster_scoped = ["namespaces", "ippools", "workspaces"];
    let namespaced = [
        "pods",
        "services",
        "networkpolicies",
        "namespacenetworkpolicies",
        "ippools",
    ];
    let list = || json_response("`items` and `totalItems`", schema_ref("ResourceList"));
    let object = || {
        json_response(
            "The object (Kubernetes shape, effective labels)",
            schema_ref("KubernetesObject"),
        )
    };
    let list_errors: &[(u16, &str)] = &[
        (400, "Invalid list parameters (algorithms §9.2)"),
        (403, "The caller may not list the resource there"),
        (404, "The resource is not served in this form"),
        NOT_SYNCED,
    ];
    let get_errors: &[(u16, &str)] = &[
        (403, "The caller may not get the object"),
        (
            404,
            "No such object, or the resource is not served in this form",
        ),
        NOT_SYNCED,
    ];
    vec![
        Operation::new(
            "get",
            format!("{RESOURCES}/{{resources}}"),
            "listResources",
            "resources",
        )
        .summary("A page of a resource across the cluster")
        .params([resource(&all, "Resource")])
        .params(list_params(false, true))
        .response(200, list())
        .errors(list_errors),
        Operation::new(
            "get",
            format!("{RESOURCES}/{{resources}}/{{name}}"),
            "readClusterResource",
            "resources",
        )
        .summary("One cluster-scoped object")
        .params([
            resource(&cluster_scoped, "A cluster-scoped resource"),
            any_name("name", "Object name", "demo"),
        ])
        .response(200, object())
        .errors(get_errors),
        Operation::new(
            "get",
            format!("{RESOURCES}/namespaces/{{namespace}}/{{resources}}"),
            "listNamespacedResources",
            "resources",
        )
        .summary("A page of a resource in one namespace (ippools: the pools the namespace may use)")
        .params([
            any_name("namespace", "Namespace", "demo"),
            resource(&namespaced, "A namespaced resource, or ippools"),
        ])
        .params(list_params(false, true))
        .response(200, list())
        .errors(list_errors),
        Operation::new(
            "get",
            format!("{RESOURCES}/namespaces/{{namespace}}/{{resources}}/{{name}}"),
            "readNamespacedResource",
            "resources",
        )
        .summary("One object in a namespace (ippools: the pool if the namespace may use it)")
        .params([
            any_name("namespace", "Namespace", "demo"),
            resource(&namespaced, "A namespaced resource, or ippools"),
            any_name("name", "Object name", "demo"),
        ])
        .response(200, object())
        .errors(get_errors),
    ]
}

// ---------------------------------------------------------------------------------------------------------------
// NetworkPolicies and NamespaceNetworkPolicies (api §2)
// ---------------------------------------------------------------------------------------------------------------

/// The answers kube-apiserver can give to a forwarded write, passed through (api §0.5).
const FORWARDED: &[(u16, &str)] = &[
    (
        400,
        "The body breaks a rule of api §2.3, or kube-apiserver refused it",
    ),
    (403, "kube-apiserver's RBAC or admission refused the caller"),
    (404, "No such namespace or object"),
    (409, "Conflict or AlreadyExists (kube-apiserver)"),
    (422, "Invalid (kube-apiserver's validation)"),
    (
        503,
        "kube-apiserver cannot be reached, or credentials cannot be checked",
    ),
];

fn policies(resource: PolicyResource) -> Vec<Operation> {
    let api = resource.api_resource();
    let (kind, plural) = (api.kind.as_str(), api.plural.as_str());
    let base = format!("/kapis/{}", api.api_version);
    let collection = format!("{base}/namespaces/{{namespace}}/{plural}");
    let object = format!("{collection}/{{name}}");
    let list = || {
        json_response(
            &format!("A {kind}List; `metadata.continue` is the filtered total"),
            schema_ref(&format!("{kind}List")),
        )
    };
    let stored = |what: &str| json_response(what, schema_ref(kind));
    let write_params = || {
        [
            query_param(
                "dryRun",
                "`All`: kube-apiserver validates without storing",
                json!({"enum": ["All"]}),
            ),
            query_param(
                "fieldManager",
                "Field manager (default `ks-network-apiserver`; empty: none)",
                json!({"type": "string", "maxLength": 128}),
            ),
        ]
    };
    let body = |schema: Value| json!({"required": true, "content": {"application/json": {"schema": schema}}});
    let with_nsnp_validation = |errors: &mut Vec<(u16, &'static str)>| {
        if resource == PolicyResource::NamespaceNetworkPolicies {
            errors.retain(|(code, _)| *code != 422);
            errors.push((
                422,
                "Invalid: the NSNP rules of algorithms §10.6, or kube-apiserver's validation",
            ));
        }
    };
    let mut create_errors = FORWARDED.to_vec();
    with_nsnp_validation(&mut create_errors);
    let patch_errors: Vec<(u16, &str)> = FORWARDED
        .iter()
        .copied()
        .chain([(
            415,
            "Another Content-Type (or a strategic merge patch of a custom resource)",
        )])
        .collect();
    let read_errors: &[(u16, &str)] = &[
        (403, "The caller may not get it"),
        (404, "No such object"),
        NOT_SYNCED,
    ];
    let list_errors: &[(u16, &str)] = &[
        (400, "Invalid list parameters (algorithms §9.2)"),
        (403, "The caller may not list them"),
        NOT_SYNCED,
    ];
    let write_schema = schema_ref(&format!("{kind}Write"));
    let patch_body = json!({
        "required": true,
        "description": "The patch type comes from Content-Type (api §2.6)",
        "content": {
            "application/merge-patch+json": {"schema": schema_ref("MergePatch")},
            "application/json": {"schema": schema_ref("MergePatch")},
            "application/strategic-merge-patch+json": {"schema": schema_ref("MergePatch")},
            "application/json-patch+json": {"schema": schema_ref("JsonPatch")},
            "application/apply-patch+yaml": {"schema": schema_ref(&format!("{kind}Apply"))},
        },
    });
    let tag = "policies";
    vec![
        Operation::new("get", format!("{base}/{plural}"), format!("list{kind}ForAllNamespaces"), tag)
            .summary(format!("A page of {kind}s in every namespace the caller may list"))
            .params(list_params(true, false))
            .response(200, list())
            .errors(list_errors),
        Operation::new("get", collection.clone(), format!("list{kind}"), tag)
            .summary(format!("A page of {kind}s of a namespace"))
            .params([any_name("namespace", "Namespace", "demo")])
            .params(list_params(true, false))
            .response(200, list())
            .errors(list_errors),
        Operation::new("post", collection.clone(), format!("create{kind}"), tag)
            .summary(format!("Create a {kind} as the caller"))
            .description(
                "`apiVersion`, `kind` and `metadata.namespace` may be left out (filled in) but must match the URL \
                 when given (400). Forwarded to kube-apiserver with the caller's identity; its answer is passed through.",
            )
            .params([checked_namespace()])
            .params(write_params())
            .body(body(write_schema.clone()))
            .response(201, stored("The stored object"))
            .response(200, stored("The object (dry run)"))
            .errors(&create_errors),
        Operation::new("get", object.clone(), format!("read{kind}"), tag)
            .summary(format!("One {kind} (from the cache)"))
            .params([any_name("namespace", "Namespace", "demo"), any_name("name", "Name", "allow-from-demo")])
            .response(200, stored("The object"))
            .errors(read_errors),
        Operation::new("put", object.clone(), format!("replace{kind}"), tag)
            .summary(format!("Replace a {kind} as the caller"))
            .description(
                "`metadata.name`, when given, must equal `{name}` (400); without `metadata.resourceVersion` the \
                 update is unconditional.",
            )
            .params([checked_namespace(), checked_name()])
            .params(write_params())
            .body(body(write_schema))
            .response(200, stored("The stored object"))
            .response(201, stored("Created"))
            .errors(&create_errors),
        Operation::new("patch", object.clone(), format!("patch{kind}"), tag)
            .summary(format!("Patch a {kind} as the caller (type by Content-Type)"))
            .params([checked_namespace(), checked_name()])
            .params(write_params())
            .params([query_param(
                "force",
                "Server-side apply: take over conflicting fields",
                json!({"type": "boolean"}),
            )])
            .body(patch_body)
            .response(200, stored("The patched object"))
            .response(201, stored("Created by server-side apply"))
            .errors(&patch_errors),
        Operation::new("delete", object, format!("delete{kind}"), tag)
            .summary(format!("Delete a {kind} as the caller"))
            .description(
                "`dryRun`, `gracePeriodSeconds` and `propagationPolicy` go in the DeleteOptions body, or, without a \
                 body, in the query string (kube-apiserver reads the query only then). A body that is not a \
                 DeleteOptions is a 400.",
            )
            .params([checked_namespace(), checked_name()])
            .body(json!({
                "description": "Optional DeleteOptions, forwarded unchanged",
                "content": {"application/json": {"schema": schema_ref("DeleteOptions")}},
            }))
            .response(200, json_response("kube-apiserver's answer: a `Status` or the object", json!({"type": "object"})))
            .response(202, json_response("Accepted: the object, still finalizing", json!({"type": "object"})))
            .errors(FORWARDED),
    ]
}

// ---------------------------------------------------------------------------------------------------------------
// The aggregated APIService (api §4)
// ---------------------------------------------------------------------------------------------------------------

const AGGREGATED: &str = "/apis/network.kubesphere.io/v1alpha2";

fn aggregated() -> Vec<Operation> {
    let tag = "aggregated";
    let table_or = |name: &str| json!({"oneOf": [schema_ref(name), schema_ref("Table")]});
    vec![
        Operation::new("get", "/apis", "getAPIGroups", tag)
            .summary("The API groups: network.kubesphere.io, preferred version v1alpha2")
            .response(200, json_response("APIGroupList", schema_ref("APIGroupList"))),
        Operation::new("get", "/apis/network.kubesphere.io", "getAPIGroup", tag)
            .summary("The APIGroup network.kubesphere.io")
            .response(200, json_response("APIGroup", schema_ref("APIGroup"))),
        Operation::new("get", AGGREGATED, "getAPIResources", tag)
            .summary("The resources of v1alpha2: ippoolmigrations (create), ippools (get, list)")
            .response(200, json_response("APIResourceList", schema_ref("APIResourceList"))),
        Operation::new("get", format!("{AGGREGATED}/ippools"), "listAggregatedIPPools", tag)
            .summary("Every pool with status as an IPPoolList, or a Table")
            .description("`Accept: application/json;as=Table;v=v1;g=meta.k8s.io` asks for a `meta.k8s.io/v1` Table.")
            .params([
                parameter_ref("labelSelector"),
                query_param(
                    "fieldSelector",
                    "`metadata.name=<v>`, `metadata.name==<v>` or `metadata.name!=<v>` (comma-separated); other fields are a 400",
                    json!({"type": "string", "pattern": patterns::name_field_selector(), "examples": ["metadata.name=pool-b"]}),
                ),
                query_param(
                    "watch",
                    "Not supported: `true` or `1` is a 405",
                    json!({"type": "string", "pattern": patterns::WATCH}),
                ),
            ])
            .response(200, json_response("IPPoolList sorted by name, or a Table", table_or("AggregatedIPPoolList")))
            .errors(&[
                (400, "Invalid labelSelector or fieldSelector"),
                (403, "The caller may not list Calico ippools"),
                (405, "watch is not supported"),
                NOT_SYNCED,
            ]),
        Operation::new("get", format!("{AGGREGATED}/ippools/{{name}}"), "readAggregatedIPPool", tag)
            .summary("One pool with status as an IPPool, or a one-row Table")
            .params([any_name("name", "Pool name", "default-ipv4-ippool")])
            .response(200, json_response("IPPool (network.kubesphere.io/v1alpha2), or a Table", table_or("AggregatedIPPool")))
            .errors(&[(403, "The caller may not get the pool"), (404, "No such pool"), NOT_SYNCED]),
        Operation::new("post", format!("{AGGREGATED}/ippoolmigrations"), "createIPPoolMigration", tag)
            .summary("Run the migration an IPPoolMigration describes (nothing is stored)")
            .description("Validation and codes as `POST /kapis/network.kubesphere.io/v1alpha2/ippoolmigrations`.")
            .params([query_param(
                "dryRun",
                "`All` (or `true`): plan only",
                json!({"type": "string", "examples": ["All"]}),
            )])
            .body(json!({
                "required": true,
                "content": {"application/json": {"schema": schema_ref("IPPoolMigration")}},
            }))
            .response(201, json_response("The IPPoolMigration with `status`", schema_ref("IPPoolMigrationResult")))
            .errors(&[
                (400, "Invalid body (apiVersion, kind, spec), or a validation failure"),
                (403, "A planned write is not allowed to the caller"),
                (404, "A pool does not exist"),
                (415, "A Content-Type other than application/json"),
                (500, "Partial failure: the message lists the failed writes"),
                NOT_SYNCED,
            ]),
    ]
}
