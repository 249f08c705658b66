//! Unbinding every namespace from a pool (algorithms §8, api §1.6).

use serde_json::Value;

use super::binding::{
    IPV4_POOLS, IPV6_POOLS, NamespaceChange, NamespaceInput, binding_label, bound_pools,
    derive_into, find_pool, format_pool_annotation, is_valid_binding_label, label_bindings,
    metadata_patch, parse_pool_annotation,
};
use super::cidr::Cidr;
use super::pool::Pool;

/// A pool name that cannot be a binding label (algorithms §4.5): 400 with this message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("ippool name \"{0}\" cannot be used as a namespace binding label")]
pub struct InvalidPoolName(pub String);

/// The namespaces bound to `pool` (`pool ∈ B(ns)`) with their unbind patches, sorted by name. The pool need
/// not exist; its name must be a valid label name.
///
/// # Errors
///
/// [`InvalidPoolName`] when `pool` is not a valid label name (algorithms §4.5).
pub fn unbind_targets(
    pool: &str,
    namespaces: &[NamespaceInput],
    pools: &[Pool],
) -> Result<Vec<NamespaceChange>, InvalidPoolName> {
    if !is_valid_binding_label(pool) {
        return Err(InvalidPoolName(pool.to_owned()));
    }
    let mut targets: Vec<NamespaceChange> = namespaces
        .iter()
        .filter_map(|ns| {
            unbind_patch(ns, pool, pools).map(|patch| NamespaceChange {
                name: ns.name.clone(),
                patch,
            })
        })
        .collect();
    targets.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(targets)
}

