//! The served lists against a plain reference over randomized clusters and queries: full objects, a full scan,
//! labels and filters as algorithms §3, §4.2 and §9 state them, a full sort and a slice, and serialisation
//! through `serde_json::Value`. The served path (indexes, remembered lists, compact cached pods, stored JSON) must
//! give the same answer to every query.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use serde_json::{Value, json};

use super::view::View;
use super::{ResourceList, v1alpha3_list};
use crate::auth::{Caller, Credential, Identity};
use crate::cluster::Caches;
use crate::cluster::compact::owner_references;
use crate::cluster::occupancy::namespace_input_of;
use crate::domain::binding::virtual_binding_labels;
use crate::domain::random::SplitMix64 as Random;
use crate::query::{ListQuery, SortBy, SortKey, derived_status, matches_query, page_bounds};
use crate::service::Context;
use crate::service::pools::PoolSet;

/// A small timestamp set, so that sort keys tie often.
fn time(random: &mut Random) -> String {
    format!(
        "2026-03-0{}T10:00:0{}Z",
        1 + random.below(2),
        random.below(3)
    )
}

/// kube-apiserver leaves empty maps out of what it serves.
fn without_empty_maps(mut object: Value) -> Value {
    if let Some(meta) = object["metadata"].as_object_mut() {
        meta.retain(|_, v| v.as_object().is_none_or(|m| !m.is_empty()));
    }
    object
}

fn cluster(random: &mut Random) -> Vec<Value> {
    let mut objects = Vec::new();
    let pools = 1 + random.below(4);
    for i in 0..pools {
        objects.push(
            json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool",
            "metadata": {"name": format!("pool-{i}"), "creationTimestamp": time(random)},
            "spec": {"cidr": format!("10.{i}.0.0/16")}}),
        );
    }
    objects.push(
        json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool",
        "metadata": {"name": "pool-v6"}, "spec": {"cidr": "fd00::/64"}}),
    );
    let namespaces = 1 + random.below(5);
    for n in 0..namespaces {
        let mut labels = BTreeMap::new();
        let mut annotations = BTreeMap::new();
        if random.chance(60) {
            labels.insert(
                "kubesphere.io/workspace".to_owned(),
                format!("ws-{}", random.below(2)),
            );
        }
        if random.chance(50) {
            let value = *random.pick(&["", "true", "no"]);
            labels.insert(
                format!("ippool.network.kubesphere.io/pool-{}", random.below(pools)),
                value.to_owned(),
            );
        }
        if random.chance(40) {
            annotations.insert(
                "cni.projectcalico.org/ipv4pools".to_owned(),
                format!("[\"pool-{}\"]", random.below(pools + 1)),
            );
        }
        if random.chance(30) {
            annotations.insert("kubesphere.io/alias-name".to_owned(), "Demo NS".to_owned());
        }
        objects.push(without_empty_maps(
            json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": format!("ns-{n}"), "uid": format!("ns-uid-{n}"), "labels": labels,
                         "annotations": annotations, "creationTimestamp": time(random)},
            "status": {"phase": *random.pick(&["Active", "Active", "Terminating"])}}),
        ));
        for k in 0..2 {
            objects.push(json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": format!("rs-{k}"), "namespace": format!("ns-{n}"), "uid": format!("rs-uid-{n}-{k}"),
                             "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": format!("dep-{k}"),
                                                  "uid": format!("dep-uid-{k}"), "controller": true}]},
                "spec": {"selector": {"matchLabels": {"app": "a"}}}}));
        }
        let selector = match random.below(3) {
            0 => json!({"app": "a"}),
            1 => json!({"tier": "web"}),
            _ => json!({}),
        };
        objects.push(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "svc-0", "namespace": format!("ns-{n}")}, "spec": {"selector": selector}}));
    }
    for j in 0..random.below(40) {
        let namespace = format!("ns-{}", random.below(namespaces));
        let mut labels = BTreeMap::new();
        if random.chance(70) {
            labels.insert(
                "app".to_owned(),
                (*random.pick(&["a", "b", "c"])).to_owned(),
            );
        }
        if random.chance(50) {
            labels.insert("tier".to_owned(), (*random.pick(&["web", "db"])).to_owned());
        }
        if random.chance(15) {
            labels.insert(
                "ippool.network.kubesphere.io/name".to_owned(),
                format!("pool-{}", random.below(pools)),
            );
        }
        let mut ips = Vec::new();
        match random.below(4) {
            0 => {}
            1 => ips.push(format!("192.168.0.{j}")),
            _ => ips.push(format!("10.{}.0.{j}", random.below(pools))),
        }
        if !ips.is_empty() && random.chance(20) {
            ips.push(format!("fd00::{j:x}"));
        }
        let pod_ips: Vec<Value> = ips.iter().map(|ip| json!({"ip": ip})).collect();
        let state = match random.below(4) {
            0 => json!({"running": {"startedAt": "2026-03-02T10:00:00Z"}}),
            1 => json!({"waiting": {"reason": "CrashLoopBackOff"}}),
            2 => json!({"terminated": {"reason": "Completed", "exitCode": 0}}),
            _ => json!({"terminated": {"reason": "Error", "exitCode": 1}}),
        };
        let owner = match random.below(3) {
            0 => json!([]),
            1 => {
                json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("rs-{}", random.below(2)),
                         "uid": format!("rs-uid-{}", random.below(2)), "controller": true}])
            }
            _ => {
                json!([{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "sts", "uid": "sts-uid", "controller": true}])
            }
        };
        let mut annotations = serde_json::Map::new();
        if random.chance(40) {
            annotations.insert("kubesphere.io/alias-name".into(), json!("Web Pod"));
        }
        if random.chance(50) {
            annotations.insert("team".into(), json!(*random.pick(&["a", "b"])));
        }
        let mut pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("p-{}", random.below(25)), "namespace": namespace, "uid": format!("uid-{j}"),
                         "labels": labels, "annotations": annotations, "creationTimestamp": time(random), "ownerReferences": owner,
                         "managedFields": [{"manager": "kubelet"}]},
            "spec": {"containers": [{"name": "c", "image": "pause"}], "nodeName": format!("node-{}", random.below(3)),
                     "hostNetwork": random.chance(10),
                     "volumes": if random.chance(30) { json!([{"name": "v", "persistentVolumeClaim": {"claimName": format!("claim-{}", random.below(2))}}]) } else { json!([]) }},
            "status": {"phase": *random.pick(&["Running", "Pending", "Succeeded", "Failed"]), "podIPs": pod_ips,
                       "containerStatuses": [{"name": "c", "ready": true, "restartCount": 0, "image": "pause", "imageID": "", "state": state}]}});
        if let Some(ip) = ips.first() {
            pod["status"]["podIP"] = json!(ip);
        }
        if random.chance(70) {
            pod["status"]["startTime"] = json!(time(random));
        }
        // Pods with the same namespace and name replace each other, as in a cluster.
        objects.retain(|o| {
            o["kind"] != "Pod"
                || o["metadata"]["namespace"] != pod["metadata"]["namespace"]
                || o["metadata"]["name"] != pod["metadata"]["name"]
        });
        objects.push(without_empty_maps(pod));
    }
    objects
}

