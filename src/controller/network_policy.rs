//! NamespaceNetworkPolicies and project/workspace isolation made real (algorithms §10–§12): per namespace, the
//! desired NetworkPolicies (`nsnp-<name>` while the namespace is isolated, and `nsnp-network-isolate`) are
//! rendered by the domain from the caches, compared with the cached NetworkPolicies, and only the differences
//! the controller owns are written.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicySpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Resource;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use serde_json::Value;
use tracing::info;

use super::queue::Pending;
use super::{Context, Reason, ReconcileError};
use crate::cluster::Caches;
use crate::cluster::caller::FIELD_MANAGER;
use crate::cluster::kubesphere::NamespaceNetworkPolicy;
use crate::config::IsolationConfig;
use crate::domain::cidr::Cidr;
use crate::domain::isolation::{self, ISOLATION_POLICY_NAME, IsolationMode, IsolationSettings};
use crate::domain::network_policy::{NAMESPACE_NAME_LABEL, PortNumber};
use crate::domain::nsnp::{self as render, Rendered, ServiceInput, ServicePortInput, ServiceRef};
use crate::domain::ownership::{
    self, ExistingPolicy, MANAGED_BY_LABEL, MANAGED_BY_VALUE, Ownership,
};

/// What the reconciler is configured with.
pub struct Settings {
    /// The isolation policy's knobs.
    pub isolation: IsolationSettings,
    /// Set the namespace name label where it is missing.
    pub ensure_namespace_name_label: bool,
}

impl Settings {
    /// From the configuration.
    /// Addresses and Service names were validated when the configuration was loaded.
    pub fn new(isolation: &IsolationConfig, ensure_namespace_name_label: bool) -> Self {
        let dns = &isolation.dns;
        Self {
            isolation: IsolationSettings {
                allowed_ingress_namespaces: isolation.allowed_ingress_namespaces.clone(),
                dns_enabled: dns.enabled,
                node_local_dns_ips: dns
                    .node_local_dns_ips
                    .iter()
                    .filter_map(|ip| ip.parse().ok())
                    .collect(),
                dns_services: dns
                    .services
                    .iter()
                    .filter_map(|s| ServiceRef::parse(s))
                    .collect(),
            },
            ensure_namespace_name_label,
        }
    }
}

/// One NetworkPolicy the namespace should have.
struct Desired {
    name: String,
    labels: BTreeMap<String, String>,
    owner: OwnerReference,
    spec: NetworkPolicySpec,
    /// How an existing policy of that name is judged.
    kind: DesiredKind,
    /// Where a `NameConflict` Event goes.
    subject: k8s_openapi::api::core::v1::ObjectReference,
}

enum DesiredKind {
    Nsnp { uid: String },
    Isolation,
}

