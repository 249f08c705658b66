//! Errors as Kubernetes `Status` objects (api §0.5).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::auth::AuthError;
use crate::service;

/// The Kubernetes `Status` object, fields in kube-apiserver's order.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Status {
    /// Always `Status`.
    pub kind: &'static str,
    /// Always `v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: &'static str,
    /// Always `{}`.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Always `Failure`.
    pub status: &'static str,
    /// Human-readable explanation.
    pub message: String,
    /// Machine-readable reason (`NotFound`, `BadRequest`, …).
    pub reason: &'static str,
    /// The object concerned, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<StatusDetails>,
    /// The HTTP status code.
    pub code: u16,
}

/// How long a shed request should wait before it is retried (`Retry-After` and `details.retryAfterSeconds`).
const RETRY_AFTER_SECONDS: u32 = 1;

/// `Status.details`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StatusDetails {
    /// Object name.
    pub name: String,
    /// API group (empty for core).
    pub group: String,
    /// Resource (plural) or kind.
    pub kind: String,
    /// Field errors of an `Invalid` status.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<StatusCause>,
    /// Seconds a client should wait before retrying (429, as kube-apiserver sends).
    #[serde(rename = "retryAfterSeconds", skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u32>,
}

/// One field error of an `Invalid` status.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StatusCause {
    /// `FieldValueInvalid`, `FieldValueNotSupported`, …
    pub reason: String,
    /// The field path, e.g. `spec.egress[0].to[1]`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// An error an HTTP handler or middleware answers with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The caller's input is wrong.
    #[error("{0}")]
    BadRequest(String),
    /// No or rejected credentials.
    #[error("Unauthorized")]
    Unauthorized,
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// No route for the path.
    #[error("the server could not find the requested resource")]
    RouteNotFound,
    /// A v1alpha3 resource this server does not serve.
    #[error("resource is not supported")]
    UnsupportedResource,
    /// A named object does not exist.
    #[error("{resource} \"{name}\" not found")]
    NotFound {
        /// `<plural>.<group>` (`<plural>` for core).
        resource: String,
        name: String,
    },
    /// The path exists but not with this method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The body's content type is not accepted here.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The body exceeds `server.maxRequestBodyBytes`.
    #[error("request body too large (limit {0} bytes)")]
    PayloadTooLarge(usize),
    /// The in-flight limit of the request's kind is reached (api §0.7); answered with `Retry-After: 1`.
    #[error("too many requests, please try again later")]
    TooManyRequests,
    /// The cache a request needs has not synced, or kube-apiserver cannot be reached.
    #[error("{0}")]
    ServiceUnavailable(String),
    /// The request took longer than the timeout.
    #[error("request timed out")]
    Timeout,
    /// The object failed validation (422).
    #[error("{message}")]
    Invalid {
        /// Kubernetes-style message naming the object and every field error.
        message: String,
        /// The object and its field errors (boxed: keeps every `Result<_, ApiError>` small).
        details: Box<StatusDetails>,
    },
    /// kube-apiserver's own answer to a forwarded request, passed through unchanged.
    #[error("kube-apiserver answered {code}")]
    Upstream {
        code: StatusCode,
        /// Its body (normally a `Status`).
        body: serde_json::Value,
    },
    /// An unexpected failure on our side.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status code; kube-apiserver's own for [`ApiError::Upstream`].
    pub fn code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::RouteNotFound | ApiError::UnsupportedResource | ApiError::NotFound { .. } => {
                StatusCode::NOT_FOUND
            }
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ApiError::ServiceUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Upstream { code, .. } => *code,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "BadRequest",
            ApiError::Unauthorized => "Unauthorized",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::RouteNotFound | ApiError::UnsupportedResource | ApiError::NotFound { .. } => {
                "NotFound"
            }
            ApiError::MethodNotAllowed(_) => "MethodNotAllowed",
            ApiError::PayloadTooLarge(_) => "RequestEntityTooLarge",
            ApiError::UnsupportedMediaType(_) => "UnsupportedMediaType",
            ApiError::TooManyRequests => "TooManyRequests",
            ApiError::ServiceUnavailable(_) => "ServiceUnavailable",
            ApiError::Timeout => "Timeout",
            ApiError::Invalid { .. } => "Invalid",
            ApiError::Upstream { .. } => "",
            ApiError::Internal(_) => "InternalError",
        }
    }

    /// The `Status` object for this error.
    pub fn status(&self) -> Status {
        let details = match self {
            ApiError::NotFound { resource, name } => {
                let (kind, group) = resource.split_once('.').unwrap_or((resource.as_str(), ""));
                Some(StatusDetails {
                    name: name.clone(),
                    group: group.to_owned(),
                    kind: kind.to_owned(),
                    causes: Vec::new(),
                    retry_after_seconds: None,
                })
            }
            ApiError::Invalid { details, .. } => Some(StatusDetails::clone(details)),
            ApiError::TooManyRequests => Some(StatusDetails {
                name: String::new(),
                group: String::new(),
                kind: String::new(),
                causes: Vec::new(),
                retry_after_seconds: Some(RETRY_AFTER_SECONDS),
            }),
            _ => None,
        };
        Status {
            kind: "Status",
            api_version: "v1",
            metadata: serde_json::Map::new(),
            status: "Failure",
            message: self.to_string(),
            reason: self.reason(),
            details,
            code: self.code().as_u16(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(message) = &self {
            tracing::error!(%message, "internal error");
        }
        if let ApiError::Upstream { code, body } = self {
            return (code, Json(body)).into_response();
        }
        let mut response = (self.code(), Json(self.status())).into_response();
        match self {
            ApiError::Unauthorized => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::TooManyRequests => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
            }
            _ => {}
        }
        response
    }
}

