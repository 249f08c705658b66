//! A small map whose entries expire after a fixed time; used for TokenReview and SubjectAccessReview answers.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries beyond this many trigger a sweep of expired ones on insert.
const SWEEP_ABOVE: usize = 4096;

/// A map with per-entry expiry.
pub struct TtlCache<K, V> {
    ttl: Duration,
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    /// An empty cache whose entries live for `ttl` (0 disables caching).
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The live value for `key`, if any.
    pub fn get(&self, key: &K, now: Instant) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|(expires, _)| *expires > now)
            .map(|(_, v)| v.clone())
    }

    /// Stores `value` for `key` until `now + ttl`.
    pub fn insert(&self, key: K, value: V, now: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= SWEEP_ABOVE {
            entries.retain(|_, (expires, _)| *expires > now);
        }
        entries.insert(key, (now + self.ttl, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_after_the_ttl() {
        let cache = TtlCache::new(Duration::from_secs(10));
        let t0 = Instant::now();
        cache.insert("a", 1, t0);
        assert_eq!(cache.get(&"a", t0 + Duration::from_secs(9)), Some(1));
        assert_eq!(cache.get(&"a", t0 + Duration::from_secs(10)), None);
        assert_eq!(cache.get(&"b", t0), None);
    }

    #[test]
    fn zero_ttl_caches_nothing() {
        let cache = TtlCache::new(Duration::ZERO);
        let t0 = Instant::now();
        cache.insert("a", 1, t0);
        assert_eq!(cache.get(&"a", t0), None);
    }

    #[test]
    fn expired_entries_are_swept_when_the_map_grows() {
        let cache = TtlCache::new(Duration::from_secs(1));
        let t0 = Instant::now();
        for i in 0..SWEEP_ABOVE {
            cache.insert(i, i, t0);
        }
        cache.insert(SWEEP_ABOVE, 0, t0 + Duration::from_secs(2));
        assert_eq!(cache.entries.lock().unwrap().len(), 1);
    }
}
