//! The benchmark suite's seeder and load helpers (scripts/bench.sh runs it; docs/benchmarks.md has the numbers).
//!
//! ```text
//! bench_seed <kubeconfig> <small|large|xl>                       fill the cluster with the profile (idempotent)
//! bench_seed <kubeconfig> churn <writes/s> <seconds>             patch pod labels and annotations at that rate
//! bench_seed <kubeconfig> occupancy <server-url> <token> <n>     n samples of "a pod IP change shows in the
//!                                                                pool's status after … ms"
//! bench_seed names <small|large|xl>                              the names and counts the benchmark pages use,
//!                                                                as shell assignments
//! ```
//!
//! Run with `cargo run --release --example bench_seed -- …`. Profiles (pods / namespaces / pools / workspaces):
//! `small` 1,000 / 50 / 4 / 4, `large` 20,000 / 1,000 / 16 / 8, `xl` 100,000 / 5,000 / 64 / 40. Every namespace
//! holds 20 pods: Deployments `web`, `api`, `worker` (each with a ReplicaSet owning 5 pods) and a StatefulSet `db`
//! (5 pods), Services `web`, `api` and the headless `db`, and every fourth namespace NamespaceNetworkPolicies.
//!
//! Names are deterministic, so pages are comparable between runs:
//! - namespaces `bench-<i>`, label `kubesphere.io/workspace: bench-ws-<i % workspaces>`; 6.25 % of them
//!   (`i % 16 == 1`) are bound to pool `bench-pool-1` and 1.6 % (`i % 64 == 5`) to pool `bench-pool-<(i / 64) %
//!   pools>`, by the label `ippool.network.kubesphere.io/<pool>: ""`;
//! - Calico IPPools `bench-pool-<p>` with CIDR `10.<64 + p>.0.0/16`, block size 26; a namespace's pods take their
//!   addresses from its bound pool, else from `bench-pool-<i % pools>`;
//! - the workload with global number `g = i * 4 + w` has pods labelled `app=bench-<g % 20>` (1/20 of all pods);
//! - pods start at distinct times (`startTime`), are `Running` and have an address, written through the status
//!   subresource; their IPAM blocks (`/26`, ordinal 0 a tunnel address of the block's node, then the pods in
//!   order) hold them with `k8s-pod-network.<container id>` handles and namespace/pod/node attributes.
//!
//! Existing objects are kept (409), so a second run only fills in what is missing. The profile is recorded in
//! ConfigMap `default/ks-network-bench`, where `churn` and `occupancy` find it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::discovery::ApiResource;
use serde_json::{Value, json};

#[path = "support/mod.rs"]
mod support;

use support::{BoxError, install_crds, retry};

/// Requests in flight while seeding.
const PARALLEL: usize = 64;
/// Pods in every namespace: four workloads of five.
const PODS_PER_NAMESPACE: usize = 20;
const PODS_PER_WORKLOAD: usize = 5;
const WORKLOADS: [&str; 4] = ["web", "api", "worker", "db"];
/// Ordinals per IPAM block (/26); ordinal 0 holds the node's tunnel address.
const BLOCK_SIZE: usize = 64;
const PODS_PER_BLOCK: usize = BLOCK_SIZE - 1;
/// The ConfigMap recording the seeded profile.
const RECORD_NAMESPACE: &str = "default";
const RECORD_NAME: &str = "ks-network-bench";
/// 2026-03-01T00:00:00Z: the first pod start time.
const EPOCH: i64 = 1_772_323_200;

#[derive(Clone, Copy, Debug)]
struct Profile {
    name: &'static str,
    pods: usize,
    namespaces: usize,
    pools: usize,
    workspaces: usize,
}

const PROFILES: [Profile; 3] = [
    Profile {
        name: "small",
        pods: 1_000,
        namespaces: 50,
        pools: 4,
        workspaces: 4,
    },
    Profile {
        name: "large",
        pods: 20_000,
        namespaces: 1_000,
        pools: 16,
        workspaces: 8,
    },
    Profile {
        name: "xl",
        pods: 100_000,
        namespaces: 5_000,
        pools: 64,
        workspaces: 40,
    },
];

