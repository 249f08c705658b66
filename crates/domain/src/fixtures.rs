//! Test builders shared across the crate (pools, namespaces, string maps) and a JSON merge-patch applier.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::binding::NamespaceInput;
use crate::cidr::Cidr;
use crate::pool::{Pool, default_allowed_uses};

/// An enabled pool for workloads.
pub(crate) fn pool(name: &str, cidr: &str) -> Pool {
    Pool {
        name: name.into(),
        cidr: Cidr::parse(cidr),
        disabled: false,
        deleting: false,
        allowed_uses: default_allowed_uses(),
    }
}

/// Like [`pool`], but disabled.
pub(crate) fn disabled(name: &str, cidr: &str) -> Pool {
    Pool {
        disabled: true,
        ..pool(name, cidr)
    }
}

/// The pools of fixture F-M.
pub(crate) fn fm_pools() -> Vec<Pool> {
    vec![
        disabled("pool-a", "10.10.0.0/16"),
        pool("pool-b", "10.20.0.0/16"),
        disabled("pool-c", "10.30.0.0/16"),
        pool("pool-v6", "fd00:60::/64"),
        Pool {
            allowed_uses: vec!["Tunnel".into()],
            ..pool("pool-t", "10.40.0.0/16")
        },
    ]
}

/// A string map from pairs.
pub(crate) fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A namespace with labels and annotations.
pub(crate) fn ns(
    name: &str,
    labels: &[(&str, &str)],
    annotations: &[(&str, &str)],
) -> NamespaceInput {
    NamespaceInput {
        name: name.into(),
        labels: map(labels),
        annotations: map(annotations),
    }
}

/// RFC 7386 JSON merge patch.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    if let Value::Object(target) = target {
        for (key, value) in patch {
            if value.is_null() {
                target.remove(key);
            } else {
                merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

fn to_value(map: &BTreeMap<String, String>) -> Value {
    Value::Object(
        map.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// Reads a string map at `pointer`, empty when absent.
pub(crate) fn string_map(value: &Value, pointer: &str) -> BTreeMap<String, String> {
    value
        .pointer(pointer)
        .and_then(Value::as_object)
        .map(|object| {
            object
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// Applies a namespace merge patch to a namespace.
pub(crate) fn apply_to_namespace(ns: &NamespaceInput, patch: &Value) -> NamespaceInput {
    let mut object = serde_json::json!({"metadata": {
        "labels": to_value(&ns.labels), "annotations": to_value(&ns.annotations)}});
    merge_patch(&mut object, patch);
    NamespaceInput {
        name: ns.name.clone(),
        labels: string_map(&object, "/metadata/labels"),
        annotations: string_map(&object, "/metadata/annotations"),
    }
}