/// Reconciles one namespace.
pub async fn reconcile(
    namespace: Arc<Namespace>,
    context: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let Some(settings) = context.network_policy.as_ref() else {
        return Ok(Action::await_change());
    };
    let caches = &context.caches;
    let name = namespace.metadata.name.clone().unwrap_or_default();
    if settings.ensure_namespace_name_label {
        ensure_name_label(&context, &namespace, &name).await?;
    }
    let empty = BTreeMap::new();
    let annotations = namespace.metadata.annotations.as_ref().unwrap_or(&empty);
    let labels = namespace.metadata.labels.as_ref().unwrap_or(&empty);
    let mode = isolation::isolation_mode(annotations, labels, |workspace| {
        workspace_isolated(caches, workspace)
    });
    let service = |reference: &ServiceRef| service_input(caches, reference);
    let nsnps: Vec<Arc<NamespaceNetworkPolicy>> = caches
        .namespace_network_policies
        .store()
        .state()
        .into_iter()
        .filter(|p| p.metadata.namespace.as_deref() == Some(&name))
        .collect();

    let mut desired = Vec::new();
    let mut kept: BTreeSet<String> = BTreeSet::new();
    let mut egress_enforced = false;
    for nsnp in &nsnps {
        let nsnp_name = nsnp.metadata.name.clone().unwrap_or_default();
        let policy_name = render::policy_name(&nsnp_name);
        let spec = serde_json::to_value(&nsnp.spec).unwrap_or(Value::Null);
        egress_enforced |= render::enforced_directions(&spec).egress;
        if !mode.is_isolated() {
            continue;
        }
        let reference = nsnp.object_ref(&());
        match render::render(&name, &nsnp_name, &spec, service) {
            Ok(Rendered::Policy(rendered)) => desired.push(Desired {
                name: policy_name,
                labels: managed_labels(None),
                owner: nsnp.controller_owner_ref(&()).unwrap_or_default(),
                spec: to_kube(&rendered)?,
                kind: DesiredKind::Nsnp {
                    uid: nsnp.metadata.uid.clone().unwrap_or_default(),
                },
                subject: reference,
            }),
            Ok(Rendered::NothingToEnforce) => {
                let message = "the policy enforces neither ingress nor egress".to_owned();
                context
                    .event(&reference, Reason::NothingToEnforce, message)
                    .await;
            }
            Err(error) => {
                // The last rendered policy stays (algorithms §10.5).
                kept.insert(policy_name);
                context
                    .event(&reference, Reason::TranslationFailed, error.to_string())
                    .await;
            }
        }
    }
    let isolation = isolation::isolation_policy(
        &name,
        &mode,
        &settings.isolation,
        &snat_addresses(caches),
        egress_enforced,
        service,
    );
    if let Some(policy) = isolation {
        let reference = namespace.object_ref(&());
        if policy.dns_service_missing {
            let services: Vec<String> = settings
                .isolation
                .dns_services
                .iter()
                .map(ToString::to_string)
                .collect();
            let message = format!(
                "none of the DNS services {} exists with a selector",
                services.join(", ")
            );
            context
                .event(&reference, Reason::DnsServiceNotFound, message)
                .await;
        }
        desired.push(Desired {
            name: ISOLATION_POLICY_NAME.to_owned(),
            labels: managed_labels(Some(&mode)),
            owner: namespace.controller_owner_ref(&()).unwrap_or_default(),
            spec: to_kube(&policy.spec)?,
            kind: DesiredKind::Isolation,
            subject: reference,
        });
    }

    let existing: BTreeMap<String, Arc<NetworkPolicy>> = caches
        .network_policies
        .store()
        .state()
        .into_iter()
        .filter(|p| p.metadata.namespace.as_deref() == Some(&name))
        .filter_map(|p| Some((p.metadata.name.clone()?, p)))
        .collect();
    let policies: Api<NetworkPolicy> = Api::namespaced(context.client.clone(), &name);
    let mut failure = None;
    for want in &desired {
        let result = apply(&context, &policies, want, existing.get(&want.name)).await;
        if let Err(error) = result {
            failure.get_or_insert(error);
        }
    }
    // Delete what the controller owns and no longer wants.
    let wanted: BTreeSet<&str> = desired.iter().map(|d| d.name.as_str()).collect();
    for (policy_name, policy) in &existing {
        if wanted.contains(policy_name.as_str()) || kept.contains(policy_name) {
            continue;
        }
        if owned_leftover(policy, &nsnps)
            && let Err(error) = delete(&policies, policy).await
        {
            failure.get_or_insert(error);
        }
    }
    match failure {
        Some(error) => Err(error),
        None => Ok(Action::await_change()),
    }
}

/// Whether a cached NetworkPolicy is one the controller made and nothing wants any more: an `nsnp-<n>`
/// controlled by NSNP `<n>` (whose NSNP is gone, or no longer renders), or the isolation policy with the
/// managed-by label.
fn owned_leftover(policy: &NetworkPolicy, nsnps: &[Arc<NamespaceNetworkPolicy>]) -> bool {
    let name = policy.metadata.name.as_deref().unwrap_or_default();
    let existing = existing_of(policy);
    let existing = ExistingPolicy {
        labels: &existing.0,
        owners: &existing.1,
    };
    if name == ISOLATION_POLICY_NAME {
        return ownership::isolation_policy_ownership(&existing) == Ownership::Ours;
    }
    let Some(nsnp_name) = name.strip_prefix("nsnp-") else {
        return false;
    };
    let uid = nsnps
        .iter()
        .find(|n| n.metadata.name.as_deref() == Some(nsnp_name))
        .and_then(|n| n.metadata.uid.clone());
    match uid {
        Some(uid) => ownership::nsnp_policy_ownership(&existing, &uid) == Ownership::Ours,
        // The NSNP is gone: ours when an NSNP of that name controls it.
        None => ownership::controlling_nsnp(&existing).is_some_and(|o| o.name == nsnp_name),
    }
}

fn existing_of(
    policy: &NetworkPolicy,
) -> (BTreeMap<String, String>, Vec<ownership::OwnerReference>) {
    let labels = policy.metadata.labels.clone().unwrap_or_default();
    let owners = policy
        .metadata
        .owner_references
        .iter()
        .flatten()
        .map(|o| ownership::OwnerReference {
            api_version: o.api_version.clone(),
            kind: o.kind.clone(),
            name: o.name.clone(),
            uid: o.uid.clone(),
            controller: o.controller == Some(true),
        })
        .collect();
    (labels, owners)
}

