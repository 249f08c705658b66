//! A counter bumped by every change of the caches it observes: results computed from those caches stay valid
//! while it has not moved (see `service::lists::memo`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::cache::{Cached, Observer};

/// Moves by one per observed event; only comparing two readings for equality means anything.
#[derive(Default)]
pub struct Generation(AtomicU64);

impl Generation {
    /// Equal to an earlier reading exactly when no observed cache changed in between.
    pub fn current(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    /// Records a change.
    pub fn bump(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

impl<K: Cached> Observer<K> for Generation {
    fn applied(&self, _: &Arc<K>) {
        self.bump();
    }
    fn deleted(&self, _: &K) {
        self.bump();
    }
    fn replaced(&self, _: &[Arc<K>]) {
        self.bump();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;

    #[test]
    fn every_change_moves_it() {
        let generation = Generation::default();
        let before = generation.current();
        Observer::<Pod>::applied(&generation, &Arc::new(Pod::default()));
        Observer::<Pod>::deleted(&generation, &Pod::default());
        Observer::<Pod>::replaced(&generation, &[]);
        assert_eq!(generation.current(), before + 3);
    }
}
