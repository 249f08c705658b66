//! The `spec` of a `networking.k8s.io/v1` NetworkPolicy as the controller writes it (algorithms §10.5, §11.2).
//!
//! Serialises to exactly the Kubernetes JSON shape: camelCase keys, `podSelector` always present (`{}` when it
//! selects every pod), empty lists and absent values omitted (`egress`/`ingress` only with a rule, a rule's
//! `from`/`to`/`ports` only when non-empty). Only the fields the controller writes are modelled; deserialising a
//! spec that uses any other field (`matchExpressions`, …) fails instead of silently dropping it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The label Kubernetes (≥ 1.21) and the controller (algorithms §12.5) set on every namespace to its name; generated
/// namespace selectors match on it (Q20).
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// The protocol of a port that names none.
pub const DEFAULT_PROTOCOL: &str = "TCP";

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct NetworkPolicySpec {
    /// Always `{}` for generated policies: they apply to every pod of the namespace.
    pub pod_selector: LabelSelector,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<IngressRule>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<EgressRule>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policy_types: Vec<PolicyType>,
}

/// A traffic direction a NetworkPolicy isolates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PolicyType {
    Ingress,
    Egress,
}

/// An equality-only label selector; `{}` (no labels) selects everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct LabelSelector {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
}

impl LabelSelector {
    /// Selects the namespace named `namespace` by [`NAMESPACE_NAME_LABEL`] (algorithms §10.3).
    pub fn namespace(namespace: &str) -> LabelSelector {
        LabelSelector::label(NAMESPACE_NAME_LABEL, namespace)
    }

    /// Selects objects labelled `key: value`.
    pub fn label(key: &str, value: &str) -> LabelSelector {
        LabelSelector {
            match_labels: BTreeMap::from([(key.to_owned(), value.to_owned())]),
        }
    }
}

/// Traffic allowed in: from any of `from` (anywhere when empty) to any of `ports` (all when empty).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct IngressRule {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub from: Vec<Peer>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
}

/// Traffic allowed out: to any of `to` (anywhere when empty) on any of `ports` (all when empty).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct EgressRule {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<Peer>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
}

/// A set of pods or addresses. Kubernetes reads `podSelector` with `namespaceSelector` as "these pods in these
/// namespaces"; `ipBlock` stands alone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Peer {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_block: Option<IpBlock>,
}

impl Peer {
    /// Every pod of the namespaces `selector` selects.
    pub fn namespaces(selector: LabelSelector) -> Peer {
        Peer {
            namespace_selector: Some(selector),
            ..Peer::default()
        }
    }

    /// The addresses of `cidr`.
    pub fn cidr(cidr: String) -> Peer {
        Peer {
            ip_block: Some(IpBlock {
                cidr,
                except: Vec::new(),
            }),
            ..Peer::default()
        }
    }
}

/// A CIDR minus the CIDRs of `except`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct IpBlock {
    pub cidr: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub except: Vec<String>,
}

/// A port, a named port, a port range `port..=end_port`, or every port of `protocol` when `port` is absent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Port {
    /// `TCP`, `UDP` or `SCTP`; always written (Kubernetes would default it to `TCP`).
    pub protocol: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<PortNumber>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_port: Option<i32>,
}

impl Port {
    /// `protocol` port `number`.
    pub fn number(protocol: &str, number: i32) -> Port {
        Port {
            protocol: protocol.to_owned(),
            port: Some(PortNumber::Number(number)),
            end_port: None,
        }
    }
}

/// A port by number or by the name of a container port; JSON `443` or `"http"` (Kubernetes' IntOrString).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PortNumber {
    Number(i32),
    Name(String),
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn empty_parts_are_omitted_and_pod_selector_is_always_present() {
        let spec = NetworkPolicySpec {
            policy_types: vec![PolicyType::Ingress],
            ..NetworkPolicySpec::default()
        };
        assert_eq!(
            serde_json::to_value(&spec).ok(),
            Some(json!({"podSelector": {}, "policyTypes": ["Ingress"]}))
        );
        let rules = NetworkPolicySpec {
            ingress: vec![IngressRule::default()],
            egress: vec![EgressRule::default()],
            policy_types: vec![PolicyType::Egress, PolicyType::Ingress],
            ..NetworkPolicySpec::default()
        };
        assert_eq!(
            serde_json::to_value(&rules).ok(),
            Some(json!({"podSelector": {}, "ingress": [{}], "egress": [{}],
                        "policyTypes": ["Egress", "Ingress"]}))
        );
    }

    #[test]
    fn every_field_in_kubernetes_shape() {
        let spec = NetworkPolicySpec {
            pod_selector: LabelSelector::default(),
            ingress: vec![IngressRule {
                from: vec![
                    Peer {
                        pod_selector: Some(LabelSelector::label("app", "web")),
                        namespace_selector: Some(LabelSelector::namespace("a")),
                        ip_block: None,
                    },
                    Peer {
                        ip_block: Some(IpBlock {
                            cidr: "10.0.0.0/8".to_owned(),
                            except: vec!["10.1.0.0/16".to_owned()],
                        }),
                        ..Peer::default()
                    },
                ],
                ports: vec![
                    Port {
                        protocol: "TCP".to_owned(),
                        port: Some(PortNumber::Number(8000)),
                        end_port: Some(8100),
                    },
                    Port {
                        protocol: "UDP".to_owned(),
                        port: Some(PortNumber::Name("dns".to_owned())),
                        end_port: None,
                    },
                    Port {
                        protocol: "SCTP".to_owned(),
                        port: None,
                        end_port: None,
                    },
                ],
            }],
            egress: vec![EgressRule {
                to: vec![Peer::cidr("fd00::1/128".to_owned())],
                ports: vec![Port::number("TCP", 443)],
            }],
            policy_types: vec![PolicyType::Ingress, PolicyType::Egress],
        };
        let expected = json!({
            "podSelector": {},
            "ingress": [{
                "from": [
                    {"podSelector": {"matchLabels": {"app": "web"}},
                     "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "a"}}},
                    {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}
                ],
                "ports": [
                    {"protocol": "TCP", "port": 8000, "endPort": 8100},
                    {"protocol": "UDP", "port": "dns"},
                    {"protocol": "SCTP"}
                ]
            }],
            "egress": [{"to": [{"ipBlock": {"cidr": "fd00::1/128"}}], "ports": [{"protocol": "TCP", "port": 443}]}],
            "policyTypes": ["Ingress", "Egress"]
        });
        assert_eq!(serde_json::to_value(&spec).ok(), Some(expected.clone()));
        // Kubernetes' JSON reads back into the same value.
        assert_eq!(
            serde_json::from_value::<NetworkPolicySpec>(expected).ok(),
            Some(spec)
        );
    }

    #[test]
    fn unmodelled_fields_do_not_deserialise() {
        for spec in [
            json!({"podSelector": {"matchExpressions": []}}),
            json!({"podSelector": {}, "ingress": [{"from": [{"podSelector": {}, "extra": 1}]}]}),
            json!({"podSelector": {}, "egress": [{"ports": [{"port": 1.5}]}]}),
        ] {
            assert!(serde_json::from_value::<NetworkPolicySpec>(spec).is_err());
        }
        let minimal = serde_json::from_value::<NetworkPolicySpec>(json!({"podSelector": {}}));
        assert_eq!(minimal.ok(), Some(NetworkPolicySpec::default()));
    }
}
