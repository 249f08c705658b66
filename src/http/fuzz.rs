//! Property-based fuzzing of what the HTTP surface parses: label and field selectors, list query parameters and the
//! migration body. Each target has a quick variant (run by `cargo test`) and a `#[ignore]`d one of 1,000,000
//! cases (`cargo test --release -- --ignored fuzz_`). Inputs are built from the grammar's tokens (near-valid text,
//! unicode, very long runs) or are raw random strings and bytes. Every input must parse or be rejected with a
//! non-empty message that maps to a 400 (or, for a body's media type, 415) `Status`; a panic fails the target.
//! And every input is accepted exactly when the OpenAPI document's pattern for it matches
//! ([`crate::query::patterns`], the path patterns of [`crate::http::extract`]).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use fancy_regex::Regex;

use axum::http::StatusCode;
use proptest::prelude::*;
use proptest::test_runner::Config;

use crate::http::ApiError;
use crate::http::extract::{NAME_PATTERN, NAMESPACE_PATTERN, check_path_parameter};
use crate::http::migration::{is_dry_run, parse_body};
use crate::http::openapi::BINDABLE_POOL_NAME;
use crate::query::{FieldSelector, KubeListQuery, ListQuery, QueryError, Selector, patterns};
use crate::service;

/// Whether the document's `pattern` matches `text` (JSON Schema patterns are searched, not anchored); `None` when
/// the backtracking matcher gives up (a long run of one token can exceed its budget): the parser is then checked
/// for answering without a panic only.
fn matches(pattern: &Regex, text: &str) -> Option<bool> {
    pattern.is_match(text).ok()
}

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap()
}

static LABEL_SELECTOR: LazyLock<Regex> = LazyLock::new(|| regex(&patterns::label_selector()));
static FIELD_SELECTOR: LazyLock<Regex> = LazyLock::new(|| regex(&patterns::field_selector()));
static NAME_FIELD_SELECTOR: LazyLock<Regex> =
    LazyLock::new(|| regex(&patterns::name_field_selector()));

/// Cases of the quick variants that `cargo test` runs.
const QUICK: u32 = 2_000;
/// Cases of the `#[ignore]`d variants.
const FULL: u32 = 1_000_000;

/// A runner config with `cases` cases and no failure files.
fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Text made of `tokens`, with the odd long run of one token and the odd random character.
fn tokens(tokens: &'static [&'static str]) -> impl Strategy<Value = String> {
    let token = prop_oneof![
        12 => prop::sample::select(tokens).prop_map(str::to_owned),
        1 => (prop::sample::select(tokens), 1..2_000usize).prop_map(|(t, n)| t.repeat(n)),
        1 => any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(token, 0..16).prop_map(|parts| parts.concat())
}

/// Near-valid text from `grammar` most of the time, raw random text otherwise.
fn text(grammar: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        6 => tokens(grammar),
        1 => any::<String>(),
        1 => prop::collection::vec(any::<u8>(), 0..64)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

const SELECTOR_TOKENS: &[&str] = &[
    "a",
    "app",
    "tier",
    "web",
    "v1",
    "0",
    "A1",
    "_",
    "-",
    ".",
    "/",
    "app.kubernetes.io/name",
    "example.com/",
    "-x",
    "x-",
    "=",
    "==",
    "!=",
    "!",
    " in ",
    " notin ",
    "in",
    "notin",
    "exists",
    "(",
    ")",
    ",",
    " ",
    "\t",
    "\"",
    "'",
    "\\",
    ">",
    "<",
    "é",
    "日本",
    "🙂",
    "\u{0}",
];

const FIELD_TOKENS: &[&str] = &[
    "metadata",
    "name",
    "namespace",
    "spec",
    "labels",
    "0",
    "-1",
    "18446744073709551616",
    ".",
    "\\.",
    "\\,",
    "\\=",
    "\\\\",
    "\\",
    "=",
    "==",
    "!=",
    "!",
    "~",
    ",",
    " ",
    "\t",
    "é",
    "🙂",
    "\"",
    "",
];

/// Keys the list parser knows, plus filters and the empty key.
fn param_keys() -> Vec<&'static str> {
    let mut keys = crate::query::params::RESERVED_KEYS.to_vec();
    keys.extend(["name", "status", ""]);
    keys
}

const NUMBER_TOKENS: &[&str] = &[
    "0",
    "1",
    "-1",
    "-2",
    "+1",
    " 1",
    "99999999999999999999",
    "-99999999999999999999",
    "true",
    "1.5",
    "",
    "e",
];

const NAME_TOKENS: &[&str] = &["a", "z", "0", "9", "-", ".", "A", "_", "/", "é", " ", "\n"];

const MEDIA_TYPES: &[&str] = &[
    "application/json",
    "application/json; charset=utf-8",
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded;charset=UTF-8",
    "APPLICATION/JSON",
    "multipart/form-data; boundary=x",
    "text/plain",
    "",
    ";",
];

const BODY_TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"oldippool\"",
    "\"newippool\"",
    "\"dryRun\"",
    ":",
    ",",
    "true",
    "null",
    "1e999",
    "-0",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\"pool-a\"",
    "=",
    "&",
    "%",
    "%ZZ",
    "%C3%A9",
    "%FF",
    "+",
    "oldippool",
    "newippool",
    "dryRun",
    "All",
    " ",
    "\n",
    "é",
];

