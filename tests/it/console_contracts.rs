//! Console contracts (issue 13): the KubeSphere console's own requests, sent exactly as the console
//! sends them (method, path, query order and `qs` percent-encoding, `Content-Type`, body), against
//! the shared control plane, asserting the fields the console code reads. Each request cites the
//! bundle file (kubesphere/console master, `packages/bootstrap/assets/v3dist/`) and the store method
//! that sends it and reads the answer; docs/console.md has the table and the evidence.
//!
//! How the console builds a request (`main.558f452048e49db23323.js`, `request` → `function v`): the
//! URL gets a leading `/`; GET parameters are `qs.stringify`d in insertion order (`/` → `%2F`,
//! `=` → `%3D`, `,` → `%2C`, `!` → `%21`); the `content-type` is `application/merge-patch+json`
//! for PATCH and `application/json` otherwise unless the store overrides it; non-GET bodies are
//! `JSON.stringify(params)` (a form when the store asks for one), so a DELETE carries `{}`; a POST
//! body with `metadata` gets the annotation `kubesphere.io/creator`. Base store `fetchList`
//! (same bundle) adds `sortBy=createTime` unless given, turns `limit: -1` into `limit=-1&page=1`,
//! and reads `items` and `totalItems || totalCount || total_count || items.length`.
//!
//! Every test uses its own namespaces and pools (unique names); reads poll until the server's watch
//! caches reflect the writes.

use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{Value, json};

use crate::support::api::{MIGRATIONS, NP, NSNP, SYNC, V2, V3};
use crate::support::console;
use crate::support::fixtures::{Checks, api, eventually, item_names, names, namespace, pod, pool};
use crate::support::{Env, unique_name};

/// A /24 in 100.64.0.0/10 (shared address space no other test uses), a different one on every call, so
/// that this module's pools do not overlap each other's.
fn cidr24() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("100.{}.{}.0/24", 64 + n / 256, n % 256)
}

/// GETs `path` until `ready` accepts the answer; returns it.
async fn poll(env: &Env, path: &str, ready: impl Fn(u16, &Value) -> bool) -> Value {
    eventually(SYNC, path, || async {
        let (code, body) = env.get(path).await;
        if ready(code, &body) {
            Ok(body)
        } else {
            Err(format!("{code} {body}"))
        }
    })
    .await
}

/// The `metadata.name`s of a bare array.
fn array_names(body: &Value) -> Vec<String> {
    names(body.as_array().map(Vec::as_slice).unwrap_or_default())
}

/// What the console's IPPool mapper (`main.558f…js`, `ippools: function(e)`) and the pool dialogs
/// read from one pool, as JSON.
fn pool_fields(item: &Value) -> Value {
    json!({
        "name": item["metadata"]["name"],
        "cidr": item["spec"]["cidr"],
        "disabled": item["spec"]["disabled"].as_bool().unwrap_or(false),
        "capacity": item["status"]["capacity"].is_number(),
        "unallocated": item["status"]["unallocated"].is_number(),
        "allocations": item["status"]["allocations"].is_number(),
        "tunnel": item["status"]["tunnel"].is_number(),
    })
}

fn expected_pool_fields(name: &str, cidr: &str) -> Value {
    json!({"name": name, "cidr": cidr, "disabled": false, "capacity": true, "unallocated": true,
           "allocations": true, "tunnel": true})
}

