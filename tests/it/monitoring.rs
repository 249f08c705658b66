//! `config/monitoring/prometheusrule.yaml`: its alerts pass their promtool unit tests (tests/promtool/), every
//! alert has one, and every metric an expression reads is one the server exposes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use ks_network_apiserver::app::Mode;

use crate::support::api::SYNC;
use crate::support::exclusive::Exclusive;
use crate::support::fixtures::{eventually, metric, parse_metrics, pool};
use crate::support::{CrdSet, TestServer, test_config, unique_name};

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The PrometheusRule's `spec`: what a plain Prometheus rule file holds.
fn rule_groups() -> Value {
    let text = std::fs::read_to_string(repo_file("config/monitoring/prometheusrule.yaml")).unwrap();
    let rule: Value = serde_saphyr::from_str(&text).expect("the PrometheusRule parses");
    assert_eq!(rule["kind"], "PrometheusRule");
    rule["spec"].clone()
}

/// `(alert, expr)` of every rule.
fn alerts(groups: &Value) -> Vec<(String, String)> {
    let groups = groups["groups"].as_array().expect("spec.groups");
    let rules = groups.iter().flat_map(|g| g["rules"].as_array().unwrap());
    rules
        .map(|r| {
            let name = r["alert"].as_str().expect("every rule is an alert");
            (name.to_owned(), r["expr"].as_str().unwrap().to_owned())
        })
        .collect()
}

/// The metric names a PromQL expression reads: identifiers that are not functions, aggregations, keywords,
/// label names of `by`/`on`/… lists, matchers, strings, durations or numbers.
fn metric_names(expr: &str) -> BTreeSet<String> {
    /// Operators, modifiers, aggregations (which may be followed by `by`/`without` rather than `(`) and literals.
    const KEYWORDS: &str = "and or unless bool offset inf nan sum min max avg group stddev stdvar count \
                            count_values bottomk topk quantile";
    /// Keywords followed by a list of label names.
    const LABEL_LISTS: [&str; 6] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let skip_to = |i: usize, close: char| {
        let mut j = i + 1;
        while j < chars.len() && chars[j] != close {
            if chars[j] == '\\' {
                j += 1;
            }
            j += 1;
        }
        j + 1
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            i = skip_to(i, c);
        } else if c == '{' {
            i = skip_to(i, '}');
        } else if c == '[' {
            i = skip_to(i, ']');
        } else if c.is_ascii_digit() || c == '.' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "_:".contains(chars[i])) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut next = i;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            let called = chars.get(next) == Some(&'(');
            let lower = word.to_lowercase();
            if LABEL_LISTS.contains(&lower.as_str()) {
                if called {
                    i = skip_to(next, ')');
                }
            } else if !called && !KEYWORDS.split_whitespace().any(|k| k == lower) {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

#[test]
fn metric_names_are_read_from_expressions() {
    let names = |expr| metric_names(expr).into_iter().collect::<Vec<_>>();
    assert_eq!(
        names(
            "histogram_quantile(0.99, sum by (le, route) (rate(a_bucket{method=\"GET\", x=~\"5..\"}[5m]))) > 1e3"
        ),
        ["a_bucket"]
    );
    assert_eq!(
        names("max by (ippool) (a) > 0.9\nand on (ippool) max by(ippool) (b) == 0 offset 5m"),
        ["a", "b"]
    );
    assert_eq!(
        names("sum(x{code=~'5..'}) / sum without (instance) (y) or absent(z)"),
        ["x", "y", "z"]
    );
}

#[test]
fn alert_rules_pass_their_promtool_unit_tests() {
    let groups = rule_groups();
    let tests_file = repo_file("tests/promtool/prometheusrule.test.yaml");
    let text = std::fs::read_to_string(&tests_file).unwrap();
    let unit_tests: Value = serde_saphyr::from_str(&text).expect("the unit tests parse");
    let tested: BTreeSet<&str> = unit_tests["tests"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["alert_rule_test"].as_array().unwrap())
        .filter(|t| t["exp_alerts"].as_array().is_some_and(|a| !a.is_empty()))
        .map(|t| t["alertname"].as_str().unwrap())
        .collect();
    let alerts = alerts(&groups);
    let untested: Vec<&str> = alerts
        .iter()
        .map(|(name, _)| name.as_str())
        .filter(|name| !tested.contains(name))
        .collect();
    assert!(
        untested.is_empty(),
        "alerts without a firing unit test: {untested:?}"
    );

    if Command::new("promtool").arg("--version").output().is_err() {
        eprintln!(
            "SKIPPED: promtool is not installed (Debian package `prometheus`; .ci/run installs it), so the \
             alert rules' unit tests did not run"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yaml"), groups.to_string()).unwrap();
    std::fs::copy(&tests_file, dir.path().join("tests.yaml")).unwrap();
    let run = Command::new("promtool")
        .args(["test", "rules", "tests.yaml"])
        .current_dir(dir.path())
        .output()
        .expect("promtool runs");
    assert!(
        run.status.success(),
        "promtool test rules failed:\n{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
}

#[tokio::test]
async fn alert_rules_read_only_metrics_the_server_exposes() {
    let alerts = alerts(&rule_groups());
    let mut cluster = Exclusive::acquire(CrdSet::All).await;
    // A pool, so that the per-pool families have series.
    let name = unique_name("alerted");
    cluster
        .create(pool(&name, json!({"cidr": "10.77.0.0/24"})))
        .await;
    let mut config = test_config();
    config.server.metrics_require_auth = false;
    // Mode `all`: the controller's families too, as config/deploy runs it.
    let server = TestServer::start_mode(cluster.plane(), config, Mode::All).await;
    server.wait_ready().await;
    let exposed = eventually(SYNC, &format!("pool {name} on /metrics"), || async {
        let response = server.get("/metrics", None).await;
        let text = response.text().await.map_err(|e| e.to_string())?;
        let samples = parse_metrics(&text);
        let ratio = "ks_network_ippool_utilization_ratio";
        match metric(&samples, ratio, &[("ippool", &name)]) {
            Some(_) => Ok(samples.into_iter().map(|s| s.name).collect::<BTreeSet<_>>()),
            None => Err(text),
        }
    })
    .await;
    let missing: Vec<String> = alerts
        .iter()
        .flat_map(|(alert, expr)| {
            let missing = metric_names(expr).into_iter();
            missing
                .filter(|m| !exposed.contains(m))
                .map(move |m| format!("{alert}: {m}"))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "alerts read metrics the server does not expose: {missing:?}\nexposed: {exposed:?}"
    );
    server.stop().await;
}