impl From<service::Error> for ApiError {
    fn from(error: service::Error) -> Self {
        use service::Error as E;
        match error {
            E::BadRequest(message) => ApiError::BadRequest(message),
            E::Forbidden(message) => ApiError::Forbidden(message),
            E::UnsupportedResource => ApiError::UnsupportedResource,
            E::NoSuchPath => ApiError::RouteNotFound,
            E::NotFound { resource, name } => ApiError::NotFound { resource, name },
            E::UnsupportedMediaType(message) => ApiError::UnsupportedMediaType(message),
            E::Invalid(object) => ApiError::Invalid {
                message: object.invalid.message(),
                details: Box::new(StatusDetails {
                    name: object.invalid.name,
                    group: object.group,
                    kind: object.kind,
                    causes: object
                        .invalid
                        .causes
                        .into_iter()
                        .map(|cause| StatusCause {
                            reason: cause.reason.to_owned(),
                            field: cause.field,
                            message: cause.message,
                        })
                        .collect(),
                    retry_after_seconds: None,
                }),
            },
            E::Upstream { code, body } => ApiError::Upstream { code, body },
            E::Unavailable(message) => ApiError::ServiceUnavailable(message),
            E::Internal(message) => ApiError::Internal(message),
        }
    }
}

/// The 503 message when a TokenReview or SubjectAccessReview fails; the cause is only logged.
pub const CREDENTIALS_UNAVAILABLE: &str = "cannot check credentials, please try again later";

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Unauthenticated => ApiError::Unauthorized,
            // kube-apiserver's error text stays in the log: the caller may not be authenticated.
            AuthError::Review(_) | AuthError::Timeout(_) => {
                tracing::warn!(%error, "cannot check credentials");
                ApiError::ServiceUnavailable(CREDENTIALS_UNAVAILABLE.into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_carries_details() {
        let error = ApiError::NotFound {
            resource: "ippools.crd.projectcalico.org".into(),
            name: "nope".into(),
        };
        let json = serde_json::to_value(error.status()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                "message":"ippools.crd.projectcalico.org \"nope\" not found","reason":"NotFound",
                "details":{"name":"nope","group":"crd.projectcalico.org","kind":"ippools"},"code":404})
        );
    }

    #[test]
    fn core_resources_have_an_empty_group() {
        let error = ApiError::NotFound {
            resource: "namespaces".into(),
            name: "x".into(),
        };
        let status = error.status();
        assert_eq!(status.message, "namespaces \"x\" not found");
        assert_eq!(status.details.unwrap().group, "");
    }

    #[test]
    fn unauthorized_matches_the_spec() {
        let json = serde_json::to_value(ApiError::Unauthorized.status()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                "message":"Unauthorized","reason":"Unauthorized","code":401})
        );
    }
}
