//! The HTTP surface: routes, middleware, and errors as `Status` objects. Handlers stay thin: parse, ask a
//! cache or service, serialise.

pub mod aggregated;
pub mod docs;
pub mod dynamic;
pub mod error;
mod extract;
#[cfg(test)]
mod fuzz;
pub mod health;
pub mod ippools;
pub mod metrics;
mod middleware;
pub mod migration;
pub mod openapi;
pub mod request_metrics;
pub mod resources;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::routing::get;
use axum::{Extension, Router};
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;

use crate::auth::Authenticator;
use crate::service;

pub use error::ApiError;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The services, with the caches and authorizer they use.
    pub services: Arc<service::Context>,
    pub authenticator: Arc<Authenticator>,
    /// What `/metrics` exposes ([`metrics::registry`]).
    pub metrics: Arc<prometheus_client::registry::Registry>,
    /// Whether `/metrics` needs an authenticated, authorized caller.
    pub metrics_require_auth: bool,
    /// Whether the IPPool admission webhook is served (`webhook.enabled`, api §6).
    pub webhook_enabled: bool,
    /// Cancelled when the server starts draining (SIGTERM/SIGINT).
    pub shutdown: CancellationToken,
    /// Requests served, by route template; registered in `metrics`.
    pub request_metrics: Arc<request_metrics::RequestMetrics>,
}

/// Request limits applied by the middleware.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// `server.requestTimeoutSeconds`; a slower request gets a 504 `Status`.
    pub request_timeout: Duration,
    /// `server.longRequestTimeoutSeconds`: the same for migrations and unbinds, instead of `request_timeout`.
    pub long_request_timeout: Duration,
    /// `server.maxRequestBodyBytes`; a larger body gets a 413 `Status`.
    pub max_body_bytes: usize,
    /// `server.maxRequestsInFlight`: concurrent GETs and other non-mutating requests; more get a 429 `Status`.
    pub max_requests_in_flight: usize,
    /// `server.maxMutatingRequestsInFlight`: concurrent POST, PUT, PATCH and DELETE requests; more get a 429.
    pub max_mutating_requests_in_flight: usize,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What the listener serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Surface {
    /// The API and the operational endpoints (`serve` and `all` modes).
    Api,
    /// Only the operational endpoints of api §5 (`controller` mode).
    Operational,
}

/// The whole application router with its middleware.
pub fn router(state: AppState, limits: Limits, surface: Surface) -> Router {
    let request_metrics = state.request_metrics.clone();
    let mut routes = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/livez", get(health::livez))
        .route("/readyz", get(health::readyz))
        .route("/openapi.json", get(openapi::document))
        .merge(docs::routes())
        .route("/metrics", get(metrics::metrics));
    if surface == Surface::Api {
        routes = routes
            .merge(ippools::routes())
            .merge(migration::routes())
            .merge(resources::routes())
            .merge(dynamic::routes())
            .merge(aggregated::routes());
        if state.webhook_enabled {
            routes = routes.merge(webhook::routes());
        }
    }
    let routes = routes
        .fallback(middleware::route_not_found)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::authenticate,
        ))
        // One body limit for every extractor and handler (api §0.7), instead of axum's 2 MiB default.
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(Extension(limits))
        .with_state(state);

    let max_body = limits.max_body_bytes;
    let in_flight = middleware::InFlight::new(&limits);
    routes.layer(
        ServiceBuilder::new()
            .layer(axum::middleware::from_fn_with_state(
                request_metrics,
                request_metrics::record,
            ))
            .layer(SetSensitiveRequestHeadersLayer::new([axum::http::header::AUTHORIZATION]))
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
            .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let id = request
                    .headers()
                    .get(&REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
            }))
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .layer(axum::middleware::from_fn(move |req, next| {
                middleware::errors_as_status(max_body, req, next)
            }))
            .layer(axum::middleware::from_fn_with_state(in_flight, middleware::limit_in_flight))
            .layer(CatchPanicLayer::custom(middleware::panic_as_status))
            .layer(axum::middleware::from_fn_with_state(limits, middleware::timeout))
            .layer(RequestBodyLimitLayer::new(max_body)),
    )
}

impl axum::response::IntoResponse for service::lists::JsonText {
    /// 200 with the text as an `application/json` body, as `Json` would send it.
    fn into_response(self) -> axum::response::Response {
        (
            [(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json"),
            )],
            self.into_bytes(),
        )
            .into_response()
    }
}
