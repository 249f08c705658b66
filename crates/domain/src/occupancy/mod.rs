//! Pool occupancy (algorithms §2) as an incrementally maintained index, fed by watch events on pools, IPAM
//! blocks and pods, so that a request reads a pool's status without scanning the caches (algorithms §2.9).
//!
//! The index keeps:
//! - per block, its contribution (reserved, tunnel, allocations, allocations per namespace, allocations per
//!   (namespace, pod) key), computed once per block event in O(block size);
//! - per pool, the sums of the contributions of the blocks attributed to it, the pod-fallback counters
//!   (algorithms §2.5), the number of counted pods, and `leaked`;
//! - per (namespace, pod) key that is a pod's or that an allocation references: the pod, and how many allocations
//!   of each pool reference the key, so that a pod appearing or disappearing adjusts `leaked` of exactly those
//!   pools.
//!
//! Pool events re-attribute every block and pod (pools change rarely); block and pod events only touch the
//! pools they concern.
//!
//! Memory goes mostly to pods: each pod key and each pool name is allocated once and shared (`Arc`) by every
//! structure that mentions it, and per-pod and per-block lists are boxed slices, not maps.
//!
//! This module holds the index and its inputs; `key` the shared pod keys; `ledger` the per-block contributions and
//! per-pool sums; `status` the [`PoolStatus`] and [`Orphans`] it reports. The test-only `oracle` computes the same
//! statuses from scratch, and a randomized test checks the index against it after every event.

mod key;
mod ledger;
#[cfg(test)]
mod oracle;
mod status;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use crate::cidr::{Cidr, pool_of};
use crate::pool::Pool;

use key::PodKey;
use ledger::{
    BlockContribution, Ledger, PoolAggregate, PoolCounts, TUNNEL_TYPES, WINDOWS_HANDLE,
    contribution,
};
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

/// One entry of an IPAM block's `spec.attributes`, as occupancy counts the ordinals that point at it (algorithms
/// §2.4). Only the class and, for allocations, the pod are kept: the handle and the rest of `secondary` (`node`,
/// `timestamp`, …) would cost several times as much per allocated address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum AttributeInput {
    /// No handle, an empty one, or Calico's handle for addresses reserved on Windows nodes.
    #[default]
    Reserved,
    /// A tunnel address (`secondary.type`).
    Tunnel,
    /// An allocated address: `secondary.namespace` and `secondary.pod`, `""` when absent.
    Allocation { namespace: Box<str>, pod: Box<str> },
}

impl AttributeInput {
    /// The class of an attribute with `handle_id` and `secondary` (absent or `null`: an empty map).
    pub fn of(handle_id: Option<&str>, secondary: Option<&BTreeMap<String, String>>) -> Self {
        let handle = handle_id.unwrap_or("");
        // `lowercase(h) == "windows-reserved-ipam-handle"`: the only non-ASCII character whose lowercase is ASCII
        // is the Kelvin sign (→ `k`), and the target has no `k`, so an ASCII case-insensitive comparison is exact.
        if handle.is_empty() || handle.eq_ignore_ascii_case(WINDOWS_HANDLE) {
            return AttributeInput::Reserved;
        }
        let get = |key: &str| {
            secondary
                .and_then(|map| map.get(key))
                .map_or("", String::as_str)
        };
        if TUNNEL_TYPES.contains(&get("type")) {
            return AttributeInput::Tunnel;
        }
        AttributeInput::Allocation {
            namespace: get("namespace").into(),
            pod: get("pod").into(),
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

/// A pool's name, allocated once per pool and shared by the structures of the index that mention the pool.
pub type PoolName = Arc<str>;

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
    pool: Option<PoolName>,
}

/// A pod as stored by the index.
#[derive(Clone, Debug)]
struct PodState {
    live: bool,
    host_network: bool,
    /// Parsed pod IPs, in order.
    addresses: Box<[IpAddr]>,
    /// `pools(pod)` (algorithms §3): empty for hostNetwork pods, else each address's pool, deduplicated, in order.
    pools: Box<[PoolName]>,
}

impl PodState {
    /// Whether the pod counts for `pods` and the fallback (algorithms §2.4, algorithms §2.5).
    fn counted(&self) -> bool {
        self.live && !self.host_network
    }

    /// The pool of each address that has one, in order, repeated: what the fallback counts (algorithms §2.5). Not
    /// stored: `ranked` only changes in a re-attribution, which recomputes every pod, so it gives the same pools
    /// when the pod is removed as when it was added.
    fn address_pools<'r>(
        &self,
        ranked: &'r [(PoolName, Cidr)],
    ) -> impl Iterator<Item = &'r PoolName> {
        self.addresses
            .iter()
            .filter_map(move |address| lookup(ranked, &Cidr::of_address(*address)))
    }
}

