//! A pod's key, (namespace, name), as one allocation that every structure of the index mentioning the pod shares,
//! and the lookups of a map keyed by it that take the pair of `&str` without building a key.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt;
use std::sync::Arc;

/// A pod's (namespace, name), both in one shared allocation: clones are cheap. Ordered and compared as the pair.
#[derive(Clone)]
pub(super) struct PodKey {
    /// The namespace, then the name.
    text: Arc<str>,
    /// Where the name starts in `text`.
    split: usize,
}

impl PodKey {
    pub(super) fn new(namespace: &str, name: &str) -> PodKey {
        PodKey {
            text: Arc::from([namespace, name].concat()),
            split: namespace.len(),
        }
    }

    pub(super) fn namespace(&self) -> &str {
        self.pair().0
    }

    pub(super) fn name(&self) -> &str {
        self.pair().1
    }

    /// Whether both keys are the same allocation.
    #[cfg(test)]
    pub(super) fn shares(&self, other: &PodKey) -> bool {
        Arc::ptr_eq(&self.text, &other.text)
    }
}

/// A (namespace, name) pair: what a map keyed by [`PodKey`] can be searched with (as `&dyn Pair`).
pub(super) trait Pair {
    fn pair(&self) -> (&str, &str);
}

impl Pair for PodKey {
    fn pair(&self) -> (&str, &str) {
        // `split` is the namespace's length, a character boundary.
        self.text
            .split_at_checked(self.split)
            .unwrap_or((&self.text, ""))
    }
}

impl Pair for (&str, &str) {
    fn pair(&self) -> (&str, &str) {
        *self
    }
}

impl<'a> Borrow<dyn Pair + 'a> for PodKey {
    fn borrow(&self) -> &(dyn Pair + 'a) {
        self
    }
}

impl PartialEq for dyn Pair + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.pair() == other.pair()
    }
}

impl Eq for dyn Pair + '_ {}

impl PartialOrd for dyn Pair + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for dyn Pair + '_ {
    fn cmp(&self, other: &Self) -> Ordering {
        self.pair().cmp(&other.pair())
    }
}

impl PartialEq for PodKey {
    fn eq(&self, other: &Self) -> bool {
        self.pair() == other.pair()
    }
}

impl Eq for PodKey {}

impl PartialOrd for PodKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PodKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.pair().cmp(&other.pair())
    }
}

impl fmt::Debug for PodKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.pair().fmt(f)
    }
}

/// The entry of (namespace, name) in `map`.
pub(super) fn find<'m, V>(
    map: &'m BTreeMap<PodKey, V>,
    namespace: &str,
    name: &str,
) -> Option<(&'m PodKey, &'m V)> {
    map.get_key_value(&(namespace, name) as &dyn Pair)
}

/// `map`'s key for (namespace, name), or a new key when it has none.
pub(super) fn interned<V>(map: &BTreeMap<PodKey, V>, namespace: &str, name: &str) -> PodKey {
    find(map, namespace, name).map_or_else(|| PodKey::new(namespace, name), |(key, _)| key.clone())
}

/// The value of `key` in `map`, added as the default when absent, with `map`'s own (shared) key.
pub(super) fn entry<V: Default>(map: &mut BTreeMap<PodKey, V>, key: PodKey) -> (PodKey, &mut V) {
    match map.entry(key) {
        Entry::Occupied(found) => (found.key().clone(), found.into_mut()),
        Entry::Vacant(absent) => (absent.key().clone(), absent.insert(V::default())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAIRS: [(&str, &str); 12] = [
        ("", ""),
        ("", "a"),
        ("a", ""),
        ("a", "b"),
        ("a", "bc"),
        ("ab", ""),
        ("a", "b/c"),
        ("a/b", "c"),
        ("a\0", ""),
        ("a", "\u{10FFFF}"),
        ("é", "a"),
        ("e", "\u{301}a"),
    ];

    #[test]
    fn keys_order_and_compare_as_the_pair() {
        for x in PAIRS {
            let kx = PodKey::new(x.0, x.1);
            assert_eq!((kx.namespace(), kx.name()), x);
            for y in PAIRS {
                let ky = PodKey::new(y.0, y.1);
                assert_eq!(kx.cmp(&ky), x.cmp(&y), "{x:?} vs {y:?}");
                assert_eq!(kx == ky, x == y, "{x:?} vs {y:?}");
            }
        }
        // The concatenations would order these the other way.
        assert!(PodKey::new("a", "bc") < PodKey::new("ab", ""));
        assert!(PodKey::new("a", "b/c") < PodKey::new("a/b", "c"));
    }

    #[test]
    fn maps_are_searched_by_the_pair() {
        let mut map: BTreeMap<PodKey, usize> = PAIRS
            .iter()
            .enumerate()
            .map(|(i, (namespace, name))| (PodKey::new(namespace, name), i))
            .collect();
        for (i, (namespace, name)) in PAIRS.iter().enumerate() {
            let (key, value) = find(&map, namespace, name).unwrap();
            assert_eq!(
                (key.namespace(), key.name(), *value),
                (*namespace, *name, i)
            );
        }
        assert!(find(&map, "a", "b/").is_none());
        assert!(find(&map, "a/", "b").is_none());

        let known = find(&map, "a/b", "c").unwrap().0.clone();
        assert!(interned(&map, "a/b", "c").shares(&known));
        let (shared, _) = entry(&mut map, PodKey::new("a/b", "c"));
        assert!(shared.shares(&known));
        let fresh = interned(&map, "new", "pod");
        assert!(find(&map, "new", "pod").is_none());
        let (added, value) = entry(&mut map, fresh.clone());
        assert!(added.shares(&fresh));
        assert_eq!(*value, 0);
    }
}
