//! Namespace isolation: the mode of a namespace (algorithms §11.1) and the desired spec of its isolation policy
//! `nsnp-network-isolate` (algorithms §11.2), plus the namespace name label (algorithms §12.5).
//!
//! Fixes over KubeSphere: only the annotation `kubesphere.io/network-isolate: enabled` counts, on namespaces and
//! workspaces (Q23); the DNS allowance is configurable and computed from the current NSNPs (Q18, Q22); selectors
//! use `kubernetes.io/metadata.name` (Q20).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use crate::cidr::Cidr;
use crate::network_policy::{
    EgressRule, IngressRule, LabelSelector, NAMESPACE_NAME_LABEL, NetworkPolicySpec, Peer,
    PolicyType, Port,
};
use crate::nsnp::{ServiceInput, ServiceRef, ServiceTarget};

/// The name of the isolation policy in every isolated namespace.
pub const ISOLATION_POLICY_NAME: &str = "nsnp-network-isolate";
/// Label of the isolation policy: the mode that produced it, [`isolation_label_value`].
pub const ISOLATION_LABEL: &str = "network.kubesphere.io/isolation";
/// Annotation on Namespaces and Workspaces that turns isolation on when exactly [`ISOLATE_ENABLED`].
pub const NETWORK_ISOLATE_ANNOTATION: &str = "kubesphere.io/network-isolate";
/// The one value of [`NETWORK_ISOLATE_ANNOTATION`] that means on (case-sensitive).
pub const ISOLATE_ENABLED: &str = "enabled";
/// Namespace label naming its workspace; also what workspace-mode policies select.
pub const WORKSPACE_LABEL: &str = "kubesphere.io/workspace";
/// Node annotation: the node's SNAT addresses, `;`-separated, allowed in by every isolation policy.
pub const SNAT_NODE_IPS_ANNOTATION: &str = "kubesphere.io/snat-node-ips";

/// The port of the DNS allowance to node-local DNS addresses.
const DNS_PORT: i32 = 53;

/// How a namespace is isolated (algorithms §11.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IsolationMode {
    /// Not isolated: no isolation policy and no NSNP renders.
    None,
    /// Its own annotation is on; traffic from its own pods is allowed in.
    Namespace,
    /// The workspace named here is isolated; traffic from the workspace's namespaces is allowed in.
    Workspace(String),
}

impl IsolationMode {
    /// Namespace or workspace mode: the isolation policy exists and NSNPs render (algorithms §10.1).
    pub fn is_isolated(&self) -> bool {
        !matches!(self, IsolationMode::None)
    }
}

/// [`NETWORK_ISOLATE_ANNOTATION`] is exactly [`ISOLATE_ENABLED`] in these annotations (of a Namespace or a
/// Workspace).
pub fn isolation_enabled(annotations: &BTreeMap<String, String>) -> bool {
    annotations
        .get(NETWORK_ISOLATE_ANNOTATION)
        .is_some_and(|value| value == ISOLATE_ENABLED)
}

/// The mode of a namespace (algorithms §11.1): namespace mode when its annotation is on, else workspace mode when
/// its [`WORKSPACE_LABEL`] names a workspace for which `workspace_isolated` holds (the Workspace exists and
/// [`isolation_enabled`] on its annotations), else none. No other key is read.
pub fn isolation_mode(
    namespace_annotations: &BTreeMap<String, String>,
    namespace_labels: &BTreeMap<String, String>,
    workspace_isolated: impl Fn(&str) -> bool,
) -> IsolationMode {
    if isolation_enabled(namespace_annotations) {
        return IsolationMode::Namespace;
    }
    match namespace_labels.get(WORKSPACE_LABEL) {
        Some(workspace) if !workspace.is_empty() && workspace_isolated(workspace) => {
            IsolationMode::Workspace(workspace.clone())
        }
        _ => IsolationMode::None,
    }
}

/// The value of [`ISOLATION_LABEL`]: `namespace` or `workspace`; none when not isolated.
pub fn isolation_label_value(mode: &IsolationMode) -> Option<&'static str> {
    match mode {
        IsolationMode::None => None,
        IsolationMode::Namespace => Some("namespace"),
        IsolationMode::Workspace(_) => Some("workspace"),
    }
}

