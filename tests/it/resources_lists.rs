//! `/kapis/resources.kubesphere.io/v1alpha3` lists against a real kube-apiserver: paging and
//! parameters (cases.md G 73–87, 105), selectors (H 88–92), filters (I 93–101), sorting (J 102–104),
//! the virtual pool label of pods (C 38–43), visibility (O 173) and unknown routes (O 179).
//!
//! Every test seeds its own namespaces (unique names; cases that list namespaces restrict the
//! result with a unique `suite` label or with `names=`), waits until the server's caches reflect the
//! seed, then checks exact results. Creation times cannot be chosen, so objects are created in the
//! order of their spec timestamps with names whose order equals the creation order (objects created
//! in the same second tie and are ordered by name, which gives the same order). Pools are
//! cluster-scoped: they get unique names and CIDRs in 10.201.0.0/16 … 10.203.0.0/16 and fd00:201::/64,
//! which no other test of this binary uses.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::support::api::{POOL_LABEL, SYNC, V3};
use crate::support::fixtures::{
    self, Checks, api, expect_error, get, item_names, numbered, pool, query, same, settle,
};
use crate::support::{ControlPlane, Env, User, test_config, unique_name};

/// `items[]` as `namespace/name`.
fn qualified_names(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {body}"))
        .iter()
        .map(|item| {
            format!(
                "{}/{}",
                item["metadata"]["namespace"].as_str().unwrap_or_default(),
                item["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect()
}

fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

fn namespace(name: &str, labels: Value) -> Value {
    fixtures::namespace(name, labels, json!({}))
}

fn ippool(name: &str, cidr: &str) -> Value {
    pool(name, json!({"cidr": cidr, "ipipMode": "Never"}))
}

/// A pod with one container `c` (no status).
fn bare_pod(namespace: &str, name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": namespace},
           "spec": {"containers": [{"name": "c", "image": "pause"}]}})
}

/// A container status named `c` in `state`.
fn container_status(name: &str, ready: bool, state: Value) -> Value {
    json!({"name": name, "image": "pause", "imageID": "", "ready": ready, "restartCount": 0,
           "state": state})
}

fn running_ready() -> Value {
    container_status(
        "c",
        true,
        json!({"running": {"startedAt": "2026-03-02T10:00:00Z"}}),
    )
}

/// A Running pod with a ready container and the given IPs and start time.
fn ip_pod(namespace: &str, name: &str, ips: &[&str], start_time: &str) -> Value {
    let mut pod = bare_pod(namespace, name);
    let mut status = json!({"phase": "Running", "startTime": start_time,
                            "containerStatuses": [running_ready()]});
    if let Some(first) = ips.first() {
        status["podIP"] = json!(first);
        status["podIPs"] = json!(ips.iter().map(|ip| json!({"ip": ip})).collect::<Vec<_>>());
    }
    pod["status"] = status;
    pod
}

/// The F-P namespace name `<prefix>-NN`.
fn pg(prefix: &str, n: usize) -> String {
    format!("{prefix}-{n:02}")
}

/// F-P: 23 namespaces `<prefix>-01` … `<prefix>-23` labelled `suite=<suite>`, created in order.
/// Returns (prefix, base path `B`), and waits until the server lists all 23.
async fn seed_fp(env: &Env) -> (String, String) {
    let prefix = unique_name("pg");
    let suite = unique_name("paging");
    for n in 1..=23 {
        env.create(namespace(&pg(&prefix, n), json!({"suite": suite})))
            .await;
    }
    let base = query(
        &format!("{V3}/namespaces"),
        &[("labelSelector", &format!("suite={suite}"))],
    );
    env.wait_total(&base, 23).await;
    (prefix, base)
}

// ---------------------------------------------------------------------------------------------
// G. Query parameters and paging
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn paging_and_query_parameters_on_namespaces() {
    let env = Env::start().await;
    let (p, b) = seed_fp(&env).await;
    let mut checks = Checks::default();
    let all_desc = numbered(&p, (1..=23).rev());

    let list = |params: &'static [(&'static str, &'static str)]| {
        let path = query(&b, params);
        let env = &env;
        async move { env.get(&path).await }
    };

    // 73. Last page.
    let (code, body) = list(&[("limit", "10"), ("page", "3")]).await;
    checks.eq(
        "73 last page",
        &(code, item_names(&body), body["totalItems"].clone()),
        &(200, numbered(&p, [3, 2, 1]), json!(23)),
    );
    // 74. First page.
    let (code, body) = list(&[("limit", "10"), ("page", "1")]).await;
    checks.eq(
        "74 first page",
        &(code, item_names(&body), body["totalItems"].clone()),
        &(200, numbered(&p, (14..=23).rev()), json!(23)),
    );
    // 75. Past the end.
    let (code, body) = list(&[("limit", "10"), ("page", "4")]).await;
    checks.eq(
        "75 past the end",
        &(code, body),
        &(200, json!({"items": [], "totalItems": 23})),
    );
    // 76. Zero limit.
    let (code, body) = list(&[("limit", "0")]).await;
    checks.eq(
        "76 zero limit",
        &(code, body),
        &(200, json!({"items": [], "totalItems": 23})),
    );
    // 77. Page zero / negative page.
    let response = list(&[("page", "0"), ("limit", "10")]).await;
    expect_error(
        &mut checks,
        "77 page=0",
        &response,
        400,
        "BadRequest",
        "invalid page \"0\": must be >= 1",
    );
    let response = list(&[("page", "-1")]).await;
    expect_error(
        &mut checks,
        "77 page=-1",
        &response,
        400,
        "BadRequest",
        "invalid page \"-1\": must be >= 1",
    );
    // 78. Negative limit.
    let response = list(&[("limit", "-2")]).await;
    expect_error(
        &mut checks,
        "78 limit=-2",
        &response,
        400,
        "BadRequest",
        "invalid limit \"-2\": must be >= -1",
    );
    // 79. limit −1 ignores page.
    let (code, body) = list(&[("limit", "-1"), ("page", "5")]).await;
    checks.eq(
        "79 limit=-1 ignores page",
        &(code, item_names(&body), body["totalItems"].clone()),
        &(200, all_desc.clone(), json!(23)),
    );
    // 80. Unparsable values are defaults.
    let (code, body) = list(&[("limit", "add"), ("page", "abc"), ("ascending", "ssss")]).await;
    checks.eq(
        "80 unparsable values",
        &(code, item_names(&body), body["totalItems"].clone()),
        &(200, all_desc.clone(), json!(23)),
    );
    // 81. Unknown parameters are ignored.
    let (code, body) = list(&[("xxxx", "xxxx"), ("dsfsw", "xxxx")]).await;
    checks.eq(
        "81 unknown parameters",
        &(code, item_names(&body), body["totalItems"].clone()),
        &(200, all_desc.clone(), json!(23)),
    );
    // 82. First of repeated keys.
    let (code, body) = list(&[("limit", "5"), ("limit", "10")]).await;
    checks.eq(
        "82 first of repeated keys",
        &(code, item_names(&body), body["totalItems"].clone()),
        &(200, numbered(&p, (19..=23).rev()), json!(23)),
    );
    // 83. No limit = everything.
    let (code, body) = list(&[]).await;
    checks.eq(
        "83 no limit",
        &(code, item_names(&body), body["totalItems"].clone()),
        &(200, all_desc.clone(), json!(23)),
    );
    // 84. Direction.
    let (code, body) = list(&[("ascending", "true"), ("limit", "3")]).await;
    checks.eq(
        "84 ascending=true",
        &(code, item_names(&body)),
        &(200, numbered(&p, [1, 2, 3])),
    );
    let (code, body) = list(&[("ascending", "maybe"), ("limit", "3")]).await;
    checks.eq(
        "84 ascending=maybe",
        &(code, item_names(&body)),
        &(200, numbered(&p, [23, 22, 21])),
    );
    // 85. Sort by name.
    let (code, body) = list(&[
        ("sortBy", "name"),
        ("ascending", "true"),
        ("limit", "2"),
        ("page", "2"),
    ])
    .await;
    checks.eq(
        "85 sortBy=name",
        &(code, item_names(&body), body["totalItems"].clone()),
        &(200, numbered(&p, [3, 4]), json!(23)),
    );
    // 86. fieldSelector is ignored on v1alpha3.
    let field_selector = format!("metadata.name={}", pg(&p, 1));
    let (code, body) = env
        .get(&query(&b, &[("fieldSelector", &field_selector)]))
        .await;
    checks.eq(
        "86 fieldSelector ignored",
        &(code, item_names(&body).len(), body["totalItems"].clone()),
        &(200, 23, json!(23)),
    );
    // 105. Unknown sortBy.
    let (code, body) = list(&[("sortBy", "updateTime"), ("limit", "2")]).await;
    checks.eq(
        "105 sortBy=updateTime",
        &(code, item_names(&body)),
        &(200, numbered(&p, [23, 22])),
    );
    // Items carry apiVersion and kind (A§9.11).
    let (_, body) = list(&[("limit", "1")]).await;
    checks.eq(
        "items carry apiVersion and kind",
        &(
            body["items"][0]["apiVersion"].clone(),
            body["items"][0]["kind"].clone(),
        ),
        &(json!("v1"), json!("Namespace")),
    );
    checks.finish();
    env.stop().await;
}

#[tokio::test]
async fn combined_parameters_on_pods() {
    // 87.
    let env = Env::start().await;
    let ns = env.namespace("books").await;
    let labelled = |name: &str, status: Value| {
        let mut pod = bare_pod(&ns, name);
        pod["metadata"]["labels"] = json!({"app.kubernetes.io/name": "book"});
        pod["status"] = status;
        pod
    };
    env.create_all(vec![
        labelled(
            "foo-1",
            json!({"phase": "Running", "containerStatuses": [running_ready()]}),
        ),
        labelled(
            "foo-2",
            json!({"phase": "Pending", "containerStatuses": [container_status("c", false,
                json!({"waiting": {"reason": "ContainerCreating"}}))]}),
        ),
        labelled(
            "bar-1",
            json!({"phase": "Running", "containerStatuses": [running_ready()]}),
        ),
    ])
    .await;
    let pods = format!("{V3}/namespaces/{ns}/pods");
    env.wait_total(&pods, 3).await;
    // The statuses arrive after the creates: wait until foo-2 is seen as Pending.
    env.wait_total(&query(&pods, &[("phase", "Pending")]), 1)
        .await;
    let path = query(
        &pods,
        &[
            ("label", "app.kubernetes.io/name=book"),
            ("name", "foo"),
            ("status", "Running"),
            ("page", "1"),
            ("limit", "10"),
            ("ascending", "true"),
        ],
    );
    let (names, total) = env.names(&path).await.unwrap();
    same(&(names, total), &(strings(&["foo-1"]), 1)).unwrap();
    env.stop().await;
}

// ---------------------------------------------------------------------------------------------
// H. Selectors
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn label_filter_grammar() {
    // 90.
    let env = Env::start().await;
    let ks_a = unique_name("ks-a");
    let ks_b = unique_name("ks-b");
    env.create(namespace(
        &ks_a,
        json!({"kubesphere.io/workspace": "kubesphere-system"}),
    ))
    .await;
    env.create(namespace(&ks_b, json!({"kubesphere.io/creator": "system"})))
        .await;
    let names_param = format!("{ks_a},{ks_b}");
    let base = query(
        &format!("{V3}/namespaces"),
        &[
            ("names", &names_param),
            ("sortBy", "name"),
            ("ascending", "true"),
        ],
    );
    env.wait_total(&base, 2).await;
    let table: [(&str, Vec<&String>); 6] = [
        ("kubesphere.io/workspace", vec![&ks_a]),
        ("kubesphere.io/workspace=", vec![]),
        ("kubesphere.io/workspace!=", vec![&ks_a, &ks_b]),
        ("kubesphere.io/workspace!=kubesphere-system", vec![&ks_b]),
        ("kubesphere.io/workspace=kubesphere-system", vec![&ks_a]),
        ("kubesphere.io/workspace=system", vec![]),
    ];
    let mut checks = Checks::default();
    for (label, expected) in table {
        let result = env.names(&query(&base, &[("label", label)])).await;
        let expected: Vec<String> = expected.into_iter().cloned().collect();
        let total = expected.len() as u64;
        checks.eq(
            &format!("90 label={label}"),
            &result,
            &Ok((expected, total)),
        );
    }
    checks.finish();
    env.stop().await;
}

#[tokio::test]
async fn seed_query_for_bound_projects() {
    // 92. The pool name is unique so that only this test's namespace carries the label.
    let env = Env::start().await;
    let pool = unique_name("ippool-2");
    let key = format!("ippool.network.kubesphere.io/{pool}");
    let demo = unique_name("demo");
    let x = unique_name("x");
    env.create(namespace(&demo, json!({ key.clone(): "" })))
        .await;
    env.create(namespace(&x, json!({}))).await;
    let path = query(
        &format!("{V3}/namespaces"),
        &[
            ("sortBy", "createTime"),
            ("limit", "10"),
            ("labelSelector", &key),
        ],
    );
    let body = env.wait_total(&path, 1).await;
    assert_eq!(item_names(&body), vec![demo]);
    env.stop().await;
}

// ---------------------------------------------------------------------------------------------
// I. Filters
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn pods_by_name_pvc_and_phase() {
    // 93.
    let env = Env::start().await;
    let ns = env.namespace("default").await;
    for n in 1..=5 {
        let mut pod = bare_pod(&ns, &format!("foo{n}"));
        if n == 4 {
            pod["spec"]["volumes"] =
                json!([{"name": "data", "persistentVolumeClaim": {"claimName": "pvc-1"}}]);
        }
        let phase = if n == 5 { "Running" } else { "Pending" };
        pod["status"] = json!({"phase": phase});
        env.create(pod).await;
    }
    let pods = format!("{V3}/namespaces/{ns}/pods");
    let base = query(&pods, &[("sortBy", "name"), ("limit", "10")]);
    let body = env.wait_total(&base, 5).await;
    env.wait_total(&query(&pods, &[("phase", "Pending")]), 4)
        .await;
    let mut checks = Checks::default();
    checks.eq(
        "93 sortBy=name",
        &item_names(&body),
        &strings(&["foo5", "foo4", "foo3", "foo2", "foo1"]),
    );
    checks.eq(
        "93 pvcName",
        &env.names(&query(&base, &[("pvcName", "pvc-1")])).await,
        &Ok((strings(&["foo4"]), 1)),
    );
    checks.eq(
        "93 phase",
        &env.names(&query(&base, &[("phase", "Running")])).await,
        &Ok((strings(&["foo5"]), 1)),
    );
    checks.finish();
    env.stop().await;
}

#[tokio::test]
async fn networkpolicies_sorted_by_name() {
    // 94.
    let env = Env::start().await;
    let ns = env.namespace("default").await;
    for name in ["foo1", "foo2", "foo3"] {
        env.create(
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}),
        )
        .await;
    }
    let path = query(
        &format!("{V3}/namespaces/{ns}/networkpolicies"),
        &[("sortBy", "name")],
    );
    let body = env.wait_total(&path, 3).await;
    assert_eq!(item_names(&body), strings(&["foo3", "foo2", "foo1"]));
    assert_eq!(body["items"][0]["kind"], "NetworkPolicy");
    assert_eq!(body["items"][0]["apiVersion"], "networking.k8s.io/v1");
    env.stop().await;
}

