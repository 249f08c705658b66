//! Writes of the dynamic endpoints for NetworkPolicies and NamespaceNetworkPolicies (api §2): the body rules of
//! api §2.3, then the request forwarded to kube-apiserver as the caller. Reads are in [`super::lists`].

use std::time::Instant;

use http::{Method, StatusCode};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::DeleteOptions;
use kube::api::ApiResource;
use serde::Deserialize;
use serde_json::Value;

use super::audit::{self, Write};
use super::{Context, Error, InvalidObject};
use crate::auth::Caller;
use crate::cluster::caller::{FIELD_MANAGER, Forward};
use crate::cluster::kubesphere::NamespaceNetworkPolicy;
use crate::domain::nsnp;
use crate::domain::write_body::{self, PatchKind, Target};

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
            check_decodable_patch(resource, &api, kind, request.body)?;
            (request.body.to_vec(), Some(kind.content_type()))
        }
        WriteVerb::Delete => {
            let has_body = !request.body.iter().all(u8::is_ascii_whitespace);
            if has_body {
                check_delete_options(request.body)?;
            }
            // A blank body is no body (kube-apiserver would fail to decode it, with a 500).
            let body = if has_body {
                request.body.to_vec()
            } else {
                Vec::new()
            };
            (body, has_body.then_some("application/json"))
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

/// A DELETE body must be a DeleteOptions: kube-apiserver answers one it cannot decode with a 500, while it is the
/// caller's mistake (400). The body is forwarded unchanged.
fn check_delete_options(body: &[u8]) -> Result<(), Error> {
    serde_json::from_slice::<DeleteOptions>(body)
        .map(drop)
        .map_err(|error| Error::BadRequest(format!("invalid DeleteOptions body: {error}")))
}

/// Refuses (400) the patches kube-apiserver cannot decode after patching, which it answers with a 500: an apply
/// patch must name the object's `apiVersion` and `kind`; a NetworkPolicy's `metadata` and `spec`, when present,
/// must have their Kubernetes types once the `null`s that remove fields are left out (a port is a number or a
/// name, not an object). JSON patches, and apply bodies that are not YAML this parser reads, are left to
/// kube-apiserver.
fn check_decodable_patch(
    resource: PolicyResource,
    api: &ApiResource,
    kind: PatchKind,
    body: &[u8],
) -> Result<(), Error> {
    use k8s_openapi::api::networking::v1::NetworkPolicySpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    let mut patch: Value = match kind {
        PatchKind::Json => return Ok(()),
        PatchKind::Apply => match serde_saphyr::from_str(&String::from_utf8_lossy(body)) {
            Ok(patch) => patch,
            Err(_) => return Ok(()),
        },
        PatchKind::Merge | PatchKind::Strategic => serde_json::from_slice(body).unwrap_or_default(),
    };
    if kind == PatchKind::Apply {
        let names =
            |key: &str, expected: &str| patch.get(key).and_then(Value::as_str) == Some(expected);
        if !names("apiVersion", &api.api_version) || !names("kind", &api.kind) {
            return Err(Error::BadRequest(format!(
                "invalid patch: an apply patch must have apiVersion {:?} and kind {:?}",
                api.api_version, api.kind
            )));
        }
    }
    if resource != PolicyResource::NetworkPolicies {
        return Ok(());
    }
    drop_null_entries(&mut patch);
    let invalid = |field: &str, error: serde_json::Error| {
        Error::BadRequest(format!("invalid patch: {field}: {error}"))
    };
    if kind == PatchKind::Apply {
        // Server-side apply also refuses fields the type does not have, with a 500.
        let typed = NetworkPolicy::deserialize(&patch).map_err(|e| invalid("body", e))?;
        let known = serde_json::to_value(&typed).unwrap_or_default();
        if let Some(field) = first_unknown_field(&patch, &known, "") {
            return Err(Error::BadRequest(format!(
                "invalid patch: NetworkPolicy has no field {field:?}"
            )));
        }
        return Ok(());
    }
    if let Some(metadata) = patch.get("metadata") {
        ObjectMeta::deserialize(metadata).map_err(|e| invalid("metadata", e))?;
    }
    if let Some(spec) = patch.get("spec") {
        NetworkPolicySpec::deserialize(spec).map_err(|e| invalid("spec", e))?;
    }
    Ok(())
}

/// The path of the first member of `value` that `known` (the same value read into its type and written back)
/// lacks: a field the type does not have.
fn first_unknown_field(value: &Value, known: &Value, path: &str) -> Option<String> {
    match (value, known) {
        (Value::Object(members), Value::Object(known)) => {
            members.iter().find_map(|(key, member)| {
                let path = format!("{path}.{key}");
                match known.get(key) {
                    Some(known) => first_unknown_field(member, known, &path),
                    None => Some(path),
                }
            })
        }
        (Value::Array(items), Value::Array(known)) => {
            items
                .iter()
                .zip(known)
                .enumerate()
                .find_map(|(i, (item, known))| {
                    first_unknown_field(item, known, &format!("{path}[{i}]"))
                })
        }
        _ => None,
    }
}

/// Removes the `null` members of every object: in a merge or apply patch they remove a field, so they have no type.
fn drop_null_entries(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_null_entries);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_null_entries),
        _ => {}
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

