//! KubeSphere custom resources: the NamespaceNetworkPolicy the product owns, and the tenant Workspace kinds
//! (owned by KubeSphere; generated here for test and demo clusters).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An allowlist network policy of one namespace.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[kube(
    group = "network.kubesphere.io",
    version = "v1alpha1",
    kind = "NamespaceNetworkPolicy",
    plural = "namespacenetworkpolicies",
    singular = "namespacenetworkpolicy",
    shortname = "nsnp",
    category = "networking",
    namespaced,
    crates(kube_core = "kube::core")
)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceNetworkPolicySpec {
    /// `Ingress` and/or `Egress`; absent or empty: the directions that have rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_types: Option<Vec<String>>,
    /// Allowed incoming traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<Vec<NetworkPolicyIngressRule>>,
    /// Allowed outgoing traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<Vec<NetworkPolicyEgressRule>>,
}

/// One ingress allowlist entry.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct NetworkPolicyIngressRule {
    /// Absent or empty: any source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Vec<NetworkPolicyPeer>>,
    /// Absent or empty: every port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<NetworkPolicyPort>>,
}

/// One egress allowlist entry.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct NetworkPolicyEgressRule {
    /// Absent or empty: any destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Vec<NetworkPolicyPeer>>,
    /// Absent or empty: every port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<NetworkPolicyPort>>,
}

/// A peer: exactly one of `ipBlock`, `namespace`, `service`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicyPeer {
    /// A CIDR with exceptions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_block: Option<IpBlock>,
    /// Every pod of a namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<NamespacePeer>,
    /// The pods behind a Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServicePeer>,
}

/// `ipBlock` peer.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct IpBlock {
    pub cidr: String,
    /// CIDRs inside `cidr` to leave out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub except: Option<Vec<String>>,
}

/// `namespace` peer.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct NamespacePeer {
    pub name: String,
}

/// `service` peer.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct ServicePeer {
    pub name: String,
    /// Service namespace (defaults to the policy's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A port or port range.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicyPort {
    /// `TCP` (default), `UDP` or `SCTP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Number or named port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<IntOrString>,
    /// End of a port range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_port: Option<i32>,
}

/// KubeSphere workspace (`tenant.kubesphere.io/v1beta1`), cluster-scoped.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[kube(
    group = "tenant.kubesphere.io",
    version = "v1beta1",
    kind = "Workspace",
    plural = "workspaces",
    singular = "workspace",
    crates(kube_core = "kube::core")
)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceSpec {
    /// The workspace manager's user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<String>,
    /// KubeSphere 3.x isolation flag; never read (isolation follows the `kubesphere.io/network-isolate` annotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_isolation: Option<bool>,
}

/// KubeSphere workspace template (`tenant.kubesphere.io/v1beta1`), cluster-scoped; for test and demo clusters.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[kube(
    group = "tenant.kubesphere.io",
    version = "v1beta1",
    kind = "WorkspaceTemplate",
    plural = "workspacetemplates",
    singular = "workspacetemplate",
    crates(kube_core = "kube::core")
)]
pub struct WorkspaceTemplateSpec {
    /// The workspace to create in member clusters.
    #[serde(default)]
    pub template: WorkspaceTemplateBody,
    /// The member clusters that get the workspace.
    #[serde(default)]
    pub placement: Placement,
}

/// `spec.template` of a WorkspaceTemplate.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
pub struct WorkspaceTemplateBody {
    /// Labels and annotations of the generated workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<TemplateMetadata>,
    /// Copied into the `spec` of each generated workspace.
    #[serde(default)]
    pub spec: WorkspaceSpec,
}

/// Labels and annotations of a template.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
pub struct TemplateMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// `spec.placement` of a WorkspaceTemplate.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Placement {
    /// Clusters by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clusters: Option<Vec<ClusterRef>>,
    /// Clusters by label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_selector: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>,
}

/// A member cluster by name.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
pub struct ClusterRef {
    pub name: String,
}
