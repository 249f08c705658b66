//! Migration targets, pools usable by a namespace, and pool migration against a real kube-apiserver
//! (cases.md B 28–34, E 53–68), on fixture F-M.
//!
//! One sequential test: each step keeps the preconditions of the next (targets and usable pools
//! before the extra pools exist, dry runs and validation errors before the real migration, the
//! real migration (53) before its effects (54) and its repetition (55)). On the exclusive plane:
//! targets and usable pools are every pool of the cluster, and the names are the spec's.

use std::collections::BTreeMap;

use kube::Client;
use serde_json::{Value, json};

use crate::support::api::{IPV4POOLS, MARKER, MIGRATIONS, SYNC, V2 as BASE};
use crate::support::exclusive::Exclusive;
use crate::support::fixtures::{
    Checks, binding_labels, delete, get, merge_patch, names, namespace, owned_pod, pod, pool,
    resource_version, same, settle,
};
use crate::support::{CrdSet, TestServer, User, test_config};

const MIGRATION: &str = "network.kubesphere.io/ippool-migration";
const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

fn container() -> Value {
    json!([{"name": "c", "image": "pause"}])
}

/// F-M, in creation order.
pub fn fixture() -> Vec<Value> {
    let mut objects = vec![
        pool("pool-a", json!({"cidr": "10.10.0.0/16", "disabled": true})),
        pool("pool-b", json!({"cidr": "10.20.0.0/16"})),
        pool("pool-c", json!({"cidr": "10.30.0.0/16", "disabled": true})),
        pool("pool-v6", json!({"cidr": "fd00:60::/64"})),
        pool(
            "pool-t",
            json!({"cidr": "10.40.0.0/16", "allowedUses": ["Tunnel"]}),
        ),
        namespace(
            "demo",
            json!({"ippool.network.kubesphere.io/pool-a": ""}),
            json!({IPV4POOLS: "[\"pool-a\"]", MARKER: "true"}),
        ),
        namespace(
            "legacy",
            json!({}),
            json!({IPV4POOLS: "[\"10.10.0.0/16\",\"pool-x\"]"}),
        ),
        namespace("other", json!({}), json!({})),
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "web", "namespace": "demo"},
               "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                        "template": {"metadata": {"labels": {"app": "web"}},
                                     "spec": {"containers": container()}}}}),
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
               "metadata": {"name": "web-5d8f", "namespace": "demo",
                            "labels": {"app": "web", "pod-template-hash": "5d8f"},
                            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                                 "controller": true, "blockOwnerDeletion": true}]},
               "spec": {"replicas": 2,
                        "selector": {"matchLabels": {"app": "web", "pod-template-hash": "5d8f"}},
                        "template": {"metadata": {"labels": {"app": "web", "pod-template-hash": "5d8f"}},
                                     "spec": {"containers": container()}}}}),
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
               "metadata": {"name": "db", "namespace": "legacy"},
               "spec": {"serviceName": "db", "replicas": 1, "selector": {"matchLabels": {"app": "db"}},
                        "template": {"metadata": {"labels": {"app": "db"},
                                                  "annotations": {IPV4POOLS: "[\"pool-a\"]"}},
                                     "spec": {"containers": container()}}}}),
        json!({"apiVersion": "batch/v1", "kind": "Job",
               "metadata": {"name": "batch-1", "namespace": "demo"},
               "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": container()}}}}),
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
               "metadata": {"name": "agent", "namespace": "other"},
               "spec": {"selector": {"matchLabels": {"app": "agent"}},
                        "template": {"metadata": {"labels": {"app": "agent"}},
                                     "spec": {"containers": container()}}}}),
        // Kubernetes 1.20 serves CronJobs only as batch/v1beta1.
        json!({"apiVersion": "batch/v1beta1", "kind": "CronJob",
               "metadata": {"name": "nightly", "namespace": "other"},
               "spec": {"schedule": "0 3 * * *",
                        "jobTemplate": {"spec": {"template": {
                            "metadata": {"annotations": {IPV4POOLS: "[\"pool-a\"]"}},
                            "spec": {"restartPolicy": "OnFailure", "containers": container()}}}}}}),
    ];
    let mut web_a = owned_pod(
        "demo",
        "web-5d8f-aaaaa",
        &["10.10.0.5"],
        "apps/v1",
        "ReplicaSet",
        "web-5d8f",
    );
    web_a["metadata"]["labels"] = json!({"app": "web", "pod-template-hash": "5d8f"});
    let mut web_b = owned_pod(
        "demo",
        "web-5d8f-bbbbb",
        &["10.10.0.6"],
        "apps/v1",
        "ReplicaSet",
        "web-5d8f",
    );
    web_b["metadata"]["labels"] = json!({"app": "web", "pod-template-hash": "5d8f"});
    objects.extend([
        web_a,
        web_b,
        owned_pod(
            "legacy",
            "db-0",
            &["10.10.1.7"],
            "apps/v1",
            "StatefulSet",
            "db",
        ),
        pod(
            "demo",
            "solo",
            &["10.10.0.9"],
            "Running",
            "2026-03-02T10:00:00Z",
        ),
        owned_pod(
            "demo",
            "batch-1-xyz",
            &["10.10.0.10"],
            "batch/v1",
            "Job",
            "batch-1",
        ),
        owned_pod(
            "other",
            "agent-q",
            &["10.20.0.4"],
            "apps/v1",
            "DaemonSet",
            "agent",
        ),
    ]);
    objects
}

