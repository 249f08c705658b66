//! Sorting (algorithms §9.9) and paging (algorithms §9.10) over already filtered items, usually references into a
//! cache: items are moved, never cloned.

use std::cmp::Ordering;

use jiff::Timestamp;

use super::params::ListQuery;

/// What `sortBy` asks for (algorithms §9.9).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SortBy {
    /// `sortBy=name`: by (`metadata.name`, `metadata.namespace`).
    Name,
    /// `sortBy=startTime`: `status.startTime` (falling back to `metadata.creationTimestamp`) for pods; the creation
    /// timestamp for every other resource. The caller's key function decides.
    StartTime,
    /// Everything else (`creationTimestamp`, `createTime`, `updateTime`, unknown values, absent).
    #[default]
    CreationTimestamp,
}

impl SortBy {
    /// Reads the `sortBy` parameter: exactly `name` or `startTime`, anything else is creation time.
    pub fn from_param(value: &str) -> SortBy {
        match value {
            "name" => SortBy::Name,
            "startTime" => SortBy::StartTime,
            _ => SortBy::CreationTimestamp,
        }
    }
}

/// What an item is ordered by: (`time`, `name`, `namespace`), or (`name`, `namespace`) for [`SortBy::Name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SortKey<'a> {
    /// The timestamp the sort uses (`None` = earliest instant); ignored for [`SortBy::Name`].
    pub time: Option<Timestamp>,
    /// `metadata.name`.
    pub name: &'a str,
    /// `metadata.namespace` (`""` for cluster-scoped objects).
    pub namespace: &'a str,
}

impl SortKey<'_> {
    /// The ascending order of two keys under `sort_by`: strings byte-wise, timestamps by instant, a missing
    /// timestamp first. Total: equal only when every compared field is equal.
    pub fn compare(&self, other: &SortKey<'_>, sort_by: SortBy) -> Ordering {
        let by_name = || (self.name, self.namespace).cmp(&(other.name, other.namespace));
        match sort_by {
            SortBy::Name => by_name(),
            SortBy::StartTime | SortBy::CreationTimestamp => {
                self.time.cmp(&other.time).then_with(by_name)
            }
        }
    }
}

/// One page of a sorted list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    /// The items of the page, in order.
    pub items: Vec<T>,
    /// Number of items before paging (`totalItems`, `metadata.continue`).
    pub total: usize,
    /// Index after the page in the sorted list; `remainingItemCount = total − end`.
    pub end: usize,
}

impl<T> Page<T> {
    /// `total − end`: the dynamic endpoints' `metadata.remainingItemCount`.
    pub fn remaining(&self) -> usize {
        self.total.saturating_sub(self.end)
    }
}

/// The `[start, end)` range of the page (algorithms §9.10) in a sorted list of `total` items. A negative `limit`
/// means everything (`page` ignored); `limit == 0` and pages past the end are empty. Saturating arithmetic.
pub fn page_bounds(total: usize, page: u64, limit: i64) -> (usize, usize) {
    let Ok(limit) = u64::try_from(limit) else {
        return (0, total);
    };
    let total_wide = u64::try_from(total).unwrap_or(u64::MAX);
    let start = page.saturating_sub(1).saturating_mul(limit).min(total_wide);
    let end = start.saturating_add(limit).min(total_wide);
    (
        usize::try_from(start).unwrap_or(total),
        usize::try_from(end).unwrap_or(total),
    )
}

/// Sorts `items` by `query.sort_by` / `query.ascending` using `key`, then cuts the page of `query.page` /
/// `query.limit`.
///
/// Pass `key` inline or as a `fn` item (`fn key<'x>(o: &'x &Obj) -> SortKey<'x>`): a closure first bound with `let`
/// does not get the higher-ranked signature and fails to borrow-check.
pub fn sort_and_page<T>(
    items: Vec<T>,
    query: &ListQuery,
    key: impl Fn(&T) -> SortKey<'_>,
) -> Page<T> {
    let total = items.len();
    let (start, end) = page_bounds(total, query.page, query.limit);
    let mut items = sort_prefix(items, query, end, key).items;
    items.truncate(end);
    Page {
        items: items.split_off(start.min(items.len())),
        total,
        end,
    }
}

/// Items of which the first `sorted` are in the list's order and precede all the others (which are in no
/// particular order): enough of a sorted list for every page that ends by `sorted`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SortedPrefix<T> {
    /// All the items.
    pub items: Vec<T>,
    /// How many leading items are in order.
    pub sorted: usize,
}

impl<T> SortedPrefix<T> {
    /// Whether the page ending at `end` lies in the sorted part.
    pub fn covers(&self, end: usize) -> bool {
        end <= self.sorted || self.sorted == self.items.len()
    }
}

