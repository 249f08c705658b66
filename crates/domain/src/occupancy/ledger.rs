//! What each counted block contributes to its pool (algorithms §2.4), and the ledger: per-pool running sums of
//! those contributions and of the pod fallback counters, kept up to date with the (namespace, pod) references.

use std::collections::{BTreeMap, BTreeSet};

use crate::cidr::Cidr;

use super::key::{self, PodKey};
use super::{AttributeInput, BlockInput, BlockState, Keys, PodState, PoolName, PoolStatus};

/// `secondary.type` values of tunnel addresses (algorithms §2.4).
pub(super) const TUNNEL_TYPES: [&str; 5] = [
    "ipipTunnelAddress",
    "vxlanTunnelAddress",
    "vxlanV6TunnelAddress",
    "wireguardTunnelAddress",
    "wireguardV6TunnelAddress",
];

/// Calico's handle for addresses reserved on Windows nodes, compared case-insensitively (algorithms §2.4).
pub(super) const WINDOWS_HANDLE: &str = "windows-reserved-ipam-handle";

/// What one counted block (not deleted, valid CIDR) contributes to the pool it is attributed to. Every count is
/// at most the block's number of ordinals, so a `u64` holds it. A block has a few dozen namespaces and keys at
/// most: slices cost less than maps.
#[derive(Clone, Debug, Default)]
pub(super) struct BlockContribution {
    /// Non-null ordinals within the block size.
    ordinals: u64,
    allocations: u64,
    tunnel: u64,
    reserved: u64,
    /// Allocations per non-empty namespace, one entry per namespace.
    namespaces: Box<[(Box<str>, u64)]>,
    /// Allocations per (namespace, pod) key, both non-empty (the leak check's candidates), one entry per key.
    pod_refs: Box<[(PodKey, u64)]>,
}

/// What one block of `size` addresses contributes to its pool (algorithms §2.4), in O(size + attributes). Its pod
/// keys are new: [`Ledger::apply_block`] swaps them for the shared ones.
pub(super) fn contribution(block: &BlockInput, size: u128) -> BlockContribution {
    let ordinals = usize::try_from(size).unwrap_or(usize::MAX);
    // Ordinals per attribute index, plus ordinals with an index outside the attributes (negative or too large).
    let mut per_attribute = vec![0u64; block.attributes.len()];
    let mut bad_index: u64 = 0;
    let mut used: u64 = 0;
    for value in block.allocations.iter().take(ordinals).flatten() {
        used = used.saturating_add(1);
        let slot = usize::try_from(*value)
            .ok()
            .and_then(|i| per_attribute.get_mut(i));
        match slot {
            Some(count) => *count = count.saturating_add(1),
            None => bad_index = bad_index.saturating_add(1),
        }
    }
    let mut out = BlockContribution {
        ordinals: used,
        reserved: bad_index,
        ..BlockContribution::default()
    };
    let mut namespaces: BTreeMap<&str, u64> = BTreeMap::new();
    let mut pod_refs: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for (attribute, &count) in block.attributes.iter().zip(&per_attribute) {
        if count == 0 {
            continue;
        }
        match attribute {
            AttributeInput::Reserved => out.reserved = out.reserved.saturating_add(count),
            AttributeInput::Tunnel => out.tunnel = out.tunnel.saturating_add(count),
            AttributeInput::Allocation { namespace, pod } => {
                out.allocations = out.allocations.saturating_add(count);
                if !namespace.is_empty() {
                    let entry = namespaces.entry(&**namespace).or_default();
                    *entry = entry.saturating_add(count);
                    if !pod.is_empty() {
                        let entry = pod_refs.entry((&**namespace, &**pod)).or_default();
                        *entry = entry.saturating_add(count);
                    }
                }
            }
        }
    }
    out.namespaces = namespaces
        .into_iter()
        .map(|(namespace, count)| (Box::from(namespace), count))
        .collect();
    out.pod_refs = pod_refs
        .into_iter()
        .map(|((namespace, pod), count)| (PodKey::new(namespace, pod), count))
        .collect();
    out
}

/// Counts per pool of one pod key: nearly always one pool, so a short slice (a `BTreeMap` node per key would cost
/// ten times the memory). A count is at most the allocations in memory: a `u64`.
#[derive(Clone, Debug, Default)]
pub(super) struct PoolCounts(Box<[(PoolName, u64)]>);

