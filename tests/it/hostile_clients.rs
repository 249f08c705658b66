//! Clients that misbehave on purpose, against the real listener (shared plane): a client trickling its
//! headers is cut off, huge headers are refused, deeply nested JSON is a 400, and the server keeps serving.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::api::{APIS, nsnps};
use crate::support::fixtures::json_of;
use crate::support::{ControlPlane, TestServer, User, test_config};

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
