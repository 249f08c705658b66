//! The NetworkPolicy controller against the real apiserver, read back from the cluster: NSNP → NetworkPolicy
//! (cases 125–140), isolation (cases 141–153), ownership and adoption, Events, and the leader hand-over
//! between two controller processes. On the exclusive plane: the controller acts on every namespace.

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use ks_network_apiserver::app::Mode;
use ks_network_apiserver::config::Config;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

use crate::support::api::SYNC;
use crate::support::console;
use crate::support::exclusive::Exclusive;
use crate::support::fixtures::{Sample, eventually, metric, namespace, parse_metrics, same};
use crate::support::{CrdSet, TestServer, User, test_config, unique_name};

const ISOLATED: &str = "kubesphere.io/network-isolate";

/// `spec` of NetworkPolicy `namespace/name`, `None` when it does not exist.
async fn spec_of(admin: &Client, namespace: &str, name: &str) -> Option<Value> {
    let policy = Api::<NetworkPolicy>::namespaced(admin.clone(), namespace)
        .get_opt(name)
        .await
        .ok()??;
    Some(serde_json::to_value(policy.spec).unwrap_or_default())
}

/// Name and resourceVersion of every NetworkPolicy in `namespace`.
async fn versions(admin: &Client, namespace: &str) -> Vec<(String, Option<String>)> {
    let list = Api::<NetworkPolicy>::namespaced(admin.clone(), namespace)
        .list(&Default::default())
        .await
        .expect("list NetworkPolicies");
    list.items
        .iter()
        .map(|p| (p.name_any(), p.resource_version()))
        .collect()
}

/// Waits until `namespace/name` has exactly `spec`.
async fn expect_spec(admin: &Client, namespace: &str, name: &str, spec: Value) {
    let what = format!("NetworkPolicy {namespace}/{name} with the expected spec");
    eventually(SYNC, &what, || async {
        let actual = spec_of(admin, namespace, name).await.unwrap_or(Value::Null);
        same(&actual, &spec)
    })
    .await
}

/// Waits until `namespace/name` does not exist.
async fn expect_absent(admin: &Client, namespace: &str, name: &str) {
    let what = format!("NetworkPolicy {namespace}/{name} to be absent");
    eventually(SYNC, &what, || async {
        match spec_of(admin, namespace, name).await {
            None => Ok(()),
            Some(spec) => Err(spec.to_string()),
        }
    })
    .await
}

/// Waits for an Event `reason` about `object` in `namespace` whose note contains `text`.
async fn expect_event(admin: &Client, namespace: &str, object: &str, reason: &str, text: &str) {
    let what = format!("Event {reason} on {namespace}/{object} containing {text:?}");
    eventually(SYNC, &what, || async {
        let events = Api::<Event>::namespaced(admin.clone(), namespace)
            .list(&Default::default())
            .await
            .map_err(|e| e.to_string())?;
        let found = events.items.iter().any(|event| {
            event.reason.as_deref() == Some(reason)
                && event.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(object)
                && event.note.as_deref().is_some_and(|n| n.contains(text))
        });
        found.then_some(()).ok_or_else(|| {
            let seen: Vec<_> = events.items.iter().map(|e| (&e.reason, &e.note)).collect();
            format!("{seen:?}")
        })
    })
    .await
}

fn nsnp(namespace: &str, name: &str, spec: Value) -> Value {
    json!({"apiVersion": "network.kubesphere.io/v1alpha1", "kind": "NamespaceNetworkPolicy",
           "metadata": {"name": name, "namespace": namespace}, "spec": spec})
}

fn service(namespace: &str, name: &str, selector: Value, ports: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
           "spec": {"selector": selector, "ports": ports}})
}

fn network_policy(namespace: &str, name: &str, owners: Value) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
           "metadata": {"name": name, "namespace": namespace, "ownerReferences": owners},
           "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}})
}

fn ns_selector(name: &str) -> Value {
    json!({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}})
}

/// The console's project isolation switch (`12.2a69b0c5dbf5a00a4a8d.js` and 3.x
/// `src/pages/projects/containers/Network/Policies/index.jsx`, `toggleNetworkIsolate` → project store `patch`):
/// `PATCH /api/v1/namespaces/{ns}`, `application/merge-patch+json`, `{"metadata":{"annotations":{key: value}}}`
/// with `enabled` for on and `""` for off.
async fn set_annotation(admin: &Client, namespace: &str, key: &str, value: &str) {
    let patch = json!({"metadata": {"annotations": {key: value}}});
    let path = format!("/api/v1/namespaces/{namespace}");
    let content_type = "application/merge-patch+json";
    console::send(admin, http::Method::PATCH, &path, content_type, &patch).await;
}

