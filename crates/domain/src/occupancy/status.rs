//! The status of a pool as the API shows it (algorithms §2), its JSON form, and the orphan-block summary.

use std::collections::BTreeMap;

use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};

/// The largest integer every JSON client reads exactly, 2^53 − 1; status integers are capped at it (algorithms §2.7).
pub const JSON_INTEGER_CAP: u128 = 9007199254740991;

/// A pool's occupancy status (algorithms §2), uncapped; the JSON form caps every integer (algorithms §2.7).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolStatus {
    /// Addresses in the pool, `2^(bits − prefix)` (capped at 2^128 − 1 for an IPv6 `/0`).
    pub capacity: u128,
    /// Addresses allocated to workloads.
    pub allocations: u128,
    /// `capacity − allocations − tunnel − reserved`, saturating at 0.
    pub unallocated: u128,
    /// Addresses allocated without a usable handle or with the Windows reserved handle.
    pub reserved: u128,
    /// Addresses of IPIP, VXLAN and WireGuard tunnel devices; 0 without IPAM blocks (the pod fallback).
    pub tunnel: u128,
    /// Allocations per namespace; only keys with a count > 0.
    pub namespaces: BTreeMap<String, u128>,
    /// Live, non-hostNetwork pods with at least one address in the pool.
    pub pods: u128,
    /// Allocations whose (namespace, pod) is not a live pod (IPAM mode only).
    pub leaked: u128,
}

impl PoolStatus {
    /// The status of a pool with an invalid CIDR: every number 0, `namespaces` empty.
    pub fn zero() -> PoolStatus {
        PoolStatus::default()
    }
}

/// `min(value, 2^53 − 1)` as a `u64` (algorithms §2.7).
pub fn json_integer(value: u128) -> u64 {
    // The cap fits in a u64, so the conversion cannot fail.
    u64::try_from(value.min(JSON_INTEGER_CAP)).unwrap_or(u64::MAX)
}

impl Serialize for PoolStatus {
    /// Keys in the order `capacity, allocations, unallocated, reserved, tunnel, namespaces, pods, leaked`; every
    /// integer capped at 2^53 − 1; `namespaces` is `{}` when empty.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Namespaces<'a>(&'a BTreeMap<String, u128>);
        impl Serialize for Namespaces<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(Some(self.0.len()))?;
                for (namespace, count) in self.0 {
                    map.serialize_entry(namespace, &json_integer(*count))?;
                }
                map.end()
            }
        }
        let mut s = serializer.serialize_struct("PoolStatus", 8)?;
        s.serialize_field("capacity", &json_integer(self.capacity))?;
        s.serialize_field("allocations", &json_integer(self.allocations))?;
        s.serialize_field("unallocated", &json_integer(self.unallocated))?;
        s.serialize_field("reserved", &json_integer(self.reserved))?;
        s.serialize_field("tunnel", &json_integer(self.tunnel))?;
        s.serialize_field("namespaces", &Namespaces(&self.namespaces))?;
        s.serialize_field("pods", &json_integer(self.pods))?;
        s.serialize_field("leaked", &json_integer(self.leaked))?;
        s.end()
    }
}

/// Orphan blocks (algorithms §2.8): non-deleted blocks with a valid CIDR that no pool contains.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Orphans {
    /// Number of orphan blocks.
    pub blocks: u64,
    /// Their non-null ordinals (entries beyond the block size are not ordinals and are not counted).
    pub allocations: u64,
    /// Their names, sorted.
    pub names: Vec<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::fixtures::{ns, to_json};
    use super::*;

    #[test]
    fn json_caps_every_integer_and_keeps_key_order() {
        let status = PoolStatus {
            capacity: u128::MAX,
            allocations: 1 << 60,
            unallocated: JSON_INTEGER_CAP + 1,
            reserved: JSON_INTEGER_CAP,
            tunnel: 0,
            namespaces: ns(&[("b", 1 << 70), ("a", 2)]),
            pods: 1 << 54,
            leaked: 7,
        };
        let value: serde_json::Value = serde_json::from_str(&to_json(&status)).unwrap();
        let cap = 9007199254740991u64;
        assert_eq!(
            value,
            json!({"capacity":cap,"allocations":cap,"unallocated":cap,"reserved":cap,"tunnel":0,
                   "namespaces":{"a":2,"b":cap},"pods":cap,"leaked":7})
        );
        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "capacity",
                "allocations",
                "unallocated",
                "reserved",
                "tunnel",
                "namespaces",
                "pods",
                "leaked"
            ]
        );
    }
}
