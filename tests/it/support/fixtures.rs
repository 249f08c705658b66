//! Seeding real objects from JSON, reading them back and removing them, and small helpers for the
//! endpoint tests: JSON of responses, error checks, polling with the last observation in the panic
//! message, collected (soft) checks, and a Prometheus text parser.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, NamespaceSpec};
use kube::Client;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde::Serialize;
use serde_json::{Value, json};

use super::api::BINDING;
use super::wait_for;

/// Kinds created without a namespace.
const CLUSTER_SCOPED: &[&str] = &[
    "Namespace",
    "IPPool",
    "IPAMBlock",
    "Workspace",
    "ClusterRole",
    "ClusterRoleBinding",
    "Node",
    "APIService",
    "ValidatingWebhookConfiguration",
];

/// Kinds whose `status` is written through the status subresource after the create.
const STATUS_THROUGH_SUBRESOURCE: &[&str] = &["Pod", "IPPool"];

/// The resource of `apiVersion` + `kind`: plural = lowercase kind + `s` (`ies` for a trailing `y`, none
/// after a trailing `s`: `endpoints`).
pub fn api_resource(api_version: &str, kind: &str) -> ApiResource {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let lower = kind.to_ascii_lowercase();
    let plural = match lower.strip_suffix('y') {
        Some(stem) => format!("{stem}ies"),
        None if lower.ends_with('s') => lower,
        None => format!("{lower}s"),
    };
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), &plural)
}

/// Whether objects of `kind` live in a namespace.
pub fn is_namespaced(kind: &str) -> bool {
    !CLUSTER_SCOPED.contains(&kind)
}

/// A dynamic API for `apiVersion` + `kind`, in `namespace` for namespaced kinds.
pub fn api(client: &Client, api_version: &str, kind: &str, namespace: &str) -> Api<DynamicObject> {
    let resource = api_resource(api_version, kind);
    if is_namespaced(kind) {
        assert!(!namespace.is_empty(), "{kind} needs a namespace");
        Api::namespaced_with(client.clone(), namespace, &resource)
    } else {
        Api::all_with(client.clone(), &resource)
    }
}

fn api_of(client: &Client, object: &Value) -> Api<DynamicObject> {
    let api_version = object["apiVersion"]
        .as_str()
        .expect("object has apiVersion");
    let kind = object["kind"].as_str().expect("object has kind");
    let namespace = object["metadata"]["namespace"].as_str().unwrap_or_default();
    api(client, api_version, kind, namespace)
}

fn to_value(object: DynamicObject) -> Value {
    serde_json::to_value(object).expect("serialize a DynamicObject")
}

fn describe(object: &Value) -> String {
    format!(
        "{} {}/{}",
        object["kind"].as_str().unwrap_or("?"),
        object["metadata"]["namespace"].as_str().unwrap_or(""),
        object["metadata"]["name"].as_str().unwrap_or("?")
    )
}

/// Creates `object` (POST) and returns it as stored.
///
/// `ownerReferences` entries without `uid` get the uid of the named owner (same namespace). A `status`
/// of a Pod or IPPool is written afterwards with a merge patch on the status subresource, and the
/// object returned is the result of that patch.
pub async fn create(client: &Client, mut object: Value) -> Value {
    let kind = object["kind"].as_str().expect("object has kind").to_owned();
    let namespace = object["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if let Some(owners) = object["metadata"]["ownerReferences"].as_array_mut() {
        for owner in owners {
            if owner.get("uid").is_none() {
                let owner_api = api(
                    client,
                    owner["apiVersion"].as_str().expect("owner apiVersion"),
                    owner["kind"].as_str().expect("owner kind"),
                    &namespace,
                );
                let name = owner["name"].as_str().expect("owner name");
                let found = owner_api
                    .get(name)
                    .await
                    .unwrap_or_else(|e| panic!("owner {name} of a {kind}: {e}"));
                owner["uid"] = json!(found.metadata.uid.expect("owner has a uid"));
            }
        }
    }
    let status = if STATUS_THROUGH_SUBRESOURCE.contains(&kind.as_str()) {
        object.as_object_mut().and_then(|o| o.remove("status"))
    } else {
        None
    };
    let what = describe(&object);
    let api = api_of(client, &object);
    let dynamic: DynamicObject =
        serde_json::from_value(object).unwrap_or_else(|e| panic!("{what} as DynamicObject: {e}"));
    let created = api
        .create(&PostParams::default(), &dynamic)
        .await
        .unwrap_or_else(|e| panic!("create {what}: {e}"));
    let name = created
        .metadata
        .name
        .clone()
        .expect("created object has a name");
    let Some(status) = status else {
        return to_value(created);
    };
    let patch = Patch::Merge(json!({ "status": status }));
    match api
        .patch_status(&name, &PatchParams::default(), &patch)
        .await
    {
        Ok(patched) => to_value(patched),
        // A CRD without a status subresource: `status` is part of the object itself (and is kept
        // only if the CRD's schema has it; the test that needs it checks what was stored).
        Err(kube::Error::Api(e)) if e.code == 404 && kind != "Pod" => {
            eprintln!("{what}: no status subresource; writing status with the object");
            let patched = api
                .patch(&name, &PatchParams::default(), &patch)
                .await
                .unwrap_or_else(|e| panic!("write the status of {what}: {e}"));
            to_value(patched)
        }
        Err(e) => panic!("write the status of {what}: {e}"),
    }
}

