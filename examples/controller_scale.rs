//! Measures the NetworkPolicy controller at scale on a running control plane (scripts/bench-controller.sh
//! starts a fresh one): `cargo run --release --example controller_scale -- <kubeconfig> [<namespaces> <nsnps>]`.
//!
//! Seeds `<namespaces>` namespaces (default 1,000) in 10 workspaces, every second one isolated, each with a
//! Service and `<nsnps>` NamespaceNetworkPolicies (default 5), then starts the controller in this process and
//! reports: the time until every desired NetworkPolicy exists (convergence), whether a resync with nothing to
//! change writes anything, and how long one NSNP edit takes to show in its NetworkPolicy.

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::networking::v1::NetworkPolicy;
#[path = "support/mod.rs"]
mod support;

use ks_network_apiserver::app::{Mode, Server};
use ks_network_apiserver::config::Config;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::discovery::ApiResource;
use serde_json::{Value, json};
use support::install_crds;

/// Writes in flight while seeding.
const PARALLEL: usize = 16;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: controller_scale <kubeconfig> [<namespaces> <nsnps-per-namespace>]");
        std::process::exit(2);
    };
    let namespaces: usize = args.get(2).map(|n| n.parse()).transpose()?.unwrap_or(1000);
    let per_namespace: usize = args.get(3).map(|n| n.parse()).transpose()?.unwrap_or(5);
    let kube_config = kube::Config::from_custom_kubeconfig(
        Kubeconfig::read_from(path)?,
        &KubeConfigOptions::default(),
    )
    .await?;
    let client = kube::Client::try_from(kube_config.clone())?;
    let workspaces = ApiResource {
        group: "tenant.kubesphere.io".into(),
        version: "v1beta1".into(),
        api_version: "tenant.kubesphere.io/v1beta1".into(),
        kind: "Workspace".into(),
        plural: "workspaces".into(),
    };
    install_crds(&client, &[nsnp_resource(), workspaces])
        .await
        .map_err(|e| e.to_string())?;

    let started = Instant::now();
    let mut objects = Vec::new();
    for w in 0..10 {
        objects.push(
            json!({"apiVersion": "tenant.kubesphere.io/v1beta1", "kind": "Workspace",
            "metadata": {"name": format!("scale-ws-{w}")}, "spec": {}}),
        );
    }
    for n in 0..namespaces {
        let isolated = if n % 2 == 0 { "enabled" } else { "" };
        objects.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": format!("scale-{n}"),
            "labels": {"kubesphere.io/workspace": format!("scale-ws-{}", n % 10)},
            "annotations": {"kubesphere.io/network-isolate": isolated}}}));
    }
    create_all(&client, objects).await?;
    let mut objects = Vec::new();
    for n in 0..namespaces {
        let ns = format!("scale-{n}");
        objects.push(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": ns},
            "spec": {"selector": {"app": "web"}, "ports": [{"protocol": "TCP", "port": 80, "targetPort": 8080}]}}));
        for p in 0..per_namespace {
            objects.push(json!({"apiVersion": "network.kubesphere.io/v1alpha1", "kind": "NamespaceNetworkPolicy",
                "metadata": {"name": format!("allow-{p}"), "namespace": ns}, "spec": nsnp_spec(n, p, 80)}));
        }
    }
    create_all(&client, objects).await?;
    println!(
        "seeded {namespaces} namespaces × {per_namespace} NSNPs in {:.1?}",
        started.elapsed()
    );

    let desired = namespaces / 2 * (per_namespace + 1);
    let mut config = Config::default();
    config.server.bind_address = "127.0.0.1:0".into();
    config.controller.leader_election.namespace = "default".into();
    config.controller.resync_seconds = 10;
    let started = Instant::now();
    let server = Server::start(&config, kube_config, Mode::Controller).await?;
    let policies: Api<NetworkPolicy> = Api::all(client.clone());
    let managed = ListParams::default().labels("app.kubernetes.io/managed-by=ks-network-apiserver");
    loop {
        let count = policies.list_metadata(&managed).await?.items.len();
        if count >= desired {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let converged = started.elapsed();
    println!(
        "converged: {desired} NetworkPolicies in {converged:.1?} (controller start to the last create)"
    );

    // Quiet: no further writes, through at least one resync.
    let before = versions(&policies, &managed).await?;
    tokio::time::sleep(Duration::from_secs(
        config.controller.resync_seconds * 2 + 2,
    ))
    .await;
    let after = versions(&policies, &managed).await?;
    let rewritten = before.iter().zip(&after).filter(|(a, b)| a != b).count();
    println!(
        "after two resyncs: {rewritten} of {} NetworkPolicies rewritten",
        after.len()
    );

    // One edit.
    let nsnps = Api::<DynamicObject>::namespaced_with(client.clone(), "scale-0", &nsnp_resource());
    let started = Instant::now();
    let patch = json!({"spec": nsnp_spec(0, 0, 443)});
    nsnps
        .patch("allow-0", &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    let rendered = Api::<NetworkPolicy>::namespaced(client.clone(), "scale-0");
    loop {
        let policy = rendered.get("nsnp-allow-0").await?;
        if serde_json::to_string(&policy.spec)?.contains("443") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("one NSNP edit reflected in {:.0?}", started.elapsed());
    server.shutdown().await?;
    Ok(())
}

/// Five kinds of allowlist entries, by `p`.
fn nsnp_spec(n: usize, p: usize, port: u16) -> Value {
    match p % 5 {
        0 => {
            json!({"ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"protocol": "TCP", "port": port}]}]})
        }
        1 => {
            json!({"ingress": [{"from": [{"namespace": {"name": format!("scale-{}", (n + 1) % 1000)}}]}]})
        }
        2 => json!({"egress": [{"to": [{"service": {"name": "web"}}]}]}),
        3 => json!({"egress": [{"ports": [{"protocol": "UDP", "port": 53}]}]}),
        _ => {
            json!({"policyTypes": ["Ingress"], "ingress": [{"from": [{"namespace": {"name": "kube-system"}}]}]})
        }
    }
}

fn nsnp_resource() -> ApiResource {
    ApiResource {
        group: "network.kubesphere.io".into(),
        version: "v1alpha1".into(),
        api_version: "network.kubesphere.io/v1alpha1".into(),
        kind: "NamespaceNetworkPolicy".into(),
        plural: "namespacenetworkpolicies".into(),
    }
}

async fn versions(
    policies: &Api<NetworkPolicy>,
    params: &ListParams,
) -> Result<Vec<(String, String)>, kube::Error> {
    let mut versions: Vec<(String, String)> = policies
        .list_metadata(params)
        .await?
        .items
        .into_iter()
        .map(|p| {
            let key = format!(
                "{}/{}",
                p.metadata.namespace.unwrap_or_default(),
                p.metadata.name.unwrap_or_default()
            );
            (key, p.metadata.resource_version.unwrap_or_default())
        })
        .collect();
    versions.sort();
    Ok(versions)
}

/// Creates every object (existing ones are kept), `PARALLEL` at a time.
async fn create_all(client: &kube::Client, objects: Vec<Value>) -> Result<(), kube::Error> {
    stream::iter(objects)
        .map(|object| async move {
            let api_version = object["apiVersion"].as_str().unwrap_or_default();
            let kind = object["kind"].as_str().unwrap_or_default();
            let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
            let resource = ApiResource {
                group: group.into(),
                version: version.into(),
                api_version: api_version.into(),
                kind: kind.into(),
                plural: match kind {
                    "NamespaceNetworkPolicy" => "namespacenetworkpolicies".into(),
                    _ => format!("{}s", kind.to_ascii_lowercase()),
                },
            };
            let api = match object["metadata"]["namespace"].as_str() {
                Some(ns) => Api::<DynamicObject>::namespaced_with(client.clone(), ns, &resource),
                None => Api::<DynamicObject>::all_with(client.clone(), &resource),
            };
            let dynamic: DynamicObject =
                serde_json::from_value(object).map_err(kube::Error::SerdeError)?;
            match api.create(&PostParams::default(), &dynamic).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
                Err(error) => Err(error),
            }
        })
        .buffer_unordered(PARALLEL)
        .try_collect()
        .await
}
