//! The occupancy index fed by the pool, IPAM block and pod caches (algorithms §2.9): watch events update it
//! incrementally, requests read a ready status.

use std::sync::{Arc, RwLock, RwLockReadGuard};

use super::block::CachedBlock;
use super::cache::Observer;
use super::calico::IPPool;
use super::generation::Generation;
use super::pod::CachedPod;
use crate::domain::binding::NamespaceInput;
use crate::domain::cidr::Cidr;
use crate::domain::occupancy::{Occupancy, PodInput};
use crate::domain::pool::{Pool, default_allowed_uses};

/// The cluster's [`Occupancy`] behind a lock: the cache observers write it, requests read it.
#[derive(Default)]
pub struct OccupancyIndex {
    inner: RwLock<Occupancy>,
    /// Moves after every change.
    generation: Generation,
}

impl OccupancyIndex {
    /// Read access to the index (held briefly: compute what you need, then drop it).
    pub fn read(&self) -> RwLockReadGuard<'_, Occupancy> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Equal to an earlier reading exactly when the index did not change in between: what is computed from it
    /// after a reading stays valid while this is unchanged.
    pub fn generation(&self) -> u64 {
        self.generation.current()
    }

    /// Changes the index, then moves the generation.
    fn update(&self, change: impl FnOnce(&mut Occupancy)) {
        change(&mut self.inner.write().unwrap_or_else(|e| e.into_inner()));
        self.generation.bump();
    }
}

/// The domain's view of a cached pool.
pub fn pool_facts(pool: &IPPool) -> Pool {
    let allowed_uses = match &pool.spec.allowed_uses {
        Some(uses) if !uses.is_empty() => uses.clone(),
        _ => default_allowed_uses(),
    };
    Pool {
        name: pool.metadata.name.clone().unwrap_or_default(),
        cidr: Cidr::parse(&pool.spec.cidr),
        disabled: pool.spec.disabled == Some(true),
        deleting: pool.metadata.deletion_timestamp.is_some(),
        allowed_uses,
    }
}

/// The domain's view of a namespace (name, labels, annotations).
pub fn namespace_input_of(namespace: &k8s_openapi::api::core::v1::Namespace) -> NamespaceInput {
    NamespaceInput {
        name: namespace.metadata.name.clone().unwrap_or_default(),
        labels: namespace.metadata.labels.clone().unwrap_or_default(),
        annotations: namespace.metadata.annotations.clone().unwrap_or_default(),
    }
}

fn pod_input(pod: &CachedPod) -> PodInput {
    PodInput {
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        name: pod.metadata.name.clone().unwrap_or_default(),
        phase: pod.phase.clone(),
        host_network: pod.host_network,
        ips: pod.ips.clone(),
    }
}

fn name_of<K: kube::Resource>(object: &K) -> String {
    object.meta().name.clone().unwrap_or_default()
}

impl Observer<IPPool> for OccupancyIndex {
    fn applied(&self, pool: &Arc<IPPool>) {
        self.update(|o| o.upsert_pool(&pool_facts(pool)));
    }
    fn deleted(&self, pool: &IPPool) {
        self.update(|o| o.remove_pool(&name_of(pool)));
    }
    fn replaced(&self, pools: &[Arc<IPPool>]) {
        self.update(|o| o.replace_pools(pools.iter().map(|p| pool_facts(p))));
    }
}

impl Observer<CachedBlock> for OccupancyIndex {
    fn applied(&self, block: &Arc<CachedBlock>) {
        let input = block.input.clone();
        self.update(|o| o.upsert_block(&name_of(&**block), input));
    }
    fn deleted(&self, block: &CachedBlock) {
        self.update(|o| o.remove_block(&name_of(block)));
    }
    fn replaced(&self, blocks: &[Arc<CachedBlock>]) {
        let inputs: Vec<_> = blocks
            .iter()
            .map(|b| (name_of(&**b), b.input.clone()))
            .collect();
        self.update(|o| o.replace_blocks(inputs));
    }
}

impl Observer<CachedPod> for OccupancyIndex {
    fn applied(&self, pod: &Arc<CachedPod>) {
        let input = pod_input(pod);
        self.update(|o| o.upsert_pod(input));
    }
    fn deleted(&self, pod: &CachedPod) {
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        self.update(|o| o.remove_pod(&namespace, &name_of(pod)));
    }
    fn replaced(&self, pods: &[Arc<CachedPod>]) {
        let inputs: Vec<_> = pods.iter().map(|p| pod_input(p)).collect();
        self.update(|o| o.replace_pods(inputs));
    }
}
