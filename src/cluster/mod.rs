//! Everything that touches the Kubernetes API: resource types, the CRDs the product generates, and the
//! watch caches every read is served from.

pub mod cache;
pub mod calico;
pub mod crds;
pub mod kubesphere;

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::Client;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use cache::{Cache, Presence, start};
use calico::{IPAMBlock, IPPool};
use kubesphere::{NamespaceNetworkPolicy, Workspace};

/// The watch caches of every resource a read endpoint needs.
pub struct Caches {
    /// Pods (all namespaces).
    pub pods: Cache<Pod>,
    /// Namespaces.
    pub namespaces: Cache<Namespace>,
    /// Services (all namespaces).
    pub services: Cache<Service>,
    /// NetworkPolicies (all namespaces).
    pub network_policies: Cache<NetworkPolicy>,
    /// Calico IP pools (optional API).
    pub ippools: Cache<IPPool>,
    /// Calico IPAM blocks (optional API).
    pub ipam_blocks: Cache<IPAMBlock>,
    /// NamespaceNetworkPolicies (optional API).
    pub namespace_network_policies: Cache<NamespaceNetworkPolicy>,
    /// KubeSphere workspaces (optional API).
    pub workspaces: Cache<Workspace>,
}

/// One line of the readiness report: a cache and whether it is ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheReadiness {
    /// `<plural>.<group>`.
    pub resource: String,
    /// Synced, or its API is absent.
    pub ready: bool,
}

impl Caches {
    /// Starts every cache; the watch tasks run until `stop` is cancelled.
    pub fn start(
        client: &Client,
        discovery_interval: Duration,
        stop: &CancellationToken,
    ) -> (Self, JoinSet<()>) {
        let mut tasks = JoinSet::new();
        let (c, i, s, t) = (client, discovery_interval, stop, &mut tasks);
        let caches = Self {
            pods: start(c, Presence::Required, i, s, t),
            namespaces: start(c, Presence::Required, i, s, t),
            services: start(c, Presence::Required, i, s, t),
            network_policies: start(c, Presence::Required, i, s, t),
            ippools: start(c, Presence::Optional, i, s, t),
            ipam_blocks: start(c, Presence::Optional, i, s, t),
            namespace_network_policies: start(c, Presence::Optional, i, s, t),
            workspaces: start(c, Presence::Optional, i, s, t),
        };
        (caches, tasks)
    }

    /// Readiness of every cache, in a fixed order.
    pub fn readiness(&self) -> Vec<CacheReadiness> {
        fn line<K: cache::Cached>(c: &Cache<K>) -> CacheReadiness {
            CacheReadiness {
                resource: c.name(),
                ready: c.is_ready(),
            }
        }
        vec![
            line(&self.pods),
            line(&self.namespaces),
            line(&self.services),
            line(&self.network_policies),
            line(&self.ippools),
            line(&self.ipam_blocks),
            line(&self.namespace_network_policies),
            line(&self.workspaces),
        ]
    }
}
