//! The dynamic NetworkPolicy and NamespaceNetworkPolicy endpoints under `/kapis` against a real
//! kube-apiserver: list paging metadata (cases.md K 106–108), writes and their body rules (K
//! 109–124), a forbidden list (O 172) and writes as the caller (O 174).
//!
//! Every test uses its own namespaces (unique names). Writes go through the server and are read
//! back through the admin kube client where a case says "stored"; reads through the server poll
//! until its watch caches reflect the writes.

mod support;

use std::time::Duration;

use kube::Client;
use serde_json::{Value, json};
use support::fixtures::{Checks, api, create, eventually, get, get_json, item_names, json_of};
use support::{ControlPlane, TestServer, User, test_config, unique_name};

const NP: &str = "/kapis/networking.k8s.io/v1";
const NSNP: &str = "/kapis/network.kubesphere.io/v1alpha1";
/// How long the server may take to reflect writes.
const SYNC: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

struct Env {
    server: TestServer<'static>,
    admin: Client,
    token: String,
}

async fn env() -> Env {
    env_with_ttl(None).await
}

/// A ready server (with `auth.cacheTTLSeconds` = `ttl` when given), an admin client and token.
async fn env_with_ttl(ttl: Option<u64>) -> Env {
    let plane = ControlPlane::shared();
    let mut config = test_config();
    if let Some(ttl) = ttl {
        config.auth.cache_ttl_seconds = ttl;
    }
    let server = TestServer::start_with(plane, config).await;
    server.wait_ready().await;
    Env {
        server,
        admin: plane.client(User::Admin).await,
        token: plane.token(User::Admin),
    }
}

impl Env {
    async fn get(&self, path: &str) -> (u16, Value) {
        get_json(&self.server, path, &self.token).await
    }

    /// `method path` as admin with `Content-Type` and a raw body.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: Option<&str>,
        body: &str,
    ) -> (u16, Value) {
        send_as(&self.server, &self.token, method, path, content_type, body).await
    }

    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(
            reqwest::Method::POST,
            path,
            Some("application/json"),
            &body.to_string(),
        )
        .await
    }

    async fn namespace(&self, prefix: &str) -> String {
        let name = unique_name(prefix);
        create(
            &self.admin,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
        )
        .await;
        name
    }

    /// Polls the list `path` until its `metadata.continue` (the filtered total) is `total`.
    async fn wait_list(&self, path: &str, total: usize) -> Value {
        eventually(SYNC, &format!("{path} with {total} matches"), || async {
            let (code, body) = self.get(path).await;
            if code == 200 && body["metadata"]["continue"] == json!(total.to_string()) {
                Ok(body)
            } else {
                Err(format!("{code} {body}"))
            }
        })
        .await
    }

    /// Polls the get `path` until it answers 200.
    async fn wait_get(&self, path: &str) -> Value {
        eventually(SYNC, &format!("{path} 200"), || async {
            match self.get(path).await {
                (200, body) => Ok(body),
                (code, body) => Err(format!("{code} {body}")),
            }
        })
        .await
    }

    /// The names of the NSNPs stored in `namespace` (read from kube-apiserver).
    async fn stored_nsnps(&self, namespace: &str) -> Vec<String> {
        api(
            &self.admin,
            "network.kubesphere.io/v1alpha1",
            "NamespaceNetworkPolicy",
            namespace,
        )
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|o| o.metadata.name.unwrap())
        .collect()
    }

    async fn stored_nsnp(&self, namespace: &str, name: &str) -> Value {
        get(
            &self.admin,
            "network.kubesphere.io/v1alpha1",
            "NamespaceNetworkPolicy",
            namespace,
            name,
        )
        .await
    }
}

