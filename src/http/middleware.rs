//! Middleware: in-flight limits, authentication of every non-public request, and `Status` bodies for errors
//! produced below the handlers (body limit, timeout, panics, unknown routes and methods).

use std::any::Any;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use super::{ApiError, AppState, Limits};
use crate::tls::Peer;

/// Paths served without authentication (api §0.2; the webhook: api §8); the aggregator's OpenAPI probes
/// get their 404 (api §4.4).
const PUBLIC_PATHS: &[&str] = &[
    "/healthz",
    "/livez",
    "/readyz",
    "/openapi.json",
    super::webhook::PATH,
    "/openapi/v2",
    "/openapi/v3",
    "/docs",
];

/// Prefixes of paths served without authentication: the docs page's files.
const PUBLIC_PREFIXES: &[&str] = &["/docs/"];

/// Whether `path` is served without authentication.
fn is_public(path: &str) -> bool {
    PUBLIC_PATHS.contains(&path) || PUBLIC_PREFIXES.iter().any(|p| path.starts_with(p))
}

/// Paths never shed by the in-flight limits, so probes keep answering under load.
const HEALTH_PATHS: &[&str] = &["/healthz", "/livez", "/readyz"];

/// The two in-flight pools of api §0.7, like kube-apiserver's `--max-requests-inflight` and
/// `--max-mutating-requests-inflight`.
#[derive(Clone)]
pub struct InFlight {
    read_only: Arc<Semaphore>,
    mutating: Arc<Semaphore>,
}

impl InFlight {
    /// Pools of `max_requests_in_flight` and `max_mutating_requests_in_flight` permits.
    pub fn new(limits: &Limits) -> Self {
        let pool = |size: usize| Arc::new(Semaphore::new(size.min(Semaphore::MAX_PERMITS)));
        Self {
            read_only: pool(limits.max_requests_in_flight),
            mutating: pool(limits.max_mutating_requests_in_flight),
        }
    }
}

/// Answers 429 when the request's pool has no permit left; never waits. Health endpoints are never shed.
pub async fn limit_in_flight(
    State(pools): State<InFlight>,
    request: Request,
    next: Next,
) -> Response {
    if HEALTH_PATHS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let mutating = matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let pool = if mutating {
        &pools.mutating
    } else {
        &pools.read_only
    };
    match pool.clone().try_acquire_owned() {
        Ok(_permit) => next.run(request).await,
        Err(_) => ApiError::TooManyRequests.into_response(),
    }
}

/// Answers a 504 `Status` when a request outlasts its timeout: `long_request_timeout` for migrations and unbinds
/// ([`super::migration::is_long_request`]), `request_timeout` for everything else. One layer picks the limit, so
/// no shorter outer timeout cuts the long requests.
pub async fn timeout(State(limits): State<Limits>, request: Request, next: Next) -> Response {
    let limit = if super::migration::is_long_request(request.method(), request.uri().path()) {
        limits.long_request_timeout
    } else {
        limits.request_timeout
    };
    tokio::time::timeout(limit, next.run(request))
        .await
        .unwrap_or_else(|_| ApiError::Timeout.into_response())
}

/// Authenticates the caller (front-proxy certificate and headers, else bearer token) and hands the
/// [`crate::auth::Caller`] to the handlers as an extension. `X-Remote-*` headers never reach a handler.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let public = is_public(path) || (path == "/metrics" && !state.metrics_require_auth);
    let authenticated = if public {
        None
    } else {
        let client_certificates = request
            .extensions()
            .get::<ConnectInfo<Peer>>()
            .map(|peer| peer.0.client_certificates.clone());
        let result = state
            .authenticator
            .authenticate(
                request.headers(),
                client_certificates.as_deref().unwrap_or(&[]),
            )
            .await;
        match result {
            Ok(caller) => Some(caller),
            Err(error) => return ApiError::from(error).into_response(),
        }
    };
    let headers = request.headers_mut();
    let spoofable: Vec<_> = headers
        .keys()
        .filter(|name| name.as_str().starts_with("x-remote-"))
        .cloned()
        .collect();
    for name in spoofable {
        headers.remove(name);
    }
    if let Some(caller) = authenticated {
        request.extensions_mut().insert(caller);
    }
    next.run(request).await
}

/// 404 for paths no route serves.
pub async fn route_not_found() -> ApiError {
    ApiError::RouteNotFound
}

/// 405 for a method a path does not serve; axum adds `Allow` with the methods it does. A DELETE on a policy
/// collection is a deletecollection (api §2).
pub async fn method_not_allowed(method: Method, route: Option<MatchedPath>) -> ApiError {
    let deletecollection = method == Method::DELETE
        && route.is_some_and(|route| super::dynamic::is_collection(route.as_str()));
    ApiError::MethodNotAllowed(if deletecollection {
        "deletecollection is not supported".into()
    } else {
        "the server does not allow this method on the requested resource".into()
    })
}

