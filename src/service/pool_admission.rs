//! IPPool admission (api §6, algorithms §13): the domain's decision over the caches. Pools, usage and bindings
//! come from the watch caches and the occupancy index; no request lists anything.

use crate::cluster::store::Store;

use super::{Context, synced};
use crate::cluster::Caches;
use crate::cluster::cache::{Cache, Cached};
use crate::cluster::calico::IPPool;
use crate::cluster::occupancy::{namespace_input_of, pool_facts};
use crate::domain::binding::bound_pools;
use crate::domain::pool::Pool;
use crate::domain::pool_admission::{Admission, Decision, PoolSpec, Usage, decide};

/// The change to a Calico pool that kube-apiserver asks about.
#[derive(Clone, Debug)]
pub enum PoolChange {
    Create(IPPool),
    /// The stored pool (boxed: every variant is about one pool's size) and the new one.
    Update {
        old: Box<IPPool>,
        new: IPPool,
    },
    /// The stored pool about to be deleted.
    Delete(IPPool),
}

/// Whether `change` may happen. Before the pool cache synced, a CREATE or UPDATE is denied with code 503 like a
/// DELETE whose usage is not known.
pub fn review(context: &Context, change: &PoolChange) -> Decision {
    review_over(&context.caches, change)
}

fn review_over(caches: &Caches, change: &PoolChange) -> Decision {
    match change {
        PoolChange::Create(pool) => match cached_pools(caches) {
            Ok(pools) => decide(Admission::Create {
                pool: &spec_of(pool),
                pools: &pools,
            }),
            Err(unavailable) => unavailable,
        },
        PoolChange::Update { old, new } => match cached_pools(caches) {
            Ok(pools) => decide(Admission::Update {
                old: &spec_of(old),
                new: &spec_of(new),
                pools: &pools,
            }),
            Err(unavailable) => unavailable,
        },
        PoolChange::Delete(pool) => {
            let name = pool.metadata.name.as_deref().unwrap_or_default();
            let (usage, bound) = usage(caches, name);
            decide(Admission::Delete {
                usage,
                bound_namespaces: &bound,
            })
        }
    }
}

/// The domain's view of every cached pool, or the 503 denial before the pool cache synced.
fn cached_pools(caches: &Caches) -> Result<Vec<Pool>, Decision> {
    let store = synced(&caches.ippools).map_err(|e| Decision::Unavailable(e.to_string()))?;
    Ok(store.state().iter().map(|p| pool_facts(p)).collect())
}

/// The store of a cache that can be read, `None` while it syncs.
fn ready<K: Cached>(cache: &Cache<K>) -> Option<&Store<K>> {
    cache.is_ready().then(|| cache.store())
}

/// The pool's usage (algorithms §2, from the occupancy index) and the namespaces bound to it (algorithms §4.1);
/// unknown until the pool, IPAM block, pod and namespace caches synced and the index knows the pool.
fn usage(caches: &Caches, name: &str) -> (Usage, Vec<String>) {
    let unknown = (Usage::Unknown, Vec::new());
    let (Some(pools), Some(_), Some(_), Some(namespaces)) = (
        ready(&caches.ippools),
        ready(&caches.ipam_blocks),
        ready(&caches.pods),
        ready(&caches.namespaces),
    ) else {
        return unknown;
    };
    let Some(status) = caches.occupancy.read().status(name) else {
        return unknown;
    };
    let pools: Vec<Pool> = pools.state().iter().map(|p| pool_facts(p)).collect();
    let bound = namespaces
        .state()
        .iter()
        .map(|ns| namespace_input_of(ns))
        .filter(|ns| bound_pools(ns, &pools).contains(name))
        .map(|ns| ns.name)
        .collect();
    let usage = Usage::Known {
        allocations: status.allocations,
        tunnel: status.tunnel,
    };
    (usage, bound)
}

/// The admission facts of a pool's defaulted spec (algorithms §1.2).
fn spec_of(pool: &IPPool) -> PoolSpec {
    let defaulted = pool.spec.with_read_defaults();
    PoolSpec {
        name: pool.metadata.name.clone().unwrap_or_default(),
        cidr: pool.spec.cidr.clone(),
        block_size: defaulted.block_size.map(i64::from).unwrap_or_default(),
        block_size_set: pool.spec.block_size.is_some_and(|size| size != 0),
        ipip_mode: defaulted.ipip_mode.unwrap_or_default(),
        vxlan_mode: defaulted.vxlan_mode.unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::calico::IPPoolSpec;
    use crate::domain::pool_admission::USAGE_UNKNOWN;

    fn pool(name: &str, spec: serde_json::Value) -> IPPool {
        IPPool::new(name, serde_json::from_value::<IPPoolSpec>(spec).unwrap())
    }

    #[test]
    fn deletes_wait_for_the_block_cache_case_168() {
        let mut caches = Caches::empty();
        caches.ipam_blocks = Cache::syncing();
        let doomed = pool("p", serde_json::json!({"cidr": "10.0.0.0/16"}));
        assert_eq!(
            review_over(&caches, &PoolChange::Delete(doomed)),
            Decision::Unavailable(USAGE_UNKNOWN.into())
        );
    }

    #[test]
    fn a_pool_the_caches_do_not_know_has_unknown_usage() {
        let doomed = pool("p", serde_json::json!({"cidr": "10.0.0.0/16"}));
        assert_eq!(
            review_over(&Caches::empty(), &PoolChange::Delete(doomed)),
            Decision::Unavailable(USAGE_UNKNOWN.into())
        );
    }

    #[test]
    fn creates_wait_for_the_pool_cache() {
        let mut caches = Caches::empty();
        caches.ippools = Cache::syncing();
        let new = pool("p", serde_json::json!({"cidr": "10.0.0.0/16"}));
        assert_eq!(
            review_over(&caches, &PoolChange::Create(new)),
            Decision::Unavailable(
                "the server is not ready to serve ippools.crd.projectcalico.org".into()
            )
        );
    }

    #[test]
    fn specs_are_read_with_calico_defaults() {
        let legacy = pool(
            "legacy",
            serde_json::json!({"cidr": "fd00::/64", "blockSize": 0, "ipip": {"enabled": true}}),
        );
        assert_eq!(
            spec_of(&legacy),
            PoolSpec {
                name: "legacy".into(),
                cidr: "fd00::/64".into(),
                block_size: 122,
                block_size_set: false,
                ipip_mode: "Always".into(),
                vxlan_mode: "Never".into(),
            }
        );
        assert_eq!(
            review_over(&Caches::empty(), &PoolChange::Create(legacy.clone())),
            Decision::Forbidden("ipipMode must be Never for IPv6 pools".into())
        );
    }
}