async fn send_as(
    server: &TestServer<'_>,
    token: &str,
    method: reqwest::Method,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> (u16, Value) {
    let mut request = server
        .http
        .request(method, server.url(path))
        .bearer_auth(token);
    if let Some(content_type) = content_type {
        request = request.header("Content-Type", content_type);
    }
    let response = request
        .body(body.to_owned())
        .send()
        .await
        .expect("request reaches the server");
    json_of(response).await
}

fn nsnps(namespace: &str) -> String {
    format!("{NSNP}/namespaces/{namespace}/namespacenetworkpolicies")
}

fn numbered(prefix: &str, numbers: impl IntoIterator<Item = usize>) -> Vec<String> {
    numbers
        .into_iter()
        .map(|n| format!("{prefix}-{n:02}"))
        .collect()
}

/// Checks an error response: status code, `Status` kind, reason and exact message.
fn expect_error(
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
fn expect_error_prefix(
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
// K. Lists
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn networkpolicy_lists_carry_the_filtered_total() {
    let env = env().await;
    let paging = env.namespace("paging").await;
    let spec = json!({"podSelector": {}, "policyTypes": ["Ingress"]});
    // Created in name order, so creation order (with ties by name) is name order.
    for name in numbered("np", 1..=23) {
        create(
            &env.admin,
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                   "metadata": {"name": name, "namespace": paging}, "spec": spec}),
        )
        .await;
    }
    let list = format!("{NP}/namespaces/{paging}/networkpolicies");
    env.wait_list(&list, 23).await;
    let mut checks = Checks::default();

    // 106.
    let (code, body) = env
        .get(&format!("{list}?page=1&sortBy=createTime&limit=10"))
        .await;
    checks.eq(
        "106 list",
        &json!({"code": code, "apiVersion": body["apiVersion"], "kind": body["kind"],
                "metadata": body["metadata"], "totalItems": body.get("totalItems"),
                "items": item_names(&body)}),
        &json!({"code": 200, "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicyList",
                "metadata": {"continue": "23", "remainingItemCount": 13}, "totalItems": null,
                "items": numbered("np", (14..=23).rev())}),
    );
    let first = &body["items"][0];
    checks.eq(
        "106 first item",
        &json!({"apiVersion": first["apiVersion"], "kind": first["kind"],
                "name": first["metadata"]["name"], "namespace": first["metadata"]["namespace"],
                "hasCreationTimestamp": first["metadata"]["creationTimestamp"].is_string(),
                "managedFields": first["metadata"].get("managedFields"), "spec": first["spec"]}),
        &json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "name": "np-23", "namespace": paging, "hasCreationTimestamp": true,
                "managedFields": null, "spec": spec}),
    );

    // 107.
    for (query, items, remaining) in [
        ("page=3&limit=10", numbered("np", [3, 2, 1]), 0),
        ("limit=0", vec![], 23),
        ("page=4&limit=10", vec![], 0),
    ] {
        let (code, body) = env.get(&format!("{list}?{query}")).await;
        checks.eq(
            &format!("107 {query}"),
            &(code, item_names(&body), body["metadata"].clone()),
            &(
                200,
                items,
                json!({"continue": "23", "remainingItemCount": remaining}),
            ),
        );
    }

    // 108.
    let (code, body) = env
        .get(&format!("{NP}/networkpolicies?namespace={paging}"))
        .await;
    checks.eq(
        "108 cluster list",
        &(code, item_names(&body).len(), body["metadata"].clone()),
        &(200, 23, json!({"continue": "23", "remainingItemCount": 0})),
    );
    checks.finish();
    env.server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// K. Writes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn create_returns_201_and_the_classification_query_finds_it() {
    let env = env().await;
    let project = env.namespace("project-2").await;
    let mut checks = Checks::default();

    // 109. The create example of api §2.3.
    let spec = json!({"egress": [{"ports": [{"port": 80, "protocol": "TCP"}],
                                  "to": [{"ipBlock": {"cidr": "10.10.10.10/24"}}]}]});
    let labels =
        json!({"kubesphere.io/policy-type": "egress", "kubesphere.io/policy-traffic": "outside"});
    let body = json!({"apiVersion": "network.kubesphere.io/v1alpha1", "kind": "NamespaceNetworkPolicy",
        "metadata": {"name": "policy-to-abc12", "namespace": project, "labels": labels},
        "spec": spec});
    let (code, created) = env.post(&nsnps(&project), &body).await;
    let metadata = &created["metadata"];
    checks.eq(
        "109 create",
        &json!({"code": code, "uid": metadata["uid"].is_string(),
                "resourceVersion": metadata["resourceVersion"].is_string(),
                "creationTimestamp": metadata["creationTimestamp"].is_string(),
                "managedFields": metadata.get("managedFields"), "labels": metadata["labels"],
                "spec": created["spec"]}),
        &json!({"code": 201, "uid": true, "resourceVersion": true, "creationTimestamp": true,
                "managedFields": null, "labels": labels, "spec": spec}),
    );

    // 110.
    let query = format!(
        "{}?page=1&sortBy=createTime&limit=10&labelSelector=kubesphere.io%2Fpolicy-type%3Degress%2Ckubesphere.io%2Fpolicy-traffic%3Doutside",
        nsnps(&project)
    );
    let body = env.wait_list(&query, 1).await;
    checks.eq(
        "110 classification query",
        &(item_names(&body), body["metadata"].clone()),
        &(
            vec!["policy-to-abc12".to_owned()],
            json!({"continue": "1", "remainingItemCount": 0}),
        ),
    );
    checks.eq(
        "110 item kind",
        &(
            body["items"][0]["apiVersion"].clone(),
            body["items"][0]["kind"].clone(),
        ),
        &(
            json!("network.kubesphere.io/v1alpha1"),
            json!("NamespaceNetworkPolicy"),
        ),
    );
    checks.eq(
        "110 list kind",
        &(body["apiVersion"].clone(), body["kind"].clone()),
        &(
            json!("network.kubesphere.io/v1alpha1"),
            json!("NamespaceNetworkPolicyList"),
        ),
    );
    checks.finish();
    env.server.stop().await;
}

