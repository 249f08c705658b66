//! Hot paths of the list pages, in process (no HTTP, no authentication): `cargo bench --bench lists`.
//!
//! The `large` profile's shape: 20,000 pods in 1,000 namespaces, 16 pools, about 6 % of the namespaces bound to a
//! pool. `page/*` is the whole service call of a console page once its sorted list is remembered (what a repeated
//! request costs between cache changes); `evaluate/*` is the same request right after a change (the list is
//! filtered and sorted again); the rest are the pieces.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};

use ks_network_apiserver::auth::{Caller, Credential, Identity};
use ks_network_apiserver::cluster::Caches;
use ks_network_apiserver::cluster::pod::CachedPod;
use ks_network_apiserver::query::{ListQuery, Selector, SortKey, sort_and_page};
use ks_network_apiserver::service::Context;
use ks_network_apiserver::service::lists::{ResourceList, v1alpha3_list};

const PODS: usize = 20_000;
const NAMESPACES: usize = 1_000;
const POOLS: usize = 16;

fn pod(n: usize) -> Value {
    let pool = n % POOLS;
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("bench-{n}"), "namespace": format!("bench-{}", n % NAMESPACES),
                     "uid": format!("00000000-0000-0000-0000-{n:012}"), "resourceVersion": format!("{}", 1000 + n),
                     "creationTimestamp": "2026-03-01T00:00:00Z",
                     "labels": {"app": format!("bench-{}", n % 20), "pod-template-hash": "5d8f7c9b4f"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("web-{}", n % 50),
                                          "uid": format!("rs-{}", n % 50), "controller": true, "blockOwnerDeletion": true}]},
        "spec": {"containers": [{"name": "app", "image": "registry.example/app:1.2.3", "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                                 "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}],
                 "nodeName": format!("node-{}", n % 50), "serviceAccountName": "default", "restartPolicy": "Always"},
        "status": {"phase": "Running", "podIP": format!("10.{pool}.{}.{}", (n / POOLS) / 250, (n / POOLS) % 250 + 1),
                   "podIPs": [{"ip": format!("10.{pool}.{}.{}", (n / POOLS) / 250, (n / POOLS) % 250 + 1)}],
                   "hostIP": "192.0.2.10",
                   "startTime": format!("2026-03-02T10:{:02}:{:02}Z", (n / 60) % 60, n % 60),
                   "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0, "image": "registry.example/app:1.2.3",
                                          "imageID": "", "started": true, "state": {"running": {"startedAt": "2026-03-02T10:00:00Z"}}}]}})
}

fn cluster() -> Vec<Value> {
    let mut objects: Vec<Value> = (0..POOLS)
        .map(|p| {
            json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool",
                "metadata": {"name": format!("pool-{p}")}, "spec": {"cidr": format!("10.{p}.0.0/16")}})
        })
        .collect();
    for n in 0..NAMESPACES {
        let mut labels = BTreeMap::from([(
            "kubesphere.io/workspace".to_owned(),
            format!("ws-{}", n % 10),
        )]);
        if n % 16 == 0 {
            labels.insert(
                format!("ippool.network.kubesphere.io/pool-{}", n % POOLS),
                String::new(),
            );
        }
        objects.push(json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": format!("bench-{n}"), "labels": labels,
                         "creationTimestamp": format!("2026-03-01T{:02}:{:02}:00Z", n / 60 % 24, n % 60)},
            "status": {"phase": "Active"}}));
    }
    objects.extend((0..PODS).map(pod));
    objects
}

fn context(objects: &[Value]) -> Context {
    Context::reading(Arc::new(Caches::holding(objects)))
}

fn admin() -> Caller {
    Caller {
        identity: Identity {
            user: "admin".into(),
            uid: None,
            groups: vec!["system:masters".into()],
            extra: BTreeMap::new(),
        },
        credential: Credential::BearerToken("t".into()),
    }
}

fn pairs(text: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str(text).unwrap()
}

