//! The reconcilers of the `controller` and `all` modes (algorithms §12). Each runs on kube-runtime's
//! [`applier`] (the engine of `kube::runtime::Controller`: deduplicated queue, bounded concurrency, requeue
//! with the error policy's delay), keyed by namespace, fed by watch events of the shared caches and a periodic
//! resync, and only while this replica holds the leader Lease. They write with the server's own identity.

pub mod binding;
mod events;
mod leader;
pub mod metrics;
mod network_policy;
pub mod queue;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Namespace;
use kube::runtime::controller::{Action, Config as ApplierConfig, applier};
use kube::runtime::{reflector, watcher};
use kube::{Api, Client};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::cluster::Caches;
use crate::cluster::cache::Observer;
use crate::config::Config;
use events::Events;
pub use events::Reason;
use leader::{Candidate, Timings};
use metrics::{ControllerMetrics, Outcome, Reconciler};
use queue::{Pending, Triggers};

/// First retry delay after a failed reconcile; doubled per failure up to [`MAX_BACKOFF`] (algorithms §12.3).
const MIN_BACKOFF: Duration = Duration::from_secs(1);
/// Longest retry delay.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Namespaces reconciled at once by one reconciler: enough to keep kube-apiserver busy with writes during a
/// full pass, few enough not to flood it.
const CONCURRENCY: u16 = 16;

/// The triggers of every reconciler, marked by the caches' observers.
#[derive(Default)]
pub struct ControllerTriggers {
    /// Namespace and pool events for the binding sync.
    pub binding: Arc<Triggers>,
    /// Namespace, NSNP, Workspace, Node, Service and NetworkPolicy events for the policy reconciler.
    pub network_policy: Arc<Triggers>,
    /// The namespaces as kube-runtime's applier reads them.
    pub namespaces: Arc<NamespaceMirror>,
}

/// The namespace cache's content in a kube-runtime reflector store, which kube-runtime's applier takes to look up
/// what it reconciles (the caches keep objects in their own, smaller store). Fed as the cache changes.
#[derive(Default)]
pub struct NamespaceMirror(Mutex<reflector::store::Writer<Namespace>>);

impl NamespaceMirror {
    fn apply(&self, event: watcher::Event<Namespace>) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .apply_watcher_event(&event);
    }

    /// A reader of the mirrored namespaces.
    fn store(&self) -> reflector::Store<Namespace> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_reader()
    }
}

impl Observer<Namespace> for NamespaceMirror {
    fn applied(&self, namespace: &Arc<Namespace>) {
        self.apply(watcher::Event::Apply(Namespace::clone(namespace)));
    }

    fn deleted(&self, namespace: &Namespace) {
        self.apply(watcher::Event::Delete(namespace.clone()));
    }

    fn replaced(&self, namespaces: &[Arc<Namespace>]) {
        self.apply(watcher::Event::Init);
        for namespace in namespaces {
            self.apply(watcher::Event::InitApply(Namespace::clone(namespace)));
        }
        self.apply(watcher::Event::InitDone);
    }
}

/// What a reconcile reads and writes through.
pub struct Context {
    /// The server's own client.
    pub client: Client,
    /// The shared watch caches.
    pub caches: Arc<Caches>,
    /// The namespace cache's content as the applier looks it up.
    namespaces: reflector::Store<Namespace>,
    /// The policy reconciler's settings; `None` when it is switched off.
    network_policy: Option<network_policy::Settings>,
    /// Deduplicated Kubernetes Events.
    events: Events,
    metrics: Arc<ControllerMetrics>,
    failures: Mutex<HashMap<(Reconciler, String), u32>>,
}

impl Context {
    /// Raises an Event on `object`.
    pub async fn event(
        &self,
        object: &k8s_openapi::api::core::v1::ObjectReference,
        reason: Reason,
        message: String,
    ) {
        self.events.publish(object, reason, message).await
    }

    /// Times `work` and counts its outcome; resets or grows the namespace's backoff.
    async fn measure<E>(
        &self,
        reconciler: Reconciler,
        namespace: &str,
        work: impl Future<Output = Result<Action, E>>,
    ) -> Result<Action, E> {
        let started = Instant::now();
        let result = work.await;
        let outcome = if result.is_ok() {
            Outcome::Success
        } else {
            Outcome::Error
        };
        self.metrics.observe(reconciler, outcome, started.elapsed());
        if result.is_ok() {
            self.failures
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&(reconciler, namespace.to_owned()));
        }
        result
    }

    /// The delay before retrying `namespace` after one more failure: 1 s, 2 s, 4 s, … 300 s.
    fn backoff(&self, reconciler: Reconciler, namespace: &str) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let count = failures
            .entry((reconciler, namespace.to_owned()))
            .or_default();
        let delay = MIN_BACKOFF
            .saturating_mul(1 << (*count).min(16))
            .min(MAX_BACKOFF);
        *count = count.saturating_add(1);
        delay
    }
}

