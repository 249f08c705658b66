//! A cache's objects by namespace and name, in place of kube-runtime's reflector store, which keys each object by
//! an `ObjectRef` of four owned strings (name, namespace, resourceVersion, uid: about 300 bytes per object with its
//! table slot). Here an object is found through its own name: a table slot is one pointer, and each namespace's
//! name is kept once. Same interface for readers (`get`, `state`, `len`) and the writer (`apply_watcher_event`).

use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, PoisonError, RwLock};

use kube::Resource;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;

/// An object as a set member or map key, equal to and hashed as its name, so that a set of them is looked up by
/// `&str` (the objects of one namespace; also the selection index's).
pub(super) struct ByName<K>(pub(super) Arc<K>);

impl<K: Resource> ByName<K> {
    fn name(&self) -> &str {
        self.0.meta().name.as_deref().unwrap_or_default()
    }
}

impl<K: Resource> Borrow<str> for ByName<K> {
    fn borrow(&self) -> &str {
        self.name()
    }
}

impl<K: Resource> Hash for ByName<K> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name().hash(state);
    }
}

impl<K: Resource> PartialEq for ByName<K> {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl<K: Resource> Eq for ByName<K> {}

/// Objects by namespace (`""` for cluster-scoped kinds), then by name.
struct Objects<K> {
    by_namespace: HashMap<Box<str>, HashSet<ByName<K>>>,
    len: usize,
}

impl<K> Default for Objects<K> {
    fn default() -> Self {
        Objects {
            by_namespace: HashMap::new(),
            len: 0,
        }
    }
}

impl<K: Resource> Objects<K> {
    fn insert(&mut self, object: Arc<K>) {
        let namespace = object.meta().namespace.as_deref().unwrap_or_default();
        let names = match self.by_namespace.get_mut(namespace) {
            Some(names) => names,
            None => self.by_namespace.entry(namespace.into()).or_default(),
        };
        if names.replace(ByName(object)).is_none() {
            self.len += 1;
        }
    }

    fn remove(&mut self, namespace: &str, name: &str) {
        let Some(names) = self.by_namespace.get_mut(namespace) else {
            return;
        };
        if names.remove(name) {
            self.len -= 1;
        }
        if names.is_empty() {
            self.by_namespace.remove(namespace);
        }
    }
}

/// The read side: cheap to clone, shared with the writer.
pub struct Store<K> {
    objects: Arc<RwLock<Objects<K>>>,
}

impl<K> Clone for Store<K> {
    fn clone(&self) -> Self {
        Store {
            objects: self.objects.clone(),
        }
    }
}

impl<K: Resource> Store<K> {
    /// The object `key` names (namespace and name; the rest of the reference is not compared).
    pub fn get(&self, key: &ObjectRef<K>) -> Option<Arc<K>> {
        let objects = self.objects.read().unwrap_or_else(PoisonError::into_inner);
        let names = objects
            .by_namespace
            .get(key.namespace.as_deref().unwrap_or_default())?;
        names.get(key.name.as_str()).map(|object| object.0.clone())
    }

    /// Every object, in no particular order.
    pub fn state(&self) -> Vec<Arc<K>> {
        let objects = self.objects.read().unwrap_or_else(PoisonError::into_inner);
        let mut all = Vec::with_capacity(objects.len);
        for names in objects.by_namespace.values() {
            all.extend(names.iter().map(|object| object.0.clone()));
        }
        all
    }

    /// The number of objects.
    pub fn len(&self) -> usize {
        self.objects
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len
    }

    /// Whether there are no objects.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The write side, applying watch events; a (re)list is gathered apart and replaces the objects at its end.
pub struct Writer<K> {
    store: Store<K>,
    /// The objects of a list in progress.
    listing: Option<Objects<K>>,
}

impl<K> Default for Writer<K> {
    fn default() -> Self {
        Writer {
            store: Store {
                objects: Arc::default(),
            },
            listing: None,
        }
    }
}

impl<K: Resource + Clone> Writer<K> {
    /// A reader of what this writer writes.
    pub fn as_reader(&self) -> Store<K> {
        self.store.clone()
    }

