//! Measures the first list of a user whose rights are per namespace (docs/reliability.md):
//! `scripts/bench-on-plane.sh visibility_scale [<namespaces>]` (default 1,000).
//!
//! Seeds `<namespaces>` namespaces, each with a RoleBinding that lets the plane's static user `alice` list pods
//! there, then, for `auth.localRbac` off and on, starts the server in this process and times
//! `GET /kapis/resources.kubesphere.io/v1alpha3/pods` as alice twice. Off, the first request asks one
//! SubjectAccessReview per namespace; on, the watched RoleBindings answer. The second is answered from caches.

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::authorization::v1::SubjectAccessReview;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding};
use ks_network_apiserver::app::{Mode, Server};
use ks_network_apiserver::config::Config;
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// The bearer token of the control plane's static user `alice` (scripts/control-plane.sh).
const ALICE_TOKEN: &str = "ksnet-alice-token";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: visibility_scale <kubeconfig> [<namespaces>]");
        std::process::exit(2);
    };
    let namespaces: usize = args.get(2).map(|n| n.parse()).transpose()?.unwrap_or(1000);
    let kube_config = kube::Config::from_custom_kubeconfig(
        Kubeconfig::read_from(path)?,
        &KubeConfigOptions::default(),
    )
    .await?;
    let client = kube::Client::try_from(kube_config.clone())?;

    let role = json!({"metadata": {"name": "vis-pod-lister"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]});
    create(&Api::<ClusterRole>::all(client.clone()), role).await?;
    stream::iter(0..namespaces)
        .map(|n| {
            let client = client.clone();
            async move {
                let name = format!("vis-{n}");
                create(&Api::<Namespace>::all(client.clone()), json!({"metadata": {"name": name}})).await?;
                let binding = json!({"metadata": {"name": "alice-lists-pods"},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "vis-pod-lister"},
                    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}]});
                create(&Api::<RoleBinding>::namespaced(client, &name), binding).await
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await?;
    // RBAC learns of bindings from its own watch: wait until it answers for the last one.
    let last = format!("vis-{}", namespaces.saturating_sub(1));
    let review: SubjectAccessReview = serde_json::from_value(json!({"spec": {"user": "alice",
        "groups": ["system:authenticated"],
        "resourceAttributes": {"verb": "list", "resource": "pods", "namespace": last}}}))?;
    let reviews = Api::<SubjectAccessReview>::all(client.clone());
    while !reviews
        .create(&PostParams::default(), &review)
        .await?
        .status
        .is_some_and(|s| s.allowed)
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    for local_rbac in [false, true] {
        let mut config = Config::default();
        config.server.bind_address = "127.0.0.1:0".into();
        config.auth.local_rbac = local_rbac;
        let server = Server::start(&config, kube_config.clone(), Mode::Serve).await?;
        let base = format!("http://{}", server.local_addr());
        let http = reqwest::Client::new();
        while http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .map_or(true, |r| r.status() != 200)
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let list = format!("{base}/kapis/resources.kubesphere.io/v1alpha3/pods?limit=10");
        for attempt in ["first", "second"] {
            let started = Instant::now();
            let response = http.get(&list).bearer_auth(ALICE_TOKEN).send().await?;
            let code = response.status();
            let body: Value = response.json().await?;
            println!(
                "auth.localRbac={local_rbac} {attempt}: {code} in {:.1?} (totalItems {})",
                started.elapsed(),
                body["totalItems"]
            );
        }
        server.shutdown().await?;
    }
    Ok(())
}

/// Creates an object; one that exists already is kept.
async fn create<K>(api: &Api<K>, object: Value) -> Result<(), kube::Error>
where
    K: kube::Resource + Clone + DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let object: K = serde_json::from_value(object).map_err(kube::Error::SerdeError)?;
    match api.create(&PostParams::default(), &object).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(error) => Err(error),
    }
}
