//! Namespace ↔ pool bindings (algorithms §4): the bound set `B = L ∪ A`, virtual binding labels, the controller's
//! annotation sync, pools usable by a namespace (algorithms §5) and migration targets (algorithms §6).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use super::cidr::{Cidr, Family};
use super::pool::Pool;

/// Prefix of the namespace binding labels: `ippool.network.kubesphere.io/<pool>`.
pub const BINDING_LABEL_PREFIX: &str = "ippool.network.kubesphere.io/";
/// Calico's namespace / pod-template annotation listing IPv4 pools (JSON array of names or CIDRs).
pub const IPV4_POOLS: &str = "cni.projectcalico.org/ipv4pools";
/// Calico's namespace / pod-template annotation listing IPv6 pools (JSON array of names or CIDRs).
pub const IPV6_POOLS: &str = "cni.projectcalico.org/ipv6pools";
/// Marker annotation: `"true"` when the two Calico annotations are derived from binding labels (algorithms §4.3).
pub const MANAGED: &str = "network.kubesphere.io/ippool-annotations-managed";
/// The pools the controller last wrote into the Calico annotations of a managed namespace (compact JSON array of
/// names, sorted). When the annotations no longer name the same pools, someone edited them (the KubeSphere console
/// binds and unbinds by rewriting `ipv4pools`, docs/console.md), and the binding labels follow the edit.
pub const SYNCED: &str = "network.kubesphere.io/ippool-annotations-synced";

/// A JSON merge patch of one namespace, planned by a migration or an unbind. Serializes as the namespace's name
/// (the `namespaces` of the api §1.4 and api §1.6 responses).
#[derive(Clone, Debug, PartialEq)]
pub struct NamespaceChange {
    pub name: String,
    /// JSON merge patch `{"metadata":{"labels":{…},"annotations":{…}}}`.
    pub patch: Value,
}

impl Serialize for NamespaceChange {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.name)
    }
}

/// The facts about a namespace that the binding rules use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NamespaceInput {
    pub name: String,
    /// Stored labels, without the virtual binding labels.
    pub labels: BTreeMap<String, String>,
    /// Stored annotations.
    pub annotations: BTreeMap<String, String>,
}

impl NamespaceInput {
    /// Whether the marker annotation [`MANAGED`] is exactly `"true"`.
    pub fn is_managed(&self) -> bool {
        self.annotations.get(MANAGED).map(String::as_str) == Some("true")
    }
}

/// Outcome of the controller's annotation sync for one namespace (algorithms §4.3).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SyncOutcome {
    /// JSON merge patch to write, `None` when the namespace already has the desired labels and annotations.
    pub patch: Option<Value>,
    /// Annotation entries dropped during adoption, each worth a Warning Event `IPPoolBindingDropped`; first
    /// occurrence order, no duplicates.
    pub dropped: Vec<String>,
}

/// The binding label key of a pool: `ippool.network.kubesphere.io/<pool>`.
pub fn binding_label(pool: &str) -> String {
    format!("{BINDING_LABEL_PREFIX}{pool}")
}

/// The Calico annotation for a family: [`IPV4_POOLS`] or [`IPV6_POOLS`].
pub fn pool_annotation_key(family: Family) -> &'static str {
    match family {
        Family::V4 => IPV4_POOLS,
        Family::V6 => IPV6_POOLS,
    }
}

/// Whether a pool name can be a binding label (algorithms §4.5): 1–63 characters matching
/// `^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`.
pub fn is_valid_binding_label(pool: &str) -> bool {
    let bytes = pool.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    bytes.len() <= 63
        && first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Parses a Calico pool annotation leniently (whitespace allowed): `Some` only for a JSON array of strings.
pub fn parse_pool_annotation(value: &str) -> Option<Vec<String>> {
    serde_json::from_str(value).ok()
}

/// Formats pool entries as a compact JSON array: `["pool-a","pool-b"]`.
pub fn format_pool_annotation(entries: &[String]) -> String {
    Value::Array(entries.iter().cloned().map(Value::String).collect()).to_string()
}

/// The pool named `name`, if it exists.
pub fn find_pool<'a>(name: &str, pools: &'a [Pool]) -> Option<&'a Pool> {
    pools.iter().find(|p| p.name == name)
}

/// The pool whose network equals `cidr` (same network and prefix); several such pools → the first by name.
pub fn pool_by_network<'a>(cidr: &Cidr, pools: &'a [Pool]) -> Option<&'a Pool> {
    pools
        .iter()
        .filter(|p| p.cidr.as_ref() == Some(cidr))
        .min_by(|a, b| a.name.cmp(&b.name))
}

