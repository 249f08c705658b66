//! Namespace binding sync (algorithms §4.3): binding labels `ippool.network.kubesphere.io/<pool>` become the
//! Calico annotations `cni.projectcalico.org/ipv4pools` / `ipv6pools` on namespaces that opt in (a binding label
//! or the managed marker), and edits of those annotations on managed namespaces (the console's bind and unbind)
//! move the labels. Triggered by namespace and pool events and the resync.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace;
use kube::Resource;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use tracing::info;

use super::queue::Pending;
use super::{Context, Reason, ReconcileError};
use crate::cluster::caller::FIELD_MANAGER;
use crate::cluster::occupancy::{namespace_input_of, pool_facts};
use crate::domain::binding;

/// Brings one namespace's Calico annotations and binding labels in line with each other. The patch is guarded by
/// the cached resourceVersion: on a conflict the error policy retries after a backoff, by when the cache has the
/// newer version.
pub async fn reconcile(
    namespace: Arc<Namespace>,
    context: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let name = namespace.metadata.name.clone().unwrap_or_default();
    let pools: Vec<_> = context
        .caches
        .ippools
        .store()
        .state()
        .iter()
        .map(|p| pool_facts(p))
        .collect();
    let outcome = binding::sync(&namespace_input_of(&namespace), &pools);
    for entry in &outcome.dropped {
        let message = format!("binding entry {entry} names no pool; dropped");
        let reference = namespace.object_ref(&());
        context
            .event(&reference, Reason::IpPoolBindingDropped, message)
            .await;
    }
    let Some(mut patch) = outcome.patch else {
        return Ok(Action::await_change());
    };
    if let Some(version) = &namespace.metadata.resource_version {
        patch["metadata"]["resourceVersion"] = version.clone().into();
    }
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    Api::<Namespace>::all(context.client.clone())
        .patch(&name, &params, &Patch::Merge(&patch))
        .await?;
    info!(namespace = %name, "pool annotations synced from binding labels");
    Ok(Action::await_change())
}

/// Namespace and pool events name namespaces or everything; other triggers do not concern the binding sync.
pub fn resolve(context: &Context, pending: Pending) -> Vec<String> {
    if pending.all {
        return context
            .caches
            .namespaces
            .store()
            .state()
            .iter()
            .filter_map(|ns| ns.metadata.name.clone())
            .collect();
    }
    pending.namespaces.into_iter().collect()
}
