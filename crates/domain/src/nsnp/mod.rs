//! NamespaceNetworkPolicy rules that need no cluster: the derived classification labels shown in responses
//! (algorithms §9.7) and the validation of `/kapis` creates and updates (algorithms §10.6, api §2.3 rule 5).
//!
//! Both work on the raw JSON object so that unknown or malformed shapes never panic: a part of the object that
//! does not have the expected JSON type is skipped (kube-apiserver's schema validation reports it).
//!
//! `labels` derives the labels; `validate` checks the object.

#[cfg(test)]
mod fixtures;
mod labels;
mod validate;

use serde_json::Value;

pub use labels::derived_labels;
pub use validate::{
    Cause, FIELD_VALUE_INVALID, FIELD_VALUE_NOT_SUPPORTED, GROUP, Invalid, KIND, validate,
};

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