/// One namespace's unbind patch (algorithms §8), or `None` when it is not bound to `pool` or nothing would change.
/// Also used to recompute the patch from a freshly read namespace after a 409 Conflict (algorithms §4.4).
pub fn unbind_patch(ns: &NamespaceInput, pool: &str, pools: &[Pool]) -> Option<Value> {
    if !bound_pools(ns, pools).contains(pool) {
        return None;
    }
    let mut labels = ns.labels.clone();
    let mut annotations = ns.annotations.clone();
    let mut bound = label_bindings(ns);
    if bound.remove(pool) {
        labels.remove(&binding_label(pool));
    }
    let cidr = find_pool(pool, pools).and_then(|p| p.cidr);
    let names_pool =
        |entry: &String| entry == pool || (cidr.is_some() && Cidr::parse(entry) == cidr);
    for key in [IPV4_POOLS, IPV6_POOLS] {
        let Some(entries) = annotations
            .get(key)
            .and_then(|value| parse_pool_annotation(value))
        else {
            continue;
        };
        let kept: Vec<String> = entries.iter().filter(|e| !names_pool(e)).cloned().collect();
        if kept.len() == entries.len() {
            continue;
        }
        if kept.is_empty() {
            annotations.remove(key);
        } else {
            annotations.insert(key.to_owned(), format_pool_annotation(&kept));
        }
    }
    if ns.is_managed() {
        derive_into(&mut annotations, &bound, pools);
    }
    metadata_patch(ns, &labels, &annotations)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::MANAGED;
    use crate::fixtures::{apply_to_namespace, map, ns, pool};
    use serde_json::json;

    const PA: &str = "ippool.network.kubesphere.io/pa";
    const PB: &str = "ippool.network.kubesphere.io/pb";

    fn pools() -> Vec<Pool> {
        vec![pool("pa", "10.11.0.0/16"), pool("pb", "10.12.0.0/16")]
    }

    /// Namespaces given for cases 69–72.
    fn namespaces() -> Vec<NamespaceInput> {
        vec![
            ns(
                "u1",
                &[(PA, "")],
                &[(IPV4_POOLS, r#"["pa"]"#), (MANAGED, "true")],
            ),
            ns("u2", &[], &[(IPV4_POOLS, r#"["pa","pb"]"#)]),
            ns(
                "u3",
                &[(PA, ""), (PB, "")],
                &[(IPV4_POOLS, r#"["pa","pb"]"#), (MANAGED, "true")],
            ),
        ]
    }

    fn names(targets: &[(String, Value)]) -> Vec<&str> {
        targets.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// Applies the targets' patches to the namespaces.
    fn apply(namespaces: &mut [NamespaceInput], targets: &[(String, Value)]) {
        for (name, patch) in targets {
            for ns in namespaces.iter_mut().filter(|n| &n.name == name) {
                *ns = apply_to_namespace(ns, patch);
            }
        }
    }

    /// The targets as (name, patch) pairs.
    fn targets(pool: &str, namespaces: &[NamespaceInput]) -> Vec<(String, Value)> {
        unbind_targets(pool, namespaces, &pools())
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|change| (change.name, change.patch))
            .collect()
    }

    #[test]
    fn case_69_unbind_everywhere_patches() {
        assert_eq!(
            targets("pa", &namespaces()),
            [
                (
                    "u1".to_owned(),
                    json!({"metadata":{"labels":{PA: null},
                                       "annotations":{IPV4_POOLS: null, MANAGED: null}}})
                ),
                (
                    "u2".to_owned(),
                    json!({"metadata":{"annotations":{IPV4_POOLS: r#"["pb"]"#}}})
                ),
                (
                    "u3".to_owned(),
                    json!({"metadata":{"labels":{PA: null},
                                       "annotations":{IPV4_POOLS: r#"["pb"]"#}}})
                ),
            ]
        );
    }

    #[test]
    fn case_69_unbind_everywhere_results() {
        let mut namespaces = namespaces();
        let targets = targets("pa", &namespaces);
        assert_eq!(names(&targets), ["u1", "u2", "u3"]);
        apply(&mut namespaces, &targets);
        let [u1, u2, u3] = &namespaces[..] else {
            panic!("three namespaces")
        };
        assert!(u1.labels.is_empty());
        assert!(u1.annotations.is_empty());
        assert!(u2.labels.is_empty());
        assert_eq!(u2.annotations, map(&[(IPV4_POOLS, r#"["pb"]"#)]));
        assert_eq!(u3.labels, map(&[(PB, "")]));
        assert_eq!(
            u3.annotations,
            map(&[(IPV4_POOLS, r#"["pb"]"#), (MANAGED, "true")])
        );
    }

    #[test]
    fn case_70_stale_binding_of_a_deleted_pool() {
        let old = "ippool.network.kubesphere.io/old";
        let mut namespaces = vec![ns("s1", &[(old, "")], &[])];
        let targets = targets("old", &namespaces);
        assert_eq!(
            targets,
            [("s1".to_owned(), json!({"metadata":{"labels":{old: null}}}))]
        );
        apply(&mut namespaces, &targets);
        assert!(namespaces[0].labels.is_empty());
    }

    #[test]
    fn case_71_nothing_bound_and_repeat() {
        let mut namespaces = namespaces();
        // Dry run: the same list, nothing applied.
        assert_eq!(names(&targets("pa", &namespaces)), ["u1", "u2", "u3"]);
        let first = targets("pa", &namespaces);
        apply(&mut namespaces, &first);
        let pb = targets("pb", &namespaces);
        assert_eq!(names(&pb), ["u2", "u3"]);
        apply(&mut namespaces, &pb);
        assert!(targets("pb", &namespaces).is_empty());
        assert!(
            namespaces
                .iter()
                .all(|n| n.labels.is_empty() && n.annotations.is_empty())
        );
    }

    #[test]
    fn case_72_invalid_name() {
        let name = "a".repeat(64);
        let error = unbind_targets(&name, &namespaces(), &pools()).err();
        assert_eq!(error, Some(InvalidPoolName(name.clone())));
        assert_eq!(
            error.map(|e| e.to_string()),
            Some(format!(
                "ippool name \"{name}\" cannot be used as a namespace binding label"
            ))
        );
    }

    #[test]
    fn cidr_entries_of_an_existing_pool_are_removed_from_both_annotations() {
        let n = ns(
            "n",
            &[],
            &[
                (IPV4_POOLS, r#"[ "10.11.0.0/16", "pb", "pa" ]"#),
                (IPV6_POOLS, r#"["pa"]"#),
            ],
        );
        assert_eq!(
            unbind_patch(&n, "pa", &pools()),
            Some(json!({"metadata":{"annotations":{IPV4_POOLS: r#"["pb"]"#, IPV6_POOLS: null}}}))
        );
    }

    #[test]
    fn cidr_entries_stay_when_the_pool_does_not_exist() {
        let n = ns("n", &[], &[(IPV4_POOLS, r#"["10.99.0.0/16","gone"]"#)]);
        assert_eq!(
            unbind_patch(&n, "gone", &pools()),
            Some(json!({"metadata":{"annotations":{IPV4_POOLS: r#"["10.99.0.0/16"]"#}}}))
        );
    }

    #[test]
    fn untouched_annotations_keep_their_formatting_and_invalid_values() {
        let n = ns(
            "n",
            &[(PA, "")],
            &[(IPV4_POOLS, r#"[ "pb" ]"#), (IPV6_POOLS, "garbage")],
        );
        assert_eq!(
            unbind_patch(&n, "pa", &pools()),
            Some(json!({"metadata":{"labels":{PA: null}}}))
        );
    }

    #[test]
    fn non_binding_label_values_are_neither_bound_nor_removed() {
        let n = ns("n", &[(PA, "false")], &[]);
        assert_eq!(unbind_patch(&n, "pa", &pools()), None);
        assert!(targets("pa", &[n]).is_empty());
    }

    #[test]
    fn managed_namespace_with_a_true_label_is_rederived() {
        let n = ns(
            "n",
            &[(PA, "true"), (PB, "true")],
            &[(IPV4_POOLS, r#"["pa"]"#), (MANAGED, "true")],
        );
        assert_eq!(
            unbind_patch(&n, "pa", &pools()),
            Some(json!({"metadata":{"labels":{PA: null},
                                    "annotations":{IPV4_POOLS: r#"["pb"]"#}}}))
        );
    }
}