/// The existing pool an annotation entry stands for: by network when the entry parses as a CIDR, else by name.
pub fn resolve_entry<'a>(entry: &str, pools: &'a [Pool]) -> Option<&'a Pool> {
    match Cidr::parse(entry) {
        Some(cidr) => pool_by_network(&cidr, pools),
        None => find_pool(entry, pools),
    }
}

/// `L(ns)`: pools with a stored label `ippool.network.kubesphere.io/<pool>` whose value is `""` or `"true"`.
pub fn label_bindings(ns: &NamespaceInput) -> BTreeSet<String> {
    ns.labels
        .iter()
        .filter(|(_, value)| is_binding_value(value))
        .filter_map(|(key, _)| key.strip_prefix(BINDING_LABEL_PREFIX))
        .filter(|pool| !pool.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `A(ns)`: the pools named by the entries of both Calico annotations. A CIDR entry stands for the pool whose
/// network equals it (ignored when there is none); any other non-empty entry is a pool name, existing or not.
/// An annotation that is not a JSON array of strings contributes nothing.
pub fn annotation_bindings(ns: &NamespaceInput, pools: &[Pool]) -> BTreeSet<String> {
    annotation_entries(ns)
        .iter()
        .filter_map(|entry| match Cidr::parse(entry) {
            Some(cidr) => pool_by_network(&cidr, pools).map(|p| p.name.clone()),
            None if entry.is_empty() => None,
            None => Some(entry.clone()),
        })
        .collect()
}

/// `B(ns) = L(ns) ∪ A(ns)`: the pools the namespace is bound to.
pub fn bound_pools(ns: &NamespaceInput, pools: &[Pool]) -> BTreeSet<String> {
    let mut bound = label_bindings(ns);
    bound.extend(annotation_bindings(ns, pools));
    bound
}

/// Virtual binding labels (algorithms §4.2): `ippool.network.kubesphere.io/<p>: ""` for each `p` in `A(ns)` that is a
/// valid label name and has no stored label key. Add them to the stored labels to get the effective labels.
pub fn virtual_binding_labels(ns: &NamespaceInput, pools: &[Pool]) -> BTreeMap<String, String> {
    annotation_bindings(ns, pools)
        .into_iter()
        .filter(|p| is_valid_binding_label(p))
        .map(|p| binding_label(&p))
        .filter(|key| !ns.labels.contains_key(key))
        .map(|key| (key, String::new()))
        .collect()
}

/// The algorithms §4.3 derivation: compact JSON arrays of the names in `labels` of existing pools with an IPv4 and an
/// IPv6 CIDR, sorted ascending; `None` for a family without any.
pub fn derive_annotations(
    labels: &BTreeSet<String>,
    pools: &[Pool],
) -> (Option<String>, Option<String>) {
    let of_family = |family: Family| {
        let names: Vec<String> = labels
            .iter()
            .filter(|name| find_pool(name, pools).and_then(Pool::family) == Some(family))
            .cloned()
            .collect();
        (!names.is_empty()).then(|| format_pool_annotation(&names))
    };
    (of_family(Family::V4), of_family(Family::V6))
}

/// The controller's annotation sync for one namespace (algorithms §4.3), including the adoption of hand-set
/// annotations when the first binding label appears, and, on managed namespaces, edits of the annotations since the
/// controller last wrote them ([`SYNCED`]): pools added to them get a binding label, pools removed from them lose
/// theirs. The patch is present only when labels or annotations differ.
pub fn sync(ns: &NamespaceInput, pools: &[Pool]) -> SyncOutcome {
    let mut bound = label_bindings(ns);
    let managed = ns.is_managed();
    if bound.is_empty() && !managed {
        return SyncOutcome::default();
    }
    let mut labels = ns.labels.clone();
    let mut annotations = ns.annotations.clone();
    let mut dropped: Vec<String> = Vec::new();
    let added = if managed {
        let edit = annotation_edit(ns, pools).unwrap_or_default();
        for pool in &edit.removed {
            bound.remove(pool);
            labels.remove(&binding_label(pool));
        }
        edit.added
    } else {
        // Adoption: the first binding label on a namespace with hand-set annotations.
        annotation_entries(ns)
    };
    for entry in added {
        match resolve_entry(&entry, pools).filter(|p| is_valid_binding_label(&p.name)) {
            Some(pool) => {
                if bound.insert(pool.name.clone()) {
                    labels.insert(binding_label(&pool.name), String::new());
                }
            }
            None => {
                // A name already bound by its label is kept by that label: nothing is lost.
                if !bound.contains(&entry) && !dropped.contains(&entry) {
                    dropped.push(entry);
                }
            }
        }
    }
    derive_into(&mut annotations, &bound, pools);
    if !bound.is_empty() {
        let written = format_pool_annotation(&written_pools(&bound, pools));
        annotations.insert(SYNCED.to_owned(), written);
    }
    SyncOutcome {
        patch: metadata_patch(ns, &labels, &annotations),
        dropped,
    }
}

/// How a managed namespace's Calico annotations were edited since the controller last wrote them.
#[derive(Debug, Default)]
struct AnnotationEdit {
    /// Entries naming pools that were not written.
    added: Vec<String>,
    /// Pools that were written and are no longer named.
    removed: BTreeSet<String>,
}

/// The edit of the Calico annotations against [`SYNCED`]; `None` without a record (the annotations predate it) or
/// when an annotation is not a JSON array of strings (unreadable: the labels stay the truth and it is rewritten).
fn annotation_edit(ns: &NamespaceInput, pools: &[Pool]) -> Option<AnnotationEdit> {
    let written: BTreeSet<String> = parse_pool_annotation(ns.annotations.get(SYNCED)?)?
        .into_iter()
        .collect();
    for key in [IPV4_POOLS, IPV6_POOLS] {
        if let Some(value) = ns.annotations.get(key) {
            parse_pool_annotation(value)?;
        }
    }
    let named = annotation_bindings(ns, pools);
    let added = annotation_entries(ns)
        .into_iter()
        .filter(|entry| {
            let pool = resolve_entry(entry, pools).map_or(entry.as_str(), |p| p.name.as_str());
            !written.contains(pool)
        })
        .collect();
    Some(AnnotationEdit {
        added,
        removed: written.difference(&named).cloned().collect(),
    })
}

/// The pools of `bound` that the derivation writes into the annotations (existing, with a CIDR), sorted.
fn written_pools(bound: &BTreeSet<String>, pools: &[Pool]) -> Vec<String> {
    bound
        .iter()
        .filter(|name| find_pool(name, pools).and_then(Pool::family).is_some())
        .cloned()
        .collect()
}

/// Pools usable by a namespace (algorithms §5): bound and usable pools when `B(ns)` is non-empty, else every usable
/// pool; sorted by name.
pub fn usable_pools<'a>(ns: &NamespaceInput, pools: &'a [Pool]) -> Vec<&'a Pool> {
    let bound = bound_pools(ns, pools);
    let mut usable: Vec<&Pool> = pools
        .iter()
        .filter(|p| p.usable() && (bound.is_empty() || bound.contains(&p.name)))
        .collect();
    usable.sort_by(|a, b| a.name.cmp(&b.name));
    usable
}

