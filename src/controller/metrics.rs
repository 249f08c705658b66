//! The controller's metrics (api §5): `ks_network_leader`,
//! `ks_network_controller_reconciles_total{controller,result}` and
//! `ks_network_controller_reconcile_duration_seconds{controller}`. Every controller's series exist from the
//! start (at zero), so rates and alerts see them before the first reconcile.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::metrics::duration_histogram;

/// A reconciler, as metrics name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reconciler {
    /// Namespace binding labels → Calico pool annotations.
    Binding,
    /// NSNPs and isolation → NetworkPolicies.
    NetworkPolicy,
}

impl Reconciler {
    const ALL: [Reconciler; 2] = [Reconciler::Binding, Reconciler::NetworkPolicy];

    /// The `controller` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Reconciler::Binding => "binding",
            Reconciler::NetworkPolicy => "network-policy",
        }
    }
}

/// How one reconcile ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Done; nothing to retry.
    Success,
    /// Failed; requeued with backoff.
    Error,
}

impl Outcome {
    const ALL: [Outcome; 2] = [Outcome::Success, Outcome::Error];

    /// The `result` label value.
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "ok",
            Outcome::Error => "error",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ControllerLabels {
    controller: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReconcileLabels {
    controller: &'static str,
    result: &'static str,
}

/// Leadership and the reconcilers' counters.
pub struct ControllerMetrics {
    leader: Gauge,
    reconciles: Family<ReconcileLabels, Counter>,
    durations: Family<ControllerLabels, Histogram, fn() -> Histogram>,
}

impl Default for ControllerMetrics {
    fn default() -> Self {
        let metrics = Self {
            leader: Gauge::default(),
            reconciles: Family::default(),
            durations: Family::new_with_constructor(duration_histogram),
        };
        // Every series, created at zero.
        for reconciler in Reconciler::ALL {
            for outcome in Outcome::ALL {
                metrics
                    .reconciles
                    .get_or_create_owned(&labels(reconciler, outcome));
            }
            let controller = reconciler.as_str();
            metrics
                .durations
                .get_or_create_owned(&ControllerLabels { controller });
        }
        metrics
    }
}

fn labels(reconciler: Reconciler, outcome: Outcome) -> ReconcileLabels {
    ReconcileLabels {
        controller: reconciler.as_str(),
        result: outcome.as_str(),
    }
}

impl ControllerMetrics {
    /// Records whether this replica leads.
    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// Records one reconcile.
    pub fn observe(&self, reconciler: Reconciler, outcome: Outcome, took: Duration) {
        self.reconciles
            .get_or_create(&labels(reconciler, outcome))
            .inc();
        let controller = reconciler.as_str();
        self.durations
            .get_or_create(&ControllerLabels { controller })
            .observe(took.as_secs_f64());
    }

    /// Adds the three families to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "ks_network_leader",
            "1 when this replica holds the controller lease",
            self.leader.clone(),
        );
        registry.register(
            "ks_network_controller_reconciles",
            "Reconciles by controller and result",
            self.reconciles.clone(),
        );
        registry.register(
            "ks_network_controller_reconcile_duration_seconds",
            "Time one reconcile took",
            self.durations.clone(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::encode;

    #[test]
    fn reconciles_are_counted_and_every_series_exists_from_the_start() {
        let metrics = ControllerMetrics::default();
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let before = encode(&registry);
        for line in [
            "ks_network_leader 0\n",
            "ks_network_controller_reconciles_total{controller=\"network-policy\",result=\"error\"} 0\n",
            "ks_network_controller_reconcile_duration_seconds_count{controller=\"binding\"} 0\n",
        ] {
            assert!(before.contains(line), "{line} in {before}");
        }

        metrics.set_leader(true);
        let binding = Reconciler::Binding;
        metrics.observe(binding, Outcome::Success, Duration::from_millis(3));
        metrics.observe(binding, Outcome::Error, Duration::from_millis(300));
        let text = encode(&registry);
        for line in [
            "ks_network_leader 1\n",
            "ks_network_controller_reconciles_total{controller=\"binding\",result=\"ok\"} 1\n",
            "ks_network_controller_reconciles_total{controller=\"binding\",result=\"error\"} 1\n",
            "ks_network_controller_reconcile_duration_seconds_bucket{controller=\"binding\",le=\"0.005\"} 1\n",
            "ks_network_controller_reconcile_duration_seconds_bucket{controller=\"binding\",le=\"0.5\"} 2\n",
            "ks_network_controller_reconcile_duration_seconds_count{controller=\"binding\"} 2\n",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }
}
