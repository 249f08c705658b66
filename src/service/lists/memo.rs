//! Filtered and sorted lists remembered per query while the caches they were computed from do not change: a page of
//! a remembered list costs O(page), and any change of those caches makes the next request evaluate once more.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use crate::query::ListQuery;

/// What a sorted list depends on besides the caches: its scope, who sees what, and the query without its paging.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ListKey {
    namespace: Option<String>,
    visible: Option<BTreeSet<String>>,
    query: ListQuery,
}

impl ListKey {
    /// The key of `query` in `namespace` (`None`: every namespace) for a caller who sees `visible` (`None`: all).
    pub fn new(
        namespace: Option<&str>,
        visible: Option<&BTreeSet<String>>,
        query: &ListQuery,
    ) -> Self {
        let mut query = query.clone();
        query.page = 1;
        query.limit = -1;
        ListKey {
            namespace: namespace.map(str::to_owned),
            visible: visible.cloned(),
            query,
        }
    }
}

/// A sorted list and the cache generation it was computed at.
struct Remembered<T> {
    generation: u64,
    items: Arc<Vec<T>>,
}

/// Sorted lists by [`ListKey`].
pub struct ListMemo<T> {
    entries: Mutex<HashMap<ListKey, Remembered<T>>>,
}

impl<T> Default for ListMemo<T> {
    fn default() -> Self {
        ListMemo {
            entries: Mutex::default(),
        }
    }
}

/// Distinct queries remembered at most per kind; beyond, the memo starts over.
const MEMO_ENTRIES: usize = 64;

impl<T> ListMemo<T> {
    /// The list remembered for `key` at `generation`, or the one `evaluate` computes (then remembered).
    pub fn get_or_evaluate<E>(
        &self,
        generation: u64,
        key: ListKey,
        evaluate: impl FnOnce() -> Result<Vec<T>, E>,
    ) -> Result<Arc<Vec<T>>, E> {
        if let Some(remembered) = self.lock().get(&key)
            && remembered.generation == generation
        {
            return Ok(remembered.items.clone());
        }
        let items = Arc::new(evaluate()?);
        let mut entries = self.lock();
        if entries.len() >= MEMO_ENTRIES {
            entries.clear();
        }
        let remembered = Remembered {
            generation,
            items: items.clone(),
        };
        entries.insert(key, remembered);
        Ok(items)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ListKey, Remembered<T>>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(text: &str) -> ListQuery {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(text).unwrap();
        ListQuery::parse(&pairs).unwrap()
    }

    #[test]
    fn a_list_is_reused_until_the_generation_moves_and_paging_is_not_part_of_the_key() {
        let memo = ListMemo::<u32>::default();
        let mut evaluations = 0;
        let mut get = |generation, text: &str| {
            let key = ListKey::new(None, None, &query(text));
            memo.get_or_evaluate(generation, key, || {
                evaluations += 1;
                Ok::<_, ()>(vec![evaluations])
            })
            .unwrap()
        };
        assert_eq!(*get(1, "limit=10"), [1]);
        assert_eq!(*get(1, "limit=5&page=3"), [1], "same list, other page");
        assert_eq!(*get(2, "limit=10"), [2], "the caches changed");
        assert_eq!(*get(2, "sortBy=name"), [3], "another query");
    }

    #[test]
    fn who_sees_what_is_part_of_the_key() {
        let memo = ListMemo::<&str>::default();
        let q = query("");
        let some: BTreeSet<String> = ["a".to_owned()].into();
        memo.get_or_evaluate(1, ListKey::new(None, None, &q), || Ok::<_, ()>(vec!["all"]))
            .unwrap();
        let mine = memo
            .get_or_evaluate(1, ListKey::new(None, Some(&some), &q), || {
                Ok::<_, ()>(vec!["mine"])
            })
            .unwrap();
        assert_eq!(*mine, ["mine"]);
        let in_a = memo
            .get_or_evaluate(1, ListKey::new(Some("a"), None, &q), || {
                Ok::<_, ()>(vec!["in a"])
            })
            .unwrap();
        assert_eq!(*in_a, ["in a"]);
    }

    #[test]
    fn errors_are_not_remembered() {
        let memo = ListMemo::<u8>::default();
        let key = || ListKey::new(None, None, &query(""));
        assert_eq!(memo.get_or_evaluate(1, key(), || Err("down")), Err("down"));
        assert_eq!(
            *memo
                .get_or_evaluate(1, key(), || Ok::<_, &str>(vec![7]))
                .unwrap(),
            [7]
        );
    }
}
