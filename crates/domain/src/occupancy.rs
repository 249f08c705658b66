//! Pool occupancy (algorithms §2) as an incrementally maintained index, fed by watch events on pools, IPAM
//! blocks and pods, so that a request reads a pool's status without scanning the caches (A§2.9).
//!
//! The index keeps:
//! - per block, its contribution (reserved, tunnel, allocations, allocations per namespace, allocations per
//!   (namespace, pod) key), computed once per block event in O(block size);
//! - per pool, the sums of the contributions of the blocks attributed to it, the pod-fallback counters (A§2.5),
//!   the number of counted pods, and `leaked`;
//! - per (namespace, pod) key referenced by an allocation, how many allocations of each pool reference it, so
//!   that a pod appearing or disappearing adjusts `leaked` of exactly those pools.
//!
//! Pool events re-attribute every block and pod (pools change rarely); block and pod events only touch the
//! pools they concern. [`compute_full`] is the straightforward oracle the index is checked against.

use std::collections::{BTreeMap, BTreeSet};

use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};

use super::cidr::{Cidr, pool_of};
use super::pool::Pool;

/// The largest integer every JSON client reads exactly, 2^53 − 1; status integers are capped at it (A§2.7).
pub const JSON_INTEGER_CAP: u128 = 9007199254740991;

/// `secondary.type` values of tunnel addresses (A§2.4).
const TUNNEL_TYPES: [&str; 5] = [
    "ipipTunnelAddress",
    "vxlanTunnelAddress",
    "vxlanV6TunnelAddress",
    "wireguardTunnelAddress",
    "wireguardV6TunnelAddress",
];

/// Calico's handle for addresses reserved on Windows nodes, compared case-insensitively (A§2.4).
const WINDOWS_HANDLE: &str = "windows-reserved-ipam-handle";

/// An IPAM block as the index needs it (A§1.3).
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
    /// `secondary`; `None` when absent or `null` (reads as an empty map).
    pub secondary: Option<BTreeMap<String, String>>,
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
    /// Live pod (A§2.1): phase neither `Succeeded` nor `Failed`.
    pub fn live(&self) -> bool {
        is_live_phase(self.phase.as_deref())
    }
}

/// A pool's occupancy status (A§2), uncapped; the JSON form caps every integer (A§2.7).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolStatus {
    /// Addresses in the pool, `2^(bits − prefix)` (capped at 2^128 − 1 for an IPv6 `/0`).
    pub capacity: u128,
    /// Addresses allocated to workloads.
    pub allocations: u128,
    /// `capacity − allocations − tunnel − reserved`, saturating at 0.
    pub unallocated: u128,
    /// Addresses allocated without a usable handle or with the Windows reserved handle.
    pub reserved: u128,
    /// Tunnel addresses.
    pub tunnel: u128,
    /// Allocations per namespace; only keys with a count > 0.
    pub namespaces: BTreeMap<String, u128>,
    /// Live, non-hostNetwork pods with at least one address in the pool.
    pub pods: u128,
    /// Allocations whose (namespace, pod) is not a live pod (IPAM mode only).
    pub leaked: u128,
}

impl PoolStatus {
    /// The status of a pool with an invalid CIDR: every number 0, `namespaces` empty.
    pub fn zero() -> PoolStatus {
        PoolStatus::default()
    }
}

/// `min(value, 2^53 − 1)` as a `u64` (A§2.7).
pub fn json_integer(value: u128) -> u64 {
    // The cap fits in a u64, so the conversion cannot fail.
    u64::try_from(value.min(JSON_INTEGER_CAP)).unwrap_or(u64::MAX)
}

impl Serialize for PoolStatus {
    /// Keys in the order `capacity, allocations, unallocated, reserved, tunnel, namespaces, pods, leaked`; every
    /// integer capped at 2^53 − 1; `namespaces` is `{}` when empty.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Namespaces<'a>(&'a BTreeMap<String, u128>);
        impl Serialize for Namespaces<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(Some(self.0.len()))?;
                for (namespace, count) in self.0 {
                    map.serialize_entry(namespace, &json_integer(*count))?;
                }
                map.end()
            }
        }
        let mut s = serializer.serialize_struct("PoolStatus", 8)?;
        s.serialize_field("capacity", &json_integer(self.capacity))?;
        s.serialize_field("allocations", &json_integer(self.allocations))?;
        s.serialize_field("unallocated", &json_integer(self.unallocated))?;
        s.serialize_field("reserved", &json_integer(self.reserved))?;
        s.serialize_field("tunnel", &json_integer(self.tunnel))?;
        s.serialize_field("namespaces", &Namespaces(&self.namespaces))?;
        s.serialize_field("pods", &json_integer(self.pods))?;
        s.serialize_field("leaked", &json_integer(self.leaked))?;
        s.end()
    }
}

/// Orphan blocks (A§2.8): non-deleted blocks with a valid CIDR that no pool contains.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Orphans {
    /// Number of orphan blocks.
    pub blocks: u64,
    /// Their non-null ordinals (entries beyond the block size are not ordinals and are not counted).
    pub allocations: u64,
    /// Their names, sorted.
    pub names: Vec<String>,
}

/// A pod's identity: (namespace, name).
type PodKey = (String, String);

/// What one counted block (not deleted, valid CIDR) contributes to the pool it is attributed to.
#[derive(Clone, Debug, Default)]
struct BlockContribution {
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
    let secondary = |key: &str| {
        attribute
            .secondary
            .as_ref()
            .and_then(|m| m.get(key))
            .map_or("", String::as_str)
    };
    if TUNNEL_TYPES.contains(&secondary("type")) {
        return Class::Tunnel;
    }
    Class::Allocation {
        namespace: secondary("namespace"),
        pod: secondary("pod"),
    }
}

/// A§2.4 for one block of `size` addresses, in O(size + attributes).
fn contribution(block: &BlockInput, size: u128) -> BlockContribution {
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
    /// `pools(pod)` (A§3): empty for hostNetwork pods, else each address's pool, deduplicated, in order.
    pools: Vec<String>,
    /// Number of addresses in each pool of `pools` (same order).
    counts: Vec<u128>,
}

impl PodState {
    /// Whether the pod counts for `pods` and the fallback (A§2.4, A§2.5).
    fn counted(&self) -> bool {
        self.live && !self.host_network
    }
}

/// Running sums for one pool.
#[derive(Clone, Debug, Default)]
struct PoolAggregate {
    cidr: Option<Cidr>,
    /// Number of counted blocks attributed to the pool; > 0 ⇒ IPAM mode.
    blocks: u64,
    allocations: u128,
    tunnel: u128,
    reserved: u128,
    namespaces: BTreeMap<String, u128>,
    leaked: u128,
    fallback_allocations: u128,
    fallback_namespaces: BTreeMap<String, u128>,
    pods: u128,
}