fn pod_query(random: &mut Random) -> String {
    let mut pairs = Vec::new();
    if random.chance(70) {
        pairs.push(format!(
            "labelSelector={}",
            *random.pick(&[
                "app=a",
                "app in (a,b)",
                "app!=a",
                "!tier",
                "tier",
                "app=a,tier=web",
                "app notin (b)",
                "ippool.network.kubesphere.io/name=pool-1",
                "ippool.network.kubesphere.io/name in (pool-0,pool-2)",
                "ippool.network.kubesphere.io/name=pool-v6",
                "ippool.network.kubesphere.io/name",
                "!ippool.network.kubesphere.io/name",
                "app=a,ippool.network.kubesphere.io/name=pool-0",
            ])
        ));
    }
    for (key, values) in [
        ("status", &["Running", "Waiting", "Error", "Completed"][..]),
        ("nodeName", &["node-0", "node-1"]),
        ("pvcName", &["claim-0"]),
        ("phase", &["Running", "Failed"]),
        ("podIP", &["10.1.", "fd00"]),
        ("serviceName", &["svc-0"]),
        (
            "ownerReference",
            &["rs-uid-0", "rs-uid-1", "dep-uid-0", "sts-uid"],
        ),
        ("ownerKind", &["ReplicaSet", "StatefulSet"]),
        ("name", &["p-1", "p-2", "web"]),
        ("names", &["p-3,p-4"]),
        ("label", &["app=b", "tier"]),
        ("annotation", &["team=a", "team", "!team"]),
        ("uid", &["uid-1", "uid-2"]),
    ] {
        if random.chance(8) {
            pairs.push(format!("{key}={}", *random.pick(values)));
        }
    }
    pairs.extend(paging(random, "startTime"));
    pairs.join("&")
}

