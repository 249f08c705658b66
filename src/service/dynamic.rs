//! Writes of the dynamic endpoints for NetworkPolicies and NamespaceNetworkPolicies (api §2): the body rules of
//! api §2.3, then the request forwarded to kube-apiserver as the caller. Reads are in [`super::lists`].

use std::time::Instant;

use http::{Method, StatusCode};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::ApiResource;
use serde_json::Value;

use super::audit::{self, Write};
use super::{Context, Error, InvalidObject};
use crate::auth::Caller;
use crate::cluster::caller::{FIELD_MANAGER, Forward};
use crate::cluster::kubesphere::NamespaceNetworkPolicy;
use crate::domain::nsnp;
use crate::domain::write_body::{self, Target};

/// The resources the dynamic endpoints serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PolicyResource {
    /// `networking.k8s.io/v1` NetworkPolicies.
    NetworkPolicies,
    /// `network.kubesphere.io/v1alpha1` NamespaceNetworkPolicies.
    NamespaceNetworkPolicies,
}

impl PolicyResource {
    /// Both, in route order.
    pub const ALL: [PolicyResource; 2] = [
        PolicyResource::NetworkPolicies,
        PolicyResource::NamespaceNetworkPolicies,
    ];

    /// Group, version, kind and plural, from the Rust type.
    pub fn api_resource(self) -> ApiResource {
        match self {
            PolicyResource::NetworkPolicies => ApiResource::erase::<NetworkPolicy>(&()),
            PolicyResource::NamespaceNetworkPolicies => {
                ApiResource::erase::<NamespaceNetworkPolicy>(&())
            }
        }
    }
}

/// The write a client asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteVerb {
    /// POST on the collection.
    Create,
    /// PUT on the object.
    Update,
    /// PATCH on the object.
    Patch,
    /// DELETE on the object.
    Delete,
}

impl WriteVerb {
    fn method(self) -> Method {
        match self {
            WriteVerb::Create => Method::POST,
            WriteVerb::Update => Method::PUT,
            WriteVerb::Patch => Method::PATCH,
            WriteVerb::Delete => Method::DELETE,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            WriteVerb::Create => "create",
            WriteVerb::Update => "update",
            WriteVerb::Patch => "patch",
            WriteVerb::Delete => "delete",
        }
    }

    /// The client query parameters kube-apiserver gets to see.
    fn forwarded_parameters(self) -> &'static [&'static str] {
        match self {
            WriteVerb::Create | WriteVerb::Update => &["dryRun", "fieldManager", "fieldValidation"],
            WriteVerb::Patch => &["dryRun", "fieldManager", "fieldValidation", "force"],
            WriteVerb::Delete => &["dryRun", "gracePeriodSeconds", "propagationPolicy"],
        }
    }
}

/// A write as received: which object, the client's query parameters, the body.
pub struct WriteRequest<'a> {
    pub verb: WriteVerb,
    /// The namespace from the URL.
    pub namespace: &'a str,
    /// The name from the URL (update, patch, delete).
    pub name: Option<&'a str>,
    /// The client's query parameters; only those the verb forwards (`dryRun`, `fieldManager`, …) reach kube-apiserver.
    pub query: &'a [(String, String)],
    /// The `Content-Type` header.
    pub content_type: &'a str,
    pub body: &'a [u8],
    /// This request's id, for the audit log.
    pub request_id: &'a str,
}

/// Forwards a write as the caller. Returns kube-apiserver's status and body on success; its errors come back
/// as [`Error::Upstream`].
pub async fn write(
    context: &Context,
    caller: &Caller,
    resource: PolicyResource,
    request: WriteRequest<'_>,
) -> Result<(StatusCode, Value), Error> {
    let api = resource.api_resource();
    let target = Target {
        group: &api.group,
        version: &api.version,
        kind: &api.kind,
        namespace: request.namespace,
        name: request.name,
    };
    let mut object_name = request.name.unwrap_or_default().to_owned();
    let (body, content_type) = match request.verb {
        WriteVerb::Create | WriteVerb::Update => {
            let object = write_body::prepare_object(request.body, &target)?;
            object_name = object["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if resource == PolicyResource::NamespaceNetworkPolicies {
                nsnp::validate(&object_name, &object).map_err(|invalid| {
                    Error::Invalid(InvalidObject {
                        group: api.group.clone(),
                        kind: api.kind.clone(),
                        invalid,
                    })
                })?;
            }
            let body = serde_json::to_vec(&object).map_err(|e| Error::Internal(e.to_string()))?;
            (body, Some("application/json"))
        }
        WriteVerb::Patch => {
            let kind = write_body::check_patch(request.content_type, request.body, &target)?;
            (request.body.to_vec(), Some(kind.content_type()))
        }
        WriteVerb::Delete => {
            let has_body = !request.body.iter().all(u8::is_ascii_whitespace);
            (
                request.body.to_vec(),
                has_body.then_some("application/json"),
            )
        }
    };
    let forwarded = request.verb.forwarded_parameters();
    let mut params: Vec<(String, String)> = request
        .query
        .iter()
        .filter(|(k, _)| forwarded.contains(&k.as_str()))
        .cloned()
        .collect();
    let writes_fields = request.verb != WriteVerb::Delete;
    if writes_fields && !params.iter().any(|(k, _)| k == "fieldManager") {
        params.push(("fieldManager".into(), FIELD_MANAGER.into()));
    }
    let name_in_path = match request.verb {
        WriteVerb::Create => None,
        _ => request.name,
    };
    let mut path_and_query = object_path(&api, request.namespace, name_in_path);
    let query = serde_urlencoded::to_string(&params).unwrap_or_default();
    if !query.is_empty() {
        path_and_query = format!("{path_and_query}?{query}");
    }

    let client = context.caller_client(caller)?;
    let started = Instant::now();
    let forward = Forward {
        method: request.verb.method(),
        path_and_query,
        content_type,
        body,
    };
    let result = client.forward(forward).await;
    audit::record(&Write {
        request: audit::Request::Forwarded(request.request_id),
        caller,
        verb: request.verb.as_str(),
        resource: &api,
        namespace: request.namespace,
        name: &object_name,
        dry_run: params.iter().any(|(k, _)| k == "dryRun"),
        code: result.as_ref().map(|(code, _)| code.as_u16()).unwrap_or(0),
        started,
    });
    let (code, bytes) = result.map_err(|error| {
        // The cause is for operators, not callers.
        tracing::warn!(%error, "forwarded write failed");
        Error::Unavailable("cannot reach kube-apiserver".into())
    })?;
    let mut body: Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    if let Some(metadata) = body.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("managedFields");
    }
    if code.is_success() {
        Ok((code, body))
    } else {
        Err(Error::Upstream { code, body })
    }
}

/// kube-apiserver's path of the collection (no `name`) or of one object.
fn object_path(resource: &ApiResource, namespace: &str, name: Option<&str>) -> String {
    let base = format!(
        "/apis/{}/namespaces/{namespace}/{}",
        resource.api_version, resource.plural
    );
    match name {
        Some(name) => format!("{base}/{name}"),
        None => base,
    }
}
