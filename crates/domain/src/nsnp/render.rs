//! NamespaceNetworkPolicy → the spec of NetworkPolicy `nsnp-<name>` (algorithms §10.1–§10.5).
//!
//! Fixes over KubeSphere: egress rules without peers are kept (Q15), Service peers use the target port (Q16),
//! `policyTypes` is honoured and nothing is rendered when no direction is enforced (Q17, Q30), and namespaces are
//! selected by `kubernetes.io/metadata.name` (Q20). Whether the namespace is isolated (algorithms §10.1) is the
//! caller's business ([`crate::isolation::IsolationMode::is_isolated`]).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::{array, is_set, non_empty};
use crate::isolation::ISOLATION_POLICY_NAME;
use crate::network_policy::{
    DEFAULT_PROTOCOL, EgressRule, IngressRule, IpBlock, LabelSelector, NetworkPolicySpec, Peer,
    PolicyType, Port, PortNumber,
};

/// `nsnp-`: the prefix of a rendered NetworkPolicy's name.
pub const POLICY_NAME_PREFIX: &str = "nsnp-";
/// The longest NSNP name that renders: `nsnp-` plus 248 characters is the 253 a Kubernetes name allows.
pub const MAX_NAME_LEN: usize = 248;

/// A Service by namespace and name, written `<namespace>/<name>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceRef {
    pub namespace: String,
    pub name: String,
}

impl ServiceRef {
    /// Parses `<namespace>/<name>` (both non-empty, one `/`), as in `isolation.dns.services`.
    pub fn parse(text: &str) -> Option<ServiceRef> {
        let (namespace, name) = text.split_once('/')?;
        if namespace.is_empty() || name.is_empty() || name.contains('/') {
            return None;
        }
        Some(ServiceRef {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })
    }
}

impl fmt::Display for ServiceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// What rendering reads of a Service.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceInput {
    /// `spec.selector`; empty when absent.
    pub selector: BTreeMap<String, String>,
    pub ports: Vec<ServicePortInput>,
}

/// One entry of a Service's `spec.ports`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePortInput {
    /// `TCP` when absent.
    pub protocol: Option<String>,
    pub port: i32,
    /// The pods' port, by number or container port name; the rendered port when present (Q16).
    pub target_port: Option<PortNumber>,
}

/// The directions an NSNP enforces (algorithms §10.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Directions {
    pub ingress: bool,
    pub egress: bool,
}

impl Directions {
    /// At least one direction is enforced, so the NSNP renders.
    pub fn any(self) -> bool {
        self.ingress || self.egress
    }
}

/// The outcome of a successful translation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rendered {
    /// The desired `spec` of `nsnp-<name>`.
    Policy(NetworkPolicySpec),
    /// No direction is enforced (algorithms §10.2): no NetworkPolicy (the caller deletes its own) and a Normal
    /// Event `NothingToEnforce`.
    NothingToEnforce,
}

/// Why an NSNP cannot be rendered: the text of the Warning Event `TranslationFailed` (algorithms §10.5). The last
/// rendered NetworkPolicy stays; the NSNP is retried with backoff.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The NSNP's name is longer than [`MAX_NAME_LEN`].
    #[error("name too long")]
    NameTooLong,
    /// The NSNP is named `network-isolate`, so its NetworkPolicy would be the isolation policy.
    #[error("name network-isolate is reserved: {ISOLATION_POLICY_NAME} is the isolation policy")]
    ReservedName,
    /// A peer sets none or several of `ipBlock`, `namespace`, `service`.
    #[error("peer must set exactly one of ipBlock, namespace, service")]
    PeerKinds,
    #[error("service {0} not found")]
    ServiceNotFound(ServiceRef),
    /// The Service selects no pods by label (empty or absent `spec.selector`).
    #[error("service {0} has no selector")]
    ServiceWithoutSelector(ServiceRef),
    /// `spec.<direction>` does not have the NSNP schema's shape (kube-apiserver's schema validation normally
    /// prevents it).
    #[error("invalid spec.{direction}: {reason}")]
    Malformed {
        /// `ingress` or `egress`.
        direction: &'static str,
        reason: String,
    },
}

/// `nsnp-<nsnp name>`.
pub fn policy_name(nsnp_name: &str) -> String {
    format!("{POLICY_NAME_PREFIX}{nsnp_name}")
}

