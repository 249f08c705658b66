//! Clients that misbehave on purpose, against the real listener (shared plane): a client trickling its
//! headers is cut off, huge headers are refused, deeply nested JSON is a 400, 10,000 bad tokens leave memory
//! bounded, and the server keeps serving.

use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::api::{APIS, V2, nsnps};
use crate::support::fixtures::json_of;
use crate::support::{ControlPlane, TestServer, User, serve_binary, test_config};

/// The server's `host:port`.
fn address(server: &TestServer<'_>) -> String {
    server.url("").trim_start_matches("http://").to_owned()
}

/// The server still answers a well-behaved client.
async fn still_serving(server: &TestServer<'_>) {
    let (code, _) = json_of(server.get("/healthz", None).await).await;
    assert_eq!(code, 200);
}

#[tokio::test]
async fn a_client_trickling_its_headers_is_cut_off() {
    let plane = ControlPlane::shared();
    let mut config = test_config();
    config.server.header_read_timeout_seconds = 1;
    let server = TestServer::start_with(plane, config).await;
    let mut slow = TcpStream::connect(address(&server)).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    // One byte every 100 ms, for up to 10 s: the server must close the connection long before.
    let started = Instant::now();
    let mut closed_after = None;
    while started.elapsed() < Duration::from_secs(10) {
        if slow.write_all(b"a").await.is_err() {
            closed_after = Some(started.elapsed());
            break;
        }
        let mut buffer = [0u8; 256];
        match tokio::time::timeout(Duration::from_millis(100), slow.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed_after = Some(started.elapsed());
                break;
            }
            Ok(Ok(n)) => {
                let answer = String::from_utf8_lossy(&buffer[..n]).into_owned();
                assert!(!answer.starts_with("HTTP/1.1 200"), "{answer}");
                closed_after = Some(started.elapsed());
                break;
            }
            Err(_) => {}
        }
    }
    let closed_after = closed_after.expect("the slow client was cut off within 10 s");
    assert!(closed_after < Duration::from_secs(5), "{closed_after:?}");
    still_serving(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn huge_headers_are_refused_and_deep_json_is_a_400() {
    let plane = ControlPlane::shared();
    let server = TestServer::start(plane).await;
    server.wait_ready().await;
    let admin = plane.token(User::Admin);

    // 1 MiB of header: refused before any handler (431), the server unharmed.
    let huge = "a".repeat(1024 * 1024);
    let response = server
        .http
        .get(server.url("/healthz"))
        .header("X-Huge", &huge)
        .send()
        .await;
    match response {
        Ok(response) => assert_eq!(response.status(), 431),
        // The server may close the connection before the client has finished sending.
        Err(error) => assert!(error.is_request() || error.is_body(), "{error}"),
    }
    still_serving(&server).await;

    // JSON nested 100,000 deep (200 KB, under the body limit): a 400 Status, never a stack overflow.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    for path in [nsnps("default"), format!("{APIS}/ippoolmigrations")] {
        let response = server
            .http
            .post(server.url(&path))
            .bearer_auth(&admin)
            .header("Content-Type", "application/json")
            .body(deep.clone())
            .send()
            .await
            .unwrap();
        let (code, body) = json_of(response).await;
        assert_eq!(
            (code, &body["kind"]),
            (400, &serde_json::json!("Status")),
            "{path}: {body}"
        );
    }
    still_serving(&server).await;
    server.stop().await;
}

/// Resident memory of `pid`, bytes.
fn resident_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS");
    kib * 1024
}

/// Sends `count` distinct random bearer tokens, 32 at a time; every answer must be 401.
async fn bad_tokens(http: &reqwest::Client, base: &str, count: usize) {
    let path = format!("{base}{V2}/ippools");
    futures::stream::iter(0..count)
        .map(|_| {
            let request = http
                .get(&path)
                .bearer_auth(uuid::Uuid::new_v4().simple().to_string());
            async move { request.send().await.map(|r| r.status().as_u16()) }
        })
        .buffer_unordered(32)
        .for_each(|code| async move { assert_eq!(code.ok(), Some(401)) })
        .await;
}

/// 10,000 distinct bad tokens (each a TokenReview at kube-apiserver) through the real binary: every one is
/// 401, and resident memory stays bounded (the answer cache holds at most `auth.cacheMaxEntries`).
#[tokio::test]
async fn ten_thousand_bad_tokens_leave_memory_bounded() {
    let plane = ControlPlane::shared();
    let dir = tempfile::tempdir().unwrap();
    let settings = ["auth.cacheMaxEntries=1000", "log.level=warn"];
    let (server, base) = serve_binary(plane, dir.path(), "server", &settings).await;
    let http = reqwest::Client::new();
    // Warm up (connection pools, allocator arenas, a full answer cache), then measure.
    bad_tokens(&http, &base, 2_000).await;
    let before = resident_bytes(server.child.id());
    bad_tokens(&http, &base, 10_000).await;
    let after = resident_bytes(server.child.id());
    let growth = after.saturating_sub(before);
    eprintln!(
        "10,000 bad tokens: resident {:.1} MiB -> {:.1} MiB (+{:.1} MiB)",
        before as f64 / 1048576.0,
        after as f64 / 1048576.0,
        growth as f64 / 1048576.0
    );
    assert!(growth < 16 * 1024 * 1024, "grew {growth} bytes");
}
