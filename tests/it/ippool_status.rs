//! Pool status arithmetic and the pool read endpoints against a real kube-apiserver (cases.md
//! A 1–15, 17–21, B 22, 24–27, O 169, 176; 403 for users without RBAC).
//!
//! Every case's objects are seeded into one cluster, with names and CIDRs chosen so that the cases
//! do not disturb each other (see [`seed`]); the expected statuses are then checked all at once, and
//! cases 2–5 and 21 are checked as watch-driven updates of the seeded objects. On the exclusive plane:
//! the cases check every pool of the cluster and global metrics. The 403 test runs on the shared plane.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::support::api::{SYNC, V2 as BASE};
use crate::support::exclusive::Exclusive;
use crate::support::fixtures::{
    Checks, Sample, allocations, block, case7_tunnel_pool, delete, eventually, f_a, get, json_of,
    merge_patch, metric, names, namespace, parse_metrics, patch_status, pod, pod_attribute, pool,
    replace, same, settle, status_body, tunnel_attribute,
};
use crate::support::{ControlPlane, CrdSet, Env, TestServer, User, test_config};

const STATUS_KEYS: [&str; 8] = [
    "capacity",
    "allocations",
    "unallocated",
    "reserved",
    "tunnel",
    "namespaces",
    "pods",
    "leaked",
];

/// A status object in the A§2.7 key order.
#[allow(clippy::too_many_arguments)]
fn status(
    capacity: u64,
    allocations: u64,
    unallocated: u64,
    reserved: u64,
    tunnel: u64,
    namespaces: Value,
    pods: u64,
    leaked: u64,
) -> Value {
    json!({"capacity": capacity, "allocations": allocations, "unallocated": unallocated,
           "reserved": reserved, "tunnel": tunnel, "namespaces": namespaces,
           "pods": pods, "leaked": leaked})
}

/// Case 1's status of `default-ipv4-ippool`.
fn case1() -> Value {
    status(
        16384,
        5,
        16373,
        5,
        1,
        json!({"demo": 3, "kube-system": 1, "win": 1}),
        4,
        1,
    )
}

/// An empty pool of `2^(32 - prefix)` addresses.
fn empty_status(capacity: u64) -> Value {
    status(capacity, 0, capacity, 0, 0, json!({}), 0, 0)
}

const T0: &str = "2026-03-02T10:00:00Z";

