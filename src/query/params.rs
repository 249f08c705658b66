//! The list query parameters (algorithms §9.1) and their validation (algorithms §9.2).

use super::engine::SortBy;
use super::field::{FieldSelector, FieldSelectorError};
use super::selector::{Selector, SelectorError};

/// A 400 of a list request; `Display` is the exact message of algorithms §9.2.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// `watch=true` or `watch=1`.
    #[error("watch is not supported")]
    WatchNotSupported,
    /// `page` is an integer < 1 (the raw text).
    #[error("invalid page \"{0}\": must be >= 1")]
    InvalidPage(String),
    /// `limit` is an integer < −1 (the raw text).
    #[error("invalid limit \"{0}\": must be >= -1")]
    InvalidLimit(String),
    /// `labelSelector` does not parse.
    #[error("invalid labelSelector \"{value}\": {detail}")]
    LabelSelector {
        /// The raw parameter.
        value: String,
        /// The parser's reason, shown after the value.
        detail: SelectorError,
    },
    /// The `label` filter does not parse.
    #[error("invalid label filter \"{value}\": {detail}")]
    LabelFilter {
        /// The raw parameter.
        value: String,
        /// The parser's reason, shown after the value.
        detail: SelectorError,
    },
    /// The `annotation` filter does not parse.
    #[error("invalid annotation filter \"{value}\": {detail}")]
    AnnotationFilter {
        /// The raw parameter.
        value: String,
        /// The parser's reason, shown after the value.
        detail: SelectorError,
    },
    /// `fieldSelector` does not parse (dynamic endpoints only).
    #[error("invalid fieldSelector \"{value}\": {detail}")]
    FieldSelector {
        /// The raw parameter.
        value: String,
        /// The parser's reason, shown after the value.
        detail: FieldSelectorError,
    },
    /// A `fieldSelector` of the aggregated surface names a field other than `metadata.name` (the dotted path).
    #[error("field label not supported: {0}")]
    FieldLabelNotSupported(String),
}

/// Whether an endpoint honours `fieldSelector` (algorithms §9.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldSelectorUse {
    /// Dynamic endpoints (api §2): parsed, validated (400) and applied.
    Apply,
    /// `/kapis/resources.kubesphere.io/v1alpha3`: not even parsed, so an invalid one is no error.
    Ignore,
}

/// The keys [`ListQuery::filters`] never contains.
pub const RESERVED_KEYS: [&str; 9] = [
    "page",
    "limit",
    "sortBy",
    "ascending",
    "labelSelector",
    "fieldSelector",
    "label",
    "annotation",
    "watch",
];

/// A parsed list request (algorithms §9.1).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ListQuery {
    /// 1-based page (default 1); ignored when `limit` is −1.
    pub page: u64,
    /// Page size (default −1 = everything; 0 = empty page).
    pub limit: i64,
    /// `sortBy` (default: creation time).
    pub sort_by: SortBy,
    /// Direction (default false = greatest first).
    pub ascending: bool,
    /// `labelSelector`, matched against effective labels.
    pub label_selector: Option<Selector>,
    /// `fieldSelector`; always `None` under [`FieldSelectorUse::Ignore`].
    pub field_selector: Option<FieldSelector>,
    /// The `label` filter (same grammar, effective labels).
    pub label_filter: Option<Selector>,
    /// The `annotation` filter (same grammar, annotations).
    pub annotation_filter: Option<Selector>,
    /// Every other parameter with a non-empty key and value, first occurrence of each key, in request order.
    pub filters: Vec<(String, String)>,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery {
            page: 1,
            limit: -1,
            sort_by: SortBy::CreationTimestamp,
            ascending: false,
            label_selector: None,
            field_selector: None,
            label_filter: None,
            annotation_filter: None,
            filters: Vec::new(),
        }
    }
}

/// A base-10 integer parameter (an optional sign, then digits): `None` when not an integer; out-of-range integers
/// saturate. (`str::parse` alone would call `99999999999999999999x` an overflow, not a non-integer.)
fn integer(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let saturated = if text.starts_with('-') {
        i64::MIN
    } else {
        i64::MAX
    };
    Some(text.parse::<i64>().unwrap_or(saturated))
}

/// `ascending`: `1,t,T,TRUE,true,True` → true; anything else → false.
fn boolean(text: &str) -> bool {
    matches!(text, "1" | "t" | "T" | "TRUE" | "true" | "True")
}

impl ListQuery {
    /// Parses the raw query pairs of a dynamic endpoint (api §2): `fieldSelector` is validated and kept.
    pub fn parse(pairs: &[(String, String)]) -> Result<ListQuery, QueryError> {
        ListQuery::parse_with(pairs, FieldSelectorUse::Apply)
    }

