//! Which generated NetworkPolicies the controller may write or delete (algorithms §12.2; Q21, case 139–140).
//!
//! An NSNP policy `nsnp-<n>` is ours when a `controller: true` ownerReference names the NSNP (by uid); the
//! isolation policy is ours when it carries [`MANAGED_BY_LABEL`]. A same-named policy without any ownerReference
//! (left by KubeSphere) is adopted: overwritten with the desired object. Anything else is foreign and never
//! modified or deleted (Warning Event `NameConflict`).

use std::collections::BTreeMap;

use crate::nsnp;

/// Label on every NetworkPolicy the controller writes.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// The value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY_VALUE: &str = "ks-network-apiserver";

/// An entry of `metadata.ownerReferences`, as read from a NetworkPolicy or as the controller writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerReference {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub uid: String,
    /// `controller` (absent means `false`).
    pub controller: bool,
}

impl OwnerReference {
    /// The owner of `nsnp-<name>`: its NSNP (algorithms §10.5).
    pub fn nsnp(name: &str, uid: &str) -> OwnerReference {
        OwnerReference {
            api_version: nsnp::API_VERSION.to_owned(),
            kind: nsnp::KIND.to_owned(),
            name: name.to_owned(),
            uid: uid.to_owned(),
            controller: true,
        }
    }

    /// The owner of the isolation policy: its Namespace (algorithms §11.2).
    pub fn namespace(name: &str, uid: &str) -> OwnerReference {
        OwnerReference {
            api_version: "v1".to_owned(),
            kind: "Namespace".to_owned(),
            name: name.to_owned(),
            uid: uid.to_owned(),
            controller: true,
        }
    }

    /// A controller reference to a NamespaceNetworkPolicy (any version of its group).
    fn controls_as_nsnp(&self) -> bool {
        self.controller
            && self.kind == nsnp::KIND
            && self.api_version.split('/').next() == Some(nsnp::GROUP)
    }
}

/// The metadata of a NetworkPolicy that has the desired name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExistingPolicy<'a> {
    pub labels: &'a BTreeMap<String, String>,
    pub owners: &'a [OwnerReference],
}

/// What the controller may do with an existing NetworkPolicy of the desired name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// Written by the controller: update it (labels, ownerReferences, spec, when they differ) or delete it.
    Ours,
    /// No ownerReferences: overwrite it with the desired object. Never deleted while unadopted.
    Adoptable,
    /// Owned by something else: leave it alone and raise Warning Event `NameConflict`.
    Foreign,
}

/// The NSNP controlling this policy, if any: where a change to the policy is reconciled (algorithms §12.3) and,
/// once that NSNP is gone, proof that the policy is the controller's to delete.
pub fn controlling_nsnp<'a>(existing: &ExistingPolicy<'a>) -> Option<&'a OwnerReference> {
    existing
        .owners
        .iter()
        .find(|owner| owner.controls_as_nsnp())
}

/// Ownership of `nsnp-<n>` for the NSNP `<n>` with uid `nsnp_uid`: ours when an NSNP controller reference has that
/// uid; adoptable without ownerReferences, and also when it is controlled by an earlier NSNP of the same name
/// (deleted and recreated before garbage collection removed the old rendering: it is the controller's own
/// leftover, and waiting for a garbage collector that may not run would leave the new NSNP unenforced);
/// otherwise foreign.
pub fn nsnp_policy_ownership(existing: &ExistingPolicy, nsnp_uid: &str) -> Ownership {
    match controlling_nsnp(existing) {
        Some(owner) if owner.uid == nsnp_uid => Ownership::Ours,
        Some(_) => Ownership::Adoptable,
        None => unowned(existing),
    }
}

/// Ownership of `nsnp-network-isolate`: ours when labelled `app.kubernetes.io/managed-by: ks-network-apiserver`
/// ([`MANAGED_BY_LABEL`], [`MANAGED_BY_VALUE`]); adoptable without ownerReferences; otherwise foreign.
pub fn isolation_policy_ownership(existing: &ExistingPolicy) -> Ownership {
    if existing
        .labels
        .get(MANAGED_BY_LABEL)
        .is_some_and(|value| value == MANAGED_BY_VALUE)
    {
        Ownership::Ours
    } else {
        unowned(existing)
    }
}

