//! The reconcilers' work queues: watch events mark triggers (deduplicated, so the queue is bounded by the
//! number of distinct objects), and a stream turns them into the namespaces to reconcile, merged with a periodic
//! resync that fires whether or not events keep arriving (algorithms §12.3).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{Stream, StreamExt, stream};
use k8s_openapi::api::core::v1::{Namespace, Node, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::runtime::reflector::ObjectRef;
use tokio::sync::Notify;

use crate::cluster::cache::Observer;
use crate::cluster::calico::IPPool;
use crate::cluster::kubesphere::{NamespaceNetworkPolicy, Workspace};
use crate::domain::nsnp::ServiceRef;

/// What is waiting to be resolved into namespaces.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pending {
    /// Every namespace (a relist, a pool change, a resync).
    pub all: bool,
    /// Every namespace that is isolated (a node's SNAT addresses changed).
    pub isolated: bool,
    /// Namespaces named directly.
    pub namespaces: BTreeSet<String>,
    /// Workspaces whose namespaces are affected.
    pub workspaces: BTreeSet<String>,
    /// Services whose referrers are affected.
    pub services: BTreeSet<ServiceRef>,
}

/// Triggers of one reconciler, with a wake-up for its queue stream.
#[derive(Default)]
pub struct Triggers {
    pending: Mutex<Pending>,
    wake: Notify,
}

impl Triggers {
    fn update(&self, change: impl FnOnce(&mut Pending)) {
        change(&mut self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        self.wake.notify_one();
    }

    /// Marks one namespace.
    pub fn namespace(&self, name: &str) {
        self.update(|p| {
            p.namespaces.insert(name.to_owned());
        });
    }

    /// Marks every namespace.
    pub fn all(&self) {
        self.update(|p| p.all = true);
    }

    /// Takes what is waiting.
    pub fn take(&self) -> Pending {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The namespaces to reconcile, as the applier's queue: every wake-up resolves the pending triggers with
    /// `resolve`; every `resync` all namespaces are marked.
    pub fn stream<R>(
        self: Arc<Self>,
        resync: Duration,
        resolve: R,
    ) -> impl Stream<Item = Result<ObjectRef<Namespace>, std::convert::Infallible>> + Send + 'static
    where
        R: Fn(Pending) -> Vec<String> + Send + Sync + 'static,
    {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + resync, resync);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        stream::unfold((self, ticks), move |(triggers, mut ticks)| async move {
            tokio::select! {
                _ = triggers.wake.notified() => {}
                _ = ticks.tick() => triggers.all(),
            }
            let pending = triggers.take();
            Some((pending, (triggers, ticks)))
        })
        .flat_map(move |pending| {
            let names = if pending == Pending::default() {
                Vec::new()
            } else {
                resolve(pending)
            };
            stream::iter(names.into_iter().map(|n| Ok(ObjectRef::new(&n))))
        })
    }
}

fn namespace_of<K: kube::Resource>(object: &K) -> &str {
    object.meta().namespace.as_deref().unwrap_or_default()
}

fn name_of<K: kube::Resource>(object: &K) -> &str {
    object.meta().name.as_deref().unwrap_or_default()
}

impl Observer<Namespace> for Triggers {
    fn applied(&self, namespace: &Arc<Namespace>) {
        self.namespace(name_of(&**namespace));
    }
    fn deleted(&self, _: &Namespace) {}
    fn replaced(&self, _: &[Arc<Namespace>]) {
        self.all();
    }
}

impl Observer<IPPool> for Triggers {
    fn applied(&self, _: &Arc<IPPool>) {
        self.all();
    }
    fn deleted(&self, _: &IPPool) {
        self.all();
    }
    fn replaced(&self, _: &[Arc<IPPool>]) {
        self.all();
    }
}

impl Observer<NamespaceNetworkPolicy> for Triggers {
    fn applied(&self, policy: &Arc<NamespaceNetworkPolicy>) {
        self.namespace(namespace_of(&**policy));
    }
    fn deleted(&self, policy: &NamespaceNetworkPolicy) {
        self.namespace(namespace_of(policy));
    }
    fn replaced(&self, _: &[Arc<NamespaceNetworkPolicy>]) {
        self.all();
    }
}

impl Observer<Workspace> for Triggers {
    fn applied(&self, workspace: &Arc<Workspace>) {
        Observer::<Workspace>::deleted(self, workspace);
    }
    /// A deleted workspace, like a changed one, brings back its namespaces.
    fn deleted(&self, workspace: &Workspace) {
        let name = name_of(workspace).to_owned();
        self.update(|p| {
            p.workspaces.insert(name);
        });
    }
    fn replaced(&self, _: &[Arc<Workspace>]) {
        self.all();
    }
}

impl Observer<Node> for Triggers {
    fn applied(&self, _: &Arc<Node>) {
        self.update(|p| p.isolated = true);
    }
    fn deleted(&self, _: &Node) {
        self.update(|p| p.isolated = true);
    }
    fn replaced(&self, _: &[Arc<Node>]) {
        self.update(|p| p.isolated = true);
    }
}

impl Observer<Service> for Triggers {
    fn applied(&self, service: &Arc<Service>) {
        Observer::<Service>::deleted(self, service);
    }
    /// A deleted Service, like a changed one, brings back the policies that select it.
    fn deleted(&self, service: &Service) {
        let key = ServiceRef {
            namespace: namespace_of(service).to_owned(),
            name: name_of(service).to_owned(),
        };
        self.update(|p| {
            p.services.insert(key);
        });
    }
    fn replaced(&self, _: &[Arc<Service>]) {
        self.all();
    }
}

/// Changes of the NetworkPolicies this controller may own (`nsnp-*`) bring their namespace back, so that a
/// policy edited or deleted by hand is restored.
impl Observer<NetworkPolicy> for Triggers {
    fn applied(&self, policy: &Arc<NetworkPolicy>) {
        Observer::<NetworkPolicy>::deleted(self, policy);
    }
    fn deleted(&self, policy: &NetworkPolicy) {
        if name_of(policy).starts_with("nsnp-") {
            self.namespace(namespace_of(policy));
        }
    }
    fn replaced(&self, _: &[Arc<NetworkPolicy>]) {
        self.all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_merge_until_taken() {
        let triggers = Triggers::default();
        triggers.namespace("a");
        triggers.namespace("a");
        triggers.update(|p| {
            p.services.insert(ServiceRef {
                namespace: "ns".into(),
                name: "svc".into(),
            });
        });
        let pending = triggers.take();
        assert_eq!(pending.namespaces, BTreeSet::from(["a".to_owned()]));
        assert_eq!(pending.services.len(), 1);
        assert!(!pending.all);
        assert_eq!(triggers.take(), Pending::default());
    }

    #[tokio::test(start_paused = true)]
    async fn the_resync_fires_while_events_keep_arriving() {
        let triggers = Arc::new(Triggers::default());
        let resolved = Arc::new(Mutex::new(Vec::new()));
        let seen = resolved.clone();
        let mut queue = Box::pin(triggers.clone().stream(
            Duration::from_secs(300),
            move |pending: Pending| {
                seen.lock().unwrap().push(pending.all);
                vec!["x".to_owned()]
            },
        ));
        // An event every second for ten minutes: the resync must still fire twice.
        for _ in 0..600 {
            triggers.namespace("busy");
            assert!(queue.next().await.is_some());
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        while let Some(Some(_)) = futures::FutureExt::now_or_never(queue.next()) {}
        let resyncs = resolved.lock().unwrap().iter().filter(|all| **all).count();
        assert!(resyncs >= 1, "resyncs: {resyncs}");
    }
}