impl PoolCounts {
    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds (`add`) or subtracts `count` at `pool`, dropping pools that reach 0.
    fn bump(&mut self, pool: &PoolName, count: u64, add: bool) {
        let at = self.0.iter().position(|(name, _)| name == pool);
        match (at, add) {
            (Some(at), true) => self.0[at].1 = self.0[at].1.saturating_add(count),
            (None, true) if count > 0 => {
                self.0 = self
                    .0
                    .iter()
                    .cloned()
                    .chain([(pool.clone(), count)])
                    .collect();
            }
            (Some(at), false) => {
                self.0[at].1 = self.0[at].1.saturating_sub(count);
                if self.0[at].1 == 0 {
                    self.0 = self.0.iter().filter(|(_, c)| *c > 0).cloned().collect();
                }
            }
            _ => {}
        }
    }
}

/// Adds (`add`) or subtracts `count` at `key`, dropping keys that reach 0.
fn bump(map: &mut BTreeMap<String, u128>, key: &str, count: u64, add: bool) {
    let count = u128::from(count);
    if add {
        match map.get_mut(key) {
            Some(v) => *v = v.saturating_add(count),
            None => {
                if count > 0 {
                    map.insert(key.to_owned(), count);
                }
            }
        }
    } else if let Some(v) = map.get_mut(key) {
        *v = v.saturating_sub(count);
        if *v == 0 {
            map.remove(key);
        }
    }
}

/// Adds (`add`) or subtracts `count`.
fn step(counter: &mut u128, count: u64, add: bool) {
    let count = u128::from(count);
    *counter = if add {
        counter.saturating_add(count)
    } else {
        counter.saturating_sub(count)
    };
}

/// Running sums for one pool.
#[derive(Clone, Debug, Default)]
pub(super) struct PoolAggregate {
    pub(super) cidr: Option<Cidr>,
    /// Number of counted blocks attributed to the pool; > 0 ⇒ IPAM mode.
    pub(super) blocks: u64,
    allocations: u128,
    tunnel: u128,
    reserved: u128,
    pub(super) namespaces: BTreeMap<String, u128>,
    leaked: u128,
    fallback_allocations: u128,
    pub(super) fallback_namespaces: BTreeMap<String, u128>,
    pods: u128,
}

impl PoolAggregate {
    /// No blocks, no pods: the sums of a pool that was just added or is being re-attributed.
    pub(super) fn empty(cidr: Option<Cidr>) -> PoolAggregate {
        PoolAggregate {
            cidr,
            ..PoolAggregate::default()
        }
    }

    pub(super) fn status(&self) -> PoolStatus {
        let Some(cidr) = self.cidr else {
            return PoolStatus::zero();
        };
        let capacity = cidr.size();
        if self.blocks > 0 {
            PoolStatus {
                capacity,
                allocations: self.allocations,
                unallocated: capacity
                    .saturating_sub(self.allocations)
                    .saturating_sub(self.tunnel)
                    .saturating_sub(self.reserved),
                reserved: self.reserved,
                tunnel: self.tunnel,
                namespaces: self.namespaces.clone(),
                pods: self.pods,
                leaked: self.leaked,
            }
        } else {
            PoolStatus {
                capacity,
                allocations: self.fallback_allocations,
                unallocated: capacity.saturating_sub(self.fallback_allocations),
                reserved: 0,
                tunnel: 0,
                namespaces: self.fallback_namespaces.clone(),
                pods: self.pods,
                leaked: 0,
            }
        }
    }
}

/// The per-pool sums, by pool (whose keys are the shared pool names), and the orphan blocks.
#[derive(Clone, Debug, Default)]
pub(super) struct Ledger {
    pub(super) pools: BTreeMap<PoolName, PoolAggregate>,
    pub(super) orphan_names: BTreeSet<String>,
    pub(super) orphan_allocations: u64,
}

