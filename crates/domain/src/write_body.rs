//! Body rules for create (C), update (U) and patch (P) on the dynamic endpoints (api §2.3 rules 1–4, api §2.6),
//! shared by NamespaceNetworkPolicies and NetworkPolicies: pure functions over the request body.

use serde_json::{Map, Value};

/// The request's target, taken from the URL and the resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target<'a> {
    /// API group (`network.kubesphere.io`); empty for the core group.
    pub group: &'a str,
    /// API version (`v1alpha1`).
    pub version: &'a str,
    /// Kind of the resource (`NamespaceNetworkPolicy`).
    pub kind: &'a str,
    /// `{namespace}` from the URL.
    pub namespace: &'a str,
    /// `{name}` from the URL: `Some` for U and P, `None` for C.
    pub name: Option<&'a str>,
}

impl Target<'_> {
    /// The `apiVersion` objects of this target carry: `<group>/<version>`, or `<version>` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// The patch type chosen from `Content-Type` (api §2.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchKind {
    /// JSON merge patch (`application/merge-patch+json` or `application/json`).
    Merge,
    /// Strategic merge patch (`application/strategic-merge-patch+json`).
    Strategic,
    /// JSON patch (`application/json-patch+json`).
    Json,
    /// Server-side apply (`application/apply-patch+yaml`); the body is forwarded without parsing.
    Apply,
}

impl PatchKind {
    /// The `Content-Type` to send to kube-apiserver for this patch type.
    pub fn content_type(self) -> &'static str {
        match self {
            PatchKind::Merge => "application/merge-patch+json",
            PatchKind::Strategic => "application/strategic-merge-patch+json",
            PatchKind::Json => "application/json-patch+json",
            PatchKind::Apply => "application/apply-patch+yaml",
        }
    }
}

/// A body rejected by api §2.3 rules 1–4 or api §2.6; the Display text is the Status message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// 400 `BadRequest`.
    #[error("{0}")]
    BadRequest(String),
    /// 415 `UnsupportedMediaType`.
    #[error("{0}")]
    UnsupportedMediaType(String),
}

impl BodyError {
    /// The HTTP status code: 400 or 415.
    pub fn code(&self) -> u16 {
        match self {
            BodyError::BadRequest(_) => 400,
            BodyError::UnsupportedMediaType(_) => 415,
        }
    }
}

/// Applies api §2.3 rules 1–4 to a C or U body and returns the object to forward: `apiVersion` and `kind` checked
/// or filled in, `metadata.namespace` checked or set from the URL, for U (`target.name` is `Some`)
/// `metadata.name` checked or set from the URL, and `metadata.managedFields` removed. An empty string or `null`
/// counts as absent for `apiVersion`, `kind`, `metadata.namespace` and `metadata.name` (as in kube-apiserver);
/// a `null` `metadata` counts as absent too.
///
/// # Errors
///
/// [`BodyError::BadRequest`] when the body is not a JSON object (`invalid JSON body: …`), when `metadata` is not
/// an object, or on a group/version/kind, namespace or name mismatch.
pub fn prepare_object(body: &[u8], target: &Target) -> Result<Value, BodyError> {
    let Value::Object(object) = parse(body)? else {
        return Err(BodyError::BadRequest(
            "invalid JSON body: the body must be a JSON object".to_owned(),
        ));
    };
    let mut object = fill_type(object, target)?;
    let metadata = object
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if metadata.is_null() {
        *metadata = Value::Object(Map::new());
    }
    let Some(metadata) = metadata.as_object_mut() else {
        return Err(BodyError::BadRequest(
            "invalid JSON body: metadata must be a JSON object".to_owned(),
        ));
    };
    check_namespace(metadata, target)?;
    if is_absent(metadata.get("namespace")) {
        metadata.insert(
            "namespace".to_owned(),
            Value::String(target.namespace.to_owned()),
        );
    }
    if let Some(url_name) = target.name {
        check_name(metadata, url_name)?;
        if is_absent(metadata.get("name")) {
            metadata.insert("name".to_owned(), Value::String(url_name.to_owned()));
        }
    }
    metadata.remove("managedFields");
    Ok(Value::Object(object))
}