fn profile(name: &str) -> Result<Profile, BoxError> {
    PROFILES
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| format!("unknown profile {name:?} (small, large or xl)").into())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["names", name] => names(name),
        [kubeconfig, "churn", rate, seconds] => churn(kubeconfig, rate, seconds).await,
        [kubeconfig, "occupancy", url, token, samples] => {
            occupancy(kubeconfig, url, token, samples).await
        }
        [kubeconfig, name] => seed(kubeconfig, name).await,
        _ => {
            eprintln!(
                "usage: bench_seed <kubeconfig> <small|large|xl>\n       bench_seed <kubeconfig> churn <writes/s> <seconds>\n       bench_seed <kubeconfig> occupancy <server-url> <token> <samples>\n       bench_seed names <small|large|xl>"
            );
            std::process::exit(2);
        }
    };
    if let Err(error) = result {
        eprintln!("bench_seed: {error}");
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The plan: every name, address and owner follows from the profile.
// ---------------------------------------------------------------------------------------------------------------

/// One pod of the plan.
#[derive(Clone, Debug)]
struct PodPlan {
    namespace: usize,
    /// Index into `WORKLOADS`.
    workload: usize,
    /// Replica number inside its workload.
    replica: usize,
    pool: usize,
    block: usize,
    /// Ordinal of its address in the block (1..=63).
    ordinal: usize,
}

struct Plan {
    profile: Profile,
    pods: Vec<PodPlan>,
    /// Per pool, per block: the pods in ordinal order.
    blocks: Vec<Vec<Vec<usize>>>,
    nodes: usize,
}

impl Plan {
    fn new(profile: Profile) -> Result<Plan, BoxError> {
        if profile.pods != profile.namespaces * PODS_PER_NAMESPACE {
            return Err("a profile needs 20 pods per namespace".into());
        }
        let mut blocks: Vec<Vec<Vec<usize>>> = vec![Vec::new(); profile.pools];
        let mut pods = Vec::with_capacity(profile.pods);
        for n in 0..profile.pods {
            let namespace = n / PODS_PER_NAMESPACE;
            let pool = home_pool(namespace, profile.pools);
            let pool_blocks = &mut blocks[pool];
            if pool_blocks.last().is_none_or(|b| b.len() == PODS_PER_BLOCK) {
                pool_blocks.push(Vec::with_capacity(PODS_PER_BLOCK));
            }
            let block = pool_blocks.len() - 1;
            pool_blocks[block].push(n);
            if block * BLOCK_SIZE >= 1 << 16 {
                return Err(format!("pool {pool} is full").into());
            }
            pods.push(PodPlan {
                namespace,
                workload: (n % PODS_PER_NAMESPACE) / PODS_PER_WORKLOAD,
                replica: n % PODS_PER_WORKLOAD,
                pool,
                block,
                ordinal: pool_blocks[block].len(),
            });
        }
        Ok(Plan {
            profile,
            pods,
            blocks,
            nodes: (profile.pods / 40).max(3),
        })
    }

    fn block_node(&self, pool: usize, block: usize) -> usize {
        (pool * 131 + block) % self.nodes
    }

    fn pod_node(&self, pod: &PodPlan) -> usize {
        self.block_node(pod.pool, pod.block)
    }

    /// Pods of the workload `(namespace, workload)`: the first pod's number.
    fn first_pod(namespace: usize, workload: usize) -> usize {
        namespace * PODS_PER_NAMESPACE + workload * PODS_PER_WORKLOAD
    }
}

/// The pool a namespace is bound to, if any: `i % 16 == 1` → pool 1, `i % 64 == 5` → pool `(i / 64) % pools`.
fn bound_pool(namespace: usize, pools: usize) -> Option<usize> {
    if namespace % 16 == 1 {
        Some(1 % pools)
    } else if namespace % 64 == 5 {
        Some((namespace / 64) % pools)
    } else {
        None
    }
}

/// The pool a namespace's pods take their addresses from.
fn home_pool(namespace: usize, pools: usize) -> usize {
    bound_pool(namespace, pools).unwrap_or(namespace % pools)
}

fn namespace_name(i: usize) -> String {
    format!("bench-{i}")
}

fn pool_name(p: usize) -> String {
    format!("bench-pool-{p}")
}

fn workspace_name(w: usize) -> String {
    format!("bench-ws-{w}")
}

fn node_name(node: usize) -> String {
    format!("bench-node-{node}")
}

fn node_ip(node: usize) -> String {
    format!("192.168.{}.{}", node / 250, node % 250 + 1)
}

fn app_label(namespace: usize, workload: usize) -> String {
    format!("bench-{}", (namespace * WORKLOADS.len() + workload) % 20)
}

fn pool_base(p: usize) -> u32 {
    (10 << 24) | ((64 + p as u32) << 16)
}

fn ipv4(address: u32) -> String {
    std::net::Ipv4Addr::from(address).to_string()
}

fn block_base(pool: usize, block: usize) -> u32 {
    pool_base(pool) + (block * BLOCK_SIZE) as u32
}

fn pod_ip(pod: &PodPlan) -> String {
    ipv4(block_base(pod.pool, pod.block) + pod.ordinal as u32)
}

/// FNV-1a, then splitmix64: deterministic pseudo-random bits from a string.
fn hash(text: &str, round: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ round;
    for byte in text.bytes() {
        h ^= u64::from(byte);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Kubernetes' name-suffix alphabet.
const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// `len` (at most 13) characters of `ALPHABET`, from `text`.
fn suffix(text: &str, len: usize) -> String {
    let mut bits = hash(text, 1);
    (0..len)
        .map(|_| {
            let c = ALPHABET[(bits % ALPHABET.len() as u64) as usize] as char;
            bits /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

/// A 64-hex-digit container id.
fn container_id(text: &str) -> String {
    (0..4)
        .map(|r| format!("{:016x}", hash(text, 10 + r)))
        .collect()
}

fn replica_set_name(namespace: usize, workload: usize) -> String {
    let name = WORKLOADS[workload];
    format!(
        "{name}-{}",
        suffix(&format!("{}/{name}", namespace_name(namespace)), 10)
    )
}

fn is_stateful(workload: usize) -> bool {
    WORKLOADS[workload] == "db"
}

fn pod_name(pod: &PodPlan) -> String {
    if is_stateful(pod.workload) {
        format!("db-{}", pod.replica)
    } else {
        // Four pseudo-random characters and one per replica: distinct within the ReplicaSet.
        let rs = replica_set_name(pod.namespace, pod.workload);
        let tail = suffix(&format!("{}/{rs}/{}", pod.namespace, pod.replica), 4);
        format!("{rs}-{tail}{}", ALPHABET[pod.replica] as char)
    }
}

/// Start times are distinct: pod `n` starts `(n * 7919) % pods` seconds after the epoch.
fn start_time(n: usize, pods: usize) -> jiff::Timestamp {
    let offset = (n as u64 * 7919 % pods as u64) as i64;
    jiff::Timestamp::from_second(EPOCH + offset).expect("a time in range")
}

// ---------------------------------------------------------------------------------------------------------------
// names
// ---------------------------------------------------------------------------------------------------------------

/// The objects the benchmark pages select, as shell assignments (`eval`-able), with how many objects match.
fn names(name: &str) -> Result<(), BoxError> {
    let profile = profile(name)?;
    let plan = Plan::new(profile)?;
    let (namespace, pod_pool, bound, workspace) = (7, 2 % profile.pools, 1 % profile.pools, 3);
    let app = app_label(1, 3); // bench-7
    let pool_pods = plan.pods.iter().filter(|p| p.pool == pod_pool).count();
    let app_pods = plan
        .pods
        .iter()
        .filter(|p| app_label(p.namespace, p.workload) == app)
        .count();
    let bound_namespaces = (0..profile.namespaces)
        .filter(|&i| bound_pool(i, profile.pools) == Some(bound))
        .count();
    let workspace_namespaces = (0..profile.namespaces)
        .filter(|&i| i % profile.workspaces == workspace)
        .count();
    let nsnps: usize = (0..profile.namespaces).map(nsnp_count).sum();
    let blocks: usize = plan.blocks.iter().map(Vec::len).sum();
    println!("PROFILE={}", profile.name);
    println!("PODS={}", profile.pods);
    println!("NAMESPACES={}", profile.namespaces);
    println!("POOLS={}", profile.pools);
    println!("WORKSPACES={}", profile.workspaces);
    println!("BLOCKS={blocks}");
    println!("NSNPS={nsnps}");
    println!("SERVICES={}", profile.namespaces * 3);
    println!("APP={app}");
    println!("APP_PODS={app_pods}");
    println!("POD_POOL={}", pool_name(pod_pool));
    println!("POD_POOL_PODS={pool_pods}");
    println!("BOUND_POOL={}", pool_name(bound));
    println!("BOUND_NAMESPACES={bound_namespaces}");
    println!("WORKSPACE={}", workspace_name(workspace));
    println!("WORKSPACE_NAMESPACES={workspace_namespaces}");
    println!("NAMESPACE={}", namespace_name(namespace));
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// seed
// ---------------------------------------------------------------------------------------------------------------

async fn client(kubeconfig: &str) -> Result<kube::Client, BoxError> {
    let config = kube::Config::from_custom_kubeconfig(
        Kubeconfig::read_from(kubeconfig)?,
        &KubeConfigOptions::default(),
    )
    .await?;
    Ok(kube::Client::try_from(config)?)
}

fn resource(api_version: &str, kind: &str, plural: &str) -> ApiResource {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: api_version.into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

fn pods_resource() -> ApiResource {
    resource("v1", "Pod", "pods")
}

fn ippools_resource() -> ApiResource {
    resource("crd.projectcalico.org/v1", "IPPool", "ippools")
}

fn ipamblocks_resource() -> ApiResource {
    resource("crd.projectcalico.org/v1", "IPAMBlock", "ipamblocks")
}

fn nsnp_resource() -> ApiResource {
    resource(
        "network.kubesphere.io/v1alpha1",
        "NamespaceNetworkPolicy",
        "namespacenetworkpolicies",
    )
}

fn workspaces_resource() -> ApiResource {
    resource("tenant.kubesphere.io/v1beta1", "Workspace", "workspaces")
}

/// The `ApiResource` of an object of the seed, from its `apiVersion` and `kind`.
fn resource_of(object: &Value) -> ApiResource {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let kind = object["kind"].as_str().unwrap_or_default();
    let plural = match kind {
        "NamespaceNetworkPolicy" => "namespacenetworkpolicies".to_owned(),
        "IPPool" => "ippools".to_owned(),
        "IPAMBlock" => "ipamblocks".to_owned(),
        _ => format!("{}s", kind.to_ascii_lowercase()),
    };
    resource(api_version, kind, &plural)
}

/// Creates `object` unless it exists (409: kept). Returns the stored object's uid (fetched when kept, if
/// `want_uid`) and whether it was created.
async fn create(
    client: &kube::Client,
    object: Value,
    want_uid: bool,
) -> Result<(Option<String>, bool), kube::Error> {
    let resource = resource_of(&object);
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let api = match object["metadata"]["namespace"].as_str() {
        Some(ns) => Api::<DynamicObject>::namespaced_with(client.clone(), ns, &resource),
        None => Api::<DynamicObject>::all_with(client.clone(), &resource),
    };
    let dynamic: DynamicObject = serde_json::from_value(object).map_err(kube::Error::SerdeError)?;
    match retry(async || api.create(&PostParams::default(), &dynamic).await).await {
        Ok(created) => Ok((created.metadata.uid, true)),
        Err(kube::Error::Api(status)) if status.code == 409 => {
            if want_uid {
                Ok((
                    retry(async || api.get(&name).await).await?.metadata.uid,
                    false,
                ))
            } else {
                Ok((None, false))
            }
        }
        Err(error) => Err(error),
    }
}

/// Counts of one seeding step.
#[derive(Default)]
struct Tally {
    created: AtomicUsize,
    kept: AtomicUsize,
    updated: AtomicUsize,
}

/// Runs `work` for every item, `PARALLEL` at a time; prints what happened and stops at the first error.
async fn step<I, F, Fut>(label: &str, items: Vec<I>, work: F) -> Result<(), BoxError>
where
    F: Fn(I, Arc<Tally>) -> Fut,
    Fut: Future<Output = Result<(), kube::Error>>,
{
    let started = Instant::now();
    let total = items.len();
    let tally = Arc::new(Tally::default());
    let mut finished = 0;
    let mut results = stream::iter(items)
        .map(|item| work(item, tally.clone()))
        .buffer_unordered(PARALLEL);
    let mut first_error = None;
    let mut failed = 0;
    while let Some(result) = results.next().await {
        finished += 1;
        if let Err(error) = result {
            failed += 1;
            first_error.get_or_insert(error);
        }
        if total >= 20_000 && finished % 10_000 == 0 {
            eprintln!(
                "  {label}: {finished}/{total} ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    let updated = tally.updated.load(Ordering::Relaxed);
    println!(
        "{label:<24} {total:>7}: {:>7} created, {:>7} kept{}{} in {:.1} s",
        tally.created.load(Ordering::Relaxed),
        tally.kept.load(Ordering::Relaxed),
        if updated > 0 {
            format!(", {updated} status written to existing")
        } else {
            String::new()
        },
        if failed > 0 {
            format!(", {failed} FAILED")
        } else {
            String::new()
        },
        started.elapsed().as_secs_f64()
    );
    match first_error {
        Some(error) => Err(format!("{label}: {failed} failed, first: {error}").into()),
        None => Ok(()),
    }
}

fn count(tally: &Tally, created: bool) {
    if created {
        tally.created.fetch_add(1, Ordering::Relaxed);
    } else {
        tally.kept.fetch_add(1, Ordering::Relaxed);
    }
}

/// Creates the objects (409 = kept) and returns their uids by `namespace/name`.
async fn create_all(
    client: &kube::Client,
    label: &str,
    objects: Vec<Value>,
    want_uid: bool,
) -> Result<HashMap<String, String>, BoxError> {
    let uids = Arc::new(std::sync::Mutex::new(HashMap::new()));
    step(label, objects, |object, tally| {
        let uids = uids.clone();
        async move {
            let key = format!(
                "{}/{}",
                object["metadata"]["namespace"].as_str().unwrap_or_default(),
                object["metadata"]["name"].as_str().unwrap_or_default()
            );
            let (uid, created) = create(client, object, want_uid).await?;
            count(&tally, created);
            if let Some(uid) = uid {
                uids.lock().expect("not poisoned").insert(key, uid);
            }
            Ok(())
        }
    })
    .await?;
    let uids = std::mem::take(&mut *uids.lock().expect("not poisoned"));
    Ok(uids)
}

async fn seed(kubeconfig: &str, name: &str) -> Result<(), BoxError> {
    let profile = profile(name)?;
    let plan = Plan::new(profile)?;
    let client = client(kubeconfig).await?;
    let started = Instant::now();
    println!(
        "seeding profile {}: {} pods in {} namespaces, {} pools, {} workspaces ({PARALLEL} requests in flight)",
        profile.name, profile.pods, profile.namespaces, profile.pools, profile.workspaces
    );
    install_crds(
        &client,
        &[
            ippools_resource(),
            ipamblocks_resource(),
            nsnp_resource(),
            workspaces_resource(),
        ],
    )
    .await?;
    println!("CRDs served after {:.1} s", started.elapsed().as_secs_f64());

    let pools: Vec<Value> = (0..profile.pools).map(pool_object).collect();
    create_all(&client, "ippools", pools, false).await?;
    let workspaces: Vec<Value> = (0..profile.workspaces).map(workspace_object).collect();
    create_all(&client, "workspaces", workspaces, false).await?;
    let namespaces: Vec<Value> = (0..profile.namespaces)
        .map(|i| namespace_object(&plan, i))
        .collect();
    create_all(&client, "namespaces", namespaces, false).await?;

    let mut owners = Vec::new();
    let mut others = Vec::new();
    for i in 0..profile.namespaces {
        for w in 0..WORKLOADS.len() {
            owners.push(if is_stateful(w) {
                stateful_set_object(i, w)
            } else {
                deployment_object(i, w)
            });
        }
        others.extend(service_objects(i));
        others.extend(nsnp_objects(i, profile.namespaces));
    }
    let owner_uids = create_all(&client, "deployments+statefulsets", owners, true).await?;
    let replica_sets: Vec<Value> = (0..profile.namespaces)
        .flat_map(|i| (0..WORKLOADS.len()).map(move |w| (i, w)))
        .filter(|&(_, w)| !is_stateful(w))
        .map(|(i, w)| {
            let owner = &owner_uids[&format!("{}/{}", namespace_name(i), WORKLOADS[w])];
            replica_set_object(i, w, owner)
        })
        .collect();
    let rs_uids = create_all(&client, "replicasets", replica_sets, true).await?;
    create_all(&client, "services+nsnps", others, false).await?;

    let plan = Arc::new(plan);
    let pods_api = pods_resource();
    step("pods (+status)", (0..profile.pods).collect(), |n, tally| {
        let plan = plan.clone();
        let client = client.clone();
        let pods_api = pods_api.clone();
        let owner_uid = {
            let pod = &plan.pods[n];
            let owner = if is_stateful(pod.workload) {
                format!(
                    "{}/{}",
                    namespace_name(pod.namespace),
                    WORKLOADS[pod.workload]
                )
            } else {
                format!(
                    "{}/{}",
                    namespace_name(pod.namespace),
                    replica_set_name(pod.namespace, pod.workload)
                )
            };
            owner_uids
                .get(&owner)
                .or_else(|| rs_uids.get(&owner))
                .cloned()
                .unwrap_or_default()
        };
        async move {
            let pod = &plan.pods[n];
            let name = pod_name(pod);
            let (_, created) = create(&client, pod_object(&plan, n, &owner_uid), false).await?;
            let api = Api::<DynamicObject>::namespaced_with(
                client.clone(),
                &namespace_name(pod.namespace),
                &pods_api,
            );
            let status = pod_status(&plan, n);
            let write = if created {
                true
            } else {
                let live = retry(async || api.get(&name).await).await?;
                live.data["status"]["podIP"] != status["podIP"]
                    || live.data["status"]["phase"] != status["phase"]
            };
            if write {
                let patch = json!({ "status": status });
                retry(async || {
                    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                        .await
                })
                .await?;
                if !created {
                    tally.updated.fetch_add(1, Ordering::Relaxed);
                }
            }
            count(&tally, created);
            Ok(())
        }
    })
    .await?;

    let blocks: Vec<Value> = (0..profile.pools)
        .flat_map(|p| (0..plan.blocks[p].len()).map(move |b| (p, b)))
        .map(|(p, b)| block_object(&plan, p, b))
        .collect();
    create_all(&client, "ipamblocks", blocks, false).await?;
    record(&client, profile).await?;
    println!(
        "seeded profile {} in {:.1} s",
        profile.name,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Records the profile in ConfigMap `default/ks-network-bench` (for `churn` and `occupancy`).
async fn record(client: &kube::Client, profile: Profile) -> Result<(), BoxError> {
    let api = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        RECORD_NAMESPACE,
        &resource("v1", "ConfigMap", "configmaps"),
    );
    let data = json!({"profile": profile.name, "pods": profile.pods.to_string()});
    let object: DynamicObject =
        serde_json::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": RECORD_NAME, "namespace": RECORD_NAMESPACE}, "data": data}))?;
    match retry(async || api.create(&PostParams::default(), &object).await).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 409 => {
            let patch = json!({ "data": data });
            retry(async || {
                api.patch(RECORD_NAME, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
            })
            .await?;
        }
        Err(error) => return Err(error.into()),
    }
    Ok(())
}

async fn recorded_profile(client: &kube::Client) -> Result<Profile, BoxError> {
    let api = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        RECORD_NAMESPACE,
        &resource("v1", "ConfigMap", "configmaps"),
    );
    let record = api.get(RECORD_NAME).await.map_err(|error| {
        format!("no ConfigMap {RECORD_NAMESPACE}/{RECORD_NAME} (seed a profile first): {error}")
    })?;
    profile(record.data["data"]["profile"].as_str().unwrap_or_default())
}

// ---------------------------------------------------------------------------------------------------------------
// Objects
// ---------------------------------------------------------------------------------------------------------------

fn pool_object(p: usize) -> Value {
    json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool",
        "metadata": {"name": pool_name(p), "annotations": {"projectcalico.org/metadata": "{\"creationTimestamp\":null}"}},
        "spec": {"cidr": format!("{}/16", ipv4(pool_base(p))), "blockSize": 26, "ipipMode": "Always",
            "vxlanMode": "Never", "natOutgoing": true, "nodeSelector": "all()", "disabled": false}})
}

fn workspace_object(w: usize) -> Value {
    json!({"apiVersion": "tenant.kubesphere.io/v1beta1", "kind": "Workspace",
        "metadata": {"name": workspace_name(w), "labels": {"kubefed.io/managed": "false"},
            "annotations": {"kubesphere.io/alias-name": format!("Bench workspace {w}"), "kubesphere.io/creator": "admin"}},
        "spec": {"manager": "admin"}})
}

fn namespace_object(plan: &Plan, i: usize) -> Value {
    let name = namespace_name(i);
    let mut labels = json!({"kubesphere.io/namespace": name,
        "kubesphere.io/workspace": workspace_name(i % plan.profile.workspaces)});
    if let Some(pool) = bound_pool(i, plan.profile.pools) {
        labels[format!("ippool.network.kubesphere.io/{}", pool_name(pool))] = json!("");
    }
    json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": name, "labels": labels,
            "annotations": {"kubesphere.io/alias-name": format!("Bench project {i}"), "kubesphere.io/creator": "admin"}}})
}

fn container(workload: usize) -> Value {
    let name = WORKLOADS[workload];
    let port = if is_stateful(workload) { 5432 } else { 8080 };
    json!({"name": name, "image": format!("registry.example.com/bench/{name}:1.{workload}.0"),
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "env": [{"name": "APP_NAME", "value": name}, {"name": "LOG_LEVEL", "value": "info"}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": port}, "periodSeconds": 10},
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"})
}

fn selector_labels(i: usize, w: usize) -> Value {
    json!({"app": app_label(i, w), "workload": WORKLOADS[w]})
}

fn template(i: usize, w: usize, extra: Value) -> Value {
    let mut labels = selector_labels(i, w);
    if let (Some(labels), Some(extra)) = (labels.as_object_mut(), extra.as_object()) {
        labels.extend(extra.clone());
    }
    json!({"metadata": {"labels": labels}, "spec": {"containers": [container(w)]}})
}

fn deployment_object(i: usize, w: usize) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": WORKLOADS[w], "namespace": namespace_name(i), "labels": selector_labels(i, w)},
        "spec": {"replicas": PODS_PER_WORKLOAD, "selector": {"matchLabels": selector_labels(i, w)},
            "template": template(i, w, json!({}))}})
}

fn stateful_set_object(i: usize, w: usize) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": WORKLOADS[w], "namespace": namespace_name(i), "labels": selector_labels(i, w)},
        "spec": {"replicas": PODS_PER_WORKLOAD, "serviceName": WORKLOADS[w],
            "selector": {"matchLabels": selector_labels(i, w)}, "template": template(i, w, json!({}))}})
}

fn pod_template_hash(i: usize, w: usize) -> String {
    replica_set_name(i, w)
        .rsplit('-')
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn replica_set_object(i: usize, w: usize, deployment_uid: &str) -> Value {
    let hash = pod_template_hash(i, w);
    let mut selector = selector_labels(i, w);
    selector["pod-template-hash"] = json!(hash);
    json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": replica_set_name(i, w), "namespace": namespace_name(i), "labels": selector,
            "annotations": {"deployment.kubernetes.io/revision": "1"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": WORKLOADS[w],
                "uid": deployment_uid, "controller": true, "blockOwnerDeletion": true}]},
        "spec": {"replicas": PODS_PER_WORKLOAD, "selector": {"matchLabels": selector},
            "template": template(i, w, json!({"pod-template-hash": hash}))}})
}

