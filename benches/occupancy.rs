//! Occupancy index cost at cluster scale (Criterion): `cargo bench --bench occupancy`.
//!
//! 20 pools (/16), 20 480 pods, 320 blocks of /26 holding every pod's allocation: the time to load everything, the
//! cost of one pod or block event (a block event re-reads its 64 ordinals), and of `status()` reads.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

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

/// An index holding every pool, block and pod.
fn loaded() -> Occupancy {
    let mut index = Occupancy::default();
    index.replace_pools((0..POOLS).map(pool));
    index.replace_blocks(blocks());
    index.replace_pods((0..PODS).map(|n| pod(n, "Running")));
    index
}

fn occupancy(c: &mut Criterion) {
    let mut load = c.benchmark_group("occupancy load");
    load.sample_size(10);
    load.bench_function("initial load (20 pools, 20k pods, blocks)", |b| {
        b.iter(|| black_box(loaded()))
    });
    load.finish();

    let mut index = loaded();
    let status = index.status("pool-00").unwrap_or_default();
    assert_eq!(status.allocations, (PODS / POOLS) as u128);
    assert_eq!(status.pods, (PODS / POOLS) as u128);

    let mut i = 0;
    c.bench_function("pod update (phase flip, leak bookkeeping)", |b| {
        b.iter(|| {
            i = (i + 1) % PODS;
            index.upsert_pod(pod(i, if i % 2 == 0 { "Failed" } else { "Running" }))
        })
    });
    c.bench_function("pod delete + re-add", |b| {
        b.iter(|| {
            i = (i + 1) % PODS;
            index.remove_pod(&format!("ns-{}", i % 50), &format!("pod-{i}"));
            index.upsert_pod(pod(i, "Running"));
        })
    });
    let all = blocks();
    c.bench_function("block update (64 ordinals)", |b| {
        b.iter(|| {
            i = (i + 1) % all.len();
            let (name, block) = &all[i];
            index.upsert_block(name, block.clone());
        })
    });
    c.bench_function("status() of one pool", |b| {
        b.iter(|| {
            i = (i + 1) % POOLS;
            black_box(index.status(&format!("pool-{i:02}")))
        })
    });
    c.bench_function("status() of every pool (GET /ippools)", |b| {
        b.iter(|| {
            for p in 0..POOLS {
                black_box(index.status(&format!("pool-{p:02}")));
            }
        })
    });
    let mut pools = c.benchmark_group("occupancy pools");
    pools.sample_size(10);
    // An unchanged CIDR changes nothing; a changed one re-attributes every address.
    let mut shrunk = false;
    pools.bench_function("pool CIDR change (re-attributes every address)", |b| {
        b.iter(|| {
            shrunk = !shrunk;
            let mut changed = pool(0);
            if shrunk {
                changed.cidr = Cidr::parse("10.0.0.0/17");
            }
            index.upsert_pool(&changed)
        })
    });
    pools.finish();
}

criterion_group!(benches, occupancy);
criterion_main!(benches);
