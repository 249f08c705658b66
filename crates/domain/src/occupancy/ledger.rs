//! What each counted block contributes to its pool (algorithms §2.4), and the ledger: per-pool running sums of
//! those contributions and of the pod fallback counters, with the (namespace, pod) cross-references that keep
//! `leaked` up to date.

use std::collections::{BTreeMap, BTreeSet};

use crate::cidr::Cidr;

use super::{AttributeInput, BlockInput, BlockState, PodKey, PodMap, PodState, PoolStatus};

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

/// What one counted block (not deleted, valid CIDR) contributes to the pool it is attributed to.
#[derive(Clone, Debug, Default)]
pub(super) struct BlockContribution {
    /// Non-null ordinals within the block size.
    ordinals: u64,
    allocations: u128,
    tunnel: u128,
    reserved: u128,
    /// Allocations per non-empty namespace.
    namespaces: BTreeMap<String, u128>,
    /// Allocations per (namespace, pod) key, both non-empty (the leak check's candidates).
    pod_refs: BTreeMap<PodKey, u128>,
}

/// How one attribute classifies the ordinals that point at it.
enum Class<'a> {
    Reserved,
    Tunnel,
    Allocation { namespace: &'a str, pod: &'a str },
}

fn classify(attribute: Option<&AttributeInput>) -> Class<'_> {
    let Some(attribute) = attribute else {
        return Class::Reserved;
    };
    let handle = attribute.handle_id.as_deref().unwrap_or("");
    // `lowercase(h) == "windows-reserved-ipam-handle"`: the only non-ASCII character whose lowercase is ASCII is
    // the Kelvin sign (→ `k`), and the target has no `k`, so an ASCII case-insensitive comparison is exact.
    if handle.is_empty() || handle.eq_ignore_ascii_case(WINDOWS_HANDLE) {
        return Class::Reserved;
    }
    let secondary = &attribute.secondary;
    if TUNNEL_TYPES.contains(&secondary.kind.as_str()) {
        return Class::Tunnel;
    }
    Class::Allocation {
        namespace: &secondary.namespace,
        pod: &secondary.pod,
    }
}

/// What one block of `size` addresses contributes to its pool (algorithms §2.4), in O(size + attributes).
pub(super) fn contribution(block: &BlockInput, size: u128) -> BlockContribution {
    let ordinals = usize::try_from(size).unwrap_or(usize::MAX);
    // Ordinals per attribute index, plus ordinals with an index outside the attributes (negative or too large).
    let mut per_attribute = vec![0u128; block.attributes.len()];
    let mut bad_index: u128 = 0;
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
    for (attribute, &count) in block.attributes.iter().zip(&per_attribute) {
        if count == 0 {
            continue;
        }
        match classify(Some(attribute)) {
            Class::Reserved => out.reserved = out.reserved.saturating_add(count),
            Class::Tunnel => out.tunnel = out.tunnel.saturating_add(count),
            Class::Allocation { namespace, pod } => {
                out.allocations = out.allocations.saturating_add(count);
                if !namespace.is_empty() {
                    bump(&mut out.namespaces, namespace, count, true);
                    if !pod.is_empty() {
                        let key = (namespace.to_owned(), pod.to_owned());
                        let entry = out.pod_refs.entry(key).or_default();
                        *entry = entry.saturating_add(count);
                    }
                }
            }
        }
    }
    out
}

/// Counts per pool of one pod key: nearly always one pool, so a short list (a `BTreeMap` node per pod would cost
/// ten times the memory).
#[derive(Clone, Debug, Default)]
pub(super) struct PoolCounts(Vec<(String, u128)>);

impl PoolCounts {
    /// Adds (`add`) or subtracts `count` at `pool`, dropping pools that reach 0.
    fn bump(&mut self, pool: &str, count: u128, add: bool) {
        let at = self.0.iter().position(|(name, _)| name == pool);
        match (at, add) {
            (Some(at), true) => self.0[at].1 = self.0[at].1.saturating_add(count),
            (None, true) if count > 0 => self.0.push((pool.to_owned(), count)),
            (Some(at), false) => {
                self.0[at].1 = self.0[at].1.saturating_sub(count);
                if self.0[at].1 == 0 {
                    self.0.swap_remove(at);
                }
            }
            _ => {}
        }
    }
}

/// Adds (`add`) or subtracts `count` at `key`, dropping keys that reach 0.
fn bump(map: &mut BTreeMap<String, u128>, key: &str, count: u128, add: bool) {
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
fn step(counter: &mut u128, count: u128, add: bool) {
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

/// The per-pool sums and the cross-references that keep them up to date.
#[derive(Clone, Debug, Default)]
pub(super) struct Ledger {
    pub(super) pools: BTreeMap<String, PoolAggregate>,
    /// (namespace, pod) → pool → allocations of that pool referencing the key.
    pub(super) refs: BTreeMap<PodKey, PoolCounts>,
    pub(super) orphan_names: BTreeSet<String>,
    pub(super) orphan_allocations: u64,
}

fn pod_is_live(pods: &PodMap, namespace: &str, name: &str) -> bool {
    pods.get(namespace)
        .and_then(|m| m.get(name))
        .is_some_and(|p| p.live)
}

impl Ledger {
    /// Adds or removes a block's contribution; `pods` gives liveness for the leak check.
    pub(super) fn apply_block(&mut self, name: &str, block: &BlockState, pods: &PodMap, add: bool) {
        let Some(contribution) = &block.contribution else {
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
        for (namespace, &count) in &contribution.namespaces {
            bump(&mut pool.namespaces, namespace, count, add);
        }
        for (key, &count) in &contribution.pod_refs {
            if !pod_is_live(pods, &key.0, &key.1) {
                step(&mut pool.leaked, count, add);
            }
            if add {
                let per_pool = self.refs.entry(key.clone()).or_default();
                per_pool.bump(pool_name, count, true);
            } else if let Some(per_pool) = self.refs.get_mut(key) {
                per_pool.bump(pool_name, count, false);
                if per_pool.0.is_empty() {
                    self.refs.remove(key);
                }
            }
        }
    }

    /// Adds or removes a pod's `pods` and fallback counts (not its liveness: see [`Ledger::liveness`]).
    pub(super) fn apply_pod(&mut self, namespace: &str, pod: &PodState, add: bool) {
        if !pod.counted() {
            return;
        }
        for (pool_name, &count) in pod.pools.iter().zip(&pod.counts) {
            if let Some(pool) = self.pools.get_mut(pool_name) {
                step(&mut pool.pods, 1, add);
                step(&mut pool.fallback_allocations, count, add);
                bump(&mut pool.fallback_namespaces, namespace, count, add);
            }
        }
    }

    /// A live pod `namespace/name` appeared (`live`) or disappeared: adjusts `leaked` of the pools referencing it.
    pub(super) fn liveness(&mut self, namespace: &str, name: &str, live: bool) {
        if namespace.is_empty() || name.is_empty() {
            return;
        }
        let key = (namespace.to_owned(), name.to_owned());
        let Some(per_pool) = self.refs.get(&key) else {
            return;
        };
        for (pool_name, count) in &per_pool.0 {
            let count = *count;
            if let Some(pool) = self.pools.get_mut(pool_name) {
                step(&mut pool.leaked, count, !live);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::fixtures::{World, attr, block, ns, pod_attr, pool, tunnel_attr};
    use super::super::{BlockInput, PoolStatus};

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
