//! The migration request checks (api §1.4 checks 1–9).

use crate::binding::{find_pool, is_valid_binding_label};
use crate::pool::Pool;

/// Resource name used in pool NotFound errors.
pub const IPPOOL_RESOURCE: &str = "ippools.crd.projectcalico.org";

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

#[cfg(test)]
mod tests {
    use super::super::fixtures::Fixture;
    use super::*;
    use crate::fixtures::{disabled, pool};

    fn bad(message: &str) -> Result<(), MigrationError> {
        Err(MigrationError::BadRequest(message.into()))
    }

    fn check(old: &str, new: &str, pools: &[Pool]) -> Result<(), MigrationError> {
        validate(old, new, pools).map(|_| ())
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
}
