//! The migration plan (algorithms §7.2): namespace patches, workload patches, skipped pods and warnings.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::{Map, Value};

use super::{
    MIGRATION_ANNOTATION, PodInput, RESTARTED_AT, ReplicaSetInput, WorkloadInput, WorkloadKind,
};
use crate::binding::{
    NamespaceChange, NamespaceInput, binding_label, bound_pools, derive_into,
    format_pool_annotation, label_bindings, map_diff, metadata_patch, parse_pool_annotation,
    pool_annotation_key,
};
use crate::cidr::{Cidr, Family};
use crate::pool::Pool;

/// What a migration is planned from: the pools of a validated request and a snapshot of the cluster.
#[derive(Clone, Copy, Debug)]
pub struct PlanInput<'a> {
    /// The source pool, as returned by [`validate`](super::validate()).
    pub old: &'a Pool,
    /// The target pool, as returned by [`validate`](super::validate()).
    pub new: &'a Pool,
    /// The target pool's `status.unallocated`, compared with the number of pods to move (algorithms §7.5).
    pub new_unallocated: u128,
    /// All namespaces; the plan patches those bound to `old`.
    pub namespaces: &'a [NamespaceInput],
    /// All Deployments, StatefulSets, DaemonSets and CronJobs; the plan patches those that pin `old` or own a
    /// holder.
    pub workloads: &'a [WorkloadInput],
    /// All ReplicaSets, to resolve a pod's Deployment.
    pub replica_sets: &'a [ReplicaSetInput],
    /// All pods; those holding an address of `old` decide which workloads restart.
    pub pods: &'a [PodInput],
    /// Every pool: namespace bindings and annotation entries are resolved against them.
    pub pools: &'a [Pool],
    /// The `kubectl.kubernetes.io/restartedAt` value to set: RFC 3339 UTC, seconds.
    pub now_rfc3339: &'a str,
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

/// The plan of a migration (algorithms §7.2, algorithms §7.5). Serializes as the summary part of the api §1.4 response:
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
    /// Warnings, in algorithms §7.5 order.
    pub warnings: Vec<String>,
}

impl MigrationPlan {
    /// No namespace and no workload to patch, as when the same migration runs again (case 55).
    pub fn has_no_writes(&self) -> bool {
        self.namespaces.is_empty() && self.workloads.is_empty()
    }
}

/// One workload patch. Serializes as `{"kind","namespace","name","action"}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorkloadChange {
    pub kind: WorkloadKind,
    pub namespace: String,
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
    pub namespace: String,
    pub name: String,
    /// `no controller` or `unsupported controller <Kind>`.
    pub reason: String,
}

/// Plans a migration (algorithms §7.2) with its warnings (algorithms §7.5).
pub fn plan(input: PlanInput<'_>) -> MigrationPlan {
    let PlanInput {
        old,
        new,
        new_unallocated,
        namespaces,
        workloads,
        replica_sets,
        pods,
        pools,
        now_rfc3339,
    } = input;
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
    let mut owners: BTreeSet<Owner<'_>> = BTreeSet::new();
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
                && owners.contains(&Owner {
                    kind: w.kind,
                    namespace: &w.namespace,
                    name: &w.name,
                })
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

/// One namespace's algorithms §7.2.1 patch, or `None` when the namespace is not bound to `old` or nothing would change.
/// Also used to recompute the patch from a freshly read namespace after a 409 Conflict (algorithms §4.4).
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

/// `rewrite(array)` (algorithms §7.1): entries referencing `old` become `new`'s name, then repeated `new` names after
/// the first are removed.
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

/// A holder of `old` (algorithms §7.1): not host-network, not finished, not being deleted, with an address from `old`.
fn is_holder(pod: &PodInput, old: &Pool) -> bool {
    !pod.host_network
        && !matches!(pod.phase.as_deref(), Some("Succeeded" | "Failed"))
        && !pod.deleting
        && pod.pools.contains(&old.name)
}

/// The workload a holder belongs to: the one to restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Owner<'a> {
    kind: WorkloadKind,
    namespace: &'a str,
    name: &'a str,
}

/// The workload that owns a holder, or the reason it is skipped.
fn resolve_owner<'a>(
    pod: &'a PodInput,
    replica_sets: &'a [ReplicaSetInput],
) -> Result<Owner<'a>, String> {
    let Some(owner) = &pod.owner else {
        return Err("no controller".to_owned());
    };
    let owned_by = |kind: WorkloadKind, name: &'a str| Owner {
        kind,
        namespace: &pod.namespace,
        name,
    };
    match owner.kind.as_str() {
        "ReplicaSet" => replica_sets
            .iter()
            .find(|rs| rs.namespace == pod.namespace && rs.name == owner.name)
            .and_then(|rs| rs.owner.as_ref())
            .filter(|o| o.kind == "Deployment")
            .map(|o| owned_by(WorkloadKind::Deployment, &o.name))
            .ok_or_else(|| "unsupported controller ReplicaSet".to_owned()),
        "StatefulSet" => Ok(owned_by(WorkloadKind::StatefulSet, &owner.name)),
        "DaemonSet" => Ok(owned_by(WorkloadKind::DaemonSet, &owner.name)),
        other => Err(format!("unsupported controller {other}")),
    }
}

/// Wraps a template-annotation merge patch at the kind's template path.
pub(super) fn template_patch(kind: WorkloadKind, annotations: Value) -> Value {
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
    use serde_json::json;

    use super::super::fixtures::{Fixture, LA, LB, NOW, owner, workload};
    use super::*;
    use crate::binding::{IPV4_POOLS, IPV6_POOLS, MANAGED};
    use crate::fixtures::{apply_to_namespace, map, ns, pool};

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

    // ---- section E, case 53: the plan

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
        // algorithms §7.3: SARs in plan order, namespaces first; with `deployments` denied, web is the first denial.
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
    fn conflict_recompute_from_a_fresh_namespace() {
        // algorithms §4.4: after a 409 the patch is recomputed from the namespace as read again.
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
