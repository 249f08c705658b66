//! The IPPool admission webhook against real caches (cases.md N 162, 164–167), reviews posted over plain HTTP
//! without credentials, as kube-apiserver would post them (TLS is not the server's concern here). On the
//! exclusive plane: overlap and binding checks read every pool and namespace of the cluster, and the names are
//! the spec's. Rules without cluster state: the domain's unit tests and the route tests.

use serde_json::{Value, json};

use crate::support::api::{BINDING, IPV4POOLS, SYNC, WEBHOOK};
use crate::support::exclusive::Exclusive;
use crate::support::fixtures::{
    Checks, admission_allowed, admission_denied, admission_review, allocations, block,
    case7_tunnel_pool, get, json_of, namespace, pod_attribute, pool, replace, same, settle,
    tunnel_attribute,
};
use crate::support::{CrdSet, TestServer, test_config};

/// F-A's pool with one workload allocation (case 164), case 7's `tun` with three tunnel addresses (cases 165,
/// 166), and the empty pool `pa` bound by `b1` … `b7` (case 167; `b7` through the Calico annotation only).
fn fixture() -> Vec<Value> {
    let mut objects = vec![
        pool(
            "default-ipv4-ippool",
            json!({"cidr": "10.233.64.0/18", "blockSize": 26, "ipipMode": "Always"}),
        ),
        block(
            "10-233-64-0-26",
            "10.233.64.0/26",
            allocations(64, &[(0, 0), (1, 1)]),
            vec![
                tunnel_attribute("ipip-tunnel-addr-node1", "ipipTunnelAddress"),
                pod_attribute("a1", "demo", "nginx-a"),
            ],
            false,
        ),
        pool("pa", json!({"cidr": "10.11.0.0/16"})),
    ];
    for n in 1..=6 {
        let labels = json!({format!("{BINDING}pa"): ""});
        objects.push(namespace(&format!("b{n}"), labels, json!({})));
    }
    objects.push(namespace("b7", json!({}), json!({IPV4POOLS: "[\"pa\"]"})));
    objects.extend(case7_tunnel_pool());
    objects
}

/// Posts `review` until the answer is `expected` (the caches follow the cluster), then checks it.
async fn expect(
    checks: &mut Checks,
    label: &str,
    server: &TestServer<'_>,
    review: Value,
    expected: Value,
) {
    let outcome = settle(SYNC, || async {
        let response = server
            .http
            .post(server.url(WEBHOOK))
            .header("Content-Type", "application/json")
            .body(review.to_string())
            .send()
            .await
            .expect("request reaches the server");
        same(&json_of(response).await, &(200, expected.clone()))
    })
    .await;
    checks.check(label, outcome);
}

fn delete_review(uid: &str, name: &str, spec: Value) -> Value {
    admission_review(uid, "DELETE", Value::Null, pool(name, spec))
}

#[tokio::test]
async fn webhook_cases() {
    let mut cluster = Exclusive::acquire(CrdSet::All).await;
    let plane = cluster.plane();
    let mut config = test_config();
    config.webhook.enabled = true;
    let server = TestServer::start_with(plane, config).await;
    cluster.create_all(fixture()).await;
    server.wait_ready().await;
    let mut checks = Checks::default();

    let new = pool("new", json!({"cidr": "10.233.0.0/16", "blockSize": 26}));
    expect(
        &mut checks,
        "case 162 overlap",
        &server,
        admission_review("c162", "CREATE", new, Value::Null),
        admission_denied(
            "c162",
            403,
            "ippool cidr is overlapped with default-ipv4-ippool",
        ),
    )
    .await;

    let fa = json!({"cidr": "10.233.64.0/18", "blockSize": 26, "ipipMode": "Always"});
    expect(
        &mut checks,
        "case 164 delete in use",
        &server,
        delete_review("c164", "default-ipv4-ippool", fa),
        admission_denied(
            "c164",
            403,
            "ippool is in use, please remove the workload before deleting",
        ),
    )
    .await;

    let tun = json!({"cidr": "10.50.0.0/24"});
    expect(
        &mut checks,
        "case 166 tunnel addresses",
        &server,
        delete_review("c166", "tun", tun.clone()),
        admission_denied(
            "c166",
            403,
            "ippool holds 3 tunnel addresses; disable it and wait for calico-node to move them before deleting",
        ),
    )
    .await;

    expect(
        &mut checks,
        "case 167 bound namespaces",
        &server,
        delete_review("c167", "pa", json!({"cidr": "10.11.0.0/16"})),
        admission_denied(
            "c167",
            403,
            "ippool is bound to namespaces b1, b2, b3, b4, b5 and 2 more; unbind them before deleting",
        ),
    )
    .await;

    // Case 165: calico-node released the tunnel addresses.
    let mut released = get(
        cluster.admin(),
        "crd.projectcalico.org/v1",
        "IPAMBlock",
        "",
        "10-50-0-0-26",
    )
    .await;
    released["spec"]["allocations"] = json!(allocations(64, &[]));
    released["spec"]["attributes"] = json!([]);
    replace(cluster.admin(), released).await;
    expect(
        &mut checks,
        "case 165 delete after release",
        &server,
        delete_review("c165", "tun", tun),
        admission_allowed("c165", &[]),
    )
    .await;

    checks.finish();
    server.stop().await;
}
