//! The fixture F-M as plain migration inputs, and the builders the migration tests share.

use super::plan::template_patch;
use super::*;
use crate::binding::{IPV4_POOLS, MANAGED, NamespaceInput, find_pool};
use crate::cidr::{Cidr, pool_of};
use crate::fixtures::{apply_to_namespace, fm_pools, map, merge_patch, ns, string_map};
use crate::pool::Pool;

pub(super) const NOW: &str = "2026-11-27T08:00:00Z";
pub(super) const LA: &str = "ippool.network.kubesphere.io/pool-a";
pub(super) const LB: &str = "ippool.network.kubesphere.io/pool-b";

/// Fixture F-M as plain inputs.
#[derive(Clone)]
pub(super) struct Fixture {
    pub(super) pools: Vec<Pool>,
    pub(super) namespaces: Vec<NamespaceInput>,
    pub(super) workloads: Vec<WorkloadInput>,
    pub(super) replica_sets: Vec<ReplicaSetInput>,
    pub(super) pods: Vec<PodInput>,
}

pub(super) fn owner(kind: &str, name: &str) -> Option<OwnerRef> {
    Some(OwnerRef {
        kind: kind.into(),
        name: name.into(),
    })
}

pub(super) fn workload(
    kind: WorkloadKind,
    ns: &str,
    name: &str,
    ann: &[(&str, &str)],
) -> WorkloadInput {
    WorkloadInput {
        kind,
        namespace: ns.into(),
        name: name.into(),
        template_annotations: map(ann),
    }
}

impl Fixture {
    pub(super) fn fm() -> Fixture {
        let pools = fm_pools();
        let namespaces = vec![
            ns(
                "demo",
                &[(LA, "")],
                &[(IPV4_POOLS, r#"["pool-a"]"#), (MANAGED, "true")],
            ),
            ns(
                "legacy",
                &[],
                &[(IPV4_POOLS, r#"["10.10.0.0/16","pool-x"]"#)],
            ),
            ns("other", &[], &[]),
        ];
        let workloads = vec![
            workload(WorkloadKind::Deployment, "demo", "web", &[]),
            workload(
                WorkloadKind::StatefulSet,
                "legacy",
                "db",
                &[(IPV4_POOLS, r#"["pool-a"]"#)],
            ),
            workload(WorkloadKind::DaemonSet, "other", "agent", &[]),
            workload(
                WorkloadKind::CronJob,
                "other",
                "nightly",
                &[(IPV4_POOLS, r#"["pool-a"]"#)],
            ),
        ];
        let replica_sets = vec![ReplicaSetInput {
            namespace: "demo".into(),
            name: "web-5d8f".into(),
            owner: owner("Deployment", "web"),
        }];
        let mut fixture = Fixture {
            pools,
            namespaces,
            workloads,
            replica_sets,
            pods: Vec::new(),
        };
        for (ns, name, own, ip) in [
            (
                "demo",
                "web-5d8f-aaaaa",
                owner("ReplicaSet", "web-5d8f"),
                "10.10.0.5",
            ),
            (
                "demo",
                "web-5d8f-bbbbb",
                owner("ReplicaSet", "web-5d8f"),
                "10.10.0.6",
            ),
            ("legacy", "db-0", owner("StatefulSet", "db"), "10.10.1.7"),
            ("demo", "solo", None, "10.10.0.9"),
            ("demo", "batch-1-xyz", owner("Job", "batch-1"), "10.10.0.10"),
            ("other", "agent-q", owner("DaemonSet", "agent"), "10.20.0.4"),
        ] {
            fixture.add_pod(ns, name, own, &[ip]);
        }
        fixture
    }

    /// Adds a Running pod whose `pools(pod)` is computed from its IPs (algorithms §3).
    pub(super) fn add_pod(&mut self, ns: &str, name: &str, owner: Option<OwnerRef>, ips: &[&str]) {
        let mut pools: Vec<String> = Vec::new();
        for ip in ips {
            let address = Cidr::parse_address(ip);
            let found = address.as_ref().and_then(|a| {
                pool_of(
                    a,
                    self.pools
                        .iter()
                        .filter_map(|p| p.cidr.as_ref().map(|c| (p.name.as_str(), c))),
                )
            });
            if let Some(found) = found
                && !pools.iter().any(|p| p == found)
            {
                pools.push(found.to_owned());
            }
        }
        self.pods.push(PodInput {
            namespace: ns.into(),
            name: name.into(),
            owner,
            pools,
            phase: Some("Running".into()),
            deleting: false,
            host_network: false,
        });
    }

    pub(super) fn pool(&self, name: &str) -> &Pool {
        find_pool(name, &self.pools).unwrap_or_else(|| panic!("pool {name}"))
    }

    pub(super) fn plan(&self, old: &str, new: &str, new_unallocated: u128) -> MigrationPlan {
        let (old, new) = validate(old, new, &self.pools).unwrap_or_else(|e| panic!("{e}"));
        plan(PlanInput {
            old,
            new,
            new_unallocated,
            namespaces: &self.namespaces,
            workloads: &self.workloads,
            replica_sets: &self.replica_sets,
            pods: &self.pods,
            pools: &self.pools,
            now_rfc3339: NOW,
        })
    }

    pub(super) fn namespace(&self, name: &str) -> &NamespaceInput {
        self.namespaces
            .iter()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("namespace {name}"))
    }

    pub(super) fn workload(&self, kind: WorkloadKind, name: &str) -> &WorkloadInput {
        self.workloads
            .iter()
            .find(|w| w.kind == kind && w.name == name)
            .unwrap_or_else(|| panic!("{kind} {name}"))
    }

    /// Applies every patch of the plan to the inputs, as the execution would.
    pub(super) fn apply(&mut self, plan: &MigrationPlan) {
        for change in &plan.namespaces {
            for ns in self.namespaces.iter_mut().filter(|n| n.name == change.name) {
                *ns = apply_to_namespace(ns, &change.patch);
            }
        }
        for change in &plan.workloads {
            for w in self.workloads.iter_mut().filter(|w| {
                w.kind == change.kind && w.namespace == change.namespace && w.name == change.name
            }) {
                let pointer = template_pointer(w.kind);
                let mut object = template_patch(
                    w.kind,
                    serde_json::to_value(&w.template_annotations).unwrap_or_default(),
                );
                merge_patch(&mut object, &change.patch);
                w.template_annotations = string_map(&object, pointer);
            }
        }
    }
}

fn template_pointer(kind: WorkloadKind) -> &'static str {
    match kind {
        WorkloadKind::CronJob => "/spec/jobTemplate/spec/template/metadata/annotations",
        _ => "/spec/template/metadata/annotations",
    }
}
