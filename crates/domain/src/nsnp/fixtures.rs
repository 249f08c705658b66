//! Builders shared by the NSNP tests.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::validate;

/// A label map from pairs.
pub(super) fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// `(field, reason, message)` of each failed check of `object` (named `p`); empty when it is valid.
pub(super) fn causes(object: &Value) -> Vec<(String, &'static str, String)> {
    match validate("p", object) {
        Ok(()) => Vec::new(),
        Err(invalid) => invalid
            .causes
            .into_iter()
            .map(|c| (c.field, c.reason, c.message))
            .collect(),
    }
}

/// The field path of each failed check.
pub(super) fn fields(object: &Value) -> Vec<String> {
    causes(object).into_iter().map(|c| c.0).collect()
}

/// An NSNP `a/p` with this spec.
pub(super) fn nsnp(spec: Value) -> Value {
    json!({"metadata": {"name": "p", "namespace": "a"}, "spec": spec})
}