#[tokio::test]
async fn console_ippool_requests_get_the_shapes_the_console_reads() {
    let env = Env::start().await;
    let (pa, pb, pc) = (
        unique_name("cc-pa"),
        unique_name("cc-pb"),
        unique_name("cc-pc"),
    );
    let (cidr_a, cidr_c) = (cidr24(), cidr24());
    env.create_all(vec![
        pool(&pa, json!({"cidr": cidr_a})),
        pool(&pb, json!({"cidr": cidr24(), "disabled": true})),
        pool(&pc, json!({"cidr": cidr_c})),
    ])
    .await;
    let ns = unique_name("cc-ns");
    let bindings = json!({format!("ippool.network.kubesphere.io/{pa}"): "",
                          format!("ippool.network.kubesphere.io/{pb}"): "",
                          format!("ippool.network.kubesphere.io/{pc}"): ""});
    env.create(namespace(&ns, bindings, json!({}))).await;
    let mut checks = Checks::default();

    // Workload form, "Pod IP pool" (`1.9ca3a76d71946712055c.js`; the form section calls both):
    // - IPPool store `fetchNamespacesIpPools` (`request.get(…/namespaces/{ns}/ippools, {limit: -1})`, then
    //   `o.map(…)`: a bare array), then keeps pools with `disabled !== true` and `status.unallocated >= replicas`;
    // - the pool table's `componentDidMount` → `getStoreByCluster(cluster)` (the Calico-cluster store for
    //   ksVersion ≥ 3.4.1) `fetchList({limit: -1, cluster, namespace, status: "enabled"})`: `sortBy` and
    //   `page` added by `fetchList`, answer read as `items || (isArray ? answer : [])` and shown in the
    //   answer's order. The pools usable by a namespace are never disabled (algorithms §5), sorted by
    //   name (createTime order, newest first, would put `pc` first).
    for query in [
        "limit=-1",
        "limit=-1&status=enabled&sortBy=createTime&page=1",
    ] {
        let path = format!("{V2}/namespaces/{ns}/ippools?{query}");
        let body = poll(&env, &path, |code, body| {
            code == 200 && array_names(body) == [pa.clone(), pc.clone()]
        })
        .await;
        checks.eq(
            &format!("workload picker {query}"),
            &body
                .as_array()
                .unwrap()
                .iter()
                .map(pool_fields)
                .collect::<Vec<_>>(),
            &vec![
                expected_pool_fields(&pa, &cidr_a),
                expected_pool_fields(&pc, &cidr_c),
            ],
        );
    }

    // Pool create dialog (`3.bb6cbee4309e765b70c1.js`, action `network.ippool.add`): one
    // `POST /apis/crd.projectcalico.org/v1/ippools` per pool of the form (its defaults: `blockSize` 26,
    // IPIP `Always`, NAT on, `nodeSelector` `all()`; `spec.type` is pruned by the CRD), with the creator
    // annotation. Eight, so that with the three above the pools page has more than its `limit=10`.
    let created: Vec<String> = (0..8).map(|_| unique_name("ippool-cc")).collect();
    for name in &created {
        let body = json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool",
            "metadata": {"name": name, "annotations": {}},
            "spec": {"type": "calico", "cidr": cidr24(), "blockSize": 26, "disabled": false,
                     "ipipMode": "Always", "vxlanMode": "Never", "natOutgoing": true,
                     "nodeSelector": "all()"}});
        console::create(
            &env.admin,
            "/apis/crd.projectcalico.org/v1/ippools",
            body,
            "admin",
        )
        .await;
    }
    // Pools page: `4.49e1bbd1d064c2cb5c0d.js` `componentDidMount` → `fetchList({hasStatus: false,
    // limit: -1, page: 1})`, then the table's `fetchList({sortBy, limit: 10})`; the Calico-cluster
    // store (`1.9ca3a76d71946712055c.js`, class with `getNetWorkUrl`, `fetchList`) reads
    // `get(f, "items") || (isArray(f) ? f : [])` and `totalItems || … || items.length`. Every pool,
    // whatever `limit` says: the page passes the list as `allList` to the create dialog, which checks
    // the new CIDRs against it (`cidrOverlap`), and resets `page` > 1 to 1 (docs/console.md).
    let ours: Vec<&String> = [&pa, &pb, &pc].into_iter().chain(&created).collect();
    for query in [
        "hasStatus=false&limit=-1&page=1&sortBy=createTime",
        "sortBy=createTime&limit=10",
    ] {
        let path = format!("{V2}/ippools?{query}");
        let body = poll(&env, &path, |code, body| {
            code == 200 && ours.iter().all(|p| array_names(body).contains(p))
        })
        .await;
        let item = |name: &str| {
            body.as_array()
                .unwrap()
                .iter()
                .find(|i| i["metadata"]["name"] == json!(name))
                .unwrap()
                .clone()
        };
        checks.eq(
            &format!("pools page {query}"),
            &pool_fields(&item(&pa)),
            &expected_pool_fields(&pa, &cidr_a),
        );
        let new = item(&created[0]);
        checks.eq(
            &format!("pools page {query}: a pool the dialog created"),
            &(
                &new["metadata"]["annotations"]["kubesphere.io/creator"],
                &new["status"]["capacity"],
                new["spec"].get("type"),
            ),
            &(&json!("admin"), &json!(256), None),
        );
    }
    // Pool detail: same store, `fetchDetail` → `GET …/ippools/{name}` → `mapper(a)`.
    let (code, body) = env.get(&format!("{V2}/ippools/{pa}")).await;
    checks.eq(
        "pool detail",
        &(code, pool_fields(&body)),
        &(200, expected_pool_fields(&pa, &cidr_a)),
    );

    // Disable dialog: `3.bb6cbee4309e765b70c1.js` → `fetchMigrateIpPool({limit: -1, name})`
    // (`1.9ca3…js`: `GET …/ippools/{name}/migrate`, reads `get(i, "items") || []`).
    let path = format!("{V2}/ippools/{pa}/migrate?limit=-1");
    let body = poll(&env, &path, |code, body| {
        code == 200 && body["items"].is_array() && item_names(body).contains(&pc)
    })
    .await;
    let targets = item_names(&body);
    checks.that(
        "migrate targets exclude the source and the disabled pool",
        !targets.contains(&pa) && !targets.contains(&pb),
        || format!("{targets:?}"),
    );
    // Then `migrate(cluster, old, new)`: `POST …/ippoolmigrations` with the form
    // `qs.stringify({oldippool, newippool})` and `content-type: application/x-www-form-urlencoded`.
    let (code, body) = env
        .send(
            reqwest::Method::POST,
            MIGRATIONS,
            Some("application/x-www-form-urlencoded"),
            &format!("oldippool={pa}&newippool={pc}"),
        )
        .await;
    checks.eq(
        "migration",
        &(code, &body["message"], &body["namespaces"]),
        &(200, &json!("success"), &json!([ns])),
    );
    let path = format!("{V2}/namespaces/{ns}/ippools?limit=-1");
    poll(&env, &path, |code, body| {
        code == 200 && array_names(body) == [pc.clone()]
    })
    .await;

    // 3.x console (release-3.4): `src/components/Forms/Workload/AdvanceSettings/PodIPRange/index.jsx`
    // → `stores/network/ippool.js` (`stores/base.js` `fetchList({cluster, namespace, limit: -1})`):
    // `GET kapis/resources.kubesphere.io/v1alpha3/namespaces/{ns}/ippools?limit=-1&sortBy=createTime&page=1`,
    // reads `items` and `totalItems`, keeps items with a non-zero `status.unallocated`.
    let path = format!("{V3}/namespaces/{ns}/ippools?limit=-1&sortBy=createTime&page=1");
    let body = poll(&env, &path, |code, body| {
        code == 200 && body["items"].is_array() && item_names(body) == [pc.clone()]
    })
    .await;
    checks.eq(
        "3.x workload picker",
        &(&body["totalItems"], pool_fields(&body["items"][0])),
        &(&json!(1), expected_pool_fields(&pc, &cidr_c)),
    );

    // Pool detail tab "projects": `1.9ca3…js` / `4.49e1…js` `fetchNamespacesList` → base
    // `fetchList({limit: -1, labelSelector: "ippool.network.kubesphere.io/<pool>"})`.
    let path = format!(
        "{V3}/namespaces?limit=-1&labelSelector=ippool.network.kubesphere.io%2F{pc}&sortBy=createTime&page=1"
    );
    let body = poll(&env, &path, |code, body| {
        code == 200 && body["items"].is_array() && item_names(body) == [ns.clone()]
    })
    .await;
    checks.eq(
        "projects of a pool: totalItems",
        &body["totalItems"],
        &json!(1),
    );

    // Pool detail tab "pods" (`4.49e1…js` pods card of the pool detail, base `fetchList` with
    // `limit: 6`, the pool's `selector` and `sortBy: startTime`): reads `items` and `totalItems`.
    // A pod whose IP lies in the pool carries the virtual pool label (algorithms §3).
    let ip = cidr_c.replace(".0/24", ".7");
    env.create(pod(&ns, "web-0", &[&ip], "Running", "2026-03-02T10:00:00Z"))
        .await;
    let path = format!(
        "{V3}/pods?limit=6&labelSelector=ippool.network.kubesphere.io%2Fname%3D{pc}&sortBy=startTime"
    );
    let body = poll(&env, &path, |code, body| {
        code == 200 && body["items"].is_array() && item_names(body) == ["web-0"]
    })
    .await;
    checks.eq("pods of a pool: totalItems", &body["totalItems"], &json!(1));
    // Page 2 of the same card (`&page=2` appended by the pagination).
    let (code, body) = env.get(&format!("{path}&page=2")).await;
    checks.eq(
        "pods of a pool, page 2",
        &(code, &body["items"], &body["totalItems"]),
        &(200, &json!([]), &json!(1)),
    );

    // 3.x pools page (`release-3.4` `src/pages/clusters/containers/Network/IPPools/index.jsx`,
    // `withList` → base `fetchList({cluster, name})` on `kapis/resources.kubesphere.io/v1alpha3/ippools`,
    // the search box adds `name`): reads `items` and `totalItems`.
    let path = format!("{V3}/ippools?name={pa}&sortBy=createTime&limit=10");
    let body = poll(&env, &path, |code, body| {
        code == 200 && body["items"].is_array() && item_names(body) == [pa.clone()]
    })
    .await;
    checks.eq(
        "3.x pools page",
        &(&body["totalItems"], pool_fields(&body["items"][0])),
        &(&json!(1), expected_pool_fields(&pa, &cidr_a)),
    );

    // Project picker of the bind dialog: base `fetchList` with `labelSelector: "!kubesphere.io/devopsproject"`.
    let path = format!(
        "{V3}/namespaces?limit=-1&sortBy=createTime&page=1&labelSelector=%21kubesphere.io%2Fdevopsproject"
    );
    let body = poll(&env, &path, |code, body| {
        code == 200 && item_names(body).contains(&ns)
    })
    .await;
    checks.that(
        "project picker: totalItems counts the items",
        body["totalItems"].as_u64() == body["items"].as_array().map(|i| i.len() as u64),
        || format!("{}", body["totalItems"]),
    );
    checks.finish();
    env.stop().await;
}

