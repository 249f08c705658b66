//! Test-only oracle: occupancy computed from scratch, and the randomized differential test that checks the
//! incremental index against it after every event.

use std::collections::BTreeMap;

use crate::cidr::{Cidr, pool_of};
use crate::pool::Pool;

use super::{AttributeInput, BlockInput, PodInput, PoolStatus};

/// Every pool's status (algorithms §2.4–2.5) computed from scratch, straightforwardly, for every pool in `pools` (a
/// repeated pool name: the last one wins). O(pools × (blocks × block size + pods × IPs)).
pub(super) fn compute_full(
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
                    match a {
                        None | Some(AttributeInput::Reserved) => reserved += 1,
                        Some(AttributeInput::Tunnel) => tunnel += 1,
                        Some(AttributeInput::Allocation { namespace, pod }) => {
                            allocations += 1;
                            if !namespace.is_empty() {
                                *namespaces.entry(namespace.to_string()).or_default() += 1;
                            }
                            if !namespace.is_empty() && !pod.is_empty() && !live(namespace, pod) {
                                leaked += 1;
                            }
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

mod tests {
    use super::super::fixtures::{names, pool};
    use super::super::{Occupancy, Orphans};
    use super::*;

    // ---- randomized: incremental index == oracle after every step ----

    use crate::random::SplitMix64 as Rng;

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
        let handle_id = *rng.pick(HANDLES);
        let secondary = (!rng.chance(15)).then(|| {
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
            m
        });
        AttributeInput::of(handle_id, secondary.as_ref())
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

        /// Orphans straight from algorithms §2.8.
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
                    names(occ.pools_of_pod(ns, name)),
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
        assert!(occ.keys.is_empty(), "seed {seed}: pods or references left");
        assert!(occ.ledger.orphan_names.is_empty() && occ.ledger.orphan_allocations == 0);
        assert!(occ.blocks.is_empty() && occ.members.is_empty());
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
