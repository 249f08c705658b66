//! Bearer-token authentication: who a token belongs to is asked of a [`TokenReviewer`] (in production
//! [`TokenReviews`], `authentication.k8s.io/v1` TokenReviews against kube-apiserver), and the answers are
//! cached.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use http::{HeaderMap, header};
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec, TokenReviewStatus};
use kube::Client;
use kube::api::{Api, PostParams};
use rustls_pki_types::CertificateDer;
use sha2::{Digest, Sha256};

use super::front_proxy::{FrontProxy, Verdict};
use super::review_cache::{AuthMetrics, Review, ReviewCache};
use super::{AUTHENTICATED_GROUP, AuthError, Caller, Credential, Identity};

/// Answers "whose token is this?".
pub trait TokenReviewer: Send + Sync {
    /// The identity `token` belongs to (with `system:authenticated` among its groups), `None` when the
    /// token is not valid, or an error when the question could not be answered.
    fn review<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<Option<Identity>, AuthError>>;
}

/// A token's SHA-256: answers are cached by it, never by the token.
type TokenHash = [u8; 32];

/// Resolves requests to callers (api §0.2): the front proxy's client certificate and headers first (when
/// enabled), then a bearer token; token answers are cached by the token's SHA-256.
pub struct Authenticator {
    front_proxy: Option<FrontProxy>,
    reviewer: Arc<dyn TokenReviewer>,
    answers: ReviewCache<TokenHash, Option<Identity>>,
}

impl Authenticator {
    /// An authenticator asking kube-apiserver through `client` (TokenReviews for `audiences`; when
    /// there are any, an answer for none of them is a rejection).
    pub fn new(
        client: Client,
        audiences: Vec<String>,
        ttl: Duration,
        max_entries: NonZeroUsize,
    ) -> Self {
        let reviewer = Arc::new(TokenReviews { client, audiences });
        Self::with_reviewer(reviewer, ttl, max_entries)
    }

    /// An authenticator asking `reviewer`, caching at most `max_entries` answers for `ttl` each (0
    /// disables caching).
    pub fn with_reviewer(
        reviewer: Arc<dyn TokenReviewer>,
        ttl: Duration,
        max_entries: NonZeroUsize,
    ) -> Self {
        Self {
            front_proxy: None,
            reviewer,
            answers: ReviewCache::new(ttl, max_entries),
        }
    }

    /// Counts token lookups and TokenReviews in `metrics`.
    pub fn with_metrics(mut self, metrics: &AuthMetrics) -> Self {
        self.answers.count_in(metrics, Review::Token);
        self
    }

    /// Also accepts callers vouched for by `front_proxy`.
    pub fn with_front_proxy(mut self, front_proxy: FrontProxy) -> Self {
        self.front_proxy = Some(front_proxy);
        self
    }

    /// The caller of a request with `headers` over a connection whose client presented
    /// `client_certificates` (leaf first; empty for none), or `Unauthenticated`.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        client_certificates: &[CertificateDer<'_>],
    ) -> Result<Caller, AuthError> {
        if let Some(front_proxy) = &self.front_proxy {
            match front_proxy.authenticate(client_certificates, headers) {
                Verdict::Authenticated(identity) => {
                    return Ok(Caller {
                        identity,
                        credential: Credential::FrontProxy,
                    });
                }
                Verdict::NameNotAllowed => return Err(AuthError::Unauthenticated),
                Verdict::NotFromProxy | Verdict::NoUser => {}
            }
        }
        let authorization = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        self.authenticate_bearer(authorization).await
    }

    /// The caller presenting `authorization` (the raw header value), or `Unauthenticated`.
    async fn authenticate_bearer(&self, authorization: Option<&str>) -> Result<Caller, AuthError> {
        let token = authorization
            .and_then(bearer_token)
            .ok_or(AuthError::Unauthenticated)?;
        let review = || {
            let (reviewer, token) = (Arc::clone(&self.reviewer), token.to_owned());
            async move { reviewer.review(&token).await }.boxed()
        };
        let identity = self.answers.get_or_review(hash(token), review).await?;
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
        Ok(answer.status.and_then(|s| identity(s, &self.audiences)))
    }
}

/// The identity a TokenReview status authenticates. With `audiences` configured, the status must name
/// at least one of them, as Kubernetes' webhook token authenticator requires.
fn identity(status: TokenReviewStatus, audiences: &[String]) -> Option<Identity> {
    if status.authenticated != Some(true) {
        return None;
    }
    let answered = status.audiences.unwrap_or_default();
    if !audiences.is_empty() && !answered.iter().any(|a| audiences.contains(a)) {
        return None;
    }
    let user = status.user.filter(|u| u.username.is_some())?;
    let mut groups = user.groups.unwrap_or_default();
    if !groups.iter().any(|g| g == AUTHENTICATED_GROUP) {
        groups.push(AUTHENTICATED_GROUP.to_owned());
    }
    Some(Identity {
        user: user.username.unwrap_or_default(),
        uid: user.uid.filter(|u| !u.is_empty()),
        groups,
        extra: user.extra.unwrap_or_default(),
    })
}