#[tokio::test]
async fn write_body_rules_and_collection_errors() {
    let env = env().await;
    let a = env.namespace("a").await;
    let b = env.namespace("b").await;
    let mut checks = Checks::default();
    let spec = json!({"ingress": [{"from": [{"namespace": {"name": "b"}}]}]});

    // 111. URL/body namespace mismatch; nothing is created anywhere.
    let response = env
        .post(
            &nsnps(&a),
            &json!({"metadata": {"name": "mismatch", "namespace": b}, "spec": spec}),
        )
        .await;
    expect_error(
        &mut checks,
        "111 namespace mismatch",
        &response,
        400,
        "BadRequest",
        "the namespace of the provided object does not match the namespace sent on the request",
    );
    checks.eq(
        "111 nothing created in a or b",
        &(env.stored_nsnps(&a).await, env.stored_nsnps(&b).await),
        &(vec![], vec![]),
    );

    // 112. URL/body name mismatch.
    let response = env
        .send(
            reqwest::Method::PUT,
            &format!("{}/x", nsnps(&a)),
            Some("application/json"),
            &json!({"metadata": {"name": "y"}, "spec": spec}).to_string(),
        )
        .await;
    expect_error(
        &mut checks,
        "112 name mismatch",
        &response,
        400,
        "BadRequest",
        "the name of the object (y) does not match the name on the URL (x)",
    );

    // 113. Wrong kind.
    let response = env
        .post(
            &nsnps(&a),
            &json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                    "metadata": {"name": "np"}, "spec": {"podSelector": {}}}),
        )
        .await;
    expect_error(
        &mut checks,
        "113 wrong kind",
        &response,
        400,
        "BadRequest",
        "wrong resource GroupVersionKind: expected network.kubesphere.io/v1alpha1, Kind=NamespaceNetworkPolicy",
    );

    // 115. Malformed JSON.
    let response = env
        .send(
            reqwest::Method::POST,
            &nsnps(&a),
            Some("application/json"),
            "{\"metadata\":",
        )
        .await;
    expect_error_prefix(
        &mut checks,
        "115 malformed JSON",
        &response,
        400,
        "BadRequest",
        "invalid JSON body: ",
    );
    checks.eq(
        "111-115 nothing stored",
        &env.stored_nsnps(&a).await,
        &vec![],
    );

    // 119. Delete collection, namespaced and cluster-wide.
    for path in [
        nsnps(&a),
        format!("{NSNP}/namespacenetworkpolicies"),
        format!("{NP}/namespaces/{a}/networkpolicies"),
    ] {
        let response = env.send(reqwest::Method::DELETE, &path, None, "").await;
        expect_error(
            &mut checks,
            &format!("119 DELETE {path}"),
            &response,
            405,
            "MethodNotAllowed",
            "deletecollection is not supported",
        );
    }

    // 120. Missing object.
    let response = env.get(&format!("{}/nope", nsnps(&a))).await;
    expect_error(
        &mut checks,
        "120 missing NSNP",
        &response,
        404,
        "NotFound",
        "namespacenetworkpolicies.network.kubesphere.io \"nope\" not found",
    );
    let response = env
        .get(&format!("{NP}/namespaces/{a}/networkpolicies/x"))
        .await;
    expect_error(
        &mut checks,
        "api §2.2 missing NetworkPolicy",
        &response,
        404,
        "NotFound",
        "networkpolicies.networking.k8s.io \"x\" not found",
    );
    checks.finish();
    env.server.stop().await;
}

