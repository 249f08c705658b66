//! Objects by stored label (`key=value`) and by namespace, fed by a cache's watch events, so that a list with an
//! equality selector or in one namespace looks at its candidates only instead of scanning the whole cache. The
//! index shares the store's copies of the objects; names and label strings are shared between its maps.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use super::cache::{Cached, Observer};
use super::compact::StoredMeta;

/// Where an object is: namespace (`""` for cluster-scoped objects) and name.
type Key = (Arc<str>, Arc<str>);

/// Objects by stored label and by namespace.
pub struct SelectionIndex<K: Cached + StoredMeta> {
    inner: RwLock<Entries<K>>,
}

struct Entries<K: Cached + StoredMeta> {
    /// The store's copies, never changed in place: an object's stored labels are the ones it is indexed under.
    objects: HashMap<Key, Arc<K>>,
    /// label key → label value → objects.
    by_label: HashMap<Arc<str>, HashMap<Arc<str>, HashSet<Key>>>,
    by_namespace: HashMap<Arc<str>, HashSet<Key>>,
}

impl<K: Cached + StoredMeta> Default for SelectionIndex<K> {
    fn default() -> Self {
        Self {
            inner: RwLock::new(Entries {
                objects: HashMap::new(),
                by_label: HashMap::new(),
                by_namespace: HashMap::new(),
            }),
        }
    }
}

impl<K: Cached + StoredMeta> SelectionIndex<K> {
    /// The objects whose stored label `key` has one of `values`.
    pub fn with_label(&self, key: &str, values: &[String]) -> Vec<Arc<K>> {
        let entries = self.read();
        let Some(by_value) = entries.by_label.get(key) else {
            return Vec::new();
        };
        values
            .iter()
            .filter_map(|value| by_value.get(value.as_str()))
            .flatten()
            .filter_map(|key| entries.objects.get(key).cloned())
            .collect()
    }

    /// The objects in `namespace`.
    pub fn in_namespace(&self, namespace: &str) -> Vec<Arc<K>> {
        let entries = self.read();
        entries
            .by_namespace
            .get(namespace)
            .into_iter()
            .flatten()
            .filter_map(|key| entries.objects.get(key).cloned())
            .collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Entries<K>> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Entries<K>> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// `text` as an `Arc<str>` shared with the keys of `map` when one is equal.
fn shared<V>(map: &HashMap<Arc<str>, V>, text: &str) -> Arc<str> {
    map.get_key_value(text)
        .map_or_else(|| Arc::from(text), |(k, _)| k.clone())
}

impl<K: Cached + StoredMeta> Entries<K> {
    fn key_of(&self, object: &K) -> Key {
        let meta = object.meta();
        let namespace = meta.namespace.as_deref().unwrap_or_default();
        let name = meta.name.as_deref().unwrap_or_default();
        (shared(&self.by_namespace, namespace), Arc::from(name))
    }

    fn remove(&mut self, key: &Key) {
        let Some(object) = self.objects.remove(key) else {
            return;
        };
        for (label, value) in object.stored_labels().iter() {
            if let Some(by_value) = self.by_label.get_mut(label) {
                if let Some(keys) = by_value.get_mut(value) {
                    keys.remove(key);
                    if keys.is_empty() {
                        by_value.remove(value);
                    }
                }
                if by_value.is_empty() {
                    self.by_label.remove(label);
                }
            }
        }
        if let Some(keys) = self.by_namespace.get_mut(&key.0) {
            keys.remove(key);
            if keys.is_empty() {
                self.by_namespace.remove(&key.0);
            }
        }
    }

    fn insert(&mut self, object: &Arc<K>) {
        let key = self.key_of(object);
        self.remove(&key);
        for (label, value) in object.stored_labels().iter() {
            let label = shared(&self.by_label, label);
            let by_value = self.by_label.entry(label).or_default();
            let value = shared(by_value, value);
            by_value.entry(value).or_default().insert(key.clone());
        }
        self.by_namespace
            .entry(key.0.clone())
            .or_default()
            .insert(key.clone());
        self.objects.insert(key, object.clone());
    }
}

impl<K: Cached + StoredMeta> Observer<K> for SelectionIndex<K> {
    fn applied(&self, object: &Arc<K>) {
        self.write().insert(object);
    }

    fn deleted(&self, object: &K) {
        let mut entries = self.write();
        let key = entries.key_of(object);
        entries.remove(&key);
    }

    fn replaced(&self, objects: &[Arc<K>]) {
        let mut entries = self.write();
        entries.objects.clear();
        entries.by_label.clear();
        entries.by_namespace.clear();
        for object in objects {
            entries.insert(object);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;

    fn pod(namespace: &str, name: &str, labels: &[(&str, &str)]) -> Arc<Pod> {
        let labels: std::collections::BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Arc::new(
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": name, "namespace": namespace, "labels": labels}
            }))
            .unwrap(),
        )
    }

    fn names(pods: Vec<Arc<Pod>>) -> Vec<String> {
        let mut names: Vec<String> = pods
            .iter()
            .map(|p| {
                let meta = &p.metadata;
                format!(
                    "{}/{}",
                    meta.namespace.as_deref().unwrap(),
                    meta.name.as_deref().unwrap()
                )
            })
            .collect();
        names.sort();
        names
    }

    #[test]
    fn follows_adds_changes_and_deletes() {
        let index = SelectionIndex::<Pod>::default();
        index.applied(&pod("ns", "a", &[("app", "x")]));
        index.applied(&pod("ns", "b", &[("app", "x"), ("tier", "web")]));
        index.applied(&pod("other", "c", &[("app", "y")]));
        assert_eq!(
            names(index.with_label("app", &["x".into()])),
            ["ns/a", "ns/b"]
        );
        assert_eq!(
            names(index.with_label("app", &["x".into(), "y".into()])),
            ["ns/a", "ns/b", "other/c"]
        );
        assert_eq!(names(index.in_namespace("ns")), ["ns/a", "ns/b"]);
        index.applied(&pod("ns", "a", &[("app", "y")]));
        assert_eq!(names(index.with_label("app", &["x".into()])), ["ns/b"]);
        assert_eq!(
            index.with_label("app", &["y".into()])[0]
                .metadata
                .labels
                .as_ref()
                .unwrap()["app"],
            "y",
            "the index holds the current copy"
        );
        index.deleted(&pod("ns", "b", &[]));
        assert!(index.with_label("app", &["x".into()]).is_empty());
        assert!(index.with_label("tier", &["web".into()]).is_empty());
        assert_eq!(names(index.in_namespace("ns")), ["ns/a"]);
        index.replaced(&[pod("z", "z", &[("app", "x")])]);
        assert_eq!(names(index.with_label("app", &["x".into()])), ["z/z"]);
        assert!(index.with_label("app", &["y".into()]).is_empty());
        assert!(index.in_namespace("ns").is_empty());
        let entries = index.read();
        assert_eq!(entries.by_label.len(), 1, "emptied labels are dropped");
        assert_eq!(entries.by_namespace.len(), 1);
    }
}