impl Ledger {
    /// Adds or removes a block's contribution, and its references to `keys` (which give liveness for the leak
    /// check). Adding swaps the block's pod keys for the shared ones.
    pub(super) fn apply_block(
        &mut self,
        name: &str,
        block: &mut BlockState,
        keys: &mut Keys,
        add: bool,
    ) {
        let Some(contribution) = &mut block.contribution else {
            return;
        };
        let Some(pool_name) = &block.pool else {
            if add {
                self.orphan_names.insert(name.to_owned());
                self.orphan_allocations = self
                    .orphan_allocations
                    .saturating_add(contribution.ordinals);
            } else {
                self.orphan_names.remove(name);
                self.orphan_allocations = self
                    .orphan_allocations
                    .saturating_sub(contribution.ordinals);
            }
            return;
        };
        let Some(pool) = self.pools.get_mut(pool_name) else {
            return;
        };
        pool.blocks = if add {
            pool.blocks.saturating_add(1)
        } else {
            pool.blocks.saturating_sub(1)
        };
        step(&mut pool.allocations, contribution.allocations, add);
        step(&mut pool.tunnel, contribution.tunnel, add);
        step(&mut pool.reserved, contribution.reserved, add);
        for (namespace, count) in &contribution.namespaces {
            bump(&mut pool.namespaces, namespace, *count, add);
        }
        for (key, count) in &mut contribution.pod_refs {
            let entry = if add {
                let (shared, entry) = key::entry(keys, key.clone());
                *key = shared;
                entry
            } else {
                match keys.get_mut(&*key) {
                    Some(entry) => entry,
                    None => continue,
                }
            };
            if !entry.live() {
                step(&mut pool.leaked, *count, add);
            }
            entry.refs.bump(pool_name, *count, add);
            if entry.is_empty() {
                keys.remove(&*key);
            }
        }
    }

    /// Adds or removes a pod's `pods` and fallback counts (not its liveness: see [`Ledger::liveness`]); `ranked`
    /// is the pool-of candidates the pod's pools were computed with.
    pub(super) fn apply_pod(
        &mut self,
        namespace: &str,
        pod: &PodState,
        ranked: &[(PoolName, Cidr)],
        add: bool,
    ) {
        if !pod.counted() {
            return;
        }
        for pool_name in &pod.pools {
            if let Some(pool) = self.pools.get_mut(pool_name) {
                step(&mut pool.pods, 1, add);
            }
        }
        for pool_name in pod.address_pools(ranked) {
            if let Some(pool) = self.pools.get_mut(pool_name) {
                step(&mut pool.fallback_allocations, 1, add);
                bump(&mut pool.fallback_namespaces, namespace, 1, add);
            }
        }
    }

