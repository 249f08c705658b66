//! The router without kube-apiserver, for route-level tests (parsing, 4xx answers, health, middleware):
//! empty caches that count as synced, static tokens instead of TokenReviews, and an authorizer that
//! grants nothing (members of `system:masters` are never asked). Requests are driven through the router
//! with `oneshot`; no port is opened for it.
//!
//! The server's own cluster connection points at a stub that accepts connections and closes them at
//! once, counting them: [`App::kube_connections`] tells whether a request reached "kube-apiserver" at
//! all (it must not, for requests that are rejected before any write).

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use futures::future::BoxFuture;
use http::{Method, Request, Response};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use ks_network_apiserver::auth::{
    AUTHENTICATED_GROUP, AuthError, AuthMetrics, Authenticator, Authorizer, Identity,
    MASTERS_GROUP, TokenReviewer,
};
use ks_network_apiserver::cluster::Caches;
use ks_network_apiserver::config::Config;
use ks_network_apiserver::http::request_metrics::RequestMetrics;
use ks_network_apiserver::http::{AppState, Limits, Surface, metrics, router};
use ks_network_apiserver::service;

/// The bearer token of `admin` (in `system:masters`).
pub const ADMIN_TOKEN: &str = "in-memory-admin-token";
/// The bearer token of `alice` (no groups, no grants).
pub const ALICE_TOKEN: &str = "in-memory-alice-token";
/// A token whose review fails as if kube-apiserver could not be reached; the failure text is
/// [`REVIEW_FAILURE`].
pub const UNREVIEWABLE_TOKEN: &str = "in-memory-unreviewable-token";
/// What the failing TokenReview reports: internal detail that callers must not see.
pub const REVIEW_FAILURE: &str = "dial tcp 10.96.0.1:443: connect: connection refused";

/// The application router over in-memory state.
#[derive(Clone)]
pub struct App {
    router: Router,
    kube_connections: Arc<AtomicUsize>,
}

impl App {
    /// The router with the default configuration's limits, over empty synced caches.
    pub async fn start() -> App {
        App::with_config(&Config::default()).await
    }

    /// The router with `config`'s limits (body size, in-flight requests) and webhook switch, over empty synced
    /// caches.
    pub async fn with_config(config: &Config) -> App {
        let (kube_url, kube_connections) = kube_stub().await;
        let ttl = config.auth_cache_ttl();
        let max_entries = NonZeroUsize::new(config.auth.cache_max_entries).unwrap();
        let authorizer = Arc::new(Authorizer::masters_only());
        let services = Arc::new(service::Context::new(
            Arc::new(Caches::empty()),
            authorizer,
            kube::Config::new(kube_url),
            config.auth.write_identity,
        ));
        let auth_metrics = AuthMetrics::default();
        let authenticator = Authenticator::with_reviewer(Arc::new(StaticTokens), ttl, max_entries)
            .with_metrics(&auth_metrics);
        let request_metrics = Arc::new(RequestMetrics::default());
        let registry = metrics::registry(&services, &request_metrics, &auth_metrics, None);
        let state = AppState {
            services,
            authenticator: Arc::new(authenticator),
            metrics: Arc::new(registry),
            metrics_require_auth: config.server.metrics_require_auth,
            webhook_enabled: config.webhook.enabled,
            shutdown: CancellationToken::new(),
            request_metrics,
        };
        let limits = Limits {
            request_timeout: config.request_timeout(),
            long_request_timeout: config.long_request_timeout(),
            max_body_bytes: config.server.max_request_body_bytes,
            max_requests_in_flight: config.server.max_requests_in_flight,
            max_mutating_requests_in_flight: config.server.max_mutating_requests_in_flight,
        };
        App {
            router: router(state, limits, Surface::Api),
            kube_connections,
        }
    }

    /// Sends `request` through the router.
    pub async fn request(&self, request: Request<Body>) -> Response<Body> {
        self.router
            .clone()
            .oneshot(request)
            .await
            .expect("the router answers every request")
    }

    /// GET `path` as the admin: the status code and the body (JSON, or the text as a JSON string).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.get_as(path, Some(ADMIN_TOKEN)).await
    }

    /// GET `path`, with `token` as bearer token when given.
    pub async fn get_as(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.send_as(Method::GET, path, token, None, Body::empty())
            .await
    }

    /// POST `body` as JSON, as the admin.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let json = Some("application/json");
        self.send(Method::POST, path, json, body.to_string()).await
    }

    /// `method path` as the admin, with a `Content-Type` (when given) and a body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<Body>,
    ) -> (u16, Value) {
        self.send_as(method, path, Some(ADMIN_TOKEN), content_type, body)
            .await
    }

    /// `method path` with `token` (when given), a `Content-Type` (when given) and a body: the status
    /// code and the body (JSON, or the text as a JSON string).
    pub async fn send_as(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: impl Into<Body>,
    ) -> (u16, Value) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(content_type) = content_type {
            request = request.header(http::header::CONTENT_TYPE, content_type);
        }
        let request = request.body(body.into()).expect("a valid request");
        body_of(self.request(request).await).await
    }

    /// How many connections the server opened to its cluster so far.
    pub fn kube_connections(&self) -> usize {
        self.kube_connections.load(Ordering::SeqCst)
    }
}

/// The status code and body of a response (JSON, or the text as a JSON string).
pub async fn body_of(response: Response<Body>) -> (u16, Value) {
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("read the response body");
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// A loopback listener that accepts connections and drops them, counting them; its `http://` URL and
/// the count. It runs on the caller's runtime.
async fn kube_stub() -> (http::Uri, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let address = listener.local_addr().expect("local address");
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    tokio::spawn(async move {
        while let Ok((connection, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            drop(connection);
        }
    });
    let url = format!("http://{address}").parse().expect("a URL");
    (url, connections)
}

/// [`ADMIN_TOKEN`] and [`ALICE_TOKEN`]; every other token is invalid.
struct StaticTokens;

impl TokenReviewer for StaticTokens {
    fn review<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<Option<Identity>, AuthError>> {
        if token == UNREVIEWABLE_TOKEN {
            let error = AuthError::from(kube::Error::Service(REVIEW_FAILURE.into()));
            return Box::pin(std::future::ready(Err(error)));
        }
        let identity = match token {
            ADMIN_TOKEN => Some(identity("admin", &[MASTERS_GROUP])),
            ALICE_TOKEN => Some(identity("alice", &[])),
            _ => None,
        };
        Box::pin(std::future::ready(Ok(identity)))
    }
}

fn identity(user: &str, groups: &[&str]) -> Identity {
    let mut groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
    groups.push(AUTHENTICATED_GROUP.to_owned());
    Identity {
        user: user.to_owned(),
        uid: Some(user.to_owned()),
        groups,
        extra: Default::default(),
    }
}