/// Runs the leader election and, while leading, the reconcilers, until `stop` is cancelled.
pub async fn run(
    client: Client,
    caches: Arc<Caches>,
    triggers: Arc<ControllerTriggers>,
    metrics: Arc<ControllerMetrics>,
    config: &Config,
    stop: CancellationToken,
) {
    let settings = &config.controller;
    let identity = format!(
        "{}_{}",
        std::env::var("POD_NAME")
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_else(|_| "ks-network-apiserver".into()),
        uuid::Uuid::new_v4()
    );
    let lease_namespace = config.lease_namespace(std::env::var("POD_NAMESPACE").ok());
    let leases: Api<Lease> = Api::namespaced(client.clone(), &lease_namespace);
    let candidate = Candidate::new(
        leases,
        &settings.leader_election.lease_name,
        identity,
        Timings::default(),
    );
    let (leading_tx, mut leading) = watch::channel(false);
    let election = tokio::spawn(candidate.run(leading_tx, stop.clone()));
    let network_policy = settings.network_policy.enabled.then(|| {
        network_policy::Settings::new(&config.isolation, settings.ensure_namespace_name_label)
    });
    let context = Arc::new(Context {
        network_policy,
        events: Events::new(client.clone()),
        client,
        caches,
        namespaces: triggers.namespaces.store(),
        metrics: metrics.clone(),
        failures: Mutex::default(),
    });
    let resync = Duration::from_secs(settings.resync_seconds);
    let binding_sync = settings.ippool_binding_sync;
    loop {
        // Follower: wait for the lease.
        while !*leading.borrow_and_update() {
            tokio::select! {
                _ = stop.cancelled() => return finish(election).await,
                changed = leading.changed() => if changed.is_err() { return finish(election).await },
            }
        }
        metrics.set_leader(true);
        let term = stop.child_token();
        let mut reconcilers = JoinSet::new();
        if binding_sync {
            triggers.binding.all();
            reconcilers.spawn(run_reconciler(
                Reconciler::Binding,
                context.clone(),
                triggers.binding.clone(),
                resync,
                term.clone(),
                binding::reconcile,
                binding::resolve,
            ));
        }
        if context.network_policy.is_some() {
            triggers.network_policy.all();
            reconcilers.spawn(run_reconciler(
                Reconciler::NetworkPolicy,
                context.clone(),
                triggers.network_policy.clone(),
                resync,
                term.clone(),
                network_policy::reconcile,
                network_policy::resolve,
            ));
        }
        let network_policy = context.network_policy.is_some();
        info!(
            binding_sync,
            network_policy, "controller: leading; reconcilers running"
        );
        // Leader: run until the lease is lost or the process stops.
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                changed = leading.changed() => {
                    if changed.is_err() || !*leading.borrow_and_update() { break }
                }
            }
        }
        term.cancel();
        while reconcilers.join_next().await.is_some() {}
        metrics.set_leader(false);
        if stop.is_cancelled() {
            return finish(election).await;
        }
        warn!("controller: lost the lease; reconcilers stopped");
    }
}

async fn finish(election: tokio::task::JoinHandle<()>) {
    if let Err(error) = election.await {
        warn!(%error, "leader election task failed");
    }
}

/// The error of a reconcile: what failed, for the log and the requeue.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// A write to kube-apiserver failed.
    #[error("{0}")]
    Write(#[from] kube::Error),
    /// A rendered policy does not convert to the Kubernetes type (a bug, not the user's input).
    #[error("cannot convert the rendered policy: {0}")]
    Render(String),
}

/// One reconciler on the applier: `reconcile` for every namespace the triggers (resolved by `resolve`) or
/// the resync name, until `term` is cancelled. Failures are requeued with per-namespace exponential backoff.
async fn run_reconciler<F, Fut>(
    reconciler: Reconciler,
    context: Arc<Context>,
    triggers: Arc<Triggers>,
    resync: Duration,
    term: CancellationToken,
    reconcile: F,
    resolve: fn(&Context, Pending) -> Vec<String>,
) where
    F: Fn(Arc<Namespace>, Arc<Context>) -> Fut + Send + Sync + Copy + 'static,
    Fut: Future<Output = Result<Action, ReconcileError>> + Send + 'static,
{
    let resolver = context.clone();
    let queue = triggers.stream(resync, move |pending| resolve(&resolver, pending));
    let store = context.namespaces.clone();
    let measured = move |namespace: Arc<Namespace>, context: Arc<Context>| {
        Box::pin(async move {
            let name = namespace.metadata.name.clone().unwrap_or_default();
            let ctx = context.clone();
            ctx.measure(reconciler, &name, reconcile(namespace, context))
                .await
        })
    };
    let error_policy = move |namespace: Arc<Namespace>,
                             error: &ReconcileError,
                             context: Arc<Context>| {
        let name = namespace.metadata.name.clone().unwrap_or_default();
        let delay = context.backoff(reconciler, &name);
        warn!(controller = reconciler.as_str(), namespace = %name, %error, ?delay, "reconcile failed; retrying");
        Action::requeue(delay)
    };
    let applied = applier(
        measured,
        error_policy,
        context,
        store,
        queue,
        ApplierConfig::default().concurrency(CONCURRENCY),
    )
    .take_until(term.cancelled_owned())
    .for_each(|_| std::future::ready(()));
    applied.await
}
