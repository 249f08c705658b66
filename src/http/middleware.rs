//! Middleware: authentication of every non-public request, and `Status` bodies for errors produced below
//! the handlers (body limit, timeout, panics, unknown routes and methods).

use std::any::Any;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};

/// Paths served without authentication (api §0.2).
const PUBLIC_PATHS: &[&str] = &["/healthz", "/livez", "/readyz", "/openapi.json"];

/// Authenticates the caller and hands the [`crate::auth::Caller`] to the handlers as an extension.
/// Front-proxy headers are removed first: this server does not (yet) accept front-proxy certificates.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let headers = request.headers_mut();
    let spoofable: Vec<_> = headers
        .keys()
        .filter(|name| name.as_str().starts_with("x-remote-"))
        .cloned()
        .collect();
    for name in spoofable {
        headers.remove(name);
    }
    let path = request.uri().path();
    if PUBLIC_PATHS.contains(&path) || (path == "/metrics" && !state.metrics_require_auth) {
        return next.run(request).await;
    }
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match state.authenticator.authenticate(authorization).await {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(error) => ApiError::from(error).into_response(),
    }
}

/// 404 for paths no route serves.
pub async fn route_not_found() -> ApiError {
    ApiError::RouteNotFound
}

/// 405 for a method a path does not serve.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed(
        "the server does not allow this method on the requested resource".into(),
    )
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