/// The 400 `Status` a list request answers for a query error.
fn assert_bad_request(error: &QueryError) {
    let message = error.to_string();
    assert!(!message.is_empty(), "empty message for {error:?}");
    let status = ApiError::from(service::Error::BadRequest(message)).status();
    assert_eq!(status.code, 400, "{error:?}");
    assert!(!status.message.is_empty());
}

/// Parses a label selector; a parsed one is printed and matched.
fn check_selector(text: &str) {
    let parsed = Selector::parse(text);
    assert_ne!(
        matches(&LABEL_SELECTOR, text),
        Some(parsed.is_err()),
        "{text:?}: {parsed:?}"
    );
    match parsed {
        Ok(selector) => {
            let _ = selector.to_string();
            let labels = BTreeMap::from([("app".to_owned(), "web".to_owned())]);
            let _ = selector.matches(&labels);
        }
        Err(detail) => assert_bad_request(&QueryError::LabelSelector {
            value: text.to_owned(),
            detail,
        }),
    }
}

/// Parses a field selector; a parsed one is printed and matched. The aggregated surface's selector is the same
/// grammar with every path `metadata.name`.
fn check_field_selector(text: &str) {
    let parsed = FieldSelector::parse(text);
    assert_ne!(
        matches(&FIELD_SELECTOR, text),
        Some(parsed.is_err()),
        "{text:?}: {parsed:?}"
    );
    let pairs = [("fieldSelector".to_owned(), text.to_owned())];
    let names_only = KubeListQuery::parse(&pairs);
    assert_ne!(
        matches(&NAME_FIELD_SELECTOR, text),
        Some(names_only.is_err()),
        "{text:?}: {names_only:?}"
    );
    match parsed {
        Ok(selector) => {
            let _ = selector.to_string();
            let object = serde_json::json!({"metadata": {"name": "a", "labels": {"app": "web"}}});
            let _ = selector.matches(&object);
        }
        Err(detail) => assert_bad_request(&QueryError::FieldSelector {
            value: text.to_owned(),
            detail,
        }),
    }
}

/// `page`, `limit` and `watch` alone are refused exactly when their patterns do not match.
fn check_numbers(value: &str) {
    for (key, pattern) in [
        ("page", patterns::PAGE),
        ("limit", patterns::LIMIT),
        ("watch", patterns::WATCH),
    ] {
        let accepted = ListQuery::parse(&[(key.to_owned(), value.to_owned())]).is_ok();
        assert_ne!(
            matches(&regex(pattern), value),
            Some(!accepted),
            "{key}={value:?}"
        );
    }
}