fn hash(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// The token of an `Authorization: Bearer <token>` header value (scheme case-insensitive).
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use k8s_openapi::api::authentication::v1::UserInfo;
    use tokio::sync::Notify;

    use super::*;
    use crate::auth::review_cache::REVIEW_DEADLINE;

    /// Knows the token `good` (user `alice`); counts reviews, which wait for `release` when `gated`.
    struct Reviewer {
        calls: AtomicUsize,
        gated: bool,
        release: Notify,
    }

    impl Reviewer {
        fn new(gated: bool) -> Arc<Self> {
            Arc::new(Self {
                calls: AtomicUsize::new(0),
                gated,
                release: Notify::new(),
            })
        }

        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }
    }

    impl TokenReviewer for Reviewer {
        fn review<'a>(
            &'a self,
            token: &'a str,
        ) -> BoxFuture<'a, Result<Option<Identity>, AuthError>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                if self.gated {
                    self.release.notified().await;
                }
                Ok((token == "good").then(alice))
            })
        }
    }

    /// Never answers.
    struct Silent;

    impl TokenReviewer for Silent {
        fn review<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Option<Identity>, AuthError>> {
            futures::future::pending().boxed()
        }
    }

    fn alice() -> Identity {
        Identity {
            user: "alice".into(),
            uid: None,
            groups: vec![AUTHENTICATED_GROUP.into()],
            extra: Default::default(),
        }
    }

    fn authenticator(reviewer: Arc<dyn TokenReviewer>, max_entries: usize) -> Arc<Authenticator> {
        let max_entries = NonZeroUsize::new(max_entries).unwrap();
        let ttl = Duration::from_secs(60);
        Arc::new(Authenticator::with_reviewer(reviewer, ttl, max_entries))
    }

    #[tokio::test]
    async fn concurrent_lookups_of_a_token_share_one_review() {
        let reviewer = Reviewer::new(true);
        let auth = authenticator(reviewer.clone(), 16);
        let lookups: Vec<_> = (0..20)
            .map(|_| {
                let auth = auth.clone();
                tokio::spawn(async move { auth.authenticate_bearer(Some("Bearer good")).await })
            })
            .collect();
        while auth.answers.waiting(&hash("good")) < lookups.len() {
            tokio::task::yield_now().await;
        }
        reviewer.release.notify_one();
        for lookup in lookups {
            assert_eq!(lookup.await.unwrap().unwrap().identity, alice());
        }
        assert_eq!(reviewer.calls(), 1);
    }

    #[tokio::test]
    async fn random_tokens_hold_at_most_the_cap() {
        let reviewer = Reviewer::new(false);
        let auth = authenticator(reviewer.clone(), 100);
        for i in 0..10_000 {
            let header = format!("Bearer bad-{i}");
            let answer = auth.authenticate_bearer(Some(&header)).await;
            assert!(matches!(answer, Err(AuthError::Unauthenticated)));
            assert!(auth.answers.len() <= 100);
        }
        assert_eq!(reviewer.calls(), 10_000);
        assert_eq!(auth.answers.len(), 100);
    }

    #[tokio::test(start_paused = true)]
    async fn an_unanswered_token_review_fails_at_the_deadline() {
        let auth = authenticator(Arc::new(Silent), 16);
        let start = tokio::time::Instant::now();
        let answer = auth.authenticate_bearer(Some("Bearer good")).await;
        assert!(matches!(answer, Err(AuthError::Timeout(_))));
        assert_eq!(start.elapsed(), REVIEW_DEADLINE);
    }

    fn status(audiences: Option<&[&str]>) -> TokenReviewStatus {
        TokenReviewStatus {
            authenticated: Some(true),
            audiences: audiences.map(|a| a.iter().map(|s| s.to_string()).collect()),
            user: Some(UserInfo {
                username: Some("alice".into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn configured_audiences_must_be_answered() {
        let wanted = ["api".to_owned(), "ks".to_owned()];
        assert_eq!(identity(status(Some(&["ks"])), &wanted), Some(alice()));
        assert_eq!(identity(status(Some(&["other"])), &wanted), None);
        assert_eq!(identity(status(Some(&[])), &wanted), None);
        assert_eq!(identity(status(None), &wanted), None);
    }

    #[test]
    fn without_configured_audiences_any_answer_counts() {
        assert_eq!(identity(status(None), &[]), Some(alice()));
        assert_eq!(identity(status(Some(&["other"])), &[]), Some(alice()));
        let rejected = TokenReviewStatus {
            authenticated: Some(false),
            ..status(None)
        };
        assert_eq!(identity(rejected, &[]), None);
    }

    #[test]
    fn bearer_tokens_are_extracted() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer   abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer"), None);
    }
}