impl PoolAggregate {
    fn status(&self) -> PoolStatus {
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
struct Ledger {
    pools: BTreeMap<String, PoolAggregate>,
    /// (namespace, pod) → pool → allocations of that pool referencing the key.
    refs: BTreeMap<PodKey, BTreeMap<String, u128>>,
    orphan_names: BTreeSet<String>,
    orphan_allocations: u64,
}

type PodMap = BTreeMap<String, BTreeMap<String, PodState>>;

fn pod_is_live(pods: &PodMap, namespace: &str, name: &str) -> bool {
    pods.get(namespace)
        .and_then(|m| m.get(name))
        .is_some_and(|p| p.live)
}

impl Ledger {
    /// Adds or removes a block's contribution; `pods` gives liveness for the leak check.
    fn apply_block(&mut self, name: &str, block: &BlockState, pods: &PodMap, add: bool) {
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
                bump(per_pool, pool_name, count, true);
            } else if let Some(per_pool) = self.refs.get_mut(key) {
                bump(per_pool, pool_name, count, false);
                if per_pool.is_empty() {
                    self.refs.remove(key);
                }
            }
        }
    }

    /// Adds or removes a pod's `pods` and fallback counts (not its liveness: see [`Ledger::liveness`]).
    fn apply_pod(&mut self, namespace: &str, pod: &PodState, add: bool) {
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
    fn liveness(&mut self, namespace: &str, name: &str, live: bool) {
        if namespace.is_empty() || name.is_empty() {
            return;
        }
        let key = (namespace.to_owned(), name.to_owned());
        let Some(per_pool) = self.refs.get(&key) else {
            return;
        };
        for (pool_name, &count) in per_pool {
            if let Some(pool) = self.pools.get_mut(pool_name) {
                step(&mut pool.leaked, count, !live);
            }
        }
    }
}

/// The incrementally maintained occupancy index. Feed it watch events; read [`Occupancy::status`].
#[derive(Clone, Debug, Default)]
pub struct Occupancy {
    /// Pools with a valid CIDR, sorted by name: the candidates of the pool-of lookup (A§1.5).
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

/// The pool of `target` among `ranked` (A§1.5).
fn lookup<'a>(ranked: &'a [(String, Cidr)], target: &Cidr) -> Option<&'a str> {
    pool_of(
        target,
        ranked.iter().map(|(name, cidr)| (name.as_str(), cidr)),
    )
}

/// `pools(pod)` with the number of addresses in each (A§3); empty for hostNetwork pods.
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
    /// An empty index.
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
        self.ledger.pools.insert(
            pool.name.clone(),
            PoolAggregate {
                cidr: pool.cidr,
                ..PoolAggregate::default()
            },
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
            && fresh
                .iter()
                .all(|(name, cidr)| self.ledger.pools.get(name).is_some_and(|p| p.cidr == *cidr));
        if unchanged {
            return;
        }
        self.ledger.pools = fresh
            .into_iter()
            .map(|(name, cidr)| {
                let aggregate = PoolAggregate {
                    cidr,
                    ..PoolAggregate::default()
                };
                (name, aggregate)
            })
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
            *pool = PoolAggregate {
                cidr: pool.cidr,
                ..PoolAggregate::default()
            };
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

    /// The status of pool `pool` (A§2); `None` when there is no such pool; all zeros when its CIDR is invalid.
    /// O(its namespaces).
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

    /// `pools(pod)` (A§3): empty for hostNetwork pods and unknown pods; otherwise each pod IP's pool in order,
    /// duplicates removed; independent of the phase.
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

    /// The pool of an address (A§1.5); `None` when it does not parse or no pool contains it. O(pools).
    pub fn pool_of_address(&self, ip: &str) -> Option<&str> {
        let address = Cidr::parse_address(ip)?;
        lookup(&self.ranked, &address)
    }

    /// Orphan blocks (A§2.8). O(orphans).
    pub fn orphans(&self) -> Orphans {
        Orphans {
            blocks: u64::try_from(self.ledger.orphan_names.len()).unwrap_or(u64::MAX),
            allocations: self.ledger.orphan_allocations,
            names: self.ledger.orphan_names.iter().cloned().collect(),
        }
    }
}