    /// Applies one watch event: `Init` starts a list, `InitApply` adds to it, `InitDone` makes it the content;
    /// `Apply` and `Delete` change the content.
    pub fn apply_watcher_event(&mut self, event: &watcher::Event<K>) {
        match event {
            watcher::Event::Init => self.listing = Some(Objects::default()),
            watcher::Event::InitApply(object) => {
                self.listing
                    .get_or_insert_with(Objects::default)
                    .insert(Arc::new(object.clone()));
            }
            watcher::Event::InitDone => {
                let listed = self.listing.take().unwrap_or_default();
                *self.write() = listed;
            }
            watcher::Event::Apply(object) => self.write().insert(Arc::new(object.clone())),
            watcher::Event::Delete(object) => {
                let meta = object.meta();
                let namespace = meta.namespace.as_deref().unwrap_or_default();
                let name = meta.name.as_deref().unwrap_or_default();
                self.write().remove(namespace, name);
            }
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Objects<K>> {
        self.store
            .objects
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Namespace, Pod};

    fn pod(namespace: &str, name: &str, version: &str) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": namespace, "resourceVersion": version}
        }))
        .unwrap()
    }

    fn version(store: &Store<Pod>, namespace: &str, name: &str) -> Option<String> {
        store
            .get(&ObjectRef::new(name).within(namespace))
            .map(|p| p.metadata.resource_version.clone().unwrap())
    }

    #[test]
    fn follows_lists_applies_and_deletes() {
        let mut writer = Writer::<Pod>::default();
        let store = writer.as_reader();
        writer.apply_watcher_event(&watcher::Event::Init);
        writer.apply_watcher_event(&watcher::Event::InitApply(pod("a", "p", "1")));
        writer.apply_watcher_event(&watcher::Event::InitApply(pod("b", "p", "2")));
        assert!(store.is_empty(), "a list shows when it is done");
        writer.apply_watcher_event(&watcher::Event::InitDone);
        assert_eq!(store.len(), 2);
        assert_eq!(version(&store, "a", "p").as_deref(), Some("1"));
        assert_eq!(version(&store, "b", "p").as_deref(), Some("2"));
        assert_eq!(version(&store, "c", "p"), None);

        writer.apply_watcher_event(&watcher::Event::Apply(pod("a", "p", "3")));
        assert_eq!(store.len(), 2, "a changed object replaces its copy");
        assert_eq!(version(&store, "a", "p").as_deref(), Some("3"));
        writer.apply_watcher_event(&watcher::Event::Apply(pod("a", "q", "4")));
        writer.apply_watcher_event(&watcher::Event::Delete(pod("b", "p", "2")));
        writer.apply_watcher_event(&watcher::Event::Delete(pod("b", "gone", "0")));
        assert_eq!(store.len(), 2);
        assert_eq!(version(&store, "b", "p"), None);
        let mut all: Vec<String> = store
            .state()
            .iter()
            .map(|p| p.metadata.name.clone().unwrap())
            .collect();
        all.sort();
        assert_eq!(all, ["p", "q"]);

        writer.apply_watcher_event(&watcher::Event::Init);
        writer.apply_watcher_event(&watcher::Event::InitApply(pod("z", "z", "9")));
        assert_eq!(store.len(), 2, "the old content is served during a relist");
        writer.apply_watcher_event(&watcher::Event::InitDone);
        assert_eq!(store.len(), 1);
        assert_eq!(version(&store, "a", "p"), None);
        assert_eq!(version(&store, "z", "z").as_deref(), Some("9"));
        assert_eq!(store.objects.read().unwrap().by_namespace.len(), 1);
    }

    #[test]
    fn emptied_namespaces_are_dropped() {
        let mut writer = Writer::<Pod>::default();
        writer.apply_watcher_event(&watcher::Event::Apply(pod("a", "p", "1")));
        writer.apply_watcher_event(&watcher::Event::Delete(pod("a", "p", "1")));
        let store = writer.as_reader();
        assert!(store.is_empty());
        assert!(store.objects.read().unwrap().by_namespace.is_empty());
    }

    #[test]
    fn cluster_scoped_objects_are_found_by_name() {
        let mut writer = Writer::<Namespace>::default();
        let namespace: Namespace =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "n"}})).unwrap();
        writer.apply_watcher_event(&watcher::Event::Apply(namespace));
        let store = writer.as_reader();
        assert!(store.get(&ObjectRef::new("n")).is_some());
        assert!(store.get(&ObjectRef::new("m")).is_none());
    }
}