/// What the index knows of one (namespace, name) key: the pod, if any, and the allocations referencing the key.
#[derive(Clone, Debug, Default)]
struct KeyEntry {
    pod: Option<PodState>,
    /// Pool → allocations of that pool referencing the key.
    refs: PoolCounts,
}

impl KeyEntry {
    /// Whether the key is a live pod's (the leak check, algorithms §2.4).
    fn live(&self) -> bool {
        self.pod.as_ref().is_some_and(|p| p.live)
    }

    /// No pod and no reference: the entry can go.
    fn is_empty(&self) -> bool {
        self.pod.is_none() && self.refs.is_empty()
    }
}

/// Every key that is a pod's or that a counted allocation references. The other structures hold clones of these
/// keys, so that each key is allocated once.
type Keys = BTreeMap<PodKey, KeyEntry>;

/// The incrementally maintained occupancy index. Feed it watch events; read [`Occupancy::status`].
#[derive(Clone, Debug, Default)]
pub struct Occupancy {
    /// Pools with a valid CIDR, sorted by name: the candidates of the pool-of lookup (algorithms §1.5).
    ranked: Vec<(PoolName, Cidr)>,
    ledger: Ledger,
    blocks: BTreeMap<String, BlockState>,
    keys: Keys,
    /// Pool → the pods whose `pools(pod)` contains it (the virtual label's inverted index).
    members: BTreeMap<PoolName, BTreeSet<PodKey>>,
}

/// Adds (`add`) or removes `key` from the member sets of `pools`.
fn set_membership(
    members: &mut BTreeMap<PoolName, BTreeSet<PodKey>>,
    key: &PodKey,
    pools: &[PoolName],
    add: bool,
) {
    for pool in pools {
        if add {
            members.entry(pool.clone()).or_default().insert(key.clone());
        } else if let Some(set) = members.get_mut(pool) {
            set.remove(key);
            if set.is_empty() {
                members.remove(pool);
            }
        }
    }
}

/// The pool of `target` among `ranked` (algorithms §1.5).
fn lookup<'a>(ranked: &'a [(PoolName, Cidr)], target: &Cidr) -> Option<&'a PoolName> {
    pool_of(target, ranked.iter().map(|(name, cidr)| (name, cidr)))
}

/// `pools(pod)` (algorithms §3); empty for hostNetwork pods.
fn pod_pools(
    ranked: &[(PoolName, Cidr)],
    host_network: bool,
    addresses: &[IpAddr],
) -> Box<[PoolName]> {
    let mut pools: Vec<PoolName> = Vec::new();
    if host_network {
        return pools.into();
    }
    for pool in addresses
        .iter()
        .filter_map(|a| lookup(ranked, &Cidr::of_address(*a)))
    {
        if !pools.contains(pool) {
            pools.push(pool.clone());
        }
    }
    pools.into()
}

impl Occupancy {
    pub fn new() -> Occupancy {
        Occupancy::default()
    }

