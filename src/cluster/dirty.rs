//! A set of namespaces waiting to be reconciled, marked by watch events (an [`Observer`] of namespaces and of
//! pools) and drained by a reconciler: the controller's work queue, deduplicated by name.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Namespace;
use tokio::sync::Notify;

use super::cache::Observer;
use super::calico::IPPool;

/// What [`DirtyNamespaces::take`] hands over.
#[derive(Debug, Default, PartialEq, Eq)]
pub enum Dirty {
    #[default]
    Nothing,
    /// Namespaces marked one by one since the last take.
    Names(BTreeSet<String>),
    /// Every namespace (after a relist, a pool change, or a resync).
    All,
}

/// Namespaces to reconcile, with a wake-up for the reconciler.
#[derive(Default)]
pub struct DirtyNamespaces {
    dirty: Mutex<Dirty>,
    wake: Notify,
}

impl DirtyNamespaces {
    /// Marks one namespace and wakes the reconciler.
    pub fn mark(&self, name: &str) {
        let mut dirty = self.dirty.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *dirty {
            Dirty::All => {}
            Dirty::Names(names) => {
                names.insert(name.to_owned());
            }
            Dirty::Nothing => *dirty = Dirty::Names(BTreeSet::from([name.to_owned()])),
        }
        drop(dirty);
        self.wake.notify_one();
    }

    /// Marks every namespace and wakes the reconciler.
    pub fn mark_all(&self) {
        *self.dirty.lock().unwrap_or_else(|e| e.into_inner()) = Dirty::All;
        self.wake.notify_one();
    }

    /// Takes what is waiting, leaving [`Dirty::Nothing`].
    pub fn take(&self) -> Dirty {
        std::mem::take(&mut *self.dirty.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Resolves when something was marked since the last wake-up.
    pub async fn marked(&self) {
        self.wake.notified().await
    }
}

impl Observer<Namespace> for DirtyNamespaces {
    fn applied(&self, namespace: &Namespace) {
        self.mark(namespace.metadata.name.as_deref().unwrap_or_default());
    }
    fn deleted(&self, _: &Namespace) {}
    fn replaced(&self, _: &[Arc<Namespace>]) {
        self.mark_all();
    }
}

impl Observer<IPPool> for DirtyNamespaces {
    fn applied(&self, _: &IPPool) {
        self.mark_all();
    }
    fn deleted(&self, _: &IPPool) {
        self.mark_all();
    }
    fn replaced(&self, _: &[Arc<IPPool>]) {
        self.mark_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_merge_and_take_empties() {
        let dirty = DirtyNamespaces::default();
        assert_eq!(dirty.take(), Dirty::Nothing);
        dirty.mark("a");
        dirty.mark("b");
        dirty.mark("a");
        assert_eq!(
            dirty.take(),
            Dirty::Names(BTreeSet::from(["a".to_owned(), "b".to_owned()]))
        );
        dirty.mark("a");
        dirty.mark_all();
        dirty.mark("c");
        assert_eq!(dirty.take(), Dirty::All);
        assert_eq!(dirty.take(), Dirty::Nothing);
    }
}
