//! Pool migration (algorithms §7, api §1.4): request validation and the plan of namespace and workload patches.
//!
//! This module holds what the migration reads (workloads, ReplicaSets, pods); `validate` the request checks;
//! `plan` the patches and warnings computed from a validated request.

#[cfg(test)]
mod fixtures;
mod plan;
mod validate;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Serialize, Serializer};

pub use crate::binding::NamespaceChange;
pub use plan::{
    Action, MigrationPlan, PlanInput, SkippedPod, WorkloadChange, namespace_patch, plan,
    references, rewrite,
};
pub use validate::{IPPOOL_RESOURCE, MigrationError, validate};

/// Pod-template annotation `<old>:<new>`: the workload was already patched for that migration.
pub const MIGRATION_ANNOTATION: &str = "network.kubesphere.io/ippool-migration";
/// Pod-template annotation whose change rolls a workload.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// A workload kind the migration patches. Variants are declared in kind-name order, so `Ord` sorts like the
/// names (`CronJob` < `DaemonSet` < `Deployment` < `StatefulSet`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WorkloadKind {
    /// `batch/v1` CronJob.
    CronJob,
    /// `apps/v1` DaemonSet.
    DaemonSet,
    /// `apps/v1` Deployment.
    Deployment,
    /// `apps/v1` StatefulSet.
    StatefulSet,
}

impl WorkloadKind {
    /// Every kind, in name order.
    pub const ALL: [WorkloadKind; 4] = [
        WorkloadKind::CronJob,
        WorkloadKind::DaemonSet,
        WorkloadKind::Deployment,
        WorkloadKind::StatefulSet,
    ];

    /// The Kubernetes `kind`, which is also the `Display` and JSON form.
    pub fn kind(self) -> &'static str {
        match self {
            WorkloadKind::CronJob => "CronJob",
            WorkloadKind::DaemonSet => "DaemonSet",
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
        }
    }

    /// The kind for a Kubernetes kind name, if it is one of the four.
    pub fn from_kind(kind: &str) -> Option<WorkloadKind> {
        WorkloadKind::ALL.into_iter().find(|k| k.kind() == kind)
    }

    /// API group: `apps` or `batch`.
    pub fn group(self) -> &'static str {
        match self {
            WorkloadKind::CronJob => "batch",
            _ => "apps",
        }
    }

    /// `apiVersion`: `apps/v1` or `batch/v1`.
    pub fn api_version(self) -> &'static str {
        match self {
            WorkloadKind::CronJob => "batch/v1",
            _ => "apps/v1",
        }
    }

    /// Resource plural: `cronjobs`, `daemonsets`, `deployments`, `statefulsets`.
    pub fn plural(self) -> &'static str {
        match self {
            WorkloadKind::CronJob => "cronjobs",
            WorkloadKind::DaemonSet => "daemonsets",
            WorkloadKind::Deployment => "deployments",
            WorkloadKind::StatefulSet => "statefulsets",
        }
    }
}

impl fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind())
    }
}

impl Serialize for WorkloadKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.kind())
    }
}

/// The ownerReference with `controller: true`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerRef {
    /// Any kind, e.g. `ReplicaSet` or `Job`, not only a [`WorkloadKind`].
    pub kind: String,
    /// Owner name (same namespace).
    pub name: String,
}

/// A Deployment, StatefulSet, DaemonSet or CronJob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadInput {
    pub kind: WorkloadKind,
    pub namespace: String,
    pub name: String,
    /// Pod-template annotations (`spec.jobTemplate.spec.template.metadata.annotations` for CronJobs).
    pub template_annotations: BTreeMap<String, String>,
}

/// A ReplicaSet, to resolve a pod's Deployment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaSetInput {
    pub namespace: String,
    pub name: String,
    /// A Deployment owner makes the ReplicaSet's pods that Deployment's; any other, or none, leaves them
    /// unsupported.
    pub owner: Option<OwnerRef>,
}

/// The facts about a pod that the migration uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodInput {
    pub namespace: String,
    pub name: String,
    /// `None`: a holder without an owner is skipped with `no controller`.
    pub owner: Option<OwnerRef>,
    /// `pools(pod)` (algorithms §3): pools of its IPs, in order, without duplicates.
    pub pools: Vec<String>,
    /// `status.phase`.
    pub phase: Option<String>,
    /// `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    /// `spec.hostNetwork: true`.
    pub host_network: bool,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn workload_kind_helpers() {
        assert_eq!(
            WorkloadKind::ALL.map(|k| (k.group(), k.plural(), k.api_version())),
            [
                ("batch", "cronjobs", "batch/v1"),
                ("apps", "daemonsets", "apps/v1"),
                ("apps", "deployments", "apps/v1"),
                ("apps", "statefulsets", "apps/v1"),
            ]
        );
        assert_eq!(
            WorkloadKind::from_kind("StatefulSet"),
            Some(WorkloadKind::StatefulSet)
        );
        assert_eq!(WorkloadKind::from_kind("Job"), None);
        assert_eq!(json!(WorkloadKind::CronJob), json!("CronJob"));
    }
}