/// A policy that is not ours: adoptable only without any ownerReference.
fn unowned(existing: &ExistingPolicy) -> Ownership {
    if existing.owners.is_empty() {
        Ownership::Adoptable
    } else {
        Ownership::Foreign
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::map as labels;

    fn owner(
        api_version: &str,
        kind: &str,
        name: &str,
        uid: &str,
        controller: bool,
    ) -> OwnerReference {
        OwnerReference {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            name: name.to_owned(),
            uid: uid.to_owned(),
            controller,
        }
    }

    fn nsnp_ownership(labels: &BTreeMap<String, String>, owners: &[OwnerReference]) -> Ownership {
        nsnp_policy_ownership(&ExistingPolicy { labels, owners }, "uid-x")
    }

    #[test]
    fn case_139_ownership_metadata() {
        assert_eq!(
            OwnerReference::nsnp("x", "uid-x"),
            owner(
                "network.kubesphere.io/v1alpha1",
                "NamespaceNetworkPolicy",
                "x",
                "uid-x",
                true
            )
        );
        assert_eq!(
            (MANAGED_BY_LABEL, MANAGED_BY_VALUE),
            ("app.kubernetes.io/managed-by", "ks-network-apiserver")
        );
        // What the controller writes is ours.
        let written = labels(&[(MANAGED_BY_LABEL, MANAGED_BY_VALUE)]);
        let owners = [OwnerReference::nsnp("x", "uid-x")];
        assert_eq!(nsnp_ownership(&written, &owners), Ownership::Ours);
        let existing = ExistingPolicy {
            labels: &written,
            owners: &owners,
        };
        assert_eq!(controlling_nsnp(&existing), Some(&owners[0]));
    }

    #[test]
    fn case_140_foreign_nsnp_policies() {
        let none = BTreeMap::new();
        // `nsnp-user`: no owner and no NSNP `user` — the controller never asks, and never deletes it: it has no
        // controlling NSNP.
        let user = ExistingPolicy {
            labels: &none,
            owners: &[],
        };
        assert_eq!(controlling_nsnp(&user), None);
        // `nsnp-legacy` without ownerReferences plus NSNP `legacy`: adopted.
        assert_eq!(nsnp_ownership(&none, &[]), Ownership::Adoptable);
        // `nsnp-x` owned by a ConfigMap plus NSNP `x`: foreign.
        let config_map = [owner("v1", "ConfigMap", "x", "uid-cm", true)];
        assert_eq!(nsnp_ownership(&none, &config_map), Ownership::Foreign);
    }

    #[test]
    fn only_a_controller_reference_to_this_nsnp_is_ours() {
        let none = BTreeMap::new();
        let ours = OwnerReference::nsnp("x", "uid-x");
        for (owners, expected) in [
            (vec![ours.clone()], Ownership::Ours),
            (
                vec![owner("v1", "ConfigMap", "c", "uid-c", false), ours.clone()],
                Ownership::Ours,
            ),
            (
                vec![owner(
                    "network.kubesphere.io/v1alpha2",
                    "NamespaceNetworkPolicy",
                    "x",
                    "uid-x",
                    true,
                )],
                Ownership::Ours,
            ),
            // Not the controller.
            (
                vec![OwnerReference {
                    controller: false,
                    ..ours.clone()
                }],
                Ownership::Foreign,
            ),
            // An earlier NSNP of the same name (deleted and recreated): our leftover.
            (
                vec![OwnerReference::nsnp("x", "uid-old")],
                Ownership::Adoptable,
            ),
            // Same uid but another kind or group.
            (
                vec![owner("v1", "Namespace", "x", "uid-x", true)],
                Ownership::Foreign,
            ),
            (
                vec![owner(
                    "other.io/v1",
                    "NamespaceNetworkPolicy",
                    "x",
                    "uid-x",
                    true,
                )],
                Ownership::Foreign,
            ),
        ] {
            assert_eq!(nsnp_ownership(&none, &owners), expected, "{owners:?}");
        }
        // The label alone does not make an NSNP policy ours.
        let labelled = labels(&[(MANAGED_BY_LABEL, MANAGED_BY_VALUE)]);
        assert_eq!(nsnp_ownership(&labelled, &[]), Ownership::Adoptable);
        let config_map = [owner("v1", "ConfigMap", "x", "uid-cm", true)];
        assert_eq!(nsnp_ownership(&labelled, &config_map), Ownership::Foreign);
    }

    #[test]
    fn the_isolation_policy_is_ours_by_label() {
        let namespace = [OwnerReference::namespace("iso1", "uid-ns")];
        assert_eq!(
            namespace[0],
            owner("v1", "Namespace", "iso1", "uid-ns", true)
        );
        let check = |pairs: &[(&str, &str)], owners: &[OwnerReference]| {
            isolation_policy_ownership(&ExistingPolicy {
                labels: &labels(pairs),
                owners,
            })
        };
        let managed = [(MANAGED_BY_LABEL, MANAGED_BY_VALUE)];
        assert_eq!(check(&managed, &namespace), Ownership::Ours);
        assert_eq!(check(&managed, &[]), Ownership::Ours);
        // Left by KubeSphere: no label, no owner.
        assert_eq!(check(&[], &[]), Ownership::Adoptable);
        assert_eq!(
            check(&[(MANAGED_BY_LABEL, "someone-else")], &[]),
            Ownership::Adoptable
        );
        assert_eq!(check(&[], &namespace), Ownership::Foreign);
        let config_map = [owner("v1", "ConfigMap", "c", "uid-c", true)];
        assert_eq!(check(&[], &config_map), Ownership::Foreign);
    }
}
