//! Pool occupancy (algorithms §2) as an incrementally maintained index, fed by watch events on pools, IPAM
//! blocks and pods, so that a request reads a pool's status without scanning the caches (algorithms §2.9).
//!
//! The index keeps:
//! - per block, its contribution (reserved, tunnel, allocations, allocations per namespace, allocations per
//!   (namespace, pod) key), computed once per block event in O(block size);
//! - per pool, the sums of the contributions of the blocks attributed to it, the pod-fallback counters
//!   (algorithms §2.5), the number of counted pods, and `leaked`;
//! - per (namespace, pod) key referenced by an allocation, how many allocations of each pool reference it, so
//!   that a pod appearing or disappearing adjusts `leaked` of exactly those pools.
//!
//! Pool events re-attribute every block and pod (pools change rarely); block and pod events only touch the
//! pools they concern.
//!
//! This module holds the index and its inputs; `ledger` the per-block contributions and per-pool sums; `status`
//! the [`PoolStatus`] and [`Orphans`] it reports. The test-only `oracle` computes the same statuses from scratch,
//! and a randomized test checks the index against it after every event.

mod ledger;
#[cfg(test)]
mod oracle;
mod status;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use crate::cidr::{Cidr, pool_of};
use crate::pool::Pool;

use ledger::{BlockContribution, Ledger, PoolAggregate, contribution};
pub use status::{JSON_INTEGER_CAP, Orphans, PoolStatus, json_integer};

/// An IPAM block as the index needs it (algorithms §1.3).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockInput {
    /// `spec.cidr`, unparsed.
    pub cidr: String,
    /// `spec.deleted: true`.
    pub deleted: bool,
    /// `spec.allocations`: one entry per ordinal, `None` = free, `Some(i)` = index into `attributes`.
    pub allocations: Vec<Option<i64>>,
    /// `spec.attributes`.
    pub attributes: Vec<AttributeInput>,
}

/// One entry of an IPAM block's `spec.attributes`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttributeInput {
    /// `handle_id`; `None` when absent.
    pub handle_id: Option<String>,
    /// What occupancy reads of `secondary` (absent or `null` reads as an empty map).
    pub secondary: Secondary,
}

/// The `secondary` keys of an attribute that occupancy reads; an absent key reads as `""`. Only these three are
/// kept: a map per allocated address (with `node`, `timestamp` and the like) would cost several times as much.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Secondary {
    /// `type` (tunnel addresses).
    pub kind: String,
    /// `namespace`.
    pub namespace: String,
    /// `pod`.
    pub pod: String,
}

impl Secondary {
    /// The keys occupancy reads out of a whole `secondary` map.
    pub fn of(map: &BTreeMap<String, String>) -> Self {
        let get = |key: &str| map.get(key).cloned().unwrap_or_default();
        Secondary {
            kind: get("type"),
            namespace: get("namespace"),
            pod: get("pod"),
        }
    }
}

/// A pod as the index needs it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodInput {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `status.phase`.
    pub phase: Option<String>,
    /// `spec.hostNetwork: true`.
    pub host_network: bool,
    /// `status.podIPs[*].ip`, or `[status.podIP]` when `podIPs` is empty; unparsable entries are ignored.
    pub ips: Vec<String>,
}

impl PodInput {
    /// Live pod (algorithms §2.1): phase neither `Succeeded` nor `Failed`.
    pub fn live(&self) -> bool {
        is_live_phase(self.phase.as_deref())
    }
}

/// A pod's identity: (namespace, name).
type PodKey = (String, String);

fn is_live_phase(phase: Option<&str>) -> bool {
    !matches!(phase, Some("Succeeded") | Some("Failed"))
}

/// A block as stored by the index.
#[derive(Clone, Debug)]
struct BlockState {
    cidr: Option<Cidr>,
    /// `Some` when the block counts (not deleted, valid CIDR).
    contribution: Option<BlockContribution>,
    /// The pool the block is attributed to (only for counted blocks; `None` = orphan).
    pool: Option<String>,
}