    /// The key referenced by `refs` became a live pod's (`live`) or stopped being one: adjusts `leaked` of the
    /// pools referencing it.
    pub(super) fn liveness(&mut self, refs: &PoolCounts, live: bool) {
        for (pool_name, count) in &refs.0 {
            if let Some(pool) = self.pools.get_mut(pool_name) {
                step(&mut pool.leaked, *count, !live);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::super::fixtures::{World, attr, block, ns, pod, pod_attr, pool, tunnel_attr};
    use super::super::{BlockInput, Occupancy, PoolStatus};
    use super::key;

    #[test]
    fn each_key_and_pool_name_is_allocated_once() {
        let referencing =
            |cidr: &str, name: &str| block(cidr, 64, &[(1, 0)], vec![pod_attr("h", "ns", name)]);
        let mut occ = Occupancy::new();
        occ.upsert_pool(&pool("a", "10.0.0.0/24"));
        // A pod, then a block referencing it.
        occ.upsert_pod(pod("ns", "p", &["10.0.0.1"]));
        occ.upsert_block("b1", referencing("10.0.0.0/26", "p"));
        // A block, then the pod it references.
        occ.upsert_block("b2", referencing("10.0.0.64/26", "q"));
        occ.upsert_pod(pod("ns", "q", &["10.0.0.65"]));
        // An orphan block, the pod it references, then a pool that adopts the block.
        occ.upsert_block("b3", referencing("10.1.0.0/26", "r"));
        occ.upsert_pod(pod("ns", "r", &["10.1.0.1"]));
        occ.upsert_pool(&pool("b", "10.1.0.0/24"));

        for (name, pool, block) in [("p", "a", "b1"), ("q", "a", "b2"), ("r", "b", "b3")] {
            let (key, _) = key::find(&occ.keys, "ns", name).unwrap();
            let member = occ.members[pool].get(key).unwrap();
            let state = &occ.blocks[block];
            let (referenced, _) = &state.contribution.as_ref().unwrap().pod_refs[0];
            assert!(key.shares(member) && key.shares(referenced), "{name}");

            let (pool_name, _) = occ.ledger.pools.get_key_value(pool).unwrap();
            let (member_pool, _) = occ.members.get_key_value(pool).unwrap();
            let of_pod = &occ.pools_of_pod("ns", name)[0];
            let of_block = state.pool.as_ref().unwrap();
            for clone in [member_pool, of_pod, of_block] {
                assert!(Arc::ptr_eq(pool_name, clone), "{name}: {pool}");
            }
        }
    }

    // ---- how a block's ordinals are classified: cases 7–10 ----

    #[test]
    fn case_07_all_tunnel_kinds() {
        let w = World {
            pools: vec![pool("tun", "10.50.0.0/24")],
            blocks: vec![(
                "10-50-0-0-26".into(),
                block(
                    "10.50.0.0/26",
                    64,
                    &[(0, 0), (1, 1), (2, 2)],
                    vec![
                        tunnel_attr("ipip-tunnel-addr-n1", "ipipTunnelAddress"),
                        tunnel_attr("vxlan-tunnel-addr-n1", "vxlanTunnelAddress"),
                        tunnel_attr("wireguard-tunnel-addr-n1", "wireguardTunnelAddress"),
                    ],
                ),
            )],
            pods: vec![],
        };
        let status = w.status("tun");
        assert_eq!(
            status,
            PoolStatus {
                capacity: 256,
                allocations: 0,
                unallocated: 253,
                reserved: 0,
                tunnel: 3,
                namespaces: BTreeMap::new(),
                pods: 0,
                leaked: 0,
            }
        );
    }

    #[test]
    fn case_08_null_secondary() {
        let w = World {
            pools: vec![pool("legacy", "10.60.0.0/24")],
            blocks: vec![(
                "10-60-0-0-26".into(),
                block(
                    "10.60.0.0/26",
                    64,
                    &[(5, 0)],
                    vec![attr(Some("k8s-pod-network.z"), None)],
                ),
            )],
            pods: vec![],
        };
        let status = w.status("legacy");
        assert_eq!(status.allocations, 1);
        assert_eq!(status.namespaces, BTreeMap::new());
        assert_eq!(status.leaked, 0);
        assert_eq!(status.reserved, 0);
        assert_eq!(status.unallocated, 255);
    }

    #[test]
    fn case_09_handle_comparison_ignores_case_and_bad_index_is_reserved() {
        let w = World {
            pools: vec![pool("r", "10.61.0.0/24")],
            blocks: vec![(
                "10-61-0-0-26".into(),
                block(
                    "10.61.0.0/26",
                    64,
                    &[(0, 0), (1, 7)],
                    vec![attr(Some("Windows-Reserved-IPAM-Handle"), None)],
                ),
            )],
            pods: vec![],
        };
        let status = w.status("r");
        assert_eq!(status.reserved, 2);
        assert_eq!(status.allocations, 0);
        assert_eq!(status.unallocated, 254);
    }

    #[test]
    fn case_10_allocation_array_length_differs_from_block_size() {
        let a = || {
            vec![attr(
                Some("k8s-pod-network.p"),
                Some(&[("namespace", "a"), ("pod", "p")]),
            )]
        };
        let w = World {
            pools: vec![pool("len", "10.70.0.0/24")],
            blocks: vec![
                (
                    "10-70-0-0-26".into(),
                    BlockInput {
                        cidr: "10.70.0.0/26".into(),
                        deleted: false,
                        allocations: vec![Some(0), None, Some(0)],
                        attributes: a(),
                    },
                ),
                (
                    "10-70-0-64-26".into(),
                    block("10.70.0.64/26", 70, &[(65, 0)], a()),
                ),
            ],
            pods: vec![],
        };
        let status = w.status("len");
        assert_eq!(status.allocations, 2);
        assert_eq!(status.namespaces, ns(&[("a", 2)]));
    }

    #[test]
    fn negative_and_out_of_range_indexes_are_reserved() {
        let w = World {
            pools: vec![pool("n", "10.0.0.0/24")],
            blocks: vec![(
                "b".into(),
                BlockInput {
                    cidr: "10.0.0.0/30".into(),
                    deleted: false,
                    allocations: vec![Some(-1), Some(i64::MIN), Some(i64::MAX), Some(0), Some(-5)],
                    attributes: vec![pod_attr("k8s-pod-network.x", "a", "b")],
                },
            )],
            pods: vec![],
        };
        let status = w.status("n");
        // Ordinal 4 is beyond the /30's 4 addresses.
        assert_eq!(
            (status.reserved, status.allocations, status.leaked),
            (3, 1, 1)
        );
    }
}