/// Case 53's response (with `dryRun` as given).
pub fn case53(dry_run: bool) -> Value {
    json!({"message": "success", "dryRun": dry_run, "oldippool": "pool-a", "newippool": "pool-b",
           "namespaces": ["demo", "legacy"],
           "workloads": [{"kind": "CronJob", "namespace": "other", "name": "nightly", "action": "updated"},
                         {"kind": "Deployment", "namespace": "demo", "name": "web", "action": "restarted"},
                         {"kind": "StatefulSet", "namespace": "legacy", "name": "db", "action": "updated"}],
           "skippedPods": [{"namespace": "demo", "name": "batch-1-xyz", "reason": "unsupported controller Job"},
                           {"namespace": "demo", "name": "solo", "reason": "no controller"}],
           "warnings": []})
}

/// `(code, message, reason)` of an error response.
fn error_of(code: u16, body: &Value) -> (u16, Value, Value) {
    (code, body["message"].clone(), body["reason"].clone())
}

fn error(code: u16, reason: &str, message: &str) -> (u16, Value, Value) {
    (code, json!(message), json!(reason))
}

/// Waits until GET `path` answers 200 with item names `expected`, checks the list shape and that
/// every item has a status; records the outcome under `label`.
async fn expect_items(
    checks: &mut Checks,
    label: &str,
    server: &TestServer<'_>,
    token: &str,
    path: &str,
    expected: &[&str],
) {
    let expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    // api §1.5: the namespace form answers a bare array (the console's `fetchNamespacesIpPools` maps over it);
    // api §1.3: the migration targets are an `IPPoolList` (the console reads `items`).
    let bare = path.ends_with("/ippools");
    let outcome = settle(SYNC, || async {
        let (code, body) = server.get_json(path, token).await;
        let items = if bare {
            body.as_array()
                .cloned()
                .ok_or_else(|| format!("{code}: not a bare array: {body}"))?
        } else {
            same(
                &(&body["apiVersion"], &body["kind"]),
                &(&json!("crd.projectcalico.org/v1"), &json!("IPPoolList")),
            )?;
            body["items"].as_array().cloned().unwrap_or_default()
        };
        same(&(code, names(&items)), &(200, expected.clone()))?;
        match items.iter().find(|i| !i["status"]["capacity"].is_number()) {
            Some(item) => Err(format!("item without status: {item}")),
            None => Ok(()),
        }
    })
    .await;
    checks.check(label, outcome);
}

/// The resourceVersions of the objects a migration may touch (and of those it must not).
async fn versions(client: &Client) -> BTreeMap<&'static str, String> {
    let objects: [(&str, &str, &str, &str, &str); 9] = [
        ("pool-a", "crd.projectcalico.org/v1", "IPPool", "", "pool-a"),
        ("pool-b", "crd.projectcalico.org/v1", "IPPool", "", "pool-b"),
        ("namespace demo", "v1", "Namespace", "", "demo"),
        ("namespace legacy", "v1", "Namespace", "", "legacy"),
        ("namespace other", "v1", "Namespace", "", "other"),
        (
            "deployment demo/web",
            "apps/v1",
            "Deployment",
            "demo",
            "web",
        ),
        (
            "statefulset legacy/db",
            "apps/v1",
            "StatefulSet",
            "legacy",
            "db",
        ),
        (
            "daemonset other/agent",
            "apps/v1",
            "DaemonSet",
            "other",
            "agent",
        ),
        (
            "cronjob other/nightly",
            "batch/v1beta1",
            "CronJob",
            "other",
            "nightly",
        ),
    ];
    let mut out = BTreeMap::new();
    for (label, api_version, kind, ns, name) in objects {
        out.insert(
            label,
            resource_version(client, api_version, kind, ns, name).await,
        );
    }
    out
}

