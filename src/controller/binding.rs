//! Namespace binding sync (algorithms §4.3): binding labels `ippool.network.kubesphere.io/<pool>` become the
//! Calico annotations `cni.projectcalico.org/ipv4pools` / `ipv6pools` on namespaces that opt in (a binding label
//! or the managed marker). Event-driven from the namespace and pool caches, with a periodic full resync.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::ObjectRef;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::cluster::Caches;
use crate::cluster::caller::FIELD_MANAGER;
use crate::cluster::dirty::{Dirty, DirtyNamespaces};
use crate::cluster::occupancy::{namespace_input_of, pool_facts};
use crate::domain::binding;

/// How often every namespace is reconciled even without events.
const RESYNC: Duration = Duration::from_secs(300);
/// Pause before retrying after a failed write.
const RETRY: Duration = Duration::from_secs(2);

/// Runs the sync until `stop` is cancelled.
pub async fn run(
    client: Client,
    caches: Arc<Caches>,
    dirty: Arc<DirtyNamespaces>,
    stop: CancellationToken,
) {
    let api: Api<Namespace> = Api::all(client);
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = dirty.marked() => {}
            _ = tokio::time::sleep(RESYNC) => dirty.mark_all(),
        }
        if !(caches.namespaces.is_ready() && caches.ippools.is_ready()) {
            // Not synced yet: keep the marks and look again shortly.
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(RETRY) => dirty.mark_all(),
            }
            continue;
        }
        let names: Vec<String> = match dirty.take() {
            Dirty::Nothing => continue,
            Dirty::Names(names) => names.into_iter().collect(),
            Dirty::All => caches
                .namespaces
                .store()
                .state()
                .iter()
                .filter_map(|ns| ns.metadata.name.clone())
                .collect(),
        };
        let pools: Vec<_> = caches
            .ippools
            .store()
            .state()
            .iter()
            .map(|p| pool_facts(p))
            .collect();
        let mut failed = false;
        for name in names {
            let Some(namespace) = caches.namespaces.store().get(&ObjectRef::new(&name)) else {
                continue;
            };
            let outcome = binding::sync(&namespace_input_of(&namespace), &pools);
            for entry in &outcome.dropped {
                warn!(namespace = %name, entry = %entry, reason = "IPPoolBindingDropped", "binding entry names no pool; dropped");
            }
            let Some(mut patch) = outcome.patch else {
                continue;
            };
            // Guard with the cached version: a concurrent change wins, and its watch event brings us back.
            if let Some(version) = &namespace.metadata.resource_version {
                patch["metadata"]["resourceVersion"] = version.clone().into();
            }
            match api.patch(&name, &params, &Patch::Merge(&patch)).await {
                Ok(_) => info!(namespace = %name, "pool annotations synced from binding labels"),
                Err(kube::Error::Api(status)) if status.code == 409 => dirty.mark(&name),
                Err(error) => {
                    warn!(namespace = %name, %error, "cannot sync pool annotations; retrying");
                    dirty.mark(&name);
                    failed = true;
                }
            }
        }
        if failed {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(RETRY) => {}
            }
        }
    }
}