/// [`create`] for each object, in order; returns the stored objects.
pub async fn create_all(client: &Client, objects: Vec<Value>) -> Vec<Value> {
    let mut created = Vec::with_capacity(objects.len());
    for object in objects {
        created.push(create(client, object).await);
    }
    created
}

/// Reads an object back from kube-apiserver (`namespace` "" for cluster-scoped kinds).
pub async fn get(
    client: &Client,
    api_version: &str,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Value {
    let object = api(client, api_version, kind, namespace)
        .get(name)
        .await
        .unwrap_or_else(|e| panic!("get {kind} {namespace}/{name}: {e}"));
    to_value(object)
}

/// `metadata.resourceVersion` of an object read back from kube-apiserver.
pub async fn resource_version(
    client: &Client,
    api_version: &str,
    kind: &str,
    namespace: &str,
    name: &str,
) -> String {
    let object = get(client, api_version, kind, namespace, name).await;
    object["metadata"]["resourceVersion"]
        .as_str()
        .expect("resourceVersion")
        .to_owned()
}

/// A JSON merge patch on the object itself.
pub async fn merge_patch(
    client: &Client,
    api_version: &str,
    kind: &str,
    namespace: &str,
    name: &str,
    patch: Value,
) -> Value {
    let object = api(client, api_version, kind, namespace)
        .patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap_or_else(|e| panic!("merge patch {kind} {namespace}/{name}: {e}"));
    to_value(object)
}

/// A JSON merge patch on the status subresource (`patch` is the whole `status` value).
pub async fn patch_status(
    client: &Client,
    api_version: &str,
    kind: &str,
    namespace: &str,
    name: &str,
    status: Value,
) -> Value {
    let object = api(client, api_version, kind, namespace)
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await
        .unwrap_or_else(|e| panic!("patch the status of {kind} {namespace}/{name}: {e}"));
    to_value(object)
}

/// Replaces an object (PUT) with `object` as given (it carries its `resourceVersion` from a read);
/// use it for IPAM blocks, whose allocations must keep their nulls.
pub async fn replace(client: &Client, object: Value) -> Value {
    let what = describe(&object);
    let api = api_of(client, &object);
    let name = object["metadata"]["name"]
        .as_str()
        .expect("name")
        .to_owned();
    let dynamic: DynamicObject =
        serde_json::from_value(object).unwrap_or_else(|e| panic!("{what} as DynamicObject: {e}"));
    let replaced = api
        .replace(&name, &PostParams::default(), &dynamic)
        .await
        .unwrap_or_else(|e| panic!("replace {what}: {e}"));
    to_value(replaced)
}

/// Deletes an object immediately (grace period 0).
pub async fn delete(client: &Client, api_version: &str, kind: &str, namespace: &str, name: &str) {
    api(client, api_version, kind, namespace)
        .delete(name, &DeleteParams::default().grace_period(0))
        .await
        .unwrap_or_else(|e| panic!("delete {kind} {namespace}/{name}: {e}"));
}

/// How long removing an object may take.
const REMOVAL: Duration = Duration::from_secs(60);

/// Deletes `object` (as created: `apiVersion`, `kind`, `metadata.name`, `metadata.namespace`) if it
/// exists, and waits until it is gone. Its finalizers are dropped first and the deletion is immediate
/// (grace period 0, dependents left alone: no garbage collector runs); a namespace is then finalized (no
/// namespace controller runs), which keeps whatever is still inside it: remove that first.
pub async fn remove(client: &Client, object: &Value) {
    let what = describe(object);
    let api = api_of(client, object);
    let name = object["metadata"]["name"]
        .as_str()
        .expect("object has a name");
    let Some(live) = api
        .get_opt(name)
        .await
        .unwrap_or_else(|e| panic!("get {what}: {e}"))
    else {
        return;
    };
    if live.metadata.finalizers.is_some_and(|f| !f.is_empty()) {
        let patch = Patch::Merge(json!({"metadata": {"finalizers": null}}));
        gone_is_fine(api.patch(name, &PatchParams::default(), &patch).await)
            .unwrap_or_else(|e| panic!("drop the finalizers of {what}: {e}"));
    }
    let delete = DeleteParams::background().grace_period(0);
    gone_is_fine(api.delete(name, &delete).await).unwrap_or_else(|e| panic!("delete {what}: {e}"));
    if object["kind"] == "Namespace" {
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let terminating =
            gone_is_fine(namespaces.get(name).await).unwrap_or_else(|e| panic!("get {what}: {e}"));
        if let Some(mut namespace) = terminating {
            namespace.spec = Some(NamespaceSpec {
                finalizers: Some(Vec::new()),
            });
            let finalize = namespaces
                .replace_subresource("finalize", name, &PostParams::default(), &namespace)
                .await;
            gone_is_fine(finalize).unwrap_or_else(|e| panic!("finalize {what}: {e}"));
        }
    }
    wait_for(REMOVAL, &format!("{what} removed"), || async {
        api.get_opt(name).await.ok()?.is_none().then_some(())
    })
    .await;
}

/// `result`, with a 404 (the object is gone) read as `Ok(None)`.
fn gone_is_fine<T>(result: Result<T, kube::Error>) -> Result<Option<T>, kube::Error> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(None),
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------------------------------------
// Object builders
// ---------------------------------------------------------------------------------------------

/// A Namespace with labels and annotations (`json!({})` for none).
pub fn namespace(name: &str, labels: Value, annotations: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace",
           "metadata": {"name": name, "labels": labels, "annotations": annotations}})
}

