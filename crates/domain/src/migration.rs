//! Pool migration (algorithms §7, api §1.4): request validation and the plan of namespace and workload patches.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use super::binding::{
    NamespaceInput, binding_label, bound_pools, derive_into, find_pool, format_pool_annotation,
    is_valid_binding_label, label_bindings, map_diff, metadata_patch, parse_pool_annotation,
    pool_annotation_key,
};
use super::cidr::{Cidr, Family};
use super::pool::Pool;

/// Pod-template annotation `<old>:<new>`: the workload was already patched for that migration.
pub const MIGRATION_ANNOTATION: &str = "network.kubesphere.io/ippool-migration";
/// Pod-template annotation whose change rolls a workload.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";
/// Resource name used in pool NotFound errors.
pub const IPPOOL_RESOURCE: &str = "ippools.crd.projectcalico.org";

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

    /// The Kubernetes kind name.
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

/// What a migration does to a workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Its pool annotation was rewritten (`updated`).
    Updated,
    /// Only `kubectl.kubernetes.io/restartedAt` was set (`restarted`).
    Restarted,
}

/// The ownerReference with `controller: true`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerRef {
    /// Owner kind.
    pub kind: String,
    /// Owner name (same namespace).
    pub name: String,
}

/// A Deployment, StatefulSet, DaemonSet or CronJob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadInput {
    /// Kind.
    pub kind: WorkloadKind,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Pod-template annotations (`spec.jobTemplate.spec.template.metadata.annotations` for CronJobs).
    pub template_annotations: BTreeMap<String, String>,
}

/// A ReplicaSet, to resolve a pod's Deployment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaSetInput {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Its controller owner.
    pub owner: Option<OwnerRef>,
}

/// The facts about a pod that the migration uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodInput {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Its controller owner.
    pub owner: Option<OwnerRef>,
    /// `pools(pod)` (A§3): pools of its IPs, in order, without duplicates.
    pub pools: Vec<String>,
    /// `status.phase`.
    pub phase: Option<String>,
    /// `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    /// `spec.hostNetwork: true`.
    pub host_network: bool,
}

/// A migration request that fails validation (api §1.4 checks 1–9).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MigrationError {
    /// 400 with this message.
    #[error("{0}")]
    BadRequest(String),
    /// 404 `<resource> "<name>" not found`.
    #[error("{resource} \"{name}\" not found")]
    NotFound {
        /// `ippools.crd.projectcalico.org`.
        resource: String,
        /// The missing pool.
        name: String,
    },
}

/// The plan of a migration (A§7.2, §7.5). Serializes as the summary part of the api §1.4 response:
/// `namespaces` (names), `workloads`, `skippedPods`, `warnings`; patches are not serialized.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrationPlan {
    /// Namespaces to patch, sorted by name.
    pub namespaces: Vec<NamespaceChange>,
    /// Workloads to patch, sorted by (kind name, namespace, name).
    pub workloads: Vec<WorkloadChange>,
    /// Holders that cannot be restarted, sorted by (namespace, name).
    pub skipped_pods: Vec<SkippedPod>,
    /// Warnings, in A§7.5 order.
    pub warnings: Vec<String>,
}

impl MigrationPlan {
    /// Whether nothing is to be written.
    pub fn has_no_writes(&self) -> bool {
        self.namespaces.is_empty() && self.workloads.is_empty()
    }
}

/// One namespace patch. Serializes as its name.
#[derive(Clone, Debug, PartialEq)]
pub struct NamespaceChange {
    /// Namespace name.
    pub name: String,
    /// JSON merge patch `{"metadata":{"labels":{…},"annotations":{…}}}`.
    pub patch: Value,
}

impl Serialize for NamespaceChange {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.name)
    }
}

/// One workload patch. Serializes as `{"kind","namespace","name","action"}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorkloadChange {
    /// Kind.
    pub kind: WorkloadKind,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `updated` or `restarted`.
    pub action: Action,
    /// JSON merge patch of the pod-template annotations.
    #[serde(skip)]
    pub patch: Value,
}

/// A pod holding an old-pool address that the migration cannot restart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SkippedPod {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `no controller` or `unsupported controller <Kind>`.
    pub reason: String,
}

/// Validates a migration request (api §1.4 checks 1–9, first failure wins) and returns the (old, new) pools.
///
/// # Errors
///
/// [`MigrationError::BadRequest`] (400) or [`MigrationError::NotFound`] (404) with the api §1.4 message.
pub fn validate<'a>(
    old: &str,
    new: &str,
    pools: &'a [Pool],
) -> Result<(&'a Pool, &'a Pool), MigrationError> {
    let bad = |message: String| Err(MigrationError::BadRequest(message));
    if old.is_empty() || new.is_empty() {
        return bad("oldippool and newippool are required".to_owned());
    }
    if old == new {
        return bad("oldippool and newippool must be different".to_owned());
    }
    let find = |name: &str| {
        find_pool(name, pools).ok_or_else(|| MigrationError::NotFound {
            resource: IPPOOL_RESOURCE.to_owned(),
            name: name.to_owned(),
        })
    };
    let old_pool = find(old)?;
    let new_pool = find(new)?;
    if old_pool.family().is_none() || old_pool.family() != new_pool.family() {
        return bad(format!(
            "ippools \"{old}\" and \"{new}\" are of different IP families"
        ));
    }
    if new_pool.disabled {
        return bad(format!("ippool \"{new}\" is disabled"));
    }
    if !new_pool.allowed_uses.is_empty() && !new_pool.allows_workloads() {
        return bad(format!("ippool \"{new}\" does not allow Workload use"));
    }
    if new_pool.deleting {
        return bad(format!("ippool \"{new}\" is being deleted"));
    }
    if !is_valid_binding_label(new) {
        return bad(format!(
            "ippool name \"{new}\" cannot be used as a namespace binding label"
        ));
    }
    Ok((old_pool, new_pool))
}

