//! IPPool admission (algorithms §13, api §6): whether a Calico pool may be created, updated or deleted, with the
//! texts kube-apiserver shows the client. Every check reads the defaulted spec (algorithms §1.2).

use super::binding::is_valid_binding_label;
use super::cidr::{Cidr, Family};
use super::pool::Pool;

/// The DELETE denial while the caches cannot tell the pool's usage (code 503).
pub const USAGE_UNKNOWN: &str = "ippool usage is not known yet; retry in a few seconds";

/// The CREATE warning for a pool name that cannot be a binding label (algorithms §4.5).
pub const NAME_NOT_BINDABLE: &str = "ippool name longer than 63 characters or with invalid characters \
                                     cannot be bound to namespaces by label";

/// How many bound namespaces a DELETE denial names before `and <k> more`.
const NAMED_NAMESPACES: usize = 5;

/// The valid `ipipMode` and `vxlanMode` values.
const MODES: [&str; 3] = ["Never", "Always", "CrossSubnet"];

/// The facts of a pool's defaulted spec that admission checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolSpec {
    pub name: String,
    /// `spec.cidr` as written.
    pub cidr: String,
    /// Defaulted `spec.blockSize` (26 / 122 when absent or 0).
    pub block_size: i64,
    /// Whether `spec.blockSize` is written with a value other than 0.
    pub block_size_set: bool,
    /// Defaulted `spec.ipipMode`.
    pub ipip_mode: String,
    /// Defaulted `spec.vxlanMode`.
    pub vxlan_mode: String,
}

/// What the pool holds, by algorithms §2 over the current caches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usage {
    /// The pool, IPAM block, pod or namespace cache has not synced, or does not know the pool yet.
    Unknown,
    Known {
        /// Addresses allocated to workloads.
        allocations: u128,
        /// Addresses of tunnel devices.
        tunnel: u128,
    },
}

/// One admission request, with what its checks read.
#[derive(Clone, Copy, Debug)]
pub enum Admission<'a> {
    Create {
        pool: &'a PoolSpec,
        /// Every known pool; one named like `pool` is ignored.
        pools: &'a [Pool],
    },
    Update {
        old: &'a PoolSpec,
        new: &'a PoolSpec,
        /// Every known pool; the pool itself is ignored.
        pools: &'a [Pool],
    },
    Delete {
        usage: Usage,
        /// Names of the namespaces with the pool in `B(ns)` (algorithms §4.1), in any order.
        bound_namespaces: &'a [String],
    },
}

/// The answer to an admission request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Allowed, with non-blocking advice for the client.
    Allowed { warnings: Vec<String> },
    /// Denied for good (code 403).
    Forbidden(String),
    /// Denied until the server knows more (code 503).
    Unavailable(String),
}

/// Decides an admission request: the first failing check of algorithms §13 denies.
pub fn decide(admission: Admission<'_>) -> Decision {
    let checked = match admission {
        Admission::Create { pool, pools } => create(pool, pools),
        Admission::Update { old, new, pools } => update(old, new, pools).map(|()| Vec::new()),
        Admission::Delete {
            usage,
            bound_namespaces,
        } => return delete(usage, bound_namespaces),
    };
    match checked {
        Ok(warnings) => Decision::Allowed { warnings },
        Err(message) => Decision::Forbidden(message),
    }
}

/// CREATE checks 1–9, then the warnings.
fn create(pool: &PoolSpec, pools: &[Pool]) -> Result<Vec<String>, String> {
    let cidr = Cidr::parse(&pool.cidr).ok_or("invalid cidr")?;
    let address = pool
        .cidr
        .trim()
        .split_once('/')
        .and_then(|(address, _)| Cidr::parse_address(address));
    if address != Some(cidr.first_address()) {
        return Err(format!(
            "cidr {} has host bits set; use {cidr}",
            pool.cidr.trim()
        ));
    }
    let family = cidr.family();
    let bits = family.bits();
    if cidr.prefix() >= bits {
        return Err(format!("the cidr mask must be less than {bits}"));
    }
    let (min, max, name) = match family {
        Family::V4 => (20, 32, "IPv4"),
        Family::V6 => (116, 128, "IPv6"),
    };
    if !(min..=max).contains(&pool.block_size) {
        return Err(format!(
            "blockSize must be between {min} and {max} for {name} pools"
        ));
    }
    if pool.block_size < i64::from(cidr.prefix()) {
        return Err("the blocksize should be larger than the cidr mask".into());
    }
    encapsulation(pool, Some(family))?;
    no_overlap(pool, &cidr, pools)?;

    let mut warnings = Vec::new();
    if !pool.block_size_set {
        warnings.push(format!(
            "blockSize is not set; Calico will use {}",
            pool.block_size
        ));
    }
    if !is_valid_binding_label(&pool.name) {
        warnings.push(NAME_NOT_BINDABLE.to_owned());
    }
    Ok(warnings)
}