/// A Calico IPPool with the given `spec`.
pub fn pool(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool",
           "metadata": {"name": name}, "spec": spec})
}

/// A Calico IPAMBlock.
pub fn block(
    name: &str,
    cidr: &str,
    allocations: Vec<Option<i64>>,
    attributes: Vec<Value>,
    deleted: bool,
) -> Value {
    json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPAMBlock",
           "metadata": {"name": name},
           "spec": {"cidr": cidr, "allocations": allocations, "unallocated": [],
                    "attributes": attributes, "deleted": deleted, "strictAffinity": false}})
}

/// An `admission.k8s.io/v1` AdmissionReview of Calico `ippools` as kube-apiserver sends it: `operation` on
/// `object` (CREATE, UPDATE) and `old_object` (UPDATE, DELETE), each a [`pool`] or `null`.
pub fn admission_review(uid: &str, operation: &str, object: Value, old_object: Value) -> Value {
    let name = object["metadata"]["name"]
        .as_str()
        .or(old_object["metadata"]["name"].as_str())
        .unwrap_or_default()
        .to_owned();
    let gvk = json!({"group": "crd.projectcalico.org", "version": "v1", "kind": "IPPool"});
    let gvr = json!({"group": "crd.projectcalico.org", "version": "v1", "resource": "ippools"});
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
           "request": {"uid": uid, "kind": gvk, "resource": gvr, "requestKind": gvk,
                       "requestResource": gvr, "name": name, "operation": operation,
                       "userInfo": {"username": "admin", "groups": ["system:masters"]},
                       "object": object, "oldObject": old_object, "dryRun": false,
                       "options": null}})
}

