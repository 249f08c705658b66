//! The dynamic NetworkPolicy and NamespaceNetworkPolicy endpoints under `/kapis` against a real
//! kube-apiserver: list paging metadata (cases.md K 106–108), writes and their body rules (K
//! 109–124), a forbidden list (O 172) and writes as the caller (O 174).
//!
//! Every test uses its own namespaces (unique names). Writes go through the server and are read
//! back through the admin kube client where a case says "stored"; reads through the server poll
//! until its watch caches reflect the writes. The body rules answered before any write (K 111–113,
//! 115, 119–122) are route tests, in `routes`.

use kube::api::Api;
use serde_json::{Value, json};

use crate::support::api::{NP, SYNC, nsnps};
use crate::support::fixtures::{
    Checks, api, create, eventually, expect_error, expect_error_prefix, get, item_names, numbered,
};
use crate::support::{ControlPlane, Env, User, test_config};

fn nsnp_api(env: &Env, namespace: &str) -> Api<kube::api::DynamicObject> {
    api(
        &env.admin,
        "network.kubesphere.io/v1alpha1",
        "NamespaceNetworkPolicy",
        namespace,
    )
}

/// The names of the NSNPs stored in `namespace` (read from kube-apiserver).
async fn stored_nsnps(env: &Env, namespace: &str) -> Vec<String> {
    nsnp_api(env, namespace)
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|o| o.metadata.name.unwrap())
        .collect()
}

/// An NSNP as stored in kube-apiserver.
async fn stored_nsnp(env: &Env, namespace: &str, name: &str) -> Value {
    get(
        &env.admin,
        "network.kubesphere.io/v1alpha1",
        "NamespaceNetworkPolicy",
        namespace,
        name,
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// K. Lists
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn networkpolicy_lists_carry_the_filtered_total() {
    let env = Env::start().await;
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
    env.stop().await;
}

// ---------------------------------------------------------------------------------------------
// K. Writes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn create_returns_201_and_the_classification_query_finds_it() {
    let env = Env::start().await;
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
    env.stop().await;
}

#[tokio::test]
async fn defaults_from_the_url_patches_update_and_delete() {
    let env = Env::start().await;
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
    let stored = stored_nsnp(&env, &a, "m").await;
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
        let stored = stored_nsnp(&env, &a, name).await;
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
    let resource_version = stored_nsnp(&env, &a, "m").await["metadata"]["resourceVersion"].clone();
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
    let stored = stored_nsnp(&env, &a, "m").await;
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
        &stored_nsnps(&env, &a).await,
        &vec!["m".to_owned()],
    );
    checks.finish();
    env.stop().await;
}

/// Bodies kube-apiserver cannot decode, which it would answer with a 500 (found by scripts/schemathesis.sh), are
/// the caller's mistake: a 400 `Status`, and the object is left as it was.
#[tokio::test]
async fn undecodable_patches_and_delete_options_are_400() {
    let env = Env::start().await;
    let ns = env.namespace("undecodable").await;
    let mut checks = Checks::default();
    let policy = format!("{NP}/namespaces/{ns}/networkpolicies/web");
    let (code, _) = env
        .post(
            &format!("{NP}/namespaces/{ns}/networkpolicies"),
            &json!({"metadata": {"name": "web"}, "spec": {"podSelector": {}}}),
        )
        .await;
    checks.eq("created", &code, &201);
    let apply = "application/apply-patch+yaml";
    for (label, content_type, body) in [
        (
            "a port that is an object",
            apply,
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nspec:\n  egress:\n  - ports:\n    - port: {}\n",
        ),
        (
            "a kind that is an object",
            apply,
            "apiVersion: networking.k8s.io/v1\nkind: {}\n",
        ),
        (
            "a field NetworkPolicy lacks",
            apply,
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nspec:\n  '': []\n",
        ),
        (
            "a merge patch of the wrong type",
            "application/merge-patch+json",
            r#"{"spec": {"podSelector": 5}}"#,
        ),
    ] {
        let (code, body) = env
            .send(reqwest::Method::PATCH, &policy, Some(content_type), body)
            .await;
        checks.eq(
            label,
            &(code, &body["reason"]),
            &(400, &json!("BadRequest")),
        );
    }
    let (code, body) = env
        .send(
            reqwest::Method::DELETE,
            &policy,
            Some("application/json"),
            r#"{"preconditions": {"resourceVersion": {}}}"#,
        )
        .await;
    checks.eq(
        "DeleteOptions of the wrong type",
        &(code, &body["reason"]),
        &(400, &json!("BadRequest")),
    );
    let stored = get(
        &env.admin,
        "networking.k8s.io/v1",
        "NetworkPolicy",
        &ns,
        "web",
    )
    .await;
    checks.eq(
        "left as it was",
        &stored["spec"],
        &json!({"podSelector": {}, "policyTypes": ["Ingress"]}),
    );
    // A blank body is no body.
    let (code, _) = env
        .send(
            reqwest::Method::DELETE,
            &policy,
            Some("application/json"),
            "\n",
        )
        .await;
    checks.eq("a blank DELETE body", &code, &200);
    checks.finish();
}

#[tokio::test]
async fn allowlists_round_trip_and_derived_labels() {
    let env = Env::start().await;
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
    let stored = stored_nsnp(&env, &rt, "old").await;
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
    env.stop().await;
}

// ---------------------------------------------------------------------------------------------
// O. Authorization
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn forbidden_list_gets_403_in_kubernetes_form() {
    // 172. alice has no RBAC in this test binary.
    let env = Env::start().await;
    let demo = env.namespace("demo").await;
    let alice = ControlPlane::shared().token(User::Alice);
    let response = env.server.get_json(&nsnps(&demo), &alice).await;
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
    env.stop().await;
}

#[tokio::test]
async fn writes_are_authorized_by_kube_apiserver_as_the_caller() {
    // 174. dave may list NSNPs in `a` but not create them.
    let mut config = test_config();
    config.auth.cache_ttl_seconds = 0;
    let env = Env::start_with(config).await;
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
        match env.server.get_json(&nsnps(&a), &dave).await {
            (200, _) => Ok(()),
            (code, body) => Err(format!("{code} {body}")),
        }
    })
    .await;
    let response = env
        .server
        .send(
            reqwest::Method::POST,
            &nsnps(&a),
            &dave,
            Some("application/json"),
            json!({"metadata": {"name": "m"},
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
    checks.eq("174 nothing stored", &stored_nsnps(&env, &a).await, &vec![]);
    checks.finish();
    env.stop().await;
}