/// UPDATE: CIDR and block size are immutable, then CREATE checks 6–9. Two CIDRs that do not parse are
/// compared as text.
fn update(old: &PoolSpec, new: &PoolSpec, pools: &[Pool]) -> Result<(), String> {
    let (old_cidr, new_cidr) = (Cidr::parse(&old.cidr), Cidr::parse(&new.cidr));
    let cidr_changed = match (old_cidr, new_cidr) {
        (Some(a), Some(b)) => a != b,
        (None, None) => old.cidr.trim() != new.cidr.trim(),
        _ => true,
    };
    if cidr_changed {
        return Err("cidr cannot be modified".into());
    }
    if old.block_size != new.block_size {
        return Err("ippool blockSize cannot be modified".into());
    }
    encapsulation(new, new_cidr.map(|c| c.family()))?;
    match new_cidr {
        Some(cidr) => no_overlap(new, &cidr, pools),
        None => Ok(()),
    }
}

/// CREATE checks 6–8: valid modes, no IPIP for IPv6, not both encapsulations.
fn encapsulation(pool: &PoolSpec, family: Option<Family>) -> Result<(), String> {
    for (field, mode) in [
        ("ipipMode", &pool.ipip_mode),
        ("vxlanMode", &pool.vxlan_mode),
    ] {
        if !MODES.contains(&mode.as_str()) {
            return Err(format!("invalid {field} \"{mode}\""));
        }
    }
    if family == Some(Family::V6) && pool.ipip_mode != "Never" {
        return Err("ipipMode must be Never for IPv6 pools".into());
    }
    if pool.ipip_mode != "Never" && pool.vxlan_mode != "Never" {
        return Err("ipipMode and vxlanMode cannot both be enabled".into());
    }
    Ok(())
}

/// CREATE check 9: no other pool's CIDR overlaps; the first overlapping one by name is named.
fn no_overlap(pool: &PoolSpec, cidr: &Cidr, pools: &[Pool]) -> Result<(), String> {
    let overlapping = pools
        .iter()
        .filter(|p| p.name != pool.name)
        .filter(|p| p.cidr.is_some_and(|other| other.overlaps(cidr)))
        .map(|p| p.name.as_str())
        .min();
    match overlapping {
        Some(name) => Err(format!("ippool cidr is overlapped with {name}")),
        None => Ok(()),
    }
}

