//! Health and readiness (api §5).

use std::fmt::Write as _;
use std::time::Instant;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;

use super::AppState;

/// `GET /healthz`: 200 `ok` while the process serves.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /livez`: same as `/healthz`.
pub async fn livez() -> &'static str {
    "ok"
}

#[derive(Debug, Deserialize)]
pub struct ReadyzQuery {
    /// List every check, also on success.
    verbose: Option<String>,
}

/// `GET /readyz`: 200 when every watch cache has synced, no synced cache's watch has been failing for longer
/// than `cache.maxWatchFailureSeconds` and the server is not draining, else 503 with one line per check.
pub async fn readyz(
    State(state): State<AppState>,
    Query(query): Query<ReadyzQuery>,
) -> impl IntoResponse {
    let caches = state.services.caches.readiness(Instant::now());
    let synced = caches.iter().all(|c| c.ready);
    let watching = caches.iter().all(|c| c.watch_failing_for.is_none());
    let draining = state.shutdown.is_cancelled();
    let ready = synced && watching && !draining;
    if ready && query.verbose.is_none() {
        return (StatusCode::OK, "ok".to_owned());
    }
    let mut body = String::new();
    let mark = |ok: bool| if ok { "+" } else { "-" };
    let word = |ok: bool| if ok { "ok" } else { "failed" };
    let _ = writeln!(body, "[{}]informer-sync {}", mark(synced), word(synced));
    if !synced {
        for cache in caches.iter().filter(|c| !c.ready) {
            let _ = writeln!(body, "    waiting for {}", cache.resource);
        }
    }
    let _ = writeln!(body, "[{}]watch {}", mark(watching), word(watching));
    for cache in &caches {
        if let Some(failing) = cache.watch_failing_for {
            let seconds = failing.as_secs();
            let _ = writeln!(
                body,
                "    watch failing for {} ({seconds}s)",
                cache.resource
            );
        }
    }
    let _ = writeln!(body, "[{}]shutdown {}", mark(!draining), word(!draining));
    if ready {
        body.push_str("readyz check passed\n");
        (StatusCode::OK, body)
    } else {
        body.push_str("readyz check failed\n");
        (StatusCode::SERVICE_UNAVAILABLE, body)
    }
}
