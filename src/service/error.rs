//! The one error type of the service layer. It says what went wrong in the caller's terms; the HTTP layer
//! decides how that looks on the wire (a Kubernetes `Status`).

use http::StatusCode;
use kube::api::ApiResource;
use serde_json::Value;

use crate::cluster::cache::resource_name;
use crate::domain::migration::MigrationError;
use crate::domain::nsnp;
use crate::domain::write_body::BodyError;

/// Why a service could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The caller's input is wrong (400).
    #[error("{0}")]
    BadRequest(String),
    /// The caller may not do this; the message is kube-apiserver's wording (403).
    #[error("{0}")]
    Forbidden(String),
    /// A v1alpha3 resource this server does not serve (404).
    #[error("resource is not supported")]
    UnsupportedResource,
    /// The path names a scope the resource does not have, e.g. a cluster-scoped resource in a namespace (404).
    #[error("the server could not find the requested resource")]
    NoSuchPath,
    /// A named object does not exist (404).
    #[error("{resource} \"{name}\" not found")]
    NotFound {
        /// `<plural>.<group>`, or `<plural>` for the core group.
        resource: String,
        name: String,
    },
    /// The request body's content type is not accepted here (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The object failed validation (422).
    #[error("{}", .0.invalid.message())]
    Invalid(InvalidObject),
    /// kube-apiserver answered a forwarded write with an error: its answer is passed through unchanged.
    #[error("kube-apiserver answered {code}")]
    Upstream {
        code: StatusCode,
        /// Its body (normally a `Status`).
        body: Value,
    },
    /// A cache has not synced, or kube-apiserver cannot be reached (503).
    #[error("{0}")]
    Unavailable(String),
    /// A failure on our side (500).
    #[error("{0}")]
    Internal(String),
}

/// An object that failed validation, with the API coordinates its `Status.details` name.
#[derive(Debug)]
pub struct InvalidObject {
    pub group: String,
    pub kind: String,
    /// The object's name and field errors.
    pub invalid: nsnp::Invalid,
}

impl Error {
    /// 404 for `name` of `resource`, in Kubernetes' words.
    pub fn not_found(resource: &ApiResource, name: &str) -> Self {
        Error::NotFound {
            resource: resource_name(resource),
            name: name.to_owned(),
        }
    }
}

impl From<MigrationError> for Error {
    fn from(error: MigrationError) -> Self {
        match error {
            MigrationError::BadRequest(message) => Error::BadRequest(message),
            MigrationError::NotFound { resource, name } => Error::NotFound { resource, name },
        }
    }
}

impl From<BodyError> for Error {
    fn from(error: BodyError) -> Self {
        match error {
            BodyError::BadRequest(message) => Error::BadRequest(message),
            BodyError::UnsupportedMediaType(message) => Error::UnsupportedMediaType(message),
        }
    }
}
