//! Who is calling (api §0.2) and what they may do (api §0.3).
//!
//! Requests that kube-apiserver's front proxy vouches for (client certificate plus `X-Remote-*` headers)
//! are authenticated by those; bearer tokens are checked with TokenReviews and permissions with SubjectAccessReviews against
//! kube-apiserver; both answers (allowed and denied) are cached for `auth.cacheTTLSeconds`, at most
//! `auth.cacheMaxEntries` of each, and concurrent identical questions share one review. Who answers
//! is a [`TokenReviewer`] and an [`AccessReviewer`], so the HTTP layer can also be served with other
//! answers (the route tests do, without kube-apiserver).

mod authenticator;
mod authorizer;
mod bounded_cache;
mod front_proxy;
mod review_cache;

pub use authenticator::{Authenticator, TokenReviewer};
pub use authorizer::{Access, AccessReviewer, Authorizer, LocalGrants, Verb};
pub use front_proxy::FrontProxy;
pub use review_cache::AuthMetrics;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The group every authenticated identity carries.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";
/// Members of this group skip authorization checks.
pub const MASTERS_GROUP: &str = "system:masters";

/// An authenticated identity.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Identity {
    /// User name.
    pub user: String,
    /// User uid, when known.
    pub uid: Option<String>,
    /// Groups, always including `system:authenticated`.
    pub groups: Vec<String>,
    /// Extra attributes.
    pub extra: BTreeMap<String, Vec<String>>,
}

impl Identity {
    /// Whether the identity belongs to `system:masters`.
    pub fn is_master(&self) -> bool {
        self.groups.iter().any(|g| g == MASTERS_GROUP)
    }
}

/// How the caller proved who they are; writes on the caller's behalf reuse it (api §0.4).
#[derive(Clone)]
pub enum Credential {
    /// An `Authorization: Bearer` token.
    BearerToken(String),
    /// kube-apiserver's front proxy vouched for the caller: there is no token to forward.
    FrontProxy,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::BearerToken(_) => f.write_str("BearerToken(<redacted>)"),
            Credential::FrontProxy => f.write_str("FrontProxy"),
        }
    }
}

/// The caller of one request: identity plus credential. Handlers receive it from the auth middleware.
#[derive(Clone, Debug)]
pub struct Caller {
    /// Who the caller is, as kube-apiserver authenticated them.
    pub identity: Identity,
    /// How they authenticated.
    pub credential: Credential,
}

/// Failures of authentication and authorization; cloneable, as lookups sharing one review share its
/// failure.
#[derive(Clone, Debug, thiserror::Error)]
pub enum AuthError {
    /// No credentials, or credentials kube-apiserver rejected.
    #[error("Unauthorized")]
    Unauthenticated,
    /// kube-apiserver could not be asked.
    #[error("authentication or authorization check failed: {0}")]
    Review(#[source] Arc<kube::Error>),
    /// kube-apiserver did not answer a review within this long.
    #[error("authentication or authorization check got no answer within {0:?}")]
    Timeout(Duration),
}

impl From<kube::Error> for AuthError {
    fn from(error: kube::Error) -> Self {
        AuthError::Review(Arc::new(error))
    }
}