#[tokio::test]
async fn defaults_from_the_url_patches_update_and_delete() {
    let env = env().await;
    let a = env.namespace("a").await;
    let mut checks = Checks::default();
    let spec = json!({"ingress": [{"from": [{"namespace": {"name": "b"}}]}]});

    // 114. Defaults from the URL (also for `m2`, the target of the application/json patch).
    for name in ["m", "m2"] {
        let (code, body) = env
            .post(
                &nsnps(&a),
                &json!({"metadata": {"name": name}, "spec": spec}),
            )
            .await;
        checks.eq(&format!("114 create {name}"), &code, &201);
        checks.that(
            &format!("114 create {name} body"),
            body["spec"] == spec,
            || body.to_string(),
        );
    }
    let stored = env.stored_nsnp(&a, "m").await;
    checks.eq(
        "114 stored",
        &json!({"apiVersion": stored["apiVersion"], "kind": stored["kind"],
                "namespace": stored["metadata"]["namespace"], "spec": stored["spec"]}),
        &json!({"apiVersion": "network.kubesphere.io/v1alpha1", "kind": "NamespaceNetworkPolicy",
                "namespace": a, "spec": spec}),
    );

    // 116. Merge patches keep omitted fields, with both content types.
    let patch = json!({"metadata": {"labels": {"team": "x"}}}).to_string();
    for (name, content_type) in [
        ("m", "application/merge-patch+json"),
        ("m2", "application/json"),
    ] {
        let (code, body) = env
            .send(
                reqwest::Method::PATCH,
                &format!("{}/{name}", nsnps(&a)),
                Some(content_type),
                &patch,
            )
            .await;
        checks.eq(
            &format!("116 {content_type}"),
            &json!({"code": code, "team": body["metadata"]["labels"]["team"], "spec": body["spec"],
                    "managedFields": body["metadata"].get("managedFields")}),
            &json!({"code": 200, "team": "x", "spec": spec, "managedFields": null}),
        );
        let stored = env.stored_nsnp(&a, name).await;
        checks.eq(
            &format!("116 {content_type} stored"),
            &(
                stored["metadata"]["labels"]["team"].clone(),
                stored["spec"].clone(),
            ),
            &(json!("x"), spec.clone()),
        );
    }

    // 117. JSON patch.
    let (code, body) = env
        .send(
            reqwest::Method::PATCH,
            &format!("{}/m", nsnps(&a)),
            Some("application/json-patch+json"),
            &json!([{"op": "add", "path": "/metadata/labels/env", "value": "prod"}]).to_string(),
        )
        .await;
    checks.eq(
        "117 JSON patch",
        &(code, body["metadata"]["labels"].clone()),
        &(200, json!({"team": "x", "env": "prod"})),
    );

    // 118. Unsupported patch type.
    let response = env
        .send(
            reqwest::Method::PATCH,
            &format!("{}/m", nsnps(&a)),
            Some("text/plain"),
            &patch,
        )
        .await;
    expect_error(
        &mut checks,
        "118 unsupported patch type",
        &response,
        415,
        "UnsupportedMediaType",
        "unsupported patch type \"text/plain\"",
    );

    // api §2.4: a full replacement, name from the URL. Without `metadata.resourceVersion`
    // kube-apiserver refuses to update a custom resource (422), and the server passes that through.
    let new_spec = json!({"egress": [{"to": [{"namespace": {"name": "c"}}]}]});
    let put = |body: Value| {
        let env = &env;
        let path = format!("{}/m", nsnps(&a));
        async move {
            env.send(
                reqwest::Method::PUT,
                &path,
                Some("application/json"),
                &body.to_string(),
            )
            .await
        }
    };
    let response = put(json!({"metadata": {"labels": {"team": "y"}}, "spec": new_spec})).await;
    expect_error_prefix(
        &mut checks,
        "api §2.4 unconditional update of a custom resource (kube-apiserver's 422)",
        &response,
        422,
        "Invalid",
        "namespacenetworkpolicies.network.kubesphere.io \"m\" is invalid: metadata.resourceVersion: ",
    );
    let resource_version = env.stored_nsnp(&a, "m").await["metadata"]["resourceVersion"].clone();
    let (code, body) = put(
        json!({"metadata": {"labels": {"team": "y"}, "resourceVersion": resource_version},
                                  "spec": new_spec}),
    )
    .await;
    checks.eq(
        "api §2.4 update",
        &json!({"code": code, "name": body["metadata"]["name"], "spec": body["spec"],
                "managedFields": body["metadata"].get("managedFields")}),
        &json!({"code": 200, "name": "m", "spec": new_spec, "managedFields": null}),
    );
    let stored = env.stored_nsnp(&a, "m").await;
    checks.eq(
        "api §2.4 update stored",
        &(stored["metadata"]["labels"].clone(), stored["spec"].clone()),
        &(json!({"team": "y"}), new_spec.clone()),
    );
    let got = env.wait_get(&format!("{}/m", nsnps(&a))).await;
    checks.eq(
        "api §2.2 get",
        &(got["apiVersion"].clone(), got["kind"].clone()),
        &(
            json!("network.kubesphere.io/v1alpha1"),
            json!("NamespaceNetworkPolicy"),
        ),
    );

    // api §2.5: delete is forwarded; the object is gone.
    let (code, _) = env
        .send(
            reqwest::Method::DELETE,
            &format!("{}/m2", nsnps(&a)),
            None,
            "",
        )
        .await;
    checks.that("api §2.5 delete", code == 200 || code == 202, || {
        code.to_string()
    });
    checks.eq(
        "api §2.5 deleted",
        &env.stored_nsnps(&a).await,
        &vec!["m".to_owned()],
    );
    checks.finish();
    env.server.stop().await;
}

