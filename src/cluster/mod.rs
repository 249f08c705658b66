//! Everything that touches the Kubernetes API: resource types, the CRDs the product generates, and the
//! watch caches every read is served from.

/// `kube::Resource` for a compact cached form of `$full` that keeps its metadata in a `metadata` field: the same
/// kind, group, version, plural and scope.
macro_rules! resource_like {
    ([$($generics:tt)*] $compact:ty, $full:ty) => {
        impl<$($generics)*> kube::Resource for $compact {
            type DynamicType = ();
            type Scope = <$full as kube::Resource>::Scope;

            fn kind(_: &()) -> std::borrow::Cow<'_, str> {
                <$full as kube::Resource>::kind(&())
            }
            fn group(_: &()) -> std::borrow::Cow<'_, str> {
                <$full as kube::Resource>::group(&())
            }
            fn version(_: &()) -> std::borrow::Cow<'_, str> {
                <$full as kube::Resource>::version(&())
            }
            fn api_version(_: &()) -> std::borrow::Cow<'_, str> {
                <$full as kube::Resource>::api_version(&())
            }
            fn plural(_: &()) -> std::borrow::Cow<'_, str> {
                <$full as kube::Resource>::plural(&())
            }
            fn meta(&self) -> &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

pub mod block;
pub mod cache;
pub mod calico;
pub mod caller;
pub mod compact;
pub mod crds;
pub mod generation;
pub mod kubesphere;
pub mod legacy;
pub mod list_watch;
pub mod object_json;
pub mod occupancy;
pub mod pod;
pub mod protobuf;
pub mod rbac;
pub mod selection_index;
pub mod served;
pub mod store;
pub mod workload;

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{Namespace, Node, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Client;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use block::CachedBlock;
use cache::Observer;
use cache::{Cache, CacheInfo, Cached, Listing, Presence, SyncState, start};
use calico::IPPool;
use generation::Generation;
use kubesphere::{NamespaceNetworkPolicy, Workspace};
use legacy::CronJobV1Beta1;
use occupancy::OccupancyIndex;
use pod::CachedPod;
use rbac::{RbacCaches, RbacIndex};
use selection_index::SelectionIndex;
use workload::Workload;

/// The watch caches of every resource a read endpoint needs.
pub struct Caches {
    /// Pods (all namespaces).
    pub pods: Cache<CachedPod>,
    pub namespaces: Cache<Namespace>,
    /// Services (all namespaces).
    pub services: Cache<Service>,
    /// NetworkPolicies (all namespaces).
    pub network_policies: Cache<NetworkPolicy>,
    /// Calico IP pools (optional API).
    pub ippools: Cache<IPPool>,
    /// Calico IPAM blocks (optional API).
    pub ipam_blocks: Cache<CachedBlock>,
    /// NamespaceNetworkPolicies (optional API).
    pub namespace_network_policies: Cache<NamespaceNetworkPolicy>,
    /// KubeSphere workspaces (optional API).
    pub workspaces: Cache<Workspace>,
    /// ReplicaSets (owners of Deployment pods).
    pub replica_sets: Cache<Workload<ReplicaSet>>,
    /// Deployments (migration targets).
    pub deployments: Cache<Workload<Deployment>>,
    /// StatefulSets (migration targets).
    pub stateful_sets: Cache<Workload<StatefulSet>>,
    /// DaemonSets (migration targets).
    pub daemon_sets: Cache<Workload<DaemonSet>>,
    /// `batch/v1` CronJobs (Kubernetes ≥ 1.21).
    pub cron_jobs: Cache<Workload<CronJob>>,
    /// `batch/v1beta1` CronJobs (Kubernetes ≤ 1.24); read only when `batch/v1` is absent.
    pub cron_jobs_v1beta1: Cache<Workload<CronJobV1Beta1>>,
    /// Nodes, for their SNAT addresses; only where the controller runs.
    pub nodes: Option<Cache<Node>>,
    /// Roles and bindings, for deciding grants without kube-apiserver; only with `auth.localRbac` where the API
    /// is served.
    pub rbac: Option<Arc<RbacCaches>>,
    /// Pool occupancy, fed by the pool, block and pod caches.
    pub occupancy: Arc<OccupancyIndex>,
    /// Pods by stored label and by namespace, for selective lists.
    pub pod_index: Arc<SelectionIndex<CachedPod>>,
    /// Services by namespace (and stored label), for one namespace's list.
    pub service_index: Arc<SelectionIndex<Service>>,
    /// NamespaceNetworkPolicies by namespace (and stored label), for one namespace's list.
    pub nsnp_index: Arc<SelectionIndex<NamespaceNetworkPolicy>>,
    /// Moves on every change of pods, pools, services and ReplicaSets (what pod lists depend on).
    pub pod_list_generation: Arc<Generation>,
    /// Moves on every change of namespaces and pools (what namespace lists depend on).
    pub namespace_list_generation: Arc<Generation>,
    /// Moves on every change of NamespaceNetworkPolicies (what their lists depend on).
    pub nsnp_list_generation: Arc<Generation>,
    /// `cache.maxWatchFailureSeconds`: how long a synced cache's watch may fail before `/readyz` fails.
    max_watch_failure: Duration,
}

/// Only what identifies an object (name, namespace, uid, resourceVersion): for cached kinds whose labels and
/// annotations nothing reads.
pub(crate) fn identifying(metadata: ObjectMeta) -> ObjectMeta {
    ObjectMeta {
        name: metadata.name,
        namespace: metadata.namespace,
        uid: metadata.uid,
        resource_version: metadata.resource_version,
        ..Default::default()
    }
}

/// Observers of other components (the controller's work queues), added to the caches' own.
#[derive(Default)]
pub struct ExtraObservers {
    /// Of namespaces.
    pub namespaces: Vec<Arc<dyn Observer<Namespace>>>,
    /// Of Calico pools.
    pub ippools: Vec<Arc<dyn Observer<IPPool>>>,
    /// Of NamespaceNetworkPolicies.
    pub namespace_network_policies: Vec<Arc<dyn Observer<NamespaceNetworkPolicy>>>,
    /// Of Workspaces.
    pub workspaces: Vec<Arc<dyn Observer<Workspace>>>,
    /// Of Services.
    pub services: Vec<Arc<dyn Observer<Service>>>,
    /// Of NetworkPolicies.
    pub network_policies: Vec<Arc<dyn Observer<NetworkPolicy>>>,
    /// Of Nodes; `None` leaves the node cache unstarted (only the controller reads nodes).
    pub nodes: Option<Vec<Arc<dyn Observer<Node>>>>,
}

/// `own` followed by `extra`.
fn with<K>(
    mut own: Vec<Arc<dyn Observer<K>>>,
    extra: Vec<Arc<dyn Observer<K>>>,
) -> Vec<Arc<dyn Observer<K>>> {
    own.extend(extra);
    own
}

/// One line of the readiness report: a cache and whether it is ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheReadiness {
    /// `<plural>.<group>`.
    pub resource: String,
    /// Synced, or its API is absent.
    pub ready: bool,
    /// How long the watch of this synced cache has been failing, once longer than
    /// `cache.maxWatchFailureSeconds` (api §5, check `watch`).
    pub watch_failing_for: Option<Duration>,
}