fn annotation<'a>(object: &'a Value, pointer: &str, key: &str) -> &'a Value {
    object
        .pointer(pointer)
        .and_then(|a| a.get(key))
        .unwrap_or(&Value::Null)
}

#[tokio::test]
async fn migration_cases_on_fixture_f_m() {
    let mut cluster = Exclusive::acquire(CrdSet::All).await;
    let plane = cluster.plane();
    let admin = cluster.admin().clone();
    let token = plane.token(User::Admin);
    // SubjectAccessReview answers are not cached, so bob's grants (case 66) take effect at once.
    let mut config = test_config();
    config.auth.cache_ttl_seconds = 0;
    let server = TestServer::start_with(plane, config).await;
    cluster.create_all(fixture()).await;
    server.wait_ready().await;
    let mut checks = Checks::default();

    // Case 56 (form dry run), also the signal that the caches reflect F-M.
    let dry_form = "oldippool=pool-a&newippool=pool-b&dryRun=true";
    let outcome = settle(SYNC, || async {
        let (code, body) = server.post_form(MIGRATIONS, &token, dry_form).await;
        same(&(code, body), &(200, case53(true)))
    })
    .await;
    checks.check("case 56 dry run (form)", outcome);
    let initial = versions(&admin).await;

    // Case 29: targets of an IPv6 pool.
    let (code, body) = server
        .get_json(&format!("{BASE}/ippools/pool-v6/migrate"), &token)
        .await;
    checks.eq(
        "case 29 targets of pool-v6",
        &(code, &body["kind"], &body["items"]),
        &(200, &json!("IPPoolList"), &json!([])),
    );
    // Case 30: targets of a missing pool.
    let (code, body) = server
        .get_json(&format!("{BASE}/ippools/nope/migrate"), &token)
        .await;
    checks.eq(
        "case 30 targets of a missing pool",
        &(code, body),
        &(404, json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                      "message":"ippools.crd.projectcalico.org \"nope\" not found","reason":"NotFound",
                      "details":{"name":"nope","group":"crd.projectcalico.org","kind":"ippools"},"code":404})),
    );
    // Case 32: an unbound namespace may use every usable pool.
    expect_items(
        &mut checks,
        "case 32 usable pools of other",
        &server,
        &token,
        &format!("{BASE}/namespaces/other/ippools"),
        &["pool-b", "pool-v6"],
    )
    .await;
    // Case 34: missing namespace.
    let (code, body) = server
        .get_json(&format!("{BASE}/namespaces/nope/ippools"), &token)
        .await;
    checks.eq(
        "case 34 missing namespace",
        &error_of(code, &body),
        &error(404, "NotFound", "namespaces \"nope\" not found"),
    );

    // Cases 31 and 33.
    cluster.create_all(
        vec![
            namespace(
                "bound",
                json!({"ippool.network.kubesphere.io/pool-b": "", "ippool.network.kubesphere.io/pool-c": ""}),
                json!({}),
            ),
            namespace("hs", json!({}), json!({IPV4POOLS: "[\"10.20.0.0/16\"]"})),
        ],
    )
    .await;
    expect_items(
        &mut checks,
        "case 31 usable pools of bound",
        &server,
        &token,
        &format!("{BASE}/namespaces/bound/ippools"),
        &["pool-b"],
    )
    .await;
    expect_items(
        &mut checks,
        "case 33 usable pools of hs (CIDR entry)",
        &server,
        &token,
        &format!("{BASE}/namespaces/hs/ippools"),
        &["pool-b"],
    )
    .await;

    // Case 28: pool-g is being deleted (a finalizer holds it), pool-f allows workloads.
    let mut pool_g = pool("pool-g", json!({"cidr": "10.70.0.0/16"}));
    pool_g["metadata"]["finalizers"] = json!(["example.com/hold"]);
    cluster.create(pool_g).await;
    delete(&admin, "crd.projectcalico.org/v1", "IPPool", "", "pool-g").await;
    let pool_g = get(&admin, "crd.projectcalico.org/v1", "IPPool", "", "pool-g").await;
    assert!(
        pool_g["metadata"]["deletionTimestamp"].is_string(),
        "{pool_g}"
    );
    cluster
        .create(pool(
            "pool-f",
            json!({"cidr": "10.60.0.0/16", "allowedUses": ["Workload"]}),
        ))
        .await;
    expect_items(
        &mut checks,
        "case 28 targets of pool-a",
        &server,
        &token,
        &format!("{BASE}/ippools/pool-a/migrate"),
        &["pool-b", "pool-f"],
    )
    .await;

    // Case 57: query-string fields, empty body.
    let (code, body) = server
        .post(
            &format!("{MIGRATIONS}?oldippool=pool-a&newippool=pool-b&dryRun=true"),
            &token,
            None,
            "",
        )
        .await;
    checks.eq(
        "case 57 query-string dry run",
        &(code, &body["dryRun"], &body["namespaces"]),
        &(200, &json!(true), &json!(["demo", "legacy"])),
    );
    checks.eq("case 57 same plan as case 56", &body, &case53(true));
    // Case 58: JSON body.
    let (code, body) = server
        .post(
            MIGRATIONS,
            &token,
            Some("application/json"),
            r#"{"oldippool":"pool-a","newippool":"pool-b","dryRun":true}"#,
        )
        .await;
    checks.eq("case 58 JSON dry run", &(code, body), &(200, case53(true)));

    // Validation errors (59–63, 67, 68, and api §1.4 check 8).
    let form_errors = [
        (
            "case 59 missing field",
            "oldippool=pool-a",
            error(400, "BadRequest", "oldippool and newippool are required"),
        ),
        (
            "case 60 same pool",
            "oldippool=pool-b&newippool=pool-b",
            error(
                400,
                "BadRequest",
                "oldippool and newippool must be different",
            ),
        ),
        (
            "case 61 unknown old pool",
            "oldippool=nope&newippool=pool-b",
            error(
                404,
                "NotFound",
                "ippools.crd.projectcalico.org \"nope\" not found",
            ),
        ),
        (
            "case 61 unknown new pool",
            "oldippool=pool-a&newippool=nope",
            error(
                404,
                "NotFound",
                "ippools.crd.projectcalico.org \"nope\" not found",
            ),
        ),
        (
            "case 62 family mismatch",
            "oldippool=pool-a&newippool=pool-v6",
            error(
                400,
                "BadRequest",
                "ippools \"pool-a\" and \"pool-v6\" are of different IP families",
            ),
        ),
        (
            "case 63 disabled target",
            "oldippool=pool-a&newippool=pool-c",
            error(400, "BadRequest", "ippool \"pool-c\" is disabled"),
        ),
        (
            "case 63 target without Workload use",
            "oldippool=pool-a&newippool=pool-t",
            error(
                400,
                "BadRequest",
                "ippool \"pool-t\" does not allow Workload use",
            ),
        ),
        (
            "api §1.4 check 8: target being deleted",
            "oldippool=pool-a&newippool=pool-g",
            error(400, "BadRequest", "ippool \"pool-g\" is being deleted"),
        ),
    ];
    for (label, form, expected) in form_errors {
        let (code, body) = server.post_form(MIGRATIONS, &token, form).await;
        checks.eq(label, &error_of(code, &body), &expected);
        checks.eq(
            &format!("{label}: Status kind"),
            &body["kind"],
            &json!("Status"),
        );
    }
    let (code, body) = server
        .post(MIGRATIONS, &token, Some("text/plain"), "x")
        .await;
    checks.eq(
        "case 67 text/plain body",
        &(code, &body["reason"]),
        &(415, &json!("UnsupportedMediaType")),
    );
    let (code, body) = server
        .post(
            MIGRATIONS,
            &token,
            Some("application/json"),
            r#"{"oldippool":"#,
        )
        .await;
    let message = body["message"].as_str().unwrap_or_default();
    checks.that(
        "case 67 malformed JSON",
        code == 400
            && message.starts_with("invalid request body: ")
            && body["reason"] == "BadRequest",
        || format!("{code} {body}"),
    );
    let long_name = "a".repeat(70);
    cluster
        .create(pool(&long_name, json!({"cidr": "10.90.0.0/16"})))
        .await;
    let expected68 = error(
        400,
        "BadRequest",
        &format!("ippool name \"{long_name}\" cannot be used as a namespace binding label"),
    );
    let outcome = settle(SYNC, || async {
        let (code, body) = server
            .post_form(
                MIGRATIONS,
                &token,
                &format!("oldippool=pool-a&newippool={long_name}"),
            )
            .await;
        same(&error_of(code, &body), &expected68)
    })
    .await;
    checks.check("case 68 target name unusable as a label", outcome);

    checks.eq(
        "cases 56-58 dry runs and rejected requests write nothing (resourceVersions)",
        &versions(&admin).await,
        &initial,
    );

    // Case 64: source still enabled (dry run), then disabled again.
    merge_patch(
        &admin,
        "crd.projectcalico.org/v1",
        "IPPool",
        "",
        "pool-a",
        json!({"spec": {"disabled": false}}),
    )
    .await;
    let warning64 = "ippool \"pool-a\" is still enabled: pods restarted outside namespaces bound to \"pool-b\" \
                     may get addresses from it again; disable it to complete the migration";
    let outcome = settle(SYNC, || async {
        let (code, body) = server.post_form(MIGRATIONS, &token, dry_form).await;
        same(&(code, &body["warnings"]), &(200, &json!([warning64])))
    })
    .await;
    checks.check("case 64 source still enabled", outcome);
    merge_patch(
        &admin,
        "crd.projectcalico.org/v1",
        "IPPool",
        "",
        "pool-a",
        json!({"spec": {"disabled": true}}),
    )
    .await;
    let outcome = settle(SYNC, || async {
        let (code, body) = server.post_form(MIGRATIONS, &token, dry_form).await;
        same(&(code, body), &(200, case53(true)))
    })
    .await;
    checks.check(
        "case 64 warning gone once pool-a is disabled again",
        outcome,
    );

    // Case 65: the target is too small (2 addresses, 3 movable holders).
    cluster
        .create(pool("pool-s", json!({"cidr": "10.50.0.0/31"})))
        .await;
    let outcome = settle(SYNC, || async {
        let (code, body) = server
            .post_form(
                MIGRATIONS,
                &token,
                "oldippool=pool-a&newippool=pool-s&dryRun=true",
            )
            .await;
        same(
            &(code, &body["dryRun"], &body["warnings"]),
            &(
                200,
                &json!(true),
                &json!(["ippool \"pool-s\" has 2 free addresses but 3 pods are being moved"]),
            ),
        )
    })
    .await;
    checks.check("case 65 not enough room", outcome);

    // Case 66: bob may do everything but patch deployments in demo → 403 before any write.
    let before = versions(&admin).await;
    cluster.create_all(
        vec![
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                   "metadata": {"name": "bob-migrator"},
                   "rules": [{"apiGroups": ["crd.projectcalico.org"], "resources": ["ippools"], "verbs": ["get"]},
                             {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["patch"]},
                             {"apiGroups": ["batch"], "resources": ["cronjobs"], "verbs": ["patch"]},
                             {"apiGroups": ["apps"], "resources": ["statefulsets"], "verbs": ["patch"]}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                   "metadata": {"name": "bob-migrator"},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "bob-migrator"},
                   "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bob"}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                   "metadata": {"name": "bob-demo", "namespace": "demo"},
                   "rules": [{"apiGroups": ["apps"], "resources": ["daemonsets", "replicasets"], "verbs": ["patch"]}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                   "metadata": {"name": "bob-demo", "namespace": "demo"},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "bob-demo"},
                   "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bob"}]}),
        ],
    )
    .await;
    let bob = plane.token(User::Bob);
    let forbidden = error(
        403,
        "Forbidden",
        "deployments.apps \"web\" is forbidden: User \"bob\" cannot patch resource \"deployments\" \
         in API group \"apps\" in the namespace \"demo\"",
    );
    // Until kube-apiserver's RBAC caches have the grants, bob is denied earlier checks.
    let outcome = settle(SYNC, || async {
        let (code, body) = server
            .post_form(MIGRATIONS, &bob, "oldippool=pool-a&newippool=pool-b")
            .await;
        same(&error_of(code, &body), &forbidden)
    })
    .await;
    checks.check("case 66 forbidden write aborts before writing", outcome);
    let after66 = versions(&admin).await;
    checks.eq(
        "case 66 nothing written (resourceVersions)",
        &after66,
        &before,
    );

    // Case 53: the migration.
    let (code, body) = server
        .post_form(MIGRATIONS, &token, "oldippool=pool-a&newippool=pool-b")
        .await;
    checks.eq(
        "case 53 successful migration",
        &(code, body),
        &(200, case53(false)),
    );

    // Case 54: effects, read back from kube-apiserver.
    let after = versions(&admin).await;
    for key in [
        "pool-a",
        "pool-b",
        "namespace other",
        "daemonset other/agent",
    ] {
        checks.eq(
            &format!("case 54 {key} unchanged"),
            &after[key],
            &before[key],
        );
    }
    let demo = get(&admin, "v1", "Namespace", "", "demo").await;
    checks.eq(
        "case 54 demo labels",
        &binding_labels(&demo),
        &BTreeMap::from([("ippool.network.kubesphere.io/pool-b".to_owned(), json!(""))]),
    );
    checks.eq(
        "case 54 demo annotations",
        &(
            annotation(&demo, "/metadata/annotations", IPV4POOLS),
            annotation(&demo, "/metadata/annotations", MARKER),
        ),
        &(&json!("[\"pool-b\"]"), &json!("true")),
    );
    let legacy = get(&admin, "v1", "Namespace", "", "legacy").await;
    checks.eq(
        "case 54 legacy has no binding labels",
        &binding_labels(&legacy),
        &BTreeMap::new(),
    );
    checks.eq(
        "case 54 legacy annotations",
        &(
            annotation(&legacy, "/metadata/annotations", IPV4POOLS),
            annotation(&legacy, "/metadata/annotations", MARKER),
        ),
        &(&json!("[\"pool-b\",\"pool-x\"]"), &Value::Null),
    );
    let template = "/spec/template/metadata/annotations";
    let web = get(&admin, "apps/v1", "Deployment", "demo", "web").await;
    checks.eq(
        "case 54 web migration annotation, no pool annotation",
        &(
            annotation(&web, template, MIGRATION),
            annotation(&web, template, IPV4POOLS),
        ),
        &(&json!("pool-a:pool-b"), &Value::Null),
    );
    let restarted_at = annotation(&web, template, RESTARTED_AT)
        .as_str()
        .unwrap_or_default()
        .to_owned();
    checks.that(
        "case 54 web restartedAt is RFC 3339 UTC",
        restarted_at.ends_with('Z') && restarted_at.parse::<jiff::Timestamp>().is_ok(),
        || format!("{restarted_at:?}"),
    );
    let db = get(&admin, "apps/v1", "StatefulSet", "legacy", "db").await;
    checks.eq(
        "case 54 db annotations",
        &(
            annotation(&db, template, IPV4POOLS),
            annotation(&db, template, MIGRATION),
            annotation(&db, template, RESTARTED_AT),
        ),
        &(
            &json!("[\"pool-b\"]"),
            &json!("pool-a:pool-b"),
            &Value::Null,
        ),
    );
    let nightly = get(&admin, "batch/v1beta1", "CronJob", "other", "nightly").await;
    let job_template = "/spec/jobTemplate/spec/template/metadata/annotations";
    checks.eq(
        "case 54 nightly annotations",
        &(
            annotation(&nightly, job_template, IPV4POOLS),
            annotation(&nightly, job_template, MIGRATION),
            annotation(&nightly, job_template, RESTARTED_AT),
        ),
        &(&json!("[\"pool-b\"]"), &Value::Null, &Value::Null),
    );

    // Case 55: once the caches show case 53's writes, an identical call writes nothing.
    let outcome = settle(SYNC, || async {
        let (code, body) = server.post_form(MIGRATIONS, &token, dry_form).await;
        same(
            &(code, &body["namespaces"], &body["workloads"]),
            &(200, &json!([]), &json!([])),
        )
    })
    .await;
    checks.check("case 55 precondition: the caches reflect case 53", outcome);
    let before55 = versions(&admin).await;
    let (code, body) = server
        .post_form(MIGRATIONS, &token, "oldippool=pool-a&newippool=pool-b")
        .await;
    let mut expected55 = case53(false);
    expected55["namespaces"] = json!([]);
    expected55["workloads"] = json!([]);
    checks.eq("case 55 idempotent", &(code, body), &(200, expected55));
    checks.eq(
        "case 55 nothing written (resourceVersions)",
        &versions(&admin).await,
        &before55,
    );

    checks.finish();
    server.stop().await;
}