#[tokio::test]
async fn nsnp_validation_answers_422() {
    let env = env().await;
    let ns = env.namespace("invalid").await;
    let mut checks = Checks::default();

    // 121.
    let response = env
        .post(
            &nsnps(&ns),
            &json!({"metadata": {"name": "both-ways", "labels": {"kubesphere.io/policy-type": "both"}},
                    "spec": {"egress": [{"to": [{"namespace": {"name": "b"}}]}]}}),
        )
        .await;
    expect_error_prefix(
        &mut checks,
        "121 label value",
        &response,
        422,
        "Invalid",
        "NamespaceNetworkPolicy.network.kubesphere.io \"both-ways\" is invalid: metadata.labels[kubesphere.io/policy-type]: ",
    );
    let causes = response.1["details"]["causes"].clone();
    checks.that(
        "121 details.causes",
        causes.as_array().is_some_and(|causes| {
            causes.len() == 1
                && causes[0]["field"] == "metadata.labels[kubesphere.io/policy-type]"
                && ["FieldValueInvalid", "FieldValueNotSupported"]
                    .contains(&causes[0]["reason"].as_str().unwrap_or_default())
        }),
        || response.1.to_string(),
    );

    // 122.
    let response = env
        .post(
            &nsnps(&ns),
            &json!({"metadata": {"name": "two-kinds"},
                    "spec": {"egress": [{"to": [{"namespace": {"name": "b"}, "ipBlock": {"cidr": "10.0.0.0/8"}}]}]}}),
        )
        .await;
    let (code, body) = &response;
    let fields: Vec<Value> = body["details"]["causes"]
        .as_array()
        .map(|causes| causes.iter().map(|c| c["field"].clone()).collect())
        .unwrap_or_default();
    checks.that(
        "122 peer with two kinds",
        *code == 422
            && body["reason"] == "Invalid"
            && fields.contains(&json!("spec.egress[0].to[0]")),
        || format!("{code} {body}"),
    );
    checks.that(
        "122 message names the field",
        body["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("NamespaceNetworkPolicy.network.kubesphere.io \"two-kinds\" is invalid: spec.egress[0].to[0]"),
        || body.to_string(),
    );
    checks.eq(
        "121/122 nothing stored",
        &env.stored_nsnps(&ns).await,
        &vec![],
    );
    checks.finish();
    env.server.stop().await;
}