/// The directions an NSNP enforces (algorithms §10.2): those in a non-empty `spec.policyTypes`, else those with
/// at least one rule. So `ingress: []` alone enforces nothing (Q30). Malformed parts count as absent.
pub fn enforced_directions(spec: &Value) -> Directions {
    let policy_types = array(spec.get("policyTypes"));
    if policy_types.is_empty() {
        Directions {
            ingress: non_empty(spec.get("ingress")),
            egress: non_empty(spec.get("egress")),
        }
    } else {
        Directions {
            ingress: policy_types.iter().any(|t| t == "Ingress"),
            egress: policy_types.iter().any(|t| t == "Egress"),
        }
    }
}

/// Translates the NSNP `name` in `namespace` with this `spec` (algorithms §10.2–§10.5); `service` looks a Service
/// up in the cache. Only the enforced directions are read, so a missing Service or a bad peer in a direction that
/// is not enforced does not matter. `policyTypes` lists `Egress` before `Ingress` (KubeSphere's order).
///
/// # Errors
///
/// [`RenderError`]: the name is too long or reserved, a peer sets not exactly one kind, a Service is missing or
/// has no selector, or an enforced direction is malformed.
pub fn render(
    namespace: &str,
    name: &str,
    spec: &Value,
    service: impl Fn(&ServiceRef) -> Option<ServiceInput>,
) -> Result<Rendered, RenderError> {
    if name.chars().count() > MAX_NAME_LEN {
        return Err(RenderError::NameTooLong);
    }
    if policy_name(name) == ISOLATION_POLICY_NAME {
        return Err(RenderError::ReservedName);
    }
    let directions = enforced_directions(spec);
    if !directions.any() {
        return Ok(Rendered::NothingToEnforce);
    }
    let mut policy = NetworkPolicySpec::default();
    if directions.egress {
        for rule in parse_rules::<EgressRuleIn>(spec, "egress")? {
            egress_rules(namespace, rule, &service, &mut policy.egress)?;
        }
        policy.policy_types.push(PolicyType::Egress);
    }
    if directions.ingress {
        for rule in parse_rules::<IngressRuleIn>(spec, "ingress")? {
            policy
                .ingress
                .push(ingress_rule(namespace, rule, &service)?);
        }
        policy.policy_types.push(PolicyType::Ingress);
    }
    Ok(Rendered::Policy(policy))
}

/// The Services the NSNP's `service` peers name, in both directions, in order, without duplicates (a peer's
/// namespace defaults to `namespace`). A change to any of them may change the rendering.
pub fn referenced_services(namespace: &str, spec: &Value) -> Vec<ServiceRef> {
    let mut services = Vec::new();
    for (direction, peers) in [("ingress", "from"), ("egress", "to")] {
        for rule in array(spec.get(direction)) {
            for peer in array(rule.get(peers)) {
                let Some(service) = peer.get("service").filter(|s| is_set(Some(s))) else {
                    continue;
                };
                let Some(name) = service.get("name").and_then(Value::as_str) else {
                    continue;
                };
                let reference = service_ref(
                    namespace,
                    name,
                    service.get("namespace").and_then(Value::as_str),
                );
                if !services.contains(&reference) {
                    services.push(reference);
                }
            }
        }
    }
    services
}

/// The pods behind a Service as a NetworkPolicy peer, and the ports to allow to them (algorithms §10.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ServiceTarget {
    /// `podSelector` = the Service's selector, `namespaceSelector` = its namespace.
    pub(crate) peer: Peer,
    /// One per Service port, in order, duplicates removed: the protocol (default `TCP`) and the `targetPort`, or
    /// the Service `port` when `targetPort` is absent.
    pub(crate) ports: Vec<Port>,
}