#[tokio::test]
async fn namespaces_by_names_and_alias() {
    let env = Env::start().await;
    // 95. `default` always exists; `kubesphere-system` is created here unless it exists.
    let created = Api::<DynamicObject>::all_with(
        env.admin.clone(),
        &fixtures::api_resource("v1", "Namespace"),
    )
    .create(
        &PostParams::default(),
        &serde_json::from_value(namespace("kubesphere-system", json!({}))).unwrap(),
    )
    .await;
    match created {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => panic!("create kubesphere-system: {e}"),
    }
    let path = query(
        &format!("{V3}/namespaces"),
        &[
            ("names", "default,kubesphere-system"),
            ("sortBy", "name"),
            ("limit", "10"),
        ],
    );
    let body = env.wait_total(&path, 2).await;
    let mut checks = Checks::default();
    checks.eq(
        "95 names",
        &item_names(&body),
        &strings(&["kubesphere-system", "default"]),
    );

    // 96.
    let proj = unique_name("proj-x");
    env.create(json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": proj, "annotations": {"kubesphere.io/alias-name": "Payments Team"}}}))
        .await;
    let base = query(&format!("{V3}/namespaces"), &[("names", &proj)]);
    env.wait_total(&base, 1).await;
    for (name, expected) in [
        ("payments", vec![proj.clone()]),
        ("PROJ", vec![]),
        ("proj", vec![proj.clone()]),
    ] {
        let total = expected.len() as u64;
        checks.eq(
            &format!("96 name={name}"),
            &env.names(&query(&base, &[("name", name)])).await,
            &Ok((expected, total)),
        );
    }
    checks.finish();
    env.stop().await;
}

#[tokio::test]
async fn owner_reference_through_the_replicaset() {
    // 97.
    let env = Env::start().await;
    let ns = env.namespace("demo").await;
    let template = json!({"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "c", "image": "pause"}]}});
    let deployment = env
        .create(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": ns},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": template}}))
        .await;
    let replicaset = env
        .create(json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web-5d8f", "namespace": ns, "labels": {"app": "web"},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                              "controller": true, "blockOwnerDeletion": true}]},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": template}}))
        .await;
    let mut pod = bare_pod(&ns, "web-5d8f-aaaaa");
    pod["metadata"]["labels"] = json!({"app": "web"});
    pod["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "name": "web-5d8f", "controller": true, "blockOwnerDeletion": true}]);
    pod["status"] = json!({"phase": "Running", "containerStatuses": [running_ready()]});
    env.create(pod).await;
    // An unrelated pod, so that the filters have something to drop.
    env.create(bare_pod(&ns, "loner")).await;

    let pods = format!("{V3}/namespaces/{ns}/pods");
    env.wait_total(&pods, 2).await;
    let d_uid = deployment["metadata"]["uid"].as_str().unwrap();
    let r_uid = replicaset["metadata"]["uid"].as_str().unwrap();
    let expected = (strings(&["web-5d8f-aaaaa"]), 1);
    let mut checks = Checks::default();
    for (label, params) in [
        (
            "97 ownerReference=<deployment uid>",
            [("ownerReference", d_uid)],
        ),
        (
            "97 ownerReference=<replicaset uid>",
            [("ownerReference", r_uid)],
        ),
        ("97 ownerKind=ReplicaSet", [("ownerKind", "ReplicaSet")]),
    ] {
        // The ReplicaSet cache may lag the pod cache: poll until the filter settles.
        let path = query(&pods, &params);
        let result = settle(SYNC, || async {
            let names = env.names(&path).await?;
            same(&names, &expected)
        })
        .await;
        checks.check(label, result);
    }
    checks.finish();
    env.stop().await;
}