fn service_objects(i: usize) -> Vec<Value> {
    let ns = namespace_name(i);
    let mut services: Vec<Value> = [0, 1]
        .into_iter()
        .map(|w| {
            json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": WORKLOADS[w], "namespace": ns, "labels": selector_labels(i, w)},
                "spec": {"selector": selector_labels(i, w), "type": "ClusterIP",
                    "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080}]}})
        })
        .collect();
    services.push(json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "db", "namespace": ns, "labels": selector_labels(i, 3)},
        "spec": {"selector": selector_labels(i, 3), "clusterIP": "None",
            "ports": [{"name": "pg", "protocol": "TCP", "port": 5432, "targetPort": 5432}]}}));
    services
}

/// NSNPs of namespace `i`: every fourth namespace has one, every eighth a second.
fn nsnp_count(i: usize) -> usize {
    usize::from(i.is_multiple_of(4)) + usize::from(i.is_multiple_of(8))
}

fn nsnp_objects(i: usize, namespaces: usize) -> Vec<Value> {
    let ns = namespace_name(i);
    let mut out = Vec::new();
    if i.is_multiple_of(4) {
        out.push(json!({"apiVersion": "network.kubesphere.io/v1alpha1", "kind": "NamespaceNetworkPolicy",
            "metadata": {"name": "allow-from-neighbour", "namespace": ns,
                "labels": {"kubesphere.io/policy-type": "ingress", "kubesphere.io/policy-traffic": "inside"}},
            "spec": {"ingress": [{"from": [{"namespace": {"name": namespace_name((i + 1) % namespaces)}}],
                "ports": [{"protocol": "TCP", "port": 8080}]}]}}));
    }
    if i.is_multiple_of(8) {
        out.push(json!({"apiVersion": "network.kubesphere.io/v1alpha1", "kind": "NamespaceNetworkPolicy",
            "metadata": {"name": "allow-office", "namespace": ns},
            "spec": {"ingress": [{"from": [{"ipBlock": {"cidr": "192.168.10.0/24", "except": ["192.168.10.128/25"]}}],
                "ports": [{"protocol": "TCP", "port": 443}]}]}}));
    }
    out
}