/// The namespaces, pools, blocks and pods of every case, in creation order.
///
/// Names and CIDRs as in cases.md, all distinct:
/// - F-A (cases 1–5, 12, 176): `default-ipv4-ippool` 10.233.64.0/18, namespaces demo, win, kube-system;
/// - 6/21 `p24` 192.168.0.0/24 (ns1/p1); 7 `tun` 10.50.0.0/24; 8 `legacy` 10.60.0.0/24; 9 `r` 10.61.0.0/24;
///   10 `len` 10.70.0.0/24 (its allocation attribute names pod a/p, which case 11 creates);
///   11 `wide` 10.80.0.0/16 and `narrow` 10.80.1.0/24 (a/p, a/q); 12 orphan block 172.16.0.0/26;
///   13 `tiny` 10.90.0.0/28 (t/p); 14 `v6-big` fd00:10:244::/64 (ns1/p-0, ns1/p-1);
///   15 `v6-small` fd00:20::/120 (a/p0 … a/p2); 16/17 `fb` 192.168.100.0/24 (x/a … x/h, y/g);
///   18 `gone` 10.100.0.0/24 (z/p1); 19 `empty` 10.110.0.0/24; 20 `bad` (not-a-cidr);
///   22 `zeta` 10.152.0.0/16 (created first), `alpha` 10.150.0.0/16, `mid` 10.151.0.0/16;
///   24 `read-defaults` 10.120.0.0/16; 25 `legacy-fields` 10.130.0.0/16;
///   27 `with-conditions` 10.170.0.0/16 (stored status written through the status subresource).
fn seed() -> Vec<Value> {
    let mut objects = Vec::new();
    for ns in ["demo", "win", "ns1", "a", "t", "x", "y", "z"] {
        objects.push(namespace(ns, json!({}), json!({})));
    }

    // Case 22 first: `zeta` is the oldest pool, so name order differs from creation order.
    objects.push(pool("zeta", json!({"cidr": "10.152.0.0/16"})));
    objects.push(pool("alpha", json!({"cidr": "10.150.0.0/16"})));
    objects.push(pool("mid", json!({"cidr": "10.151.0.0/16"})));

    // F-A (its namespaces are above).
    objects.extend(f_a().into_iter().filter(|o| o["kind"] != "Namespace"));

    // Case 6 (and 21).
    objects.push(pool(
        "p24",
        json!({"cidr": "192.168.0.0/24", "blockSize": 26}),
    ));
    objects.push(block(
        "192-168-0-0-26",
        "192.168.0.0/26",
        allocations(64, &[(0, 0)]),
        vec![json!({"handle_id": "k8s-pod-network.x", "secondary": {"namespace": "ns1", "pod": "p1"}})],
        false,
    ));
    objects.push(pod("ns1", "p1", &["192.168.0.0"], "Running", T0));

    // Case 7.
    objects.extend(case7_tunnel_pool());

    // Case 8.
    objects.push(pool("legacy", json!({"cidr": "10.60.0.0/24"})));
    objects.push(block(
        "10-60-0-0-26",
        "10.60.0.0/26",
        allocations(64, &[(5, 0)]),
        vec![json!({"handle_id": "k8s-pod-network.z", "secondary": null})],
        false,
    ));

    // Case 9.
    objects.push(pool("r", json!({"cidr": "10.61.0.0/24"})));
    objects.push(block(
        "10-61-0-0-26",
        "10.61.0.0/26",
        allocations(64, &[(0, 0), (1, 7)]),
        vec![json!({"handle_id": "Windows-Reserved-IPAM-Handle"})],
        false,
    ));

    // Case 10.
    objects.push(pool("len", json!({"cidr": "10.70.0.0/24"})));
    objects.push(block(
        "10-70-0-0-26",
        "10.70.0.0/26",
        vec![Some(0), None, Some(0)],
        vec![pod_attribute("l1", "a", "p")],
        false,
    ));
    objects.push(block(
        "10-70-0-64-26",
        "10.70.0.64/26",
        allocations(70, &[(65, 0)]),
        vec![pod_attribute("l2", "a", "p")],
        false,
    ));

    // Case 11.
    objects.push(pool("wide", json!({"cidr": "10.80.0.0/16"})));
    objects.push(pool("narrow", json!({"cidr": "10.80.1.0/24"})));
    objects.push(block(
        "10-80-1-0-26",
        "10.80.1.0/26",
        allocations(64, &[(5, 0)]),
        vec![pod_attribute("w1", "a", "p")],
        false,
    ));
    objects.push(block(
        "10-80-2-0-26",
        "10.80.2.0/26",
        allocations(64, &[(5, 0)]),
        vec![pod_attribute("w2", "a", "q")],
        false,
    ));
    objects.push(pod("a", "p", &["10.80.1.5"], "Running", T0));
    objects.push(pod("a", "q", &["10.80.2.5"], "Running", T0));

    // Case 12: an orphan block (no pool contains 172.16.0.0/26), two allocated ordinals.
    objects.push(block(
        "172-16-0-0-26",
        "172.16.0.0/26",
        allocations(64, &[(0, 0), (1, 1)]),
        vec![
            pod_attribute("o1", "orphan", "o-1"),
            pod_attribute("o2", "orphan", "o-2"),
        ],
        false,
    ));

    // Case 13: the block is larger than the pool, so it is an orphan too and `tiny` falls back.
    objects.push(pool(
        "tiny",
        json!({"cidr": "10.90.0.0/28", "disabled": true}),
    ));
    objects.push(block(
        "10-90-0-0-26",
        "10.90.0.0/26",
        allocations(64, &[(3, 0)]),
        vec![pod_attribute("t1", "t", "p")],
        false,
    ));
    objects.push(pod("t", "p", &["10.90.0.3"], "Running", T0));

    // Case 14.
    objects.push(pool("v6-big", json!({"cidr": "fd00:10:244::/64"})));
    objects.push(block(
        "fd00-10-244---122",
        "fd00:10:244::/122",
        allocations(64, &[(0, 0), (1, 1), (2, 2)]),
        vec![
            tunnel_attribute("wireguard-v6-tunnel-addr-node1", "wireguardV6TunnelAddress"),
            pod_attribute("v0", "ns1", "p-0"),
            pod_attribute("v1", "ns1", "p-1"),
        ],
        false,
    ));
    objects.push(pod("ns1", "p-0", &["fd00:10:244::1"], "Running", T0));
    objects.push(pod("ns1", "p-1", &["fd00:10:244::2"], "Running", T0));

    // Case 15.
    objects.push(pool(
        "v6-small",
        json!({"cidr": "fd00:20::/120", "blockSize": 122}),
    ));
    objects.push(block(
        "fd00-20--40-122",
        "fd00:20::40/122",
        allocations(64, &[(0, 0), (1, 1), (2, 2), (63, 3)]),
        vec![
            pod_attribute("s0", "a", "p0"),
            pod_attribute("s1", "a", "p1"),
            pod_attribute("s2", "a", "p2"),
            json!({"handle_id": "windows-reserved-ipam-handle", "secondary": {"note": "windows host rsvd"}}),
        ],
        false,
    ));
    objects.push(pod("a", "p0", &["fd00:20::40"], "Running", T0));
    objects.push(pod("a", "p1", &["fd00:20::41"], "Running", T0));
    objects.push(pod("a", "p2", &["fd00:20::42"], "Running", T0));

    // Cases 16/17: `fb` has no blocks (pod fallback) next to the IPAM-mode pools.
    objects.push(pool("fb", json!({"cidr": "192.168.100.0/24"})));
    objects.push(pod("x", "a", &["192.168.100.5"], "Running", T0));
    objects.push(pod("x", "b", &["192.168.100.6"], "Pending", T0));
    objects.push(pod("x", "c", &["192.168.100.7"], "Succeeded", T0));
    objects.push(pod("x", "d", &["192.168.100.8"], "Failed", T0));
    let mut host = pod("x", "e", &["192.168.100.9"], "Running", T0);
    host["spec"]["hostNetwork"] = json!(true);
    objects.push(host);
    objects.push(pod("x", "f", &["10.0.0.5"], "Running", T0));
    objects.push(pod("y", "g", &["192.168.100.10", "fd00::a"], "Running", T0));
    objects.push(pod("x", "h", &[], "Pending", T0));

    // Case 18.
    objects.push(pool("gone", json!({"cidr": "10.100.0.0/24"})));
    objects.push(block(
        "10-100-0-0-26",
        "10.100.0.0/26",
        allocations(64, &[(0, 0), (1, 0), (2, 0), (3, 0), (4, 0)]),
        vec![pod_attribute("g1", "z", "old")],
        true,
    ));
    objects.push(pod("z", "p1", &["10.100.0.9"], "Running", T0));

    // Cases 19, 20, 24, 25.
    objects.push(pool("empty", json!({"cidr": "10.110.0.0/24"})));
    objects.push(pool("bad", json!({"cidr": "not-a-cidr"})));
    objects.push(pool("read-defaults", json!({"cidr": "10.120.0.0/16"})));
    objects.push(pool(
        "legacy-fields",
        json!({"cidr": "10.130.0.0/16", "ipip": {"enabled": true, "mode": "cross-subnet"}, "nat-outgoing": true}),
    ));

    // Case 27: `create` writes the status through the status subresource.
    let mut with_conditions = pool("with-conditions", json!({"cidr": "10.170.0.0/16"}));
    with_conditions["status"] = json!({"conditions": conditions()});
    objects.push(with_conditions);
    objects
}

