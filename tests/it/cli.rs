//! The binary: modes, configuration errors, startup errors, graceful shutdown on SIGTERM.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::api::SYNC;
use crate::support::{ControlPlane, User, free_ports, wait_for};

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ks-network-apiserver"))
}

fn run(args: &[&str]) -> (i32, String, String) {
    let output = binary()
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn version_names_the_package_version_and_the_commit() {
    let (code, stdout, _) = run(&["--version"]);
    assert_eq!(code, 0);
    let expected = format!(
        "ks-network-apiserver {} (commit ",
        env!("CARGO_PKG_VERSION")
    );
    assert!(stdout.starts_with(&expected), "{stdout}");
    let commit = stdout
        .trim()
        .trim_start_matches(&expected)
        .trim_end_matches(')');
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{stdout}"
    );
}

#[test]
fn invalid_configuration_exits_2_with_one_line_naming_the_key() {
    let (code, _, stderr) = run(&["serve", "--bind-address", "nowhere"]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("server.bindAddress"), "{stderr}");

    let (code, _, stderr) = run(&["serve", "--set", "auth.cacheTTLSeconds=soon"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("auth.cacheTTLSeconds"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yaml");
    std::fs::write(&file, "server:\n  bindAdress: 127.0.0.1:1\n").unwrap();
    let (code, _, stderr) = run(&["serve", "--config", file.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("bindAdress"), "{stderr}");

    let output = binary()
        .args(["serve"])
        .env("KSNET_SERVER_REQUEST_TIMEOUT_SECONDS", "0")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("server.requestTimeoutSeconds"));
}

#[test]
fn a_missing_kubeconfig_is_one_clear_error() {
    let (code, _, stderr) = run(&[
        "serve",
        "--kubeconfig",
        "/nonexistent/kubeconfig",
        "--bind-address",
        "127.0.0.1:0",
    ]);
    assert_eq!(code, 1, "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.contains("cannot load the Kubernetes client configuration"),
        "{stderr}"
    );
    assert!(last.contains("/nonexistent/kubeconfig"), "{stderr}");
}

#[test]
fn crds_and_openapi_modes_print_documents() {
    let (code, stdout, _) = run(&["crds"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("name: namespacenetworkpolicies.network.kubesphere.io"));
    assert!(!stdout.contains("crd.projectcalico.org"));
    let (code, stdout, _) = run(&["crds", "--upstream"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("name: ipamblocks.crd.projectcalico.org"));
    let (code, stdout, _) = run(&["openapi"]);
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
}

#[tokio::test]
async fn serve_becomes_ready_and_exits_cleanly_on_sigterm() {
    let plane = ControlPlane::shared();
    let [port] = free_ports::<1>();
    let mut child = binary()
        .args([
            "serve",
            "--log-format",
            "json",
            "--bind-address",
            &format!("127.0.0.1:{port}"),
            "--set",
            "server.shutdownDelaySeconds=1",
        ])
        .arg("--kubeconfig")
        .arg(plane.kubeconfig_path(User::Admin))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/readyz");
    wait_for(SYNC, "serve ready", || async {
        let response = http.get(&url).send().await.ok()?;
        (response.status() == 200).then_some(())
    })
    .await;
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = wait_for(Duration::from_secs(30), "serve exits after SIGTERM", || {
        let exited = child.try_wait().unwrap();
        async move { exited }
    })
    .await;
    assert!(status.success(), "{status:?}");
    let mut stderr = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(!lines.is_empty(), "JSON log lines expected: {stderr}");
    assert!(
        lines.iter().any(|l| l["message"] == "listening"),
        "{stderr}"
    );
    assert!(lines.iter().any(|l| l["message"] == "stopped"), "{stderr}");
}