/// What `/metrics` tells of one cache (api §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheStats {
    /// `<plural>.<group>`.
    pub resource: String,
    /// Objects cached.
    pub objects: usize,
    /// Times its watch failed and was restarted with a re-list.
    pub restarts: u64,
    /// Since its watch last delivered an event or completed a list; `None` before the first list and while
    /// the API is absent (nothing is watched).
    pub since_last_event: Option<Duration>,
    /// How long the current run of watch failures has lasted; zero while the watch works.
    pub failing_for: Duration,
}

/// Where caches come from: watches of a live cluster, or (tests) fixed content.
trait CacheSource {
    /// A cache of `K` whose changes `observers` see.
    fn cache<K: Cached>(
        &mut self,
        presence: Presence,
        observers: Vec<Arc<dyn Observer<K>>>,
    ) -> Cache<K> {
        self.listed_cache(presence, Listing::Json, observers)
    }

    /// A cache of `K` that lists as `listing` says, whose changes `observers` see.
    fn listed_cache<K: Cached>(
        &mut self,
        presence: Presence,
        listing: Listing<K>,
        observers: Vec<Arc<dyn Observer<K>>>,
    ) -> Cache<K>;
}

impl CacheSource for cache::Content<'_> {
    fn listed_cache<K: Cached>(
        &mut self,
        _: Presence,
        _: Listing<K>,
        observers: Vec<Arc<dyn Observer<K>>>,
    ) -> Cache<K> {
        cache::Content::cache(self, observers)
    }
}