fn conditions() -> Value {
    json!([{"type": "Allocatable", "status": "True", "reason": "OK"}])
}

/// The exact statuses expected right after seeding, by pool name.
fn expected_statuses() -> BTreeMap<&'static str, Value> {
    BTreeMap::from([
        ("default-ipv4-ippool", case1()),
        ("p24", status(256, 1, 255, 0, 0, json!({"ns1": 1}), 1, 0)),
        ("tun", status(256, 0, 253, 0, 3, json!({}), 0, 0)),
        ("legacy", status(256, 1, 255, 0, 0, json!({}), 0, 0)),
        ("r", status(256, 0, 254, 2, 0, json!({}), 0, 0)),
        ("narrow", status(256, 1, 255, 0, 0, json!({"a": 1}), 1, 0)),
        ("wide", status(65536, 1, 65535, 0, 0, json!({"a": 1}), 1, 0)),
        ("tiny", status(16, 1, 15, 0, 0, json!({"t": 1}), 1, 0)),
        (
            "v6-big",
            status(
                9007199254740991,
                2,
                9007199254740991,
                0,
                1,
                json!({"ns1": 2}),
                2,
                0,
            ),
        ),
        ("v6-small", status(256, 3, 252, 1, 0, json!({"a": 3}), 3, 0)),
        (
            "fb",
            status(256, 3, 253, 0, 0, json!({"x": 2, "y": 1}), 3, 0),
        ),
        ("gone", status(256, 1, 255, 0, 0, json!({"z": 1}), 1, 0)),
        ("empty", empty_status(256)),
        ("bad", status(0, 0, 0, 0, 0, json!({}), 0, 0)),
        ("zeta", empty_status(65536)),
        ("alpha", empty_status(65536)),
        ("mid", empty_status(65536)),
        ("read-defaults", empty_status(65536)),
        ("legacy-fields", empty_status(65536)),
    ])
}

