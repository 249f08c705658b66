//! Calico `crd.projectcalico.org/v1` custom resources, as Calico stores them through the Kubernetes API.
//!
//! Only IPPool and IPAMBlock are read by the product; the others exist so that test and demo clusters get
//! the same CRDs a Calico installation has. The product never writes any of them (api §0.4).

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::cidr::{Cidr, Family};
use crate::domain::pool::default_allowed_uses;

/// A Calico IP pool. Fields not modelled here are kept in `other`, so responses show them as stored.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[kube(
    group = "crd.projectcalico.org",
    version = "v1",
    kind = "IPPool",
    plural = "ippools",
    singular = "ippool",
    status = "StoredStatus",
    crates(kube_core = "kube::core")
)]
#[serde(rename_all = "camelCase")]
pub struct IPPoolSpec {
    /// IPv4 or IPv6; the pool's family follows from it.
    pub cidr: String,
    /// Block prefix length (26 for IPv4 and 122 for IPv6 when absent or 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_size: Option<i32>,
    /// `Never`, `Always` or `CrossSubnet`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipip_mode: Option<String>,
    /// `Never`, `Always` or `CrossSubnet`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vxlan_mode: Option<String>,
    /// Masquerade traffic leaving the pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat_outgoing: Option<bool>,
    /// Calico selector of the nodes that may allocate from the pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<String>,
    /// `Workload`, `Tunnel`, `LoadBalancer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_uses: Option<Vec<String>>,
    /// A disabled pool hands out no new addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// Do not export the pool's routes over BGP.
    #[serde(
        default,
        rename = "disableBGPExport",
        skip_serializing_if = "Option::is_none"
    )]
    pub disable_bgp_export: Option<bool>,
    /// `Automatic` or `Manual` (Calico ≥ 3.29).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment_mode: Option<String>,
    /// Calico selector of the namespaces that may use the pool (Calico ≥ 3.29).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<String>,
    /// Legacy IPIP settings (Calico v1 data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipip: Option<LegacyIpip>,
    /// Legacy `nat-outgoing` (Calico v1 data).
    #[serde(
        default,
        rename = "nat-outgoing",
        skip_serializing_if = "Option::is_none"
    )]
    pub legacy_nat_outgoing: Option<bool>,
    /// Fields of newer Calico versions, kept as stored.
    #[serde(flatten)]
    #[schemars(skip)]
    pub other: BTreeMap<String, serde_json::Value>,
}

impl IPPoolSpec {
    /// The spec as Calico reads it (algorithms §1.2): absent fields get Calico's defaults, legacy v1 fields map
    /// to their successors, and every stored field stays.
    pub fn with_read_defaults(&self) -> IPPoolSpec {
        let mut spec = self.clone();
        if spec.block_size.is_none_or(|size| size == 0) {
            let v6 = Cidr::parse(&spec.cidr).is_some_and(|c| c.family() == Family::V6);
            spec.block_size = Some(if v6 { 122 } else { 26 });
        }
        if is_absent(&spec.ipip_mode) {
            let legacy = spec.ipip.as_ref().filter(|i| i.enabled == Some(true));
            let mode = match legacy.and_then(|i| i.mode.as_deref()) {
                Some("cross-subnet") => "CrossSubnet",
                _ if legacy.is_some() => "Always",
                _ => "Never",
            };
            spec.ipip_mode = Some(mode.to_owned());
        }
        if is_absent(&spec.vxlan_mode) {
            spec.vxlan_mode = Some("Never".to_owned());
        }
        if spec.nat_outgoing.is_none() && spec.legacy_nat_outgoing == Some(true) {
            spec.nat_outgoing = Some(true);
        }
        if is_absent(&spec.node_selector) {
            spec.node_selector = Some("all()".to_owned());
        }
        if spec.allowed_uses.as_ref().is_none_or(Vec::is_empty) {
            spec.allowed_uses = Some(default_allowed_uses());
        }
        spec
    }
}

fn is_absent(value: &Option<String>) -> bool {
    value.as_deref().is_none_or(str::is_empty)
}

/// A `status` as Calico stored it (Calico ≥ 3.32 writes `conditions`); kept and shown unchanged.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct StoredStatus(pub serde_json::Map<String, serde_json::Value>);

impl JsonSchema for StoredStatus {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "StoredStatus".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
    }
}

/// Legacy `spec.ipip` of a Calico v1 pool.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct LegacyIpip {
    /// With `ipipMode` absent, `true` reads as `Always` (`CrossSubnet` with `mode: cross-subnet`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// `always` or `cross-subnet`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// A Calico IPAM block: the allocation state of one block of addresses of a pool.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[kube(
    group = "crd.projectcalico.org",
    version = "v1",
    kind = "IPAMBlock",
    plural = "ipamblocks",
    singular = "ipamblock",
    crates(kube_core = "kube::core")
)]
#[serde(rename_all = "camelCase")]
pub struct IPAMBlockSpec {
    /// A subnet of one pool's CIDR, with the pool's `blockSize` as prefix length.
    pub cidr: String,
    /// `host:<node>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<String>,
    /// One entry per ordinal: `null` is free, an integer indexes `attributes`.
    #[serde(default)]
    #[schemars(schema_with = "nullable_integers")]
    pub allocations: Vec<Option<i64>>,
    /// Free ordinals (not used for counting).
    #[serde(default)]
    pub unallocated: Vec<i64>,
    /// Allocation attributes shared by ordinals.
    #[serde(default)]
    pub attributes: Vec<AllocationAttribute>,
    /// Whether only the affine host may allocate.
    #[serde(default)]
    pub strict_affinity: bool,
    /// The block is being removed: ignore it.
    #[serde(default)]
    pub deleted: bool,
    /// Calico's write sequence (exceeds 2^53; never read as a float).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<u64>,
}