    /// Parses the raw query pairs of a `/kapis/resources.kubesphere.io/v1alpha3` list: `fieldSelector` is ignored.
    pub fn parse_v1alpha3(pairs: &[(String, String)]) -> Result<ListQuery, QueryError> {
        ListQuery::parse_with(pairs, FieldSelectorUse::Ignore)
    }

    /// Parses the raw (URL-decoded) query pairs.
    ///
    /// A repeated key uses its first occurrence; a parameter whose first occurrence has an empty value is absent.
    /// Errors are checked in this order: `watch`, `page`, `limit`, `labelSelector`, `label`, `annotation`,
    /// `fieldSelector`.
    pub fn parse_with(
        pairs: &[(String, String)],
        field_selector: FieldSelectorUse,
    ) -> Result<ListQuery, QueryError> {
        let mut seen = std::collections::HashSet::with_capacity(pairs.len());
        let firsts: Vec<(&str, &str)> = pairs
            .iter()
            .filter(|(key, _)| !key.is_empty() && seen.insert(key.as_str()))
            .map(|(key, value)| (key.as_str(), value.as_str()))
            .collect();
        let get = |name: &str| {
            firsts
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| *v)
                .filter(|v| !v.is_empty())
        };

        if matches!(get("watch"), Some("true" | "1")) {
            return Err(QueryError::WatchNotSupported);
        }
        let mut query = ListQuery::default();
        if let Some(text) = get("page") {
            match integer(text) {
                Some(n) if n < 1 => return Err(QueryError::InvalidPage(text.to_owned())),
                Some(n) => query.page = u64::try_from(n).unwrap_or(1),
                None => {}
            }
        }
        if let Some(text) = get("limit") {
            match integer(text) {
                Some(n) if n < -1 => return Err(QueryError::InvalidLimit(text.to_owned())),
                Some(n) => query.limit = n,
                None => {}
            }
        }
        query.sort_by = get("sortBy").map_or(SortBy::CreationTimestamp, SortBy::from_param);
        query.ascending = get("ascending").is_some_and(boolean);
        query.label_selector = get("labelSelector")
            .map(|v| {
                Selector::parse(v).map_err(|detail| QueryError::LabelSelector {
                    value: v.to_owned(),
                    detail,
                })
            })
            .transpose()?;
        query.label_filter = get("label")
            .map(|v| {
                Selector::parse(v).map_err(|detail| QueryError::LabelFilter {
                    value: v.to_owned(),
                    detail,
                })
            })
            .transpose()?;
        query.annotation_filter = get("annotation")
            .map(|v| {
                Selector::parse(v).map_err(|detail| QueryError::AnnotationFilter {
                    value: v.to_owned(),
                    detail,
                })
            })
            .transpose()?;
        if field_selector == FieldSelectorUse::Apply {
            query.field_selector = get("fieldSelector")
                .map(|v| {
                    FieldSelector::parse(v).map_err(|detail| QueryError::FieldSelector {
                        value: v.to_owned(),
                        detail,
                    })
                })
                .transpose()?;
        }
        query.filters = firsts
            .iter()
            .filter(|(k, v)| !v.is_empty() && !RESERVED_KEYS.contains(k))
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Ok(query)
    }

    /// The value of filter `key`, if the request has it.
    pub fn filter(&self, key: &str) -> Option<&str> {
        self.filters
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A list request of the aggregated surface (api §4.2), in Kubernetes' own parameters: `labelSelector`, and a
/// `fieldSelector` on `metadata.name` only. `limit`, `continue` and everything else are ignored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KubeListQuery {
    /// `labelSelector`, matched against the stored labels.
    pub label_selector: Option<Selector>,
    /// `fieldSelector`, every requirement on `metadata.name`.
    pub field_selector: Option<FieldSelector>,
}