/// The eight occupancy keys of a status (drops others such as `conditions`).
fn occupancy(status: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for key in STATUS_KEYS {
        if let Some(v) = status.get(key) {
            out.insert(key.to_owned(), v.clone());
        }
    }
    Value::Object(out)
}

/// GET the pool list; `Err` unless 200 with an array.
async fn list(server: &TestServer<'_>, token: &str) -> Result<Vec<Value>, String> {
    let (code, body) = server.get_json(&format!("{BASE}/ippools"), token).await;
    match (code, body) {
        (200, Value::Array(items)) => Ok(items),
        (code, body) => Err(format!("{code} {body}")),
    }
}

/// GET one pool's `status`; `Err` unless 200.
async fn pool_status(server: &TestServer<'_>, token: &str, name: &str) -> Result<Value, String> {
    let (code, body) = server
        .get_json(&format!("{BASE}/ippools/{name}"), token)
        .await;
    if code == 200 {
        Ok(body["status"].clone())
    } else {
        Err(format!("{code} {body}"))
    }
}

/// Waits (up to [`SYNC`]) until `name`'s status equals `expected`; records the outcome.
async fn expect_status(
    checks: &mut Checks,
    label: &str,
    server: &TestServer<'_>,
    token: &str,
    name: &str,
    expected: &Value,
) {
    let outcome = settle(SYNC, || async {
        let actual = pool_status(server, token, name).await?;
        same(&actual, expected)
    })
    .await;
    checks.check(label, outcome);
}

/// The samples of `/metrics` as admin; `Err` unless 200.
async fn metrics(server: &TestServer<'_>, token: &str) -> Result<Vec<Sample>, String> {
    let response = server.get("/metrics", Some(token)).await;
    let code = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    if code == 200 {
        Ok(parse_metrics(&text))
    } else {
        Err(format!("{code} {text}"))
    }
}

/// Expected metric samples: (label for the report, name, labels, value).
type MetricExpectation = (
    &'static str,
    &'static str,
    Vec<(&'static str, &'static str)>,
    f64,
);

async fn expect_metrics(
    checks: &mut Checks,
    server: &TestServer<'_>,
    token: &str,
    expectations: &[MetricExpectation],
) {
    let last = settle(SYNC, || async {
        let samples = metrics(server, token).await?;
        let wrong: Vec<String> = expectations
            .iter()
            .filter_map(|(_, name, labels, value)| {
                let actual = metric(&samples, name, labels);
                (actual != Some(*value)).then(|| format!("{name}{labels:?} = {actual:?}"))
            })
            .collect();
        if wrong.is_empty() {
            Ok(samples)
        } else {
            Err(wrong.join("; "))
        }
    })
    .await;
    match last {
        Ok(_) => {
            for (label, ..) in expectations {
                checks.check(label, Ok(()));
            }
        }
        Err(_) => {
            // Report each expectation on its own against the last scrape.
            let samples = metrics(server, token).await.unwrap_or_default();
            for (label, name, labels, value) in expectations {
                let actual = metric(&samples, name, labels);
                checks.eq(
                    &format!("{label} ({name}{labels:?})"),
                    &actual,
                    &Some(*value),
                );
            }
        }
    }
}