#[cfg(test)]
mod tests {
    use super::*;

    fn bad_request(result: Result<(), Error>) -> bool {
        matches!(result, Err(Error::BadRequest(_)))
    }

    #[test]
    fn delete_bodies_must_be_delete_options() {
        assert!(
            check_delete_options(br#"{"gracePeriodSeconds": 0, "preconditions": {"uid": null}}"#)
                .is_ok()
        );
        assert!(check_delete_options(b"{}").is_ok());
        for body in [
            &br#"{"preconditions": {"resourceVersion": {}}}"#[..],
            b"\x00",
            b"[]",
            br#"{"dryRun": "All"}"#,
        ] {
            assert!(
                bad_request(check_delete_options(body)),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn patches_must_decode() {
        let policies = PolicyResource::NetworkPolicies;
        let api = policies.api_resource();
        let check = |kind, body: &[u8]| check_decodable_patch(policies, &api, kind, body);
        let apply = b"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nspec:\n  egress:\n  - ports:\n    - port: {}\n";
        assert!(bad_request(check(PatchKind::Apply, apply)));
        let apply = b"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nspec:\n  egress:\n  - ports:\n    - port: 80\n";
        assert!(check(PatchKind::Apply, apply).is_ok());
        assert!(bad_request(check(
            PatchKind::Apply,
            b"apiVersion: networking.k8s.io/v1\nkind: {}\n"
        )));
        assert!(bad_request(check(PatchKind::Apply, b"spec: {}\n")));
        let unknown = b"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nspec:\n  '': []\n  egress: [{ports: [{port: 80, x: 1}]}]\n";
        assert!(bad_request(check(PatchKind::Apply, unknown)));
        // Unknown fields of a merge patch are dropped by kube-apiserver.
        assert!(check(PatchKind::Merge, br#"{"spec": {"x": 1}}"#).is_ok());
        // YAML this parser does not read is kube-apiserver's to judge.
        assert!(check(PatchKind::Apply, b"a: [").is_ok());
        assert!(bad_request(check(
            PatchKind::Merge,
            br#"{"spec": {"podSelector": 5}}"#
        )));
        assert!(bad_request(check(
            PatchKind::Strategic,
            br#"{"metadata": {"labels": {"a": 1}}}"#
        )));
        let removals = br#"{"spec": null, "metadata": {"labels": {"a": null}}}"#;
        assert!(check(PatchKind::Merge, removals).is_ok());
        assert!(
            check(
                PatchKind::Json,
                br#"[{"op": "add", "path": "/spec", "value": 5}]"#
            )
            .is_ok()
        );

        // An NSNP's spec is judged by kube-apiserver's CRD schema (422), only its apply patches' type here.
        let nsnps = PolicyResource::NamespaceNetworkPolicies;
        let api = nsnps.api_resource();
        let merge = br#"{"spec": {"egress": [{"ports": [{"port": {}}]}]}}"#;
        assert!(check_decodable_patch(nsnps, &api, PatchKind::Merge, merge).is_ok());
        let apply = b"apiVersion: network.kubesphere.io/v1alpha1\nkind: NetworkPolicy\n";
        assert!(bad_request(check_decodable_patch(
            nsnps,
            &api,
            PatchKind::Apply,
            apply
        )));
    }
}
