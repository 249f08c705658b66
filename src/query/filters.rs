//! The default filters of every resource (algorithms §9.4) and the selector filters, over a small view
//! ([`Object`]) that the caller implements for each cached kind.

use super::params::ListQuery;
use super::selector::{LabelLookup, LabelValue};

/// Annotation holding a display name, matched by the `name` / `nameAndAlias` filters.
pub const ALIAS_ANNOTATION: &str = "kubesphere.io/alias-name";

/// What the default filters read from an object.
pub trait Object {
    /// `metadata.name`.
    fn name(&self) -> &str;
    /// `metadata.namespace` (`""` for cluster-scoped objects).
    fn namespace(&self) -> &str;
    /// `metadata.uid`.
    fn uid(&self) -> &str;
    /// The effective labels: stored labels plus virtual ones (algorithms §3, algorithms §4.2, algorithms §9.7).
    fn labels(&self) -> &dyn LabelLookup;
    /// `metadata.annotations`.
    fn annotations(&self) -> &dyn LabelLookup;
    /// The `uid` of every `metadata.ownerReferences` entry.
    fn owner_uids(&self) -> Vec<&str>;
    /// The `kind` of every `metadata.ownerReferences` entry.
    fn owner_kinds(&self) -> Vec<&str>;
}

/// Whether `value` is a case-sensitive substring of the name or a case-insensitive substring of the alias.
fn name_or_alias_matches(object: &dyn Object, value: &str) -> bool {
    object.name().contains(value)
        || matches!(object.annotations().value(ALIAS_ANNOTATION),
            LabelValue::One(alias) if alias.to_lowercase().contains(&value.to_lowercase()))
}

/// Applies the default filter `key=value` (algorithms §9.4). `None` when `key` is not a default filter: the caller
/// handles resource-specific keys and ignores the rest.
///
/// `names` splits on `,` without trimming; `ownerReference` looks at direct owners only (pods extend it,
/// algorithms §9.5).
pub fn default_filter(object: &dyn Object, key: &str, value: &str) -> Option<bool> {
    Some(match key {
        "names" => value.split(',').any(|name| name == object.name()),
        "name" | "nameAndAlias" => name_or_alias_matches(object, value),
        "uid" => object.uid() == value,
        "namespace" => object.namespace() == value,
        "ownerReference" => object.owner_uids().contains(&value),
        "ownerKind" => object.owner_kinds().contains(&value),
        _ => return None,
    })
}

/// `labelSelector` and the `label` filter on the effective labels, the `annotation` filter on the annotations.
pub fn matches_selectors(object: &dyn Object, query: &ListQuery) -> bool {
    let labels = object.labels();
    query
        .label_selector
        .as_ref()
        .is_none_or(|s| s.matches(labels))
        && query
            .label_filter
            .as_ref()
            .is_none_or(|s| s.matches(labels))
        && query
            .annotation_filter
            .as_ref()
            .is_none_or(|s| s.matches(object.annotations()))
}