#[tokio::test]
async fn pool_status_cases_in_one_cluster() {
    let mut cluster = Exclusive::acquire(CrdSet::All).await;
    let plane = cluster.plane();
    let admin = cluster.admin().clone();
    let token = plane.token(User::Admin);
    let server = TestServer::start(plane).await;
    cluster.create_all(seed()).await;
    server.wait_ready().await;

    let mut checks = Checks::default();
    let expected = expected_statuses();

    // Wait until the list shows every seeded pool with the expected status (the watch caches lag
    // the writes); whatever still differs after SYNC is reported per case below.
    let settled = settle(SYNC, || async {
        let items = list(&server, &token).await?;
        let actual: BTreeMap<String, Value> = items
            .iter()
            .map(|i| {
                let name = i["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                (name, occupancy(&i["status"]))
            })
            .collect();
        let wrong: Vec<String> = expected
            .iter()
            .filter(|(name, status)| actual.get(**name) != Some(status))
            .map(|(name, _)| format!("{name}: {:?}", actual.get(*name)))
            .collect();
        if wrong.is_empty() && actual.contains_key("with-conditions") && actual.contains_key("len")
        {
            Ok(items)
        } else {
            Err(wrong.join("; "))
        }
    })
    .await;
    if let Err(last) = &settled {
        eprintln!("statuses did not all settle within {SYNC:?}: {last}");
    }
    let items = match list(&server, &token).await {
        Ok(items) => items,
        Err(e) => {
            checks.check("case 22 the list answers 200 with an array", Err(e));
            Vec::new()
        }
    };
    let by_name: BTreeMap<String, Value> = items
        .iter()
        .map(|i| {
            (
                i["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                i.clone(),
            )
        })
        .collect();

    // Cases 1, 6–9, 11, 13–20 (16 as the `fb` fallback pool of case 17): exact statuses in the list.
    let labels: BTreeMap<&str, &str> = BTreeMap::from([
        ("default-ipv4-ippool", "case 1/17 default-ipv4-ippool"),
        ("p24", "case 6 p24"),
        ("tun", "case 7 tun"),
        ("legacy", "case 8 legacy"),
        ("r", "case 9 r"),
        ("narrow", "case 11 narrow"),
        ("wide", "case 11 wide"),
        ("tiny", "case 13 tiny (fallback)"),
        ("v6-big", "case 14 v6-big"),
        ("v6-small", "case 15 v6-small"),
        ("fb", "case 16/17 fb (fallback)"),
        ("gone", "case 18 gone (fallback)"),
        ("empty", "case 19 empty"),
        ("bad", "case 20 bad (invalid CIDR)"),
        ("zeta", "case 22 zeta"),
        ("alpha", "case 22 alpha"),
        ("mid", "case 22 mid"),
        ("read-defaults", "case 24 status"),
        ("legacy-fields", "case 25 status"),
    ]);
    for (name, status) in &expected {
        let actual = by_name.get(*name).map(|p| p["status"].clone());
        checks.eq(labels[name], &actual, &Some(status.clone()));
    }

    // Case 1 through the get endpoint, with the defaulted spec of api §1.0.
    let (code, body) = server
        .get_json(&format!("{BASE}/ippools/default-ipv4-ippool"), &token)
        .await;
    checks.eq("case 1 get code", &code, &200);
    checks.eq("case 1 get status", &body["status"], &case1());
    checks.eq(
        "case 1 get apiVersion/kind",
        &(&body["apiVersion"], &body["kind"]),
        &(&json!("crd.projectcalico.org/v1"), &json!("IPPool")),
    );
    checks.eq(
        "case 1 defaulted spec",
        &body["spec"],
        &json!({"allowedUses": ["Workload", "Tunnel"], "blockSize": 26, "cidr": "10.233.64.0/18",
                "ipipMode": "Always", "natOutgoing": true, "nodeSelector": "all()", "vxlanMode": "Never"}),
    );
    checks.that(
        "case 1 status key order",
        body["status"]
            .as_object()
            .is_some_and(|s| s.keys().map(String::as_str).eq(STATUS_KEYS)),
        || format!("{}", body["status"]),
    );

    // Case 10: only what the case names (its attribute's pod a/p is case 11's pod).
    let len = by_name
        .get("len")
        .map(|p| p["status"].clone())
        .unwrap_or_default();
    checks.eq(
        "case 10 len allocations/namespaces/capacity/unallocated",
        &(
            &len["allocations"],
            &len["namespaces"],
            &len["capacity"],
            &len["unallocated"],
        ),
        &(&json!(2), &json!({"a": 2}), &json!(256), &json!(254)),
    );

    // Case 14: the defaulted IPv6 block size.
    checks.eq(
        "case 14 v6-big spec.blockSize",
        &by_name
            .get("v6-big")
            .map(|p| p["spec"]["blockSize"].clone()),
        &Some(json!(122)),
    );

    // Case 20: absent from the migration targets and the namespace pools.
    for path in [
        format!("{BASE}/ippools/default-ipv4-ippool/migrate"),
        format!("{BASE}/namespaces/demo/ippools"),
    ] {
        let (code, body) = server.get_json(&path, &token).await;
        // §1.3 answers an `IPPoolList`, §1.5 a bare array.
        let items = if body.is_array() {
            &body
        } else {
            &body["items"]
        };
        let item_names = items.as_array().map(|i| names(i)).unwrap_or_default();
        checks.that(
            &format!("case 20 bad absent from {path}"),
            code == 200 && items.is_array() && !item_names.iter().any(|n| n == "bad"),
            || format!("{code} {item_names:?}"),
        );
    }

    // Whether kube-apiserver kept case 27's stored status (checked under case 27).
    let stored = get(
        &admin,
        "crd.projectcalico.org/v1",
        "IPPool",
        "",
        "with-conditions",
    )
    .await;
    let stored_conditions = stored["status"]["conditions"] == conditions();

    // Case 22: a JSON array sorted by name; every element a Calico IPPool with the eight keys.
    let all_names = names(&items);
    let mut sorted = all_names.clone();
    sorted.sort();
    checks.eq("case 22 sorted by name", &all_names, &sorted);
    let order: Vec<&String> = all_names
        .iter()
        .filter(|n| ["alpha", "mid", "zeta"].contains(&n.as_str()))
        .collect();
    checks.eq(
        "case 22 alpha, mid, zeta",
        &order,
        &vec![&"alpha".to_owned(), &"mid".to_owned(), &"zeta".to_owned()],
    );
    for item in &items {
        let name = item["metadata"]["name"].as_str().unwrap_or_default();
        let mut keys: Vec<&str> = item["status"]
            .as_object()
            .map(|s| s.keys().map(String::as_str).collect())
            .unwrap_or_default();
        keys.sort();
        let mut expected_keys = STATUS_KEYS.to_vec();
        if name == "with-conditions" && stored_conditions {
            expected_keys.push("conditions"); // case 27: the stored keys are kept
        }
        expected_keys.sort();
        checks.eq(
            &format!("case 22 shape of {name}"),
            &(&item["apiVersion"], &item["kind"], keys),
            &(
                &json!("crd.projectcalico.org/v1"),
                &json!("IPPool"),
                expected_keys,
            ),
        );
    }

    // Case 24: read defaults.
    checks.eq(
        "case 24 read defaults",
        &by_name.get("read-defaults").map(|p| p["spec"].clone()),
        &Some(json!({"cidr": "10.120.0.0/16", "blockSize": 26, "ipipMode": "Never", "vxlanMode": "Never",
                     "nodeSelector": "all()", "allowedUses": ["Workload", "Tunnel"]})),
    );
    // Case 25: legacy fields.
    let spec = by_name
        .get("legacy-fields")
        .map(|p| p["spec"].clone())
        .unwrap_or_default();
    checks.eq(
        "case 25 legacy fields",
        &(
            &spec["ipipMode"],
            &spec["natOutgoing"],
            &spec["ipip"],
            &spec["nat-outgoing"],
        ),
        &(
            &json!("CrossSubnet"),
            &json!(true),
            &json!({"enabled": true, "mode": "cross-subnet"}),
            &json!(true),
        ),
    );

    // Case 26: missing pool.
    let (code, body) = server
        .get_json(&format!("{BASE}/ippools/nope"), &token)
        .await;
    checks.eq(
        "case 26 missing pool",
        &(code, body),
        &(404, json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                      "message":"ippools.crd.projectcalico.org \"nope\" not found","reason":"NotFound",
                      "details":{"name":"nope","group":"crd.projectcalico.org","kind":"ippools"},"code":404})),
    );

    // Case 27: the stored status keys are kept next to the eight occupancy keys.
    checks.eq(
        "case 27 precondition: kube-apiserver stored status.conditions",
        &stored["status"]["conditions"],
        &conditions(),
    );
    let mut expected27 = empty_status(65536);
    expected27["conditions"] = conditions();
    checks.eq(
        "case 27 stored status kept",
        &by_name.get("with-conditions").map(|p| p["status"].clone()),
        &Some(expected27),
    );

    // Case 169 (list) and 176 (metrics) without credentials.
    let unauthorized = status_body(401, "Unauthorized", "Unauthorized");
    let (code, body) = json_of(server.get(&format!("{BASE}/ippools"), None).await).await;
    checks.eq(
        "case 169 list without credentials",
        &(code, body),
        &(401, unauthorized.clone()),
    );
    let (code, body) = json_of(server.get("/metrics", None).await).await;
    checks.eq(
        "case 176 /metrics without credentials",
        &(code, body),
        &(401, unauthorized),
    );

    // Cases 176, 12, 13, 14: metric samples. Orphans are global: case 12's 172.16.0.0/26 (2
    // allocations) and case 13's 10.90.0.0/26 (1 allocation) are both orphans, so 2 blocks, 3 ordinals.
    expect_metrics(
        &mut checks,
        &server,
        &token,
        &[
            (
                "case 176 capacity",
                "ks_network_ippool_capacity",
                vec![("ippool", "default-ipv4-ippool"), ("family", "ipv4")],
                16384.0,
            ),
            (
                "case 176 tunnel",
                "ks_network_ippool_tunnel",
                vec![("ippool", "default-ipv4-ippool")],
                1.0,
            ),
            (
                "case 176 leaked",
                "ks_network_ippool_leaked",
                vec![("ippool", "default-ipv4-ippool")],
                1.0,
            ),
            (
                "case 12/13 orphan blocks",
                "ks_network_ipam_orphan_blocks",
                vec![],
                2.0,
            ),
            (
                "case 12/13 orphan allocations",
                "ks_network_ipam_orphan_allocations",
                vec![],
                3.0,
            ),
            (
                "case 14 v6 capacity 2^64",
                "ks_network_ippool_capacity",
                vec![("ippool", "v6-big"), ("family", "ipv6")],
                1.8446744073709552e19,
            ),
            (
                "api §5 disabled gauge (tiny)",
                "ks_network_ippool_disabled",
                vec![("ippool", "tiny")],
                1.0,
            ),
        ],
    )
    .await;

    // Watch-driven updates of F-A.
    // Case 2: pod gone, IP still allocated.
    delete(&admin, "v1", "Pod", "demo", "nginx-b").await;
    let mut s = case1();
    s["pods"] = json!(3);
    s["leaked"] = json!(2);
    expect_status(
        &mut checks,
        "case 2 nginx-b deleted",
        &server,
        &token,
        "default-ipv4-ippool",
        &s,
    )
    .await;

    // Case 3 (on top of case 2): a Failed pod is not live.
    patch_status(
        &admin,
        "v1",
        "Pod",
        "demo",
        "nginx-a",
        json!({"phase": "Failed"}),
    )
    .await;
    s["pods"] = json!(2);
    s["leaked"] = json!(3);
    expect_status(
        &mut checks,
        "case 3 nginx-a Failed",
        &server,
        &token,
        "default-ipv4-ippool",
        &s,
    )
    .await;
    expect_metrics(
        &mut checks,
        &server,
        &token,
        &[
            (
                "metrics follow case 3 (leaked)",
                "ks_network_ippool_leaked",
                vec![("ippool", "default-ipv4-ippool")],
                3.0,
            ),
            (
                "metrics follow case 3 (pods)",
                "ks_network_ippool_pods",
                vec![("ippool", "default-ipv4-ippool")],
                2.0,
            ),
        ],
    )
    .await;

    // Case 5 (on top): a pod IP without an allocation changes `pods` only.
    cluster
        .create(pod("demo", "extra", &["10.233.64.200"], "Running", T0))
        .await;
    s["pods"] = json!(3);
    expect_status(
        &mut checks,
        "case 5 extra pod",
        &server,
        &token,
        "default-ipv4-ippool",
        &s,
    )
    .await;

    // Case 4 (on top): `deleted: false` on 10-233-65-0-26 adds its 10 ordinals of demo/old-1
    // (leaked: 3 so far + 10).
    let mut deleted_block = get(
        &admin,
        "crd.projectcalico.org/v1",
        "IPAMBlock",
        "",
        "10-233-65-0-26",
    )
    .await;
    deleted_block["spec"]["deleted"] = json!(false);
    let replaced = replace(&admin, deleted_block).await;
    checks.eq(
        "case 4 precondition: allocations kept their nulls",
        &replaced["spec"]["allocations"].as_array().map(Vec::len),
        &Some(64),
    );
    let s4 = status(
        16384,
        15,
        16363,
        5,
        1,
        json!({"demo": 13, "kube-system": 1, "win": 1}),
        3,
        13,
    );
    expect_status(
        &mut checks,
        "case 4 deleted flag decides",
        &server,
        &token,
        "default-ipv4-ippool",
        &s4,
    )
    .await;

    // Case 21: disabling p24 changes nothing in its status.
    merge_patch(
        &admin,
        "crd.projectcalico.org/v1",
        "IPPool",
        "",
        "p24",
        json!({"spec": {"disabled": true}}),
    )
    .await;
    let outcome = settle(SYNC, || async {
        let (code, body) = server
            .get_json(&format!("{BASE}/ippools/p24"), &token)
            .await;
        if code == 200 && body["spec"]["disabled"] == json!(true) {
            same(
                &body["status"],
                &status(256, 1, 255, 0, 0, json!({"ns1": 1}), 1, 0),
            )
        } else {
            Err(format!("{code} {body}"))
        }
    })
    .await;
    checks.check("case 21 disabled p24 counted", outcome);

    checks.finish();
    server.stop().await;
}

