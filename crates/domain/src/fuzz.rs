//! Property-based fuzzing of the domain's parsers: CIDRs and the write bodies of the dynamic endpoints. Each
//! target has a quick variant (run by `cargo test`) and a `#[ignore]`d one of 1,000,000 cases
//! (`cargo test --release -- --ignored fuzz_`). Inputs are built from the grammar's tokens or are raw random
//! strings and bytes. A parsed CIDR must print back to itself; a rejected body must be a 400 or 415 with a
//! non-empty message; a panic fails the target.

use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::Value;

use crate::cidr::Cidr;
use crate::write_body::{BodyError, PatchKind, Target, check_patch, prepare_object};

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

const CIDR_TOKENS: &[&str] = &[
    "10", "192", "168", "0", "1", "255", "256", "00", "1000", ".", ":", "::", "::ffff:", "ffff",
    "fe80", "/", "/0", "/24", "/32", "/33", "/128", "/129", "/-1", "/+1", "/0024", "0x1", "%eth0",
    " ", "\t", "é",
];

const BODY_TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "\"apiVersion\"",
    "\"kind\"",
    "\"metadata\"",
    "\"namespace\"",
    "\"name\"",
    "\"managedFields\"",
    "\"spec\"",
    "\"op\"",
    "\"path\"",
    "\"network.kubesphere.io/v1alpha1\"",
    "\"NamespaceNetworkPolicy\"",
    "\"ns\"",
    "\"np\"",
    "\"other\"",
    "\"\"",
    "null",
    "true",
    "1e999",
    "-0",
    "\"\\u0000\"",
    "\"\\ud800\"",
    " ",
    "\n",
    "é",
];

const MEDIA_TYPES: &[&str] = &[
    "application/merge-patch+json",
    "application/json",
    "application/strategic-merge-patch+json",
    "application/json-patch+json",
    "application/apply-patch+yaml",
    "Application/JSON; charset=utf-8",
    "text/plain",
    "",
    ";",
];

/// A CIDR text: token-built or random.
fn cidr_text() -> impl Strategy<Value = String> {
    prop_oneof![6 => tokens(CIDR_TOKENS), 1 => any::<String>()]
}

/// A body: token-built JSON-like text or raw bytes.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => tokens(BODY_TOKENS).prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..256),
    ]
}

/// A media type: a known one or random.
fn media_type() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(MEDIA_TYPES).prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

/// The URL's namespace and, for U and P, name.
fn url() -> impl Strategy<Value = (String, Option<String>)> {
    let part = prop::sample::select(&["ns", "np", "other", "", "é"][..]).prop_map(str::to_owned);
    (part.clone(), prop::option::of(part))
}

fn target<'a>(namespace: &'a str, name: Option<&'a str>) -> Target<'a> {
    Target {
        group: "network.kubesphere.io",
        version: "v1alpha1",
        kind: "NamespaceNetworkPolicy",
        namespace,
        name,
    }
}

/// A rejection is a 400 or a 415 with a message.
fn assert_client_error(error: &BodyError) {
    assert!(matches!(error.code(), 400 | 415), "{error:?}");
    assert!(!error.to_string().is_empty(), "{error:?}");
}

/// Parses a CIDR and an address; what parses prints back to itself.
fn check_cidr(text: &str) {
    for cidr in [Cidr::parse(text), Cidr::parse_address(text)]
        .into_iter()
        .flatten()
    {
        assert!(cidr.prefix() <= cidr.family().bits(), "{text:?}");
        assert_eq!(Cidr::parse(&cidr.to_string()), Some(cidr), "{text:?}");
    }
}

/// Prepares a C or U body; a prepared object carries the URL's namespace and name.
fn check_prepare(body: &[u8], namespace: &str, name: Option<&str>) {
    match prepare_object(body, &target(namespace, name)) {
        Ok(object) => {
            let metadata = &object["metadata"];
            assert!(metadata.is_object(), "{object}");
            assert!(metadata.get("managedFields").is_none(), "{object}");
            if !namespace.is_empty() {
                assert_eq!(metadata["namespace"], Value::from(namespace), "{object}");
            }
        }
        Err(error) => assert_client_error(&error),
    }
}

/// Checks a P body; apply bodies are never parsed.
fn check_patch_body(content_type: &str, body: &[u8], namespace: &str, name: Option<&str>) {
    match check_patch(content_type, body, &target(namespace, name)) {
        Ok(PatchKind::Apply) => {}
        Ok(_) => assert!(serde_json::from_slice::<Value>(body).is_ok()),
        Err(error) => assert_client_error(&error),
    }
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
    fuzz_cidr_quick, fuzz_cidr: (text in cidr_text()) => check_cidr(&text);
    fuzz_prepare_object_quick, fuzz_prepare_object: (body in body(), (namespace, name) in url())
        => check_prepare(&body, &namespace, name.as_deref());
    fuzz_check_patch_quick, fuzz_check_patch:
        (content_type in media_type(), body in body(), (namespace, name) in url())
        => check_patch_body(&content_type, &body, &namespace, name.as_deref());
}
