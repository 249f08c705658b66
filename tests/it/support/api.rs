//! Paths, keys and timeouts of the API under test, shared by the test modules.

use std::time::Duration;

/// How long the server may take to reflect writes in its watch caches (and its controller to act).
pub const SYNC: Duration = Duration::from_secs(60);

/// IP pools, namespace pools and migrations (`network.kubesphere.io/v1alpha2`).
pub const V2: &str = "/kapis/network.kubesphere.io/v1alpha2";
/// Pool migrations.
pub const MIGRATIONS: &str = "/kapis/network.kubesphere.io/v1alpha2/ippoolmigrations";
/// The aggregated APIService surface (`/apis/network.kubesphere.io/v1alpha2`).
pub const APIS: &str = "/apis/network.kubesphere.io/v1alpha2";
/// kubectl's `Accept` for `kubectl get`: a v1 Table, else a v1beta1 Table, else plain JSON.
pub const KUBECTL_TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
/// The generic lists (`resources.kubesphere.io/v1alpha3`).
pub const V3: &str = "/kapis/resources.kubesphere.io/v1alpha3";
/// NetworkPolicies.
pub const NP: &str = "/kapis/networking.k8s.io/v1";
/// NamespaceNetworkPolicies.
pub const NSNP: &str = "/kapis/network.kubesphere.io/v1alpha1";

/// The Calico IPPool admission webhook (api §6).
pub const WEBHOOK: &str = "/validate-crd-projectcalico-org-v1";

/// The NamespaceNetworkPolicy collection of `namespace`.
pub fn nsnps(namespace: &str) -> String {
    format!("{NSNP}/namespaces/{namespace}/namespacenetworkpolicies")
}

/// Calico's namespace annotation of IPv4 pools.
pub const IPV4POOLS: &str = "cni.projectcalico.org/ipv4pools";
/// Calico's namespace annotation of IPv6 pools.
pub const IPV6POOLS: &str = "cni.projectcalico.org/ipv6pools";
/// The marker of namespaces whose Calico annotations the product manages.
pub const MARKER: &str = "network.kubesphere.io/ippool-annotations-managed";
/// The prefix of namespace binding labels (`ippool.network.kubesphere.io/<pool>`).
pub const BINDING: &str = "ippool.network.kubesphere.io/";
/// The pod pool label (algorithms §3), virtual unless stored.
pub const POOL_LABEL: &str = "ippool.network.kubesphere.io/name";