/// Rewrites the plain-text error responses of layers and extractor rejections (body limit, timeout, bad
/// JSON or form bodies) into `Status` objects. Other responses, like `/readyz`'s text, pass unchanged.
pub async fn errors_as_status(max_body_bytes: usize, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let rewritten = [
        StatusCode::BAD_REQUEST,
        StatusCode::REQUEST_TIMEOUT,
        StatusCode::PAYLOAD_TOO_LARGE,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        StatusCode::UNPROCESSABLE_ENTITY,
        StatusCode::GATEWAY_TIMEOUT,
    ];
    if !rewritten.contains(&status) || is_json(&response) {
        return response;
    }
    let error = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(max_body_bytes),
        StatusCode::GATEWAY_TIMEOUT | StatusCode::REQUEST_TIMEOUT => ApiError::Timeout,
        _ => {
            let (_, body) = response.into_parts();
            let text = axum::body::to_bytes(body, 64 * 1024)
                .await
                .unwrap_or_default();
            let message = String::from_utf8_lossy(&text).trim().to_owned();
            match status {
                StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(message),
                // Malformed bodies are the caller's mistake: 400, like kube-apiserver.
                _ => ApiError::BadRequest(message),
            }
        }
    };
    error.into_response()
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"))
}

/// 500 `Status` for a handler that panicked (the panic is logged, never shown).
pub fn panic_as_status(panic: Box<dyn Any + Send + 'static>) -> Response<Body> {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = detail, "handler panicked");
    ApiError::Internal("internal error".into()).into_response()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::Router;
    use axum::routing::get;
    use tokio::sync::mpsc;
    use tokio_util::sync::CancellationToken;
    use tower::ServiceExt;

    use super::*;

    /// Limits of one request per pool; `/hold` handlers report on `entered`, then wait for `release`.
    fn held_router(entered: mpsc::UnboundedSender<()>, release: CancellationToken) -> Router {
        let hold = move || {
            let (entered, release) = (entered.clone(), release.clone());
            async move {
                let _ = entered.send(());
                release.cancelled().await;
                "done"
            }
        };
        let limits = Limits {
            request_timeout: Duration::from_secs(60),
            long_request_timeout: Duration::from_secs(60),
            max_body_bytes: 1024,
            max_requests_in_flight: 1,
            max_mutating_requests_in_flight: 1,
        };
        let ok = || async { "ok" };
        Router::new()
            .route("/hold", get(hold.clone()).post(hold))
            .route("/other", get(ok).delete(ok))
            .route("/healthz", get(ok))
            .route("/readyz", get(ok))
            .layer(axum::middleware::from_fn_with_state(
                InFlight::new(&limits),
                limit_in_flight,
            ))
    }

    async fn send(router: &Router, method: Method, path: &str) -> Response {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap();
        router.clone().oneshot(request).await.unwrap()
    }

    #[tokio::test]
    async fn each_pool_sheds_beyond_its_limit_and_health_is_never_shed() {
        let (entered_tx, mut entered) = mpsc::unbounded_channel();
        let release = CancellationToken::new();
        let router = held_router(entered_tx, release.clone());

        let held_get = tokio::spawn({
            let router = router.clone();
            async move { send(&router, Method::GET, "/hold").await }
        });
        entered.recv().await.unwrap();
        let shed = send(&router, Method::GET, "/other").await;
        assert_eq!(shed.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(shed.headers()[header::RETRY_AFTER], "1");
        let body = axum::body::to_bytes(shed.into_body(), 4096).await.unwrap();
        let status: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(status["reason"], "TooManyRequests");
        assert_eq!(
            status["message"],
            "too many requests, please try again later"
        );
        assert_eq!(status["code"], 429);
        assert_eq!(status["details"]["retryAfterSeconds"], 1);
        for path in ["/healthz", "/readyz"] {
            assert_eq!(
                send(&router, Method::GET, path).await.status(),
                StatusCode::OK
            );
        }
        // The mutating pool is separate.
        let delete = send(&router, Method::DELETE, "/other").await;
        assert_eq!(delete.status(), StatusCode::OK);

        let held_post = tokio::spawn({
            let router = router.clone();
            async move { send(&router, Method::POST, "/hold").await }
        });
        entered.recv().await.unwrap();
        let delete = send(&router, Method::DELETE, "/other").await;
        assert_eq!(delete.status(), StatusCode::TOO_MANY_REQUESTS);

        release.cancel();
        assert_eq!(held_get.await.unwrap().status(), StatusCode::OK);
        assert_eq!(held_post.await.unwrap().status(), StatusCode::OK);
        // Permits come back when a request ends.
        assert_eq!(
            send(&router, Method::GET, "/other").await.status(),
            StatusCode::OK
        );
        assert_eq!(
            send(&router, Method::DELETE, "/other").await.status(),
            StatusCode::OK
        );
    }
}