#[tokio::test]
async fn allowlists_round_trip_and_derived_labels() {
    let env = env().await;
    let rt = env.namespace("rt").await;
    let mut checks = Checks::default();

    // 124's NSNP is stored directly, without labels.
    let old_spec = json!({"egress": [{"ports": [{"port": 443, "protocol": "TCP"}],
                                      "to": [{"ipBlock": {"cidr": "1.2.3.0/24"}}]}]});
    create(
        &env.admin,
        json!({"apiVersion": "network.kubesphere.io/v1alpha1", "kind": "NamespaceNetworkPolicy",
               "metadata": {"name": "old", "namespace": rt}, "spec": old_spec}),
    )
    .await;

    // 123.
    let specs = [
        json!({"egress": [{"to": [{"namespace": {"name": "default"}}]}]}),
        json!({"ingress": [{"from": [{"namespace": {"name": "default"}}]}]}),
        json!({"egress": [{"ports": [{"port": 80, "protocol": "TCP"}], "to": [{"ipBlock": {"cidr": "10.10.10.10/24"}}]}]}),
        json!({"ingress": [{"ports": [{"port": 80, "protocol": "TCP"}], "from": [{"ipBlock": {"cidr": "10.10.10.10/24"}}]}]}),
    ];
    for (i, spec) in specs.iter().enumerate() {
        let name = format!("allow-{i}");
        let (code, _) = env
            .post(
                &nsnps(&rt),
                &json!({"apiVersion": "network.kubesphere.io/v1alpha1", "kind": "NamespaceNetworkPolicy",
                        "metadata": {"name": name}, "spec": spec}),
            )
            .await;
        checks.eq(&format!("123 create {name}"), &code, &201);
    }
    for (i, spec) in specs.iter().enumerate() {
        let name = format!("allow-{i}");
        let got = env.wait_get(&format!("{}/{name}", nsnps(&rt))).await;
        checks.eq(&format!("123 round trip {name}"), &got["spec"], spec);
    }

    // 124. The seed classification query includes `old` with derived labels (and allow-2, whose
    // first rule has ports).
    let query = format!(
        "{}?page=1&sortBy=createTime&limit=10&labelSelector=kubesphere.io%2Fpolicy-type%3Degress%2Ckubesphere.io%2Fpolicy-traffic%3Doutside",
        nsnps(&rt)
    );
    let body = env.wait_list(&query, 2).await;
    let mut found = item_names(&body);
    found.sort();
    checks.eq(
        "124 query",
        &found,
        &vec!["allow-2".to_owned(), "old".to_owned()],
    );
    let old = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["metadata"]["name"] == "old")
        .cloned()
        .unwrap_or_default();
    checks.eq(
        "124 derived labels shown",
        &old["metadata"]["labels"],
        &json!({"kubesphere.io/policy-type": "egress", "kubesphere.io/policy-traffic": "outside"}),
    );
    let got = env.wait_get(&format!("{}/old", nsnps(&rt))).await;
    checks.eq(
        "124 derived labels on get",
        &got["metadata"]["labels"],
        &json!({"kubesphere.io/policy-type": "egress", "kubesphere.io/policy-traffic": "outside"}),
    );
    let stored = env.stored_nsnp(&rt, "old").await;
    checks.eq("124 not stored", &stored["metadata"].get("labels"), &None);
    // The derived classification of the others: allow-0 egress/inside, allow-1 ingress/inside.
    let inside = format!(
        "{}?labelSelector=kubesphere.io%2Fpolicy-traffic%3Dinside&sortBy=name&ascending=true",
        nsnps(&rt)
    );
    let body = env.wait_list(&inside, 2).await;
    checks.eq(
        "124 derived inside",
        &item_names(&body),
        &vec!["allow-0".to_owned(), "allow-1".to_owned()],
    );
    checks.finish();
    env.server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// O. Authorization
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn forbidden_list_gets_403_in_kubernetes_form() {
    // 172. alice has no RBAC in this test binary.
    let env = env().await;
    let demo = env.namespace("demo").await;
    let alice = ControlPlane::shared().token(User::Alice);
    let response = get_json(&env.server, &nsnps(&demo), &alice).await;
    let mut checks = Checks::default();
    expect_error(
        &mut checks,
        "172 forbidden list",
        &response,
        403,
        "Forbidden",
        &format!(
            "namespacenetworkpolicies.network.kubesphere.io is forbidden: User \"alice\" cannot list resource \"namespacenetworkpolicies\" in API group \"network.kubesphere.io\" in the namespace \"{demo}\""
        ),
    );
    checks.finish();
    env.server.stop().await;
}

