//! Bearer-token authentication: who a token belongs to is asked of a [`TokenReviewer`] (in production
//! [`TokenReviews`], `authentication.k8s.io/v1` TokenReviews against kube-apiserver), and the answers are
//! cached.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use kube::Client;
use kube::api::{Api, PostParams};
use sha2::{Digest, Sha256};

use super::ttl_cache::TtlCache;
use super::{AUTHENTICATED_GROUP, AuthError, Caller, Credential, Identity};

/// Answers "whose token is this?".
pub trait TokenReviewer: Send + Sync {
    /// The identity `token` belongs to (with `system:authenticated` among its groups), `None` when the
    /// token is not valid, or an error when the question could not be answered.
    fn review<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<Option<Identity>, AuthError>>;
}

/// Resolves `Authorization` headers to callers; answers are cached by the token's SHA-256.
pub struct Authenticator {
    reviewer: Arc<dyn TokenReviewer>,
    cache: TtlCache<[u8; 32], Option<Identity>>,
}

impl Authenticator {
    /// An authenticator asking kube-apiserver through `client` (TokenReviews for `audiences`).
    pub fn new(client: Client, audiences: Vec<String>, ttl: Duration) -> Self {
        Self::with_reviewer(Arc::new(TokenReviews { client, audiences }), ttl)
    }

    /// An authenticator asking `reviewer`, caching its answers for `ttl` (0 disables caching).
    pub fn with_reviewer(reviewer: Arc<dyn TokenReviewer>, ttl: Duration) -> Self {
        Self {
            reviewer,
            cache: TtlCache::new(ttl),
        }
    }

    /// The caller presenting `authorization` (the raw header value), or `Unauthenticated`.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Caller, AuthError> {
        let token = authorization
            .and_then(bearer_token)
            .ok_or(AuthError::Unauthenticated)?;
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let identity = match self.cache.get(&key, Instant::now()) {
            Some(identity) => identity,
            None => {
                let identity = self.reviewer.review(token).await?;
                self.cache.insert(key, identity.clone(), Instant::now());
                identity
            }
        };
        let identity = identity.ok_or(AuthError::Unauthenticated)?;
        Ok(Caller {
            identity,
            credential: Credential::BearerToken(token.to_owned()),
        })
    }
}

/// `authentication.k8s.io/v1` TokenReviews against kube-apiserver.
struct TokenReviews {
    client: Client,
    audiences: Vec<String>,
}

impl TokenReviewer for TokenReviews {
    fn review<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<Option<Identity>, AuthError>> {
        Box::pin(self.ask(token))
    }
}

impl TokenReviews {
    async fn ask(&self, token: &str) -> Result<Option<Identity>, AuthError> {
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_owned()),
                audiences: (!self.audiences.is_empty()).then(|| self.audiences.clone()),
            },
            ..Default::default()
        };
        let api: Api<TokenReview> = Api::all(self.client.clone());
        let answer = api.create(&PostParams::default(), &review).await?;
        let Some(status) = answer.status.filter(|s| s.authenticated == Some(true)) else {
            return Ok(None);
        };
        let Some(user) = status.user.and_then(|u| u.username.is_some().then_some(u)) else {
            return Ok(None);
        };
        let mut groups = user.groups.unwrap_or_default();
        if !groups.iter().any(|g| g == AUTHENTICATED_GROUP) {
            groups.push(AUTHENTICATED_GROUP.to_owned());
        }
        Ok(Some(Identity {
            user: user.username.unwrap_or_default(),
            uid: user.uid.filter(|u| !u.is_empty()),
            groups,
            extra: user.extra.unwrap_or_default(),
        }))
    }
}

/// The token of an `Authorization: Bearer <token>` header value (scheme case-insensitive).
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn bearer_tokens_are_extracted() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer   abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer"), None);
    }
}