/// A pod as stored by the index.
#[derive(Clone, Debug)]
struct PodState {
    live: bool,
    host_network: bool,
    /// Parsed pod IPs, in order.
    addresses: Vec<Cidr>,
    /// `pools(pod)` (algorithms §3): empty for hostNetwork pods, else each address's pool, deduplicated, in order.
    pools: Vec<String>,
    /// Number of addresses in each pool of `pools` (same order).
    counts: Vec<u128>,
}

impl PodState {
    /// Whether the pod counts for `pods` and the fallback (algorithms §2.4, algorithms §2.5).
    fn counted(&self) -> bool {
        self.live && !self.host_network
    }
}

type PodMap = BTreeMap<String, BTreeMap<String, PodState>>;

/// The incrementally maintained occupancy index. Feed it watch events; read [`Occupancy::status`].
#[derive(Clone, Debug, Default)]
pub struct Occupancy {
    /// Pools with a valid CIDR, sorted by name: the candidates of the pool-of lookup (algorithms §1.5).
    ranked: Vec<(String, Cidr)>,
    ledger: Ledger,
    blocks: BTreeMap<String, BlockState>,
    pods: PodMap,
    /// Pool → the pods whose `pools(pod)` contains it (the virtual label's inverted index).
    members: BTreeMap<String, BTreeSet<PodKey>>,
}

/// Adds (`add`) or removes the pod from the member sets of `pools`.
fn set_membership(
    members: &mut BTreeMap<String, BTreeSet<PodKey>>,
    namespace: &str,
    name: &str,
    pools: &[String],
    add: bool,
) {
    for pool in pools {
        let key = (namespace.to_owned(), name.to_owned());
        if add {
            members.entry(pool.clone()).or_default().insert(key);
        } else if let Some(set) = members.get_mut(pool) {
            set.remove(&key);
            if set.is_empty() {
                members.remove(pool);
            }
        }
    }
}

/// The pool of `target` among `ranked` (algorithms §1.5).
fn lookup<'a>(ranked: &'a [(String, Cidr)], target: &Cidr) -> Option<&'a str> {
    pool_of(
        target,
        ranked.iter().map(|(name, cidr)| (name.as_str(), cidr)),
    )
}

/// `pools(pod)` with the number of addresses in each (algorithms §3); empty for hostNetwork pods.
fn pod_pools(
    ranked: &[(String, Cidr)],
    host_network: bool,
    addresses: &[Cidr],
) -> (Vec<String>, Vec<u128>) {
    let mut pools: Vec<String> = Vec::new();
    let mut counts: Vec<u128> = Vec::new();
    if host_network {
        return (pools, counts);
    }
    for address in addresses {
        let Some(pool) = lookup(ranked, address) else {
            continue;
        };
        match pools.iter().position(|p| p == pool) {
            Some(i) => {
                if let Some(c) = counts.get_mut(i) {
                    *c = c.saturating_add(1);
                }
            }
            None => {
                pools.push(pool.to_owned());
                counts.push(1);
            }
        }
    }
    (pools, counts)
}

impl Occupancy {
    pub fn new() -> Occupancy {
        Occupancy::default()
    }

    /// Adds a pool or changes it. A new pool or a changed CIDR re-attributes every block and pod
    /// (O(blocks + pods)); other changes (disabled, allowed uses, …) do not affect occupancy and cost O(log pools).
    pub fn upsert_pool(&mut self, pool: &Pool) {
        let old = self.ledger.pools.get(&pool.name).map(|p| p.cidr);
        if old == Some(pool.cidr) {
            return;
        }
        self.ledger
            .pools
            .insert(pool.name.clone(), PoolAggregate::empty(pool.cidr));
        // A pool with an invalid CIDR takes part in no attribution: adding one, or turning one into another,
        // changes nothing else.
        if pool.cidr.is_some() || old.flatten().is_some() {
            self.reattribute();
        }
    }

    /// Removes a pool (O(blocks + pods) when its CIDR was valid); its blocks and pods go to the next containing
    /// pool, if any.
    pub fn remove_pool(&mut self, name: &str) {
        if let Some(old) = self.ledger.pools.remove(name)
            && old.cidr.is_some()
        {
            self.reattribute();
        }
    }

