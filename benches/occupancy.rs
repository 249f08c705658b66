//! Occupancy index cost at cluster scale: `cargo bench --bench occupancy`.
//!
//! 20 pools (/16), 20 480 pods, 320 blocks of /26 holding every pod's allocation. Prints the time to load
//! everything, the cost of one pod or block event, and of one `status()` read.

use std::hint::black_box;
use std::time::Instant;

use ks_network_apiserver::domain::cidr::Cidr;
use ks_network_apiserver::domain::occupancy::{AttributeInput, BlockInput, Occupancy, PodInput};
use ks_network_apiserver::domain::pool::{Pool, default_allowed_uses};

const POOLS: usize = 20;
const PODS: usize = 20_480;

fn pool(i: usize) -> Pool {
    Pool {
        name: format!("pool-{i:02}"),
        cidr: Cidr::parse(&format!("10.{i}.0.0/16")),
        disabled: false,
        deleting: false,
        allowed_uses: default_allowed_uses(),
    }
}

fn pod_ip(n: usize) -> String {
    let pool = n % POOLS;
    let k = n / POOLS;
    format!("10.{pool}.{}.{}", k / 64, k % 64)
}

fn pod(n: usize, phase: &str) -> PodInput {
    PodInput {
        namespace: format!("ns-{}", n % 50),
        name: format!("pod-{n}"),
        phase: Some(phase.to_owned()),
        host_network: false,
        ips: vec![pod_ip(n)],
    }
}

fn blocks() -> Vec<(String, BlockInput)> {
    let per_pool = PODS / POOLS / 64;
    let mut out = Vec::new();
    for p in 0..POOLS {
        for b in 0..per_pool {
            let mut allocations = Vec::with_capacity(64);
            let mut attributes = Vec::with_capacity(64);
            for o in 0..64 {
                let n = (b * 64 + o) * POOLS + p;
                allocations.push(Some(o as i64));
                attributes.push(AttributeInput::Allocation {
                    namespace: format!("ns-{}", n % 50).into(),
                    pod: format!("pod-{n}").into(),
                });
            }
            let input = BlockInput {
                cidr: format!("10.{p}.{b}.0/26"),
                deleted: false,
                allocations,
                attributes,
            };
            out.push((format!("10-{p}-{b}-0-26"), input));
        }
    }
    out
}

fn per_op(label: &str, count: usize, f: impl FnMut(usize)) {
    let mut f = f;
    let start = Instant::now();
    for i in 0..count {
        f(i);
    }
    let elapsed = start.elapsed();
    println!(
        "{label:<44} {:>10.2} µs/op ({count} ops)",
        elapsed.as_secs_f64() * 1e6 / count as f64
    );
}

fn main() {
    let mut index = Occupancy::default();
    let start = Instant::now();
    index.replace_pools((0..POOLS).map(pool));
    index.replace_blocks(blocks());
    index.replace_pods((0..PODS).map(|n| pod(n, "Running")));
    println!(
        "{:<44} {:>10.1} ms",
        "initial load (20 pools, 20k pods, blocks)",
        start.elapsed().as_secs_f64() * 1e3
    );
    let status = index.status("pool-00").unwrap_or_default();
    assert_eq!(status.allocations, (PODS / POOLS) as u128);
    assert_eq!(status.pods, (PODS / POOLS) as u128);

    per_op("pod update (phase flip, leak bookkeeping)", 20_000, |i| {
        index.upsert_pod(pod(i, if i % 2 == 0 { "Failed" } else { "Running" }))
    });
    per_op("pod delete + re-add", 10_000, |i| {
        index.remove_pod(&format!("ns-{}", i % 50), &format!("pod-{i}"));
        index.upsert_pod(pod(i, "Running"));
    });
    let all = blocks();
    per_op("block update (64 ordinals)", 2_000, |i| {
        let (name, block) = &all[i % all.len()];
        index.upsert_block(name, block.clone());
    });
    per_op("status() of one pool", 100_000, |i| {
        black_box(index.status(&format!("pool-{:02}", i % POOLS)));
    });
    per_op("status() of every pool (GET /ippools)", 10_000, |_| {
        for p in 0..POOLS {
            black_box(index.status(&format!("pool-{p:02}")));
        }
    });
    per_op("pool update (re-attributes everything)", 20, |i| {
        index.upsert_pool(&pool(i % POOLS))
    });
}