/// Plans a migration from `old` to `new` (A§7.2) with its warnings (A§7.5). `new_unallocated` is the new pool's
/// `status.unallocated`; `pools` are all pools; `now_rfc3339` is the `restartedAt` value
/// (RFC 3339 UTC, seconds).
#[allow(clippy::too_many_arguments)]
pub fn plan(
    old: &Pool,
    new: &Pool,
    new_unallocated: u128,
    namespaces: &[NamespaceInput],
    workloads: &[WorkloadInput],
    replica_sets: &[ReplicaSetInput],
    pods: &[PodInput],
    pools: &[Pool],
    now_rfc3339: &str,
) -> MigrationPlan {
    let mut namespace_changes: Vec<NamespaceChange> = namespaces
        .iter()
        .filter_map(|ns| {
            namespace_patch(ns, old, new, pools).map(|patch| NamespaceChange {
                name: ns.name.clone(),
                patch,
            })
        })
        .collect();
    namespace_changes.sort_by(|a, b| a.name.cmp(&b.name));

    let mut skipped_pods = Vec::new();
    let mut owners: BTreeSet<(WorkloadKind, &str, &str)> = BTreeSet::new();
    let mut moving: u128 = 0;
    for pod in pods.iter().filter(|pod| is_holder(pod, old)) {
        match resolve_owner(pod, replica_sets) {
            Ok(owner) => {
                owners.insert(owner);
                moving += 1;
            }
            Err(reason) => skipped_pods.push(SkippedPod {
                namespace: pod.namespace.clone(),
                name: pod.name.clone(),
                reason,
            }),
        }
    }
    skipped_pods.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));

    let key = annotation_key(old);
    let marker = format!("{}:{}", old.name, new.name);
    let mut workload_changes: Vec<WorkloadChange> = workloads
        .iter()
        .filter_map(|w| {
            let annotations = &w.template_annotations;
            let pinned = annotations
                .get(key)
                .and_then(|value| parse_pool_annotation(value))
                .filter(|entries| entries.iter().any(|e| references(e, old)));
            let restart = w.kind != WorkloadKind::CronJob
                && owners.contains(&(w.kind, w.namespace.as_str(), w.name.as_str()))
                && annotations.get(MIGRATION_ANNOTATION) != Some(&marker);
            if pinned.is_none() && !restart {
                return None;
            }
            let mut desired = annotations.clone();
            if let Some(entries) = &pinned {
                desired.insert(
                    key.to_owned(),
                    format_pool_annotation(&rewrite(entries, old, new)),
                );
            }
            if w.kind != WorkloadKind::CronJob {
                desired.insert(MIGRATION_ANNOTATION.to_owned(), marker.clone());
            }
            if restart && pinned.is_none() {
                desired.insert(RESTARTED_AT.to_owned(), now_rfc3339.to_owned());
            }
            let diff = map_diff(annotations, &desired)?;
            Some(WorkloadChange {
                kind: w.kind,
                namespace: w.namespace.clone(),
                name: w.name.clone(),
                action: if pinned.is_some() {
                    Action::Updated
                } else {
                    Action::Restarted
                },
                patch: template_patch(w.kind, diff),
            })
        })
        .collect();
    workload_changes.sort_by(|a, b| {
        (a.kind.kind(), &a.namespace, &a.name).cmp(&(b.kind.kind(), &b.namespace, &b.name))
    });

    let mut warnings = Vec::new();
    if !old.disabled {
        warnings.push(format!(
            "ippool \"{}\" is still enabled: pods restarted outside namespaces bound to \"{}\" may get addresses from it again; disable it to complete the migration",
            old.name, new.name
        ));
    }
    if new_unallocated < moving {
        warnings.push(format!(
            "ippool \"{}\" has {new_unallocated} free addresses but {moving} pods are being moved",
            new.name
        ));
    }

    MigrationPlan {
        namespaces: namespace_changes,
        workloads: workload_changes,
        skipped_pods,
        warnings,
    }
}

/// One namespace's A§7.2.1 patch, or `None` when the namespace is not bound to `old` or nothing would change.
/// Also used to recompute the patch from a freshly read namespace after a 409 Conflict (A§4.4).
pub fn namespace_patch(
    ns: &NamespaceInput,
    old: &Pool,
    new: &Pool,
    pools: &[Pool],
) -> Option<Value> {
    if !bound_pools(ns, pools).contains(&old.name) {
        return None;
    }
    let mut labels = ns.labels.clone();
    let mut annotations = ns.annotations.clone();
    let mut bound = label_bindings(ns);
    if bound.remove(&old.name) {
        labels.remove(&binding_label(&old.name));
        if bound.insert(new.name.clone()) {
            labels.insert(binding_label(&new.name), String::new());
        }
    }
    if ns.is_managed() {
        derive_into(&mut annotations, &bound, pools);
    } else {
        let key = annotation_key(old);
        let rewritten = annotations
            .get(key)
            .and_then(|value| parse_pool_annotation(value))
            .filter(|entries| entries.iter().any(|e| references(e, old)))
            .map(|entries| format_pool_annotation(&rewrite(&entries, old, new)));
        if let Some(value) = rewritten {
            annotations.insert(key.to_owned(), value);
        }
    }
    metadata_patch(ns, &labels, &annotations)
}

/// `rewrite(array)` (A§7.1): entries referencing `old` become `new`'s name, then repeated `new` names after the
/// first are removed.
pub fn rewrite(entries: &[String], old: &Pool, new: &Pool) -> Vec<String> {
    let mut seen_new = false;
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let entry = if references(entry, old) {
            new.name.clone()
        } else {
            entry.clone()
        };
        if entry == new.name {
            if seen_new {
                continue;
            }
            seen_new = true;
        }
        out.push(entry);
    }
    out
}

/// Whether an annotation entry references `pool`: equals its name or parses as a CIDR equal to its network.
pub fn references(entry: &str, pool: &Pool) -> bool {
    entry == pool.name || (pool.cidr.is_some() && Cidr::parse(entry) == pool.cidr)
}