impl ServiceTarget {
    /// Looks `reference` up and converts it.
    pub(crate) fn resolve(
        reference: &ServiceRef,
        service: impl Fn(&ServiceRef) -> Option<ServiceInput>,
    ) -> Result<ServiceTarget, RenderError> {
        let found =
            service(reference).ok_or_else(|| RenderError::ServiceNotFound(reference.clone()))?;
        if found.selector.is_empty() {
            return Err(RenderError::ServiceWithoutSelector(reference.clone()));
        }
        let mut ports: Vec<Port> = Vec::new();
        for service_port in found.ports {
            let port = Port {
                protocol: protocol_or_default(service_port.protocol),
                port: Some(
                    service_port
                        .target_port
                        .unwrap_or(PortNumber::Number(service_port.port)),
                ),
                end_port: None,
            };
            if !ports.contains(&port) {
                ports.push(port);
            }
        }
        Ok(ServiceTarget {
            peer: Peer {
                pod_selector: Some(LabelSelector {
                    match_labels: found.selector,
                }),
                namespace_selector: Some(LabelSelector::namespace(&reference.namespace)),
                ip_block: None,
            },
            ports,
        })
    }
}

/// Appends the rules of one NSNP egress rule (algorithms §10.4): one per service peer with the Service's ports,
/// then one with the other peers and the rule's ports, or only `{ports}` when the rule has no peers (Q15).
fn egress_rules(
    namespace: &str,
    rule: EgressRuleIn,
    service: &impl Fn(&ServiceRef) -> Option<ServiceInput>,
    rules: &mut Vec<EgressRule>,
) -> Result<(), RenderError> {
    let ports = convert_ports(rule.ports);
    let had_peers = !rule.to.is_empty();
    let mut others = Vec::new();
    for peer in rule.to {
        match convert_peer(namespace, peer)? {
            ConvertedPeer::Plain(peer) => others.push(peer),
            ConvertedPeer::Service(reference) => {
                let target = ServiceTarget::resolve(&reference, service)?;
                rules.push(EgressRule {
                    to: vec![target.peer],
                    ports: target.ports,
                });
            }
        }
    }
    if !others.is_empty() || !had_peers {
        rules.push(EgressRule { to: others, ports });
    }
    Ok(())
}

/// One NSNP ingress rule as one NetworkPolicy rule with all its peers and ports (algorithms §10.4).
fn ingress_rule(
    namespace: &str,
    rule: IngressRuleIn,
    service: &impl Fn(&ServiceRef) -> Option<ServiceInput>,
) -> Result<IngressRule, RenderError> {
    let mut from = Vec::new();
    for peer in rule.from {
        from.push(match convert_peer(namespace, peer)? {
            ConvertedPeer::Plain(peer) => peer,
            ConvertedPeer::Service(reference) => ServiceTarget::resolve(&reference, service)?.peer,
        });
    }
    Ok(IngressRule {
        from,
        ports: convert_ports(rule.ports),
    })
}

/// A converted peer; Service peers still need their Service.
enum ConvertedPeer {
    Plain(Peer),
    Service(ServiceRef),
}

/// Algorithms §10.3: an `ipBlock` is copied, a `namespace` becomes a namespace selector.
fn convert_peer(namespace: &str, peer: PeerIn) -> Result<ConvertedPeer, RenderError> {
    match (peer.ip_block, peer.namespace, peer.service) {
        (Some(block), None, None) => Ok(ConvertedPeer::Plain(Peer {
            ip_block: Some(IpBlock {
                cidr: block.cidr,
                except: block.except,
            }),
            ..Peer::default()
        })),
        (None, Some(selected), None) => Ok(ConvertedPeer::Plain(Peer::namespaces(
            LabelSelector::namespace(&selected.name),
        ))),
        (None, None, Some(service)) => Ok(ConvertedPeer::Service(service_ref(
            namespace,
            &service.name,
            service.namespace.as_deref(),
        ))),
        _ => Err(RenderError::PeerKinds),
    }
}

/// Algorithms §10.4 port conversion: the protocol defaults to `TCP`; `port` and `endPort` are kept when present.
fn convert_ports(ports: Vec<PortIn>) -> Vec<Port> {
    ports
        .into_iter()
        .map(|p| Port {
            protocol: protocol_or_default(p.protocol),
            port: p.port,
            end_port: p.end_port,
        })
        .collect()
}

/// An absent or empty protocol is `TCP`.
fn protocol_or_default(protocol: Option<String>) -> String {
    protocol
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| DEFAULT_PROTOCOL.to_owned())
}

/// A service peer's Service; an absent or empty namespace is the NSNP's.
fn service_ref(namespace: &str, name: &str, peer_namespace: Option<&str>) -> ServiceRef {
    ServiceRef {
        namespace: peer_namespace
            .filter(|ns| !ns.is_empty())
            .unwrap_or(namespace)
            .to_owned(),
        name: name.to_owned(),
    }
}

