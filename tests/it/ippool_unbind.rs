//! `POST /kapis/network.kubesphere.io/v1alpha2/ippools/{name}/unbind` against a real kube-apiserver
//! (cases.md F 69–72). On the exclusive plane: an unbind reaches every namespace of the cluster, and
//! the names are the spec's.

use std::collections::BTreeMap;

use kube::Client;
use serde_json::{Value, json};

use crate::support::api::{BINDING, IPV4POOLS, IPV6POOLS, MARKER, SYNC, V2 as BASE};
use crate::support::exclusive::Exclusive;
use crate::support::fixtures::{
    Checks, binding_labels, get, namespace, pool, resource_version, same, settle,
};
use crate::support::{CrdSet, TestServer, User};

/// Section F's pools and namespaces, plus `s1` of case 70.
fn fixture() -> Vec<Value> {
    vec![
        pool("pa", json!({"cidr": "10.11.0.0/16"})),
        pool("pb", json!({"cidr": "10.12.0.0/16"})),
        namespace(
            "s1",
            json!({"ippool.network.kubesphere.io/old": ""}),
            json!({}),
        ),
        namespace(
            "u1",
            json!({"ippool.network.kubesphere.io/pa": ""}),
            json!({IPV4POOLS: "[\"pa\"]", MARKER: "true"}),
        ),
        namespace("u2", json!({}), json!({IPV4POOLS: "[\"pa\",\"pb\"]"})),
        namespace(
            "u3",
            json!({"ippool.network.kubesphere.io/pa": "", "ippool.network.kubesphere.io/pb": ""}),
            json!({IPV4POOLS: "[\"pa\",\"pb\"]", MARKER: "true"}),
        ),
    ]
}

fn summary(dry_run: bool, pool: &str, namespaces: &[&str]) -> Value {
    json!({"message": "success", "dryRun": dry_run, "ippool": pool, "namespaces": namespaces})
}

async fn unbind(server: &TestServer<'_>, token: &str, pool: &str, query: &str) -> (u16, Value) {
    server
        .post(
            &format!("{BASE}/ippools/{pool}/unbind{query}"),
            token,
            None,
            "",
        )
        .await
}

async fn versions(client: &Client) -> BTreeMap<&'static str, String> {
    let mut out = BTreeMap::new();
    for ns in ["u1", "u2", "u3", "s1"] {
        out.insert(
            ns,
            resource_version(client, "v1", "Namespace", "", ns).await,
        );
    }
    out
}

/// A namespace's binding state: binding labels, and the two Calico annotations plus the marker.
async fn binding(client: &Client, name: &str) -> (BTreeMap<String, Value>, [Value; 3]) {
    let ns = get(client, "v1", "Namespace", "", name).await;
    let annotations = &ns["metadata"]["annotations"];
    (
        binding_labels(&ns),
        [
            annotations[IPV4POOLS].clone(),
            annotations[IPV6POOLS].clone(),
            annotations[MARKER].clone(),
        ],
    )
}

fn labels(keys: &[&str]) -> BTreeMap<String, Value> {
    keys.iter()
        .map(|k| (format!("{BINDING}{k}"), json!("")))
        .collect()
}