/// Creates `want`, or updates the existing policy when the controller owns (or may adopt) it and it differs;
/// a policy owned by someone else is left alone with a `NameConflict` Event.
async fn apply(
    context: &Context,
    policies: &Api<NetworkPolicy>,
    want: &Desired,
    existing: Option<&Arc<NetworkPolicy>>,
) -> Result<(), ReconcileError> {
    let Some(existing) = existing else {
        let policy = NetworkPolicy {
            metadata: ObjectMeta {
                name: Some(want.name.clone()),
                labels: Some(want.labels.clone()),
                owner_references: Some(vec![want.owner.clone()]),
                ..ObjectMeta::default()
            },
            spec: Some(want.spec.clone()),
        };
        policies.create(&post_params(), &policy).await?;
        info!(namespace = ?policies.namespace(), name = %want.name, "network policy created");
        return Ok(());
    };
    let (labels, owners) = existing_of(existing);
    let view = ExistingPolicy {
        labels: &labels,
        owners: &owners,
    };
    let ownership = match &want.kind {
        DesiredKind::Nsnp { uid } => ownership::nsnp_policy_ownership(&view, uid),
        DesiredKind::Isolation => ownership::isolation_policy_ownership(&view),
    };
    if ownership == Ownership::Foreign {
        let message = format!(
            "NetworkPolicy {} exists and is not managed by ks-network-apiserver; left unchanged",
            want.name
        );
        context
            .event(&want.subject, Reason::NameConflict, message)
            .await;
        return Ok(());
    }
    let labels_match = want.labels.iter().all(|(k, v)| labels.get(k) == Some(v));
    let owner_matches =
        existing.metadata.owner_references.as_deref() == Some(std::slice::from_ref(&want.owner));
    let spec_matches = existing
        .spec
        .as_ref()
        .is_some_and(|stored| stored == &want.spec || *stored == without_end_ports(&want.spec));
    if labels_match && owner_matches && spec_matches {
        return Ok(());
    }
    let mut updated = NetworkPolicy::clone(existing);
    let mut merged_labels = labels;
    merged_labels.extend(want.labels.clone());
    updated.metadata.labels = Some(merged_labels);
    updated.metadata.owner_references = Some(vec![want.owner.clone()]);
    updated.metadata.managed_fields = None;
    updated.spec = Some(want.spec.clone());
    policies
        .replace(&want.name, &post_params(), &updated)
        .await?;
    info!(name = %want.name, "network policy updated");
    Ok(())
}

/// `spec` as kube-apiserver older than 1.21 stores it: without `endPort` (algorithms §10.5). Comparing with this
/// too spares such a policy a pointless update on every pass.
fn without_end_ports(spec: &NetworkPolicySpec) -> NetworkPolicySpec {
    let mut spec = spec.clone();
    let ingress = spec
        .ingress
        .iter_mut()
        .flatten()
        .flat_map(|r| r.ports.iter_mut().flatten());
    let egress = spec
        .egress
        .iter_mut()
        .flatten()
        .flat_map(|r| r.ports.iter_mut().flatten());
    for port in ingress.chain(egress) {
        port.end_port = None;
    }
    spec
}

/// Deletes a policy the controller owns, only if it is still the cached object (uid and version).
async fn delete(
    policies: &Api<NetworkPolicy>,
    policy: &NetworkPolicy,
) -> Result<(), ReconcileError> {
    let name = policy.metadata.name.clone().unwrap_or_default();
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: policy.metadata.uid.clone(),
            resource_version: policy.metadata.resource_version.clone(),
        }),
        ..DeleteParams::default()
    };
    match policies.delete(&name, &params).await {
        Ok(_) => {
            info!(%name, "network policy deleted");
            Ok(())
        }
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(error) => Err(error.into()),
    }
}

fn post_params() -> PostParams {
    PostParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PostParams::default()
    }
}

/// Sets `kubernetes.io/metadata.name` when it is missing or wrong (Kubernetes < 1.21).
async fn ensure_name_label(
    context: &Context,
    namespace: &Namespace,
    name: &str,
) -> Result<(), ReconcileError> {
    let empty = BTreeMap::new();
    let labels = namespace.metadata.labels.as_ref().unwrap_or(&empty);
    if !isolation::name_label_missing(name, labels) {
        return Ok(());
    }
    let patch = serde_json::json!({"metadata": {
        "labels": {NAMESPACE_NAME_LABEL: name},
        "resourceVersion": namespace.metadata.resource_version,
    }});
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    Api::<Namespace>::all(context.client.clone())
        .patch(name, &params, &Patch::Merge(&patch))
        .await?;
    info!(namespace = %name, "namespace name label set");
    Ok(())
}