/// The rules of `spec.<direction>`; absent or `null` is none.
fn parse_rules<'a, R: Deserialize<'a>>(
    spec: &'a Value,
    direction: &'static str,
) -> Result<Vec<R>, RenderError> {
    nullable(spec.get(direction).unwrap_or(&Value::Null)).map_err(|e: serde_json::Error| {
        RenderError::Malformed {
            direction,
            reason: e.to_string(),
        }
    })
}

/// A list the NSNP schema marks nullable: `null` or absent is empty.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Vec<T>, D::Error> {
    Option::<Vec<T>>::deserialize(deserializer).map(Option::unwrap_or_default)
}

/// `spec.ingress[i]` of an NSNP.
#[derive(Deserialize)]
struct IngressRuleIn {
    #[serde(default, deserialize_with = "nullable")]
    from: Vec<PeerIn>,
    #[serde(default, deserialize_with = "nullable")]
    ports: Vec<PortIn>,
}

/// `spec.egress[i]` of an NSNP.
#[derive(Deserialize)]
struct EgressRuleIn {
    #[serde(default, deserialize_with = "nullable")]
    to: Vec<PeerIn>,
    #[serde(default, deserialize_with = "nullable")]
    ports: Vec<PortIn>,
}

/// An NSNP peer; `null` members count as absent.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PeerIn {
    #[serde(default)]
    ip_block: Option<IpBlockIn>,
    #[serde(default)]
    namespace: Option<NamespacePeerIn>,
    #[serde(default)]
    service: Option<ServicePeerIn>,
}

#[derive(Deserialize)]
struct IpBlockIn {
    cidr: String,
    #[serde(default, deserialize_with = "nullable")]
    except: Vec<String>,
}

#[derive(Deserialize)]
struct NamespacePeerIn {
    name: String,
}

#[derive(Deserialize)]
struct ServicePeerIn {
    name: String,
    #[serde(default)]
    namespace: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PortIn {
    #[serde(default)]
    protocol: Option<String>,
    #[serde(default)]
    port: Option<PortNumber>,
    #[serde(default)]
    end_port: Option<i32>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// F-N's Service `testns/myservice` (`{app: mylbapp}`, TCP 80 → 9376) and case 129's `testns/named`.
    fn services(reference: &ServiceRef) -> Option<ServiceInput> {
        match (reference.namespace.as_str(), reference.name.as_str()) {
            ("testns", "myservice") => Some(ServiceInput {
                selector: BTreeMap::from([("app".to_owned(), "mylbapp".to_owned())]),
                ports: vec![ServicePortInput {
                    protocol: Some("TCP".to_owned()),
                    port: 80,
                    target_port: Some(PortNumber::Number(9376)),
                }],
            }),
            ("testns", "named") => Some(ServiceInput {
                selector: BTreeMap::from([("app".to_owned(), "web".to_owned())]),
                ports: vec![ServicePortInput {
                    protocol: Some("TCP".to_owned()),
                    port: 80,
                    target_port: Some(PortNumber::Name("http".to_owned())),
                }],
            }),
            _ => None,
        }
    }

    /// The rendered `spec` of NSNP `p` in `namespace` as JSON.
    fn rendered(namespace: &str, spec: Value) -> Value {
        match render(namespace, "p", &spec, services) {
            Ok(Rendered::Policy(policy)) => serde_json::to_value(policy).unwrap(),
            other => panic!("expected a policy, got {other:?}"),
        }
    }