impl KubeListQuery {
    /// Parses the raw query pairs (first occurrence of a key wins, an empty value is absent). Errors in this
    /// order: `watch` (`true` or `1`), `labelSelector`, `fieldSelector` (syntax, then field).
    pub fn parse(pairs: &[(String, String)]) -> Result<KubeListQuery, QueryError> {
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty())
        };
        if matches!(get("watch"), Some("true" | "1")) {
            return Err(QueryError::WatchNotSupported);
        }
        let label_selector = get("labelSelector")
            .map(|v| {
                Selector::parse(v).map_err(|detail| QueryError::LabelSelector {
                    value: v.to_owned(),
                    detail,
                })
            })
            .transpose()?;
        let field_selector = get("fieldSelector")
            .map(|v| {
                FieldSelector::parse(v).map_err(|detail| QueryError::FieldSelector {
                    value: v.to_owned(),
                    detail,
                })
            })
            .transpose()?;
        if let Some(unsupported) = field_selector
            .iter()
            .flat_map(FieldSelector::requirements)
            .find(|r| r.path() != ["metadata", "name"])
        {
            return Err(QueryError::FieldLabelNotSupported(
                unsupported.path().join("."),
            ));
        }
        Ok(KubeListQuery {
            label_selector,
            field_selector,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        match serde_urlencoded::from_str(text) {
            Ok(p) => p,
            Err(e) => panic!("{text}: {e}"),
        }
    }

    fn ok(text: &str) -> ListQuery {
        match ListQuery::parse(&pairs(text)) {
            Ok(q) => q,
            Err(e) => panic!("{text}: {e}"),
        }
    }

    fn err(text: &str) -> String {
        match ListQuery::parse(&pairs(text)) {
            Ok(q) => panic!("{text} should fail, got {q:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn defaults() {
        let q = ok("");
        assert_eq!(q, ListQuery::default());
        assert_eq!(
            (q.page, q.limit, q.sort_by, q.ascending),
            (1, -1, SortBy::CreationTimestamp, false)
        );
    }

    #[test]
    fn page_limit_sort_ascending() {
        let q = ok("page=3&limit=10&sortBy=name&ascending=true");
        assert_eq!(
            (q.page, q.limit, q.sort_by, q.ascending),
            (3, 10, SortBy::Name, true)
        );
        assert_eq!(ok("limit=-1").limit, -1);
        assert_eq!(ok("limit=0").limit, 0);
        assert_eq!(ok("page=%2B2").page, 2, "Go's Atoi accepts a sign");
        assert_eq!(ok("sortBy=startTime").sort_by, SortBy::StartTime);
        assert_eq!(ok("sortBy=createTime").sort_by, SortBy::CreationTimestamp);
    }

    #[test]
    fn ascending_values() {
        for yes in ["1", "t", "T", "TRUE", "true", "True"] {
            assert!(ok(&format!("ascending={yes}")).ascending, "{yes}");
        }
        for no in [
            "0", "f", "F", "FALSE", "false", "False", "maybe", "yes", "tRUE", " true",
        ] {
            assert!(!ok(&format!("ascending={no}")).ascending, "{no}");
        }
    }

    #[test]
    fn case_80_unparsable_numbers_are_defaults() {
        let q = ok("limit=add&page=abc&ascending=ssss");
        assert_eq!((q.page, q.limit, q.ascending), (1, -1, false));
        assert_eq!(ok("page=1.5&limit=2e3").limit, -1);
        assert_eq!(ok("page= 2").page, 1);
    }

    #[test]
    fn huge_integers_saturate() {
        assert_eq!(ok("page=99999999999999999999999").page, i64::MAX as u64);
        assert_eq!(ok("limit=99999999999999999999999").limit, i64::MAX);
        assert_eq!(
            err("limit=-99999999999999999999999"),
            "invalid limit \"-99999999999999999999999\": must be >= -1"
        );
        // Digits long enough to overflow, then something else: not an integer at all.
        let q = ok("page=-99999999999999999999x&limit=-99999999999999999999-2");
        assert_eq!((q.page, q.limit), (1, -1));
    }

    #[test]
    fn case_77_78_page_and_limit_messages() {
        assert_eq!(err("page=0&limit=10"), "invalid page \"0\": must be >= 1");
        assert_eq!(err("page=-1"), "invalid page \"-1\": must be >= 1");
        assert_eq!(err("limit=-2"), "invalid limit \"-2\": must be >= -1");
    }

    #[test]
    fn watch() {
        assert_eq!(err("watch=true"), "watch is not supported");
        assert_eq!(err("watch=1"), "watch is not supported");
        for ignored in [
            "watch=false",
            "watch=0",
            "watch=True",
            "watch=",
            "watch=yes",
        ] {
            let q = ok(ignored);
            assert!(q.filters.is_empty(), "{ignored}");
        }
        assert_eq!(
            err("watch=1&page=0"),
            "watch is not supported",
            "watch is checked first"
        );
    }

    #[test]
    fn case_81_82_unknown_keys_and_repeats() {
        let q = ok("xxxx=xxxx&dsfsw=xxxx&limit=5&limit=10&name=a&name=b");
        assert_eq!(q.limit, 5);
        assert_eq!(
            q.filters,
            [("xxxx", "xxxx"), ("dsfsw", "xxxx"), ("name", "a")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        assert_eq!(q.filter("name"), Some("a"));
        assert_eq!(q.filter("nope"), None);
    }

    #[test]
    fn empty_values_are_absent() {
        let q =
            ok("labelSelector=&name=&page=&limit=&sortBy=&=x&label=&annotation=&fieldSelector=");
        assert_eq!(q, ListQuery::default());
        // The first occurrence decides, even when it is empty.
        let q = ok("name=&name=foo&limit=&limit=3");
        assert!(q.filters.is_empty());
        assert_eq!(q.limit, -1);
    }

    #[test]
    fn selectors_are_parsed() {
        let q = ok("labelSelector=a%3Db&label=c&annotation=!d");
        assert_eq!(
            q.label_selector.map(|s| s.to_string()).as_deref(),
            Some("a=b")
        );
        assert_eq!(q.label_filter.map(|s| s.to_string()).as_deref(), Some("c"));
        assert_eq!(
            q.annotation_filter.map(|s| s.to_string()).as_deref(),
            Some("!d")
        );
        assert!(q.filters.is_empty());
    }

    #[test]
    fn case_88_invalid_label_selector() {
        let message = err("labelSelector=app%20in%20(a,b");
        assert!(
            message.starts_with("invalid labelSelector \"app in (a,b\": "),
            "{message}"
        );
    }

    #[test]
    fn case_89_comma_less_append() {
        let message = err("labelSelector=tier%3Dwebapp.kubernetes.io%2Fname%3Dx");
        assert!(
            message.starts_with("invalid labelSelector \"tier=webapp.kubernetes.io/name=x\": "),
            "{message}"
        );
    }

    /// Case 91, and the annotation twin.
    #[test]
    fn case_91_invalid_label_filter() {
        let message = err("label=a==b==c");
        assert!(
            message.starts_with("invalid label filter \"a==b==c\": "),
            "{message}"
        );
        let message = err("annotation=a==b==c");
        assert!(
            message.starts_with("invalid annotation filter \"a==b==c\": "),
            "{message}"
        );
    }

    #[test]
    fn field_selector_on_dynamic_endpoints() {
        let q = ok("fieldSelector=metadata.name%3Dnp-01");
        assert_eq!(
            q.field_selector.map(|s| s.to_string()).as_deref(),
            Some("metadata.name=np-01")
        );
        let message = err("fieldSelector=metadata.name");
        assert!(
            message.starts_with("invalid fieldSelector \"metadata.name\": "),
            "{message}"
        );
    }

    /// Case 86: v1alpha3 ignores `fieldSelector`, valid or not.
    #[test]
    fn case_86_field_selector_ignored_on_v1alpha3() {
        for text in [
            "fieldSelector=metadata.name%3Dpg-01",
            "fieldSelector=metadata.name",
            "fieldSelector=%3D",
        ] {
            let q = ListQuery::parse_v1alpha3(&pairs(text));
            assert_eq!(q, Ok(ListQuery::default()), "{text}");
        }
    }

    #[test]
    fn error_order() {
        assert!(err("limit=-5&page=0").starts_with("invalid page"));
        assert!(err("labelSelector=%3D&limit=-5").starts_with("invalid limit"));
        assert!(err("label=%3D&labelSelector=%3D").starts_with("invalid labelSelector"));
        assert!(err("fieldSelector=x&annotation=%3D").starts_with("invalid annotation"));
    }

    fn kube(text: &str) -> Result<KubeListQuery, String> {
        KubeListQuery::parse(&pairs(text)).map_err(|e| e.to_string())
    }

    /// api §4.2, case 183.
    #[test]
    fn aggregated_lists_take_kubernetes_parameters() {
        let q =
            kube("labelSelector=a%3Db&fieldSelector=metadata.name!%3Dx&limit=1&continue=c&page=0")
                .unwrap();
        assert_eq!(
            q.label_selector.map(|s| s.to_string()).as_deref(),
            Some("a=b")
        );
        assert_eq!(
            q.field_selector.map(|s| s.to_string()).as_deref(),
            Some("metadata.name!=x")
        );
        assert_eq!(
            kube("labelSelector=&fieldSelector=&watch=false"),
            Ok(KubeListQuery::default())
        );
        assert_eq!(
            kube("fieldSelector=metadata.name%3Dp,spec.cidr%3Dx").unwrap_err(),
            "field label not supported: spec.cidr"
        );
        assert_eq!(kube("watch=1").unwrap_err(), "watch is not supported");
        assert!(
            kube("labelSelector=a%20in%20(b")
                .unwrap_err()
                .starts_with("invalid labelSelector \"a in (b\": ")
        );
        assert!(
            kube("fieldSelector=metadata.name")
                .unwrap_err()
                .starts_with("invalid fieldSelector ")
        );
    }
}
