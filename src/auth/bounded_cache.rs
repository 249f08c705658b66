//! A map with per-entry expiry and a hard cap on entries, evicting the least recently used; every
//! operation is O(log n), nothing sweeps the whole map.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

/// A value, when it expires, and its place in the recency order.
struct Entry<V> {
    value: V,
    expires: Instant,
    used: u64,
}

/// A TTL map of at most `max_entries` entries. Not synchronised; callers hold it behind a lock.
pub struct BoundedCache<K, V> {
    ttl: Duration,
    max_entries: NonZeroUsize,
    entries: HashMap<K, Entry<V>>,
    /// Keys by last use, oldest first.
    recency: BTreeMap<u64, K>,
    /// The next use stamp.
    clock: u64,
}

impl<K: Eq + Hash + Clone, V: Clone> BoundedCache<K, V> {
    /// An empty cache whose entries live for `ttl` (0 disables caching).
    pub fn new(ttl: Duration, max_entries: NonZeroUsize) -> Self {
        Self {
            ttl,
            max_entries,
            entries: HashMap::new(),
            recency: BTreeMap::new(),
            clock: 0,
        }
    }

    /// The live value for `key`, if any, which becomes the most recently used; an expired one is dropped.
    pub fn get(&mut self, key: &K, now: Instant) -> Option<V> {
        let stamp = self.stamp();
        let entry = self.entries.get_mut(key)?;
        self.recency.remove(&entry.used);
        if entry.expires <= now {
            self.entries.remove(key);
            return None;
        }
        entry.used = stamp;
        let value = entry.value.clone();
        self.recency.insert(stamp, key.clone());
        Some(value)
    }

    /// Stores `value` for `key` until `now + ttl`, evicting the least recently used entry when full.
    pub fn insert(&mut self, key: K, value: V, now: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        let used = self.stamp();
        let entry = Entry {
            value,
            expires: now + self.ttl,
            used,
        };
        if let Some(old) = self.entries.insert(key.clone(), entry) {
            self.recency.remove(&old.used);
        } else if self.entries.len() > self.max_entries.get()
            && let Some((_, oldest)) = self.recency.pop_first()
        {
            self.entries.remove(&oldest);
        }
        self.recency.insert(used, key);
    }

    /// How many entries are held (expired ones included until looked up or evicted).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    fn stamp(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(n: usize) -> NonZeroUsize {
        NonZeroUsize::new(n).unwrap()
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let mut cache = BoundedCache::new(Duration::from_secs(10), cap(4));
        let t0 = Instant::now();
        cache.insert("a", 1, t0);
        assert_eq!(cache.get(&"a", t0 + Duration::from_secs(9)), Some(1));
        assert_eq!(cache.get(&"a", t0 + Duration::from_secs(10)), None);
        assert_eq!(cache.len(), 0, "an expired entry is dropped when looked up");
        assert_eq!(cache.get(&"b", t0), None);
    }

    #[test]
    fn reinserting_restarts_the_ttl() {
        let mut cache = BoundedCache::new(Duration::from_secs(10), cap(4));
        let t0 = Instant::now();
        cache.insert("a", 1, t0);
        cache.insert("a", 2, t0 + Duration::from_secs(5));
        assert_eq!(cache.get(&"a", t0 + Duration::from_secs(12)), Some(2));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn zero_ttl_caches_nothing() {
        let mut cache = BoundedCache::new(Duration::ZERO, cap(4));
        let t0 = Instant::now();
        cache.insert("a", 1, t0);
        assert_eq!(cache.get(&"a", t0), None);
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn the_least_recently_used_entry_is_evicted_first() {
        let mut cache = BoundedCache::new(Duration::from_secs(60), cap(3));
        let t0 = Instant::now();
        cache.insert("a", 1, t0);
        cache.insert("b", 2, t0);
        cache.insert("c", 3, t0);
        assert_eq!(cache.get(&"a", t0), Some(1)); // order now b, c, a
        cache.insert("d", 4, t0);
        assert_eq!(cache.get(&"b", t0), None);
        cache.insert("c", 30, t0); // order now a, d, c
        cache.insert("e", 5, t0);
        assert_eq!(cache.get(&"a", t0), None);
        assert_eq!(cache.get(&"d", t0), Some(4));
        assert_eq!(cache.get(&"c", t0), Some(30));
        assert_eq!(cache.get(&"e", t0), Some(5));
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn the_cap_holds_for_many_distinct_keys() {
        let mut cache = BoundedCache::new(Duration::from_secs(60), cap(100));
        let t0 = Instant::now();
        for i in 0..10_000 {
            cache.insert(i, i, t0);
            assert!(cache.len() <= 100);
            assert_eq!(cache.recency.len(), cache.len());
        }
        assert_eq!(cache.get(&9_999, t0), Some(9_999));
        assert_eq!(cache.get(&9_899, t0), None);
    }
}