/// The oracle: A§2.4–2.5 computed from scratch, straightforwardly, for every pool in `pools` (a repeated pool
/// name: the last one wins). Used by tests to check [`Occupancy`]; O(pools × (blocks × block size + pods × IPs)).
pub fn compute_full(
    pools: &[Pool],
    blocks: &[(String, BlockInput)],
    pods: &[PodInput],
) -> BTreeMap<String, PoolStatus> {
    let by_name: BTreeMap<&str, Option<Cidr>> =
        pools.iter().map(|p| (p.name.as_str(), p.cidr)).collect();
    let valid: Vec<(&str, Cidr)> = by_name
        .iter()
        .filter_map(|(name, cidr)| cidr.map(|c| (*name, c)))
        .collect();
    let pool_of_target = |target: &Cidr| pool_of(target, valid.iter().map(|(n, c)| (*n, c)));
    let live = |namespace: &str, name: &str| {
        pods.iter()
            .any(|p| p.namespace == namespace && p.name == name && p.live())
    };
    let mut out = BTreeMap::new();
    for (&name, cidr) in &by_name {
        let Some(cidr) = cidr else {
            out.insert(name.to_owned(), PoolStatus::zero());
            continue;
        };
        let capacity = cidr.size();
        let mut pods_counted: u128 = 0;
        let mut fallback_allocations: u128 = 0;
        let mut fallback_namespaces: BTreeMap<String, u128> = BTreeMap::new();
        for pod in pods.iter().filter(|p| p.live() && !p.host_network) {
            let here = pod
                .ips
                .iter()
                .filter_map(|ip| Cidr::parse_address(ip))
                .filter(|a| pool_of_target(a) == Some(name))
                .count();
            let here = u128::try_from(here).unwrap_or(u128::MAX);
            if here > 0 {
                pods_counted += 1;
                fallback_allocations += here;
                *fallback_namespaces
                    .entry(pod.namespace.clone())
                    .or_default() += here;
            }
        }
        let attributed: Vec<(&BlockInput, Cidr)> = blocks
            .iter()
            .filter(|(_, b)| !b.deleted)
            .filter_map(|(_, b)| Cidr::parse(&b.cidr).map(|c| (b, c)))
            .filter(|(_, c)| pool_of_target(c) == Some(name))
            .collect();
        let status = if attributed.is_empty() {
            PoolStatus {
                capacity,
                allocations: fallback_allocations,
                unallocated: capacity.saturating_sub(fallback_allocations),
                reserved: 0,
                tunnel: 0,
                namespaces: fallback_namespaces,
                pods: pods_counted,
                leaked: 0,
            }
        } else {
            let (mut allocations, mut tunnel, mut reserved, mut leaked) =
                (0u128, 0u128, 0u128, 0u128);
            let mut namespaces: BTreeMap<String, u128> = BTreeMap::new();
            for (block, block_cidr) in attributed {
                let n = block_cidr.size();
                for (o, v) in block.allocations.iter().enumerate() {
                    if u128::try_from(o).unwrap_or(u128::MAX) >= n {
                        break;
                    }
                    let Some(v) = v else { continue };
                    // 0 ≤ v < len(attributes), else none (a negative value is a bad index).
                    let a = usize::try_from(*v)
                        .ok()
                        .and_then(|i| block.attributes.get(i));
                    let h = a.and_then(|a| a.handle_id.clone()).unwrap_or_default();
                    let empty = BTreeMap::new();
                    let secondary = a.and_then(|a| a.secondary.as_ref()).unwrap_or(&empty);
                    let get = |k: &str| secondary.get(k).cloned().unwrap_or_default();
                    if a.is_none() || h.is_empty() || h.to_lowercase() == WINDOWS_HANDLE {
                        reserved += 1;
                    } else if TUNNEL_TYPES.contains(&get("type").as_str()) {
                        tunnel += 1;
                    } else {
                        allocations += 1;
                        let ns = get("namespace");
                        let pod = get("pod");
                        if !ns.is_empty() {
                            *namespaces.entry(ns.clone()).or_default() += 1;
                        }
                        if !ns.is_empty() && !pod.is_empty() && !live(&ns, &pod) {
                            leaked += 1;
                        }
                    }
                }
            }
            PoolStatus {
                capacity,
                allocations,
                unallocated: capacity
                    .saturating_sub(allocations)
                    .saturating_sub(tunnel)
                    .saturating_sub(reserved),
                reserved,
                tunnel,
                namespaces,
                pods: pods_counted,
                leaked,
            }
        };
        out.insert(name.to_owned(), status);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::fixtures::pool;
    use serde_json::json;

    // ---- builders ----

    fn attr(handle: Option<&str>, secondary: Option<&[(&str, &str)]>) -> AttributeInput {
        AttributeInput {
            handle_id: handle.map(str::to_owned),
            secondary: secondary.map(|pairs| {
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect()
            }),
        }
    }

    fn pod_attr(handle: &str, namespace: &str, pod: &str) -> AttributeInput {
        attr(
            Some(handle),
            Some(&[("namespace", namespace), ("pod", pod), ("node", "node1")]),
        )
    }

    fn tunnel_attr(handle: &str, kind: &str) -> AttributeInput {
        attr(Some(handle), Some(&[("node", "node1"), ("type", kind)]))
    }

    fn windows_attr() -> AttributeInput {
        attr(
            Some("windows-reserved-ipam-handle"),
            Some(&[("note", "windows host rsvd")]),
        )
    }

    /// A block of `cidr` with `len` entries; `set` gives (ordinal, attribute index).
    fn block(
        cidr: &str,
        len: usize,
        set: &[(usize, i64)],
        attributes: Vec<AttributeInput>,
    ) -> BlockInput {
        let mut allocations = vec![None; len];
        for &(o, v) in set {
            allocations[o] = Some(v);
        }
        BlockInput {
            cidr: cidr.into(),
            deleted: false,
            allocations,
            attributes,
        }
    }

    fn pod(namespace: &str, name: &str, ips: &[&str]) -> PodInput {
        PodInput {
            namespace: namespace.into(),
            name: name.into(),
            phase: Some("Running".into()),
            host_network: false,
            ips: ips.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn phased(mut p: PodInput, phase: &str) -> PodInput {
        p.phase = Some(phase.into());
        p
    }

    #[derive(Clone, Default)]
    struct World {
        pools: Vec<Pool>,
        blocks: Vec<(String, BlockInput)>,
        pods: Vec<PodInput>,
    }

    impl World {
        /// Builds the index three ways (events in two orders, and relists) and checks each against the oracle.
        fn occupancy(&self) -> Occupancy {
            let oracle = compute_full(&self.pools, &self.blocks, &self.pods);

            // Pods, then blocks, then pools (re-attribution path).
            let mut a = Occupancy::new();
            for p in &self.pods {
                a.upsert_pod(p.clone());
            }
            for (n, b) in &self.blocks {
                a.upsert_block(n, b.clone());
            }
            for p in &self.pools {
                a.upsert_pool(p);
            }
            // Pools, then blocks, then pods (incremental path).
            let mut b = Occupancy::new();
            for p in &self.pools {
                b.upsert_pool(p);
            }
            for (n, bl) in &self.blocks {
                b.upsert_block(n, bl.clone());
            }
            for p in &self.pods {
                b.upsert_pod(p.clone());
            }
            // Relists.
            let mut c = Occupancy::new();
            c.replace_blocks(self.blocks.clone());
            c.replace_pods(self.pods.clone());
            c.replace_pools(self.pools.clone());

            for occ in [&a, &b, &c] {
                assert_eq!(occ.statuses(), oracle);
                for p in &self.pools {
                    assert_eq!(occ.status(&p.name).as_ref(), oracle.get(&p.name));
                }
            }
            assert_eq!(a.orphans(), b.orphans());
            assert_eq!(a.orphans(), c.orphans());
            b
        }

        fn status(&self, name: &str) -> PoolStatus {
            self.occupancy()
                .status(name)
                .unwrap_or_else(|| panic!("pool {name} exists"))
        }

        fn set_pod(&mut self, p: PodInput) {
            self.pods
                .retain(|q| !(q.namespace == p.namespace && q.name == p.name));
            self.pods.push(p);
        }

        fn block_mut(&mut self, name: &str) -> &mut BlockInput {
            &mut self
                .blocks
                .iter_mut()
                .find(|(n, _)| n == name)
                .unwrap_or_else(|| panic!("block {name}"))
                .1
        }
    }

    fn to_json(status: &PoolStatus) -> String {
        serde_json::to_string(status).unwrap()
    }

    fn ns(pairs: &[(&str, u128)]) -> BTreeMap<String, u128> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    /// Shared fixture F-A.
    fn f_a() -> World {
        let mut first = block(
            "10.233.64.0/26",
            64,
            &[(0, 0), (1, 1), (2, 2), (3, 3), (4, 4)],
            vec![
                tunnel_attr("ipip-tunnel-addr-node1", "ipipTunnelAddress"),
                pod_attr("k8s-pod-network.a1", "demo", "nginx-a"),
                pod_attr("k8s-pod-network.a2", "demo", "nginx-b"),
                pod_attr("k8s-pod-network.a3", "kube-system", "coredns-x"),
                pod_attr("k8s-pod-network.a4", "demo", "gone-pod"),
            ],
        );
        first.deleted = false;
        let second = block(
            "10.233.64.64/26",
            64,
            &[(0, 0), (1, 0), (2, 0), (63, 0), (3, 1), (4, 2)],
            vec![
                windows_attr(),
                pod_attr("k8s-pod-network.b1", "win", "iis-0"),
                AttributeInput::default(),
            ],
        );
        let mut third = block(
            "10.233.65.0/26",
            64,
            &(0..10).map(|o| (o, 0)).collect::<Vec<_>>(),
            vec![attr(
                Some("k8s-pod-network.c1"),
                Some(&[("namespace", "demo"), ("pod", "old-1")]),
            )],
        );
        third.deleted = true;
        World {
            pools: vec![pool("default-ipv4-ippool", "10.233.64.0/18")],
            blocks: vec![
                ("10-233-64-0-26".into(), first),
                ("10-233-64-64-26".into(), second),
                ("10-233-65-0-26".into(), third),
            ],
            pods: vec![
                pod("demo", "nginx-a", &["10.233.64.1"]),
                pod("demo", "nginx-b", &["10.233.64.2"]),
                pod("kube-system", "coredns-x", &["10.233.64.3"]),
                pod("win", "iis-0", &["10.233.64.67"]),
            ],
        }
    }

    const CASE_1_JSON: &str = r#"{"capacity":16384,"allocations":5,"unallocated":16373,"reserved":5,"tunnel":1,"namespaces":{"demo":3,"kube-system":1,"win":1},"pods":4,"leaked":1}"#;

    fn case_1_status() -> PoolStatus {
        PoolStatus {
            capacity: 16384,
            allocations: 5,
            unallocated: 16373,
            reserved: 5,
            tunnel: 1,
            namespaces: ns(&[("demo", 3), ("kube-system", 1), ("win", 1)]),
            pods: 4,
            leaked: 1,
        }
    }

    /// Case 6's world.
    fn case_6() -> World {
        World {
            pools: vec![pool("p24", "192.168.0.0/24")],
            blocks: vec![(
                "192-168-0-0-26".into(),
                block(
                    "192.168.0.0/26",
                    64,
                    &[(0, 0)],
                    vec![attr(
                        Some("k8s-pod-network.x"),
                        Some(&[("namespace", "ns1"), ("pod", "p1")]),
                    )],
                ),
            )],
            pods: vec![pod("ns1", "p1", &["192.168.0.0"])],
        }
    }

    /// Case 16's world.
    fn case_16() -> World {
        let mut e = pod("x", "e", &["192.168.100.9"]);
        e.host_network = true;
        World {
            pools: vec![pool("fb", "192.168.100.0/24")],
            blocks: vec![],
            pods: vec![
                pod("x", "a", &["192.168.100.5"]),
                phased(pod("x", "b", &["192.168.100.6"]), "Pending"),
                phased(pod("x", "c", &["192.168.100.7"]), "Succeeded"),
                phased(pod("x", "d", &["192.168.100.8"]), "Failed"),
                e,
                pod("x", "f", &["10.0.0.5"]),
                pod("y", "g", &["192.168.100.10", "fd00::a"]),
                phased(pod("x", "h", &[]), "Pending"),
            ],
        }
    }

    const CASE_16_JSON: &str = r#"{"capacity":256,"allocations":3,"unallocated":253,"reserved":0,"tunnel":0,"namespaces":{"x":2,"y":1},"pods":3,"leaked":0}"#;

    // ---- section A, cases 1–21 ----

    #[test]
    fn case_01_ipam_mode_mixed_block_contents() {
        let status = f_a().status("default-ipv4-ippool");
        assert_eq!(status, case_1_status());
        assert_eq!(to_json(&status), CASE_1_JSON);
    }

    #[test]
    fn case_02_pod_gone_ip_still_allocated() {
        let mut w = f_a();
        w.pods.retain(|p| p.name != "nginx-b");
        let status = w.status("default-ipv4-ippool");
        assert_eq!(
            status,
            PoolStatus {
                pods: 3,
                leaked: 2,
                ..case_1_status()
            }
        );
    }

    #[test]
    fn case_03_failed_pod_is_not_live() {
        let mut w = f_a();
        w.set_pod(phased(pod("demo", "nginx-a", &["10.233.64.1"]), "Failed"));
        let status = w.status("default-ipv4-ippool");
        assert_eq!(
            status,
            PoolStatus {
                pods: 3,
                leaked: 2,
                ..case_1_status()
            }
        );
    }

    #[test]
    fn case_04_deleted_flag_decides() {
        let mut w = f_a();
        w.block_mut("10-233-65-0-26").deleted = false;
        let status = w.status("default-ipv4-ippool");
        assert_eq!(status.allocations, 15);
        assert_eq!(status.namespaces.get("demo"), Some(&13));
        assert_eq!(status.leaked, 11);
        assert_eq!(status.unallocated, 16363);
        assert_eq!(status.reserved, 5);
        assert_eq!(status.tunnel, 1);
    }

    #[test]
    fn case_05_ipam_mode_ignores_pod_ips_for_allocations() {
        let mut w = f_a();
        w.pods.push(pod("demo", "extra", &["10.233.64.200"]));
        let status = w.status("default-ipv4-ippool");
        assert_eq!(
            status,
            PoolStatus {
                pods: 5,
                ..case_1_status()
            }
        );
    }

    #[test]
    fn case_06_one_address_in_a_slash_24() {
        let status = case_6().status("p24");
        assert_eq!(
            to_json(&status),
            r#"{"capacity":256,"allocations":1,"unallocated":255,"reserved":0,"tunnel":0,"namespaces":{"ns1":1},"pods":1,"leaked":0}"#
        );
    }

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
    fn case_11_overlapping_pools_longest_prefix_wins() {
        let w = World {
            pools: vec![pool("wide", "10.80.0.0/16"), pool("narrow", "10.80.1.0/24")],
            blocks: vec![
                (
                    "10-80-1-0-26".into(),
                    block(
                        "10.80.1.0/26",
                        64,
                        &[(5, 0)],
                        vec![pod_attr("k8s-pod-network.p", "a", "p")],
                    ),
                ),
                (
                    "10-80-2-0-26".into(),
                    block(
                        "10.80.2.0/26",
                        64,
                        &[(5, 0)],
                        vec![pod_attr("k8s-pod-network.q", "a", "q")],
                    ),
                ),
            ],
            pods: vec![pod("a", "p", &["10.80.1.5"]), pod("a", "q", &["10.80.2.5"])],
        };
        let occ = w.occupancy();
        let narrow = occ.status("narrow").unwrap();
        assert_eq!(
            (
                narrow.capacity,
                narrow.allocations,
                narrow.unallocated,
                narrow.pods
            ),
            (256, 1, 255, 1)
        );
        let wide = occ.status("wide").unwrap();
        assert_eq!(
            (wide.capacity, wide.allocations, wide.unallocated, wide.pods),
            (65536, 1, 65535, 1)
        );
        assert_eq!(occ.pools_of_pod("a", "p"), ["narrow"]);
        assert_eq!(occ.pools_of_pod("a", "q"), ["wide"]);
        assert_eq!(occ.pool_of_address("10.80.1.5"), Some("narrow"));
        assert_eq!(occ.pool_of_address("10.80.2.5"), Some("wide"));
        assert_eq!(occ.pool_of_address("10.81.0.1"), None);
    }

    #[test]
    fn case_12_orphan_block() {
        let mut w = f_a();
        w.blocks.push((
            "172-16-0-0-26".into(),
            block(
                "172.16.0.0/26",
                64,
                &[(0, 0), (1, 1)],
                vec![
                    pod_attr("k8s-pod-network.o1", "demo", "o1"),
                    pod_attr("k8s-pod-network.o2", "demo", "o2"),
                ],
            ),
        ));
        let occ = w.occupancy();
        assert_eq!(occ.status("default-ipv4-ippool"), Some(case_1_status()));
        assert_eq!(
            occ.orphans(),
            Orphans {
                blocks: 1,
                allocations: 2,
                names: vec!["172-16-0-0-26".into()],
            }
        );
    }

    #[test]
    fn case_13_block_larger_than_pool_is_an_orphan_and_the_pool_falls_back() {
        let mut tiny = pool("tiny", "10.90.0.0/28");
        tiny.disabled = true;
        let w = World {
            pools: vec![tiny],
            blocks: vec![(
                "10-90-0-0-26".into(),
                block(
                    "10.90.0.0/26",
                    64,
                    &[(3, 0)],
                    vec![pod_attr("k8s-pod-network.t", "t", "p")],
                ),
            )],
            pods: vec![pod("t", "p", &["10.90.0.3"])],
        };
        let occ = w.occupancy();
        assert_eq!(
            occ.status("tiny"),
            Some(PoolStatus {
                capacity: 16,
                allocations: 1,
                unallocated: 15,
                reserved: 0,
                tunnel: 0,
                namespaces: ns(&[("t", 1)]),
                pods: 1,
                leaked: 0,
            })
        );
        assert_eq!(occ.orphans().blocks, 1);
        assert_eq!(occ.orphans().names, ["10-90-0-0-26"]);
    }

    #[test]
    fn case_14_ipv6_slash_64_saturates() {
        let w = World {
            pools: vec![pool("v6-big", "fd00:10:244::/64")],
            blocks: vec![(
                "fd00-10-244---122".into(),
                block(
                    "fd00:10:244::/122",
                    64,
                    &[(0, 0), (1, 1), (2, 2)],
                    vec![
                        tunnel_attr("wireguard-v6-tunnel-addr-node1", "wireguardV6TunnelAddress"),
                        pod_attr("k8s-pod-network.p0", "ns1", "p-0"),
                        pod_attr("k8s-pod-network.p1", "ns1", "p-1"),
                    ],
                ),
            )],
            pods: vec![
                pod("ns1", "p-0", &["fd00:10:244::1"]),
                pod("ns1", "p-1", &["fd00:10:244::2"]),
            ],
        };
        let status = w.status("v6-big");
        assert_eq!(status.capacity, 1u128 << 64);
        assert_eq!(status.unallocated, (1u128 << 64) - 3);
        assert_eq!(
            to_json(&status),
            r#"{"capacity":9007199254740991,"allocations":2,"unallocated":9007199254740991,"reserved":0,"tunnel":1,"namespaces":{"ns1":2},"pods":2,"leaked":0}"#
        );
    }

    #[test]
    fn case_15_small_ipv6_pool_exact() {
        let w = World {
            pools: vec![pool("v6-small", "fd00:20::/120")],
            blocks: vec![(
                "fd00-20--40-122".into(),
                block(
                    "fd00:20::40/122",
                    64,
                    &[(0, 0), (1, 1), (2, 2), (63, 3)],
                    vec![
                        pod_attr("k8s-pod-network.p0", "a", "p0"),
                        pod_attr("k8s-pod-network.p1", "a", "p1"),
                        pod_attr("k8s-pod-network.p2", "a", "p2"),
                        windows_attr(),
                    ],
                ),
            )],
            pods: vec![
                pod("a", "p0", &["fd00:20::40"]),
                pod("a", "p1", &["fd00:20::41"]),
                pod("a", "p2", &["fd00:20::42"]),
            ],
        };
        assert_eq!(
            to_json(&w.status("v6-small")),
            r#"{"capacity":256,"allocations":3,"unallocated":252,"reserved":1,"tunnel":0,"namespaces":{"a":3},"pods":3,"leaked":0}"#
        );
    }

    #[test]
    fn case_16_pod_fallback() {
        assert_eq!(to_json(&case_16().status("fb")), CASE_16_JSON);
    }

    #[test]
    fn case_17_fallback_is_per_pool() {
        let mut w = f_a();
        let fb = case_16();
        w.pools.extend(fb.pools);
        w.pods.extend(fb.pods);
        let occ = w.occupancy();
        assert_eq!(occ.status("default-ipv4-ippool"), Some(case_1_status()));
        assert_eq!(to_json(&occ.status("fb").unwrap()), CASE_16_JSON);
    }

    #[test]
    fn case_18_only_deleted_blocks_means_fallback() {
        let mut b = block(
            "10.100.0.0/26",
            64,
            &(0..5).map(|o| (o, 0)).collect::<Vec<_>>(),
            vec![pod_attr("k8s-pod-network.z", "z", "old")],
        );
        b.deleted = true;
        let w = World {
            pools: vec![pool("gone", "10.100.0.0/24")],
            blocks: vec![("10-100-0-0-26".into(), b)],
            pods: vec![pod("z", "p1", &["10.100.0.9"])],
        };
        let status = w.status("gone");
        assert_eq!(
            status,
            PoolStatus {
                capacity: 256,
                allocations: 1,
                unallocated: 255,
                reserved: 0,
                tunnel: 0,
                namespaces: ns(&[("z", 1)]),
                pods: 1,
                leaked: 0,
            }
        );
        // A deleted block is not an orphan either.
        assert_eq!(w.occupancy().orphans(), Orphans::default());
    }

    #[test]
    fn case_19_empty_pool_every_key_present() {
        let w = World {
            pools: vec![pool("empty", "10.110.0.0/24")],
            ..World::default()
        };
        assert_eq!(
            to_json(&w.status("empty")),
            r#"{"capacity":256,"allocations":0,"unallocated":256,"reserved":0,"tunnel":0,"namespaces":{},"pods":0,"leaked":0}"#
        );
    }

    #[test]
    fn case_20_invalid_cidr_is_all_zeros() {
        let mut w = f_a();
        w.pools.push(pool("bad", "not-a-cidr"));
        let occ = w.occupancy();
        let status = occ.status("bad").unwrap();
        assert_eq!(status, PoolStatus::zero());
        assert_eq!(
            to_json(&status),
            r#"{"capacity":0,"allocations":0,"unallocated":0,"reserved":0,"tunnel":0,"namespaces":{},"pods":0,"leaked":0}"#
        );
        assert_eq!(occ.status("default-ipv4-ippool"), Some(case_1_status()));
        assert_eq!(occ.status("nope"), None);
    }

    #[test]
    fn case_21_disabled_pools_are_counted() {
        let mut w = case_6();
        let expected = w.status("p24");
        w.pools[0].disabled = true;
        assert_eq!(w.status("p24"), expected);
    }

    // ---- other behaviour ----

    #[test]
    fn json_caps_every_integer_and_keeps_key_order() {
        let status = PoolStatus {
            capacity: u128::MAX,
            allocations: 1 << 60,
            unallocated: JSON_INTEGER_CAP + 1,
            reserved: JSON_INTEGER_CAP,
            tunnel: 0,
            namespaces: ns(&[("b", 1 << 70), ("a", 2)]),
            pods: 1 << 54,
            leaked: 7,
        };
        let value: serde_json::Value = serde_json::from_str(&to_json(&status)).unwrap();
        let cap = 9007199254740991u64;
        assert_eq!(
            value,
            json!({"capacity":cap,"allocations":cap,"unallocated":cap,"reserved":cap,"tunnel":0,
                   "namespaces":{"a":2,"b":cap},"pods":cap,"leaked":7})
        );
        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "capacity",
                "allocations",
                "unallocated",
                "reserved",
                "tunnel",
                "namespaces",
                "pods",
                "leaked"
            ]
        );
    }

    #[test]
    fn pools_of_pod_keeps_order_dedups_and_ignores_phase() {
        let mut w = World {
            pools: vec![pool("ds4", "10.140.0.0/16"), pool("ds6", "fd00:40::/64")],
            ..World::default()
        };
        w.pods.push(phased(
            pod(
                "ds",
                "p",
                &[
                    "fd00:40::5",
                    "garbage",
                    "10.140.0.5",
                    "10.140.0.6",
                    "10.9.9.9",
                ],
            ),
            "Succeeded",
        ));
        let mut h = pod("ds", "h", &["10.140.0.7"]);
        h.host_network = true;
        w.pods.push(h);
        let occ = w.occupancy();
        assert_eq!(occ.pools_of_pod("ds", "p"), ["ds6", "ds4"]);
        assert!(occ.pools_of_pod("ds", "h").is_empty());
        assert!(occ.pools_of_pod("ds", "missing").is_empty());
        assert_eq!(occ.pool_of_address("garbage"), None);
    }

    #[test]
    fn host_network_pods_are_live_for_the_leak_check_only() {
        let mut w = f_a();
        let mut gone = pod("demo", "gone-pod", &["192.0.2.1"]);
        gone.host_network = true;
        w.pods.push(gone);
        let status = w.status("default-ipv4-ippool");
        assert_eq!(
            status,
            PoolStatus {
                leaked: 0,
                ..case_1_status()
            }
        );
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

    #[test]
    fn block_cidr_change_moves_it_between_pools_and_to_orphans() {
        let mut occ = Occupancy::new();
        occ.upsert_pool(&pool("a", "10.0.0.0/24"));
        occ.upsert_pool(&pool("b", "10.1.0.0/24"));
        let mut b = block("10.0.0.0/26", 64, &[(1, 0)], vec![pod_attr("h", "ns", "p")]);
        occ.upsert_block("blk", b.clone());
        assert_eq!(occ.status("a").unwrap().leaked, 1);
        b.cidr = "10.1.0.0/26".into();
        occ.upsert_block("blk", b.clone());
        assert_eq!(occ.status("a").unwrap().allocations, 0);
        assert_eq!(occ.status("b").unwrap().leaked, 1);
        occ.upsert_pod(pod("ns", "p", &[]));
        assert_eq!(occ.status("b").unwrap().leaked, 0);
        b.cidr = "10.2.0.0/26".into();
        occ.upsert_block("blk", b);
        assert_eq!(
            occ.status("b").unwrap(),
            compute_full(&[pool("b", "10.1.0.0/24")], &[], &[])["b"]
        );
        assert_eq!(occ.orphans().names, ["blk"]);
        occ.upsert_pool(&pool("c", "10.2.0.0/16"));
        assert_eq!(occ.orphans(), Orphans::default());
        assert_eq!(occ.status("c").unwrap().allocations, 1);
        occ.remove_pod("ns", "p");
        assert_eq!(occ.status("c").unwrap().leaked, 1);
        occ.remove_block("blk");
        assert_eq!(occ.status("c").unwrap().allocations, 0);
        assert_eq!(occ.status("c").unwrap().leaked, 0);
    }

    // ---- randomized: incremental index == oracle after every step ----

    /// SplitMix64: small, seeded, deterministic.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn chance(&mut self, percent: u64) -> bool {
            self.next() % 100 < percent
        }
        fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
            &items[self.below(items.len())]
        }
    }

    const POOL_NAMES: &[&str] = &["a", "b", "c", "d", "e", "f"];
    const POOL_CIDRS: &[&str] = &[
        "10.0.0.0/16",
        "10.0.0.0/24",
        "10.0.1.0/24",
        "10.0.0.0/26",
        "10.0.0.64/26",
        "10.0.0.0/28",
        "10.0.0.0/8",
        "0.0.0.0/0",
        "10.0.0.5/32",
        "fd00::/64",
        "fd00::/120",
        "fd00::/122",
        "fd00::40/122",
        "::/0",
        "::ffff:10.0.0.0/120",
        "not-a-cidr",
        "10.0.0.0/33",
    ];
    const BLOCK_NAMES: &[&str] = &["b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7", "b8"];
    const BLOCK_CIDRS: &[&str] = &[
        "10.0.0.0/26",
        "10.0.0.64/26",
        "10.0.1.0/26",
        "10.0.0.0/28",
        "10.0.0.16/28",
        "10.0.0.0/30",
        "10.0.0.0/24",
        "10.1.0.0/26",
        "10.0.0.5/32",
        "fd00::/122",
        "fd00::40/122",
        "fd00::/126",
        "fd01::/126",
        "::ffff:10.0.0.0/126",
        "bogus",
        "10.0.0.0/99",
    ];
    const NAMESPACES: &[&str] = &["ns1", "ns2", "ns3", ""];
    const POD_NAMES: &[&str] = &["p0", "p1", "p2", "p3", ""];
    const IPS: &[&str] = &[
        "10.0.0.1",
        "10.0.0.5",
        "10.0.0.17",
        "10.0.0.70",
        "10.0.0.200",
        "10.0.1.3",
        "10.2.3.4",
        "10.1.0.1",
        "fd00::1",
        "fd00::41",
        "fd00::ffff",
        "fd01::2",
        "::ffff:10.0.0.1",
        "garbage",
        " 10.0.0.2 ",
    ];
    const PHASES: &[Option<&str>] = &[
        None,
        Some("Running"),
        Some("Pending"),
        Some("Succeeded"),
        Some("Failed"),
        Some("Unknown"),
        Some("failed"),
    ];
    const HANDLES: &[Option<&str>] = &[
        None,
        Some(""),
        Some("k8s-pod-network.x"),
        Some("k8s-pod-network.y"),
        Some("windows-reserved-ipam-handle"),
        Some("WINDOWS-Reserved-Ipam-Handle"),
        Some("ipip-tunnel-addr-n1"),
    ];
    const TYPES: &[Option<&str>] = &[
        None,
        None,
        Some("ipipTunnelAddress"),
        Some("vxlanTunnelAddress"),
        Some("vxlanV6TunnelAddress"),
        Some("wireguardTunnelAddress"),
        Some("wireguardV6TunnelAddress"),
        Some("IPIPTunnelAddress"),
        Some("other"),
    ];

    fn random_pool(rng: &mut Rng) -> Pool {
        let mut p = pool(rng.pick::<&str>(POOL_NAMES), rng.pick::<&str>(POOL_CIDRS));
        p.disabled = rng.chance(20);
        p
    }

    fn random_attribute(rng: &mut Rng) -> AttributeInput {
        let handle_id = rng.pick(HANDLES).map(str::to_owned);
        let secondary = if rng.chance(15) {
            None
        } else {
            let mut m = BTreeMap::new();
            if let Some(t) = rng.pick(TYPES) {
                m.insert("type".to_owned(), (*t).to_owned());
            }
            if rng.chance(85) {
                m.insert("namespace".to_owned(), (*rng.pick(NAMESPACES)).to_owned());
            }
            if rng.chance(85) {
                m.insert("pod".to_owned(), (*rng.pick(POD_NAMES)).to_owned());
            }
            Some(m)
        };
        AttributeInput {
            handle_id,
            secondary,
        }
    }

    fn random_block(rng: &mut Rng) -> BlockInput {
        let attributes: Vec<AttributeInput> =
            (0..rng.below(5)).map(|_| random_attribute(rng)).collect();
        let len = match rng.below(4) {
            0 => rng.below(5),
            1 => 64,
            2 => rng.below(70),
            _ => 66,
        };
        let density = rng.below(101) as u64;
        let allocations = (0..len)
            .map(|_| {
                if !rng.chance(density) {
                    return None;
                }
                Some(match rng.below(10) {
                    0 => -1 - rng.below(3) as i64,
                    1 => attributes.len() as i64 + rng.below(3) as i64,
                    _ => rng.below(attributes.len().max(1)) as i64,
                })
            })
            .collect();
        BlockInput {
            cidr: (*rng.pick(BLOCK_CIDRS)).to_owned(),
            deleted: rng.chance(15),
            allocations,
            attributes,
        }
    }

    fn random_pod(rng: &mut Rng) -> PodInput {
        PodInput {
            namespace: (*rng.pick(&NAMESPACES[..3])).to_owned(),
            name: (*rng.pick(&POD_NAMES[..4])).to_owned(),
            phase: rng.pick(PHASES).map(str::to_owned),
            host_network: rng.chance(15),
            ips: (0..rng.below(4))
                .map(|_| (*rng.pick(IPS)).to_owned())
                .collect(),
        }
    }

    /// The reference state: plain maps, fed to the oracle.
    #[derive(Default)]
    struct State {
        pools: BTreeMap<String, Pool>,
        blocks: BTreeMap<String, BlockInput>,
        pods: BTreeMap<(String, String), PodInput>,
    }

    impl State {
        fn pools(&self) -> Vec<Pool> {
            self.pools.values().cloned().collect()
        }
        fn blocks(&self) -> Vec<(String, BlockInput)> {
            self.blocks
                .iter()
                .map(|(n, b)| (n.clone(), b.clone()))
                .collect()
        }
        fn pods(&self) -> Vec<PodInput> {
            self.pods.values().cloned().collect()
        }

        /// Orphans straight from A§2.8.
        fn orphans(&self) -> Orphans {
            let pools = self.pools();
            let valid: Vec<(&str, Cidr)> = pools
                .iter()
                .filter_map(|p| p.cidr.map(|c| (p.name.as_str(), c)))
                .collect();
            let mut out = Orphans::default();
            for (name, b) in &self.blocks {
                let Some(c) = Cidr::parse(&b.cidr) else {
                    continue;
                };
                if b.deleted || pool_of(&c, valid.iter().map(|(n, c)| (*n, c))).is_some() {
                    continue;
                }
                out.blocks += 1;
                out.allocations += b
                    .allocations
                    .iter()
                    .take(usize::try_from(c.size()).unwrap_or(usize::MAX))
                    .filter(|v| v.is_some())
                    .count() as u64;
                out.names.push(name.clone());
            }
            out
        }
    }

    fn check(occ: &Occupancy, state: &State, context: &str) {
        let expected = compute_full(&state.pools(), &state.blocks(), &state.pods());
        for name in POOL_NAMES {
            assert_eq!(
                occ.status(name).as_ref(),
                expected.get(*name),
                "{context}: pool {name}"
            );
        }
        assert_eq!(occ.statuses(), expected, "{context}");
        assert_eq!(occ.orphans(), state.orphans(), "{context}: orphans");
        let pools = state.pools();
        let valid: Vec<(&str, Cidr)> = pools
            .iter()
            .filter_map(|p| p.cidr.map(|c| (p.name.as_str(), c)))
            .collect();
        let pool_of_ip = |ip: &str| {
            Cidr::parse_address(ip).and_then(|a| pool_of(&a, valid.iter().map(|(n, c)| (*n, c))))
        };
        for ip in IPS {
            assert_eq!(
                occ.pool_of_address(ip),
                pool_of_ip(ip),
                "{context}: address {ip}"
            );
        }
        for ns in NAMESPACES {
            for name in POD_NAMES {
                let mut want: Vec<&str> = Vec::new();
                if let Some(p) = state.pods.get(&((*ns).to_owned(), (*name).to_owned()))
                    && !p.host_network
                {
                    for ip in &p.ips {
                        if let Some(pool) = pool_of_ip(ip)
                            && !want.contains(&pool)
                        {
                            want.push(pool);
                        }
                    }
                }
                assert_eq!(
                    occ.pools_of_pod(ns, name),
                    want,
                    "{context}: pod {ns}/{name}"
                );
                for pool in POOL_NAMES {
                    let member = occ.pods_in_pool(pool).any(|(n, p)| n == *ns && p == *name);
                    assert_eq!(
                        member,
                        want.contains(pool),
                        "{context}: {ns}/{name} in pool {pool}"
                    );
                }
            }
        }
    }

    fn run_random(seed: u64, steps: usize) {
        let mut rng = Rng(seed);
        let mut occ = Occupancy::new();
        let mut state = State::default();
        for i in 0..steps {
            let op = rng.below(100);
            let what = match op {
                0..=9 => {
                    let p = random_pool(&mut rng);
                    occ.upsert_pool(&p);
                    state.pools.insert(p.name.clone(), p);
                    "upsert_pool"
                }
                10..=14 => {
                    let name = *rng.pick(POOL_NAMES);
                    occ.remove_pool(name);
                    state.pools.remove(name);
                    "remove_pool"
                }
                15..=16 => {
                    let pools: Vec<Pool> =
                        (0..rng.below(6)).map(|_| random_pool(&mut rng)).collect();
                    occ.replace_pools(pools.clone());
                    state.pools = pools.into_iter().map(|p| (p.name.clone(), p)).collect();
                    "replace_pools"
                }
                17..=41 => {
                    let name = *rng.pick(BLOCK_NAMES);
                    let mut b = random_block(&mut rng);
                    // Sometimes change only the CIDR or only the deleted flag of an existing block.
                    if let Some(old) = state.blocks.get(name)
                        && rng.chance(30)
                    {
                        let cidr = b.cidr;
                        b = old.clone();
                        if rng.chance(50) {
                            b.cidr = cidr;
                        } else {
                            b.deleted = !b.deleted;
                        }
                    }
                    occ.upsert_block(name, b.clone());
                    state.blocks.insert(name.to_owned(), b);
                    "upsert_block"
                }
                42..=49 => {
                    let name = *rng.pick(BLOCK_NAMES);
                    occ.remove_block(name);
                    state.blocks.remove(name);
                    "remove_block"
                }
                50..=51 => {
                    let mut blocks: Vec<(String, BlockInput)> = Vec::new();
                    for name in BLOCK_NAMES {
                        match (state.blocks.get(*name), rng.below(3)) {
                            (Some(old), 0) => blocks.push(((*name).to_owned(), old.clone())),
                            (_, 1) => blocks.push(((*name).to_owned(), random_block(&mut rng))),
                            _ => {}
                        }
                    }
                    occ.replace_blocks(blocks.clone());
                    state.blocks = blocks.into_iter().collect();
                    "replace_blocks"
                }
                52..=84 => {
                    let mut p = random_pod(&mut rng);
                    // Sometimes only the phase or only the IPs of an existing pod change.
                    if let Some(old) = state.pods.get(&(p.namespace.clone(), p.name.clone()))
                        && rng.chance(40)
                    {
                        let fresh = p;
                        p = old.clone();
                        if rng.chance(50) {
                            p.phase = fresh.phase;
                        } else {
                            p.ips = fresh.ips;
                        }
                    }
                    occ.upsert_pod(p.clone());
                    state.pods.insert((p.namespace.clone(), p.name.clone()), p);
                    "upsert_pod"
                }
                85..=96 => {
                    let ns = *rng.pick(&NAMESPACES[..3]);
                    let name = *rng.pick(&POD_NAMES[..4]);
                    occ.remove_pod(ns, name);
                    state.pods.remove(&(ns.to_owned(), name.to_owned()));
                    "remove_pod"
                }
                _ => {
                    let mut pods: Vec<PodInput> = Vec::new();
                    for p in state.pods.values() {
                        if rng.chance(60) {
                            pods.push(p.clone());
                        }
                    }
                    for _ in 0..rng.below(4) {
                        pods.push(random_pod(&mut rng));
                    }
                    occ.replace_pods(pods.clone());
                    state.pods = pods
                        .into_iter()
                        .map(|p| ((p.namespace.clone(), p.name.clone()), p))
                        .collect();
                    "replace_pods"
                }
            };
            check(&occ, &state, &format!("seed {seed} step {i} ({what})"));
        }
        // A fresh index built by relists from the final state agrees too.
        let mut fresh = Occupancy::new();
        fresh.replace_pods(state.pods());
        fresh.replace_pools(state.pools());
        fresh.replace_blocks(state.blocks());
        check(&fresh, &state, &format!("seed {seed} rebuilt"));

        // Removing every block and pod leaves no residue: every sum is 0 and no reference or orphan remains.
        occ.replace_blocks(Vec::new());
        occ.replace_pods(Vec::new());
        assert!(occ.ledger.refs.is_empty(), "seed {seed}: refs left");
        assert!(occ.ledger.orphan_names.is_empty() && occ.ledger.orphan_allocations == 0);
        assert!(occ.blocks.is_empty() && occ.pods.is_empty());
        for (name, p) in &occ.ledger.pools {
            let status = p.status();
            let capacity = p.cidr.map_or(0, |c| c.size());
            assert_eq!(
                status,
                PoolStatus {
                    capacity,
                    unallocated: capacity,
                    ..PoolStatus::zero()
                },
                "{name}"
            );
            assert_eq!(p.blocks, 0);
            assert!(p.namespaces.is_empty() && p.fallback_namespaces.is_empty());
        }
        occ.replace_pools(Vec::new());
        assert!(occ.ranked.is_empty() && occ.ledger.pools.is_empty());
    }

    #[test]
    fn incremental_index_equals_the_oracle() {
        for seed in 0..6 {
            run_random(0x5eed_0000 + seed, 800);
        }
    }

    #[test]
    fn random_worlds_are_not_trivial() {
        // Guards the randomized test: its worlds must exercise both modes, leaks, tunnels, reserved and orphans.
        let mut rng = Rng(42);
        let mut seen = PoolStatus::default();
        let (mut ipam, mut fallback, mut orphans) = (0, 0, 0);
        for _ in 0..200 {
            let pools: Vec<Pool> = (0..4).map(|_| random_pool(&mut rng)).collect();
            let blocks: Vec<(String, BlockInput)> = (0..5)
                .map(|i| (format!("b{i}"), random_block(&mut rng)))
                .collect();
            let pods: Vec<PodInput> = (0..6).map(|_| random_pod(&mut rng)).collect();
            let mut occ = Occupancy::new();
            occ.replace_pools(pools.clone());
            occ.replace_blocks(blocks.clone());
            occ.replace_pods(pods.clone());
            orphans += occ.orphans().blocks;
            for s in compute_full(&pools, &blocks, &pods).values() {
                seen.leaked += s.leaked;
                seen.tunnel += s.tunnel;
                seen.reserved += s.reserved;
                seen.pods += s.pods;
                if s.tunnel + s.reserved > 0 {
                    ipam += 1;
                } else if s.allocations > 0 {
                    fallback += 1;
                }
            }
        }
        assert!(seen.leaked > 0 && seen.tunnel > 0 && seen.reserved > 0 && seen.pods > 0);
        assert!(ipam > 0 && fallback > 0 && orphans > 0);
    }
}
