//! The `/docs` page in a real browser: headless Chromium loads it from a running server (no internet access
//! needed: the Swagger UI is served from the binary) and renders the operations of `/openapi.json`.

use std::process::Command;

use crate::support::{ControlPlane, TestServer};

#[tokio::test]
async fn chromium_renders_the_operations_on_the_docs_page() {
    let plane = ControlPlane::shared();
    let server = TestServer::start(plane).await;
    let url = server.url("/docs/");
    let profile = tempfile::tempdir().unwrap();
    let dom = tokio::task::spawn_blocking(move || {
        Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--virtual-time-budget=15000",
                "--dump-dom",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(&url)
            .output()
    })
    .await
    .unwrap()
    .expect("chromium runs (.ci/run installs Debian's chromium)");
    let dom = String::from_utf8_lossy(&dom.stdout);
    for path in [
        "/kapis/network.kubesphere.io/v1alpha2/ippools",
        "/kapis/resources.kubesphere.io/v1alpha3/{resources}",
        "/apis/network.kubesphere.io/v1alpha2/ippoolmigrations",
    ] {
        assert!(
            dom.contains(&format!("data-path=\"{path}\"")),
            "operation {path} not rendered; DOM:\n{}",
            &dom[..dom.len().min(3000)]
        );
    }
    assert!(dom.contains("btn authorize"), "no Authorize button");
    server.stop().await;
}