#[tokio::test]
async fn users_without_rbac_get_403_until_granted() {
    // Shared plane: no other test grants alice anything on IP pools (this one grants her `list`).
    let alice = ControlPlane::shared().token(User::Alice);
    let mut config = test_config();
    config.auth.cache_ttl_seconds = 0;
    let env = Env::start_with(config).await;

    let (code, body) = env
        .server
        .get_json(&format!("{BASE}/ippools"), &alice)
        .await;
    assert_eq!(code, 403, "{body}");
    assert_eq!(body["kind"], "Status", "{body}");
    assert_eq!(body["status"], "Failure", "{body}");
    assert_eq!(body["reason"], "Forbidden", "{body}");
    assert_eq!(body["code"], 403, "{body}");
    assert_eq!(
        body["message"],
        "ippools.crd.projectcalico.org is forbidden: User \"alice\" cannot list resource \"ippools\" \
         in API group \"crd.projectcalico.org\" at the cluster scope"
    );

    env.create_all(
        vec![
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                   "metadata": {"name": "ippool-lister"},
                   "rules": [{"apiGroups": ["crd.projectcalico.org"], "resources": ["ippools"], "verbs": ["list"]}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                   "metadata": {"name": "alice-lists-ippools"},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "ippool-lister"},
                   "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}]}),
        ],
    )
    .await;
    let body = eventually(SYNC, "alice's list answers 200 once granted", || async {
        let (code, body) = env
            .server
            .get_json(&format!("{BASE}/ippools"), &alice)
            .await;
        if code == 200 {
            Ok(body)
        } else {
            Err(format!("{code} {body}"))
        }
    })
    .await;
    assert!(body.is_array(), "{body}");
    env.stop().await;
}
