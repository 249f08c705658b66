//! Filtered and sorted lists remembered per query while the caches they were computed from do not change: a page of
//! a remembered list costs O(page), and any change of those caches makes the next request evaluate once more. Only
//! a prefix of a list is sorted (at least [`MIN_SORTED`] items, more when a later page asks), so an evaluation
//! after a change costs a selection, not a full sort.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use crate::query::{ListQuery, SortedPrefix};

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

/// A list and the cache generation it was computed at.
struct Remembered<T> {
    generation: u64,
    list: Arc<SortedPrefix<T>>,
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

/// Items an evaluation sorts at least: the first 50 pages of 10.
pub const MIN_SORTED: usize = 500;

impl<T> ListMemo<T> {
    /// The list remembered for `key` at `generation` when it is sorted up to `end`, or the one `evaluate`
    /// computes sorted up to the number it is given (at least `end`), then remembered.
    pub fn get_or_evaluate<E>(
        &self,
        generation: u64,
        key: ListKey,
        end: usize,
        evaluate: impl FnOnce(usize) -> Result<SortedPrefix<T>, E>,
    ) -> Result<Arc<SortedPrefix<T>>, E> {
        if let Some(remembered) = self.lock().get(&key)
            && remembered.generation == generation
            && remembered.list.covers(end)
        {
            return Ok(remembered.list.clone());
        }
        let list = Arc::new(evaluate(end.max(MIN_SORTED))?);
        let mut entries = self.lock();
        if entries.len() >= MEMO_ENTRIES {
            entries.clear();
        }
        let remembered = Remembered {
            generation,
            list: list.clone(),
        };
        entries.insert(key, remembered);
        Ok(list)
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

    /// A list of one item telling which evaluation made it and how far it was sorted.
    fn list(evaluation: u32, sorted: usize) -> SortedPrefix<(u32, usize)> {
        SortedPrefix {
            items: vec![(evaluation, sorted); 2 * MIN_SORTED],
            sorted,
        }
    }

    #[test]
    fn a_list_is_reused_until_the_generation_moves_and_paging_is_not_part_of_the_key() {
        let memo = ListMemo::<(u32, usize)>::default();
        let mut evaluations = 0;
        let mut get = |generation, text: &str, end| {
            let key = ListKey::new(None, None, &query(text));
            memo.get_or_evaluate(generation, key, end, |sorted| {
                evaluations += 1;
                Ok::<_, ()>(list(evaluations, sorted))
            })
            .unwrap()
            .items[0]
        };
        assert_eq!(get(1, "limit=10", 10), (1, MIN_SORTED));
        assert_eq!(
            get(1, "limit=5&page=3", 15),
            (1, MIN_SORTED),
            "same list, other page"
        );
        assert_eq!(
            get(2, "limit=10", 10),
            (2, MIN_SORTED),
            "the caches changed"
        );
        assert_eq!(get(2, "sortBy=name", 10), (3, MIN_SORTED), "another query");
        assert_eq!(
            get(2, "sortBy=name", MIN_SORTED + 10),
            (4, MIN_SORTED + 10),
            "a page past the sorted part sorts further"
        );
        assert_eq!(get(2, "sortBy=name", 20), (4, MIN_SORTED + 10));
    }

    #[test]
    fn who_sees_what_is_part_of_the_key() {
        let memo = ListMemo::<(u32, usize)>::default();
        let q = query("");
        let some: BTreeSet<String> = ["a".to_owned()].into();
        let get = |key, evaluation| {
            memo.get_or_evaluate(1, key, 1, |sorted| Ok::<_, ()>(list(evaluation, sorted)))
                .unwrap()
                .items[0]
                .0
        };
        assert_eq!(get(ListKey::new(None, None, &q), 1), 1);
        assert_eq!(get(ListKey::new(None, Some(&some), &q), 2), 2);
        assert_eq!(get(ListKey::new(Some("a"), None, &q), 3), 3);
        assert_eq!(get(ListKey::new(None, None, &q), 4), 1);
    }

    #[test]
    fn errors_are_not_remembered() {
        let memo = ListMemo::<(u32, usize)>::default();
        let key = || ListKey::new(None, None, &query(""));
        assert_eq!(
            memo.get_or_evaluate(1, key(), 1, |_| Err("down")),
            Err("down")
        );
        let got = memo.get_or_evaluate(1, key(), 1, |sorted| Ok::<_, &str>(list(7, sorted)));
        assert_eq!(got.unwrap().items[0].0, 7);
    }
}