/// Everything of a list request except `fieldSelector` (ANDed): [`matches_selectors`], then each filter of
/// [`ListQuery::filters`] — first `specific` (resource-specific keys such as pods' `status` or `ownerReference`;
/// `None` = not handled), then [`default_filter`]; keys nobody handles are ignored.
pub fn matches_query(
    object: &dyn Object,
    query: &ListQuery,
    specific: impl Fn(&str, &str) -> Option<bool>,
) -> bool {
    matches_selectors(object, query)
        && query.filters.iter().all(|(key, value)| {
            specific(key, value)
                .or_else(|| default_filter(object, key, value))
                .unwrap_or(true)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::engine::{SortKey, sort_and_page};
    use crate::query::selector::WithVirtualSet;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    #[derive(Default)]
    struct Fake {
        name: String,
        namespace: String,
        uid: String,
        labels: BTreeMap<String, String>,
        annotations: BTreeMap<String, String>,
        owners: Vec<(String, String)>,
        phase: String,
        status: String,
        pools: Vec<Arc<str>>,
    }

    /// Effective labels of a fake pod: stored labels plus the virtual pool set.
    struct View<'a> {
        fake: &'a Fake,
        labels: WithVirtualSet<'a>,
    }

    impl<'a> View<'a> {
        fn new(fake: &'a Fake) -> Self {
            View {
                fake,
                labels: WithVirtualSet {
                    stored: &fake.labels,
                    key: "ippool.network.kubesphere.io/name",
                    values: &fake.pools,
                },
            }
        }
    }

    impl Object for View<'_> {
        fn name(&self) -> &str {
            &self.fake.name
        }
        fn namespace(&self) -> &str {
            &self.fake.namespace
        }
        fn uid(&self) -> &str {
            &self.fake.uid
        }
        fn labels(&self) -> &dyn LabelLookup {
            &self.labels
        }
        fn annotations(&self) -> &dyn LabelLookup {
            &self.fake.annotations
        }
        fn owner_uids(&self) -> Vec<&str> {
            self.fake
                .owners
                .iter()
                .map(|(_, uid)| uid.as_str())
                .collect()
        }
        fn owner_kinds(&self) -> Vec<&str> {
            self.fake
                .owners
                .iter()
                .map(|(kind, _)| kind.as_str())
                .collect()
        }
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn fake(namespace: &str, name: &str) -> Fake {
        Fake {
            name: name.to_owned(),
            namespace: namespace.to_owned(),
            uid: format!("uid-{name}"),
            ..Fake::default()
        }
    }

    fn query(text: &str) -> ListQuery {
        let pairs: Vec<(String, String)> = match serde_urlencoded::from_str(text) {
            Ok(p) => p,
            Err(e) => panic!("{text}: {e}"),
        };
        match ListQuery::parse_v1alpha3(&pairs) {
            Ok(q) => q,
            Err(e) => panic!("{text}: {e}"),
        }
    }

    /// A v1alpha3 list over fakes: filter (with the fake's `phase`/`status` as resource-specific keys), then sort
    /// by name or by the name-encoded creation order, then page. Returns (names, total).
    fn list(fakes: &[Fake], text: &str) -> (Vec<String>, usize) {
        let q = query(text);
        let views: Vec<View<'_>> = fakes.iter().map(View::new).collect();
        let kept: Vec<&View<'_>> = views
            .iter()
            .filter(|v| {
                matches_query(*v, &q, |key, value| match key {
                    "phase" => Some(v.fake.phase == value),
                    "status" => Some(v.fake.status == value),
                    _ => None,
                })
            })
            .collect();
        let page = sort_and_page(kept, &q, |v| SortKey {
            time: None,
            name: &v.fake.name,
            namespace: &v.fake.namespace,
        });
        (
            page.items.iter().map(|v| v.fake.name.clone()).collect(),
            page.total,
        )
    }

    #[test]
    fn names_filter_splits_on_commas() {
        let f = fake("", "ks-a");
        let v = View::new(&f);
        assert_eq!(default_filter(&v, "names", "ks-a,ks-b"), Some(true));
        assert_eq!(default_filter(&v, "names", "ks-b"), Some(false));
        assert_eq!(default_filter(&v, "names", "ks"), Some(false));
        assert_eq!(
            default_filter(&v, "names", "x, ks-a"),
            Some(false),
            "no trimming"
        );
    }

    #[test]
    fn uid_namespace_owner_filters() {
        let mut f = fake("demo", "web-5d8f-aaaaa");
        f.owners = vec![("ReplicaSet".to_owned(), "r-1".to_owned())];
        let v = View::new(&f);
        assert_eq!(default_filter(&v, "uid", "uid-web-5d8f-aaaaa"), Some(true));
        assert_eq!(default_filter(&v, "uid", "uid-web"), Some(false));
        assert_eq!(default_filter(&v, "namespace", "demo"), Some(true));
        assert_eq!(default_filter(&v, "namespace", "dem"), Some(false));
        // Case 97 (direct owner part; the Deployment hop is the pods' own rule).
        assert_eq!(default_filter(&v, "ownerReference", "r-1"), Some(true));
        assert_eq!(default_filter(&v, "ownerReference", "d-1"), Some(false));
        assert_eq!(default_filter(&v, "ownerKind", "ReplicaSet"), Some(true));
        assert_eq!(default_filter(&v, "ownerKind", "replicaset"), Some(false));
        assert_eq!(default_filter(&v, "status", "Running"), None);
        assert_eq!(default_filter(&v, "xxxx", "xxxx"), None);
    }

    /// Case 96, and the `nameAndAlias` spelling.
    #[test]
    fn case_96_alias_matching() {
        let mut f = fake("", "proj-x");
        f.annotations = map(&[(ALIAS_ANNOTATION, "Payments Team")]);
        let fakes = [f, fake("", "proj-y")];
        assert_eq!(list(&fakes, "names=proj-x&name=payments").0, ["proj-x"]);
        assert!(list(&fakes, "names=proj-x&name=PROJ").0.is_empty());
        assert_eq!(list(&fakes, "names=proj-x&name=proj").0, ["proj-x"]);
        assert_eq!(list(&fakes, "nameAndAlias=TEAM").0, ["proj-x"]);
        assert_eq!(
            list(&fakes, "name=proj&sortBy=name").0,
            ["proj-y", "proj-x"]
        );
    }

    /// Case 90: the label filter grammar over two namespaces.
    #[test]
    fn case_90_label_filter_grammar() {
        let mut a = fake("", "ks-a");
        a.labels = map(&[("kubesphere.io/workspace", "kubesphere-system")]);
        let mut b = fake("", "ks-b");
        b.labels = map(&[("kubesphere.io/creator", "system")]);
        let other = fake("", "ks-c");
        let fakes = [a, b, other];
        let base = "names=ks-a,ks-b&sortBy=name&ascending=true&label=";
        let table: [(&str, &[&str]); 6] = [
            ("kubesphere.io/workspace", &["ks-a"]),
            ("kubesphere.io/workspace%3D", &[]),
            ("kubesphere.io/workspace!%3D", &["ks-a", "ks-b"]),
            ("kubesphere.io/workspace!%3Dkubesphere-system", &["ks-b"]),
            ("kubesphere.io/workspace%3Dkubesphere-system", &["ks-a"]),
            ("kubesphere.io/workspace%3Dsystem", &[]),
        ];
        for (label, expected) in table {
            assert_eq!(
                list(&fakes, &format!("{base}{label}")).0,
                expected,
                "{label}"
            );
        }
    }

    /// Case 92: a bare key selects the namespaces carrying it, whatever the value.
    #[test]
    fn case_92_bare_key_label_selector() {
        let mut demo = fake("", "demo");
        demo.labels = map(&[("ippool.network.kubesphere.io/ippool-2", "")]);
        let fakes = [demo, fake("", "x")];
        let (names, total) = list(
            &fakes,
            "sortBy=createTime&limit=10&labelSelector=ippool.network.kubesphere.io%2Fippool-2",
        );
        assert_eq!((names, total), (vec!["demo".to_owned()], 1));
    }

    /// Case 87: label filter, name filter, a resource-specific status filter, paging, ascending.
    #[test]
    fn case_87_combined_parameters() {
        let book = [("app.kubernetes.io/name", "book")];
        let mut foo1 = fake("books", "foo-1");
        foo1.labels = map(&book);
        foo1.status = "Running".to_owned();
        let mut foo2 = fake("books", "foo-2");
        foo2.labels = map(&book);
        foo2.status = "Waiting".to_owned();
        let mut bar1 = fake("books", "bar-1");
        bar1.labels = map(&book);
        bar1.status = "Running".to_owned();
        let fakes = [foo1, foo2, bar1];
        let (names, total) = list(
            &fakes,
            "label=app.kubernetes.io/name%3Dbook&name=foo&status=Running&page=1&limit=10&ascending=true",
        );
        assert_eq!((names, total), (vec!["foo-1".to_owned()], 1));
    }

    /// Case 93 (phase part) and case 81 (unknown keys are ignored).
    #[test]
    fn case_93_phase_filter_and_unknown_keys() {
        let mut fakes: Vec<Fake> = (1..=5)
            .map(|n| fake("default", &format!("foo{n}")))
            .collect();
        for f in &mut fakes {
            f.phase = "Pending".to_owned();
        }
        if let Some(f) = fakes.last_mut() {
            f.phase = "Running".to_owned();
        }
        let (names, total) = list(&fakes, "sortBy=name&limit=10");
        assert_eq!(names, ["foo5", "foo4", "foo3", "foo2", "foo1"]);
        assert_eq!(total, 5);
        assert_eq!(
            list(&fakes, "sortBy=name&limit=10&phase=Running"),
            (vec!["foo5".to_owned()], 1)
        );
        assert_eq!(list(&fakes, "xxxx=xxxx&dsfsw=xxxx").1, 5);
    }

    /// Cases 38, 41 and 42 through the whole filter path: the virtual pool label is a set.
    #[test]
    fn case_41_42_virtual_pool_label_in_queries() {
        let mut dual = fake("ds", "p");
        dual.pools = vec!["ds4".into(), "ds6".into()];
        let mut pinned = fake("demo", "pinned");
        pinned.labels = map(&[("ippool.network.kubesphere.io/name", "legacy-pool")]);
        pinned.pools = vec!["ds4".into()];
        let none = fake("x", "h");
        let fakes = [dual, pinned, none];
        let key = "ippool.network.kubesphere.io%2Fname";
        let names = |text: &str| list(&fakes, &format!("sortBy=name&ascending=true&{text}")).0;
        assert_eq!(names(&format!("labelSelector={key}%3Dds4")), ["p"]);
        assert_eq!(names(&format!("labelSelector={key}%3Dds6")), ["p"]);
        assert_eq!(names(&format!("labelSelector={key}%20in%20(ds6)")), ["p"]);
        assert_eq!(
            names(&format!("labelSelector={key}!%3Dds6")),
            ["h", "pinned"]
        );
        assert_eq!(names(&format!("labelSelector=!{key}")), ["h"]);
        assert_eq!(names(&format!("label={key}%3Dlegacy-pool")), ["pinned"]);
    }

    /// Case 43: the pool selector and the `name` filter together.
    #[test]
    fn case_43_pool_pods_filtered_by_name() {
        let mut pod = fake("ns1", "nginx-demo-6b9f-k2x8p");
        pod.pools = vec!["p24".into()];
        let fakes = [pod];
        let base = "limit=6&labelSelector=ippool.network.kubesphere.io/name%3Dp24&sortBy=startTime";
        assert_eq!(list(&fakes, &format!("{base}&name=nginx-demo")).1, 1);
        assert_eq!(list(&fakes, &format!("{base}&name=ss")).1, 0);
    }

    #[test]
    fn annotation_filter() {
        let mut a = fake("", "a");
        a.annotations = map(&[("kubesphere.io/network-isolate", "enabled")]);
        let fakes = [a, fake("", "b")];
        assert_eq!(
            list(&fakes, "annotation=kubesphere.io/network-isolate%3Denabled").0,
            ["a"]
        );
        assert_eq!(
            list(&fakes, "annotation=!kubesphere.io/network-isolate").0,
            ["b"]
        );
        assert!(
            list(&fakes, "label=kubesphere.io/network-isolate")
                .0
                .is_empty()
        );
    }

    #[test]
    fn specific_filters_take_precedence() {
        let f = fake("demo", "p");
        let v = View::new(&f);
        let q = query("ownerReference=d-1");
        assert!(!matches_query(&v, &q, |_, _| None));
        assert!(matches_query(&v, &q, |key, _| (key == "ownerReference").then_some(true)));
    }
}