/// Chooses the patch type for a P request (api §2.6) and checks the body: JSON for every type but apply (a JSON
/// patch must be an array, a merge or strategic patch an object), and for merge and strategic patches api §2.3
/// rules 3 and 4 on `metadata.namespace` and `metadata.name` when present (non-empty). Parameters of the content
/// type (`; charset=utf-8`) are ignored; the media type is matched case-insensitively. The body is forwarded
/// unchanged.
///
/// # Errors
///
/// [`BodyError::UnsupportedMediaType`] (`unsupported patch type "<type>"`) for any other media type;
/// [`BodyError::BadRequest`] for a body that does not parse or has the wrong shape (`invalid JSON body: …`),
/// or a namespace or name mismatch.
pub fn check_patch(
    content_type: &str,
    body: &[u8],
    target: &Target,
) -> Result<PatchKind, BodyError> {
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    let kind = match media_type.to_ascii_lowercase().as_str() {
        "application/merge-patch+json" | "application/json" => PatchKind::Merge,
        "application/strategic-merge-patch+json" => PatchKind::Strategic,
        "application/json-patch+json" => PatchKind::Json,
        "application/apply-patch+yaml" => return Ok(PatchKind::Apply),
        _ => {
            return Err(BodyError::UnsupportedMediaType(format!(
                "unsupported patch type \"{media_type}\""
            )));
        }
    };
    let patch = parse(body)?;
    match (kind, patch) {
        (PatchKind::Json, Value::Array(_)) => Ok(kind),
        (PatchKind::Json, _) => Err(BodyError::BadRequest(
            "invalid JSON body: a JSON patch must be an array".to_owned(),
        )),
        (_, Value::Object(patch)) => {
            if let Some(metadata) = patch.get("metadata").and_then(Value::as_object) {
                check_namespace(metadata, target)?;
                if let Some(url_name) = target.name {
                    check_name(metadata, url_name)?;
                }
            }
            Ok(kind)
        }
        (_, _) => Err(BodyError::BadRequest(
            "invalid JSON body: a merge patch must be a JSON object".to_owned(),
        )),
    }
}

/// api §2.3 rule 1: the body parses as JSON.
fn parse(body: &[u8]) -> Result<Value, BodyError> {
    serde_json::from_slice(body)
        .map_err(|error| BodyError::BadRequest(format!("invalid JSON body: {error}")))
}

/// api §2.3 rule 2: `apiVersion` and `kind`, when present, match the target; absent ones are filled in (placed first).
fn fill_type(object: Map<String, Value>, target: &Target) -> Result<Map<String, Value>, BodyError> {
    let api_version = target.api_version();
    let matches = |key: &str, expected: &str| {
        let value = object.get(key);
        is_absent(value) || value.and_then(Value::as_str) == Some(expected)
    };
    if !matches("apiVersion", &api_version) || !matches("kind", target.kind) {
        return Err(BodyError::BadRequest(format!(
            "wrong resource GroupVersionKind: expected {api_version}, Kind={}",
            target.kind
        )));
    }
    let mut filled = Map::new();
    filled.insert("apiVersion".to_owned(), Value::String(api_version));
    filled.insert("kind".to_owned(), Value::String(target.kind.to_owned()));
    for (key, value) in object {
        if key != "apiVersion" && key != "kind" {
            filled.insert(key, value);
        }
    }
    Ok(filled)
}

/// api §2.3 rule 3: `metadata.namespace`, when present, equals the URL's namespace.
fn check_namespace(metadata: &Map<String, Value>, target: &Target) -> Result<(), BodyError> {
    let namespace = metadata.get("namespace");
    if is_absent(namespace) || namespace.and_then(Value::as_str) == Some(target.namespace) {
        Ok(())
    } else {
        Err(BodyError::BadRequest(
            "the namespace of the provided object does not match the namespace sent on the request"
                .to_owned(),
        ))
    }
}