/// An NSNP with the console's labels.
fn nsnp(namespace: &str, name: &str, traffic: &str, direction: &str) -> Value {
    json!({"apiVersion": "network.kubesphere.io/v1alpha1", "kind": "NamespaceNetworkPolicy",
           "metadata": {"name": name, "namespace": namespace,
                        "labels": {"kubesphere.io/policy-traffic": traffic,
                                   "kubesphere.io/policy-type": direction}},
           "spec": {"policyTypes": ["Ingress"],
                    "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]}})
}

#[tokio::test]
async fn console_project_policy_requests_get_the_shapes_the_console_reads() {
    let env = Env::start().await;
    let (ns, ws) = (unique_name("cc-pol"), unique_name("cc-ws"));
    env.create(namespace(
        &ns,
        json!({"kubesphere.io/workspace": ws}),
        json!({}),
    ))
    .await;
    env.create_all(
        (1..=12)
            .map(|i| {
                let direction = if i % 2 == 0 { "egress" } else { "ingress" };
                nsnp(&ns, &format!("out-{i:02}"), "outside", direction)
            })
            .collect(),
    )
    .await;
    let nsnps = format!("{NSNP}/namespaces/{ns}/namespacenetworkpolicies");
    let mut checks = Checks::default();

    // Allowlist dialog, "projects" tab (`3.bb6cbee4309e765b70c1.js`, action `network.policies.add`): the
    // form template `{apiVersion, kind, metadata: {namespace}, spec: {}}` gets the peers, the name
    // `policy-from-<id>` and the two labels, and is created with the base store's `create`:
    // `POST /apis/network.kubesphere.io/v1alpha1/namespaces/{ns}/namespacenetworkpolicies`.
    let inside = json!({"apiVersion": "network.kubesphere.io/v1alpha1", "kind": "NamespaceNetworkPolicy",
        "metadata": {"namespace": ns, "name": "policy-from-3f9a1c",
                     "labels": {"kubesphere.io/policy-traffic": "inside", "kubesphere.io/policy-type": "ingress"}},
        "spec": {"ingress": [{"from": [{"namespace": {"name": "kube-system"}}]}]}});
    let path =
        format!("/apis/network.kubesphere.io/v1alpha1/namespaces/{ns}/namespacenetworkpolicies");
    console::create(&env.admin, &path, inside, "admin").await;

    // Allowlist inside the workspace: `12.2a69b0c5dbf5a00a4a8d.js` `fetchInside` → base
    // `fetchList({limit: -1, labelSelector: "kubesphere.io/policy-traffic=inside"})` (the NSNP store,
    // `1.9ca3…js`, only overrides the URL): reads `items`.
    let path = format!(
        "{nsnps}?limit=-1&labelSelector=kubesphere.io%2Fpolicy-traffic%3Dinside&sortBy=createTime&page=1"
    );
    let body = poll(&env, &path, |code, body| {
        code == 200 && body["items"].is_array() && item_names(body) == ["policy-from-3f9a1c"]
    })
    .await;
    let metadata = &body["items"][0]["metadata"];
    checks.eq(
        "inside list: the created allowlist entry",
        &(
            &metadata["labels"]["kubesphere.io/policy-traffic"],
            &metadata["annotations"]["kubesphere.io/creator"],
        ),
        &(&json!("inside"), &json!("admin")),
    );

    // IP blocks outside the workspace: `12.2a69…js` `fetchOutside` → NSNP store `fetchListOut`
    // (`1.9ca3…js`): `{workspace, limit: 10, labelSelector}`, then `continue` (from the previous
    // page's `metadata.continue`) and `page`; reads `items.map`, `metadata.continue` and, on page 1,
    // `total = items.length + metadata.remainingItemCount`.
    let selector = "kubesphere.io%2Fpolicy-traffic%3Doutside";
    let page1 = format!("{nsnps}?workspace={ws}&limit=10&labelSelector={selector}&page=1");
    let body = poll(&env, &page1, |code, body| {
        code == 200 && body["metadata"]["remainingItemCount"] == json!(2)
    })
    .await;
    let total = body["items"].as_array().map_or(0, Vec::len) as u64
        + body["metadata"]["remainingItemCount"].as_u64().unwrap_or(0);
    let token = body["metadata"]["continue"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    checks.eq("outside page 1: total", &total, &12);
    checks.that(
        "outside page 1: continue is a string",
        !token.is_empty(),
        || format!("{}", body["metadata"]),
    );
    let page2 =
        format!("{nsnps}?workspace={ws}&limit=10&labelSelector={selector}&continue={token}&page=2");
    let (code, body2) = env.get(&page2).await;
    let mut both = item_names(&body);
    both.extend(item_names(&body2));
    both.sort();
    checks.eq(
        "outside pages 1 and 2 cover every entry once",
        &(code, both),
        &(
            200,
            (1..=12).map(|i| format!("out-{i:02}")).collect::<Vec<_>>(),
        ),
    );
    // The direction filter adds `%2Ckubesphere.io%2Fpolicy-type%3Degress`.
    let (code, body) = env
        .get(&format!(
            "{nsnps}?workspace={ws}&limit=10&labelSelector={selector}%2Ckubesphere.io%2Fpolicy-type%3Degress&page=1"
        ))
        .await;
    checks.eq(
        "outside egress",
        &(
            code,
            item_names(&body).len(),
            &body["metadata"]["remainingItemCount"],
        ),
        &(200, 6, &json!(0)),
    );

    // Services of the project (the allowlist dialog): base `fetchList` on v1alpha3 `services`.
    let (code, body) = env
        .get(&format!(
            "{V3}/namespaces/{ns}/services?limit=-1&sortBy=createTime&page=1"
        ))
        .await;
    checks.eq(
        "services",
        &(code, &body["items"], &body["totalItems"]),
        &(200, &json!([]), &json!(0)),
    );
    // 3.x allowlist (`release-3.4` `src/pages/projects/containers/Network/Policies/RuleInfo/index.jsx`
    // `componentDidMount`): the same services request, and `stores/project.js` `fetchList({cluster, limit: -1})`,
    // whose `withTypeSelectParams` appends the default `labelSelector` last.
    let path = format!(
        "{V3}/namespaces?limit=-1&sortBy=createTime&page=1&labelSelector=%21kubesphere.io%2Fkubefed-host-namespace%2C%21kubesphere.io%2Fdevopsproject"
    );
    let body = poll(&env, &path, |code, body| {
        code == 200 && body["items"].is_array() && item_names(body).contains(&ns)
    })
    .await;
    checks.that(
        "3.x projects: totalItems counts the items",
        body["totalItems"].as_u64() == body["items"].as_array().map(|i| i.len() as u64),
        || format!("{}", body["totalItems"]),
    );
    // 3.x allowlist dialog (`src/components/Modals/Network/Policies/index.jsx` `componentDidMount`): the
    // projects of the workspace, `labelSelector` given, so it comes before `sortBy` and `page`.
    let path = format!(
        "{V3}/namespaces?limit=-1&labelSelector=%21kubesphere.io%2Fkubefed-host-namespace%2C%21kubesphere.io%2Fdevopsproject%2Ckubesphere.io%2Fworkspace%3D{ws}&sortBy=createTime&page=1"
    );
    let (code, body) = env.get(&path).await;
    checks.eq(
        "3.x dialog: projects of the workspace",
        &(code, item_names(&body), &body["totalItems"]),
        &(200, vec![ns.clone()], &json!(1)),
    );
    checks.finish();
    env.stop().await;
}

#[tokio::test]
async fn console_networkpolicy_requests_get_the_shapes_the_console_reads() {
    let env = Env::start().await;
    let ns = env.namespace("cc-np").await;
    let web = unique_name("cc-web");
    let list = format!("{NP}/namespaces/{ns}/networkpolicies");
    let mut checks = Checks::default();

    // Create: base store `create` → `POST …/namespaces/{ns}/networkpolicies`, JSON, with the
    // creator annotation that `request` adds to every POST body with `metadata`.
    let policy = json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": web, "namespace": ns,
                     "annotations": {"kubesphere.io/creator": "admin"}},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}});
    let (code, body) = env.post(&list, &policy).await;
    checks.eq(
        "create",
        &(
            code,
            &body["metadata"]["annotations"]["kubesphere.io/creator"],
        ),
        &(201, &json!("admin")),
    );

    // Cluster page: `4.49e1bbd1d064c2cb5c0d.js` NetworkPolicy store `fetchList` →
    // `GET /kapis/networking.k8s.io/v1[/namespaces/{ns}]/networkpolicies?limit=10&page=1`; reads
    // `items.map`, `metadata.continue || ""` and, on page 1, `items.length + remainingItemCount`.
    let body = poll(&env, &format!("{list}?limit=10&page=1"), |code, body| {
        code == 200 && body["items"].is_array() && item_names(body) == [web.clone()]
    })
    .await;
    checks.eq(
        "namespace list",
        &(
            body["metadata"]["continue"].is_string(),
            &body["metadata"]["remainingItemCount"],
        ),
        &(true, &json!(0)),
    );
    let (code, body) = env
        .get(&format!(
            "{NP}/networkpolicies?limit=10&page=1&name=web&sortBy=createTime&ascending=false"
        ))
        .await;
    checks.that(
        "cluster list",
        code == 200
            && body["items"].is_array()
            && body["metadata"]["remainingItemCount"].is_u64()
            && body["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["metadata"]["namespace"] == json!(ns)),
        || format!("{code} {body}"),
    );

    // Edit: base store `update` → `GET` the object, copy `metadata.resourceVersion`, `PUT` it.
    // 3.x cluster page (`release-3.4` `src/pages/clusters/containers/Network/Policies/index.jsx`,
    // `withList` → base `fetchList({cluster, name})` on v1alpha3 `networkpolicies`): `items`, `totalItems`.
    let (code, body) = env
        .get(&format!(
            "{V3}/networkpolicies?name={web}&sortBy=createTime&limit=10"
        ))
        .await;
    checks.eq(
        "3.x cluster page",
        &(code, item_names(&body), &body["totalItems"]),
        &(200, vec![web.clone()], &json!(1)),
    );

    let detail = format!("{list}/{web}");
    let current = env.wait_get(&detail).await;
    let mut edited = policy.clone();
    edited["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"].clone();
    edited["spec"]["policyTypes"] = json!(["Ingress", "Egress"]);
    let (code, body) = env
        .send(
            reqwest::Method::PUT,
            &detail,
            Some("application/json"),
            &edited.to_string(),
        )
        .await;
    checks.eq(
        "update",
        &(code, &body["spec"]["policyTypes"]),
        &(200, &json!(["Ingress", "Egress"])),
    );

    // Delete: base store `delete` → `DELETE …/{name}` with `content-type: application/json` and
    // the body `JSON.stringify({})`.
    let (code, _) = env
        .send(
            reqwest::Method::DELETE,
            &detail,
            Some("application/json"),
            "{}",
        )
        .await;
    checks.that("delete", code == 200 || code == 202, || format!("{code}"));
    let stored = api(&env.admin, "networking.k8s.io/v1", "NetworkPolicy", &ns)
        .get_opt(&web)
        .await
        .unwrap();
    checks.that("deleted from kube-apiserver", stored.is_none(), || {
        format!("{stored:?}")
    });
    checks.finish();
    env.stop().await;
}