fn namespace_query(random: &mut Random) -> String {
    let mut pairs = Vec::new();
    if random.chance(70) {
        pairs.push(format!(
            "labelSelector={}",
            *random.pick(&[
                "ippool.network.kubesphere.io/pool-0",
                "ippool.network.kubesphere.io/pool-1",
                "ippool.network.kubesphere.io/pool-1=",
                "kubesphere.io/workspace=ws-1",
                "kubesphere.io/workspace",
                "!kubesphere.io/workspace",
            ])
        ));
    }
    if random.chance(20) {
        pairs.push(format!(
            "status={}",
            *random.pick(&["Active", "Terminating"])
        ));
    }
    if random.chance(15) {
        pairs.push(format!("name={}", *random.pick(&["ns-1", "demo"])));
    }
    pairs.extend(paging(random, "createTime"));
    pairs.join("&")
}

fn paging(random: &mut Random, time_key: &str) -> Vec<String> {
    let mut pairs = Vec::new();
    if random.chance(70) {
        pairs.push(format!("sortBy={}", *random.pick(&["name", time_key])));
    }
    if random.chance(50) {
        pairs.push(format!("ascending={}", random.chance(50)));
    }
    if random.chance(80) {
        pairs.push(format!(
            "limit={}",
            *random.pick(&["1", "2", "3", "5", "10", "-1"])
        ));
        pairs.push(format!("page={}", 1 + random.below(3)));
    }
    pairs
}

/// The reference: every object, checked, sorted and serialised the plain way.
fn reference(
    objects: &[Value],
    context: &Context,
    resource: ResourceList,
    namespace: Option<&str>,
    query: &ListQuery,
) -> Value {
    let of_kind = |kind: &'static str| objects.iter().filter(move |o| o["kind"] == kind);
    let mut kept: Vec<(SortKey<'_>, Value)> = Vec::new();
    let pods: Vec<Pod> = of_kind("Pod")
        .map(|o| {
            let mut pod: Pod = serde_json::from_value(o.clone()).unwrap();
            pod.metadata.managed_fields = None;
            pod
        })
        .collect();
    let namespaces: Vec<Namespace> = of_kind("Namespace")
        .map(|o| serde_json::from_value(o.clone()).unwrap())
        .collect();
    let services: Vec<Service> = of_kind("Service")
        .map(|o| serde_json::from_value(o.clone()).unwrap())
        .collect();
    let replica_sets: Vec<ReplicaSet> = of_kind("ReplicaSet")
        .map(|o| serde_json::from_value(o.clone()).unwrap())
        .collect();
    let created = |meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        meta.creation_timestamp.as_ref().map(|t| t.0)
    };
    match resource {
        ResourceList::Pods => {
            let occupancy = context.caches.occupancy.read();
            for pod in &pods {
                let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
                let name = pod.metadata.name.as_deref().unwrap_or_default();
                if namespace.is_some_and(|n| n != ns) {
                    continue;
                }
                let pools = occupancy.pools_of_pod(ns, name);
                let view = View::with_pools(pod, pools);
                let specific = |key: &str, value: &str| {
                    reference_pod_filter(pod, &services, &replica_sets, key, value)
                };
                if !matches_query(&view, query, specific) {
                    continue;
                }
                let started = pod.status.as_ref().and_then(|s| s.start_time.as_ref());
                let time = match query.sort_by {
                    SortBy::StartTime => started.map(|t| t.0).or(created(&pod.metadata)),
                    _ => created(&pod.metadata),
                };
                let key = SortKey {
                    time,
                    name,
                    namespace: ns,
                };
                kept.push((key, view.to_json()));
            }
        }
        ResourceList::Namespaces => {
            let pools = PoolSet::load(context).unwrap().facts;
            for ns in &namespaces {
                let virtual_labels = virtual_binding_labels(&namespace_input_of(ns), &pools);
                let view = View::with_labels(ns, &virtual_labels);
                let phase = ns.status.as_ref().and_then(|s| s.phase.as_deref());
                let specific =
                    |key: &str, value: &str| (key == "status").then(|| phase == Some(value));
                if !matches_query(&view, query, specific) {
                    continue;
                }
                let key = SortKey {
                    time: created(&ns.metadata),
                    name: ns.metadata.name.as_deref().unwrap_or_default(),
                    namespace: "",
                };
                kept.push((key, View::plain(ns).to_json()));
            }
        }
        _ => unreachable!("only pods and namespaces are compared"),
    }
    kept.sort_by(|(a, _), (b, _)| {
        let order = a.compare(b, query.sort_by);
        if query.ascending {
            order
        } else {
            order.reverse()
        }
    });
    let (start, end) = page_bounds(kept.len(), query.page, query.limit);
    let items: Vec<Value> = kept[start..end].iter().map(|(_, v)| v.clone()).collect();
    json!({"items": items, "totalItems": kept.len()})
}