/// api §2.3 rule 4: `metadata.name`, when present, equals the URL's name.
fn check_name(metadata: &Map<String, Value>, url_name: &str) -> Result<(), BodyError> {
    let name = metadata.get("name");
    if is_absent(name) || name.and_then(Value::as_str) == Some(url_name) {
        return Ok(());
    }
    // A non-string name is shown as its JSON text (`5`, `false`).
    let body_name = match name {
        Some(Value::String(name)) => name.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    Err(BodyError::BadRequest(format!(
        "the name of the object ({body_name}) does not match the name on the URL ({url_name})"
    )))
}

/// Missing, `null` or the empty string.
fn is_absent(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NSNP_CREATE: Target<'static> = Target {
        group: "network.kubesphere.io",
        version: "v1alpha1",
        kind: "NamespaceNetworkPolicy",
        namespace: "a",
        name: None,
    };

    fn update(name: &'static str) -> Target<'static> {
        Target {
            name: Some(name),
            ..NSNP_CREATE
        }
    }

    fn bad_request(result: Result<impl std::fmt::Debug, BodyError>) -> String {
        match result {
            Err(BodyError::BadRequest(message)) => message,
            other => panic!("expected 400, got {other:?}"),
        }
    }

    #[test]
    fn case_109_create_example_is_kept() {
        let body = br#"{"apiVersion":"network.kubesphere.io/v1alpha1","kind":"NamespaceNetworkPolicy",
 "metadata":{"name":"policy-to-abc12","namespace":"project-2",
             "labels":{"kubesphere.io/policy-type":"egress","kubesphere.io/policy-traffic":"outside"}},
 "spec":{"egress":[{"ports":[{"port":80,"protocol":"TCP"}],"to":[{"ipBlock":{"cidr":"10.10.10.10/24"}}]}]}}"#;
        let target = Target {
            namespace: "project-2",
            ..NSNP_CREATE
        };
        let object = prepare_object(body, &target).unwrap();
        let expected: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(object, expected);
        // Key order kept (preserve_order): apiVersion, kind, metadata, spec.
        let keys: Vec<&String> = object.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["apiVersion", "kind", "metadata", "spec"]);
    }

    #[test]
    fn case_111_namespace_mismatch() {
        let body = br#"{"metadata":{"name":"m","namespace":"b"}}"#;
        assert_eq!(
            bad_request(prepare_object(body, &NSNP_CREATE)),
            "the namespace of the provided object does not match the namespace sent on the request"
        );
        assert_eq!(
            bad_request(prepare_object(body, &update("m"))),
            "the namespace of the provided object does not match the namespace sent on the request"
        );
    }

    #[test]
    fn case_112_name_mismatch() {
        let body = br#"{"metadata":{"name":"y"}}"#;
        assert_eq!(
            bad_request(prepare_object(body, &update("x"))),
            "the name of the object (y) does not match the name on the URL (x)"
        );
        // C has no URL name: any body name is accepted.
        assert!(prepare_object(body, &NSNP_CREATE).is_ok());
    }

    #[test]
    fn case_113_wrong_kind() {
        let body = br#"{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"m"},"spec":{"podSelector":{}}}"#;
        assert_eq!(
            bad_request(prepare_object(body, &NSNP_CREATE)),
            "wrong resource GroupVersionKind: expected network.kubesphere.io/v1alpha1, Kind=NamespaceNetworkPolicy"
        );
        // Either one wrong is enough.
        for body in [
            br#"{"apiVersion":"network.kubesphere.io/v1alpha2","kind":"NamespaceNetworkPolicy"}"#
                .as_slice(),
            br#"{"apiVersion":"network.kubesphere.io/v1alpha1","kind":"NetworkPolicy"}"#,
            br#"{"kind":"namespacenetworkpolicy"}"#,
            br#"{"apiVersion":1}"#,
        ] {
            assert!(
                bad_request(prepare_object(body, &NSNP_CREATE))
                    .starts_with("wrong resource GroupVersionKind"),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let np = Target {
            group: "networking.k8s.io",
            version: "v1",
            kind: "NetworkPolicy",
            namespace: "a",
            name: None,
        };
        assert_eq!(
            bad_request(prepare_object(br#"{"kind":"NamespaceNetworkPolicy"}"#, &np)),
            "wrong resource GroupVersionKind: expected networking.k8s.io/v1, Kind=NetworkPolicy"
        );
    }

    #[test]
    fn core_group_api_version() {
        let core = Target {
            group: "",
            version: "v1",
            kind: "ConfigMap",
            namespace: "a",
            name: None,
        };
        assert_eq!(core.api_version(), "v1");
        assert_eq!(
            bad_request(prepare_object(br#"{"apiVersion":"x/v1"}"#, &core)),
            "wrong resource GroupVersionKind: expected v1, Kind=ConfigMap"
        );
        assert_eq!(prepare_object(b"{}", &core).unwrap()["apiVersion"], "v1");
    }

    #[test]
    fn case_114_defaults_from_the_url() {
        let body = br#"{"metadata":{"name":"m"},"spec":{"ingress":[{"from":[{"namespace":{"name":"b"}}]}]}}"#;
        let object = prepare_object(body, &NSNP_CREATE).unwrap();
        assert_eq!(
            object,
            json!({"apiVersion":"network.kubesphere.io/v1alpha1","kind":"NamespaceNetworkPolicy",
                   "metadata":{"name":"m","namespace":"a"},
                   "spec":{"ingress":[{"from":[{"namespace":{"name":"b"}}]}]}})
        );
        let keys: Vec<&String> = object.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["apiVersion", "kind", "metadata", "spec"]);
    }

    #[test]
    fn update_fills_name_and_namespace() {
        for body in [
            br#"{"spec":{}}"#.as_slice(),
            br#"{"metadata":null,"spec":{}}"#,
            br#"{"metadata":{},"spec":{}}"#,
            br#"{"metadata":{"name":"","namespace":""},"spec":{}}"#,
            br#"{"metadata":{"name":null,"namespace":null},"spec":{}}"#,
            br#"{"apiVersion":"","kind":null,"metadata":{"name":"x","namespace":"a"},"spec":{}}"#,
        ] {
            let object = prepare_object(body, &update("x")).unwrap();
            assert_eq!(
                object,
                json!({"apiVersion":"network.kubesphere.io/v1alpha1","kind":"NamespaceNetworkPolicy",
                       "metadata":{"name":"x","namespace":"a"},"spec":{}}),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        // C leaves a missing name to kube-apiserver (generateName, or its own 422).
        let object =
            prepare_object(br#"{"metadata":{"generateName":"p-"}}"#, &NSNP_CREATE).unwrap();
        assert_eq!(
            object["metadata"],
            json!({"generateName":"p-","namespace":"a"})
        );
    }

    #[test]
    fn case_115_malformed_json() {
        for body in [b"{\"metadata\":".as_slice(), b"", b"not json", b"{} {}"] {
            let message = bad_request(prepare_object(body, &NSNP_CREATE));
            assert!(message.starts_with("invalid JSON body: "), "{message}");
            let message = bad_request(check_patch(
                "application/merge-patch+json",
                body,
                &update("m"),
            ));
            assert!(message.starts_with("invalid JSON body: "), "{message}");
        }
    }

    #[test]
    fn body_must_be_an_object() {
        for body in [b"[]".as_slice(), b"null", b"\"x\"", b"5", b"true"] {
            assert_eq!(
                bad_request(prepare_object(body, &NSNP_CREATE)),
                "invalid JSON body: the body must be a JSON object"
            );
        }
        for body in [br#"{"metadata":[]}"#.as_slice(), br#"{"metadata":"a"}"#] {
            assert_eq!(
                bad_request(prepare_object(body, &NSNP_CREATE)),
                "invalid JSON body: metadata must be a JSON object"
            );
        }
    }

    #[test]
    fn numbers_as_names() {
        assert_eq!(
            bad_request(prepare_object(br#"{"metadata":{"name":5}}"#, &update("x"))),
            "the name of the object (5) does not match the name on the URL (x)"
        );
        assert_eq!(
            bad_request(prepare_object(br#"{"metadata":{"name":5}}"#, &update("5"))),
            "the name of the object (5) does not match the name on the URL (5)"
        );
        assert_eq!(
            bad_request(prepare_object(
                br#"{"metadata":{"namespace":1}}"#,
                &NSNP_CREATE
            )),
            "the namespace of the provided object does not match the namespace sent on the request"
        );
        assert_eq!(
            bad_request(check_patch(
                "application/json",
                br#"{"metadata":{"name":false}}"#,
                &update("x")
            )),
            "the name of the object (false) does not match the name on the URL (x)"
        );
    }

    #[test]
    fn rule_order_gvk_then_namespace_then_name() {
        let body = br#"{"kind":"NetworkPolicy","metadata":{"name":"y","namespace":"b"}}"#;
        assert!(bad_request(prepare_object(body, &update("x"))).starts_with("wrong resource"));
        let body = br#"{"metadata":{"name":"y","namespace":"b"}}"#;
        assert!(bad_request(prepare_object(body, &update("x"))).starts_with("the namespace"));
        let body = br#"{"metadata":{"name":"y","namespace":"b"}}"#;
        assert!(
            bad_request(check_patch(
                "application/merge-patch+json",
                body,
                &update("x")
            ))
            .starts_with("the namespace")
        );
    }

    #[test]
    fn managed_fields_are_stripped() {
        let body = br#"{"metadata":{"name":"x","managedFields":[{"manager":"kubectl"}],"labels":{"a":"b"}}}"#;
        let object = prepare_object(body, &update("x")).unwrap();
        assert_eq!(
            object["metadata"],
            json!({"name":"x","labels":{"a":"b"},"namespace":"a"})
        );
    }

    #[test]
    fn case_116_merge_patch_content_types() {
        let body = br#"{"metadata":{"labels":{"team":"x"}}}"#;
        for content_type in [
            "application/merge-patch+json",
            "application/json",
            "application/json; charset=utf-8",
            "Application/Merge-Patch+JSON ;charset=UTF-8",
        ] {
            assert_eq!(
                check_patch(content_type, body, &update("m")),
                Ok(PatchKind::Merge),
                "{content_type}"
            );
        }
        assert_eq!(
            PatchKind::Merge.content_type(),
            "application/merge-patch+json"
        );
    }

    #[test]
    fn case_117_json_patch() {
        let body = br#"[{"op":"add","path":"/metadata/labels/env","value":"prod"}]"#;
        assert_eq!(
            check_patch("application/json-patch+json", body, &update("m")),
            Ok(PatchKind::Json)
        );
        assert_eq!(
            bad_request(check_patch(
                "application/json-patch+json",
                br#"{"op":"add"}"#,
                &update("m")
            )),
            "invalid JSON body: a JSON patch must be an array"
        );
        // A JSON patch body is an array and api §2.3 rules 3 and 4 are not applied to it.
        let body = br#"[{"op":"replace","path":"/metadata/name","value":"other"}]"#;
        assert_eq!(
            check_patch("application/json-patch+json", body, &update("m")),
            Ok(PatchKind::Json)
        );
    }

    #[test]
    fn case_118_unsupported_patch_type() {
        assert_eq!(
            check_patch("text/plain", b"{}", &update("m")),
            Err(BodyError::UnsupportedMediaType(
                "unsupported patch type \"text/plain\"".to_owned()
            ))
        );
        let error = check_patch("text/plain; charset=utf-8", b"{}", &update("m")).unwrap_err();
        assert_eq!(error.to_string(), "unsupported patch type \"text/plain\"");
        assert_eq!(error.code(), 415);
        assert_eq!(
            check_patch("", b"{}", &update("m"))
                .unwrap_err()
                .to_string(),
            "unsupported patch type \"\""
        );
        assert_eq!(
            check_patch("application/yaml", b"{}", &update("m"))
                .unwrap_err()
                .code(),
            415
        );
    }

    #[test]
    fn strategic_and_apply() {
        assert_eq!(
            check_patch(
                "application/strategic-merge-patch+json",
                b"{\"spec\":{}}",
                &update("m")
            ),
            Ok(PatchKind::Strategic)
        );
        // Apply bodies are YAML and are not parsed.
        assert_eq!(
            check_patch(
                "application/apply-patch+yaml",
                b"metadata: {name: other}\n",
                &update("m")
            ),
            Ok(PatchKind::Apply)
        );
        assert_eq!(
            check_patch("application/apply-patch+yaml", b"", &update("m")),
            Ok(PatchKind::Apply)
        );
    }

    #[test]
    fn merge_patch_metadata_rules() {
        let target = update("m");
        for content_type in [
            "application/merge-patch+json",
            "application/strategic-merge-patch+json",
        ] {
            let check = |body: &[u8]| check_patch(content_type, body, &target);
            assert_eq!(
                bad_request(check(br#"{"metadata":{"namespace":"b"}}"#)),
                "the namespace of the provided object does not match the namespace sent on the request"
            );
            assert_eq!(
                bad_request(check(br#"{"metadata":{"name":"y"}}"#)),
                "the name of the object (y) does not match the name on the URL (m)"
            );
            for ok in [
                br#"{"metadata":{"name":"m","namespace":"a"}}"#.as_slice(),
                br#"{"metadata":{"name":null,"namespace":null}}"#,
                br#"{"metadata":{"name":"","namespace":""}}"#,
                br#"{"metadata":null}"#,
                br#"{"metadata":"x"}"#,
                br#"{}"#,
                // api §2.3 rule 2 does not apply to patches.
                br#"{"apiVersion":"v1","kind":"Pod"}"#,
            ] {
                assert!(check(ok).is_ok(), "{}", String::from_utf8_lossy(ok));
            }
            for shape in [b"[]".as_slice(), b"null", b"\"x\"", b"1"] {
                assert_eq!(
                    bad_request(check(shape)),
                    "invalid JSON body: a merge patch must be a JSON object"
                );
            }
        }
    }

    #[test]
    fn body_error_display_and_code() {
        let error = BodyError::BadRequest("invalid JSON body: x".to_owned());
        assert_eq!(error.to_string(), "invalid JSON body: x");
        assert_eq!(error.code(), 400);
    }
}