#[tokio::test]
async fn service_name_filter() {
    // 99.
    let env = Env::start().await;
    let ns = env.namespace("demo").await;
    env.create(json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "nginx", "namespace": ns},
        "spec": {"selector": {"app": "nginx"}, "ports": [{"port": 80}]}}))
        .await;
    env.create(json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "headless", "namespace": ns},
        "spec": {"ports": [{"port": 80}]}}))
        .await;
    for (name, app) in [("nginx-a", "nginx"), ("other", "x")] {
        let mut pod = bare_pod(&ns, name);
        pod["metadata"]["labels"] = json!({ "app": app });
        env.create(pod).await;
    }
    env.wait_total(&format!("{V3}/namespaces/{ns}/pods"), 2)
        .await;
    env.wait_total(&format!("{V3}/namespaces/{ns}/services"), 2)
        .await;
    let pods = format!("{V3}/namespaces/{ns}/pods");
    let body = env
        .wait_total(&query(&pods, &[("serviceName", "nginx")]), 1)
        .await;
    assert_eq!(item_names(&body), strings(&["nginx-a"]));
    let (names, total) = env
        .names(&query(&pods, &[("serviceName", "headless")]))
        .await
        .unwrap();
    assert_eq!(
        (names, total),
        (vec![], 0),
        "a Service with an empty selector"
    );
    env.stop().await;
}