/// Watches of a live cluster, their tasks collected in `tasks`.
struct Watches<'a> {
    client: &'a Client,
    discovery_interval: Duration,
    stop: &'a CancellationToken,
    tasks: JoinSet<()>,
}

impl CacheSource for Watches<'_> {
    fn listed_cache<K: Cached>(
        &mut self,
        presence: Presence,
        listing: Listing<K>,
        observers: Vec<Arc<dyn Observer<K>>>,
    ) -> Cache<K> {
        start(
            self.client,
            presence,
            listing,
            self.discovery_interval,
            self.stop,
            &mut self.tasks,
            observers,
        )
    }
}

impl Caches {
    /// Starts every cache; the watch tasks run until `stop` is cancelled. `extra` observers see the changes
    /// too; the node cache starts only when `extra.nodes` is given, the RBAC caches only with `local_rbac`.
    pub fn start(
        client: &Client,
        discovery_interval: Duration,
        max_watch_failure: Duration,
        stop: &CancellationToken,
        extra: ExtraObservers,
        local_rbac: bool,
    ) -> (Self, JoinSet<()>) {
        let mut watches = Watches {
            client,
            discovery_interval,
            stop,
            tasks: JoinSet::new(),
        };
        let caches = Self::assemble(&mut watches, max_watch_failure, extra, local_rbac);
        (caches, watches.tasks)
    }

    /// Caches holding `objects` (as kube-apiserver serves them; each goes to the cache of its `apiVersion` and
    /// `kind`), fed through the watches' parsing and observers, RBAC caches included: a cluster's state without
    /// kube-apiserver. No watch feeds them, so none fails.
    pub fn holding(objects: &[serde_json::Value]) -> Self {
        Self::assemble(
            &mut cache::Content(objects),
            Duration::MAX,
            ExtraObservers::default(),
            true,
        )
    }

    /// Every cache from `source`, with the indexes the reads need as observers.
    fn assemble(
        source: &mut impl CacheSource,
        max_watch_failure: Duration,
        extra: ExtraObservers,
        local_rbac: bool,
    ) -> Self {
        let occupancy = Arc::new(OccupancyIndex::default());
        let pod_index = Arc::new(SelectionIndex::<CachedPod>::default());
        let service_index = Arc::new(SelectionIndex::<Service>::default());
        let nsnp_index = Arc::new(SelectionIndex::<NamespaceNetworkPolicy>::default());
        let generation = Arc::new(Generation::default());
        let namespace_generation = Arc::new(Generation::default());
        let nsnp_generation = Arc::new(Generation::default());
        use Presence::{Optional, Required};
        Self {
            pods: source.listed_cache(
                Required,
                Listing::Protobuf(CachedPod::from_protobuf),
                vec![occupancy.clone(), pod_index.clone(), generation.clone()],
            ),
            namespaces: source.cache(
                Required,
                with(vec![namespace_generation.clone()], extra.namespaces),
            ),
            services: source.cache(
                Required,
                with(
                    vec![generation.clone(), service_index.clone()],
                    extra.services,
                ),
            ),
            network_policies: source.cache(Required, extra.network_policies),
            ippools: source.cache(
                Optional,
                with(
                    vec![
                        occupancy.clone(),
                        generation.clone(),
                        namespace_generation.clone(),
                    ],
                    extra.ippools,
                ),
            ),
            ipam_blocks: source.cache(Optional, vec![occupancy.clone()]),
            namespace_network_policies: source.cache(
                Optional,
                with(
                    vec![nsnp_index.clone(), nsnp_generation.clone()],
                    extra.namespace_network_policies,
                ),
            ),
            workspaces: source.cache(Optional, extra.workspaces),
            replica_sets: source.listed_cache(
                Required,
                Listing::Protobuf(Workload::from_protobuf),
                vec![generation.clone()],
            ),
            deployments: source.listed_cache(
                Required,
                Listing::Protobuf(Workload::from_protobuf),
                vec![],
            ),
            stateful_sets: source.listed_cache(
                Required,
                Listing::Protobuf(Workload::from_protobuf),
                vec![],
            ),
            daemon_sets: source.listed_cache(
                Required,
                Listing::Protobuf(Workload::from_protobuf),
                vec![],
            ),
            cron_jobs: source.cache(Optional, vec![]),
            cron_jobs_v1beta1: source.cache(Optional, vec![]),
            nodes: extra
                .nodes
                .map(|observers| source.cache(Required, observers)),
            rbac: local_rbac.then(|| {
                let index = Arc::new(RbacIndex::default());
                Arc::new(RbacCaches {
                    roles: source.cache(Required, vec![index.clone()]),
                    cluster_roles: source.cache(Required, vec![index.clone()]),
                    role_bindings: source.cache(Required, vec![index.clone()]),
                    cluster_role_bindings: source.cache(Required, vec![index.clone()]),
                    index,
                })
            }),
            occupancy,
            pod_index,
            service_index,
            nsnp_index,
            pod_list_generation: generation,
            namespace_list_generation: namespace_generation,
            nsnp_list_generation: nsnp_generation,
            max_watch_failure,
        }
    }

