//! Test builders for the occupancy index: blocks, attributes, pods, and a [`World`] that builds the index several
//! ways and checks each against the oracle.

use std::collections::BTreeMap;

pub(super) use crate::fixtures::pool;
use crate::pool::Pool;

use super::oracle::compute_full;
use super::{AttributeInput, BlockInput, Occupancy, PodInput, PoolName, PoolStatus};

pub(super) fn attr(handle: Option<&str>, secondary: Option<&[(&str, &str)]>) -> AttributeInput {
    let secondary: Option<BTreeMap<String, String>> = secondary.map(|pairs| {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    });
    AttributeInput::of(handle, secondary.as_ref())
}

pub(super) fn pod_attr(handle: &str, namespace: &str, pod: &str) -> AttributeInput {
    attr(
        Some(handle),
        Some(&[("namespace", namespace), ("pod", pod), ("node", "node1")]),
    )
}

pub(super) fn tunnel_attr(handle: &str, kind: &str) -> AttributeInput {
    attr(Some(handle), Some(&[("node", "node1"), ("type", kind)]))
}

pub(super) fn windows_attr() -> AttributeInput {
    attr(
        Some("windows-reserved-ipam-handle"),
        Some(&[("note", "windows host rsvd")]),
    )
}

/// A block of `cidr` with `len` entries; `set` gives (ordinal, attribute index).
pub(super) fn block(
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

pub(super) fn pod(namespace: &str, name: &str, ips: &[&str]) -> PodInput {
    PodInput {
        namespace: namespace.into(),
        name: name.into(),
        phase: Some("Running".into()),
        host_network: false,
        ips: ips.iter().map(|s| (*s).to_owned()).collect(),
    }
}

pub(super) fn phased(mut p: PodInput, phase: &str) -> PodInput {
    p.phase = Some(phase.into());
    p
}

#[derive(Clone, Default)]
pub(super) struct World {
    pub(super) pools: Vec<Pool>,
    pub(super) blocks: Vec<(String, BlockInput)>,
    pub(super) pods: Vec<PodInput>,
}

impl World {
    /// Builds the index three ways (events in two orders, and relists) and checks each against the oracle.
    pub(super) fn occupancy(&self) -> Occupancy {
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

    pub(super) fn status(&self, name: &str) -> PoolStatus {
        self.occupancy()
            .status(name)
            .unwrap_or_else(|| panic!("pool {name} exists"))
    }

    pub(super) fn set_pod(&mut self, p: PodInput) {
        self.pods
            .retain(|q| !(q.namespace == p.namespace && q.name == p.name));
        self.pods.push(p);
    }

    pub(super) fn block_mut(&mut self, name: &str) -> &mut BlockInput {
        &mut self
            .blocks
            .iter_mut()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("block {name}"))
            .1
    }
}

pub(super) fn to_json(status: &PoolStatus) -> String {
    serde_json::to_string(status).unwrap()
}

pub(super) fn ns(pairs: &[(&str, u128)]) -> BTreeMap<String, u128> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

/// Pool names as text, to compare with literals.
pub(super) fn names(pools: &[PoolName]) -> Vec<&str> {
    pools.iter().map(|pool| &**pool).collect()
}