#[tokio::test]
async fn writes_are_authorized_by_kube_apiserver_as_the_caller() {
    // 174. dave may list NSNPs in `a` but not create them.
    let env = env_with_ttl(Some(0)).await;
    let a = env.namespace("a").await;
    create(
        &env.admin,
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
               "metadata": {"name": "nsnp-reader", "namespace": a},
               "rules": [{"apiGroups": ["network.kubesphere.io"], "resources": ["namespacenetworkpolicies"],
                          "verbs": ["get", "list", "watch"]}]}),
    )
    .await;
    create(
        &env.admin,
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "dave-reads", "namespace": a},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "nsnp-reader"},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "dave"}]}),
    )
    .await;
    let dave = ControlPlane::shared().token(User::Dave);
    eventually(SYNC, "dave may list NSNPs in a", || async {
        match get_json(&env.server, &nsnps(&a), &dave).await {
            (200, _) => Ok(()),
            (code, body) => Err(format!("{code} {body}")),
        }
    })
    .await;
    let response = send_as(
        &env.server,
        &dave,
        reqwest::Method::POST,
        &nsnps(&a),
        Some("application/json"),
        &json!({"metadata": {"name": "m"},
                "spec": {"ingress": [{"from": [{"namespace": {"name": "b"}}]}]}})
        .to_string(),
    )
    .await;
    let mut checks = Checks::default();
    expect_error(
        &mut checks,
        "174 create forbidden",
        &response,
        403,
        "Forbidden",
        &format!(
            "namespacenetworkpolicies.network.kubesphere.io is forbidden: User \"dave\" cannot create resource \"namespacenetworkpolicies\" in API group \"network.kubesphere.io\" in the namespace \"{a}\""
        ),
    );
    checks.eq(
        "174 passed through (details from kube-apiserver)",
        &response.1["details"],
        &json!({"group": "network.kubesphere.io", "kind": "namespacenetworkpolicies"}),
    );
    checks.eq("174 nothing stored", &env.stored_nsnps(&a).await, &vec![]);
    checks.finish();
    env.server.stop().await;
}