fn pod_object(plan: &Plan, n: usize, owner_uid: &str) -> Value {
    let pod = &plan.pods[n];
    let (i, w) = (pod.namespace, pod.workload);
    let name = pod_name(pod);
    let ns = namespace_name(i);
    let ip = pod_ip(pod);
    let mut labels = selector_labels(i, w);
    labels["tier"] = json!(if is_stateful(w) { "db" } else { "web" });
    let owner = if is_stateful(w) {
        labels["controller-revision-hash"] = json!(format!("db-{}", suffix(&ns, 10)));
        labels["statefulset.kubernetes.io/pod-name"] = json!(name);
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "name": WORKLOADS[w], "uid": owner_uid,
            "controller": true, "blockOwnerDeletion": true})
    } else {
        labels["pod-template-hash"] = json!(pod_template_hash(i, w));
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": replica_set_name(i, w), "uid": owner_uid,
            "controller": true, "blockOwnerDeletion": true})
    };
    let mut spec = json!({"containers": [container(w)], "nodeName": node_name(plan.pod_node(pod)),
        "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "terminationGracePeriodSeconds": 30,
        "schedulerName": "default-scheduler", "enableServiceLinks": true,
        "tolerations": [
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]});
    if is_stateful(w) {
        spec["hostname"] = json!(name);
        spec["subdomain"] = json!(WORKLOADS[w]);
    }
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels, "ownerReferences": [owner],
            "annotations": {"cni.projectcalico.org/containerID": container_id(&format!("{ns}/{name}")),
                "cni.projectcalico.org/podIP": format!("{ip}/32"), "cni.projectcalico.org/podIPs": format!("{ip}/32")}},
        "spec": spec})
}

