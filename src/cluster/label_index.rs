//! An inverted index of stored labels (`key=value` → objects), fed by a cache's watch events, so that a list
//! with an equality selector looks at the matching objects only instead of scanning the whole cache.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use kube::runtime::reflector::ObjectRef;

use super::cache::{Cached, Observer};

type Label = (String, String);

/// Objects by stored label.
pub struct LabelIndex<K: Cached> {
    inner: RwLock<Entries<K>>,
}

struct Entries<K: Cached> {
    by_label: HashMap<Label, HashSet<ObjectRef<K>>>,
    labels_of: HashMap<ObjectRef<K>, Vec<Label>>,
}

impl<K: Cached> Default for LabelIndex<K> {
    fn default() -> Self {
        Self {
            inner: RwLock::new(Entries {
                by_label: HashMap::new(),
                labels_of: HashMap::new(),
            }),
        }
    }
}

impl<K: Cached> LabelIndex<K> {
    /// The objects whose stored label `key` has one of `values`.
    pub fn lookup(&self, key: &str, values: &[String]) -> Vec<ObjectRef<K>> {
        let entries = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        for value in values {
            if let Some(refs) = entries.by_label.get(&(key.to_owned(), value.clone())) {
                out.extend(refs.iter().cloned());
            }
        }
        out
    }
}

impl<K: Cached> Entries<K> {
    fn remove(&mut self, reference: &ObjectRef<K>) {
        for label in self.labels_of.remove(reference).unwrap_or_default() {
            if let Some(refs) = self.by_label.get_mut(&label) {
                refs.remove(reference);
                if refs.is_empty() {
                    self.by_label.remove(&label);
                }
            }
        }
    }

    fn insert(&mut self, object: &K) {
        let reference = ObjectRef::from_obj(object);
        self.remove(&reference);
        let labels: Vec<Label> = object
            .meta()
            .labels
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for label in &labels {
            self.by_label
                .entry(label.clone())
                .or_default()
                .insert(reference.clone());
        }
        self.labels_of.insert(reference, labels);
    }
}

impl<K: Cached> Observer<K> for LabelIndex<K> {
    fn applied(&self, object: &K) {
        self.inner
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(object);
    }

    fn deleted(&self, object: &K) {
        let mut entries = self.inner.write().unwrap_or_else(|e| e.into_inner());
        entries.remove(&ObjectRef::from_obj(object));
    }

    fn replaced(&self, objects: &[Arc<K>]) {
        let mut entries = self.inner.write().unwrap_or_else(|e| e.into_inner());
        entries.by_label.clear();
        entries.labels_of.clear();
        for object in objects {
            entries.insert(object);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;

    fn pod(name: &str, labels: &[(&str, &str)]) -> Pod {
        let labels: std::collections::BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        serde_json::from_value(
            serde_json::json!({"metadata": {"name": name, "namespace": "ns", "labels": labels}}),
        )
        .unwrap()
    }

    fn names(refs: Vec<ObjectRef<Pod>>) -> Vec<String> {
        let mut names: Vec<String> = refs.into_iter().map(|r| r.name).collect();
        names.sort();
        names
    }

    #[test]
    fn follows_adds_changes_and_deletes() {
        let index = LabelIndex::<Pod>::default();
        index.applied(&pod("a", &[("app", "x")]));
        index.applied(&pod("b", &[("app", "x"), ("tier", "web")]));
        index.applied(&pod("c", &[("app", "y")]));
        assert_eq!(names(index.lookup("app", &["x".into()])), ["a", "b"]);
        assert_eq!(
            names(index.lookup("app", &["x".into(), "y".into()])),
            ["a", "b", "c"]
        );
        index.applied(&pod("a", &[("app", "y")]));
        assert_eq!(names(index.lookup("app", &["x".into()])), ["b"]);
        index.deleted(&pod("b", &[]));
        assert!(index.lookup("app", &["x".into()]).is_empty());
        assert!(index.lookup("tier", &["web".into()]).is_empty());
        index.replaced(&[Arc::new(pod("z", &[("app", "x")]))]);
        assert_eq!(names(index.lookup("app", &["x".into()])), ["z"]);
        assert!(index.lookup("app", &["y".into()]).is_empty());
    }
}
