//! The controller's metrics (api §5): `ks_network_leader`, `controller_reconciles_total{controller,result}` and
//! `controller_reconcile_duration_seconds{controller}`, rendered by `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::histogram::Histogram;

/// A reconciler, as metrics name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reconciler {
    /// Namespace binding labels → Calico pool annotations.
    Binding,
    /// NSNPs and isolation → NetworkPolicies.
    NetworkPolicy,
}

impl Reconciler {
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
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Error => "error",
        }
    }
}

/// Counters of the reconcilers.
#[derive(Default)]
pub struct ControllerMetrics {
    leader: AtomicBool,
    reconciles: Mutex<BTreeMap<(Reconciler, Outcome), u64>>,
    durations: Mutex<BTreeMap<Reconciler, Histogram>>,
}

impl ControllerMetrics {
    /// Records whether this replica leads.
    pub fn set_leader(&self, leading: bool) {
        self.leader.store(leading, Ordering::Release);
    }

    /// Records one reconcile.
    pub fn observe(&self, reconciler: Reconciler, outcome: Outcome, took: Duration) {
        *self
            .reconciles
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((reconciler, outcome))
            .or_default() += 1;
        let seconds = took.as_secs_f64();
        let mut durations = self.durations.lock().unwrap_or_else(|e| e.into_inner());
        durations.entry(reconciler).or_default().observe(seconds);
    }

    /// The exposition text of these metrics.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let leader = u8::from(self.leader.load(Ordering::Acquire));
        let _ = writeln!(
            out,
            "# HELP ks_network_leader 1 when this replica holds the controller lease.\n# TYPE ks_network_leader gauge\nks_network_leader {leader}"
        );
        let _ = writeln!(
            out,
            "# HELP controller_reconciles_total Reconciles by controller and result.\n# TYPE controller_reconciles_total counter"
        );
        for ((reconciler, outcome), count) in self
            .reconciles
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "controller_reconciles_total{{controller=\"{}\",result=\"{}\"}} {count}",
                reconciler.as_str(),
                outcome.as_str()
            );
        }
        let _ = writeln!(
            out,
            "# HELP controller_reconcile_duration_seconds Time one reconcile took.\n# TYPE controller_reconcile_duration_seconds histogram"
        );
        for (reconciler, histogram) in self
            .durations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let labels = format!("controller=\"{}\"", reconciler.as_str());
            histogram.render(&mut out, "controller_reconcile_duration_seconds", &labels);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconciles_are_counted_and_bucketed() {
        let metrics = ControllerMetrics::default();
        metrics.set_leader(true);
        metrics.observe(
            Reconciler::Binding,
            Outcome::Success,
            Duration::from_millis(3),
        );
        metrics.observe(
            Reconciler::Binding,
            Outcome::Error,
            Duration::from_millis(300),
        );
        let text = metrics.render();
        assert!(text.contains("ks_network_leader 1\n"), "{text}");
        assert!(text.contains(
            "controller_reconciles_total{controller=\"binding\",result=\"success\"} 1\n"
        ));
        assert!(
            text.contains(
                "controller_reconciles_total{controller=\"binding\",result=\"error\"} 1\n"
            )
        );
        assert!(text.contains(
            "controller_reconcile_duration_seconds_bucket{controller=\"binding\",le=\"0.005\"} 1\n"
        ));
        assert!(text.contains(
            "controller_reconcile_duration_seconds_bucket{controller=\"binding\",le=\"0.5\"} 2\n"
        ));
        assert!(
            text.contains(
                "controller_reconcile_duration_seconds_count{controller=\"binding\"} 2\n"
            )
        );
    }
}