#[tokio::test]
async fn derived_pod_status() {
    // 100.
    let env = Env::start().await;
    let ns = env.namespace("st").await;
    let with_status = |name: &str, status: Value| {
        let mut pod = bare_pod(&ns, name);
        pod["status"] = status;
        pod
    };
    let mut init = with_status(
        "s-init",
        json!({"phase": "Pending",
               "initContainerStatuses": [
                   container_status("i1", false, json!({"waiting": {"reason": "PodInitializing"}})),
                   container_status("i2", false, json!({"waiting": {"reason": "PodInitializing"}}))],
               "containerStatuses": [container_status("c", false, json!({"waiting": {"reason": "PodInitializing"}}))]}),
    );
    init["spec"]["initContainers"] =
        json!([{"name": "i1", "image": "pause"}, {"name": "i2", "image": "pause"}]);
    let mut term = with_status(
        "s-term",
        json!({"phase": "Running", "containerStatuses": [running_ready()],
               "conditions": [{"type": "Ready", "status": "True"}]}),
    );
    term["metadata"]["finalizers"] = json!(["example.com/hold"]);
    env.create_all(vec![
        with_status(
            "s-run",
            json!({"phase": "Running", "containerStatuses": [running_ready()],
                   "conditions": [{"type": "Ready", "status": "True"}]}),
        ),
        with_status(
            "s-create",
            json!({"phase": "Pending", "containerStatuses": [container_status("c", false,
                json!({"waiting": {"reason": "ContainerCreating"}}))]}),
        ),
        with_status(
            "s-crash",
            json!({"phase": "Running", "containerStatuses": [container_status("c", false,
                json!({"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}}))]}),
        ),
        with_status(
            "s-err",
            json!({"phase": "Running", "containerStatuses": [container_status("c", false,
                json!({"terminated": {"exitCode": 1, "reason": "Error"}}))]}),
        ),
        with_status(
            "s-done",
            json!({"phase": "Succeeded",
                   "containerStatuses": [container_status("c", false,
                       json!({"terminated": {"exitCode": 0, "reason": "Completed"}}))],
                   "conditions": [{"type": "Ready", "status": "False", "reason": "PodCompleted"}]}),
        ),
        with_status(
            "s-oom",
            json!({"phase": "Failed", "reason": "OutOfcpu", "message": "node out of cpu"}),
        ),
        init,
        term,
    ])
    .await;
    // s-term gets its deletionTimestamp; the finalizer keeps it.
    Api::<Pod>::namespaced(env.admin.clone(), &ns)
        .delete("s-term", &DeleteParams::default())
        .await
        .unwrap();
    let pods = format!("{V3}/namespaces/{ns}/pods");
    env.wait_total(&pods, 8).await;
    let base = query(&pods, &[("sortBy", "name"), ("ascending", "true")]);
    let mut checks = Checks::default();
    for (status, expected) in [
        ("Running", vec!["s-run"]),
        ("Error", vec!["s-err", "s-oom"]),
        ("Completed", vec!["s-done"]),
        ("Waiting", vec!["s-crash", "s-create", "s-init", "s-term"]),
        ("running", vec![]),
    ] {
        let expected = (strings(&expected), expected.len() as u64);
        let path = query(&base, &[("status", status)]);
        // Statuses and the deletion arrive as later watch events: poll until they settle.
        let result = settle(SYNC, || async {
            let names = env.names(&path).await?;
            same(&names, &expected)
        })
        .await;
        checks.check(&format!("100 status={status}"), result);
    }
    // Let the namespace's objects go away normally later.
    Api::<Pod>::namespaced(env.admin.clone(), &ns)
        .patch(
            "s-term",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
    checks.finish();
    env.stop().await;
}

#[tokio::test]
async fn namespace_phase_filter() {
    // 101.
    let env = Env::start().await;
    let a = env.namespace("a").await;
    let b = env.namespace("b").await;
    // No namespace controller runs: `b` stays Terminating (finalizer `kubernetes`).
    api(&env.admin, "v1", "Namespace", "")
        .delete(&b, &DeleteParams::default())
        .await
        .unwrap();
    let names_param = format!("{a},{b}");
    let base = query(&format!("{V3}/namespaces"), &[("names", &names_param)]);
    let body = env
        .wait_total(&query(&base, &[("status", "Terminating")]), 1)
        .await;
    assert_eq!(item_names(&body), vec![b.clone()]);
    let body = env
        .wait_total(&query(&base, &[("status", "Active")]), 1)
        .await;
    assert_eq!(item_names(&body), vec![a.clone()]);
    env.stop().await;
}

// ---------------------------------------------------------------------------------------------
// J. Sorting
// ---------------------------------------------------------------------------------------------

/// Creates `setup`, then `tied`; whether all of `tied` got one `creationTimestamp` (1 s resolution).
async fn create_tied(env: &Env, setup: Vec<Value>, tied: Vec<Value>) -> bool {
    env.create_all(setup).await;
    let created = env.create_all(tied).await;
    let first = &created[0]["metadata"]["creationTimestamp"];
    created
        .iter()
        .all(|o| &o["metadata"]["creationTimestamp"] == first)
}

fn policy(namespace: &str, name: &str) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
           "metadata": {"name": name, "namespace": namespace},
           "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}})
}

#[tokio::test]
async fn ties_are_broken_by_name_then_namespace() {
    let env = Env::start().await;
    let mut checks = Checks::default();

    // 102. Pods created in an order that is not the name order, within one second (a new
    // namespace is tried when the creates straddle a second boundary).
    let mut attempts = 0;
    let q = loop {
        attempts += 1;
        assert!(
            attempts <= 10,
            "no three creates within one second in 10 attempts"
        );
        let q = unique_name("q");
        let pods = ["t-b", "t-c", "t-a"].map(|name| bare_pod(&q, name));
        if create_tied(&env, vec![namespace(&q, json!({}))], pods.to_vec()).await {
            break q;
        }
    };
    let pods = format!("{V3}/namespaces/{q}/pods");
    let body = env.wait_total(&pods, 3).await;
    checks.eq(
        "102 default order",
        &item_names(&body),
        &strings(&["t-c", "t-b", "t-a"]),
    );
    for _ in 0..3 {
        checks.eq(
            "102 same order on every call",
            &env.names(&pods).await,
            &Ok((strings(&["t-c", "t-b", "t-a"]), 3)),
        );
    }
    checks.eq(
        "102 ascending",
        &env.names(&query(&pods, &[("ascending", "true")])).await,
        &Ok((strings(&["t-a", "t-b", "t-c"]), 3)),
    );

    // 103. The same name in two namespaces, `ns-b`'s created first, within one second.
    let mut attempts = 0;
    let (a, b, same_name) = loop {
        attempts += 1;
        assert!(
            attempts <= 10,
            "no two creates within one second in 10 attempts"
        );
        let same_name = unique_name("same");
        let prefix = unique_name("tie");
        let (a, b) = (format!("{prefix}-ns-a"), format!("{prefix}-ns-b"));
        let setup = vec![namespace(&b, json!({})), namespace(&a, json!({}))];
        let tied = vec![policy(&b, &same_name), policy(&a, &same_name)];
        if create_tied(&env, setup, tied).await {
            break (a, b, same_name);
        }
    };
    let path = query(
        &format!("{V3}/networkpolicies"),
        &[("names", same_name.as_str())],
    );
    let body = env.wait_total(&path, 2).await;
    checks.eq(
        "103 cross-namespace ties",
        &qualified_names(&body),
        &vec![format!("{b}/{same_name}"), format!("{a}/{same_name}")],
    );
    let (_, body) = env.get(&query(&path, &[("ascending", "true")])).await;
    checks.eq(
        "103 cross-namespace ties, ascending",
        &qualified_names(&body),
        &vec![format!("{a}/{same_name}"), format!("{b}/{same_name}")],
    );
    checks.finish();
    env.stop().await;
}

#[tokio::test]
async fn start_time_is_real_for_pods() {
    // 104. st-1, st-2, st-3 are created in this order; st-1 starts after st-3 was created, st-2
    // starts when it was created, st-3 has not started.
    let env = Env::start().await;
    let ns = env.namespace("s").await;
    let created = env
        .create_all(vec![
            bare_pod(&ns, "st-1"),
            bare_pod(&ns, "st-2"),
            bare_pod(&ns, "st-3"),
        ])
        .await;
    let timestamp = |i: usize| -> jiff::Timestamp {
        created[i]["metadata"]["creationTimestamp"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    let st1_start = timestamp(2) + jiff::SignedDuration::from_secs(300);
    let st2_start = timestamp(1);
    let pods = Api::<Pod>::namespaced(env.admin.clone(), &ns);
    for (name, start) in [("st-1", st1_start), ("st-2", st2_start)] {
        let status = json!({"status": {"phase": "Running", "startTime": start.to_string()}});
        pods.patch_status(name, &PatchParams::default(), &Patch::Merge(status))
            .await
            .unwrap();
    }
    let base = format!("{V3}/namespaces/{ns}/pods");
    env.wait_total(&query(&base, &[("phase", "Running")]), 2)
        .await;
    let mut checks = Checks::default();
    checks.eq(
        "104 sortBy=startTime",
        &env.names(&query(&base, &[("sortBy", "startTime")])).await,
        &Ok((strings(&["st-1", "st-3", "st-2"]), 3)),
    );
    checks.eq(
        "104 sortBy=createTime",
        &env.names(&query(&base, &[("sortBy", "createTime")])).await,
        &Ok((strings(&["st-3", "st-2", "st-1"]), 3)),
    );
    checks.finish();
    env.stop().await;
}

// ---------------------------------------------------------------------------------------------
// C. Pod → pool label (virtual)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn virtual_pool_label_of_f_a_pods() {
    // F-A's pool and pods (IPs mapped from 10.233.64.0/18 to 10.201.64.0/18), plus the pods of
    // cases 38 (other/web), 39 (demo/pinned), 40 (kube-system/node-exporter) and 42 (x/h).
    let env = Env::start().await;
    let pool = unique_name("default-ipv4-ippool");
    let legacy = unique_name("legacy-pool");
    let demo = unique_name("demo");
    let kube_system = unique_name("kube-system");
    let win = unique_name("win");
    let other = unique_name("other");
    let x = unique_name("x");
    for ns in [&demo, &kube_system, &win, &other, &x] {
        env.create(namespace(ns, json!({}))).await;
    }
    env.create(json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool",
        "metadata": {"name": pool},
        "spec": {"cidr": "10.201.64.0/18", "blockSize": 26, "ipipMode": "Always", "natOutgoing": true}}))
        .await;
    let mut pinned = ip_pod(&demo, "pinned", &["10.201.64.9"], "2026-03-02T10:03:00Z");
    pinned["metadata"]["labels"] = json!({ POOL_LABEL: legacy });
    let mut exporter = ip_pod(
        &kube_system,
        "node-exporter",
        &["10.201.64.50"],
        "2026-03-02T08:00:00Z",
    );
    exporter["spec"]["hostNetwork"] = json!(true);
    let mut h = bare_pod(&x, "h");
    h["status"] = json!({"phase": "Pending"});
    env.create_all(vec![
        ip_pod(&demo, "nginx-a", &["10.201.64.1"], "2026-03-02T10:00:00Z"),
        ip_pod(&demo, "nginx-b", &["10.201.64.2"], "2026-03-02T10:01:00Z"),
        ip_pod(
            &kube_system,
            "coredns-x",
            &["10.201.64.3"],
            "2026-03-02T09:00:00Z",
        ),
        ip_pod(&win, "iis-0", &["10.201.64.67"], "2026-03-02T10:02:00Z"),
        ip_pod(&other, "web", &["10.1.0.5"], "2026-03-02T10:04:00Z"),
        pinned,
        exporter,
        h,
    ])
    .await;
    let mut checks = Checks::default();

    // 38.
    let selector = format!("{POOL_LABEL}={pool}");
    let path = query(
        &format!("{V3}/pods"),
        &[
            ("limit", "6"),
            ("labelSelector", &selector),
            ("sortBy", "startTime"),
        ],
    );
    let body = env.wait_total(&path, 4).await;
    checks.eq(
        "38 pods of a pool",
        &item_names(&body),
        &strings(&["iis-0", "nginx-b", "nginx-a", "coredns-x"]),
    );
    let labels: Vec<Value> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["metadata"]["labels"][POOL_LABEL].clone())
        .collect();
    checks.eq("38 shown pool label", &labels, &vec![json!(pool); 4]);
    let stored = get(&env.admin, "v1", "Pod", &demo, "nginx-a").await;
    checks.eq(
        "38 stored pod unchanged",
        &stored["metadata"]["labels"][POOL_LABEL],
        &Value::Null,
    );

    // 39. The stored label wins.
    let path = query(
        &format!("{V3}/pods"),
        &[("labelSelector", &format!("{POOL_LABEL}={legacy}"))],
    );
    let body = env.wait_total(&path, 1).await;
    checks.eq(
        "39 stored label wins",
        &(
            qualified_names(&body),
            body["items"][0]["metadata"]["labels"][POOL_LABEL].clone(),
        ),
        &(vec![format!("{demo}/pinned")], json!(legacy)),
    );

    // 40. hostNetwork pods have no pool.
    let (code, body) = env
        .get(&format!("{V3}/namespaces/{kube_system}/pods/node-exporter"))
        .await;
    checks.eq(
        "40 hostNetwork pod has no pool label",
        &(code, body["metadata"]["labels"][POOL_LABEL].clone()),
        &(200, Value::Null),
    );
    let (code, body) = env
        .get(&format!("{V3}/namespaces/{demo}/pods/nginx-a"))
        .await;
    checks.eq(
        "R4 get shows the virtual label",
        &(code, body["metadata"]["labels"][POOL_LABEL].clone()),
        &(200, json!(pool)),
    );

    // 42. Pods without a pool. Other tests' pods may match too: look at this test's pods only.
    // `web` has an IP outside every pool and `node-exporter` is hostNetwork: neither has the label.
    let path = query(
        &format!("{V3}/pods"),
        &[("labelSelector", &format!("!{POOL_LABEL}"))],
    );
    let ours = [&demo, &kube_system, &win, &other, &x].map(|ns| format!("{ns}/"));
    let mut expected = vec![
        format!("{x}/h"),
        format!("{other}/web"),
        format!("{kube_system}/node-exporter"),
    ];
    expected.sort();
    let result = settle(SYNC, || async {
        let (code, body) = env.get(&path).await;
        if code != 200 {
            return Err(format!("{code} {body}"));
        }
        let mut found: Vec<String> = qualified_names(&body)
            .into_iter()
            .filter(|n| ours.iter().any(|prefix| n.starts_with(prefix)))
            .collect();
        found.sort();
        same(&found, &expected)
    })
    .await;
    checks.check("42 pods without a pool", result);

    // 98. podIP is a substring match.
    let (code, body) = env
        .get(&query(&format!("{V3}/pods"), &[("podIP", "10.201.64.6")]))
        .await;
    checks.eq(
        "98 podIP substring",
        &(code, qualified_names(&body), body["totalItems"].clone()),
        &(200, vec![format!("{win}/iis-0")], json!(1)),
    );
    checks.finish();
    env.stop().await;
}

#[tokio::test]
async fn dual_stack_pods_match_both_pools() {
    // 41, with ds4 = 10.202.0.0/16 and ds6 = fd00:201::/64.
    let env = Env::start().await;
    let ds4 = unique_name("ds4");
    let ds6 = unique_name("ds6");
    let ns = unique_name("ds");
    env.create(ippool(&ds4, "10.202.0.0/16")).await;
    env.create(ippool(&ds6, "fd00:201::/64")).await;
    env.create(namespace(&ns, json!({}))).await;
    env.create(ip_pod(
        &ns,
        "p",
        &["10.202.0.5", "fd00:201::5"],
        "2026-03-02T10:00:00Z",
    ))
    .await;
    let pods = format!("{V3}/namespaces/{ns}/pods");
    // Both pools and the pod's IPs are seen once both equality selectors match.
    env.wait_total(
        &query(&pods, &[("labelSelector", &format!("{POOL_LABEL}={ds6}"))]),
        1,
    )
    .await;
    let body = env
        .wait_total(
            &query(&pods, &[("labelSelector", &format!("{POOL_LABEL}={ds4}"))]),
            1,
        )
        .await;
    let mut checks = Checks::default();
    checks.eq(
        "41 shown label",
        &body["items"][0]["metadata"]["labels"][POOL_LABEL],
        &json!(ds4),
    );
    for (selector, total) in [
        (format!("{POOL_LABEL} in ({ds6})"), 1),
        (format!("{POOL_LABEL}!={ds6}"), 0),
    ] {
        let result = env
            .names(&query(&pods, &[("labelSelector", &selector)]))
            .await;
        let expected = if total == 1 { strings(&["p"]) } else { vec![] };
        checks.eq(&format!("41 {selector}"), &result, &Ok((expected, total)));
    }
    checks.finish();
    env.stop().await;
}

#[tokio::test]
async fn pool_pods_filtered_by_name() {
    // 43, with p24 = 10.203.0.0/24.
    let env = Env::start().await;
    let p24 = unique_name("p24");
    let ns1 = unique_name("ns1");
    env.create(
        json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool",
        "metadata": {"name": p24}, "spec": {"cidr": "10.203.0.0/24", "blockSize": 26}}),
    )
    .await;
    env.create(namespace(&ns1, json!({}))).await;
    let template = json!({"metadata": {"labels": {"app": "nginx-demo"}},
                          "spec": {"containers": [{"name": "c", "image": "pause"}]}});
    env.create(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "nginx-demo", "namespace": ns1},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "nginx-demo"}}, "template": template}}))
        .await;
    let mut pod = ip_pod(
        &ns1,
        "nginx-demo-6b9f-k2x8p",
        &["10.203.0.10"],
        "2026-03-02T10:00:00Z",
    );
    pod["metadata"]["labels"] = json!({"app": "nginx-demo"});
    env.create(pod).await;
    let selector = format!("{POOL_LABEL}={p24}");
    let base = |name: &str| {
        query(
            &format!("{V3}/pods"),
            &[
                ("limit", "6"),
                ("labelSelector", &selector),
                ("name", name),
                ("sortBy", "startTime"),
            ],
        )
    };
    let body = env.wait_total(&base("nginx-demo"), 1).await;
    assert_eq!(item_names(&body), strings(&["nginx-demo-6b9f-k2x8p"]));
    let (code, body) = env.get(&base("ss")).await;
    assert_eq!(
        (code, body),
        (200, json!({"items": [], "totalItems": 0})),
        "43 name=ss"
    );
    env.stop().await;
}