/// The `isolation.*` configuration (algorithms §12.6); [`Default`] is the documented defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IsolationSettings {
    /// Namespaces whose pods may always come in (e.g. monitoring).
    pub allowed_ingress_namespaces: Vec<String>,
    /// Whether isolation policies allow DNS out when some NSNP enforces egress.
    pub dns_enabled: bool,
    /// Node-local DNS cache addresses, allowed out on TCP and UDP 53.
    pub node_local_dns_ips: Vec<IpAddr>,
    /// DNS Services in order of preference; the first that exists with a selector is allowed out.
    pub dns_services: Vec<ServiceRef>,
}

impl Default for IsolationSettings {
    /// KubeSphere's hard-coded values (Q22): `169.254.25.10`, `kube-system/kube-dns` then `kube-system/coredns`.
    fn default() -> IsolationSettings {
        let kube_system = |name: &str| ServiceRef {
            namespace: "kube-system".to_owned(),
            name: name.to_owned(),
        };
        IsolationSettings {
            allowed_ingress_namespaces: Vec::new(),
            dns_enabled: true,
            node_local_dns_ips: vec![IpAddr::V4(Ipv4Addr::new(169, 254, 25, 10))],
            dns_services: vec![kube_system("kube-dns"), kube_system("coredns")],
        }
    }
}

/// The SNAT addresses of all nodes from their [`SNAT_NODE_IPS_ANNOTATION`] values (algorithms §11.2): split on
/// `;`, trimmed, empty entries dropped, sorted as strings, deduplicated; entries that are not IP addresses are
/// skipped. Each is a single-address CIDR (`/32` or `/128`), written canonically (`FD00::1` → `fd00::1/128`).
pub fn snat_addresses<'a>(node_annotation_values: impl IntoIterator<Item = &'a str>) -> Vec<Cidr> {
    let mut entries: Vec<&str> = node_annotation_values
        .into_iter()
        .flat_map(|value| value.split(';'))
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .collect();
    entries.sort_unstable();
    let mut addresses = Vec::new();
    for address in entries.into_iter().filter_map(Cidr::parse_address) {
        if !addresses.contains(&address) {
            addresses.push(address);
        }
    }
    addresses
}

/// The desired isolation policy of an isolated namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IsolationPolicy {
    /// The `spec` of [`ISOLATION_POLICY_NAME`].
    pub spec: NetworkPolicySpec,
    /// DNS was to be allowed but none of the DNS Services exists with a selector: Warning Event
    /// `DNSServiceNotFound` on the namespace.
    pub dns_service_missing: bool,
}

/// The isolation policy of `namespace` (algorithms §11.2), or none when `mode` is [`IsolationMode::None`].
///
/// Ingress: from the namespace (namespace mode) or its workspace (workspace mode), from each allowed namespace,
/// and — as a second rule — from the SNAT addresses `snat` ([`snat_addresses`]). When DNS is enabled and
/// `egress_enforced_by_some_nsnp` (some NSNP of the namespace enforces egress, [`crate::nsnp::enforced_directions`]),
/// egress to the node-local DNS addresses on TCP and UDP 53 and to the first DNS Service found by `service`;
/// `policyTypes` is then `["Ingress","Egress"]`.
pub fn isolation_policy(
    namespace: &str,
    mode: &IsolationMode,
    settings: &IsolationSettings,
    snat: &[Cidr],
    egress_enforced_by_some_nsnp: bool,
    service: impl Fn(&ServiceRef) -> Option<ServiceInput>,
) -> Option<IsolationPolicy> {
    let own = match mode {
        IsolationMode::None => return None,
        IsolationMode::Namespace => LabelSelector::namespace(namespace),
        IsolationMode::Workspace(workspace) => LabelSelector::label(WORKSPACE_LABEL, workspace),
    };
    let mut from = vec![Peer::namespaces(own)];
    from.extend(
        settings
            .allowed_ingress_namespaces
            .iter()
            .map(|allowed| Peer::namespaces(LabelSelector::namespace(allowed))),
    );
    let mut spec = NetworkPolicySpec {
        ingress: vec![IngressRule {
            from,
            ports: Vec::new(),
        }],
        policy_types: vec![PolicyType::Ingress],
        ..NetworkPolicySpec::default()
    };
    if !snat.is_empty() {
        spec.ingress.push(IngressRule {
            from: snat.iter().map(|a| Peer::cidr(a.to_string())).collect(),
            ports: Vec::new(),
        });
    }
    let mut dns_service_missing = false;
    if settings.dns_enabled && egress_enforced_by_some_nsnp {
        if !settings.node_local_dns_ips.is_empty() {
            spec.egress.push(EgressRule {
                to: settings
                    .node_local_dns_ips
                    .iter()
                    .map(|ip| Peer::cidr(Cidr::of_address(*ip).to_string()))
                    .collect(),
                ports: vec![Port::number("TCP", DNS_PORT), Port::number("UDP", DNS_PORT)],
            });
        }
        let dns = settings
            .dns_services
            .iter()
            .find_map(|reference| ServiceTarget::resolve(reference, &service).ok());
        match dns {
            Some(target) => spec.egress.push(EgressRule {
                to: vec![target.peer],
                ports: target.ports,
            }),
            None => dns_service_missing = true,
        }
        spec.policy_types.push(PolicyType::Egress);
    }
    Some(IsolationPolicy {
        spec,
        dns_service_missing,
    })
}