    /// After a relist: the pools are exactly `pools` (a repeated name: the last one wins). O(pools + blocks + pods).
    pub fn replace_pools(&mut self, pools: impl IntoIterator<Item = Pool>) {
        let fresh: BTreeMap<String, Option<Cidr>> =
            pools.into_iter().map(|p| (p.name, p.cidr)).collect();
        let unchanged = fresh.len() == self.ledger.pools.len()
            && fresh
                .iter()
                .all(|(name, cidr)| self.ledger.pools.get(name).is_some_and(|p| p.cidr == *cidr));
        if unchanged {
            return;
        }
        self.ledger.pools = fresh
            .into_iter()
            .map(|(name, cidr)| (name, PoolAggregate::empty(cidr)))
            .collect();
        self.reattribute();
    }

    /// Recomputes the pool-of candidates and every attribution and sum from the stored blocks and pods.
    fn reattribute(&mut self) {
        self.ranked = self
            .ledger
            .pools
            .iter()
            .filter_map(|(name, p)| p.cidr.map(|c| (name.clone(), c)))
            .collect();
        for pool in self.ledger.pools.values_mut() {
            *pool = PoolAggregate::empty(pool.cidr);
        }
        self.ledger.refs.clear();
        self.ledger.orphan_names.clear();
        self.ledger.orphan_allocations = 0;
        for (name, block) in &mut self.blocks {
            block.pool = match (&block.contribution, &block.cidr) {
                (Some(_), Some(cidr)) => lookup(&self.ranked, cidr).map(str::to_owned),
                _ => None,
            };
            self.ledger.apply_block(name, block, &self.pods, true);
        }
        self.members.clear();
        for (namespace, pods) in &mut self.pods {
            for (name, pod) in pods.iter_mut() {
                (pod.pools, pod.counts) = pod_pools(&self.ranked, pod.host_network, &pod.addresses);
                self.ledger.apply_pod(namespace, pod, true);
                set_membership(&mut self.members, namespace, name, &pod.pools, true);
            }
        }
    }

    /// Adds or replaces a block (a changed CIDR moves it between pools). O(block size + attributes + pools).
    pub fn upsert_block(&mut self, name: &str, block: BlockInput) {
        self.remove_block(name);
        let cidr = Cidr::parse(&block.cidr);
        let contribution = match cidr {
            Some(c) if !block.deleted => Some(contribution(&block, c.size())),
            _ => None,
        };
        let pool = match (&contribution, &cidr) {
            (Some(_), Some(c)) => lookup(&self.ranked, c).map(str::to_owned),
            _ => None,
        };
        let state = BlockState {
            cidr,
            contribution,
            pool,
        };
        self.ledger.apply_block(name, &state, &self.pods, true);
        self.blocks.insert(name.to_owned(), state);
    }

    /// Removes a block. O(its distinct namespaces and pod keys).
    pub fn remove_block(&mut self, name: &str) {
        if let Some(old) = self.blocks.remove(name) {
            self.ledger.apply_block(name, &old, &self.pods, false);
        }
    }

    /// After a relist: the blocks are exactly `blocks` (a repeated name: the last one wins).
    pub fn replace_blocks(&mut self, blocks: impl IntoIterator<Item = (String, BlockInput)>) {
        let fresh: BTreeMap<String, BlockInput> = blocks.into_iter().collect();
        let gone: Vec<String> = self
            .blocks
            .keys()
            .filter(|name| !fresh.contains_key(*name))
            .cloned()
            .collect();
        for name in gone {
            self.remove_block(&name);
        }
        for (name, block) in fresh {
            self.upsert_block(&name, block);
        }
    }

    /// Adds or replaces a pod. O(its IPs × pools + references to its key).
    pub fn upsert_pod(&mut self, pod: PodInput) {
        let live = pod.live();
        let addresses: Vec<Cidr> = pod
            .ips
            .iter()
            .filter_map(|ip| Cidr::parse_address(ip))
            .collect();
        let (pools, counts) = pod_pools(&self.ranked, pod.host_network, &addresses);
        let state = PodState {
            live,
            host_network: pod.host_network,
            addresses,
            pools,
            counts,
        };
        let was_live = self.detach_pod(&pod.namespace, &pod.name);
        if was_live != live {
            self.ledger.liveness(&pod.namespace, &pod.name, live);
        }
        self.ledger.apply_pod(&pod.namespace, &state, true);
        set_membership(
            &mut self.members,
            &pod.namespace,
            &pod.name,
            &state.pools,
            true,
        );
        self.pods
            .entry(pod.namespace)
            .or_default()
            .insert(pod.name, state);
    }