/// Path names: `{namespace}` and `{name}` of a write, and the pool of an unbind (a name that is also a label).
fn check_path_names(text: &str) {
    let namespace = check_path_parameter("namespace", text).is_ok();
    assert_ne!(
        matches(&regex(NAMESPACE_PATTERN), text),
        Some(!namespace),
        "{text:?}"
    );
    let name = check_path_parameter("name", text).is_ok();
    assert_ne!(matches(&regex(NAME_PATTERN), text), Some(!name), "{text:?}");
    let pool = name && crate::domain::binding::is_valid_binding_label(text);
    assert_ne!(
        matches(&regex(BINDABLE_POOL_NAME), text),
        Some(!pool),
        "{text:?}"
    );
}

/// Parses query pairs both ways; an error is a 400.
fn check_params(pairs: &[(String, String)]) {
    for parsed in [ListQuery::parse(pairs), ListQuery::parse_v1alpha3(pairs)] {
        match parsed {
            Ok(query) => assert!(query.page >= 1 && query.limit >= -1, "{query:?}"),
            Err(error) => assert_bad_request(&error),
        }
    }
}

/// Parses a migration body; an error is a 400 or a 415 with a message.
fn check_migration_body(content_type: &str, body: &[u8]) {
    match parse_body(content_type, body) {
        Ok(fields) => {
            let _ = fields.get("dryRun").map(|v| is_dry_run(v));
        }
        Err(error) => {
            let status = error.status();
            assert!(
                matches!(
                    error.code(),
                    StatusCode::BAD_REQUEST | StatusCode::UNSUPPORTED_MEDIA_TYPE
                ),
                "{error:?}"
            );
            assert_eq!(status.code, error.code().as_u16());
            assert!(!status.message.is_empty(), "{error:?}");
        }
    }
}

/// Query pairs: known keys with numbers or selector text, and random ones.
fn params() -> impl Strategy<Value = Vec<(String, String)>> {
    let key = prop_oneof![
        4 => prop::sample::select(param_keys()).prop_map(str::to_owned),
        1 => any::<String>(),
    ];
    let value = prop_oneof![
        tokens(NUMBER_TOKENS),
        text(SELECTOR_TOKENS),
        text(FIELD_TOKENS),
    ];
    prop::collection::vec((key, value), 0..8)
}

/// A media type and a body: token-built or raw bytes.
fn migration_body() -> impl Strategy<Value = (String, Vec<u8>)> {
    let content_type = prop_oneof![
        6 => prop::sample::select(MEDIA_TYPES).prop_map(str::to_owned),
        1 => any::<String>(),
    ];
    let body = prop_oneof![
        4 => tokens(BODY_TOKENS).prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..256),
    ];
    (content_type, body)
}

/// One quick and one `#[ignore]`d 1,000,000-case test per target.
macro_rules! targets {
    ($($quick:ident, $full:ident: ($($arg:pat in $strategy:expr),+) => $body:expr;)+) => {
        proptest! {
            #![proptest_config(config(QUICK))]
            $(#[test] fn $quick($($arg in $strategy),+) { $body; })+
        }
        proptest! {
            #![proptest_config(config(FULL))]
            $(
                #[test]
                #[ignore = "1,000,000 cases: cargo test --release -- --ignored fuzz_"]
                fn $full($($arg in $strategy),+) { $body; }
            )+
        }
    };
}

targets! {
    fuzz_label_selector_quick, fuzz_label_selector: (text in text(SELECTOR_TOKENS)) => check_selector(&text);
    fuzz_field_selector_quick, fuzz_field_selector: (text in text(FIELD_TOKENS)) => check_field_selector(&text);
    fuzz_list_query_quick, fuzz_list_query: (pairs in params()) => check_params(&pairs);
    fuzz_numbers_quick, fuzz_numbers: (value in text(NUMBER_TOKENS)) => check_numbers(&value);
    fuzz_path_names_quick, fuzz_path_names: (text in text(NAME_TOKENS)) => check_path_names(&text);
    fuzz_migration_body_quick, fuzz_migration_body: ((content_type, body) in migration_body())
        => check_migration_body(&content_type, &body);
}