    /// Adds a pool or changes it. A new pool or a changed CIDR re-attributes every block and pod
    /// (O(blocks + pods)); other changes (disabled, allowed uses, …) do not affect occupancy and cost O(log pools).
    pub fn upsert_pool(&mut self, pool: &Pool) {
        let old = self.ledger.pools.get(pool.name.as_str()).map(|p| p.cidr);
        if old == Some(pool.cidr) {
            return;
        }
        // A known name keeps its key (and so the clones of it).
        self.ledger.pools.insert(
            PoolName::from(pool.name.as_str()),
            PoolAggregate::empty(pool.cidr),
        );
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
            && fresh.iter().all(|(name, cidr)| {
                self.ledger
                    .pools
                    .get(name.as_str())
                    .is_some_and(|p| p.cidr == *cidr)
            });
        if unchanged {
            return;
        }
        self.ledger.pools = fresh
            .into_iter()
            .map(|(name, cidr)| (PoolName::from(name), PoolAggregate::empty(cidr)))
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
        self.ledger.orphan_names.clear();
        self.ledger.orphan_allocations = 0;
        self.keys.retain(|_, entry| {
            entry.refs = PoolCounts::default();
            entry.pod.is_some()
        });
        for (name, block) in &mut self.blocks {
            block.pool = match (&block.contribution, &block.cidr) {
                (Some(_), Some(cidr)) => lookup(&self.ranked, cidr).cloned(),
                _ => None,
            };
            self.ledger.apply_block(name, block, &mut self.keys, true);
        }
        self.members.clear();
        for (key, entry) in &mut self.keys {
            if let Some(pod) = &mut entry.pod {
                pod.pools = pod_pools(&self.ranked, pod.host_network, &pod.addresses);
                self.ledger
                    .apply_pod(key.namespace(), pod, &self.ranked, true);
                set_membership(&mut self.members, key, &pod.pools, true);
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
            (Some(_), Some(c)) => lookup(&self.ranked, c).cloned(),
            _ => None,
        };
        let mut state = BlockState {
            cidr,
            contribution,
            pool,
        };
        self.ledger
            .apply_block(name, &mut state, &mut self.keys, true);
        self.blocks.insert(name.to_owned(), state);
    }

    /// Removes a block. O(its distinct namespaces and pod keys).
    pub fn remove_block(&mut self, name: &str) {
        if let Some(mut old) = self.blocks.remove(name) {
            self.ledger
                .apply_block(name, &mut old, &mut self.keys, false);
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

    /// Adds or replaces a pod. O(its IPs × pools + pools referencing its key).
    pub fn upsert_pod(&mut self, pod: PodInput) {
        // Read as `Cidr::parse_address` reads them, kept as `IpAddr`: half the room of a `Cidr`.
        let addresses: Box<[IpAddr]> = pod
            .ips
            .iter()
            .filter_map(|ip| ip.trim().parse().ok())
            .collect();
        let state = PodState {
            live: pod.live(),
            host_network: pod.host_network,
            pools: pod_pools(&self.ranked, pod.host_network, &addresses),
            addresses,
        };
        let key = key::interned(&self.keys, &pod.namespace, &pod.name);
        self.set_pod(key, Some(state));
    }

    /// Removes a pod. O(its IPs × pools + pools referencing its key).
    pub fn remove_pod(&mut self, namespace: &str, name: &str) {
        if let Some((key, _)) = key::find(&self.keys, namespace, name) {
            self.set_pod(key.clone(), None);
        }
    }

    /// Makes `pod` the pod of `key` (`None`: no pod), updating the pool sums, the member sets and `leaked`.
    fn set_pod(&mut self, key: PodKey, pod: Option<PodState>) {
        let entry = self.keys.entry(key.clone()).or_default();
        let old = std::mem::replace(&mut entry.pod, pod);
        if let Some(old) = &old {
            self.ledger
                .apply_pod(key.namespace(), old, &self.ranked, false);
            set_membership(&mut self.members, &key, &old.pools, false);
        }
        if let Some(new) = &entry.pod {
            self.ledger
                .apply_pod(key.namespace(), new, &self.ranked, true);
            set_membership(&mut self.members, &key, &new.pools, true);
        }
        let live = entry.live();
        if old.is_some_and(|p| p.live) != live {
            self.ledger.liveness(&entry.refs, live);
        }
        if entry.is_empty() {
            self.keys.remove(&key);
        }
    }

    /// After a relist: the pods are exactly `pods` (a repeated key: the last one wins).
    pub fn replace_pods(&mut self, pods: impl IntoIterator<Item = PodInput>) {
        let fresh: BTreeMap<PodKey, PodInput> = pods
            .into_iter()
            .map(|p| (PodKey::new(&p.namespace, &p.name), p))
            .collect();
        let gone: Vec<PodKey> = self
            .keys
            .iter()
            .filter(|(key, entry)| entry.pod.is_some() && !fresh.contains_key(*key))
            .map(|(key, _)| key.clone())
            .collect();
        for key in gone {
            self.set_pod(key, None);
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
            .map(|(name, p)| (name.to_string(), p.status()))
            .collect()
    }

    /// Names of the known pools, sorted.
    pub fn pool_names(&self) -> impl Iterator<Item = &str> {
        self.ledger.pools.keys().map(|name| &**name)
    }

    /// `pools(pod)` (algorithms §3): empty for hostNetwork pods and unknown pods; otherwise each pod IP's pool in
    /// order, duplicates removed; independent of the phase. The names are the index's own: cloning one is cheap.
    pub fn pools_of_pod(&self, namespace: &str, name: &str) -> &[PoolName] {
        key::find(&self.keys, namespace, name)
            .and_then(|(_, entry)| entry.pod.as_ref())
            .map_or(&[], |pod| &pod.pools)
    }

    /// The pods (namespace, name) whose `pools(pod)` contains `pool`, in key order. O(1) to start.
    pub fn pods_in_pool(&self, pool: &str) -> impl Iterator<Item = (&str, &str)> {
        self.members
            .get(pool)
            .into_iter()
            .flatten()
            .map(|key| (key.namespace(), key.name()))
    }

    /// The pool of an address (algorithms §1.5); `None` when it does not parse or no pool contains it. O(pools).
    pub fn pool_of_address(&self, ip: &str) -> Option<&str> {
        let address = Cidr::parse_address(ip)?;
        lookup(&self.ranked, &address).map(|name| &**name)
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
