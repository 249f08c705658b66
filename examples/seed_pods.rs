//! Seeds many pods with addresses into a cluster, for measuring list performance:
//! `cargo run --release --example seed_pods -- <kubeconfig> <pods> [<namespaces>]`.
//!
//! Pods `bench-<n>` in namespaces `bench-<n % namespaces>`, labels `app=bench-<n % 20>` and `tier`, an address in
//! 10.20.0.0/16 and a start time, written through the status subresource. Idempotent (existing pods are kept).

use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(count)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: seed_pods <kubeconfig> <pods> [<namespaces>]");
        std::process::exit(2);
    };
    let count: usize = count.parse()?;
    let namespaces: usize = args.get(3).map(|n| n.parse()).transpose()?.unwrap_or(10);
    let config = kube::Config::from_custom_kubeconfig(
        Kubeconfig::read_from(path)?,
        &KubeConfigOptions::default(),
    )
    .await?;
    let client = kube::Client::try_from(config)?;
    for n in 0..namespaces {
        let ns: Namespace =
            serde_json::from_value(json!({"metadata": {"name": format!("bench-{n}")}}))?;
        let _ = Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await;
    }
    let started = std::time::Instant::now();
    let results: Vec<Result<(), kube::Error>> = stream::iter(0..count)
        .map(|n| {
            let client = client.clone();
            async move {
                let namespace = format!("bench-{}", n % namespaces);
                let api: Api<Pod> = Api::namespaced(client, &namespace);
                let name = format!("bench-{n}");
                let pod: Pod = serde_json::from_value(json!({
                    "metadata": {"name": name, "labels": {"app": format!("bench-{}", n % 20), "tier": if n % 2 == 0 { "web" } else { "db" }}},
                    "spec": {"containers": [{"name": "c", "image": "pause"}], "nodeName": format!("node-{}", n % 50)}
                }))
                .map_err(kube::Error::SerdeError)?;
                match api.create(&PostParams::default(), &pod).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if s.code == 409 => {}
                    Err(e) => return Err(e),
                }
                let ip = format!("10.20.{}.{}", n / 256, n % 256);
                let second = n % 60;
                let status = json!({"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                    "startTime": format!("2026-03-02T10:{:02}:{second:02}Z", (n / 60) % 60)}});
                api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status)).await?;
                Ok(())
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let failed = results.iter().filter(|r| r.is_err()).count();
    println!(
        "seeded {count} pods in {:.1} s ({failed} failed)",
        started.elapsed().as_secs_f64()
    );
    if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
        eprintln!("first error: {e}");
    }
    Ok(())
}