    /// Caches that hold nothing and count as synced, fed by no watch: the state of an empty cluster, for
    /// serving the HTTP layer without kube-apiserver (the route tests do).
    pub fn empty() -> Self {
        Self::holding(&[])
    }

    /// Every started cache, type-erased, in a fixed order.
    fn all(&self) -> Vec<&dyn CacheInfo> {
        let mut all: Vec<&dyn CacheInfo> = vec![
            &self.pods,
            &self.namespaces,
            &self.services,
            &self.network_policies,
            &self.ippools,
            &self.ipam_blocks,
            &self.namespace_network_policies,
            &self.workspaces,
            &self.replica_sets,
            &self.deployments,
            &self.stateful_sets,
            &self.daemon_sets,
            &self.cron_jobs,
            &self.cron_jobs_v1beta1,
        ];
        if let Some(nodes) = &self.nodes {
            all.push(nodes);
        }
        if let Some(rbac) = &self.rbac {
            all.extend(rbac.all());
        }
        all
    }

    /// Size and watch health of every cache at `now`, in a fixed order. Caches of one resource in two versions
    /// (CronJobs) are told apart by their versioned names.
    pub fn stats(&self, now: Instant) -> Vec<CacheStats> {
        let all = self.all();
        let names: Vec<String> = all.iter().map(|c| c.name()).collect();
        all.iter()
            .zip(&names)
            .map(|(c, name)| {
                let health = c.watch_health();
                let watched = c.state() != SyncState::Absent;
                let shared = names.iter().filter(|n| *n == name).count() > 1;
                CacheStats {
                    resource: if shared {
                        c.versioned_name()
                    } else {
                        name.clone()
                    },
                    objects: c.object_count(),
                    restarts: health.restarts(),
                    since_last_event: health
                        .last_success()
                        .filter(|_| watched)
                        .map(|t| now.saturating_duration_since(t)),
                    failing_for: health.failing_for(now),
                }
            })
            .collect()
    }

    /// Readiness of every cache at `now`, in a fixed order; a synced cache whose watch has been failing
    /// for longer than `cache.maxWatchFailureSeconds` is reported as such.
    pub fn readiness(&self, now: Instant) -> Vec<CacheReadiness> {
        let window = self.max_watch_failure;
        self.all()
            .iter()
            .map(|c| CacheReadiness {
                resource: c.name(),
                ready: c.is_ready(),
                watch_failing_for: (c.state() == SyncState::Synced)
                    .then(|| c.watch_health().stale(now, window))
                    .flatten(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_name_every_cache_once() {
        let stats = Caches::empty().stats(Instant::now());
        let names: Vec<&str> = stats.iter().map(|s| s.resource.as_str()).collect();
        let unique: std::collections::BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        for name in ["pods", "cronjobs.v1.batch", "cronjobs.v1beta1.batch"] {
            assert!(names.contains(&name), "{name} in {names:?}");
        }
        // Fixed content: no watch, so nothing failed and no event is known.
        let pods = &stats[0];
        assert_eq!((pods.restarts, pods.failing_for), (0, Duration::ZERO));
        assert_eq!(pods.since_last_event, None);
    }
}