/// The namespace lacks label [`NAMESPACE_NAME_LABEL`] or it differs from `namespace` (its name): the controller
/// sets it (algorithms §12.5), since generated selectors depend on it.
pub fn name_label_missing(namespace: &str, labels: &BTreeMap<String, String>) -> bool {
    labels.get(NAMESPACE_NAME_LABEL).map(String::as_str) != Some(namespace)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::fixtures::map;
    use crate::network_policy::PortNumber;
    use crate::nsnp::{ServicePortInput, enforced_directions};

    fn no_services(_: &ServiceRef) -> Option<ServiceInput> {
        None
    }

    /// A Service with this selector and `(protocol, port, targetPort)` ports.
    fn service(selector: &[(&str, &str)], ports: &[(&str, i32, i32)]) -> ServiceInput {
        ServiceInput {
            selector: map(selector),
            ports: ports
                .iter()
                .map(|(protocol, port, target)| ServicePortInput {
                    protocol: Some((*protocol).to_owned()),
                    port: *port,
                    target_port: Some(PortNumber::Number(*target)),
                })
                .collect(),
        }
    }

    /// Case 148's `kube-system/kube-dns`.
    fn kube_dns() -> ServiceInput {
        service(
            &[("k8s-app", "kube-dns")],
            &[("UDP", 53, 53), ("TCP", 53, 53), ("TCP", 9153, 9153)],
        )
    }

    /// A lookup finding exactly these Services.
    fn cluster(
        services: Vec<(&'static str, ServiceInput)>,
    ) -> impl Fn(&ServiceRef) -> Option<ServiceInput> {
        move |reference| {
            services
                .iter()
                .find(|(name, _)| *name == reference.to_string())
                .map(|(_, found)| found.clone())
        }
    }

    /// The isolation policy's spec as JSON.
    fn spec_json(policy: &IsolationPolicy) -> Value {
        serde_json::to_value(&policy.spec).unwrap()
    }

    /// The policy of `iso1` in namespace mode, no SNAT, with an NSNP enforcing egress.
    fn iso1_with_egress(
        settings: &IsolationSettings,
        service: impl Fn(&ServiceRef) -> Option<ServiceInput>,
    ) -> IsolationPolicy {
        isolation_policy(
            "iso1",
            &IsolationMode::Namespace,
            settings,
            &[],
            true,
            service,
        )
        .unwrap()
    }

    fn never(_: &str) -> bool {
        false
    }

    #[test]
    fn case_141_the_namespace_annotation_decides() {
        let none = BTreeMap::new();
        assert_eq!(isolation_mode(&none, &none, never), IsolationMode::None);
        let other = map(&[("owner", "me")]);
        assert_eq!(isolation_mode(&other, &none, never), IsolationMode::None);
        let on = map(&[
            ("owner", "me"),
            ("kubesphere.io/network-isolate", "enabled"),
        ]);
        assert_eq!(isolation_mode(&on, &none, never), IsolationMode::Namespace);
        assert!(
            isolation_policy(
                "ns",
                &IsolationMode::None,
                &IsolationSettings::default(),
                &[],
                true,
                no_services
            )
            .is_none()
        );
    }

    #[test]
    fn case_142_namespace_mode_needs_no_workspace() {
        let annotations = map(&[("kubesphere.io/network-isolate", "enabled")]);
        let mode = isolation_mode(&annotations, &BTreeMap::new(), |_| {
            panic!("no workspace is read")
        });
        assert_eq!(isolation_label_value(&mode), Some("namespace"));
        let policy = isolation_policy(
            "iso1",
            &mode,
            &IsolationSettings::default(),
            &[],
            false,
            no_services,
        )
        .unwrap();
        assert_eq!(
            spec_json(&policy),
            json!({"podSelector":{},"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"iso1"}}}]}],"policyTypes":["Ingress"]})
        );
        assert!(!policy.dns_service_missing);
    }

    #[test]
    fn case_143_worked_examples() {
        let settings = IsolationSettings {
            allowed_ingress_namespaces: vec!["kubesphere-monitoring-system".to_owned()],
            ..IsolationSettings::default()
        };
        let workspaces = |ws: &str| ws == "testworkspace";
        let labels = map(&[("kubesphere.io/workspace", "testworkspace")]);
        let mode = isolation_mode(&BTreeMap::new(), &labels, workspaces);
        assert_eq!(mode, IsolationMode::Workspace("testworkspace".to_owned()));
        assert_eq!(isolation_label_value(&mode), Some("workspace"));
        let policy = isolation_policy("testns", &mode, &settings, &[], false, no_services).unwrap();
        assert_eq!(
            spec_json(&policy),
            json!({"podSelector":{},"policyTypes":["Ingress"],
                   "ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"kubesphere.io/workspace":"testworkspace"}}},
                                       {"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"kubesphere-monitoring-system"}}}]}]})
        );

        let annotated = map(&[("kubesphere.io/network-isolate", "enabled")]);
        let mode = isolation_mode(&annotated, &labels, workspaces);
        assert_eq!(isolation_label_value(&mode), Some("namespace"));
        let policy = isolation_policy("testns", &mode, &settings, &[], false, no_services).unwrap();
        assert_eq!(
            spec_json(&policy)["ingress"][0]["from"],
            json!([{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"testns"}}},
                   {"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"kubesphere-monitoring-system"}}}])
        );
    }

    #[test]
    fn case_144_workspace_flag_is_the_annotation() {
        // Workspace `w` with `spec.networkIsolation: true` and no annotation: the caller's lookup sees only its
        // annotations, which are empty.
        let labels = map(&[("kubesphere.io/workspace", "w")]);
        let without = |ws: &str| ws == "w" && isolation_enabled(&BTreeMap::new());
        assert_eq!(
            isolation_mode(&BTreeMap::new(), &labels, without),
            IsolationMode::None
        );
        let annotated = map(&[("kubesphere.io/network-isolate", "enabled")]);
        let with = |ws: &str| ws == "w" && isolation_enabled(&annotated);
        assert_eq!(
            isolation_mode(&BTreeMap::new(), &labels, with),
            IsolationMode::Workspace("w".to_owned())
        );
    }

    #[test]
    fn case_145_isolation_off_renders_nothing() {
        let off = map(&[("kubesphere.io/network-isolate", "")]);
        let mode = isolation_mode(&off, &BTreeMap::new(), never);
        assert_eq!(mode, IsolationMode::None);
        assert!(!mode.is_isolated());
        assert_eq!(isolation_label_value(&mode), None);
        let settings = IsolationSettings::default();
        assert!(isolation_policy("iso1", &mode, &settings, &[], true, no_services).is_none());
        // Back on: the same policy as before.
        let on = map(&[("kubesphere.io/network-isolate", "enabled")]);
        let mode = isolation_mode(&on, &BTreeMap::new(), never);
        assert!(mode.is_isolated());
        assert_eq!(
            isolation_policy("iso1", &mode, &settings, &[], false, no_services),
            isolation_policy(
                "iso1",
                &IsolationMode::Namespace,
                &settings,
                &[],
                false,
                no_services
            )
        );
    }

    #[test]
    fn case_146_only_the_exact_value_counts() {
        for value in ["disabled", "Enabled", "true", "", " enabled", "enabled "] {
            let annotations = map(&[("kubesphere.io/network-isolate", value)]);
            assert!(!isolation_enabled(&annotations), "{value:?}");
            assert_eq!(
                isolation_mode(&annotations, &BTreeMap::new(), never),
                IsolationMode::None
            );
        }
        let typo = map(&[("kubesphere.io/workspace-isolate", "enabled")]);
        assert_eq!(
            isolation_mode(&typo, &BTreeMap::new(), |_| true),
            IsolationMode::None
        );
        // The workspace flag is the same annotation with the same rule.
        let labels = map(&[("kubesphere.io/workspace", "w")]);
        let workspace = map(&[("kubesphere.io/network-isolate", "Enabled")]);
        assert_eq!(
            isolation_mode(&BTreeMap::new(), &labels, |_| isolation_enabled(&workspace)),
            IsolationMode::None
        );
    }

    #[test]
    fn case_147_workspace_isolation_renders_nsnps() {
        let labels = map(&[("kubesphere.io/workspace", "testworkspace")]);
        let mode = isolation_mode(&BTreeMap::new(), &labels, |ws| ws == "testworkspace");
        assert!(mode.is_isolated());
    }

    #[test]
    fn case_148_dns_egress_allowance() {
        let nsnp = json!({"egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]});
        let egress_enforced = enforced_directions(&nsnp).egress;
        assert!(egress_enforced);
        let settings = IsolationSettings::default();
        let dns = cluster(vec![("kube-system/kube-dns", kube_dns())]);
        let policy = isolation_policy(
            "iso1",
            &IsolationMode::Namespace,
            &settings,
            &[],
            egress_enforced,
            &dns,
        )
        .unwrap();
        assert!(!policy.dns_service_missing);
        let spec = spec_json(&policy);
        assert_eq!(spec["policyTypes"], json!(["Ingress", "Egress"]));
        assert_eq!(
            spec["egress"],
            json!([{"to":[{"ipBlock":{"cidr":"169.254.25.10/32"}}],"ports":[{"protocol":"TCP","port":53},{"protocol":"UDP","port":53}]},{"to":[{"podSelector":{"matchLabels":{"k8s-app":"kube-dns"}},"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"kube-system"}}}],"ports":[{"protocol":"UDP","port":53},{"protocol":"TCP","port":53},{"protocol":"TCP","port":9153}]}])
        );
        // The NSNP deleted: no NSNP enforces egress any more.
        let policy = isolation_policy(
            "iso1",
            &IsolationMode::Namespace,
            &settings,
            &[],
            false,
            &dns,
        )
        .unwrap();
        assert_eq!(
            spec_json(&policy),
            json!({"podSelector":{},"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"iso1"}}}]}],"policyTypes":["Ingress"]})
        );
    }

    #[test]
    fn case_149_dns_fallbacks_and_switch() {
        let settings = IsolationSettings::default();
        let coredns = service(&[("k8s-app", "coredns")], &[("UDP", 53, 53)]);
        let policy = iso1_with_egress(&settings, cluster(vec![("kube-system/coredns", coredns)]));
        assert!(!policy.dns_service_missing);
        assert_eq!(
            spec_json(&policy)["egress"][1],
            json!({"to":[{"podSelector":{"matchLabels":{"k8s-app":"coredns"}},"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"kube-system"}}}],"ports":[{"protocol":"UDP","port":53}]})
        );

        let policy = iso1_with_egress(&settings, no_services);
        assert!(policy.dns_service_missing);
        assert_eq!(
            spec_json(&policy)["egress"],
            json!([{"to":[{"ipBlock":{"cidr":"169.254.25.10/32"}}],"ports":[{"protocol":"TCP","port":53},{"protocol":"UDP","port":53}]}])
        );
        assert_eq!(
            spec_json(&policy)["policyTypes"],
            json!(["Ingress", "Egress"])
        );

        let disabled = IsolationSettings {
            dns_enabled: false,
            ..IsolationSettings::default()
        };
        let policy = iso1_with_egress(&disabled, no_services);
        assert!(!policy.dns_service_missing);
        assert_eq!(spec_json(&policy).get("egress"), None);
        assert_eq!(spec_json(&policy)["policyTypes"], json!(["Ingress"]));
    }

    #[test]
    fn dns_service_without_selector_is_skipped_and_settings_are_honoured() {
        let settings = IsolationSettings {
            node_local_dns_ips: vec!["fd00::a".parse().unwrap(), "10.0.0.10".parse().unwrap()],
            dns_services: vec![
                ServiceRef::parse("kube-system/kube-dns").unwrap(),
                ServiceRef::parse("dns/custom").unwrap(),
                ServiceRef::parse("kube-system/coredns").unwrap(),
            ],
            ..IsolationSettings::default()
        };
        let services = cluster(vec![
            ("kube-system/kube-dns", service(&[], &[("UDP", 53, 53)])),
            (
                "dns/custom",
                service(&[("app", "dns")], &[("UDP", 53, 5353)]),
            ),
            ("kube-system/coredns", kube_dns()),
        ]);
        let policy = iso1_with_egress(&settings, services);
        assert!(!policy.dns_service_missing);
        assert_eq!(
            spec_json(&policy)["egress"],
            json!([{"to":[{"ipBlock":{"cidr":"fd00::a/128"}},{"ipBlock":{"cidr":"10.0.0.10/32"}}],
                    "ports":[{"protocol":"TCP","port":53},{"protocol":"UDP","port":53}]},
                   {"to":[{"podSelector":{"matchLabels":{"app":"dns"}},"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"dns"}}}],
                    "ports":[{"protocol":"UDP","port":5353}]}])
        );

        // No node-local DNS and no DNS Service: Egress is still listed, with no rule.
        let bare = IsolationSettings {
            node_local_dns_ips: Vec::new(),
            dns_services: Vec::new(),
            ..IsolationSettings::default()
        };
        let policy = iso1_with_egress(&bare, no_services);
        assert!(policy.dns_service_missing);
        assert_eq!(spec_json(&policy).get("egress"), None);
        assert_eq!(
            spec_json(&policy)["policyTypes"],
            json!(["Ingress", "Egress"])
        );
    }

    #[test]
    fn case_150_snat_node_addresses() {
        let snat = snat_addresses(["10.0.0.2;10.0.0.1", "10.0.0.1;bogus;fd00::1"]);
        let policy = isolation_policy(
            "iso1",
            &IsolationMode::Namespace,
            &IsolationSettings::default(),
            &snat,
            false,
            no_services,
        )
        .unwrap();
        let spec = spec_json(&policy);
        assert_eq!(
            spec["ingress"][1],
            json!({"from":[{"ipBlock":{"cidr":"10.0.0.1/32"}},{"ipBlock":{"cidr":"10.0.0.2/32"}},{"ipBlock":{"cidr":"fd00::1/128"}}]})
        );
        assert_eq!(spec["ingress"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn snat_addresses_are_trimmed_sorted_and_deduplicated() {
        let cidrs = |values: &[&str]| -> Vec<String> {
            snat_addresses(values.iter().copied())
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        assert_eq!(
            cidrs(&[
                " 10.0.0.9 ; ;10.0.0.10;",
                "",
                ";;",
                "10.0.0.9",
                "10.0.0.0/24"
            ]),
            ["10.0.0.10/32", "10.0.0.9/32"]
        );
        // Sorted as strings, then written canonically; spellings of one address count once.
        assert_eq!(cidrs(&["fd00:0::1;FD00::1;fd00::1"]), ["fd00::1/128"]);
        assert!(cidrs(&[]).is_empty());
    }

    #[test]
    fn case_151_workspace_change_re_renders() {
        let settings = IsolationSettings::default();
        let both = |ws: &str| ws == "ws1" || ws == "ws2";
        for ws in ["ws1", "ws2"] {
            let labels = map(&[("kubesphere.io/workspace", ws)]);
            let mode = isolation_mode(&BTreeMap::new(), &labels, both);
            let policy = isolation_policy("mv", &mode, &settings, &[], false, no_services).unwrap();
            assert_eq!(
                spec_json(&policy)["ingress"][0]["from"],
                json!([{"namespaceSelector": {"matchLabels": {"kubesphere.io/workspace": ws}}}])
            );
        }
    }

    #[test]
    fn case_152_missing_workspace() {
        let labels = map(&[("kubesphere.io/workspace", "ghost")]);
        assert_eq!(
            isolation_mode(&BTreeMap::new(), &labels, never),
            IsolationMode::None
        );
        // An empty workspace label names no workspace.
        let empty = map(&[("kubesphere.io/workspace", "")]);
        assert_eq!(
            isolation_mode(&BTreeMap::new(), &empty, |_| panic!("not looked up")),
            IsolationMode::None
        );
    }

    #[test]
    fn case_153_name_label_ensured() {
        assert!(name_label_missing("old", &BTreeMap::new()));
        assert!(name_label_missing(
            "old",
            &map(&[("kubernetes.io/metadata.name", "other")])
        ));
        assert!(!name_label_missing(
            "old",
            &map(&[("kubernetes.io/metadata.name", "old")])
        ));
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let settings = IsolationSettings::default();
        assert!(settings.allowed_ingress_namespaces.is_empty());
        assert!(settings.dns_enabled);
        assert_eq!(
            settings.node_local_dns_ips,
            ["169.254.25.10".parse::<IpAddr>().unwrap()]
        );
        let services: Vec<String> = settings
            .dns_services
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(services, ["kube-system/kube-dns", "kube-system/coredns"]);
    }
}