fn pod_status(plan: &Plan, n: usize) -> Value {
    let pod = &plan.pods[n];
    let (ns, name) = (namespace_name(pod.namespace), pod_name(pod));
    let ip = pod_ip(pod);
    let started = start_time(n, plan.profile.pods).to_string();
    let container = container(pod.workload);
    let condition =
        |kind: &str| json!({"type": kind, "status": "True", "lastTransitionTime": started});
    json!({"phase": "Running", "hostIP": node_ip(plan.pod_node(pod)), "podIP": ip, "podIPs": [{"ip": ip}],
        "startTime": started, "qosClass": "Burstable",
        "conditions": [condition("Initialized"), condition("Ready"), condition("ContainersReady"), condition("PodScheduled")],
        "containerStatuses": [{"name": container["name"], "image": container["image"],
            "imageID": format!("registry.example.com/bench/{}@sha256:{}", container["name"].as_str().unwrap_or_default(), container_id(container["image"].as_str().unwrap_or_default())),
            "containerID": format!("containerd://{}", container_id(&format!("{ns}/{name}"))),
            "ready": true, "started": true, "restartCount": 0, "lastState": {},
            "state": {"running": {"startedAt": started}}}]})
}

fn block_object(plan: &Plan, p: usize, b: usize) -> Value {
    let base = block_base(p, b);
    let node = node_name(plan.block_node(p, b));
    let members = &plan.blocks[p][b];
    let mut allocations = vec![Value::Null; BLOCK_SIZE];
    let mut attributes = vec![json!({"handle_id": format!("ipip-tunnel-addr-{node}"),
        "secondary": {"node": node, "type": "ipipTunnelAddress"}})];
    allocations[0] = json!(0);
    for &n in members {
        let pod = &plan.pods[n];
        let (ns, name) = (namespace_name(pod.namespace), pod_name(pod));
        allocations[pod.ordinal] = json!(attributes.len());
        let timestamp = start_time(n, plan.profile.pods)
            .strftime("%Y-%m-%d %H:%M:%S.000000000 +0000 UTC")
            .to_string();
        attributes.push(json!({"handle_id": format!("k8s-pod-network.{}", container_id(&format!("{ns}/{name}"))),
            "secondary": {"namespace": ns, "pod": name, "node": node, "timestamp": timestamp}}));
    }
    let unallocated: Vec<usize> = (members.len() + 1..BLOCK_SIZE).collect();
    let address = ipv4(base);
    json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPAMBlock",
        "metadata": {"name": format!("{}-26", address.replace('.', "-")),
            "annotations": {"projectcalico.org/metadata": "{\"creationTimestamp\":null}"}},
        "spec": {"cidr": format!("{address}/26"), "affinity": format!("host:{node}"), "strictAffinity": false,
            "deleted": false, "allocations": allocations, "unallocated": unallocated, "attributes": attributes,
            "sequenceNumber": 1_771_574_400_000_000_000u64 + (p * 1024 + b) as u64}})
}