/// `K`: the Calico annotation of the old pool's family.
fn annotation_key(old: &Pool) -> &'static str {
    pool_annotation_key(old.family().unwrap_or(Family::V4))
}

/// A holder of `old` (A§7.1): not host-network, not finished, not being deleted, with an address from `old`.
fn is_holder(pod: &PodInput, old: &Pool) -> bool {
    !pod.host_network
        && !matches!(pod.phase.as_deref(), Some("Succeeded" | "Failed"))
        && !pod.deleting
        && pod.pools.contains(&old.name)
}

/// The workload that owns a holder, or the reason it is skipped.
fn resolve_owner<'a>(
    pod: &'a PodInput,
    replica_sets: &'a [ReplicaSetInput],
) -> Result<(WorkloadKind, &'a str, &'a str), String> {
    let Some(owner) = &pod.owner else {
        return Err("no controller".to_owned());
    };
    let namespace = pod.namespace.as_str();
    match owner.kind.as_str() {
        "ReplicaSet" => replica_sets
            .iter()
            .find(|rs| rs.namespace == pod.namespace && rs.name == owner.name)
            .and_then(|rs| rs.owner.as_ref())
            .filter(|o| o.kind == "Deployment")
            .map(|o| (WorkloadKind::Deployment, namespace, o.name.as_str()))
            .ok_or_else(|| "unsupported controller ReplicaSet".to_owned()),
        "StatefulSet" => Ok((WorkloadKind::StatefulSet, namespace, owner.name.as_str())),
        "DaemonSet" => Ok((WorkloadKind::DaemonSet, namespace, owner.name.as_str())),
        other => Err(format!("unsupported controller {other}")),
    }
}