    fn error(namespace: &str, spec: Value) -> RenderError {
        match render(namespace, "p", &spec, services) {
            Err(e) => e,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    fn myservice_peer() -> Value {
        json!({"podSelector": {"matchLabels": {"app": "mylbapp"}},
               "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "testns"}}})
    }

    #[test]
    fn case_125_ip_block_ingress() {
        let spec = json!({"ingress": [{"from": [{"ipBlock": {"cidr": "172.0.0.1/16"}}],
                                       "ports": [{"protocol": "TCP", "port": 80}]}]});
        assert_eq!(
            rendered("testns2", spec),
            json!({"podSelector":{},"ingress":[{"from":[{"ipBlock":{"cidr":"172.0.0.1/16"}}],"ports":[{"protocol":"TCP","port":80}]}],"policyTypes":["Ingress"]})
        );
    }

    #[test]
    fn case_126_namespace_peer() {
        let spec = json!({"ingress": [{"from": [{"namespace": {"name": "testns"}}]}]});
        assert_eq!(
            rendered("testns2", spec),
            json!({"podSelector":{},"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"testns"}}}]}],"policyTypes":["Ingress"]})
        );
    }

    #[test]
    fn case_127_service_peer_ingress() {
        let spec = json!({"ingress": [{"from": [{"service": {"name": "myservice", "namespace": "testns"}}]}]});
        assert_eq!(
            rendered("testns2", spec),
            json!({"podSelector": {}, "ingress": [{"from": [myservice_peer()]}], "policyTypes": ["Ingress"]})
        );
    }

    #[test]
    fn case_128_service_peer_egress_uses_target_port() {
        let spec = json!({"egress": [{"to": [{"service": {"name": "myservice", "namespace": "testns"}}]}]});
        assert_eq!(
            rendered("testns2", spec),
            json!({"podSelector": {},
                   "egress": [{"to": [myservice_peer()], "ports": [{"protocol": "TCP", "port": 9376}]}],
                   "policyTypes": ["Egress"]})
        );
    }

    #[test]
    fn case_129_named_target_port_and_absent_target_port() {
        let spec =
            json!({"egress": [{"to": [{"service": {"name": "named", "namespace": "testns"}}]}]});
        assert_eq!(
            rendered("testns2", spec)["egress"],
            json!([{"to": [{"podSelector": {"matchLabels": {"app": "web"}},
                            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "testns"}}}],
                    "ports": [{"protocol": "TCP", "port": "http"}]}])
        );
        let without_target = |_: &ServiceRef| {
            Some(ServiceInput {
                selector: BTreeMap::from([("app".to_owned(), "web".to_owned())]),
                ports: vec![ServicePortInput {
                    protocol: None,
                    port: 8080,
                    target_port: None,
                }],
            })
        };
        let spec = json!({"egress": [{"to": [{"service": {"name": "plain"}}]}]});
        let Ok(Rendered::Policy(policy)) = render("testns", "p", &spec, without_target) else {
            panic!("expected a policy");
        };
        assert_eq!(policy.egress[0].ports, [Port::number("TCP", 8080)]);
    }

    #[test]
    fn case_130_egress_ports_without_peers() {
        // Also the algorithms §10.5 example (KubeSphere dropped this rule, Q15).
        let spec = json!({"egress": [{"ports": [{"protocol": "TCP", "port": 443}]}]});
        assert_eq!(
            rendered("testns2", spec),
            json!({"podSelector":{},"egress":[{"ports":[{"protocol":"TCP","port":443}]}],"policyTypes":["Egress"]})
        );
    }

    #[test]
    fn case_131_empty_egress_rule() {
        assert_eq!(
            rendered("testns2", json!({"egress": [{}]})),
            json!({"podSelector": {}, "egress": [{}], "policyTypes": ["Egress"]})
        );
        // Explicit empty and null lists are the same rule.
        assert_eq!(
            rendered("testns2", json!({"egress": [{"to": [], "ports": null}]})),
            json!({"podSelector": {}, "egress": [{}], "policyTypes": ["Egress"]})
        );
    }

    #[test]
    fn case_132_empty_arrays_deny_nothing() {
        for spec in [
            json!({"ingress": []}),
            json!({"egress": []}),
            json!({"ingress": [], "egress": [], "policyTypes": []}),
            json!({"ingress": null, "policyTypes": null}),
            json!({}),
            json!(null),
        ] {
            assert_eq!(
                render("testns2", "p", &spec, services),
                Ok(Rendered::NothingToEnforce),
                "{spec}"
            );
        }
    }

    #[test]
    fn case_133_explicit_deny_all() {
        assert_eq!(
            rendered("testns2", json!({"policyTypes": ["Ingress"]})),
            json!({"podSelector": {}, "policyTypes": ["Ingress"]})
        );
        assert_eq!(
            rendered(
                "testns2",
                json!({"policyTypes": ["Ingress", "Egress"], "egress": []})
            ),
            json!({"podSelector": {}, "policyTypes": ["Egress", "Ingress"]})
        );
    }

    #[test]
    fn case_134_policy_types_honoured() {
        let spec = json!({"policyTypes": ["Egress"],
                          "ingress": [{"from": [{"namespace": {"name": "x"}}]}],
                          "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]});
        assert_eq!(
            rendered("testns2", spec),
            json!({"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}],
                   "policyTypes": ["Egress"]})
        );
    }

    #[test]
    fn case_135_both_directions_in_kubesphere_order() {
        assert_eq!(
            rendered("testns2", json!({"ingress": [{}], "egress": [{}]})),
            json!({"podSelector": {}, "ingress": [{}], "egress": [{}], "policyTypes": ["Egress", "Ingress"]})
        );
        assert_eq!(
            rendered("testns2", json!({"policyTypes": ["Ingress", "Egress"]}))["policyTypes"],
            json!(["Egress", "Ingress"])
        );
    }

    #[test]
    fn case_136_mixed_egress_rule() {
        let spec = json!({"egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}, {"service": {"name": "myservice"}}],
                                      "ports": [{"protocol": "UDP", "port": 53}]}]});
        assert_eq!(
            rendered("testns", spec)["egress"],
            json!([{"to": [myservice_peer()], "ports": [{"protocol": "TCP", "port": 9376}]},
                   {"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"protocol": "UDP", "port": 53}]}])
        );
    }

    #[test]
    fn case_137_port_range() {
        let spec = json!({"egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}],
                                      "ports": [{"protocol": "TCP", "port": 8000, "endPort": 8100}]}]});
        assert_eq!(
            rendered("testns2", spec)["egress"][0]["ports"],
            json!([{"protocol": "TCP", "port": 8000, "endPort": 8100}])
        );
    }

    #[test]
    fn case_138_missing_service() {
        let spec = json!({"egress": [{"to": [{"service": {"name": "nosvc"}}]}]});
        let e = error("testns", spec.clone());
        assert_eq!(e.to_string(), "service testns/nosvc not found");
        // The controller requeues the NSNP when a Service it references changes …
        let nosvc = ServiceRef::parse("testns/nosvc").unwrap();
        assert_eq!(
            referenced_services("testns", &spec),
            std::slice::from_ref(&nosvc)
        );
        // … and once the Service exists the policy renders.
        let created = |reference: &ServiceRef| {
            (*reference == nosvc).then(|| ServiceInput {
                selector: BTreeMap::from([("app".to_owned(), "x".to_owned())]),
                ports: Vec::new(),
            })
        };
        let Ok(Rendered::Policy(policy)) = render("testns", "p", &spec, created) else {
            panic!("expected a policy");
        };
        assert_eq!(
            serde_json::to_value(policy).unwrap(),
            json!({"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [
                {"podSelector": {"matchLabels": {"app": "x"}},
                 "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "testns"}}}]}]})
        );
    }

    #[test]
    fn service_errors_in_both_directions() {
        let ingress =
            json!({"ingress": [{"from": [{"service": {"name": "nosvc", "namespace": "other"}}]}]});
        assert_eq!(
            error("testns", ingress),
            RenderError::ServiceNotFound(ServiceRef::parse("other/nosvc").unwrap())
        );
        let no_selector = |_: &ServiceRef| {
            Some(ServiceInput {
                selector: BTreeMap::new(),
                ports: Vec::new(),
            })
        };
        let spec = json!({"egress": [{"to": [{"service": {"name": "headless"}}]}]});
        let e = render("testns", "p", &spec, no_selector).unwrap_err();
        assert_eq!(e.to_string(), "service testns/headless has no selector");
        // A Service in a direction that is not enforced is not needed.
        let spec = json!({"policyTypes": ["Egress"], "ingress": [{"from": [{"service": {"name": "nosvc"}}]}]});
        assert_eq!(
            rendered("testns", spec),
            json!({"podSelector": {}, "policyTypes": ["Egress"]})
        );
    }

    #[test]
    fn service_ports_default_protocol_and_drop_duplicates() {
        let dns = |_: &ServiceRef| {
            Some(ServiceInput {
                selector: BTreeMap::from([("k8s-app".to_owned(), "kube-dns".to_owned())]),
                ports: vec![
                    ServicePortInput {
                        protocol: Some("UDP".to_owned()),
                        port: 53,
                        target_port: Some(PortNumber::Number(53)),
                    },
                    ServicePortInput {
                        protocol: None,
                        port: 53,
                        target_port: None,
                    },
                    ServicePortInput {
                        protocol: Some("TCP".to_owned()),
                        port: 5353,
                        target_port: Some(PortNumber::Number(53)),
                    },
                    ServicePortInput {
                        protocol: Some("UDP".to_owned()),
                        port: 54,
                        target_port: Some(PortNumber::Number(53)),
                    },
                    ServicePortInput {
                        protocol: Some(String::new()),
                        port: 9153,
                        target_port: Some(PortNumber::Name("metrics".to_owned())),
                    },
                ],
            })
        };
        let reference = ServiceRef::parse("kube-system/kube-dns").unwrap();
        let target = ServiceTarget::resolve(&reference, dns).unwrap();
        assert_eq!(
            serde_json::to_value(&target.ports).unwrap(),
            json!([{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53},
                   {"protocol": "TCP", "port": "metrics"}])
        );
    }

    #[test]
    fn ports_and_peers_convert_as_written() {
        let spec = json!({"ingress": [{
            "from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}},
                     {"namespace": {"name": "a"}, "ipBlock": null, "service": null},
                     {"service": {"name": "myservice", "namespace": ""}}],
            "ports": [{"port": 80}, {"protocol": "UDP"}, {"protocol": "", "port": "http"},
                      {"protocol": "SCTP", "port": 1, "endPort": 2}, {"protocol": null, "port": null, "endPort": null}]
        }]});
        assert_eq!(
            rendered("testns", spec)["ingress"],
            json!([{
                "from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}},
                         {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "a"}}},
                         myservice_peer()],
                "ports": [{"protocol": "TCP", "port": 80}, {"protocol": "UDP"}, {"protocol": "TCP", "port": "http"},
                          {"protocol": "SCTP", "port": 1, "endPort": 2}, {"protocol": "TCP"}]
            }])
        );
    }

    #[test]
    fn egress_rules_keep_nsnp_rule_order() {
        let spec = json!({"egress": [
            {"to": [{"service": {"name": "myservice"}}, {"service": {"name": "named"}}], "ports": [{"port": 1}]},
            {"to": [{"namespace": {"name": "a"}}, {"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"port": 2}]},
            {}
        ]});
        let egress = rendered("testns", spec)["egress"].clone();
        let summary: Vec<Value> = egress
            .as_array()
            .unwrap()
            .iter()
            .map(|rule| json!([rule["to"].as_array().map(Vec::len), rule["ports"]]))
            .collect();
        assert_eq!(
            summary,
            [
                json!([1, [{"protocol": "TCP", "port": 9376}]]),
                json!([1, [{"protocol": "TCP", "port": "http"}]]),
                json!([2, [{"protocol": "TCP", "port": 2}]]),
                json!([null, null]),
            ]
        );
    }

    #[test]
    fn peers_must_set_exactly_one_kind() {
        for peer in [
            json!({}),
            json!({"namespace": null}),
            json!({"namespace": {"name": "b"}, "ipBlock": {"cidr": "10.0.0.0/8"}}),
            json!({"service": {"name": "myservice"}, "namespace": {"name": "b"}}),
        ] {
            for spec in [
                json!({"egress": [{"to": [peer.clone()]}]}),
                json!({"ingress": [{"from": [peer.clone()]}]}),
            ] {
                let e = error("testns", spec);
                assert_eq!(e, RenderError::PeerKinds);
                assert_eq!(
                    e.to_string(),
                    "peer must set exactly one of ipBlock, namespace, service"
                );
            }
        }
    }

    #[test]
    fn name_longest_and_too_long() {
        let spec = json!({"ingress": [{}]});
        let longest = "n".repeat(MAX_NAME_LEN);
        assert!(matches!(
            render("testns", &longest, &spec, services),
            Ok(Rendered::Policy(_))
        ));
        assert_eq!(policy_name(&longest).len(), 253);
        let too_long = "n".repeat(MAX_NAME_LEN + 1);
        let e = render("testns", &too_long, &spec, services).unwrap_err();
        assert_eq!(e.to_string(), "name too long");
        // Also when there is nothing to enforce.
        let e = render("testns", &too_long, &json!({}), services).unwrap_err();
        assert_eq!(e, RenderError::NameTooLong);
    }

    #[test]
    fn the_isolation_policy_name_is_reserved() {
        let e = render(
            "testns",
            "network-isolate",
            &json!({"ingress": [{}]}),
            services,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "name network-isolate is reserved: nsnp-network-isolate is the isolation policy"
        );
        assert_eq!(policy_name("p"), "nsnp-p");
    }

    #[test]
    fn malformed_enforced_directions_fail_and_others_are_ignored() {
        for (spec, direction) in [
            (json!({"egress": [{"ports": [{"port": 1.5}]}]}), "egress"),
            (json!({"egress": [{"to": [{"ipBlock": {}}]}]}), "egress"),
            (json!({"egress": [{"to": {}}]}), "egress"),
            (json!({"egress": [null]}), "egress"),
            (
                json!({"ingress": [{"from": [{"namespace": {"name": 5}}]}]}),
                "ingress",
            ),
            (
                json!({"ingress": [{"ports": [{"endPort": "9"}]}]}),
                "ingress",
            ),
            (
                json!({"policyTypes": ["Ingress"], "ingress": "x"}),
                "ingress",
            ),
        ] {
            let e = error("testns", spec.clone());
            assert!(
                matches!(&e, RenderError::Malformed { direction: d, .. } if *d == direction),
                "{spec}: {e:?}"
            );
            assert!(
                e.to_string()
                    .starts_with(&format!("invalid spec.{direction}: "))
            );
        }
        let spec = json!({"policyTypes": ["Ingress"], "ingress": [{}], "egress": [{"to": "x"}]});
        assert_eq!(
            rendered("testns", spec),
            json!({"podSelector": {}, "ingress": [{}], "policyTypes": ["Ingress"]})
        );
    }

    #[test]
    fn enforced_directions_follow_policy_types_else_rules() {
        let d = |ingress, egress| Directions { ingress, egress };
        for (spec, expected) in [
            (json!({}), d(false, false)),
            (json!({"ingress": []}), d(false, false)),
            (json!({"ingress": [{}]}), d(true, false)),
            (json!({"egress": [{}]}), d(false, true)),
            (json!({"ingress": [{}], "egress": [{}]}), d(true, true)),
            (json!({"policyTypes": ["Ingress"]}), d(true, false)),
            (
                json!({"policyTypes": ["Egress"], "ingress": [{}]}),
                d(false, true),
            ),
            (json!({"policyTypes": ["Egress", "Ingress"]}), d(true, true)),
            (json!({"policyTypes": ["ingress"]}), d(false, false)),
            (json!({"policyTypes": [], "egress": [{}]}), d(false, true)),
            (
                json!({"policyTypes": "Ingress", "egress": [{}]}),
                d(false, true),
            ),
            (json!({"ingress": {"from": []}}), d(false, false)),
            (json!([1]), d(false, false)),
        ] {
            assert_eq!(enforced_directions(&spec), expected, "{spec}");
            assert_eq!(enforced_directions(&spec).any(), expected.any());
        }
    }

    #[test]
    fn referenced_services_in_order_without_duplicates() {
        let spec = json!({
            "ingress": [{"from": [{"service": {"name": "a"}}, {"namespace": {"name": "x"}},
                                  {"service": {"name": "b", "namespace": "other"}}]}],
            "egress": [{"to": [{"service": {"name": "a", "namespace": "testns"}},
                               {"service": {"name": "c", "namespace": null}},
                               {"service": null}, {"service": {"name": 1}}, "x"]},
                       {"to": null}, 3]
        });
        let names: Vec<String> = referenced_services("testns", &spec)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(names, ["testns/a", "other/b", "testns/c"]);
        assert!(referenced_services("testns", &json!(null)).is_empty());
    }

    #[test]
    fn service_refs_parse_namespace_slash_name() {
        assert_eq!(
            ServiceRef::parse("kube-system/kube-dns"),
            Some(ServiceRef {
                namespace: "kube-system".to_owned(),
                name: "kube-dns".to_owned()
            })
        );
        for bad in ["kube-dns", "/kube-dns", "kube-system/", "a/b/c", ""] {
            assert_eq!(ServiceRef::parse(bad), None, "{bad}");
        }
    }
}