// ---------------------------------------------------------------------------------------------------------------
// churn
// ---------------------------------------------------------------------------------------------------------------

/// Patches pods (label `bench-churn`, annotation `bench.ks-network/churn`) at `rate` writes per second for
/// `seconds`, pods taken in a fixed pseudo-random order; prints `CHURN writes=… errors=… seconds=… rate=…`.
async fn churn(kubeconfig: &str, rate: &str, seconds: &str) -> Result<(), BoxError> {
    let rate: f64 = rate.parse()?;
    let seconds: f64 = seconds.parse()?;
    if rate <= 0.0 || seconds <= 0.0 {
        return Err("rate and seconds must be positive".into());
    }
    let client = client(kubeconfig).await?;
    let plan = Arc::new(Plan::new(recorded_profile(&client).await?)?);
    let pods = plan.pods.len();
    let writes = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let in_flight = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let end = started + Duration::from_secs_f64(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    let mut sequence: usize = 0;
    let pods_api = pods_resource();
    loop {
        ticks.tick().await;
        if Instant::now() >= end {
            break;
        }
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            // PARALLEL writes outstanding: kube-apiserver is behind; count the tick as lost.
            errors.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let pod = &plan.pods[sequence * 7919 % pods];
        let api = Api::<DynamicObject>::namespaced_with(
            client.clone(),
            &namespace_name(pod.namespace),
            &pods_api,
        );
        let name = pod_name(pod);
        let patch = json!({"metadata": {"labels": {"bench-churn": (sequence % 10).to_string()},
            "annotations": {"bench.ks-network/churn": sequence.to_string()}}});
        let (writes, errors) = (writes.clone(), errors.clone());
        tasks.spawn(async move {
            match api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => writes.fetch_add(1, Ordering::Relaxed),
                Err(_) => errors.fetch_add(1, Ordering::Relaxed),
            };
            drop(permit);
        });
        sequence += 1;
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = started.elapsed().as_secs_f64();
    let writes = writes.load(Ordering::Relaxed);
    println!(
        "CHURN writes={writes} errors={} seconds={elapsed:.1} rate={:.1}",
        errors.load(Ordering::Relaxed),
        writes as f64 / elapsed
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// occupancy
// ---------------------------------------------------------------------------------------------------------------

/// Moves one pod's address (status `podIP`/`podIPs`) into another pool and back, `samples` times, and measures
/// from the start of each status write until `GET <server>/kapis/network.kubesphere.io/v1alpha2/ippools/<pool>`
/// shows the pool's new `status.pods`. Prints each latency and `OCCUPANCY samples=… median_ms=… max_ms=…`.
async fn occupancy(
    kubeconfig: &str,
    url: &str,
    token: &str,
    samples: &str,
) -> Result<(), BoxError> {
    let samples: usize = samples.parse()?;
    let client = client(kubeconfig).await?;
    let plan = Plan::new(recorded_profile(&client).await?)?;
    let n = Plan::first_pod(3, 0);
    let pod = &plan.pods[n];
    let target = if pod.pool == 0 { 1 } else { 0 };
    let home_ip = pod_ip(pod);
    let away_ip = ipv4(pool_base(target) + 0xfffa);
    let api = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        &namespace_name(pod.namespace),
        &pods_resource(),
    );
    let name = pod_name(pod);
    let move_to = async |ip: String| {
        let patch = json!({"status": {"podIP": ip, "podIPs": [{"ip": ip}]}});
        api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
    };
    let http = reqwest::Client::new();
    let pool_url = format!(
        "{}/kapis/network.kubesphere.io/v1alpha2/ippools/{}",
        url.trim_end_matches('/'),
        pool_name(target)
    );
    let pods_in_pool = async || {
        let response = http.get(&pool_url).bearer_auth(token).send().await?;
        let status = response.status();
        let body: Value = response.json().await?;
        body["status"]["pods"]
            .as_u64()
            .ok_or_else(|| BoxError::from(format!("GET {pool_url}: {status} {body}")))
    };
    move_to(home_ip.clone()).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let base = pods_in_pool().await?;
    println!(
        "occupancy: pod {}/{name} moves between {home_ip} ({}) and {away_ip} ({}); {} has {base} pods",
        namespace_name(pod.namespace),
        pool_name(pod.pool),
        pool_name(target),
        pool_name(target)
    );
    let mut latencies = Vec::with_capacity(samples);
    for sample in 0..samples {
        let away = sample % 2 == 0;
        let expected = if away { base + 1 } else { base };
        let started = Instant::now();
        move_to(if away {
            away_ip.clone()
        } else {
            home_ip.clone()
        })
        .await?;
        let written = started.elapsed();
        loop {
            if pods_in_pool().await? == expected {
                break;
            }
            if started.elapsed() > Duration::from_secs(30) {
                move_to(home_ip.clone()).await?;
                return Err(format!(
                    "{} did not reach {expected} pods in 30 s",
                    pool_name(target)
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let latency = started.elapsed();
        println!(
            "  sample {sample}: {:.1} ms (status write {:.1} ms)",
            latency.as_secs_f64() * 1e3,
            written.as_secs_f64() * 1e3
        );
        latencies.push(latency.as_secs_f64() * 1e3);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if samples % 2 == 1 {
        move_to(home_ip).await?;
    }
    latencies.sort_by(f64::total_cmp);
    let median = match latencies.len() {
        0 => 0.0,
        n if n % 2 == 1 => latencies[n / 2],
        n => (latencies[n / 2 - 1] + latencies[n / 2]) / 2.0,
    };
    let max = latencies.last().copied().unwrap_or(0.0);
    println!("OCCUPANCY samples={samples} median_ms={median:.1} max_ms={max:.1}");
    Ok(())
}