    /// Removes a pod from the map and its counts from the ledger; returns whether it was live. Liveness is left
    /// to the caller.
    fn detach_pod(&mut self, namespace: &str, name: &str) -> bool {
        let Some(pods) = self.pods.get_mut(namespace) else {
            return false;
        };
        let Some(old) = pods.remove(name) else {
            return false;
        };
        if pods.is_empty() {
            self.pods.remove(namespace);
        }
        self.ledger.apply_pod(namespace, &old, false);
        set_membership(&mut self.members, namespace, name, &old.pools, false);
        old.live
    }

    /// Removes a pod. O(its pools + references to its key).
    pub fn remove_pod(&mut self, namespace: &str, name: &str) {
        if self.detach_pod(namespace, name) {
            self.ledger.liveness(namespace, name, false);
        }
    }

    /// After a relist: the pods are exactly `pods` (a repeated key: the last one wins).
    pub fn replace_pods(&mut self, pods: impl IntoIterator<Item = PodInput>) {
        let fresh: BTreeMap<PodKey, PodInput> = pods
            .into_iter()
            .map(|p| ((p.namespace.clone(), p.name.clone()), p))
            .collect();
        let gone: Vec<PodKey> = self
            .pods
            .iter()
            .flat_map(|(namespace, pods)| {
                pods.keys()
                    .map(move |name| (namespace.clone(), name.clone()))
            })
            .filter(|key| !fresh.contains_key(key))
            .collect();
        for (namespace, name) in gone {
            self.remove_pod(&namespace, &name);
        }
        for pod in fresh.into_values() {
            self.upsert_pod(pod);
        }
    }

    /// The status of pool `pool` (algorithms §2); `None` when there is no such pool; all zeros when its CIDR is
    /// invalid. O(its namespaces).
    pub fn status(&self, pool: &str) -> Option<PoolStatus> {
        self.ledger.pools.get(pool).map(PoolAggregate::status)
    }

    /// Every pool's status, by pool name.
    pub fn statuses(&self) -> BTreeMap<String, PoolStatus> {
        self.ledger
            .pools
            .iter()
            .map(|(name, p)| (name.clone(), p.status()))
            .collect()
    }

    /// Names of the known pools, sorted.
    pub fn pool_names(&self) -> impl Iterator<Item = &str> {
        self.ledger.pools.keys().map(String::as_str)
    }

    /// `pools(pod)` (algorithms §3): empty for hostNetwork pods and unknown pods; otherwise each pod IP's pool in
    /// order, duplicates removed; independent of the phase.
    pub fn pools_of_pod(&self, namespace: &str, name: &str) -> &[String] {
        self.pods
            .get(namespace)
            .and_then(|m| m.get(name))
            .map_or(&[], |p| p.pools.as_slice())
    }

    /// The pods (namespace, name) whose `pools(pod)` contains `pool`, in key order. O(1) to start.
    pub fn pods_in_pool(&self, pool: &str) -> impl Iterator<Item = (&str, &str)> {
        self.members
            .get(pool)
            .into_iter()
            .flatten()
            .map(|(namespace, name)| (namespace.as_str(), name.as_str()))
    }

    /// The pool of an address (algorithms §1.5); `None` when it does not parse or no pool contains it. O(pools).
    pub fn pool_of_address(&self, ip: &str) -> Option<&str> {
        let address = Cidr::parse_address(ip)?;
        lookup(&self.ranked, &address)
    }

    /// Orphan blocks (algorithms §2.8). O(orphans).
    pub fn orphans(&self) -> Orphans {
        Orphans {
            blocks: u64::try_from(self.ledger.orphan_names.len()).unwrap_or(u64::MAX),
            allocations: self.ledger.orphan_allocations,
            names: self.ledger.orphan_names.iter().cloned().collect(),
        }
    }
}
