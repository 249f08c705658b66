//! An object's response JSON, serialised once per watch event instead of once per request: a list page is then a
//! concatenation of stored text. The labels are left out and written per response, because what a list shows
//! (stored plus virtual labels) changes with other objects (pools) without the object itself changing.

use std::sync::Arc;

use serde::Serialize;

/// The text that opens `metadata` in a Kubernetes object serialised by serde_json (no whitespace).
const METADATA_OPEN: &str = "\"metadata\":{";

/// An object serialised without `metadata.labels` and `metadata.managedFields`, and where its labels go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectJson {
    text: Arc<str>,
    /// Byte offset just after `"metadata":{`; `None` when the object has no metadata object.
    labels_at: Option<usize>,
}

impl ObjectJson {
    /// Serialises `object`, which must carry neither labels nor managed fields (the caller clears them, so that
    /// no copy of the object is made). Kubernetes objects put `apiVersion` and `kind` (strings) before
    /// `metadata`, so the first `"metadata":{` is the object's own.
    pub fn of<K: Serialize>(object: &K) -> Self {
        let text = serde_json::to_string(object).unwrap_or_else(|_| "{}".to_owned());
        let labels_at = text.find(METADATA_OPEN).map(|at| at + METADATA_OPEN.len());
        ObjectJson {
            text: text.into(),
            labels_at,
        }
    }

    /// Appends the object to `out` with `labels` (key order kept; empty → no `labels` field).
    pub fn write_with_labels<'a>(
        &self,
        labels: impl IntoIterator<Item = (&'a str, &'a str)>,
        out: &mut Vec<u8>,
    ) {
        let Some(at) = self.labels_at else {
            out.extend_from_slice(self.text.as_bytes());
            return;
        };
        let (head, tail) = self.text.split_at(at);
        out.extend_from_slice(head.as_bytes());
        let mut labels = labels.into_iter().peekable();
        if labels.peek().is_some() {
            out.extend_from_slice(b"\"labels\":{");
            for (i, (key, value)) in labels.enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                write_string(value, out);
            }
            out.push(b'}');
            if !tail.starts_with('}') {
                out.push(b',');
            }
        }
        out.extend_from_slice(tail.as_bytes());
    }

    /// Size of the stored text, for memory accounting.
    pub fn len(&self) -> usize {
        self.text.len()
    }

    /// Whether the stored text is empty (never, for a serialised object).
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }
}

/// A JSON string literal (serde_json's escaping; writing a `str` into a `Vec` cannot fail).
fn write_string(text: &str, out: &mut Vec<u8>) {
    let _ = serde_json::to_writer(&mut *out, text);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn written(json: &ObjectJson, labels: &[(&str, &str)]) -> Value {
        let mut out = Vec::new();
        json.write_with_labels(labels.iter().copied(), &mut out);
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn labels_are_written_into_metadata() {
        let object = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "n", "annotations": {"a": "\"metadata\":{"}},
            "spec": {"metadata": {"x": 1}}});
        let stored = ObjectJson::of(&object);
        let mut expected = object.clone();
        expected["metadata"]["labels"] = json!({"app": "web", "q\"uote": "é\n"});
        assert_eq!(
            written(&stored, &[("app", "web"), ("q\"uote", "é\n")]),
            expected
        );
        assert_eq!(written(&stored, &[]), object, "no labels, no field");
    }

    #[test]
    fn empty_metadata_gets_no_trailing_comma() {
        let stored = ObjectJson::of(&json!({"kind": "X", "metadata": {}}));
        assert_eq!(
            written(&stored, &[("a", "b")]),
            json!({"kind": "X", "metadata": {"labels": {"a": "b"}}})
        );
    }

    #[test]
    fn an_object_without_metadata_is_written_as_is() {
        let stored = ObjectJson::of(&json!({"kind": "X"}));
        assert_eq!(written(&stored, &[("a", "b")]), json!({"kind": "X"}));
    }
}