/// Puts the first `end` items of the order of `query.sort_by` / `query.ascending` (by `key`) in front, in order;
/// the rest follow in no particular order.
///
/// Strategy (O(n + end·log end)): the keys are computed once and positions are ordered, not items; when `end`
/// is before the last item `select_nth_unstable_by` first moves the `end` first positions to the front, and only
/// those are sorted. The order is total, so the prefix equals that of a fully sorted list.
///
/// Measured on 20,000 cached pods (release build, `cargo bench --bench lists`): first page of 10 by start time
/// 0.47 ms including the collection of the references; everything 8–10 ms.
pub fn sort_prefix<T>(
    items: Vec<T>,
    query: &ListQuery,
    end: usize,
    key: impl Fn(&T) -> SortKey<'_>,
) -> SortedPrefix<T> {
    let total = items.len();
    let end = end.min(total);
    if end == 0 {
        return SortedPrefix { items, sorted: 0 };
    }
    let positions: Vec<usize> = {
        let keys: Vec<SortKey<'_>> = items.iter().map(&key).collect();
        let (sort_by, ascending) = (query.sort_by, query.ascending);
        let order = |a: &usize, b: &usize| {
            let ordering = keys[*a].compare(&keys[*b], sort_by);
            if ascending {
                ordering
            } else {
                ordering.reverse()
            }
        };
        let mut positions: Vec<usize> = (0..total).collect();
        if end < total {
            // `end ≥ 1` here: positions[..end] become the `end` first positions, in any order.
            positions.select_nth_unstable_by(end - 1, order);
        }
        positions[..end].sort_unstable_by(order);
        positions
    };
    let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
    SortedPrefix {
        items: positions.iter().filter_map(|&i| slots[i].take()).collect(),
        sorted: end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::params::ListQuery;

    #[derive(Debug, Clone, PartialEq)]
    struct Item {
        name: String,
        namespace: String,
        created: Option<Timestamp>,
        started: Option<Timestamp>,
    }

    fn ts(text: &str) -> Timestamp {
        match text.parse() {
            Ok(t) => t,
            Err(e) => panic!("{text}: {e}"),
        }
    }

    fn item(namespace: &str, name: &str, created: &str) -> Item {
        Item {
            name: name.to_owned(),
            namespace: namespace.to_owned(),
            created: (!created.is_empty()).then(|| ts(created)),
            started: None,
        }
    }

    fn query(text: &str) -> ListQuery {
        let pairs: Vec<(String, String)> = match serde_urlencoded::from_str(text) {
            Ok(p) => p,
            Err(e) => panic!("{text}: {e}"),
        };
        match ListQuery::parse(&pairs) {
            Ok(q) => q,
            Err(e) => panic!("{text}: {e}"),
        }
    }

    /// The pods' key function of algorithms §9.9.
    fn key_of(sort_by: SortBy) -> impl for<'x, 'y> Fn(&'x &'y Item) -> SortKey<'x> {
        move |item: &&Item| SortKey {
            time: match sort_by {
                SortBy::StartTime => item.started.or(item.created),
                _ => item.created,
            },
            name: &item.name,
            namespace: &item.namespace,
        }
    }

    fn run<'a>(items: &'a [Item], text: &str) -> (Vec<&'a str>, usize, usize) {
        let q = query(text);
        let page = sort_and_page(items.iter().collect(), &q, key_of(q.sort_by));
        (
            page.items.iter().map(|i| i.name.as_str()).collect(),
            page.total,
            page.remaining(),
        )
    }

    /// Fixture F-P: 23 items `pg-01` … `pg-23` created at `2026-03-01T00:00:NNZ` (given in a scrambled order).
    fn fp() -> Vec<Item> {
        (1..=23)
            .map(|n| (n * 7) % 23 + 1)
            .map(|n| {
                item(
                    "",
                    &format!("pg-{n:02}"),
                    &format!("2026-03-01T00:00:{n:02}Z"),
                )
            })
            .collect()
    }

    fn names(from: u32, to: u32) -> Vec<String> {
        if from <= to {
            (from..=to).map(|n| format!("pg-{n:02}")).collect()
        } else {
            (to..=from).rev().map(|n| format!("pg-{n:02}")).collect()
        }
    }

    #[test]
    fn sort_by_parameter() {
        assert_eq!(SortBy::from_param("name"), SortBy::Name);
        assert_eq!(SortBy::from_param("startTime"), SortBy::StartTime);
        for other in [
            "createTime",
            "creationTimestamp",
            "updateTime",
            "Name",
            "",
            "x",
        ] {
            assert_eq!(SortBy::from_param(other), SortBy::CreationTimestamp);
        }
    }

    #[test]
    fn page_bounds_saturate() {
        assert_eq!(page_bounds(23, 1, -1), (0, 23));
        assert_eq!(page_bounds(23, 5, -1), (0, 23));
        assert_eq!(page_bounds(23, 3, 10), (20, 23));
        assert_eq!(page_bounds(23, 4, 10), (23, 23));
        assert_eq!(page_bounds(23, 1, 0), (0, 0));
        assert_eq!(page_bounds(23, u64::MAX, i64::MAX), (23, 23));
        assert_eq!(page_bounds(23, 1, i64::MAX), (0, 23));
        assert_eq!(page_bounds(0, 1, 10), (0, 0));
        assert_eq!(
            page_bounds(23, 0, 10),
            (0, 10),
            "page 0 (rejected by parse) acts as 1"
        );
        assert_eq!(page_bounds(23, 1, -7), (0, 23));
    }

    #[test]
    fn case_73_last_page() {
        let items = fp();
        let (got, total, remaining) = run(&items, "limit=10&page=3");
        assert_eq!(got, ["pg-03", "pg-02", "pg-01"]);
        assert_eq!((total, remaining), (23, 0));
    }

    #[test]
    fn case_74_first_page() {
        let items = fp();
        let (got, total, remaining) = run(&items, "limit=10&page=1");
        assert_eq!(got, names(23, 14));
        assert_eq!(
            (total, remaining),
            (23, 13),
            "api §2.1 example: remainingItemCount 13"
        );
    }

    #[test]
    fn case_75_past_the_end() {
        let items = fp();
        assert_eq!(run(&items, "limit=10&page=4"), (vec![], 23, 0));
    }

    #[test]
    fn case_76_zero_limit() {
        let items = fp();
        let (got, total, remaining) = run(&items, "limit=0");
        assert!(got.is_empty());
        assert_eq!((total, remaining), (23, 23));
    }

    #[test]
    fn case_79_limit_minus_one_ignores_page() {
        let items = fp();
        let (got, total, remaining) = run(&items, "limit=-1&page=5");
        assert_eq!(got, names(23, 1));
        assert_eq!((total, remaining), (23, 0));
    }

    #[test]
    fn case_80_unparsable_values_are_defaults() {
        let items = fp();
        assert_eq!(
            run(&items, "limit=add&page=abc&ascending=ssss").0,
            names(23, 1)
        );
    }

    #[test]
    fn case_82_first_of_repeated_keys() {
        let items = fp();
        assert_eq!(run(&items, "limit=5&limit=10").0, names(23, 19));
    }

    #[test]
    fn case_83_no_limit_is_everything() {
        let items = fp();
        assert_eq!(run(&items, "").0.len(), 23);
    }

    #[test]
    fn case_84_direction() {
        let items = fp();
        assert_eq!(run(&items, "ascending=true&limit=3").0, names(1, 3));
        assert_eq!(run(&items, "ascending=maybe&limit=3").0, names(23, 21));
    }

    #[test]
    fn case_85_sort_by_name() {
        let items = fp();
        assert_eq!(
            run(&items, "sortBy=name&ascending=true&limit=2&page=2").0,
            ["pg-03", "pg-04"]
        );
    }

    #[test]
    fn case_105_unknown_sort_by_is_creation_time() {
        let items = fp();
        assert_eq!(
            run(&items, "sortBy=updateTime&limit=2").0,
            ["pg-23", "pg-22"]
        );
        assert_eq!(
            run(&items, "sortBy=createTime&limit=2").0,
            ["pg-23", "pg-22"]
        );
    }

    #[test]
    fn case_102_ties_broken_by_name() {
        let t = "2026-03-01T10:00:00Z";
        let items = vec![
            item("q", "t-b", t),
            item("q", "t-c", t),
            item("q", "t-a", t),
        ];
        for _ in 0..3 {
            assert_eq!(run(&items, "").0, ["t-c", "t-b", "t-a"]);
            assert_eq!(run(&items, "ascending=true").0, ["t-a", "t-b", "t-c"]);
            assert_eq!(run(&items, "limit=1&page=2").0, ["t-b"]);
        }
    }

    #[test]
    fn case_103_cross_namespace_ties() {
        let t = "2026-03-01T10:00:00Z";
        let items = [item("ns-a", "same", t), item("ns-b", "same", t)];
        let q = query("");
        let page = sort_and_page(items.iter().collect(), &q, key_of(q.sort_by));
        let got: Vec<&str> = page.items.iter().map(|i| i.namespace.as_str()).collect();
        assert_eq!(got, ["ns-b", "ns-a"]);
        let q = query("ascending=true");
        let page = sort_and_page(items.iter().collect(), &q, key_of(q.sort_by));
        let got: Vec<&str> = page.items.iter().map(|i| i.namespace.as_str()).collect();
        assert_eq!(got, ["ns-a", "ns-b"]);
        let q = query("sortBy=name");
        let page = sort_and_page(items.iter().collect(), &q, key_of(q.sort_by));
        let got: Vec<&str> = page.items.iter().map(|i| i.namespace.as_str()).collect();
        assert_eq!(got, ["ns-b", "ns-a"]);
    }

    #[test]
    fn case_104_start_time_is_real_for_pods() {
        let mut st1 = item("s", "st-1", "2026-03-02T10:00:00Z");
        st1.started = Some(ts("2026-03-02T10:05:00Z"));
        let mut st2 = item("s", "st-2", "2026-03-02T10:01:00Z");
        st2.started = Some(ts("2026-03-02T10:02:00Z"));
        let st3 = item("s", "st-3", "2026-03-02T10:03:00Z");
        let items = vec![st2, st3, st1];
        assert_eq!(run(&items, "sortBy=startTime").0, ["st-1", "st-3", "st-2"]);
        assert_eq!(run(&items, "sortBy=createTime").0, ["st-3", "st-2", "st-1"]);
    }

    /// The order of case 38: fixture F-A pods by `status.startTime`, newest first, `limit=6`.
    #[test]
    fn case_38_pods_of_a_pool_by_start_time() {
        let pod = |ns: &str, name: &str, started: &str| {
            let mut p = item(ns, name, "2026-03-01T00:00:00Z");
            p.started = Some(ts(started));
            p
        };
        let items = [
            pod("demo", "nginx-a", "2026-03-02T10:00:00Z"),
            pod("demo", "nginx-b", "2026-03-02T10:01:00Z"),
            pod("kube-system", "coredns-x", "2026-03-02T09:00:00Z"),
            pod("win", "iis-0", "2026-03-02T10:02:00Z"),
        ];
        let (got, total, _) = run(&items, "limit=6&sortBy=startTime");
        assert_eq!(got, ["iis-0", "nginx-b", "nginx-a", "coredns-x"]);
        assert_eq!(total, 4);
    }

    #[test]
    fn missing_timestamp_is_earliest() {
        let items = vec![
            item("", "b", "2026-03-01T00:00:00Z"),
            item("", "a", ""),
            item("", "c", ""),
        ];
        assert_eq!(run(&items, "ascending=true").0, ["a", "c", "b"]);
        assert_eq!(run(&items, "").0, ["b", "c", "a"]);
    }

    #[test]
    fn strings_compare_byte_wise() {
        let t = "2026-03-01T00:00:00Z";
        let items = vec![
            item("", "b", t),
            item("", "B", t),
            item("", "a", t),
            item("", "é", t),
        ];
        assert_eq!(
            run(&items, "sortBy=name&ascending=true").0,
            ["B", "a", "b", "é"]
        );
    }

    /// A sorted prefix of any length is that of the fully sorted list, and nothing is lost.
    #[test]
    fn a_sorted_prefix_is_the_start_of_the_sorted_list() {
        let mut items = fp();
        items.push(item("x", "pg-05", "2026-03-01T00:00:05Z"));
        for order in ["", "ascending=true", "sortBy=name"] {
            let q = query(order);
            let all = run(&items, &format!("limit=-1&{order}")).0;
            for end in 0..=items.len() + 1 {
                let prefix = sort_prefix(items.iter().collect(), &q, end, key_of(q.sort_by));
                let names: Vec<&str> = prefix.items.iter().map(|i| i.name.as_str()).collect();
                assert_eq!(prefix.sorted, end.min(items.len()));
                assert_eq!(
                    names[..prefix.sorted],
                    all[..prefix.sorted],
                    "end {end} {order}"
                );
                let mut sorted_names = names.clone();
                sorted_names.sort();
                let mut expected = all.clone();
                expected.sort();
                assert_eq!(sorted_names, expected, "the same items");
                assert!(prefix.covers(prefix.sorted) && prefix.covers(0));
            }
        }
    }

    /// Every page of every size concatenates to the full sorted list (the partial-selection path agrees with the
    /// full sort).
    #[test]
    fn pages_partition_the_sorted_list() {
        let mut items = fp();
        items.push(item("x", "pg-05", "2026-03-01T00:00:05Z"));
        items.push(item("", "zz", ""));
        for order in [
            "",
            "&ascending=true",
            "&sortBy=name",
            "&sortBy=name&ascending=true",
        ] {
            let all = run(&items, &format!("limit=-1{order}")).0;
            for limit in 1..=26 {
                let mut joined = Vec::new();
                for page in 1..=26 {
                    joined.extend(run(&items, &format!("limit={limit}&page={page}{order}")).0);
                }
                assert_eq!(joined, all, "limit={limit}{order}");
            }
        }
    }
}