/// Migration targets of `source` (algorithms §6): other usable pools of the same family, sorted by name; none when the
/// source CIDR is invalid.
pub fn migration_targets<'a>(source: &Pool, pools: &'a [Pool]) -> Vec<&'a Pool> {
    let Some(family) = source.family() else {
        return Vec::new();
    };
    let mut targets: Vec<&Pool> = pools
        .iter()
        .filter(|t| t.name != source.name && t.usable() && t.family() == Some(family))
        .collect();
    targets.sort_by(|a, b| a.name.cmp(&b.name));
    targets
}

/// Whether a binding label value makes a binding: `""` or `"true"`.
fn is_binding_value(value: &str) -> bool {
    value.is_empty() || value == "true"
}

/// Entries of the IPv4 then the IPv6 annotation; annotations that are not JSON arrays of strings give none.
fn annotation_entries(ns: &NamespaceInput) -> Vec<String> {
    [IPV4_POOLS, IPV6_POOLS]
        .iter()
        .filter_map(|key| ns.annotations.get(*key))
        .filter_map(|value| parse_pool_annotation(value))
        .flatten()
        .collect()
}

/// Applies the algorithms §4.3 derivation from the label set `bound` to `annotations`: with no binding label the two
/// Calico annotations, the marker and the record of what was written are removed; otherwise each annotation is set
/// or removed and the marker is `"true"`.
pub(crate) fn derive_into(
    annotations: &mut BTreeMap<String, String>,
    bound: &BTreeSet<String>,
    pools: &[Pool],
) {
    if bound.is_empty() {
        for key in [IPV4_POOLS, IPV6_POOLS, MANAGED, SYNCED] {
            annotations.remove(key);
        }
        return;
    }
    let (v4, v6) = derive_annotations(bound, pools);
    for (key, value) in [(IPV4_POOLS, v4), (IPV6_POOLS, v6)] {
        match value {
            Some(value) => annotations.insert(key.to_owned(), value),
            None => annotations.remove(key),
        };
    }
    annotations.insert(MANAGED.to_owned(), "true".to_owned());
}

