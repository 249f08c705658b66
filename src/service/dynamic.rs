//! The dynamic endpoints for NetworkPolicies and NamespaceNetworkPolicies (api §2): reads from the caches,
//! writes forwarded to kube-apiserver as the caller with the body rules of api §2.3.

use std::time::Instant;

use axum::http::{Method, StatusCode};
use serde_json::Value;

use super::authorize;
use crate::auth::{Access, Caller};
use crate::cluster::caller::{CallerClient, FIELD_MANAGER, Forward};
use crate::domain::nsnp;
use crate::domain::write_body::{self, BodyError, Target};
use crate::http::error::{StatusCause, StatusDetails};
use crate::http::{ApiError, AppState};

/// A resource served by the dynamic endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DynamicResource {
    /// API group.
    pub group: &'static str,
    /// API version.
    pub version: &'static str,
    /// Plural resource name.
    pub plural: &'static str,
    /// Kind.
    pub kind: &'static str,
}

/// `networking.k8s.io/v1` NetworkPolicies.
pub const NETWORK_POLICIES: DynamicResource = DynamicResource {
    group: "networking.k8s.io",
    version: "v1",
    plural: "networkpolicies",
    kind: "NetworkPolicy",
};

/// `network.kubesphere.io/v1alpha1` NamespaceNetworkPolicies.
pub const NAMESPACE_NETWORK_POLICIES: DynamicResource = DynamicResource {
    group: "network.kubesphere.io",
    version: "v1alpha1",
    plural: "namespacenetworkpolicies",
    kind: "NamespaceNetworkPolicy",
};

impl DynamicResource {
    /// `<plural>.<group>`.
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.plural, self.group)
    }

    /// `<group>/<version>`.
    pub fn api_version(&self) -> String {
        format!("{}/{}", self.group, self.version)
    }

    fn target<'a>(&'a self, namespace: &'a str, name: Option<&'a str>) -> Target<'a> {
        Target {
            group: self.group,
            version: self.version,
            kind: self.kind,
            namespace,
            name,
        }
    }

    fn path(&self, namespace: &str, name: Option<&str>) -> String {
        let base = format!(
            "/apis/{}/{}/namespaces/{namespace}/{}",
            self.group, self.version, self.plural
        );
        match name {
            Some(name) => format!("{base}/{name}"),
            None => base,
        }
    }
}

/// A write as received: which object, the client's query parameters, the body.
pub struct WriteRequest<'a> {
    /// The namespace from the URL.
    pub namespace: &'a str,
    /// The name from the URL (update, patch, delete).
    pub name: Option<&'a str>,
    /// The client's query parameters.
    pub query: &'a [(String, String)],
    /// The `Content-Type` header.
    pub content_type: &'a str,
    /// The body.
    pub body: &'a [u8],
    /// This request's id, for the audit log.
    pub request_id: &'a str,
}

