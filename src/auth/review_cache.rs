//! Answers of reviews asked of kube-apiserver: cached in a [`BoundedCache`], asked at most once at a
//! time per key (concurrent lookups share the one review in flight), and given up after
//! [`REVIEW_DEADLINE`]. Lookups answered without a review and the reviews' results are counted
//! ([`AuthMetrics`], api §5).

use std::collections::HashMap;
use std::hash::Hash;
use std::num::NonZeroUsize;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::AuthError;
use super::bounded_cache::BoundedCache;

/// How long one review may take before it fails with [`AuthError::Timeout`].
pub const REVIEW_DEADLINE: Duration = Duration::from_secs(5);

type Answer<V> = Result<V, AuthError>;

/// A review in flight; every lookup of its key awaits a clone.
type InFlight<V> = Shared<BoxFuture<'static, Answer<V>>>;

struct State<K, V> {
    answers: BoundedCache<K, V>,
    in_flight: HashMap<K, InFlight<V>>,
}

/// Whether a review's answer grants what was asked.
pub trait Granted {
    /// A valid token, an allowed access.
    fn granted(&self) -> bool;
}

impl Granted for bool {
    fn granted(&self) -> bool {
        *self
    }
}

/// An identity (`Some`) for a valid token.
impl<T> Granted for Option<T> {
    fn granted(&self) -> bool {
        self.is_some()
    }
}

/// What a review cache answers, as the `review` label names it.
#[derive(Clone, Copy, Debug)]
pub enum Review {
    /// TokenReviews.
    Token,
    /// SubjectAccessReviews.
    Access,
}

impl Review {
    fn as_str(self) -> &'static str {
        match self {
            Review::Token => "token",
            Review::Access => "access",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReviewLabels {
    review: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    review: &'static str,
    /// `allowed`, `denied` or `error` (no answer, or none in time).
    result: &'static str,
}

/// The review caches' counters: `ks_network_auth_cache_hits_total{review}` (lookups answered without a new
/// review: from the cache, or by the review already in flight for the same question) and
/// `ks_network_auth_reviews_total{review,result}` (reviews asked of kube-apiserver).
#[derive(Clone, Default)]
pub struct AuthMetrics {
    hits: Family<ReviewLabels, Counter>,
    reviews: Family<ResultLabels, Counter>,
}

impl AuthMetrics {
    /// Adds the two families to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "ks_network_auth_cache_hits",
            "Authentication and authorization lookups answered without a new review (cached or in flight)",
            self.hits.clone(),
        );
        registry.register(
            "ks_network_auth_reviews",
            "TokenReviews and SubjectAccessReviews asked of kube-apiserver, by result",
            self.reviews.clone(),
        );
    }

    /// The counters of `review`'s cache; their series exist from now on.
    fn counters(&self, review: Review) -> Counters {
        let review = review.as_str();
        let result = |result| {
            let labels = ResultLabels { review, result };
            self.reviews.get_or_create_owned(&labels)
        };
        Counters {
            hits: self.hits.get_or_create_owned(&ReviewLabels { review }),
            allowed: result("allowed"),
            denied: result("denied"),
            errors: result("error"),
        }
    }
}

/// One cache's counters, looked up once.
#[derive(Clone, Default)]
struct Counters {
    hits: Counter,
    allowed: Counter,
    denied: Counter,
    errors: Counter,
}

/// Cached, single-flight, deadline-bound review answers. Errors reach every waiting lookup but are
/// not cached.
pub struct ReviewCache<K, V> {
    state: Arc<Mutex<State<K, V>>>,
    counters: Counters,
}