/// The AdmissionReview answering `uid`: allowed with `warnings` (none: `[]`).
pub fn admission_allowed(uid: &str, warnings: &[&str]) -> Value {
    let mut response = json!({"uid": uid, "allowed": true});
    if !warnings.is_empty() {
        response["warnings"] = json!(warnings);
    }
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response})
}

/// The AdmissionReview answering `uid`: denied with `code` (403, 503) and `message`.
pub fn admission_denied(uid: &str, code: u16, message: &str) -> Value {
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
           "response": {"uid": uid, "allowed": false,
                        "status": {"code": code, "reason": message, "message": message}}})
}

/// An allocations array of `len` entries, `null` except the `(ordinal, attribute index)` pairs.
pub fn allocations(len: usize, entries: &[(usize, i64)]) -> Vec<Option<i64>> {
    let mut allocations = vec![None; len];
    for &(ordinal, index) in entries {
        allocations[ordinal] = Some(index);
    }
    allocations
}

/// A pod allocation attribute: handle `k8s-pod-network.<id>`, secondary namespace/pod.
pub fn pod_attribute(id: &str, namespace: &str, pod: &str) -> Value {
    json!({"handle_id": format!("k8s-pod-network.{id}"),
           "secondary": {"namespace": namespace, "pod": pod, "node": "node1"}})
}

/// A tunnel allocation attribute.
pub fn tunnel_attribute(handle: &str, kind: &str) -> Value {
    json!({"handle_id": handle, "secondary": {"node": "node1", "type": kind}})
}

/// A Pod with one container; `status` (phase, IPs, start time) is written through the status
/// subresource by [`create`].
pub fn pod(namespace: &str, name: &str, ips: &[&str], phase: &str, start_time: &str) -> Value {
    let mut status = json!({"phase": phase, "startTime": start_time});
    if let Some(first) = ips.first() {
        status["podIP"] = json!(first);
        status["podIPs"] = json!(ips.iter().map(|ip| json!({"ip": ip})).collect::<Vec<_>>());
    }
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": namespace},
           "spec": {"containers": [{"name": "c", "image": "pause"}]},
           "status": status})
}

/// [`pod`] with a controller ownerReference (its uid is looked up by [`create`]).
pub fn owned_pod(
    namespace: &str,
    name: &str,
    ips: &[&str],
    owner_api_version: &str,
    owner_kind: &str,
    owner_name: &str,
) -> Value {
    let mut pod = pod(namespace, name, ips, "Running", "2026-03-02T10:00:00Z");
    pod["metadata"]["ownerReferences"] = json!([{
        "apiVersion": owner_api_version, "kind": owner_kind, "name": owner_name,
        "controller": true, "blockOwnerDeletion": true}]);
    pod
}

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

