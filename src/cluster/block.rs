//! IPAM blocks as the cache keeps them: what occupancy reads (algorithms §2.4) and nothing else. Each attribute is
//! kept as its class (reserved, tunnel, or the allocated address's namespace and pod); its handle and the rest of
//! `secondary` (`node`, `timestamp`, …: strings per allocated address) are dropped, as are `unallocated` and the
//! block's labels and annotations.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Deserializer};

use super::calico::IPAMBlock;
use super::identifying;
use crate::domain::occupancy::{AttributeInput, BlockInput};

/// A cached IPAM block.
#[derive(Clone, Debug, PartialEq)]
pub struct CachedBlock {
    pub metadata: ObjectMeta,
    /// The block as the occupancy ledger takes it.
    pub input: BlockInput,
}

impl From<IPAMBlock> for CachedBlock {
    fn from(block: IPAMBlock) -> Self {
        let spec = block.spec;
        let attributes = spec
            .attributes
            .into_iter()
            .map(|a| AttributeInput::of(a.handle_id.as_deref(), a.secondary.as_ref()))
            .collect();
        CachedBlock {
            metadata: identifying(block.metadata),
            input: BlockInput {
                cidr: spec.cidr,
                deleted: spec.deleted,
                allocations: spec.allocations,
                attributes,
            },
        }
    }
}

impl<'de> Deserialize<'de> for CachedBlock {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        IPAMBlock::deserialize(deserializer).map(CachedBlock::from)
    }
}

resource_like!([] CachedBlock, IPAMBlock);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_what_occupancy_reads() {
        let block: CachedBlock = serde_json::from_value(json!({
            "apiVersion": "crd.projectcalico.org/v1", "kind": "IPAMBlock",
            "metadata": {"name": "10-0-0-0-26", "labels": {"a": "b"}, "annotations": {"x": "y"}},
            "spec": {"cidr": "10.0.0.0/26", "affinity": "host:n1", "deleted": false, "strictAffinity": false,
                     "allocations": [0, null, 1], "unallocated": [1, 3, 4],
                     "attributes": [
                         {"handle_id": "k8s-pod-network.abc",
                          "secondary": {"namespace": "demo", "pod": "web", "node": "n1", "timestamp": "2026-01-01"}},
                         {"handle_id": "ipip-tunnel-addr-n1", "secondary": {"node": "n1", "type": "ipipTunnelAddress"}}
                     ]}
        }))
        .unwrap();
        assert_eq!(block.metadata.name.as_deref(), Some("10-0-0-0-26"));
        assert!(block.metadata.labels.is_none() && block.metadata.annotations.is_none());
        assert_eq!(block.input.cidr, "10.0.0.0/26");
        assert_eq!(block.input.allocations, [Some(0), None, Some(1)]);
        assert_eq!(
            block.input.attributes,
            [
                AttributeInput::Allocation {
                    namespace: "demo".into(),
                    pod: "web".into()
                },
                AttributeInput::Tunnel
            ]
        );
    }
}