/// A controller-mode server with `config` on the exclusive plane, ready.
async fn controller(cluster: &Exclusive, mut config: Config) -> TestServer<'static> {
    config.server.metrics_require_auth = false;
    let server = TestServer::start_mode(cluster.plane(), config, Mode::Controller).await;
    server.wait_ready().await;
    server
}

#[tokio::test]
async fn namespace_network_policies_render_while_isolated() {
    let mut cluster = Exclusive::acquire(CrdSet::All).await;
    let admin = cluster.admin().clone();
    // F-N, with names of this test.
    let (a, b) = (unique_name("testns"), unique_name("testns2"));
    let isolated = json!({ISOLATED: "enabled"});
    cluster
        .create_all(vec![
            namespace(&a, json!({}), isolated.clone()),
            namespace(&b, json!({}), isolated),
            service(&a, "myservice", json!({"app": "mylbapp"}),
                json!([{"protocol": "TCP", "port": 80, "targetPort": 9376}])),
            service(&a, "named", json!({"app": "web"}),
                json!([{"name": "http", "protocol": "TCP", "port": 80, "targetPort": "http"}, {"name": "mdns", "protocol": "UDP", "port": 5353}])),
            // 140: a user's nsnp-* policy, a legacy one to adopt, and one owned by someone else.
            network_policy(&a, "nsnp-user", json!([])),
            network_policy(&a, "nsnp-legacy", json!([])),
            network_policy(&a, "nsnp-x", json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "cm",
                "uid": "8b1e0c44-0000-4000-8000-000000000001", "controller": true}])),
        ])
        .await;
    let server = controller(&cluster, test_config()).await;
    // Controller mode serves the operational endpoints only (api §5).
    let token = cluster.plane().token(User::Admin);
    let (code, _) = server
        .get_json("/kapis/network.kubesphere.io/v1alpha2/ippools", &token)
        .await;
    assert_eq!(code, 404);

    let svc_peer = json!({"podSelector": {"matchLabels": {"app": "mylbapp"}},
                          "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": a}}});
    let cases: Vec<(&str, &String, Value, Value)> = vec![
        (
            "n48",
            &b,
            json!({"ingress": [{"from": [{"ipBlock": {"cidr": "172.0.0.1/16"}}], "ports": [{"protocol": "TCP", "port": 80}]}]}),
            json!({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "172.0.0.1/16"}}], "ports": [{"protocol": "TCP", "port": 80}]}], "policyTypes": ["Ingress"]}),
        ),
        (
            "ns-peer",
            &b,
            json!({"ingress": [{"from": [{"namespace": {"name": a}}]}]}),
            json!({"podSelector": {}, "ingress": [{"from": [ns_selector(&a)]}], "policyTypes": ["Ingress"]}),
        ),
        (
            "svc-in",
            &b,
            json!({"ingress": [{"from": [{"service": {"name": "myservice", "namespace": a}}]}]}),
            json!({"podSelector": {}, "ingress": [{"from": [svc_peer]}], "policyTypes": ["Ingress"]}),
        ),
        (
            "svc-out",
            &b,
            json!({"egress": [{"to": [{"service": {"name": "myservice", "namespace": a}}]}]}),
            json!({"podSelector": {}, "egress": [{"to": [svc_peer], "ports": [{"protocol": "TCP", "port": 9376}]}], "policyTypes": ["Egress"]}),
        ),
        (
            "named",
            &a,
            json!({"egress": [{"to": [{"service": {"name": "named"}}]}]}),
            json!({"podSelector": {}, "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "web"}}, "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": a}}}],
                "ports": [{"protocol": "TCP", "port": "http"}, {"protocol": "UDP", "port": 5353}]}], "policyTypes": ["Egress"]}),
        ),
        (
            "ports-only",
            &b,
            json!({"egress": [{"ports": [{"protocol": "TCP", "port": 443}]}]}),
            json!({"podSelector": {}, "egress": [{"ports": [{"protocol": "TCP", "port": 443}]}], "policyTypes": ["Egress"]}),
        ),
        (
            "empty-rule",
            &b,
            json!({"egress": [{}]}),
            json!({"podSelector": {}, "egress": [{}], "policyTypes": ["Egress"]}),
        ),
        (
            "deny-all",
            &b,
            json!({"policyTypes": ["Ingress"]}),
            json!({"podSelector": {}, "policyTypes": ["Ingress"]}),
        ),
        (
            "types",
            &b,
            json!({"policyTypes": ["Egress"], "ingress": [{"from": [{"namespace": {"name": "x"}}]}], "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]}),
            json!({"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}], "policyTypes": ["Egress"]}),
        ),
        (
            "both",
            &b,
            json!({"ingress": [{}], "egress": [{}]}),
            json!({"podSelector": {}, "ingress": [{}], "egress": [{}], "policyTypes": ["Egress", "Ingress"]}),
        ),
        (
            "mixed",
            &a,
            json!({"egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}, {"service": {"name": "myservice"}}], "ports": [{"protocol": "UDP", "port": 53}]}]}),
            json!({"podSelector": {}, "egress": [{"to": [svc_peer], "ports": [{"protocol": "TCP", "port": 9376}]},
                {"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"protocol": "UDP", "port": 53}]}], "policyTypes": ["Egress"]}),
        ),
        // 137 on kube-apiserver 1.20, which drops `endPort` when it stores the policy.
        (
            "range",
            &b,
            json!({"egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"protocol": "TCP", "port": 8000, "endPort": 8100}]}]}),
            json!({"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"protocol": "TCP", "port": 8000}]}], "policyTypes": ["Egress"]}),
        ),
        (
            "legacy",
            &a,
            json!({"ingress": [{}]}),
            json!({"podSelector": {}, "ingress": [{}], "policyTypes": ["Ingress"]}),
        ),
    ];
    let mut objects: Vec<Value> = cases
        .iter()
        .map(|(name, ns, spec, _)| nsnp(ns, name, spec.clone()))
        .collect();
    objects.push(nsnp(&b, "empty", json!({"ingress": []})));
    objects.push(nsnp(
        &a,
        "nosvc",
        json!({"egress": [{"to": [{"service": {"name": "nosvc"}}]}]}),
    ));
    objects.push(nsnp(&a, "x", json!({"ingress": [{}]})));
    let created = cluster.create_all(objects).await;

    // 125–131, 133–137, and 140's adoption of `nsnp-legacy`: exact specs.
    for (name, ns, _, expected) in &cases {
        expect_spec(&admin, ns, &format!("nsnp-{name}"), expected.clone()).await;
    }
    // A pass with nothing to change writes nothing.
    let before = versions(&admin, &b).await;
    let passes = reconciles(&server).await;
    let touch = json!({"metadata": {"labels": {"touched": "yes"}}});
    Api::<Namespace>::all(admin.clone())
        .patch(&b, &PatchParams::default(), &Patch::Merge(&touch))
        .await
        .expect("touch namespace");
    eventually(SYNC, "another pass over the namespace", || async {
        let now = reconciles(&server).await;
        (now > passes).then_some(()).ok_or(format!("{now} passes"))
    })
    .await;
    assert_eq!(
        versions(&admin, &b).await,
        before,
        "a pass with nothing to change rewrote policies"
    );
    // 139: ownership metadata.
    let policies = Api::<NetworkPolicy>::namespaced(admin.clone(), &b);
    let n48 = policies.get("nsnp-n48").await.expect("nsnp-n48");
    let owner_uid = created[0]["metadata"]["uid"].as_str().unwrap_or_default();
    assert_eq!(
        n48.labels()
            .get("app.kubernetes.io/managed-by")
            .map(String::as_str),
        Some("ks-network-apiserver")
    );
    let owners = serde_json::to_value(n48.owner_references()).unwrap_or_default();
    same(
        &owners,
        &json!([{"apiVersion": "network.kubesphere.io/v1alpha1", "kind": "NamespaceNetworkPolicy",
        "name": "n48", "uid": owner_uid, "controller": true}]),
    )
    .unwrap();
    // 140: adopted, with the ownerReference; the user's stays; the foreign one is untouched, NameConflict.
    let legacy = Api::<NetworkPolicy>::namespaced(admin.clone(), &a)
        .get("nsnp-legacy")
        .await
        .expect("nsnp-legacy");
    assert_eq!(legacy.owner_references().len(), 1);
    assert_eq!(legacy.owner_references()[0].name, "legacy");
    expect_event(&admin, &a, "x", "NameConflict", "nsnp-x").await;
    same(
        &spec_of(&admin, &a, "nsnp-x").await.unwrap_or_default(),
        &json!({"podSelector": {}, "policyTypes": ["Ingress"]}),
    )
    .unwrap();
    assert!(spec_of(&admin, &a, "nsnp-user").await.is_some());
    // 132: empty arrays deny nothing.
    expect_event(&admin, &b, "empty", "NothingToEnforce", "").await;
    assert!(spec_of(&admin, &b, "nsnp-empty").await.is_none());
    // 138: a missing Service fails the translation until it exists.
    expect_event(
        &admin,
        &a,
        "nosvc",
        "TranslationFailed",
        &format!("service {a}/nosvc not found"),
    )
    .await;
    assert!(spec_of(&admin, &a, "nsnp-nosvc").await.is_none());
    cluster
        .create(service(
            &a,
            "nosvc",
            json!({"app": "x"}),
            json!([{"protocol": "TCP", "port": 80}]),
        ))
        .await;
    expect_spec(&admin, &a, "nsnp-nosvc", json!({"podSelector": {}, "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "x"}},
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": a}}}], "ports": [{"protocol": "TCP", "port": 80}]}],
        "policyTypes": ["Egress"]})).await;
    // 139: deleting the NSNP removes its policy (no garbage collector runs here: the controller does it).
    Api::<ks_network_apiserver::cluster::kubesphere::NamespaceNetworkPolicy>::namespaced(
        admin.clone(),
        &b,
    )
    .delete("n48", &DeleteParams::default())
    .await
    .expect("delete nsnp");
    expect_absent(&admin, &b, "nsnp-n48").await;
    // A hand edit of an owned policy is put back.
    let patch = json!({"spec": {"policyTypes": ["Ingress", "Egress"]}});
    Api::<NetworkPolicy>::namespaced(admin.clone(), &b)
        .patch(
            "nsnp-deny-all",
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .expect("edit");
    expect_spec(
        &admin,
        &b,
        "nsnp-deny-all",
        json!({"podSelector": {}, "policyTypes": ["Ingress"]}),
    )
    .await;
    // 145 (NSNP side): isolation off removes the rendered policies and keeps the NSNPs; on brings them back.
    set_annotation(&admin, &b, ISOLATED, "").await;
    expect_absent(&admin, &b, "nsnp-deny-all").await;
    expect_absent(&admin, &b, "nsnp-network-isolate").await;
    let kept =
        Api::<ks_network_apiserver::cluster::kubesphere::NamespaceNetworkPolicy>::namespaced(
            admin.clone(),
            &b,
        )
        .get_opt("deny-all")
        .await
        .expect("get nsnp");
    assert!(kept.is_some(), "NSNPs are never deleted");
    set_annotation(&admin, &b, ISOLATED, "enabled").await;
    expect_spec(
        &admin,
        &b,
        "nsnp-deny-all",
        json!({"podSelector": {}, "policyTypes": ["Ingress"]}),
    )
    .await;
    // 140: the user's policy survived every pass.
    assert!(spec_of(&admin, &a, "nsnp-user").await.is_some());
    server.stop().await;
}

fn workspace(name: &str, annotations: Value) -> Value {
    json!({"apiVersion": "tenant.kubesphere.io/v1beta1", "kind": "Workspace",
           "metadata": {"name": name, "annotations": annotations}, "spec": {}})
}

fn node(name: &str, snat: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Node",
           "metadata": {"name": name, "annotations": {"kubesphere.io/snat-node-ips": snat}}})
}

#[tokio::test]
async fn isolation_follows_namespaces_workspaces_and_nodes() {
    let mut cluster = Exclusive::acquire(CrdSet::All).await;
    let admin = cluster.admin().clone();
    let iso = "nsnp-network-isolate";
    let (plain, other, iso1) = (
        unique_name("plain"),
        unique_name("other"),
        unique_name("iso1"),
    );
    let (flag, mv, ghost, old) = (
        unique_name("flag"),
        unique_name("mv"),
        unique_name("ghost"),
        unique_name("old"),
    );
    let (w, ws1, ws2) = (unique_name("w"), unique_name("ws1"), unique_name("ws2"));
    let ws_label = "kubesphere.io/workspace";
    cluster
        .create_all(vec![
            workspace(&w, json!({})),
            workspace(&ws1, json!({ISOLATED: "enabled"})),
            workspace(&ws2, json!({ISOLATED: "enabled"})),
            namespace(&plain, json!({}), json!({})),
            namespace(
                &other,
                json!({}),
                json!({"kubesphere.io/workspace-isolate": "enabled", "x": "y"}),
            ),
            namespace(&iso1, json!({}), json!({ISOLATED: "enabled"})),
            namespace(&flag, json!({ws_label: w}), json!({})),
            namespace(&mv, json!({ws_label: ws1}), json!({})),
            namespace(&ghost, json!({ws_label: "no-such-workspace"}), json!({})),
            namespace(&old, json!({}), json!({})),
            node(&unique_name("n1"), "10.0.0.2;10.0.0.1"),
            node(&unique_name("n2"), "10.0.0.1;bogus;fd00::1"),
            service(
                "kube-system",
                "kube-dns",
                json!({"k8s-app": "kube-dns"}),
                json!([{"name": "dns", "protocol": "UDP", "port": 53, "targetPort": 53},
                       {"name": "dns-tcp", "protocol": "TCP", "port": 53, "targetPort": 53},
                       {"name": "metrics", "protocol": "TCP", "port": 9153, "targetPort": 9153}]),
            ),
        ])
        .await;
    let server = controller(&cluster, test_config()).await;
    let snat = json!({"from": [{"ipBlock": {"cidr": "10.0.0.1/32"}}, {"ipBlock": {"cidr": "10.0.0.2/32"}},
                               {"ipBlock": {"cidr": "fd00::1/128"}}]});
    let with_snat = |first: Value| json!({"podSelector": {}, "ingress": [{"from": [first]}, snat.clone()], "policyTypes": ["Ingress"]});

    // 142 + 150: namespace mode needs no workspace; SNAT node addresses are allowed in.
    expect_spec(&admin, &iso1, iso, with_snat(ns_selector(&iso1))).await;
    let policy = Api::<NetworkPolicy>::namespaced(admin.clone(), &iso1)
        .get(iso)
        .await
        .expect("isolation policy");
    assert_eq!(
        policy
            .labels()
            .get("network.kubesphere.io/isolation")
            .map(String::as_str),
        Some("namespace")
    );
    assert_eq!(
        policy
            .labels()
            .get("app.kubernetes.io/managed-by")
            .map(String::as_str),
        Some("ks-network-apiserver")
    );
    assert_eq!(policy.owner_references()[0].kind, "Namespace");
    assert_eq!(policy.owner_references()[0].name, iso1);
    // 151: workspace mode, and a move to another workspace re-renders.
    let ws_peer = |ws: &str| json!({"namespaceSelector": {"matchLabels": {ws_label: ws}}});
    expect_spec(&admin, &mv, iso, with_snat(ws_peer(&ws1))).await;
    let relabel = json!({"metadata": {"labels": {ws_label: ws2}}});
    Api::<Namespace>::all(admin.clone())
        .patch(&mv, &PatchParams::default(), &Patch::Merge(&relabel))
        .await
        .expect("relabel");
    expect_spec(&admin, &mv, iso, with_snat(ws_peer(&ws2))).await;
    // 144: only the Workspace annotation counts; annotating it turns the namespace's isolation on.
    assert!(spec_of(&admin, &flag, iso).await.is_none());
    let annotate = json!({"metadata": {"annotations": {ISOLATED: "enabled"}}});
    Api::<ks_network_apiserver::cluster::kubesphere::Workspace>::all(admin.clone())
        .patch(&w, &PatchParams::default(), &Patch::Merge(&annotate))
        .await
        .expect("annotate workspace");
    expect_spec(&admin, &flag, iso, with_snat(ws_peer(&w))).await;
    // 147: workspace isolation renders NSNPs; switching the workspace off and on again removes and restores both.
    cluster
        .create(nsnp(&flag, "ok", json!({"ingress": [{}]})))
        .await;
    let ok = json!({"podSelector": {}, "ingress": [{}], "policyTypes": ["Ingress"]});
    expect_spec(&admin, &flag, "nsnp-ok", ok.clone()).await;
    let workspaces =
        Api::<ks_network_apiserver::cluster::kubesphere::Workspace>::all(admin.clone());
    let off = json!({"metadata": {"annotations": {ISOLATED: ""}}});
    workspaces
        .patch(&w, &PatchParams::default(), &Patch::Merge(&off))
        .await
        .expect("workspace off");
    expect_absent(&admin, &flag, iso).await;
    expect_absent(&admin, &flag, "nsnp-ok").await;
    workspaces
        .patch(&w, &PatchParams::default(), &Patch::Merge(&annotate))
        .await
        .expect("workspace on");
    expect_spec(&admin, &flag, iso, with_snat(ws_peer(&w))).await;
    expect_spec(&admin, &flag, "nsnp-ok", ok).await;
    // 148: an NSNP enforcing Egress brings DNS egress; deleting it takes it away.
    let egress = cluster
        .create(nsnp(
            &iso1,
            "out",
            json!({"egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]}),
        ))
        .await;
    let dns = json!([{"to": [{"ipBlock": {"cidr": "169.254.25.10/32"}}], "ports": [{"protocol": "TCP", "port": 53}, {"protocol": "UDP", "port": 53}]},
                     {"to": [{"podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}, "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}],
                      "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}, {"protocol": "TCP", "port": 9153}]}]);
    expect_spec(
        &admin,
        &iso1,
        iso,
        json!({"podSelector": {}, "ingress": [{"from": [ns_selector(&iso1)]}, snat.clone()],
        "egress": dns, "policyTypes": ["Ingress", "Egress"]}),
    )
    .await;
    // 149: without kube-dns the next DNS Service (coredns) is used; with neither, only the NodeLocal DNS rule
    // and a DNSServiceNotFound Event.
    let kube_dns = service("kube-system", "kube-dns", json!({}), json!([]));
    crate::support::fixtures::remove(&admin, &kube_dns).await;
    let coredns = cluster
        .create(service(
            "kube-system",
            "coredns",
            json!({"k8s-app": "coredns"}),
            json!([{"name": "dns", "protocol": "UDP", "port": 53, "targetPort": 53}]),
        ))
        .await;
    let node_local = json!({"to": [{"ipBlock": {"cidr": "169.254.25.10/32"}}],
        "ports": [{"protocol": "TCP", "port": 53}, {"protocol": "UDP", "port": 53}]});
    let via_coredns = json!({"to": [{"podSelector": {"matchLabels": {"k8s-app": "coredns"}},
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}],
        "ports": [{"protocol": "UDP", "port": 53}]});
    let with_egress = |egress: Value| {
        json!({"podSelector": {}, "ingress": [{"from": [ns_selector(&iso1)]}, snat.clone()],
               "egress": egress, "policyTypes": ["Ingress", "Egress"]})
    };
    expect_spec(
        &admin,
        &iso1,
        iso,
        with_egress(json!([node_local, via_coredns])),
    )
    .await;
    crate::support::fixtures::remove(&admin, &coredns).await;
    expect_spec(&admin, &iso1, iso, with_egress(json!([node_local]))).await;
    // Events about a Namespace (cluster-scoped) live in `default`, as client-go puts them.
    expect_event(
        &admin,
        "default",
        &iso1,
        "DNSServiceNotFound",
        "kube-system/coredns",
    )
    .await;
    crate::support::fixtures::remove(&admin, &egress).await;
    expect_spec(&admin, &iso1, iso, with_snat(ns_selector(&iso1))).await;
    // 141, 146, 152: no annotation, other annotations, other values, a missing workspace: no policy.
    set_annotation(&admin, &other, ISOLATED, "Enabled").await;
    for ns in [&plain, &other, &ghost] {
        assert!(
            spec_of(&admin, ns, iso).await.is_none(),
            "{ns} is not isolated"
        );
    }
    // 145: off removes it, back on restores it; the annotation reads back as "" (the console's switch).
    set_annotation(&admin, &iso1, ISOLATED, "").await;
    expect_absent(&admin, &iso1, iso).await;
    let ns = Api::<Namespace>::all(admin.clone())
        .get(&iso1)
        .await
        .expect("namespace");
    assert_eq!(ns.annotations().get(ISOLATED).map(String::as_str), Some(""));
    set_annotation(&admin, &iso1, ISOLATED, "enabled").await;
    expect_spec(&admin, &iso1, iso, with_snat(ns_selector(&iso1))).await;
    // 153: the namespace name label is ensured (Kubernetes 1.20 does not set it).
    let what = format!("{old} labelled with its name");
    eventually(SYNC, &what, || async {
        let ns = Api::<Namespace>::all(admin.clone())
            .get(&old)
            .await
            .map_err(|e| e.to_string())?;
        let label = ns.labels().get("kubernetes.io/metadata.name").cloned();
        (label.as_deref() == Some(old.as_str()))
            .then_some(())
            .ok_or(format!("{label:?}"))
    })
    .await;
    server.stop().await;

    // 143 + 149: allowed ingress namespaces, and DNS egress switched off.
    let mut config = test_config();
    config.isolation.allowed_ingress_namespaces = vec!["kubesphere-monitoring-system".into()];
    config.isolation.dns.enabled = false;
    let server = controller(&cluster, config).await;
    cluster
        .create(nsnp(
            &iso1,
            "out2",
            json!({"egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]}),
        ))
        .await;
    expect_spec(
        &admin,
        &iso1,
        iso,
        json!({"podSelector": {}, "ingress": [
        {"from": [ns_selector(&iso1), ns_selector("kubesphere-monitoring-system")]}, snat.clone()],
        "policyTypes": ["Ingress"]}),
    )
    .await;
    // 143's workspace-mode example: the workspace selector, then the allowed namespaces.
    let from = json!([ws_peer(&ws2), ns_selector("kubesphere-monitoring-system")]);
    expect_spec(
        &admin,
        &mv,
        iso,
        json!({"podSelector": {},
        "ingress": [{"from": from}, snat.clone()], "policyTypes": ["Ingress"]}),
    )
    .await;
    server.stop().await;
}

/// The samples of `server`'s `/metrics` (metrics need no credentials in the controller tests' configuration).
async fn samples(server: &TestServer<'_>) -> Vec<Sample> {
    let text = server
        .get("/metrics", None)
        .await
        .text()
        .await
        .unwrap_or_default();
    parse_metrics(&text)
}

/// Successful passes of the network-policy reconciler so far.
async fn reconciles(server: &TestServer<'_>) -> f64 {
    let labels = [("controller", "network-policy"), ("result", "ok")];
    metric(
        &samples(server).await,
        "ks_network_controller_reconciles_total",
        &labels,
    )
    .unwrap_or(0.0)
}

/// `ks_network_leader` of `server`.
async fn leads(server: &TestServer<'_>) -> bool {
    metric(&samples(server).await, "ks_network_leader", &[]) == Some(1.0)
}

#[tokio::test]
async fn a_second_replica_takes_over_when_the_leader_stops() {
    let mut cluster = Exclusive::acquire(CrdSet::All).await;
    let admin = cluster.admin().clone();
    let ns = unique_name("handover");
    cluster
        .create(namespace(&ns, json!({}), json!({ISOLATED: "enabled"})))
        .await;
    let config = test_config();
    let first = controller(&cluster, config.clone()).await;
    eventually(SYNC, "the first replica to lead", || async {
        leads(&first)
            .await
            .then_some(())
            .ok_or_else(|| "not leading".to_owned())
    })
    .await;
    // Same Lease: the second replica follows and writes nothing.
    let second = controller(&cluster, config).await;
    assert!(!leads(&second).await, "only one replica leads");
    expect_spec(
        &admin,
        &ns,
        "nsnp-network-isolate",
        json!({"podSelector": {},
        "ingress": [{"from": [ns_selector(&ns)]}], "policyTypes": ["Ingress"]}),
    )
    .await;

    first.stop().await;
    eventually(SYNC, "the second replica to take the lease", || async {
        leads(&second)
            .await
            .then_some(())
            .ok_or_else(|| "not leading".to_owned())
    })
    .await;
    cluster
        .create(nsnp(&ns, "after", json!({"ingress": [{}]})))
        .await;
    expect_spec(
        &admin,
        &ns,
        "nsnp-after",
        json!({"podSelector": {}, "ingress": [{}], "policyTypes": ["Ingress"]}),
    )
    .await;
    second.stop().await;
}