/// The status code and JSON body of a response (`Value::Null` when the body is not JSON).
pub async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("read the response body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// The Kubernetes `Status` body the server sends for errors.
pub fn status_body(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

/// `path?k=v&…` (or `path&k=v…` when `path` has a query), form-encoded.
pub fn query(path: &str, params: &[(&str, &str)]) -> String {
    if params.is_empty() {
        return path.to_owned();
    }
    let separator = if path.contains('?') { '&' } else { '?' };
    format!(
        "{path}{separator}{}",
        serde_urlencoded::to_string(params).expect("form-encode query parameters")
    )
}

/// Checks an error response: status code, `Status` kind, reason, exact message and `code` in the body.
pub fn expect_error(
    checks: &mut Checks,
    label: &str,
    (code, body): &(u16, Value),
    expected_code: u16,
    reason: &str,
    message: &str,
) {
    checks.eq(
        label,
        &json!({"code": code, "kind": body["kind"], "reason": body["reason"],
                "message": body["message"], "bodyCode": body["code"]}),
        &json!({"code": expected_code, "kind": "Status", "reason": reason,
                "message": message, "bodyCode": expected_code}),
    );
}

/// Checks an error response whose message starts with `prefix`.
pub fn expect_error_prefix(
    checks: &mut Checks,
    label: &str,
    (code, body): &(u16, Value),
    expected_code: u16,
    reason: &str,
    prefix: &str,
) {
    let message = body["message"].as_str().unwrap_or_default();
    checks.that(
        label,
        *code == expected_code
            && body["kind"] == "Status"
            && body["reason"] == reason
            && message.starts_with(prefix),
        || format!("{code} {body}; expected {expected_code} {reason} \"{prefix}…\""),
    );
}

// ---------------------------------------------------------------------------------------------
// Waiting and checking
// ---------------------------------------------------------------------------------------------

/// Polls `f` every 100 ms until it returns `Ok`; after `timeout` panics naming `what` and the last
/// `Err` (what was observed instead).
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match f().await {
            Ok(value) => return value,
            Err(last) if Instant::now() >= deadline => {
                panic!("timed out after {timeout:?} waiting for {what}; last observed: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Like [`eventually`], but returns the last `Err` instead of panicking.
pub async fn settle<T, F, Fut>(timeout: Duration, mut f: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match f().await {
            Ok(value) => return Ok(value),
            Err(last) if Instant::now() >= deadline => return Err(last),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// `Ok(())` when equal, else an `Err` showing both as JSON.
pub fn same<T: PartialEq + Serialize>(actual: &T, expected: &T) -> Result<(), String> {
    if actual == expected {
        Ok(())
    } else {
        Err(format!(
            "\n   actual: {}\n expected: {}",
            show(actual),
            show(expected)
        ))
    }
}

/// Compact JSON of a value (for failure messages).
pub fn show<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| format!("<unserializable: {e}>"))
}

/// Collected checks: every failure is recorded with its case label, and [`Checks::finish`] panics
/// with all of them, so one run reports every failing case.
#[derive(Default)]
pub struct Checks {
    failures: Vec<String>,
    passed: Vec<String>,
}

impl Checks {
    /// Records the outcome of one check.
    pub fn check(&mut self, label: &str, outcome: Result<(), String>) {
        match outcome {
            Ok(()) => self.passed.push(label.to_owned()),
            Err(detail) => self.failures.push(format!("{label}: {detail}")),
        }
    }

    /// Records `actual == expected`.
    pub fn eq<T: PartialEq + Serialize>(&mut self, label: &str, actual: &T, expected: &T) {
        self.check(label, same(actual, expected));
    }

    /// Records `condition`, with `detail` when it is false.
    pub fn that(&mut self, label: &str, condition: bool, detail: impl FnOnce() -> String) {
        let outcome = if condition { Ok(()) } else { Err(detail()) };
        self.check(label, outcome);
    }

    /// Panics listing every failed check; prints the passed ones.
    pub fn finish(self) {
        eprintln!("passed checks: {}", self.passed.join(", "));
        if !self.failures.is_empty() {
            panic!(
                "{} check(s) failed:\n{}",
                self.failures.len(),
                self.failures.join("\n")
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Prometheus text format
// ---------------------------------------------------------------------------------------------

/// One sample: metric name, labels (in order), value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name.
    pub name: String,
    /// `(label, value)` pairs.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
}

/// Parses the samples of a Prometheus text exposition (comments skipped).
pub fn parse_metrics(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name_and_labels, rest) = if let Some(close) = line.rfind('}') {
            (&line[..close + 1], line[close + 1..].trim())
        } else {
            line.split_once(' ').unwrap_or((line, ""))
        };
        let value_text = rest.split_whitespace().next().unwrap_or_default();
        let value = match value_text {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => match v.parse() {
                Ok(v) => v,
                Err(_) => continue,
            },
        };
        let (name, labels) = match name_and_labels.split_once('{') {
            Some((name, labels)) => (name, parse_labels(labels.trim_end_matches('}'))),
            None => (name_and_labels, Vec::new()),
        };
        samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    samples
}

fn parse_labels(text: &str) -> Vec<(String, String)> {
    let mut labels = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while matches!(chars.peek(), Some(',' | ' ')) {
            chars.next();
        }
        let mut key = String::new();
        for c in chars.by_ref() {
            if c == '=' {
                break;
            }
            key.push(c);
        }
        if key.is_empty() {
            return labels;
        }
        assert_eq!(chars.next(), Some('"'), "label {key} has a quoted value");
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(other) => value.push(other),
                    None => break,
                },
                '"' => break,
                c => value.push(c),
            }
        }
        labels.push((key.trim().to_owned(), value));
    }
}

/// The value of the sample named `name` whose labels are exactly `labels` (any order).
pub fn metric(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && s.labels.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|(sk, sv)| sk == k && sv == v))
        })
        .map(|s| s.value)
}