// ---------------------------------------------------------------------------------------------
// O. Visibility
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn visibility_limits_cluster_lists_to_allowed_namespaces() {
    // 173. carol may list pods only in `demo`; pods elsewhere (also this test's `hidden`) are not shown.
    let mut config = test_config();
    config.auth.cache_ttl_seconds = 0;
    let env = Env::start_with(config).await;
    let demo = env.namespace("demo").await;
    let hidden = env.namespace("hidden").await;
    env.create_all(vec![
        ip_pod(&demo, "nginx-a", &[], "2026-03-02T10:00:00Z"),
        ip_pod(&demo, "nginx-b", &[], "2026-03-02T10:01:00Z"),
        ip_pod(&hidden, "nginx-c", &[], "2026-03-02T10:02:00Z"),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "pod-lister", "namespace": demo},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "carol-lists-pods", "namespace": demo},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-lister"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "carol"}]}),
    ])
    .await;
    // The admin sees the hidden pod; carol sees only demo's.
    env.wait_total(&format!("{V3}/namespaces/{hidden}/pods"), 1)
        .await;
    let carol = ControlPlane::shared().token(User::Carol);
    let body = env
        .server
        .wait_total(&carol, &format!("{V3}/pods"), 2)
        .await;
    assert_eq!(
        qualified_names(&body),
        vec![format!("{demo}/nginx-b"), format!("{demo}/nginx-a")]
    );
    // carol's namespaced list works; another namespace is forbidden.
    let (code, _) = env
        .server
        .get_json(&format!("{V3}/namespaces/{demo}/pods"), &carol)
        .await;
    assert_eq!(code, 200);
    let (code, body) = env
        .server
        .get_json(&format!("{V3}/namespaces/{hidden}/pods"), &carol)
        .await;
    assert_eq!(
        (code, &body["reason"]),
        (403, &json!("Forbidden")),
        "{body}"
    );
    env.stop().await;
}
