//! NamespaceNetworkPolicy rules that need no cluster: the derived classification labels shown in responses
//! (algorithms §9.7), the validation of `/kapis` creates and updates (algorithms §10.6, api §2.3 rule 5) and the
//! translation into a NetworkPolicy (algorithms §10.1–§10.5).
//!
//! All work on the raw JSON so that unknown or malformed shapes never panic. Labels and validation skip a part
//! that does not have the expected JSON type (kube-apiserver's schema validation reports it); rendering refuses
//! it instead, since skipping a peer would widen the policy.
//!
//! `labels` derives the labels; `validate` checks the object; `render` translates it.

#[cfg(test)]
mod fixtures;
mod labels;
mod render;
mod validate;

use serde_json::Value;

pub use labels::derived_labels;
pub(crate) use render::ServiceTarget;
pub use render::{
    Directions, MAX_NAME_LEN, POLICY_NAME_PREFIX, RenderError, Rendered, ServiceInput,
    ServicePortInput, ServiceRef, enforced_directions, policy_name, referenced_services, render,
};
pub use validate::{
    Cause, FIELD_VALUE_INVALID, FIELD_VALUE_NOT_SUPPORTED, GROUP, Invalid, KIND, validate,
};

/// `apiVersion` of the NamespaceNetworkPolicy (the owner of its rendered NetworkPolicy, algorithms §10.5).
pub const API_VERSION: &str = "network.kubesphere.io/v1alpha1";

/// Console label: direction of the allowlist entry, `ingress` | `egress`.
pub const POLICY_TYPE_LABEL: &str = "kubesphere.io/policy-type";
/// Console label: peer class of the allowlist entry, `inside` | `outside`.
pub const POLICY_TRAFFIC_LABEL: &str = "kubesphere.io/policy-traffic";

/// The values of [`POLICY_TYPE_LABEL`].
const DIRECTIONS: [&str; 2] = ["ingress", "egress"];
/// The values of [`POLICY_TRAFFIC_LABEL`].
const TRAFFICS: [&str; 2] = ["inside", "outside"];

/// Present and not `null` (JSON `null` means an unset optional field).
fn is_set(value: Option<&Value>) -> bool {
    value.is_some_and(|v| !v.is_null())
}

/// The elements of a JSON array, or nothing for any other value.
fn array(value: Option<&Value>) -> &[Value] {
    value.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// A JSON array with at least one element.
fn non_empty(value: Option<&Value>) -> bool {
    !array(value).is_empty()
}