fn managed_labels(mode: Option<&IsolationMode>) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([(MANAGED_BY_LABEL.to_owned(), MANAGED_BY_VALUE.to_owned())]);
    if let Some(value) = mode.and_then(isolation::isolation_label_value) {
        labels.insert(isolation::ISOLATION_LABEL.to_owned(), value.to_owned());
    }
    labels
}

/// The domain's policy as the Kubernetes type (same JSON shape).
fn to_kube(
    spec: &crate::domain::network_policy::NetworkPolicySpec,
) -> Result<NetworkPolicySpec, ReconcileError> {
    serde_json::to_value(spec)
        .and_then(serde_json::from_value)
        .map_err(|e| ReconcileError::Render(e.to_string()))
}

fn workspace_isolated(caches: &Caches, workspace: &str) -> bool {
    caches
        .workspaces
        .store()
        .get(&ObjectRef::new(workspace))
        .is_some_and(|ws| {
            ws.metadata
                .annotations
                .as_ref()
                .is_some_and(isolation::isolation_enabled)
        })
}

fn service_input(caches: &Caches, reference: &ServiceRef) -> Option<ServiceInput> {
    let key = ObjectRef::new(&reference.name).within(&reference.namespace);
    let service: Arc<Service> = caches.services.store().get(&key)?;
    let spec = service.spec.as_ref()?;
    Some(ServiceInput {
        selector: spec.selector.clone().unwrap_or_default(),
        ports: spec
            .ports
            .iter()
            .flatten()
            .map(|p| ServicePortInput {
                protocol: p.protocol.clone(),
                port: p.port,
                target_port: p.target_port.as_ref().map(|t| match t {
                    IntOrString::Int(n) => PortNumber::Number(*n),
                    IntOrString::String(s) => PortNumber::Name(s.clone()),
                }),
            })
            .collect(),
    })
}

fn snat_addresses(caches: &Caches) -> Vec<Cidr> {
    let Some(nodes) = &caches.nodes else {
        return Vec::new();
    };
    let nodes = nodes.store().state();
    isolation::snat_addresses(nodes.iter().filter_map(|node| {
        node.metadata
            .annotations
            .as_ref()?
            .get(isolation::SNAT_NODE_IPS_ANNOTATION)
            .map(String::as_str)
    }))
}

/// The namespaces a batch of triggers concerns: named ones, those of the named workspaces, the isolated ones
/// when a node changed or a DNS Service did, and those whose NSNPs reference a changed Service.
pub fn resolve(context: &Context, pending: Pending) -> Vec<String> {
    let caches = &context.caches;
    let dns_changed = context.network_policy.as_ref().is_some_and(|settings| {
        pending
            .services
            .iter()
            .any(|changed| settings.isolation.dns_services.contains(changed))
    });
    let namespaces = caches.namespaces.store().state();
    let name_of = |ns: &Namespace| ns.metadata.name.clone().unwrap_or_default();
    if pending.all {
        return namespaces.iter().map(|ns| name_of(ns)).collect();
    }
    let mut names = pending.namespaces;
    let empty = BTreeMap::new();
    for namespace in &namespaces {
        let labels = namespace.metadata.labels.as_ref().unwrap_or(&empty);
        let annotations = namespace.metadata.annotations.as_ref().unwrap_or(&empty);
        let in_workspace = labels
            .get(isolation::WORKSPACE_LABEL)
            .is_some_and(|ws| pending.workspaces.contains(ws));
        let isolated = (pending.isolated || dns_changed)
            && isolation::isolation_mode(annotations, labels, |ws| workspace_isolated(caches, ws))
                .is_isolated();
        if in_workspace || isolated {
            names.insert(name_of(namespace));
        }
    }
    if !pending.services.is_empty() {
        for nsnp in caches.namespace_network_policies.store().state() {
            let namespace = nsnp.metadata.namespace.clone().unwrap_or_default();
            let spec = serde_json::to_value(&nsnp.spec).unwrap_or(Value::Null);
            let references = render::referenced_services(&namespace, &spec);
            if references.iter().any(|r| pending.services.contains(r)) {
                names.insert(namespace);
            }
        }
    }
    names.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_stored_without_end_ports_counts_as_the_same() {
        let desired: NetworkPolicySpec = serde_json::from_value(serde_json::json!({
            "podSelector": {}, "policyTypes": ["Egress"],
            "egress": [{"ports": [{"protocol": "TCP", "port": 8000, "endPort": 8100}]}]}))
        .unwrap();
        let stored: NetworkPolicySpec = serde_json::from_value(serde_json::json!({
            "podSelector": {}, "policyTypes": ["Egress"],
            "egress": [{"ports": [{"protocol": "TCP", "port": 8000}]}]}))
        .unwrap();
        assert_ne!(stored, desired);
        assert_eq!(stored, without_end_ports(&desired));
    }
}