/// One entry of `IPAMBlock.spec.attributes`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct AllocationAttribute {
    /// `k8s-pod-network.<id>`, `ipip-tunnel-addr-<node>`, `windows-reserved-ipam-handle`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle_id: Option<String>,
    /// Pods: `namespace`, `pod`, `node`, `timestamp`; tunnels: `node`, `type`. May be null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary: Option<BTreeMap<String, String>>,
}

fn nullable_integers(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "items": {"type": "integer", "nullable": true}
    })
}

/// Calico block affinity (not read; for test and demo clusters).
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[kube(
    group = "crd.projectcalico.org",
    version = "v1",
    kind = "BlockAffinity",
    plural = "blockaffinities",
    singular = "blockaffinity",
    crates(kube_core = "kube::core")
)]
#[serde(rename_all = "camelCase")]
pub struct BlockAffinitySpec {
    /// CIDR of the IPAM block affine to `node`.
    pub cidr: String,
    pub node: String,
    /// `confirmed`, `pending`, `pendingDeletion`.
    pub state: String,
    /// `"true"` while being deleted (a string in Calico's schema).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<String>,
}

/// Calico IPAM handle (not read; for test and demo clusters).
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[kube(
    group = "crd.projectcalico.org",
    version = "v1",
    kind = "IPAMHandle",
    plural = "ipamhandles",
    singular = "ipamhandle",
    crates(kube_core = "kube::core")
)]
#[serde(rename_all = "camelCase")]
pub struct IPAMHandleSpec {
    /// Same as `handle_id` in the attributes of the IPAM blocks holding its addresses.
    #[serde(rename = "handleID")]
    pub handle_id: String,
    /// Addresses held per block.
    #[serde(default)]
    pub block: BTreeMap<String, i64>,
    #[serde(default)]
    pub deleted: bool,
}

/// Calico IP reservation (not read; for test and demo clusters).
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[kube(
    group = "crd.projectcalico.org",
    version = "v1",
    kind = "IPReservation",
    plural = "ipreservations",
    singular = "ipreservation",
    crates(kube_core = "kube::core")
)]
#[serde(rename_all = "camelCase")]
pub struct IPReservationSpec {
    /// Reserved CIDRs or addresses.
    #[serde(default, rename = "reservedCIDRs")]
    pub reserved_cidrs: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn defaulted(spec: Value) -> Value {
        let spec: IPPoolSpec = serde_json::from_value(spec).unwrap();
        serde_json::to_value(spec.with_read_defaults()).unwrap()
    }

    #[test]
    fn bare_pool_gets_calicos_read_defaults() {
        assert_eq!(
            defaulted(json!({"cidr":"10.120.0.0/16"})),
            json!({"cidr":"10.120.0.0/16","blockSize":26,"ipipMode":"Never","vxlanMode":"Never",
                   "nodeSelector":"all()","allowedUses":["Workload","Tunnel"]})
        );
    }

    #[test]
    fn ipv6_blocks_default_to_122_also_when_zero() {
        assert_eq!(
            defaulted(json!({"cidr":"fd00::/64","blockSize":0}))["blockSize"],
            122
        );
    }

    #[test]
    fn legacy_fields_map_to_the_new_ones_and_stay() {
        let spec = defaulted(
            json!({"cidr":"10.130.0.0/16","ipip":{"enabled":true,"mode":"cross-subnet"},"nat-outgoing":true}),
        );
        assert_eq!(spec["ipipMode"], "CrossSubnet");
        assert_eq!(spec["natOutgoing"], true);
        assert_eq!(spec["ipip"], json!({"enabled":true,"mode":"cross-subnet"}));
        assert_eq!(spec["nat-outgoing"], true);
        assert_eq!(
            defaulted(json!({"cidr":"10.0.0.0/8","ipip":{"enabled":true}}))["ipipMode"],
            "Always"
        );
        assert_eq!(
            defaulted(json!({"cidr":"10.0.0.0/8","ipip":{"enabled":false,"mode":"always"}}))["ipipMode"],
            "Never"
        );
    }

    #[test]
    fn stored_values_win_and_unknown_fields_stay() {
        let spec = defaulted(
            json!({"cidr":"10.0.0.0/8","ipipMode":"Always","allowedUses":["Tunnel"],"nodeSelector":"a == 'b'",
                   "futureField":{"x":1}}),
        );
        assert_eq!(spec["ipipMode"], "Always");
        assert_eq!(spec["allowedUses"], json!(["Tunnel"]));
        assert_eq!(spec["nodeSelector"], "a == 'b'");
        assert_eq!(spec["futureField"], json!({"x":1}));
        assert_eq!(
            defaulted(json!({"cidr":"10.0.0.0/8","allowedUses":[]}))["allowedUses"],
            json!(["Workload", "Tunnel"])
        );
        assert_eq!(
            defaulted(json!({"cidr":"10.0.0.0/8","ipipMode":""}))["ipipMode"],
            "Never"
        );
    }
}