/// The `metadata.name` of every item of a list response (`items`); panics when there is no `items` array.
pub fn item_names(body: &Value) -> Vec<String> {
    names(
        body["items"]
            .as_array()
            .unwrap_or_else(|| panic!("no items in {body}")),
    )
}

/// The `metadata.name` of each object.
pub fn names(objects: &[Value]) -> Vec<String> {
    objects
        .iter()
        .map(|object| {
            object["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

/// `<prefix>-NN` for each number (two digits at least), e.g. `np-01`.
pub fn numbered(prefix: &str, numbers: impl IntoIterator<Item = usize>) -> Vec<String> {
    numbers
        .into_iter()
        .map(|n| format!("{prefix}-{n:02}"))
        .collect()
}

/// The binding labels (`ippool.network.kubesphere.io/<pool>`) of a namespace.
pub fn binding_labels(namespace: &Value) -> BTreeMap<String, Value> {
    namespace["metadata"]["labels"]
        .as_object()
        .map(|labels| {
            labels
                .iter()
                .filter(|(k, _)| k.starts_with(BINDING))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// F-A: the pool, its three blocks, the four live pods and their namespaces (kube-system exists).
pub fn f_a() -> Vec<Value> {
    vec![
        namespace("demo", json!({}), json!({})),
        namespace("win", json!({}), json!({})),
        pool(
            "default-ipv4-ippool",
            json!({"cidr": "10.233.64.0/18", "blockSize": 26, "ipipMode": "Always", "natOutgoing": true}),
        ),
        block(
            "10-233-64-0-26",
            "10.233.64.0/26",
            allocations(64, &[(0, 0), (1, 1), (2, 2), (3, 3), (4, 4)]),
            vec![
                tunnel_attribute("ipip-tunnel-addr-node1", "ipipTunnelAddress"),
                pod_attribute("a1", "demo", "nginx-a"),
                pod_attribute("a2", "demo", "nginx-b"),
                pod_attribute("a3", "kube-system", "coredns-x"),
                pod_attribute("a4", "demo", "gone-pod"),
            ],
            false,
        ),
        block(
            "10-233-64-64-26",
            "10.233.64.64/26",
            allocations(64, &[(0, 0), (1, 0), (2, 0), (63, 0), (3, 1), (4, 2)]),
            vec![
                json!({"handle_id": "windows-reserved-ipam-handle", "secondary": {"note": "windows host rsvd"}}),
                pod_attribute("b1", "win", "iis-0"),
                json!({}),
            ],
            false,
        ),
        block(
            "10-233-65-0-26",
            "10.233.65.0/26",
            allocations(64, &(0..10).map(|o| (o, 0)).collect::<Vec<_>>()),
            vec![pod_attribute("c1", "demo", "old-1")],
            true,
        ),
        pod(
            "demo",
            "nginx-a",
            &["10.233.64.1"],
            "Running",
            "2026-03-02T10:00:00Z",
        ),
        pod(
            "demo",
            "nginx-b",
            &["10.233.64.2"],
            "Running",
            "2026-03-02T10:01:00Z",
        ),
        pod(
            "kube-system",
            "coredns-x",
            &["10.233.64.3"],
            "Running",
            "2026-03-02T09:00:00Z",
        ),
        pod(
            "win",
            "iis-0",
            &["10.233.64.67"],
            "Running",
            "2026-03-02T10:02:00Z",
        ),
    ]
}

/// Case 7: pool `tun` 10.50.0.0/24 whose one block holds only its three tunnel addresses (IPIP, VXLAN, WireGuard).
pub fn case7_tunnel_pool() -> Vec<Value> {
    vec![
        pool("tun", json!({"cidr": "10.50.0.0/24"})),
        block(
            "10-50-0-0-26",
            "10.50.0.0/26",
            allocations(64, &[(0, 0), (1, 1), (2, 2)]),
            vec![
                tunnel_attribute("ipip-tunnel-addr-n1", "ipipTunnelAddress"),
                tunnel_attribute("vxlan-tunnel-addr-n1", "vxlanTunnelAddress"),
                tunnel_attribute("wireguard-tunnel-addr-n1", "wireguardTunnelAddress"),
            ],
            false,
        ),
    ]
}