/// The console pages of issue 10, as (name, namespace, query).
const PAGES: &[(&str, Option<&str>, ResourceList, &str)] = &[
    (
        "pods by label, startTime",
        None,
        ResourceList::Pods,
        "labelSelector=app=bench-7&sortBy=startTime&limit=10",
    ),
    (
        "all pods, startTime",
        None,
        ResourceList::Pods,
        "sortBy=startTime&limit=10",
    ),
    (
        "pods of a pool, startTime",
        None,
        ResourceList::Pods,
        "labelSelector=ippool.network.kubesphere.io/name=pool-3&sortBy=startTime&limit=10",
    ),
    (
        "namespace pods, name",
        Some("bench-3"),
        ResourceList::Pods,
        "sortBy=name&limit=10",
    ),
    (
        "namespaces by pool, createTime",
        None,
        ResourceList::Namespaces,
        "labelSelector=ippool.network.kubesphere.io/pool-0&sortBy=createTime&limit=10",
    ),
    (
        "namespaces by workspace, createTime",
        None,
        ResourceList::Namespaces,
        "labelSelector=kubesphere.io/workspace=ws-3&sortBy=createTime&limit=10",
    ),
];

fn pages(c: &mut Criterion) {
    let objects = cluster();
    let context = context(&objects);
    let caller = admin();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("page");
    for (name, namespace, resource, query) in PAGES {
        let pairs = pairs(query);
        group.bench_function(*name, |b| {
            b.iter(|| {
                runtime
                    .block_on(v1alpha3_list(
                        &context, &caller, *resource, *namespace, &pairs,
                    ))
                    .unwrap()
            })
        });
    }
    group.finish();

    // A fresh context per request: the list is evaluated (filtered and sorted) every time.
    let mut group = c.benchmark_group("evaluate");
    group.sample_size(10);
    for (name, namespace, resource, query) in PAGES {
        let pairs = pairs(query);
        group.bench_function(*name, |b| {
            b.iter_batched(
                || context_sharing(&context),
                |fresh| {
                    runtime
                        .block_on(v1alpha3_list(
                            &fresh, &caller, *resource, *namespace, &pairs,
                        ))
                        .unwrap()
                },
                criterion::BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

/// A context over the same caches with nothing remembered.
fn context_sharing(context: &Context) -> Context {
    Context::reading(context.caches.clone())
}

fn pieces(c: &mut Criterion) {
    let selector = Selector::parse("app=bench-7,tier!=db").unwrap();
    let labels = BTreeMap::from([
        ("app".to_owned(), "bench-7".to_owned()),
        ("pod-template-hash".to_owned(), "5d8f7c9b4f".to_owned()),
    ]);
    c.bench_function("selector match (2 requirements)", |b| {
        b.iter(|| black_box(&selector).matches(black_box(&labels)))
    });

    let pods: Vec<CachedPod> = (0..PODS)
        .map(|n| serde_json::from_value(pod(n)).unwrap())
        .collect();
    let query = ListQuery::parse_v1alpha3(&pairs("sortBy=startTime&limit=10")).unwrap();
    c.bench_function("sort and page 20k references (limit 10)", |b| {
        b.iter(|| {
            sort_and_page(pods.iter().collect(), &query, |p: &&CachedPod| SortKey {
                time: p.started,
                name: p.metadata.name.as_deref().unwrap_or_default(),
                namespace: p.metadata.namespace.as_deref().unwrap_or_default(),
            })
            .total
        })
    });
    c.bench_function("page assembly (10 stored pods with labels)", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(32 * 1024);
            for pod in &pods[..10] {
                let labels = pod.metadata.labels.iter().flatten();
                pod.json
                    .write_with_labels(labels.map(|(k, v)| (k.as_str(), v.as_str())), &mut out);
            }
            out.len()
        })
    });
    c.bench_function("decode one pod event into the cache form", |b| {
        let wire = serde_json::to_vec(&pod(7)).unwrap();
        b.iter(|| serde_json::from_slice::<CachedPod>(black_box(&wire)).unwrap())
    });
}

criterion_group!(benches, pages, pieces);
criterion_main!(benches);