/// Wraps a template-annotation merge patch at the kind's template path.
fn template_patch(kind: WorkloadKind, annotations: Value) -> Value {
    let nest = |key: &str, inner: Value| {
        let mut object = Map::new();
        object.insert(key.to_owned(), inner);
        Value::Object(object)
    };
    let template = nest(
        "template",
        nest("metadata", nest("annotations", annotations)),
    );
    match kind {
        WorkloadKind::CronJob => nest("spec", nest("jobTemplate", nest("spec", template))),
        _ => nest("spec", template),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::fixtures::{
        apply_to_namespace, disabled, map, merge_patch, ns, pool, string_map,
    };
    use crate::binding::{IPV4_POOLS, IPV6_POOLS, MANAGED};
    use crate::cidr::pool_of;
    use serde_json::json;

    const NOW: &str = "2026-11-27T08:00:00Z";
    const LA: &str = "ippool.network.kubesphere.io/pool-a";
    const LB: &str = "ippool.network.kubesphere.io/pool-b";

    /// The F-M fixture (cases.md) as plain inputs.
    #[derive(Clone)]
    struct Fixture {
        pools: Vec<Pool>,
        namespaces: Vec<NamespaceInput>,
        workloads: Vec<WorkloadInput>,
        replica_sets: Vec<ReplicaSetInput>,
        pods: Vec<PodInput>,
    }

    fn owner(kind: &str, name: &str) -> Option<OwnerRef> {
        Some(OwnerRef {
            kind: kind.into(),
            name: name.into(),
        })
    }

    fn workload(kind: WorkloadKind, ns: &str, name: &str, ann: &[(&str, &str)]) -> WorkloadInput {
        WorkloadInput {
            kind,
            namespace: ns.into(),
            name: name.into(),
            template_annotations: map(ann),
        }
    }

    impl Fixture {
        fn fm() -> Fixture {
            let pools = vec![
                disabled("pool-a", "10.10.0.0/16"),
                pool("pool-b", "10.20.0.0/16"),
                disabled("pool-c", "10.30.0.0/16"),
                pool("pool-v6", "fd00:60::/64"),
                Pool {
                    allowed_uses: vec!["Tunnel".into()],
                    ..pool("pool-t", "10.40.0.0/16")
                },
            ];
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

        /// Adds a Running pod whose `pools(pod)` is computed from its IPs (A§3).
        fn add_pod(&mut self, ns: &str, name: &str, owner: Option<OwnerRef>, ips: &[&str]) {
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

        fn pool(&self, name: &str) -> &Pool {
            find_pool(name, &self.pools).unwrap_or_else(|| panic!("pool {name}"))
        }

        fn plan(&self, old: &str, new: &str, new_unallocated: u128) -> MigrationPlan {
            let (old, new) = validate(old, new, &self.pools).unwrap_or_else(|e| panic!("{e}"));
            plan(
                old,
                new,
                new_unallocated,
                &self.namespaces,
                &self.workloads,
                &self.replica_sets,
                &self.pods,
                &self.pools,
                NOW,
            )
        }

        fn namespace(&self, name: &str) -> &NamespaceInput {
            self.namespaces
                .iter()
                .find(|n| n.name == name)
                .unwrap_or_else(|| panic!("namespace {name}"))
        }

        fn workload(&self, kind: WorkloadKind, name: &str) -> &WorkloadInput {
            self.workloads
                .iter()
                .find(|w| w.kind == kind && w.name == name)
                .unwrap_or_else(|| panic!("{kind} {name}"))
        }

        /// Applies every patch of the plan to the inputs, as the execution would.
        fn apply(&mut self, plan: &MigrationPlan) {
            for change in &plan.namespaces {
                for ns in self.namespaces.iter_mut().filter(|n| n.name == change.name) {
                    *ns = apply_to_namespace(ns, &change.patch);
                }
            }
            for change in &plan.workloads {
                for w in self.workloads.iter_mut().filter(|w| {
                    w.kind == change.kind
                        && w.namespace == change.namespace
                        && w.name == change.name
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

    fn skipped(items: &[(&str, &str, &str)]) -> Vec<SkippedPod> {
        items
            .iter()
            .map(|(ns, name, reason)| SkippedPod {
                namespace: (*ns).into(),
                name: (*name).into(),
                reason: (*reason).into(),
            })
            .collect()
    }

    fn fm_skipped() -> Vec<SkippedPod> {
        skipped(&[
            ("demo", "batch-1-xyz", "unsupported controller Job"),
            ("demo", "solo", "no controller"),
        ])
    }

    fn summary(plan: &MigrationPlan) -> Value {
        serde_json::to_value(plan).unwrap_or_default()
    }

    fn bad(message: &str) -> Result<(), MigrationError> {
        Err(MigrationError::BadRequest(message.into()))
    }

    fn check(old: &str, new: &str, pools: &[Pool]) -> Result<(), MigrationError> {
        validate(old, new, pools).map(|_| ())
    }

    // ---- E. case 53: the plan

    #[test]
    fn case_53_plan_summary() {
        let plan = Fixture::fm().plan("pool-a", "pool-b", 65535);
        assert_eq!(
            summary(&plan),
            json!({
                "namespaces":["demo","legacy"],
                "workloads":[{"kind":"CronJob","namespace":"other","name":"nightly","action":"updated"},
                             {"kind":"Deployment","namespace":"demo","name":"web","action":"restarted"},
                             {"kind":"StatefulSet","namespace":"legacy","name":"db","action":"updated"}],
                "skippedPods":[{"namespace":"demo","name":"batch-1-xyz","reason":"unsupported controller Job"},
                               {"namespace":"demo","name":"solo","reason":"no controller"}],
                "warnings":[]
            })
        );
    }

    #[test]
    fn case_53_namespace_patches() {
        let plan = Fixture::fm().plan("pool-a", "pool-b", 65535);
        let patches: Vec<(&str, &Value)> = plan
            .namespaces
            .iter()
            .map(|c| (c.name.as_str(), &c.patch))
            .collect();
        assert_eq!(
            patches,
            [
                (
                    "demo",
                    &json!({"metadata":{"labels":{LA: null, LB: ""},
                                        "annotations":{IPV4_POOLS: r#"["pool-b"]"#}}})
                ),
                (
                    "legacy",
                    &json!({"metadata":{"annotations":{IPV4_POOLS: r#"["pool-b","pool-x"]"#}}})
                ),
            ]
        );
    }

    #[test]
    fn case_53_workload_patches() {
        let plan = Fixture::fm().plan("pool-a", "pool-b", 65535);
        let patches: Vec<&Value> = plan.workloads.iter().map(|c| &c.patch).collect();
        assert_eq!(
            patches,
            [
                &json!({"spec":{"jobTemplate":{"spec":{"template":{"metadata":{"annotations":{
                    IPV4_POOLS: r#"["pool-b"]"#}}}}}}}),
                &json!({"spec":{"template":{"metadata":{"annotations":{
                    MIGRATION_ANNOTATION: "pool-a:pool-b", RESTARTED_AT: NOW}}}}}),
                &json!({"spec":{"template":{"metadata":{"annotations":{
                    IPV4_POOLS: r#"["pool-b"]"#, MIGRATION_ANNOTATION: "pool-a:pool-b"}}}}}),
            ]
        );
    }

    #[test]
    fn case_54_effects() {
        let mut fixture = Fixture::fm();
        let before = fixture.clone();
        let plan = fixture.plan("pool-a", "pool-b", 65535);
        fixture.apply(&plan);

        let demo = fixture.namespace("demo");
        assert_eq!(demo.labels, map(&[(LB, "")]));
        assert_eq!(
            demo.annotations,
            map(&[(IPV4_POOLS, r#"["pool-b"]"#), (MANAGED, "true")])
        );
        let legacy = fixture.namespace("legacy");
        assert!(legacy.labels.is_empty());
        assert_eq!(
            legacy.annotations,
            map(&[(IPV4_POOLS, r#"["pool-b","pool-x"]"#)])
        );
        assert_eq!(fixture.namespace("other"), before.namespace("other"));

        let web = &fixture
            .workload(WorkloadKind::Deployment, "web")
            .template_annotations;
        assert_eq!(
            web,
            &map(&[(MIGRATION_ANNOTATION, "pool-a:pool-b"), (RESTARTED_AT, NOW)])
        );
        let db = &fixture
            .workload(WorkloadKind::StatefulSet, "db")
            .template_annotations;
        assert_eq!(
            db,
            &map(&[
                (IPV4_POOLS, r#"["pool-b"]"#),
                (MIGRATION_ANNOTATION, "pool-a:pool-b")
            ])
        );
        let nightly = &fixture
            .workload(WorkloadKind::CronJob, "nightly")
            .template_annotations;
        assert_eq!(nightly, &map(&[(IPV4_POOLS, r#"["pool-b"]"#)]));
        assert_eq!(
            fixture.workload(WorkloadKind::DaemonSet, "agent"),
            before.workload(WorkloadKind::DaemonSet, "agent")
        );
        assert_eq!(fixture.pools, before.pools);
    }

    #[test]
    fn case_55_idempotent() {
        let mut fixture = Fixture::fm();
        let first = fixture.plan("pool-a", "pool-b", 65535);
        fixture.apply(&first);
        let again = fixture.plan("pool-a", "pool-b", 65535);
        assert!(again.has_no_writes());
        assert_eq!(again.skipped_pods, fm_skipped());
        assert!(again.warnings.is_empty());
        assert_eq!(
            summary(&again),
            json!({"namespaces":[],"workloads":[],
                   "skippedPods":[{"namespace":"demo","name":"batch-1-xyz","reason":"unsupported controller Job"},
                                  {"namespace":"demo","name":"solo","reason":"no controller"}],
                   "warnings":[]})
        );
    }

    #[test]
    fn reverse_migration_after_a_migration_works_normally() {
        let mut fixture = Fixture::fm();
        let first = fixture.plan("pool-a", "pool-b", 65535);
        fixture.apply(&first);
        // Pods rolled: web's and db's pods now hold pool-b addresses.
        for pod in fixture.pods.iter_mut() {
            if pod.pools == ["pool-a"] && pod.owner.is_some() && pod.name != "batch-1-xyz" {
                pod.pools = vec!["pool-b".into()];
            }
        }
        fixture.pools[0].disabled = false;
        fixture.pools[1].disabled = true;
        let back = fixture.plan("pool-b", "pool-a", 65536);
        assert_eq!(
            summary(&back)["workloads"],
            json!([{"kind":"CronJob","namespace":"other","name":"nightly","action":"updated"},
                   {"kind":"DaemonSet","namespace":"other","name":"agent","action":"restarted"},
                   {"kind":"Deployment","namespace":"demo","name":"web","action":"restarted"},
                   {"kind":"StatefulSet","namespace":"legacy","name":"db","action":"updated"}])
        );
        assert_eq!(summary(&back)["namespaces"], json!(["demo", "legacy"]));
    }

    #[test]
    fn case_56_dry_run_plans_the_same_and_changes_nothing() {
        // Dry run (cases 56–58) is the HTTP layer's choice not to write; the plan itself is pure and repeatable.
        let fixture = Fixture::fm();
        let before = fixture.clone();
        let first = fixture.plan("pool-a", "pool-b", 65535);
        assert_eq!(fixture.plan("pool-a", "pool-b", 65535), first);
        assert_eq!(summary(&first)["namespaces"], json!(["demo", "legacy"]));
        assert_eq!(fixture.namespaces, before.namespaces);
        assert_eq!(fixture.workloads, before.workloads);
    }

    #[test]
    fn case_66_planned_writes_in_authorization_order() {
        // A§7.3: SARs in plan order, namespaces first; with `deployments` denied, web is the first denial.
        let plan = Fixture::fm().plan("pool-a", "pool-b", 65535);
        let mut writes: Vec<(&str, &str, &str, &str)> = plan
            .namespaces
            .iter()
            .map(|n| ("", "namespaces", "", n.name.as_str()))
            .collect();
        writes.extend(plan.workloads.iter().map(|w| {
            (
                w.kind.group(),
                w.kind.plural(),
                w.namespace.as_str(),
                w.name.as_str(),
            )
        }));
        assert_eq!(
            writes,
            [
                ("", "namespaces", "", "demo"),
                ("", "namespaces", "", "legacy"),
                ("batch", "cronjobs", "other", "nightly"),
                ("apps", "deployments", "demo", "web"),
                ("apps", "statefulsets", "legacy", "db"),
            ]
        );
    }

    // ---- warnings: cases 64, 65

    #[test]
    fn case_64_source_still_enabled() {
        let mut fixture = Fixture::fm();
        fixture.pools[0].disabled = false;
        let plan = fixture.plan("pool-a", "pool-b", 65535);
        assert_eq!(
            plan.warnings,
            [
                "ippool \"pool-a\" is still enabled: pods restarted outside namespaces bound to \"pool-b\" may get addresses from it again; disable it to complete the migration"
            ]
        );
    }

    #[test]
    fn case_65_not_enough_room() {
        let mut fixture = Fixture::fm();
        fixture.pools.push(pool("pool-s", "10.50.0.0/31"));
        let plan = fixture.plan("pool-a", "pool-s", 2);
        assert_eq!(
            plan.warnings,
            ["ippool \"pool-s\" has 2 free addresses but 3 pods are being moved"]
        );
        // Exactly enough room: no warning.
        assert!(fixture.plan("pool-a", "pool-s", 3).warnings.is_empty());
    }

    #[test]
    fn both_warnings_come_in_order() {
        let mut fixture = Fixture::fm();
        fixture.pools[0].disabled = false;
        let plan = fixture.plan("pool-a", "pool-b", 0);
        assert_eq!(plan.warnings.len(), 2);
        assert!(plan.warnings[0].contains("is still enabled"));
        assert_eq!(
            plan.warnings[1],
            "ippool \"pool-b\" has 0 free addresses but 3 pods are being moved"
        );
    }

    // ---- validation: cases 59–63, 68

    #[test]
    fn case_59_missing_field() {
        let pools = Fixture::fm().pools;
        assert_eq!(
            check("pool-a", "", &pools),
            bad("oldippool and newippool are required")
        );
        assert_eq!(
            check("", "pool-b", &pools),
            bad("oldippool and newippool are required")
        );
        assert_eq!(
            check("", "", &pools),
            bad("oldippool and newippool are required")
        );
    }

    #[test]
    fn case_60_same_pool() {
        assert_eq!(
            check("pool-b", "pool-b", &Fixture::fm().pools),
            bad("oldippool and newippool must be different")
        );
        // Checked before existence.
        assert_eq!(
            check("nope", "nope", &Fixture::fm().pools),
            bad("oldippool and newippool must be different")
        );
    }

    #[test]
    fn case_61_unknown_pools() {
        let pools = Fixture::fm().pools;
        let not_found = |name: &str| {
            Err(MigrationError::NotFound {
                resource: IPPOOL_RESOURCE.into(),
                name: name.into(),
            })
        };
        assert_eq!(check("nope", "pool-b", &pools), not_found("nope"));
        assert_eq!(check("pool-a", "nope", &pools), not_found("nope"));
        assert_eq!(check("nope", "nope2", &pools), not_found("nope"));
        assert_eq!(
            check("nope", "pool-b", &pools).err().map(|e| e.to_string()),
            Some("ippools.crd.projectcalico.org \"nope\" not found".to_owned())
        );
    }

    #[test]
    fn case_62_family_mismatch() {
        assert_eq!(
            check("pool-a", "pool-v6", &Fixture::fm().pools),
            bad("ippools \"pool-a\" and \"pool-v6\" are of different IP families")
        );
    }

    #[test]
    fn invalid_cidrs_count_as_a_family_mismatch() {
        let mut pools = Fixture::fm().pools;
        pools.push(Pool {
            cidr: None,
            ..pool("broken", "x")
        });
        pools.push(Pool {
            cidr: None,
            ..pool("broken2", "x")
        });
        for (old, new) in [
            ("broken", "pool-b"),
            ("pool-b", "broken"),
            ("broken", "broken2"),
        ] {
            assert_eq!(
                check(old, new, &pools),
                bad(&format!(
                    "ippools \"{old}\" and \"{new}\" are of different IP families"
                ))
            );
        }
    }

    #[test]
    fn case_63_target_not_allowed() {
        let pools = Fixture::fm().pools;
        assert_eq!(
            check("pool-a", "pool-c", &pools),
            bad("ippool \"pool-c\" is disabled")
        );
        assert_eq!(
            check("pool-a", "pool-t", &pools),
            bad("ippool \"pool-t\" does not allow Workload use")
        );
    }

    #[test]
    fn target_being_deleted_is_refused() {
        let mut pools = Fixture::fm().pools;
        pools.push(Pool {
            deleting: true,
            ..pool("pool-g", "10.70.0.0/16")
        });
        assert_eq!(
            check("pool-a", "pool-g", &pools),
            bad("ippool \"pool-g\" is being deleted")
        );
        // Disabled wins over being deleted (first failure).
        pools.push(Pool {
            deleting: true,
            allowed_uses: vec!["Tunnel".into()],
            ..disabled("pool-h", "10.80.0.0/16")
        });
        assert_eq!(
            check("pool-a", "pool-h", &pools),
            bad("ippool \"pool-h\" is disabled")
        );
    }

    #[test]
    fn case_68_target_name_unusable_as_a_label() {
        let mut pools = Fixture::fm().pools;
        let name = "a".repeat(70);
        pools.push(pool(&name, "10.90.0.0/16"));
        assert_eq!(
            check("pool-a", &name, &pools),
            bad(&format!(
                "ippool name \"{name}\" cannot be used as a namespace binding label"
            ))
        );
    }

    #[test]
    fn valid_request_returns_both_pools() {
        let pools = Fixture::fm().pools;
        let (old, new) = validate("pool-a", "pool-b", &pools).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((old.name.as_str(), new.name.as_str()), ("pool-a", "pool-b"));
        // The old pool may be disabled, tunnel-only or anything else.
        assert!(validate("pool-t", "pool-b", &pools).is_ok());
    }

    // ---- rewrite and references

    #[test]
    fn rewrite_replaces_references_and_deduplicates_new() {
        let fixture = Fixture::fm();
        let (old, new) = (fixture.pool("pool-a"), fixture.pool("pool-b"));
        let entries: Vec<String> = [
            "pool-x",
            "10.10.0.0/16",
            "pool-b",
            "pool-a",
            "pool-x",
            "pool-b",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            rewrite(&entries, old, new),
            ["pool-x", "pool-b", "pool-x"].map(String::from)
        );
        assert!(references("10.10.3.4/16", old));
        assert!(!references("10.10.0.0/17", old));
        assert!(!references("pool-ab", old));
    }

    // ---- namespaces

    #[test]
    fn namespace_with_labels_for_old_and_new_only_loses_old() {
        let fixture = Fixture::fm();
        let (old, new) = (fixture.pool("pool-a"), fixture.pool("pool-b"));
        let n = ns(
            "n",
            &[(LA, "true"), (LB, "true")],
            &[(IPV4_POOLS, r#"["pool-a","pool-b"]"#), (MANAGED, "true")],
        );
        assert_eq!(
            namespace_patch(&n, old, new, &fixture.pools),
            Some(json!({"metadata":{"labels":{LA: null},
                                    "annotations":{IPV4_POOLS: r#"["pool-b"]"#}}}))
        );
    }

    #[test]
    fn unmanaged_namespace_with_a_label_gets_the_label_moved_and_annotation_rewritten() {
        let fixture = Fixture::fm();
        let (old, new) = (fixture.pool("pool-a"), fixture.pool("pool-b"));
        let n = ns(
            "n",
            &[(LA, "")],
            &[
                (IPV4_POOLS, r#"["pool-a", "pool-b"]"#),
                (IPV6_POOLS, r#"["pool-v6"]"#),
            ],
        );
        assert_eq!(
            namespace_patch(&n, old, new, &fixture.pools),
            Some(json!({"metadata":{"labels":{LA: null, LB: ""},
                                    "annotations":{IPV4_POOLS: r#"["pool-b"]"#}}}))
        );
    }

    #[test]
    fn managed_namespace_keeps_other_family_and_other_pools() {
        let fixture = Fixture::fm();
        let (old, new) = (fixture.pool("pool-a"), fixture.pool("pool-b"));
        let n = ns(
            "n",
            &[
                (LA, ""),
                ("ippool.network.kubesphere.io/pool-v6", ""),
                ("ippool.network.kubesphere.io/pool-c", ""),
            ],
            &[
                (IPV4_POOLS, r#"["pool-a","pool-c"]"#),
                (IPV6_POOLS, r#"["pool-v6"]"#),
                (MANAGED, "true"),
            ],
        );
        assert_eq!(
            namespace_patch(&n, old, new, &fixture.pools),
            Some(json!({"metadata":{"labels":{LA: null, LB: ""},
                                    "annotations":{IPV4_POOLS: r#"["pool-b","pool-c"]"#}}}))
        );
    }

    #[test]
    fn managed_namespace_bound_only_by_a_hand_edit_is_rederived() {
        let fixture = Fixture::fm();
        let (old, new) = (fixture.pool("pool-a"), fixture.pool("pool-b"));
        let n = ns(
            "n",
            &[("ippool.network.kubesphere.io/pool-c", "")],
            &[(IPV4_POOLS, r#"["pool-a"]"#), (MANAGED, "true")],
        );
        assert_eq!(
            namespace_patch(&n, old, new, &fixture.pools),
            Some(json!({"metadata":{"annotations":{IPV4_POOLS: r#"["pool-c"]"#}}}))
        );
        let empty = ns(
            "e",
            &[],
            &[(IPV4_POOLS, r#"["pool-a"]"#), (MANAGED, "true")],
        );
        assert_eq!(
            namespace_patch(&empty, old, new, &fixture.pools),
            Some(json!({"metadata":{"annotations":{IPV4_POOLS: null, MANAGED: null}}}))
        );
    }

    #[test]
    fn unbound_or_other_family_namespaces_are_not_planned() {
        let fixture = Fixture::fm();
        let (old, new) = (fixture.pool("pool-a"), fixture.pool("pool-b"));
        let other = ns("o", &[(LA, "false")], &[(IPV4_POOLS, r#"["pool-b"]"#)]);
        assert_eq!(namespace_patch(&other, old, new, &fixture.pools), None);
        // Bound to old only through the other family's annotation: K does not reference it, nothing to write.
        let odd = ns("odd", &[], &[(IPV6_POOLS, r#"["pool-a"]"#)]);
        assert_eq!(namespace_patch(&odd, old, new, &fixture.pools), None);
    }

    #[test]
    fn ipv6_migrations_rewrite_ipv6pools() {
        let mut fixture = Fixture::fm();
        fixture.pools.push(pool("pool-w6", "fd00:70::/64"));
        fixture.namespaces.push(ns(
            "six",
            &[],
            &[
                (IPV4_POOLS, r#"["pool-a"]"#),
                (IPV6_POOLS, r#"["fd00:60::/64"]"#),
            ],
        ));
        fixture.workloads.push(workload(
            WorkloadKind::Deployment,
            "six",
            "app",
            &[(IPV6_POOLS, r#"["pool-v6","pool-w6"]"#)],
        ));
        let plan = fixture.plan("pool-v6", "pool-w6", 100);
        assert_eq!(plan.namespaces.len(), 1);
        assert_eq!(
            plan.namespaces[0].patch,
            json!({"metadata":{"annotations":{IPV6_POOLS: r#"["pool-w6"]"#}}})
        );
        assert_eq!(
            plan.workloads.iter().map(|w| &w.patch).collect::<Vec<_>>(),
            [&json!({"spec":{"template":{"metadata":{"annotations":{
                IPV6_POOLS: r#"["pool-w6"]"#, MIGRATION_ANNOTATION: "pool-v6:pool-w6"}}}}})]
        );
        assert!(plan.skipped_pods.is_empty());
    }

    // ---- holders and owners

    #[test]
    fn finished_deleting_and_host_network_pods_are_not_holders() {
        let mut fixture = Fixture::fm();
        fixture.pods.retain(|p| p.namespace != "demo");
        fixture.add_pod("demo", "done", None, &["10.10.0.20"]);
        fixture.add_pod("demo", "failed", None, &["10.10.0.21"]);
        fixture.add_pod("demo", "going", None, &["10.10.0.22"]);
        fixture.add_pod("demo", "host", None, &[]);
        fixture.add_pod("demo", "pending", None, &[]);
        for pod in fixture.pods.iter_mut() {
            match pod.name.as_str() {
                "done" => pod.phase = Some("Succeeded".into()),
                "failed" => pod.phase = Some("Failed".into()),
                "going" => pod.deleting = true,
                "host" => {
                    pod.host_network = true;
                    pod.pools = Vec::new();
                }
                "pending" => pod.phase = Some("Pending".into()),
                _ => {}
            }
        }
        fixture.add_pod("demo", "no-phase", None, &["10.10.0.23"]);
        if let Some(p) = fixture.pods.last_mut() {
            p.phase = None;
        }
        let plan = fixture.plan("pool-a", "pool-b", 65535);
        assert_eq!(
            plan.skipped_pods,
            skipped(&[("demo", "no-phase", "no controller")])
        );
    }

    #[test]
    fn dual_stack_holders_count() {
        let mut fixture = Fixture::fm();
        fixture.pods.clear();
        fixture.add_pod("demo", "ds", None, &["fd00:60::5", "10.10.0.5"]);
        let plan = fixture.plan("pool-a", "pool-b", 65535);
        assert_eq!(
            plan.skipped_pods,
            skipped(&[("demo", "ds", "no controller")])
        );
    }

    #[test]
    fn owner_resolution_reasons() {
        let mut fixture = Fixture::fm();
        fixture.pods.clear();
        fixture.replica_sets.push(ReplicaSetInput {
            namespace: "demo".into(),
            name: "bare-rs".into(),
            owner: None,
        });
        fixture.replica_sets.push(ReplicaSetInput {
            namespace: "demo".into(),
            name: "custom-rs".into(),
            owner: owner("Rollout", "r"),
        });
        fixture.add_pod("demo", "a", owner("ReplicaSet", "bare-rs"), &["10.10.0.1"]);
        fixture.add_pod(
            "demo",
            "b",
            owner("ReplicaSet", "custom-rs"),
            &["10.10.0.2"],
        );
        fixture.add_pod("demo", "c", owner("ReplicaSet", "missing"), &["10.10.0.3"]);
        // Same RS name in another namespace does not count.
        fixture.add_pod(
            "legacy",
            "d",
            owner("ReplicaSet", "web-5d8f"),
            &["10.10.0.4"],
        );
        fixture.add_pod("demo", "e", owner("Node", "n1"), &["10.10.0.5"]);
        fixture.add_pod("demo", "f", owner("CronJob", "nightly"), &["10.10.0.6"]);
        let plan = fixture.plan("pool-a", "pool-b", 65535);
        assert_eq!(
            plan.skipped_pods,
            skipped(&[
                ("demo", "a", "unsupported controller ReplicaSet"),
                ("demo", "b", "unsupported controller ReplicaSet"),
                ("demo", "c", "unsupported controller ReplicaSet"),
                ("demo", "e", "unsupported controller Node"),
                ("demo", "f", "unsupported controller CronJob"),
                ("legacy", "d", "unsupported controller ReplicaSet"),
            ])
        );
        // No holder resolved to web, so it is not restarted.
        assert!(
            !plan
                .workloads
                .iter()
                .any(|w| w.kind == WorkloadKind::Deployment)
        );
    }

    #[test]
    fn daemonset_holders_restart_their_daemonset() {
        let mut fixture = Fixture::fm();
        fixture.add_pod(
            "other",
            "agent-r",
            owner("DaemonSet", "agent"),
            &["10.10.5.5"],
        );
        let plan = fixture.plan("pool-a", "pool-b", 65535);
        let agent = plan
            .workloads
            .iter()
            .find(|w| w.kind == WorkloadKind::DaemonSet);
        assert_eq!(
            agent.map(|w| (&w.name, w.action, &w.patch)),
            Some((
                &"agent".to_owned(),
                Action::Restarted,
                &json!({"spec":{"template":{"metadata":{"annotations":{
                    MIGRATION_ANNOTATION: "pool-a:pool-b", RESTARTED_AT: NOW}}}}})
            ))
        );
    }

    #[test]
    fn workloads_with_the_marker_are_not_restarted_and_their_pods_not_listed() {
        let mut fixture = Fixture::fm();
        for w in fixture.workloads.iter_mut() {
            if w.name == "web" {
                w.template_annotations
                    .insert(MIGRATION_ANNOTATION.into(), "pool-a:pool-b".into());
            }
        }
        let plan = fixture.plan("pool-a", "pool-b", 65535);
        assert!(!plan.workloads.iter().any(|w| w.name == "web"));
        assert_eq!(plan.skipped_pods, fm_skipped());
        // A marker for another migration does not count.
        for w in fixture.workloads.iter_mut() {
            if w.name == "web" {
                w.template_annotations
                    .insert(MIGRATION_ANNOTATION.into(), "pool-b:pool-a".into());
            }
        }
        let plan = fixture.plan("pool-a", "pool-b", 65535);
        assert!(plan.workloads.iter().any(|w| w.name == "web"));
    }

    #[test]
    fn pinned_workload_without_holders_is_updated_with_its_marker() {
        let mut fixture = Fixture::fm();
        fixture.workloads.push(workload(
            WorkloadKind::Deployment,
            "other",
            "pinned",
            &[
                (IPV4_POOLS, r#"[ "10.10.0.0/16" , "pool-b" ]"#),
                (MIGRATION_ANNOTATION, "pool-a:pool-b"),
            ],
        ));
        let plan = fixture.plan("pool-a", "pool-b", 65535);
        let change = plan.workloads.iter().find(|w| w.name == "pinned");
        assert_eq!(
            change.map(|w| (w.action, &w.patch)),
            Some((
                Action::Updated,
                &json!({"spec":{"template":{"metadata":{"annotations":{
                    IPV4_POOLS: r#"["pool-b"]"#}}}}})
            ))
        );
    }

    #[test]
    fn non_array_template_annotations_are_not_pins() {
        let mut fixture = Fixture::fm();
        for w in fixture.workloads.iter_mut() {
            if w.name == "nightly" {
                w.template_annotations
                    .insert(IPV4_POOLS.into(), "pool-a".into());
            }
        }
        let plan = fixture.plan("pool-a", "pool-b", 65535);
        assert!(!plan.workloads.iter().any(|w| w.name == "nightly"));
    }

    #[test]
    fn workloads_sort_by_kind_name_then_namespace_then_name() {
        let mut kinds = WorkloadKind::ALL.to_vec();
        kinds.sort();
        let names: Vec<&str> = kinds.iter().map(|k| k.kind()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);

        let mut fixture = Fixture::fm();
        for (ns, name) in [("b", "z"), ("a", "y"), ("b", "a")] {
            fixture.workloads.push(workload(
                WorkloadKind::StatefulSet,
                ns,
                name,
                &[(IPV4_POOLS, r#"["pool-a"]"#)],
            ));
        }
        let plan = fixture.plan("pool-a", "pool-b", 65535);
        let order: Vec<(String, &str, &str)> = plan
            .workloads
            .iter()
            .map(|w| (w.kind.to_string(), w.namespace.as_str(), w.name.as_str()))
            .collect();
        assert_eq!(
            order,
            [
                ("CronJob".to_owned(), "other", "nightly"),
                ("Deployment".to_owned(), "demo", "web"),
                ("StatefulSet".to_owned(), "a", "y"),
                ("StatefulSet".to_owned(), "b", "a"),
                ("StatefulSet".to_owned(), "b", "z"),
                ("StatefulSet".to_owned(), "legacy", "db"),
            ]
        );
    }

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

    #[test]
    fn conflict_recompute_from_a_fresh_namespace() {
        // A§4.4: after a 409 the patch is recomputed from the namespace as read again.
        let fixture = Fixture::fm();
        let (old, new) = (fixture.pool("pool-a"), fixture.pool("pool-b"));
        let mut fresh = fixture.namespace("demo").clone();
        fresh
            .labels
            .insert("ippool.network.kubesphere.io/pool-v6".into(), String::new());
        fresh
            .annotations
            .insert(IPV6_POOLS.into(), r#"["pool-v6"]"#.into());
        assert_eq!(
            namespace_patch(&fresh, old, new, &fixture.pools),
            Some(json!({"metadata":{"labels":{LA: null, LB: ""},
                                    "annotations":{IPV4_POOLS: r#"["pool-b"]"#}}}))
        );
        // Someone else already migrated it: nothing left to do.
        let done = apply_to_namespace(
            &fresh,
            &json!({"metadata":{"labels":{LA: null, LB: ""},
                                "annotations":{IPV4_POOLS: r#"["pool-b"]"#}}}),
        );
        assert_eq!(namespace_patch(&done, old, new, &fixture.pools), None);
    }
}