/// The JSON merge patch `{"metadata":{"labels":…,"annotations":…}}` turning the namespace's stored labels and
/// annotations into the given ones (removals as `null`); `None` when nothing differs.
pub(crate) fn metadata_patch(
    ns: &NamespaceInput,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) -> Option<Value> {
    let mut metadata = Map::new();
    if let Some(diff) = map_diff(&ns.labels, labels) {
        metadata.insert("labels".to_owned(), diff);
    }
    if let Some(diff) = map_diff(&ns.annotations, annotations) {
        metadata.insert("annotations".to_owned(), diff);
    }
    (!metadata.is_empty()).then(|| {
        let mut patch = Map::new();
        patch.insert("metadata".to_owned(), Value::Object(metadata));
        Value::Object(patch)
    })
}

/// A merge-patch object turning `before` into `after`: changed or added keys with their values, removed keys as
/// `null`, in key order; `None` when equal.
pub(crate) fn map_diff(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Option<Value> {
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let diff: Map<String, Value> = keys
        .into_iter()
        .filter(|key| before.get(*key) != after.get(*key))
        .map(|key| {
            let value = after.get(key).cloned().map_or(Value::Null, Value::String);
            (key.clone(), value)
        })
        .collect();
    (!diff.is_empty()).then_some(Value::Object(diff))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{apply_to_namespace, disabled, fm_pools, ns, pool};
    use crate::pool::Pool;
    use serde_json::json;

    fn names(pools: &[&Pool]) -> Vec<String> {
        pools.iter().map(|p| p.name.clone()).collect()
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    const PA: &str = "ippool.network.kubesphere.io/pa";
    const PB: &str = "ippool.network.kubesphere.io/pb";
    const P6: &str = "ippool.network.kubesphere.io/p6";

    /// Pools given for cases 44–52.
    fn d_pools() -> Vec<Pool> {
        vec![
            pool("pa", "10.11.0.0/16"),
            pool("pb", "10.12.0.0/16"),
            pool("p6", "fd00:50::/64"),
        ]
    }

    /// Applies the sync patch, as the controller would, and returns the new namespace.
    fn synced(namespace: &NamespaceInput, pools: &[Pool]) -> NamespaceInput {
        match sync(namespace, pools).patch {
            Some(patch) => apply_to_namespace(namespace, &patch),
            None => namespace.clone(),
        }
    }

    // ---- algorithms §4.5: label-name validity

    #[test]
    fn binding_label_names_follow_the_label_name_rule() {
        for good in ["a", "pool-a", "Pool_1.x", "0", &"a".repeat(63)] {
            assert!(is_valid_binding_label(good), "{good}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "a/b",
            "a b",
            "ä",
            ".a",
            &"a".repeat(64),
            &"a".repeat(70),
        ] {
            assert!(!is_valid_binding_label(bad), "{bad}");
        }
    }

    // ---- L, A, B

    #[test]
    fn label_bindings_take_only_empty_or_true_values() {
        let n = ns(
            "n",
            &[
                (PA, ""),
                (PB, "true"),
                (P6, "false"),
                ("ippool.network.kubesphere.io/", ""),
                ("other/pa", ""),
            ],
            &[],
        );
        assert_eq!(label_bindings(&n), set(&["pa", "pb"]));
    }

    #[test]
    fn annotation_entries_are_names_or_cidrs_of_existing_pools() {
        let n = ns(
            "n",
            &[],
            &[
                (
                    IPV4_POOLS,
                    r#"[ "10.11.0.0/16", "ghost" , "10.99.0.0/16", "10.12.0.7/16"]"#,
                ),
                (IPV6_POOLS, r#"["fd00:50::/64"]"#),
            ],
        );
        assert_eq!(
            annotation_bindings(&n, &d_pools()),
            set(&["ghost", "p6", "pa", "pb"])
        );
    }

    #[test]
    fn annotations_that_are_not_string_arrays_contribute_nothing() {
        for bad in [r#""pa""#, "pa", r#"{"pa":1}"#, r#"["pa", 1]"#, "", "[pa]"] {
            let n = ns("n", &[], &[(IPV4_POOLS, bad)]);
            assert!(annotation_bindings(&n, &d_pools()).is_empty(), "{bad}");
        }
        let n = ns("n", &[], &[(IPV4_POOLS, "[]"), (IPV6_POOLS, r#"[""]"#)]);
        assert!(annotation_bindings(&n, &d_pools()).is_empty());
    }

    #[test]
    fn cidr_entries_resolve_to_the_first_pool_by_name_among_equal_networks() {
        let pools = vec![pool("zz", "10.11.0.0/16"), pool("aa", "10.11.0.0/16")];
        let n = ns("n", &[], &[(IPV4_POOLS, r#"["10.11.0.0/16"]"#)]);
        assert_eq!(annotation_bindings(&n, &pools), set(&["aa"]));
        // A different prefix is a different network.
        let n = ns("n", &[], &[(IPV4_POOLS, r#"["10.11.0.0/17"]"#)]);
        assert!(annotation_bindings(&n, &pools).is_empty());
    }

    #[test]
    fn bound_set_is_the_union_of_labels_and_annotations() {
        let n = ns(
            "n",
            &[(PA, "")],
            &[(IPV4_POOLS, r#"["pb"]"#), (IPV6_POOLS, r#"["p6"]"#)],
        );
        assert_eq!(bound_pools(&n, &d_pools()), set(&["pa", "pb", "p6"]));
    }

    #[test]
    fn annotation_formatting_is_compact() {
        assert_eq!(
            format_pool_annotation(&["pool-a".into(), "pool-b".into()]),
            r#"["pool-a","pool-b"]"#
        );
        assert_eq!(format_pool_annotation(&[]), "[]");
    }

    // ---- algorithms §4.3: derivation

    #[test]
    fn derivation_splits_by_family_sorted_and_skips_missing_or_invalid_pools() {
        let mut pools = d_pools();
        pools.push(Pool {
            cidr: None,
            ..pool("broken", "x")
        });
        pools.push(disabled("pc", "10.14.0.0/16"));
        let (v4, v6) = derive_annotations(&set(&["pb", "pa", "p6", "pz", "broken", "pc"]), &pools);
        assert_eq!(v4.as_deref(), Some(r#"["pa","pb","pc"]"#));
        assert_eq!(v6.as_deref(), Some(r#"["p6"]"#));
        assert_eq!(derive_annotations(&set(&["pz"]), &pools), (None, None));
    }

    // ---- section D, cases 44–52

    #[test]
    fn case_44_bind_by_label() {
        let n1 = ns("n1", &[(PA, "")], &[]);
        let outcome = sync(&n1, &d_pools());
        assert_eq!(
            outcome.patch,
            Some(json!({"metadata":{"annotations":{
                IPV4_POOLS: r#"["pa"]"#, MANAGED: "true", SYNCED: r#"["pa"]"#}}}))
        );
        assert!(outcome.dropped.is_empty());
        let after = synced(&n1, &d_pools());
        assert!(!after.annotations.contains_key(IPV6_POOLS));
        assert_eq!(sync(&after, &d_pools()), SyncOutcome::default());
    }

    #[test]
    fn case_45_several_pools_both_families() {
        let pools = d_pools();
        let n1 = synced(&ns("n1", &[(PA, "")], &[]), &pools);
        let mut n1 = n1;
        n1.labels.insert(PB.into(), "true".into());
        n1.labels.insert(P6.into(), String::new());
        let after = synced(&n1, &pools);
        assert_eq!(after.annotations[IPV4_POOLS], r#"["pa","pb"]"#);
        assert_eq!(after.annotations[IPV6_POOLS], r#"["p6"]"#);
        assert_eq!(after.annotations[MANAGED], "true");
        assert_eq!(after.annotations[SYNCED], r#"["p6","pa","pb"]"#);
        assert_eq!(sync(&after, &pools).patch, None);
    }

    #[test]
    fn case_46_last_label_removed() {
        let pools = d_pools();
        let n1 = ns(
            "n1",
            &[],
            &[
                (IPV4_POOLS, r#"["pa","pb"]"#),
                (IPV6_POOLS, r#"["p6"]"#),
                (MANAGED, "true"),
                (SYNCED, r#"["p6","pa","pb"]"#),
            ],
        );
        assert_eq!(
            sync(&n1, &pools).patch,
            Some(json!({"metadata":{"annotations":{
                IPV4_POOLS: null, IPV6_POOLS: null, MANAGED: null, SYNCED: null}}}))
        );
        let after = synced(&n1, &pools);
        assert!(after.annotations.is_empty());
        assert_eq!(sync(&after, &pools).patch, None);
    }

    #[test]
    fn case_47_hand_set_annotations_are_left_alone_but_reported() {
        let pools = d_pools();
        let n2 = ns("n2", &[], &[(IPV4_POOLS, r#"["pb"]"#)]);
        assert_eq!(sync(&n2, &pools), SyncOutcome::default());
        assert_eq!(
            virtual_binding_labels(&n2, &pools),
            BTreeMap::from([(PB.to_owned(), String::new())])
        );
        assert_eq!(bound_pools(&n2, &pools), set(&["pb"]));
    }

    #[test]
    fn case_48_adoption() {
        let pools = d_pools();
        let n2 = ns("n2", &[(PA, "")], &[(IPV4_POOLS, r#"["pb"]"#)]);
        let outcome = sync(&n2, &pools);
        assert_eq!(
            outcome.patch,
            Some(json!({"metadata":{
                "labels":{PB: ""},
                "annotations":{IPV4_POOLS: r#"["pa","pb"]"#, MANAGED: "true", SYNCED: r#"["pa","pb"]"#}}}))
        );
        assert!(outcome.dropped.is_empty());
        let after = synced(&n2, &pools);
        assert_eq!(label_bindings(&after), set(&["pa", "pb"]));
        assert_eq!(sync(&after, &pools).patch, None);
    }

    #[test]
    fn adoption_drops_unknown_and_unlabelable_entries_with_a_warning() {
        let long = "l".repeat(64);
        let mut pools = d_pools();
        pools.push(pool(&long, "10.15.0.0/16"));
        let n = ns(
            "n",
            &[(PA, "")],
            &[
                (
                    IPV4_POOLS,
                    &format!(r#"["ghost","10.12.0.0/16","10.99.0.0/16","{long}","ghost"]"#),
                ),
                (IPV6_POOLS, "not json"),
            ],
        );
        let outcome = sync(&n, &pools);
        assert_eq!(
            outcome.dropped,
            vec!["ghost".to_owned(), "10.99.0.0/16".to_owned(), long.clone()]
        );
        assert_eq!(
            outcome.patch,
            Some(json!({"metadata":{
                "labels":{PB: ""},
                "annotations":{IPV4_POOLS: r#"["pa","pb"]"#, IPV6_POOLS: null, MANAGED: "true",
                               SYNCED: r#"["pa","pb"]"#}}}))
        );
    }

    #[test]
    fn adoption_does_not_warn_about_entries_bound_by_a_label() {
        let pz = "ippool.network.kubesphere.io/pz";
        let n = ns("n", &[(pz, "")], &[(IPV4_POOLS, r#"["pz","pa"]"#)]);
        let outcome = sync(&n, &d_pools());
        assert!(outcome.dropped.is_empty());
        assert_eq!(
            outcome.patch,
            Some(json!({"metadata":{
                "labels":{PA: ""},
                "annotations":{IPV4_POOLS: r#"["pa"]"#, MANAGED: "true", SYNCED: r#"["pa"]"#}}}))
        );
    }

    #[test]
    fn adoption_turns_a_non_binding_label_value_into_a_binding() {
        let pools = d_pools();
        let n = ns(
            "n",
            &[(PA, ""), (PB, "false")],
            &[(IPV4_POOLS, r#"["pb"]"#)],
        );
        let after = synced(&n, &pools);
        assert_eq!(after.labels[PB], "");
        assert_eq!(after.annotations[IPV4_POOLS], r#"["pa","pb"]"#);
    }

    #[test]
    fn without_a_record_the_labels_are_the_truth_on_managed_namespaces() {
        // Namespaces managed before the record existed: no edit can be told apart, the labels win once.
        let pools = d_pools();
        let n = ns(
            "n",
            &[(PA, "")],
            &[(IPV4_POOLS, r#"["pb"]"#), (MANAGED, "true")],
        );
        let outcome = sync(&n, &pools);
        assert_eq!(
            outcome.patch,
            Some(
                json!({"metadata":{"annotations":{IPV4_POOLS: r#"["pa"]"#, SYNCED: r#"["pa"]"#}}})
            )
        );
        assert!(outcome.dropped.is_empty());
    }

    #[test]
    fn case_49_other_label_values_do_not_bind() {
        let pools = d_pools();
        let n3 = ns("n3", &[(PA, "false")], &[]);
        assert_eq!(sync(&n3, &pools), SyncOutcome::default());
        assert!(bound_pools(&n3, &pools).is_empty());
        assert_eq!(names(&usable_pools(&n3, &pools)), ["p6", "pa", "pb"]);
        // The stored key stays as it is: no virtual label replaces it.
        assert!(virtual_binding_labels(&n3, &pools).is_empty());
    }

    #[test]
    fn case_50_label_for_a_pool_that_does_not_exist_yet() {
        let pz = "ippool.network.kubesphere.io/pz";
        let mut pools = d_pools();
        let n4 = synced(&ns("n4", &[(pz, "")], &[]), &pools);
        assert_eq!(
            n4.annotations,
            fixtures_map(&[(MANAGED, "true"), (SYNCED, "[]")])
        );

        pools.push(pool("pz", "10.13.0.0/16"));
        let n4 = synced(&n4, &pools);
        assert_eq!(n4.annotations[IPV4_POOLS], r#"["pz"]"#);

        pools.retain(|p| p.name != "pz");
        let patch = sync(&n4, &pools).patch;
        assert_eq!(
            patch,
            Some(json!({"metadata":{"annotations":{IPV4_POOLS: null, SYNCED: "[]"}}}))
        );
        let n4 = synced(&n4, &pools);
        assert_eq!(n4.labels[pz], "");
        assert_eq!(
            n4.annotations,
            fixtures_map(&[(MANAGED, "true"), (SYNCED, "[]")])
        );
    }

    fn fixtures_map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        crate::fixtures::map(pairs)
    }

    /// A managed namespace bound to `labels`, as the controller left it.
    fn managed(labels: &[&str]) -> NamespaceInput {
        let keys: Vec<String> = labels.iter().map(|p| binding_label(p)).collect();
        let pairs: Vec<(&str, &str)> = keys.iter().map(|k| (k.as_str(), "")).collect();
        synced(&ns("n", &pairs, &[]), &d_pools())
    }

    /// `namespace` with `ipv4pools` set to `value`, as the console's PUT leaves it (labels as they were).
    fn with_ipv4pools(namespace: &NamespaceInput, value: &str) -> NamespaceInput {
        let mut edited = namespace.clone();
        edited.annotations.insert(IPV4_POOLS.into(), value.into());
        edited
    }

    #[test]
    fn case_51_annotation_edits_of_a_managed_namespace_move_its_labels() {
        // Case 51 reverted the edit; the console binds and unbinds only by rewriting `ipv4pools` (docs/console.md),
        // so an edit since the controller's last write is a binding change and the labels follow it.
        let pools = d_pools();
        let n1 = with_ipv4pools(&managed(&["pa", "p6"]), r#"["pb"]"#);
        let outcome = sync(&n1, &pools);
        assert_eq!(
            outcome.patch,
            Some(json!({"metadata":{"labels":{PA: null, PB: ""},
                                    "annotations":{SYNCED: r#"["p6","pb"]"#}}}))
        );
        assert!(outcome.dropped.is_empty());
        let after = synced(&n1, &pools);
        assert_eq!(label_bindings(&after), set(&["p6", "pb"]));
        assert_eq!(sync(&after, &pools).patch, None);
    }

    #[test]
    fn console_bind_and_unbind_on_a_managed_namespace() {
        let pools = d_pools();
        // Bind: the console appends the pool to the list it read.
        let bound = synced(&with_ipv4pools(&managed(&["pa"]), r#"["pa","pb"]"#), &pools);
        assert_eq!(label_bindings(&bound), set(&["pa", "pb"]));
        assert_eq!(bound.annotations[IPV4_POOLS], r#"["pa","pb"]"#);
        // Unbind one, then the last: the labels go, and with the last one the namespace is no longer managed.
        let one = synced(&with_ipv4pools(&bound, r#"["pb"]"#), &pools);
        assert_eq!(label_bindings(&one), set(&["pb"]));
        assert_eq!(one.annotations[IPV4_POOLS], r#"["pb"]"#);
        let none = synced(&with_ipv4pools(&one, "[]"), &pools);
        assert!(label_bindings(&none).is_empty());
        assert!(none.annotations.is_empty(), "{:?}", none.annotations);
    }

    #[test]
    fn label_edits_still_drive_a_recorded_namespace() {
        let pools = d_pools();
        let mut n = managed(&["pa"]);
        n.labels.insert(PB.into(), String::new());
        let after = synced(&n, &pools);
        assert_eq!(after.annotations[IPV4_POOLS], r#"["pa","pb"]"#);
        n.labels.remove(PA);
        n.labels.remove(PB);
        assert!(synced(&n, &pools).annotations.is_empty());
    }

    #[test]
    fn annotation_edits_keep_labels_of_missing_pools_and_drop_unknown_entries() {
        let pools = d_pools();
        let pz = "ippool.network.kubesphere.io/pz";
        let mut n = managed(&["pa"]);
        n.labels.insert(pz.into(), String::new());
        let n = synced(&n, &pools);
        let outcome = sync(
            &with_ipv4pools(&n, r#"["pa","ghost","10.12.0.0/16"]"#),
            &pools,
        );
        assert_eq!(outcome.dropped, ["ghost"]);
        assert_eq!(
            outcome.patch,
            Some(json!({"metadata":{"labels":{PB: ""},
                "annotations":{IPV4_POOLS: r#"["pa","pb"]"#, SYNCED: r#"["pa","pb"]"#}}}))
        );
    }

    #[test]
    fn an_unreadable_annotation_is_rewritten_from_the_labels() {
        let pools = d_pools();
        let n = with_ipv4pools(&managed(&["pa"]), "not json");
        let outcome = sync(&n, &pools);
        assert_eq!(
            outcome.patch,
            Some(json!({"metadata":{"annotations":{IPV4_POOLS: r#"["pa"]"#}}}))
        );
    }

    #[test]
    fn case_52_unmanaged_cidr_entries_count_as_bindings() {
        let pools = d_pools();
        let n5 = ns("n5", &[], &[(IPV4_POOLS, r#"["10.11.0.0/16"]"#)]);
        assert_eq!(
            virtual_binding_labels(&n5, &pools),
            BTreeMap::from([(PA.to_owned(), String::new())])
        );
        assert_eq!(bound_pools(&n5, &pools), set(&["pa"]));
        assert_eq!(sync(&n5, &pools).patch, None);
    }

    #[test]
    fn virtual_labels_skip_invalid_names_and_stored_keys() {
        let pools = d_pools();
        let long = "l".repeat(64);
        let n = ns(
            "n",
            &[(PA, "false")],
            &[(IPV4_POOLS, &format!(r#"["pa","{long}","ghost"]"#))],
        );
        assert_eq!(
            virtual_binding_labels(&n, &pools),
            BTreeMap::from([(
                "ippool.network.kubesphere.io/ghost".to_owned(),
                String::new()
            )])
        );
    }

    #[test]
    fn sync_rewrites_non_compact_annotations_once() {
        let pools = d_pools();
        let n = ns(
            "n",
            &[(PA, "")],
            &[(IPV4_POOLS, r#"[ "pa" ]"#), (MANAGED, "true")],
        );
        let after = synced(&n, &pools);
        assert_eq!(after.annotations[IPV4_POOLS], r#"["pa"]"#);
        assert_eq!(sync(&after, &pools).patch, None);
    }

    // ---- section B, cases 28–34

    #[test]
    fn case_28_migration_targets() {
        let mut pools = fm_pools();
        pools.push(Pool {
            allowed_uses: vec!["Workload".into()],
            ..pool("pool-f", "10.60.0.0/16")
        });
        pools.push(Pool {
            deleting: true,
            ..pool("pool-g", "10.70.0.0/16")
        });
        let source = find_pool("pool-a", &pools).cloned();
        let targets = source
            .as_ref()
            .map(|s| names(&migration_targets(s, &pools)))
            .unwrap_or_default();
        assert_eq!(targets, ["pool-b", "pool-f"]);
    }

    #[test]
    fn case_29_targets_of_an_ipv6_pool() {
        let pools = fm_pools();
        let source = pool("pool-v6", "fd00:60::/64");
        assert!(migration_targets(&source, &pools).is_empty());
    }

    #[test]
    fn case_30_targets_of_a_missing_pool() {
        // The 404 is the HTTP layer's; the domain reports the pool as absent.
        assert!(find_pool("nope", &fm_pools()).is_none());
    }

    #[test]
    fn targets_of_a_pool_with_an_invalid_cidr_are_empty() {
        let source = Pool {
            cidr: None,
            ..pool("broken", "x")
        };
        assert!(migration_targets(&source, &fm_pools()).is_empty());
    }

    #[test]
    fn case_31_usable_pools_of_a_bound_namespace() {
        let bound = ns(
            "bound",
            &[
                ("ippool.network.kubesphere.io/pool-b", ""),
                ("ippool.network.kubesphere.io/pool-c", ""),
            ],
            &[],
        );
        assert_eq!(names(&usable_pools(&bound, &fm_pools())), ["pool-b"]);
    }

    #[test]
    fn case_32_usable_pools_of_an_unbound_namespace() {
        let other = ns("other", &[], &[]);
        assert_eq!(
            names(&usable_pools(&other, &fm_pools())),
            ["pool-b", "pool-v6"]
        );
    }

    #[test]
    fn case_33_usable_pools_from_a_hand_set_cidr_entry() {
        let hs = ns("hs", &[], &[(IPV4_POOLS, r#"["10.20.0.0/16"]"#)]);
        assert_eq!(names(&usable_pools(&hs, &fm_pools())), ["pool-b"]);
    }

    #[test]
    fn usable_pools_of_a_namespace_bound_only_to_missing_pools_are_empty() {
        let n = ns("n", &[("ippool.network.kubesphere.io/ghost", "")], &[]);
        assert!(usable_pools(&n, &fm_pools()).is_empty());
    }

    #[test]
    fn metadata_patch_is_none_when_nothing_differs() {
        let n = ns("n", &[(PA, "")], &[(MANAGED, "true")]);
        assert_eq!(metadata_patch(&n, &n.labels, &n.annotations), None);
    }
}