#[tokio::test]
async fn unbind_cases() {
    let mut cluster = Exclusive::acquire(CrdSet::All).await;
    let plane = cluster.plane();
    let admin = cluster.admin().clone();
    let token = plane.token(User::Admin);
    let server = TestServer::start(plane).await;
    cluster.create_all(fixture()).await;
    server.wait_ready().await;
    let mut checks = Checks::default();

    // The pools must be in the server's pool cache too (the namespace and pool caches are separate
    // watches): managed namespaces get annotations derived from the pools that exist.
    for name in ["pa", "pb"] {
        let outcome = settle(SYNC, || async {
            let (code, body) = server
                .get_json(&format!("{BASE}/ippools/{name}"), &token)
                .await;
            same(&code, &200).map_err(|e| format!("{e} {body}"))
        })
        .await;
        checks.check(&format!("precondition: pool {name} served"), outcome);
    }

    // Case 71, first part: dry run (query) — also the signal that the caches reflect the namespaces.
    let expected = summary(true, "pa", &["u1", "u2", "u3"]);
    let outcome = settle(SYNC, || async {
        same(
            &unbind(&server, &token, "pa", "?dryRun=true").await,
            &(200, expected.clone()),
        )
    })
    .await;
    checks.check("case 71 dry run (query)", outcome);
    let initial = versions(&admin).await;
    let json_dry_run = server
        .post(
            &format!("{BASE}/ippools/pa/unbind"),
            &token,
            Some("application/json"),
            r#"{"dryRun": true}"#,
        )
        .await;
    checks.eq(
        "case 71 dry run (JSON body)",
        &json_dry_run,
        &(200, expected),
    );
    checks.eq("case 71 nothing changes", &versions(&admin).await, &initial);

    // Case 69.
    checks.eq(
        "case 69 unbind pa",
        &unbind(&server, &token, "pa", "").await,
        &(200, summary(false, "pa", &["u1", "u2", "u3"])),
    );
    checks.eq(
        "case 69 u1",
        &binding(&admin, "u1").await,
        &(labels(&[]), [Value::Null, Value::Null, Value::Null]),
    );
    checks.eq(
        "case 69 u2",
        &binding(&admin, "u2").await,
        &(labels(&[]), [json!("[\"pb\"]"), Value::Null, Value::Null]),
    );
    checks.eq(
        "case 69 u3",
        &binding(&admin, "u3").await,
        &(
            labels(&["pb"]),
            [json!("[\"pb\"]"), Value::Null, json!("true")],
        ),
    );

    // Case 70: a stale binding of a pool that does not exist.
    checks.eq(
        "case 70 unbind old",
        &unbind(&server, &token, "old", "").await,
        &(200, summary(false, "old", &["s1"])),
    );
    checks.eq(
        "case 70 s1 label gone",
        &binding(&admin, "s1").await.0,
        &labels(&[]),
    );

    // Case 71, second part: once the caches show case 69, pa is bound nowhere; pb in u2 and u3.
    let outcome = settle(SYNC, || async {
        same(
            &unbind(&server, &token, "pa", "?dryRun=true").await,
            &(200, summary(true, "pa", &[])),
        )
    })
    .await;
    checks.check("case 71 pa bound nowhere after case 69", outcome);
    checks.eq(
        "case 71 unbind pb",
        &unbind(&server, &token, "pb", "").await,
        &(200, summary(false, "pb", &["u2", "u3"])),
    );
    checks.eq(
        "case 71 u2 after unbinding pb",
        &binding(&admin, "u2").await,
        &(labels(&[]), [Value::Null, Value::Null, Value::Null]),
    );
    checks.eq(
        "case 71 u3 after unbinding pb",
        &binding(&admin, "u3").await,
        &(labels(&[]), [Value::Null, Value::Null, Value::Null]),
    );
    let outcome = settle(SYNC, || async {
        same(
            &unbind(&server, &token, "pb", "?dryRun=true").await,
            &(200, summary(true, "pb", &[])),
        )
    })
    .await;
    checks.check(
        "case 71 precondition: the caches reflect the pb unbind",
        outcome,
    );
    let before = versions(&admin).await;
    checks.eq(
        "case 71 repeating the pb unbind",
        &unbind(&server, &token, "pb", "").await,
        &(200, summary(false, "pb", &[])),
    );
    checks.eq(
        "case 71 repeat writes nothing",
        &versions(&admin).await,
        &before,
    );

    // Case 72.
    let name = "a".repeat(64);
    let (code, body) = unbind(&server, &token, &name, "").await;
    checks.eq(
        "case 72 invalid name",
        &(code, &body["reason"], &body["message"]),
        &(
            400,
            &json!("BadRequest"),
            &json!(format!(
                "ippool name \"{name}\" cannot be used as a namespace binding label"
            )),
        ),
    );

    checks.finish();
    server.stop().await;
}