/// POST (create), PUT (update), PATCH or DELETE, forwarded as the caller. Returns kube-apiserver's status
/// and body on success; its errors come back as [`ApiError::Upstream`].
pub async fn write(
    state: &AppState,
    caller: &Caller,
    resource: DynamicResource,
    method: Method,
    request: WriteRequest<'_>,
) -> Result<(StatusCode, Value), ApiError> {
    let target = resource.target(request.namespace, request.name);
    let mut object_name = request.name.unwrap_or_default().to_owned();
    let (body, content_type, forwarded): (Vec<u8>, Option<String>, &[&str]) = match method {
        Method::POST | Method::PUT => {
            let object = write_body::prepare_object(request.body, &target).map_err(body_error)?;
            object_name = object["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if resource == NAMESPACE_NETWORK_POLICIES {
                nsnp::validate(&object_name, &object)
                    .map_err(|invalid| invalid_error(&resource, invalid))?;
            }
            let body =
                serde_json::to_vec(&object).map_err(|e| ApiError::Internal(e.to_string()))?;
            (
                body,
                Some("application/json".to_owned()),
                &["dryRun", "fieldManager", "fieldValidation"],
            )
        }
        Method::PATCH => {
            let kind = write_body::check_patch(request.content_type, request.body, &target)
                .map_err(body_error)?;
            let forwarded: &[&str] = &["dryRun", "fieldManager", "fieldValidation", "force"];
            (
                request.body.to_vec(),
                Some(kind.content_type().to_owned()),
                forwarded,
            )
        }
        Method::DELETE => {
            let has_body = !request.body.iter().all(u8::is_ascii_whitespace);
            let content_type = has_body.then(|| "application/json".to_owned());
            (
                request.body.to_vec(),
                content_type,
                &["dryRun", "gracePeriodSeconds", "propagationPolicy"],
            )
        }
        _ => {
            return Err(ApiError::MethodNotAllowed(format!(
                "method {method} is not supported"
            )));
        }
    };
    let mut params: Vec<(String, String)> = request
        .query
        .iter()
        .filter(|(k, _)| forwarded.contains(&k.as_str()))
        .cloned()
        .collect();
    let writes_fields = method != Method::DELETE;
    if writes_fields && !params.iter().any(|(k, _)| k == "fieldManager") {
        params.push(("fieldManager".into(), FIELD_MANAGER.into()));
    }
    let query = serde_urlencoded::to_string(&params).unwrap_or_default();
    let collection = method == Method::POST;
    let path = resource.path(
        request.namespace,
        if collection { None } else { request.name },
    );
    let path_and_query = if query.is_empty() {
        path
    } else {
        format!("{path}?{query}")
    };

    let client = CallerClient::new(&state.kube_config, caller)
        .map_err(|e| ApiError::Internal(format!("cannot build a client for the caller: {e}")))?;
    let started = Instant::now();
    let verb = match method {
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        _ => "delete",
    };
    let forward = Forward {
        method,
        path_and_query,
        content_type: content_type.as_deref(),
        body,
    };
    let result = client.forward(forward).await;
    let code = result.as_ref().map(|(code, _)| code.as_u16()).unwrap_or(0);
    let dry_run = params.iter().any(|(k, _)| k == "dryRun");
    tracing::info!(
        target: "audit",
        requestID = request.request_id,
        user = %caller.identity.user,
        groups = ?caller.identity.groups,
        verb,
        apiGroup = resource.group,
        resource = resource.plural,
        namespace = request.namespace,
        name = object_name,
        dryRun = dry_run,
        code,
        latencyMs = started.elapsed().as_millis() as u64,
        "write"
    );
    let (code, bytes) = result
        .map_err(|e| ApiError::ServiceUnavailable(format!("cannot reach kube-apiserver: {e}")))?;
    let mut body: Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    if let Some(metadata) = body.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("managedFields");
    }
    if code.is_success() {
        Ok((code, body))
    } else {
        Err(ApiError::Upstream { code, body })
    }
}

/// 403 unless the caller may `get` the object (api §8, G).
pub async fn authorize_get(
    state: &AppState,
    caller: &Caller,
    resource: DynamicResource,
    namespace: &str,
    name: &str,
) -> Result<(), ApiError> {
    let access = Access::resource("get", resource.group, resource.plural)
        .in_namespace(namespace)
        .named(name);
    authorize(state, caller, &access).await
}

fn body_error(error: BodyError) -> ApiError {
    match error {
        BodyError::BadRequest(message) => ApiError::BadRequest(message),
        BodyError::UnsupportedMediaType(message) => ApiError::UnsupportedMediaType(message),
    }
}

fn invalid_error(resource: &DynamicResource, invalid: nsnp::Invalid) -> ApiError {
    ApiError::Invalid {
        message: invalid.message(),
        details: StatusDetails {
            name: invalid.name.clone(),
            group: resource.group.to_owned(),
            kind: resource.kind.to_owned(),
            causes: invalid
                .causes
                .iter()
                .map(|c| StatusCause {
                    reason: c.reason.to_owned(),
                    field: c.field.clone(),
                    message: c.message.clone(),
                })
                .collect(),
        },
    }
}