/// algorithms §9.5 on a full pod.
fn reference_pod_filter(
    pod: &Pod,
    services: &[Service],
    replica_sets: &[ReplicaSet],
    key: &str,
    value: &str,
) -> Option<bool> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    let in_namespace = |meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
                        name: &str| {
        meta.namespace.as_deref() == Some(namespace) && meta.name.as_deref() == Some(name)
    };
    Some(match key {
        "nodeName" => spec.and_then(|s| s.node_name.as_deref()) == Some(value),
        "pvcName" => spec.is_some_and(|s| {
            s.volumes.iter().flatten().any(|v| {
                v.persistent_volume_claim
                    .as_ref()
                    .is_some_and(|c| c.claim_name == value)
            })
        }),
        "phase" => status.and_then(|s| s.phase.as_deref()) == Some(value),
        "podIP" => {
            let listed: Vec<&str> = status
                .and_then(|s| s.pod_ips.as_ref())
                .into_iter()
                .flatten()
                .map(|p| p.ip.as_str())
                .filter(|ip| !ip.is_empty())
                .collect();
            let ips = if listed.is_empty() {
                status
                    .and_then(|s| s.pod_ip.as_deref())
                    .into_iter()
                    .filter(|ip| !ip.is_empty())
                    .collect()
            } else {
                listed
            };
            ips.iter().any(|ip| ip.contains(value))
        }
        "status" => derived_status(pod) == value,
        "serviceName" => services
            .iter()
            .find(|s| in_namespace(&s.metadata, value))
            .and_then(|s| s.spec.as_ref()?.selector.clone())
            .is_some_and(|selector| {
                !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
            }),
        "ownerReference" => owner_references(&pod.metadata).any(|owner| {
            owner.uid == value
                || (owner.kind == "ReplicaSet"
                    && replica_sets
                        .iter()
                        .find(|rs| in_namespace(&rs.metadata, &owner.name))
                        .is_some_and(|rs| owner_references(&rs.metadata).any(|o| o.uid == value)))
        }),
        _ => return None,
    })
}

fn context(objects: &[Value]) -> Context {
    Context::reading(Arc::new(Caches::holding(objects)))
}

fn admin() -> Caller {
    Caller {
        identity: Identity {
            user: "admin".into(),
            uid: None,
            groups: vec!["system:masters".into(), "system:authenticated".into()],
            extra: BTreeMap::new(),
        },
        credential: Credential::BearerToken("t".into()),
    }
}

#[tokio::test]
async fn served_lists_equal_the_reference_on_random_clusters() {
    let caller = admin();
    let mut compared = 0;
    for seed in 0..80 {
        let mut random = Random(seed);
        let objects = cluster(&mut random);
        let context = context(&objects);
        for _ in 0..20 {
            let (resource, text) = if random.chance(65) {
                (ResourceList::Pods, pod_query(&mut random))
            } else {
                (ResourceList::Namespaces, namespace_query(&mut random))
            };
            let namespace = (resource == ResourceList::Pods && random.chance(30))
                .then(|| format!("ns-{}", random.below(3)));
            let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&text).unwrap();
            let query = ListQuery::parse_v1alpha3(&pairs).unwrap();
            let expected = reference(&objects, &context, resource, namespace.as_deref(), &query);
            // Twice: the second answer comes from the remembered list.
            for round in 0..2 {
                let served =
                    v1alpha3_list(&context, &caller, resource, namespace.as_deref(), &pairs)
                        .await
                        .unwrap();
                let served: Value = serde_json::from_slice(served.as_bytes()).unwrap();
                assert_eq!(
                    served, expected,
                    "seed {seed}, {resource:?} in {namespace:?}, `{text}`, round {round}"
                );
            }
            compared += 1;
        }
    }
    assert_eq!(compared, 80 * 20);
}