/// DELETE checks 1–4.
fn delete(usage: Usage, bound_namespaces: &[String]) -> Decision {
    let Usage::Known {
        allocations,
        tunnel,
    } = usage
    else {
        return Decision::Unavailable(USAGE_UNKNOWN.into());
    };
    if allocations > 0 {
        return Decision::Forbidden(
            "ippool is in use, please remove the workload before deleting".into(),
        );
    }
    if tunnel > 0 {
        return Decision::Forbidden(format!(
            "ippool holds {tunnel} tunnel addresses; disable it and wait for calico-node to move them \
             before deleting"
        ));
    }
    if bound_namespaces.is_empty() {
        return Decision::Allowed {
            warnings: Vec::new(),
        };
    }
    let mut names: Vec<&str> = bound_namespaces.iter().map(String::as_str).collect();
    names.sort_unstable();
    names.dedup();
    let mut list = names
        .iter()
        .take(NAMED_NAMESPACES)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > NAMED_NAMESPACES {
        list.push_str(&format!(" and {} more", names.len() - NAMED_NAMESPACES));
    }
    Decision::Forbidden(format!(
        "ippool is bound to namespaces {list}; unbind them before deleting"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::pool as existing;

    /// A defaulted spec: `block_size` `None` means absent (default by family).
    fn spec(name: &str, cidr: &str, block_size: Option<i64>) -> PoolSpec {
        let v6 = Cidr::parse(cidr).is_some_and(|c| c.family() == Family::V6);
        PoolSpec {
            name: name.into(),
            cidr: cidr.into(),
            block_size: block_size.unwrap_or(if v6 { 122 } else { 26 }),
            block_size_set: block_size.is_some(),
            ipip_mode: "Never".into(),
            vxlan_mode: "Never".into(),
        }
    }

    fn modes(mut pool: PoolSpec, ipip: &str, vxlan: &str) -> PoolSpec {
        pool.ipip_mode = ipip.into();
        pool.vxlan_mode = vxlan.into();
        pool
    }

    fn create(pool: &PoolSpec, pools: &[Pool]) -> Decision {
        decide(Admission::Create { pool, pools })
    }

    fn update(old: &PoolSpec, new: &PoolSpec, pools: &[Pool]) -> Decision {
        decide(Admission::Update { old, new, pools })
    }

    fn delete(usage: Usage, bound: &[&str]) -> Decision {
        let bound: Vec<String> = bound.iter().map(|s| s.to_string()).collect();
        decide(Admission::Delete {
            usage,
            bound_namespaces: &bound,
        })
    }

    fn forbidden(message: &str) -> Decision {
        Decision::Forbidden(message.into())
    }

    fn allowed() -> Decision {
        Decision::Allowed {
            warnings: Vec::new(),
        }
    }

    fn unused() -> Usage {
        Usage::Known {
            allocations: 0,
            tunnel: 0,
        }
    }

    #[test]
    fn cidr_checks_cases_154_155_160() {
        assert_eq!(
            create(&spec("p", "testxxx", Some(26)), &[]),
            forbidden("invalid cidr")
        );
        assert_eq!(
            create(&spec("p", "10.0.0.0/32", Some(32)), &[]),
            forbidden("the cidr mask must be less than 32")
        );
        assert_eq!(
            create(&spec("p", "fd00::/128", Some(128)), &[]),
            forbidden("the cidr mask must be less than 128")
        );
        assert_eq!(
            create(&spec("p", "192.168.0.1/24", Some(26)), &[]),
            forbidden("cidr 192.168.0.1/24 has host bits set; use 192.168.0.0/24")
        );
        assert_eq!(
            create(&spec("p", "fd00:10::1/64", Some(122)), &[]),
            forbidden("cidr fd00:10::1/64 has host bits set; use fd00:10::/64")
        );
        // A non-canonical spelling of a network address has no host bits.
        assert_eq!(
            create(&spec("p", "fd00:0:0::/64", Some(122)), &[]),
            allowed()
        );
    }

    #[test]
    fn block_size_checks_cases_156_157_159() {
        assert_eq!(
            create(&spec("p", "192.168.0.0/24", Some(23)), &[]),
            forbidden("the blocksize should be larger than the cidr mask")
        );
        assert_eq!(
            create(&spec("p", "192.168.0.0/24", Some(19)), &[]),
            forbidden("blockSize must be between 20 and 32 for IPv4 pools")
        );
        assert_eq!(
            create(&spec("p", "192.168.0.0/19", Some(20)), &[]),
            allowed()
        );
        let small = [
            ("10.0.0.0/31", 31, allowed()),
            (
                "10.0.0.0/31",
                30,
                forbidden("the blocksize should be larger than the cidr mask"),
            ),
            ("10.0.0.0/30", 31, allowed()),
            ("10.0.0.0/31", 32, allowed()),
            (
                "10.0.0.0/31",
                33,
                forbidden("blockSize must be between 20 and 32 for IPv4 pools"),
            ),
        ];
        for (cidr, block_size, expected) in small {
            assert_eq!(
                create(&spec("p", cidr, Some(block_size)), &[]),
                expected,
                "{cidr} {block_size}"
            );
        }
        assert_eq!(
            create(&spec("p", "10.0.0.0/16", Some(18)), &[]),
            forbidden("blockSize must be between 20 and 32 for IPv4 pools")
        );
        assert_eq!(
            create(&spec("p", "fd00::/64", Some(115)), &[]),
            forbidden("blockSize must be between 116 and 128 for IPv6 pools")
        );
        assert_eq!(
            create(&spec("p", "fd00::/64", Some(129)), &[]),
            forbidden("blockSize must be between 116 and 128 for IPv6 pools")
        );
        assert_eq!(
            create(&spec("p", "fd00::/120", Some(118)), &[]),
            forbidden("the blocksize should be larger than the cidr mask")
        );
    }

    #[test]
    fn the_default_block_size_is_checked_and_warned_about_case_158() {
        assert_eq!(
            create(&spec("p", "10.0.0.0/28", None), &[]),
            forbidden("the blocksize should be larger than the cidr mask")
        );
        assert_eq!(
            create(&spec("p", "10.0.0.0/16", None), &[]),
            Decision::Allowed {
                warnings: vec!["blockSize is not set; Calico will use 26".into()]
            }
        );
        assert_eq!(
            create(&spec("p", "fd00::/64", None), &[]),
            Decision::Allowed {
                warnings: vec!["blockSize is not set; Calico will use 122".into()]
            }
        );
        assert_eq!(
            create(&spec("p", "fd00::/124", None), &[]),
            forbidden("the blocksize should be larger than the cidr mask")
        );
    }

    #[test]
    fn names_that_cannot_be_binding_labels_are_warned_about() {
        let long = "p".repeat(64);
        assert_eq!(
            create(&spec(&long, "10.0.0.0/16", None), &[]),
            Decision::Allowed {
                warnings: vec![
                    "blockSize is not set; Calico will use 26".into(),
                    NAME_NOT_BINDABLE.into()
                ]
            }
        );
        assert_eq!(
            create(&spec(&"p".repeat(63), "10.0.0.0/16", Some(26)), &[]),
            allowed()
        );
        assert_eq!(
            create(&spec("pool.a_b", "10.0.0.0/16", Some(26)), &[]),
            allowed()
        );
        assert_eq!(
            create(&spec("pool-", "10.0.0.0/16", Some(26)), &[]),
            Decision::Allowed {
                warnings: vec![NAME_NOT_BINDABLE.into()]
            }
        );
    }

    #[test]
    fn encapsulation_case_161() {
        let v6 = spec("p", "fd00:70::/64", Some(122));
        assert_eq!(
            create(&modes(v6.clone(), "Always", "Never"), &[]),
            forbidden("ipipMode must be Never for IPv6 pools")
        );
        assert_eq!(
            create(&modes(v6.clone(), "Never", "CrossSubnet"), &[]),
            allowed()
        );
        let v4 = spec("p", "10.0.0.0/16", Some(26));
        assert_eq!(
            create(&modes(v4.clone(), "Always", "Always"), &[]),
            forbidden("ipipMode and vxlanMode cannot both be enabled")
        );
        assert_eq!(
            create(&modes(v4.clone(), "CrossSubnet", "Never"), &[]),
            allowed()
        );
        assert_eq!(
            create(&modes(v4.clone(), "always", "Never"), &[]),
            forbidden("invalid ipipMode \"always\"")
        );
        // ipipMode is checked before vxlanMode, and validity before the IPv6 rule.
        assert_eq!(
            create(&modes(v4, "Sometimes", "Often"), &[]),
            forbidden("invalid ipipMode \"Sometimes\"")
        );
        assert_eq!(
            create(&modes(v6, "Never", "Often"), &[]),
            forbidden("invalid vxlanMode \"Often\"")
        );
    }

    #[test]
    fn overlap_names_the_first_pool_by_name_case_162() {
        let pools = [
            existing("zeta", "10.233.0.0/20"),
            existing("default-ipv4-ippool", "10.233.64.0/18"),
            existing("broken", "not-a-cidr"),
            existing("v6", "fd00::/8"),
            existing("other", "10.234.0.0/16"),
        ];
        assert_eq!(
            create(&spec("new", "10.233.0.0/16", Some(26)), &pools),
            forbidden("ippool cidr is overlapped with default-ipv4-ippool")
        );
        // A pool inside the new one and one containing it both overlap.
        assert_eq!(
            create(&spec("new", "10.233.65.0/24", Some(26)), &pools),
            forbidden("ippool cidr is overlapped with default-ipv4-ippool")
        );
        assert_eq!(
            create(&spec("new", "10.235.0.0/16", Some(26)), &pools),
            allowed()
        );
        assert_eq!(
            create(&spec("new", "fd00:1::/64", Some(122)), &pools),
            forbidden("ippool cidr is overlapped with v6")
        );
        // A pool of the same name (a cache not yet past its deletion) is not another pool.
        assert_eq!(
            create(&spec("zeta", "10.233.0.0/20", Some(26)), &pools[..1]),
            allowed()
        );
    }

    #[test]
    fn cidr_and_block_size_are_immutable_case_163() {
        let stored = spec("p", "10.0.0.0/16", Some(26));
        assert_eq!(
            update(&stored, &spec("p", "10.1.0.0/16", Some(26)), &[]),
            forbidden("cidr cannot be modified")
        );
        assert_eq!(
            update(&stored, &spec("p", "10.0.0.0/17", Some(26)), &[]),
            forbidden("cidr cannot be modified")
        );
        assert_eq!(
            update(&stored, &spec("p", "nonsense", Some(26)), &[]),
            forbidden("cidr cannot be modified")
        );
        // Same network, other spelling.
        assert_eq!(
            update(&stored, &spec("p", "10.0.0.1/16", Some(26)), &[]),
            allowed()
        );
        assert_eq!(
            update(&stored, &spec("p", "10.0.0.0/16", Some(27)), &[]),
            forbidden("ippool blockSize cannot be modified")
        );
        // Adding the default explicitly changes nothing; no warnings on UPDATE.
        let without = spec("p", "10.0.0.0/16", None);
        assert_eq!(update(&without, &stored, &[]), allowed());
        assert_eq!(update(&without, &without, &[]), allowed());
        let v6 = spec("p6", "fd00::/64", None);
        assert_eq!(
            update(&v6, &spec("p6", "fd00::/64", Some(122)), &[]),
            allowed()
        );
        assert_eq!(
            update(&v6, &spec("p6", "fd00::/64", Some(26)), &[]),
            forbidden("ippool blockSize cannot be modified")
        );
    }

    #[test]
    fn updates_run_the_encapsulation_and_overlap_checks() {
        let stored = spec("p", "10.0.0.0/16", Some(26));
        let pools = [existing("p", "10.0.0.0/16"), existing("q", "10.1.0.0/16")];
        // The pool itself is not an overlap.
        assert_eq!(update(&stored, &stored, &pools), allowed());
        assert_eq!(
            update(&stored, &modes(stored.clone(), "Always", "Always"), &pools),
            forbidden("ipipMode and vxlanMode cannot both be enabled")
        );
        let v6 = spec("p6", "fd00::/64", Some(122));
        assert_eq!(
            update(&v6, &modes(v6.clone(), "CrossSubnet", "Never"), &[]),
            forbidden("ipipMode must be Never for IPv6 pools")
        );
        // A pool that overlapped before the webhook was enabled stays denied until resolved.
        let overlapping = [existing("p", "10.0.0.0/16"), existing("a", "10.0.0.0/8")];
        assert_eq!(
            update(&stored, &stored, &overlapping),
            forbidden("ippool cidr is overlapped with a")
        );
        // A stored pool with an invalid CIDR can still be edited when the CIDR text stays.
        let broken = spec("b", "not-a-cidr", None);
        assert_eq!(update(&broken, &broken, &pools), allowed());
    }

    #[test]
    fn deletes_cases_164_to_168() {
        assert_eq!(
            delete(Usage::Unknown, &[]),
            Decision::Unavailable(USAGE_UNKNOWN.into())
        );
        assert_eq!(
            delete(
                Usage::Known {
                    allocations: 5,
                    tunnel: 1
                },
                &["demo"]
            ),
            forbidden("ippool is in use, please remove the workload before deleting")
        );
        assert_eq!(
            delete(
                Usage::Known {
                    allocations: 0,
                    tunnel: 3
                },
                &["demo"]
            ),
            forbidden(
                "ippool holds 3 tunnel addresses; disable it and wait for calico-node to move them \
                 before deleting"
            )
        );
        assert_eq!(delete(unused(), &[]), allowed());
        assert_eq!(
            delete(unused(), &["b7", "b3", "b1", "b2", "b6", "b4", "b5"]),
            forbidden(
                "ippool is bound to namespaces b1, b2, b3, b4, b5 and 2 more; unbind them before deleting"
            )
        );
    }

    #[test]
    fn bound_namespace_lists_name_five_then_count_the_rest() {
        assert_eq!(
            delete(unused(), &["only"]),
            forbidden("ippool is bound to namespaces only; unbind them before deleting")
        );
        assert_eq!(
            delete(unused(), &["e", "d", "c", "b", "a"]),
            forbidden("ippool is bound to namespaces a, b, c, d, e; unbind them before deleting")
        );
        assert_eq!(
            delete(unused(), &["f", "e", "d", "c", "b", "a"]),
            forbidden(
                "ippool is bound to namespaces a, b, c, d, e and 1 more; unbind them before deleting"
            )
        );
    }
}