impl<K, V> ReviewCache<K, V>
where
    K: Eq + Hash + Clone + Send + 'static,
    V: Granted + Clone + Send + Sync + 'static,
{
    /// An empty cache keeping at most `max_entries` answers for `ttl` each (0 disables caching).
    pub fn new(ttl: Duration, max_entries: NonZeroUsize) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                answers: BoundedCache::new(ttl, max_entries),
                in_flight: HashMap::new(),
            })),
            counters: Counters::default(),
        }
    }

    /// Counts this cache's lookups and reviews in `metrics`, as `review`.
    pub fn count_in(&mut self, metrics: &AuthMetrics, review: Review) {
        self.counters = metrics.counters(review);
    }

    /// The answer for `key`: cached, else that of the review in flight for it, else that of a new
    /// `review()`. The review runs as its own task, so it completes (and is cached) even when every
    /// lookup waiting for it is cancelled.
    pub async fn get_or_review<F>(&self, key: K, review: F) -> Answer<V>
    where
        F: FnOnce() -> BoxFuture<'static, Answer<V>>,
    {
        let in_flight = {
            let mut state = lock(&self.state);
            if let Some(answer) = state.answers.get(&key, Instant::now()) {
                self.counters.hits.inc();
                return Ok(answer);
            }
            match state.in_flight.get(&key) {
                Some(in_flight) => {
                    self.counters.hits.inc();
                    in_flight.clone()
                }
                None => {
                    let in_flight = self.spawn(key.clone(), review());
                    state.in_flight.insert(key, in_flight.clone());
                    in_flight
                }
            }
        };
        in_flight.await
    }

    /// Runs `review` within the deadline; its end caches a successful answer and clears the key's
    /// in-flight entry, whatever the outcome.
    fn spawn(&self, key: K, review: BoxFuture<'static, Answer<V>>) -> InFlight<V> {
        let (state, counters) = (Arc::clone(&self.state), self.counters.clone());
        let task = tokio::spawn(async move {
            let outcome = AssertUnwindSafe(tokio::time::timeout(REVIEW_DEADLINE, review))
                .catch_unwind()
                .await;
            match &outcome {
                Ok(Ok(Ok(answer))) if answer.granted() => counters.allowed.inc(),
                Ok(Ok(Ok(_))) => counters.denied.inc(),
                _ => counters.errors.inc(),
            };
            let mut guard = lock(&state);
            guard.in_flight.remove(&key);
            if let Ok(Ok(Ok(answer))) = &outcome {
                guard.answers.insert(key, answer.clone(), Instant::now());
            }
            drop(guard);
            match outcome {
                Ok(answer) => answer.unwrap_or(Err(AuthError::Timeout(REVIEW_DEADLINE))),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        });
        async move {
            match task.await {
                Ok(answer) => answer,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                // Cancelled: the runtime is shutting down.
                Err(_) => Err(AuthError::Timeout(REVIEW_DEADLINE)),
            }
        }
        .boxed()
        .shared()
    }

    /// How many answers are cached.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        lock(&self.state).answers.len()
    }

    /// How many lookups await the review in flight for `key`.
    #[cfg(test)]
    pub fn waiting(&self, key: &K) -> usize {
        let state = lock(&self.state);
        let clones = state.in_flight.get(key).and_then(Shared::strong_count);
        clones.map_or(0, |n| n - 1)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::sync::Notify;

    use super::*;
    use crate::metrics::encode;

    /// Test answers: non-zero grants.
    impl Granted for u32 {
        fn granted(&self) -> bool {
            *self != 0
        }
    }

    fn cache(ttl_seconds: u64) -> Arc<ReviewCache<u32, u32>> {
        let cap = NonZeroUsize::new(16).unwrap();
        Arc::new(ReviewCache::new(Duration::from_secs(ttl_seconds), cap))
    }

    /// Counts reviews; each waits for `release` before answering `answer`.
    struct Gate {
        calls: AtomicUsize,
        release: Notify,
    }

    impl Gate {
        fn new() -> Arc<Self> {
            Arc::new(Self {
                calls: AtomicUsize::new(0),
                release: Notify::new(),
            })
        }

        fn review(self: &Arc<Self>, answer: Answer<u32>) -> BoxFuture<'static, Answer<u32>> {
            let gate = Arc::clone(self);
            async move {
                gate.calls.fetch_add(1, Ordering::SeqCst);
                gate.release.notified().await;
                answer
            }
            .boxed()
        }
    }

    /// Starts `n` lookups of key 1 and lets them all reach the in-flight review.
    async fn concurrent_lookups(
        cache: &Arc<ReviewCache<u32, u32>>,
        gate: &Arc<Gate>,
        n: usize,
        answer: Answer<u32>,
    ) -> Vec<tokio::task::JoinHandle<Answer<u32>>> {
        let lookups: Vec<_> = (0..n)
            .map(|_| {
                let (cache, gate, answer) = (cache.clone(), gate.clone(), answer.clone());
                tokio::spawn(async move { cache.get_or_review(1, || gate.review(answer)).await })
            })
            .collect();
        while cache.waiting(&1) < n {
            tokio::task::yield_now().await;
        }
        lookups
    }

    #[tokio::test]
    async fn concurrent_lookups_share_one_review() {
        let (cache, gate) = (cache(60), Gate::new());
        let lookups = concurrent_lookups(&cache, &gate, 50, Ok(7)).await;
        gate.release.notify_one();
        for lookup in lookups {
            assert_eq!(lookup.await.unwrap().unwrap(), 7);
        }
        assert_eq!(gate.calls.load(Ordering::SeqCst), 1);
        // The answer is cached: no further review.
        let cached = cache.get_or_review(1, || gate.review(Ok(8))).await;
        assert_eq!(cached.unwrap(), 7);
        assert_eq!(gate.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn errors_are_shared_but_not_cached() {
        let (cache, gate) = (cache(60), Gate::new());
        let lookups = concurrent_lookups(&cache, &gate, 10, Err(AuthError::Unauthenticated)).await;
        gate.release.notify_one();
        for lookup in lookups {
            assert!(matches!(
                lookup.await.unwrap(),
                Err(AuthError::Unauthenticated)
            ));
        }
        assert_eq!(gate.calls.load(Ordering::SeqCst), 1);
        assert_eq!(cache.len(), 0);
        let retry = cache.get_or_review(1, || async { Ok(3) }.boxed()).await;
        assert_eq!(retry.unwrap(), 3);
    }

    #[tokio::test]
    async fn a_review_outlives_its_cancelled_lookups() {
        let (cache, gate) = (cache(60), Gate::new());
        let lookups = concurrent_lookups(&cache, &gate, 3, Ok(5)).await;
        for lookup in &lookups {
            lookup.abort();
        }
        gate.release.notify_one();
        while cache.len() == 0 {
            tokio::task::yield_now().await;
        }
        let cached = cache.get_or_review(1, || gate.review(Ok(6))).await;
        assert_eq!(cached.unwrap(), 5);
        assert_eq!(gate.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_unanswered_review_fails_at_the_deadline() {
        let cache = cache(60);
        let start = tokio::time::Instant::now();
        let answer = cache
            .get_or_review(1, || futures::future::pending().boxed())
            .await;
        assert!(matches!(answer, Err(AuthError::Timeout(d)) if d == REVIEW_DEADLINE));
        assert_eq!(start.elapsed(), REVIEW_DEADLINE);
        assert_eq!(cache.len(), 0);
    }

    #[tokio::test]
    async fn lookups_without_a_review_and_review_results_are_counted() {
        let metrics = AuthMetrics::default();
        let mut counted = ReviewCache::new(Duration::from_secs(60), NonZeroUsize::new(16).unwrap());
        counted.count_in(&metrics, Review::Access);
        let (cache, gate) = (Arc::new(counted), Gate::new());
        // One review for three concurrent lookups, then a cached answer.
        let lookups = concurrent_lookups(&cache, &gate, 3, Ok(7)).await;
        gate.release.notify_one();
        for lookup in lookups {
            lookup.await.unwrap().unwrap();
        }
        cache.get_or_review(1, || gate.review(Ok(8))).await.unwrap();
        let denied = cache.get_or_review(2, || async { Ok(0) }.boxed()).await;
        assert_eq!(denied.unwrap(), 0);
        let failed = || async { Err(AuthError::Unauthenticated) }.boxed();
        assert!(cache.get_or_review(3, failed).await.is_err());

        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let text = encode(&registry);
        for line in [
            "ks_network_auth_cache_hits_total{review=\"access\"} 3\n",
            "ks_network_auth_reviews_total{review=\"access\",result=\"allowed\"} 1\n",
            "ks_network_auth_reviews_total{review=\"access\",result=\"denied\"} 1\n",
            "ks_network_auth_reviews_total{review=\"access\",result=\"error\"} 1\n",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }
}
