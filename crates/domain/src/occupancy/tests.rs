//! The occupancy cases (section A) and the index's own behaviour, each world checked against the oracle.

use super::fixtures::{
    World, attr, block, names, ns, phased, pod, pod_attr, pool, to_json, tunnel_attr, windows_attr,
};
use super::oracle::compute_full;
use super::*;

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

/// The world of case 6.
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

/// The world of case 16.
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

// ---- section A, cases 1–21 (cases 7–10, how a block's ordinals are classified, are in `ledger`) ----

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
    assert_eq!(names(occ.pools_of_pod("a", "p")), ["narrow"]);
    assert_eq!(names(occ.pools_of_pod("a", "q")), ["wide"]);
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
    assert_eq!(names(occ.pools_of_pod("ds", "p")), ["ds6", "ds4"]);
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

#[test]
fn attributes_are_classified_by_handle_then_secondary_type() {
    let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    let tunnel = map(&[("type", "vxlanTunnelAddress"), ("namespace", "a")]);
    let pod = map(&[("namespace", "a"), ("pod", "p"), ("node", "n1")]);
    for handle in [
        None,
        Some(""),
        Some("windows-reserved-ipam-handle"),
        Some("WINDOWS-reserved-IPAM-handle"),
    ] {
        assert_eq!(
            AttributeInput::of(handle, Some(&pod)),
            AttributeInput::Reserved,
            "{handle:?}"
        );
        assert_eq!(
            AttributeInput::of(handle, Some(&tunnel)),
            AttributeInput::Reserved,
            "{handle:?}"
        );
    }
    assert_eq!(
        AttributeInput::of(Some("h"), Some(&tunnel)),
        AttributeInput::Tunnel
    );
    assert_eq!(
        AttributeInput::of(Some("h"), Some(&map(&[("type", "IPIPTunnelAddress")]))),
        AttributeInput::Allocation {
            namespace: "".into(),
            pod: "".into()
        },
        "tunnel types are compared exactly"
    );
    assert_eq!(
        AttributeInput::of(Some("h"), Some(&pod)),
        AttributeInput::Allocation {
            namespace: "a".into(),
            pod: "p".into()
        }
    );
    assert_eq!(
        AttributeInput::of(Some("\u{212a}8s-pod-network.x"), None),
        AttributeInput::Allocation {
            namespace: "".into(),
            pod: "".into()
        },
        "no secondary: an allocation of no pod"
    );
}
