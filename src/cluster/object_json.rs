//! An object's response JSON, serialised once per watch event instead of once per request: a list page is then a
//! concatenation of stored text. The labels are left out and written per response, because what a list shows
//! (stored plus virtual labels) changes with other objects (pools) without the object itself changing.
//!
//! The text is kept LZ4-compressed against a dictionary, a typical pod as serialised here (`pod_dictionary.json`):
//! most of a pod's text is field names and values every pod shares (tolerations, conditions, the service-account
//! volume), so a 2.7 KB pod keeps about 500 bytes, and a 10-pod page decompresses in microseconds.

use std::sync::{Arc, LazyLock};

use k8s_openapi::api::core::v1::Pod;
use lz4_flex::block::{compress_with_dict, decompress_into_with_dict};
use serde::Serialize;
use tracing::error;

/// The text that opens `metadata` in a Kubernetes object serialised by serde_json (no whitespace).
const METADATA_OPEN: &str = "\"metadata\":{";

/// The compression dictionary: the sample pod serialised as stored texts are, so that its runs match theirs.
static DICTIONARY: LazyLock<Box<[u8]>> = LazyLock::new(|| {
    serde_json::from_str::<Pod>(include_str!("pod_dictionary.json"))
        .and_then(|pod| serde_json::to_vec(&pod))
        .unwrap_or_default()
        .into()
});

/// An object serialised without `metadata.labels` and `metadata.managedFields`, and where its labels go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectJson {
    /// The text as an LZ4 block compressed against [`DICTIONARY`].
    compressed: Arc<[u8]>,
    /// Length of the text.
    len: u32,
    /// Byte offset just after `"metadata":{`; `None` when the object has no metadata object.
    labels_at: Option<u32>,
}

impl ObjectJson {
    /// Serialises `object`, which must carry neither labels nor managed fields (the caller clears them, so that
    /// no copy of the object is made). Kubernetes objects put `apiVersion` and `kind` (strings) before
    /// `metadata`, so the first `"metadata":{` is the object's own.
    pub fn of<K: Serialize>(object: &K) -> Self {
        let text = serde_json::to_vec(object).unwrap_or_else(|_| b"{}".to_vec());
        Self::from_text(&text)
    }

    /// An object already written as [`ObjectJson::of`] writes it (by `protobuf::write_canonical_members`).
    pub fn from_text(text: &[u8]) -> Self {
        let open = METADATA_OPEN.as_bytes();
        let labels_at = text
            .windows(open.len())
            .position(|window| window == open)
            .map(|at| at + open.len());
        ObjectJson {
            compressed: compress_with_dict(text, &DICTIONARY).into(),
            // Objects are far below 4 GiB: kube-apiserver refuses requests over 3 MiB.
            len: text.len() as u32,
            labels_at: labels_at.map(|at| at as u32),
        }
    }

    /// Appends the object to `out` with `labels` (key order kept; empty → no `labels` field).
    pub fn write_with_labels<'a>(
        &self,
        labels: impl IntoIterator<Item = (&'a str, &'a str)>,
        out: &mut Vec<u8>,
    ) {
        let start = out.len();
        out.resize(start + self.len as usize, 0);
        if let Err(error) =
            decompress_into_with_dict(&self.compressed, &mut out[start..], &DICTIONARY)
        {
            // Unreachable: the block was compressed here, from this text, against this dictionary.
            error!(%error, "stored object text does not decompress");
            out.truncate(start);
            out.extend_from_slice(b"{}");
            return;
        }
        let Some(at) = self.labels_at else {
            return;
        };
        let mut labels = labels.into_iter().peekable();
        if labels.peek().is_none() {
            return;
        }
        let at = start + at as usize;
        let mut field = Vec::with_capacity(128);
        field.extend_from_slice(b"\"labels\":{");
        for (i, (key, value)) in labels.enumerate() {
            if i > 0 {
                field.push(b',');
            }
            write_string(key, &mut field);
            field.push(b':');
            write_string(value, &mut field);
        }
        field.push(b'}');
        if out.get(at) != Some(&b'}') {
            field.push(b',');
        }
        out.splice(at..at, field);
    }

    /// Length of the text.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the text is empty (never, for a serialised object).
    pub fn is_empty(&self) -> bool {
        self.len == 0
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

    #[test]
    fn the_dictionary_is_the_sample_pod_as_stored_texts_are_serialised() {
        let pod: Pod = serde_json::from_str(include_str!("pod_dictionary.json")).unwrap();
        assert_eq!(&DICTIONARY[..], serde_json::to_vec(&pod).unwrap());
    }

    #[test]
    fn a_typical_pod_is_kept_in_a_fraction_of_its_text_and_written_back_exactly() {
        let mut pod: Pod = serde_json::from_str(include_str!("pod_dictionary.json")).unwrap();
        pod.metadata.name = Some("api-5c8d7f9b6-q7w2e".to_owned());
        pod.metadata.uid = Some("0d7e2c1a-5b3f-4e8d-9a6c-7f1e2d3c4b5a".to_owned());
        if let Some(status) = pod.status.as_mut() {
            status.pod_ip = Some("10.233.64.17".to_owned());
            status.host_ip = Some("192.168.10.4".to_owned());
        }
        let stored = ObjectJson::of(&pod);
        let text = serde_json::to_vec(&pod).unwrap();
        assert_eq!(stored.len(), text.len());
        assert!(
            stored.compressed.len() * 4 < text.len(),
            "{} of {} bytes kept",
            stored.compressed.len(),
            text.len()
        );
        let mut out = b"[".to_vec();
        stored.write_with_labels([], &mut out);
        assert_eq!(&out[1..], &text[..], "appended after what the buffer held");
    }

    #[test]
    fn objects_are_appended_one_after_another() {
        let first = ObjectJson::of(&json!({"kind": "X", "metadata": {"name": "a"}}));
        let second = ObjectJson::of(&json!({"kind": "X", "metadata": {"name": "b"}}));
        let mut out = Vec::new();
        first.write_with_labels([("k", "1")], &mut out);
        out.push(b',');
        second.write_with_labels([("k", "2")], &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"kind":"X","metadata":{"labels":{"k":"1"},"name":"a"}},{"kind":"X","metadata":{"labels":{"k":"2"},"name":"b"}}"#
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config { cases: 256, failure_persistence: None, ..Default::default() })]

        /// Whatever the object and labels, the written text is the object with its labels, byte for byte as
        /// serde_json writes them: compression changes nothing that is served.
        #[test]
        fn any_object_and_labels_are_written_back_exactly(
            name in "\\PC{0,40}",
            annotations in proptest::collection::btree_map("\\PC{0,12}", "\\PC{0,60}", 0..6),
            image in "[a-z0-9./:-]{0,80}",
            labels in proptest::collection::btree_map("\\PC{1,12}", "\\PC{0,20}", 0..5),
        ) {
            let object = json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "annotations": annotations},
                "spec": {"containers": [{"name": "c", "image": image}]}});
            let stored = ObjectJson::of(&object);
            let pairs: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let mut out = b"x".to_vec();
            stored.write_with_labels(pairs, &mut out);
            let mut expected = object.clone();
            if !labels.is_empty() {
                expected["metadata"]["labels"] = json!(labels);
            }
            proptest::prop_assert_eq!(&out[..1], b"x");
            proptest::prop_assert_eq!(serde_json::from_slice::<Value>(&out[1..]).unwrap(), expected);
        }
    }
}
