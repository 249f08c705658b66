//! `GET /metrics` (api §5): the registry of [`registry`] in the Prometheus text format. Pool occupancy, orphan
//! blocks, cache sizes and watch health are read from the caches at scrape time (so a deleted pool's series
//! disappear at once); the rest is counted as it happens.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::TypedMetric;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use super::request_metrics::RequestMetrics;
use super::{ApiError, AppState};
use crate::auth::{Access, AuthMetrics, Caller, Verb};
use crate::cluster::CacheStats;
use crate::controller::metrics::ControllerMetrics;
use crate::domain::occupancy::{Orphans, PoolStatus};
use crate::domain::pool::Pool;
use crate::service::{self, pools::PoolSet};

/// `GET /metrics`: pools, orphan blocks, caches, watches, requests, reviews, reconciles, in Prometheus text format.
pub async fn metrics(
    State(state): State<AppState>,
    caller: Option<Caller>,
) -> Result<impl IntoResponse, ApiError> {
    if state.metrics_require_auth {
        let caller = caller.ok_or(ApiError::Unauthorized)?;
        let access = Access::NonResource {
            verb: Verb::Get,
            path: "/metrics".into(),
        };
        state.services.authorize(&caller, &access).await?;
    }
    Ok((
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        crate::metrics::encode(&state.metrics),
    ))
}

/// Everything `/metrics` exposes: what the caches of `services` hold, and the families of `requests`, `auth`
/// and `controller` (where the reconcilers run).
pub fn registry(
    services: &Arc<service::Context>,
    requests: &RequestMetrics,
    auth: &AuthMetrics,
    controller: Option<&ControllerMetrics>,
) -> Registry {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(CacheContent(Arc::clone(services))));
    requests.register(&mut registry);
    auth.register(&mut registry);
    if let Some(controller) = controller {
        controller.register(&mut registry);
    }
    registry
}

/// Reads a [`Snapshot`] of the caches at every scrape.
struct CacheContent(Arc<service::Context>);

impl fmt::Debug for CacheContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CacheContent")
    }
}

impl Collector for CacheContent {
    fn encode(&self, encoder: DescriptorEncoder) -> fmt::Result {
        Snapshot::take(&self.0, Instant::now()).write(encoder)
    }
}

/// What the caches hold at one scrape.
#[derive(Debug)]
struct Snapshot {
    /// Every pool with its status (no pools before the pool cache synced).
    pools: Vec<(Pool, PoolStatus)>,
    orphans: Orphans,
    caches: Vec<CacheStats>,
}

impl Snapshot {
    fn take(services: &service::Context, now: Instant) -> Self {
        let caches = &services.caches;
        let pools = PoolSet::load(services)
            .map(|set| set.facts)
            .unwrap_or_default();
        let occupancy = caches.occupancy.read();
        let pools = pools
            .into_iter()
            .map(|pool| {
                let status = occupancy.status(&pool.name).unwrap_or_default();
                (pool, status)
            })
            .collect();
        Snapshot {
            pools,
            orphans: occupancy.orphans(),
            caches: caches.stats(now),
        }
    }

    fn write(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        type Field = fn(&PoolStatus) -> u128;
        let fields: [(&str, &str, Field); 7] = [
            ("capacity", "Addresses in the pool CIDR.", |s| s.capacity),
            ("allocations", "Addresses allocated to workloads.", |s| {
                s.allocations
            }),
            ("unallocated", "Free addresses.", |s| s.unallocated),
            (
                "reserved",
                "Addresses reserved (no handle or the Windows reserved handle).",
                |s| s.reserved,
            ),
            (
                "tunnel",
                "IPIP, VXLAN and WireGuard tunnel addresses.",
                |s| s.tunnel,
            ),
            ("pods", "Live pods whose address lies in the pool.", |s| {
                s.pods
            }),
            ("leaked", "Allocations whose pod no longer exists.", |s| {
                s.leaked
            }),
        ];
        for (field, help, value) in fields {
            let series = self.pools.iter().map(|(pool, status)| {
                let mut labels = vec![("ippool", pool.name.as_str())];
                if let (Some(family), "capacity") = (pool.family(), field) {
                    labels.push(("family", family.label()));
                }
                (labels, ConstGauge::new(value(status) as f64))
            });
            let name = format!("ks_network_ippool_{field}");
            family(&mut encoder, &name, help, series)?;
        }
        let ratios = self
            .pools
            .iter()
            .map(|(pool, status)| (ippool(pool), ConstGauge::new(utilization(status))));
        let help = "(capacity - unallocated) / capacity; 0 when capacity is 0.";
        family(
            &mut encoder,
            "ks_network_ippool_utilization_ratio",
            help,
            ratios,
        )?;
        let disabled = self
            .pools
            .iter()
            .map(|(pool, _)| (ippool(pool), ConstGauge::new(i64::from(pool.disabled))));
        let help = "1 if the pool is disabled.";
        family(&mut encoder, "ks_network_ippool_disabled", help, disabled)?;

        let scalar = |value: u64| [(NO_LABELS, ConstGauge::new(value))];
        let help = "IPAM blocks that no pool contains.";
        let blocks = scalar(self.orphans.blocks);
        family(&mut encoder, "ks_network_ipam_orphan_blocks", help, blocks)?;
        let help = "Allocated ordinals of orphan blocks.";
        let allocations = scalar(self.orphans.allocations);
        family(
            &mut encoder,
            "ks_network_ipam_orphan_allocations",
            help,
            allocations,
        )?;

        self.write_caches(&mut encoder)
    }

    fn write_caches(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        let objects = self
            .caches
            .iter()
            .map(|c| (resource(c), ConstGauge::new(c.objects as i64)));
        let help = "Objects in each watch cache.";
        family(encoder, "ks_network_cache_objects", help, objects)?;
        let restarts = self
            .caches
            .iter()
            .map(|c| (resource(c), ConstCounter::new(c.restarts)));
        let help = "Times a cache's watch failed and was restarted with a re-list.";
        family(encoder, "ks_network_watch_restarts", help, restarts)?;
        let ages = self.caches.iter().filter_map(|c| {
            let age = c.since_last_event?;
            Some((resource(c), ConstGauge::new(age.as_secs_f64())))
        });
        let help = "Seconds since a cache's watch last delivered an event or completed a list \
                    (an idle watch is healthy; alert on ks_network_watch_failing_seconds).";
        family(
            encoder,
            "ks_network_watch_last_event_age_seconds",
            help,
            ages,
        )?;
        let failing = self
            .caches
            .iter()
            .map(|c| (resource(c), ConstGauge::new(c.failing_for.as_secs_f64())));
        let help = "Seconds a cache's watch has been failing without a successful re-list; 0 while it works.";
        family(encoder, "ks_network_watch_failing_seconds", help, failing)
    }
}

const NO_LABELS: [(&str, &str); 0] = [];

fn ippool(pool: &Pool) -> [(&'static str, &str); 1] {
    [("ippool", pool.name.as_str())]
}

/// `(capacity − unallocated) / capacity`; 0 when the capacity is 0.
fn utilization(status: &PoolStatus) -> f64 {
    if status.capacity == 0 {
        return 0.0;
    }
    let used = status.capacity - status.unallocated.min(status.capacity);
    used as f64 / status.capacity as f64
}

fn resource(cache: &CacheStats) -> [(&'static str, &str); 1] {
    [("resource", cache.resource.as_str())]
}

/// One family named `name`, with a sample for each of `series`.
fn family<L, M>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (L, M)>,
) -> fmt::Result
where
    L: EncodeLabelSet,
    M: EncodeMetric + TypedMetric,
{
    let mut metric = encoder.encode_descriptor(name, help, None, M::TYPE)?;
    for (labels, value) in series {
        value.encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::domain::cidr::Cidr;
    use crate::domain::pool::default_allowed_uses;
    use crate::metrics::encode;

    fn pool(name: &str, cidr: &str) -> Pool {
        Pool {
            name: name.into(),
            cidr: Cidr::parse(cidr),
            disabled: false,
            deleting: false,
            allowed_uses: default_allowed_uses(),
        }
    }

    /// The value of the sample `series` (name and labels exactly as exposed).
    fn sample(text: &str, series: &str) -> f64 {
        let line = text
            .lines()
            .find(|l| l.rsplit_once(' ').is_some_and(|(s, _)| s == series))
            .unwrap_or_else(|| panic!("{series} in {text}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    }

    /// A fixed snapshot, written at every scrape.
    impl Collector for Snapshot {
        fn encode(&self, encoder: DescriptorEncoder) -> fmt::Result {
            self.write(encoder)
        }
    }

    fn exposition(snapshot: Snapshot) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(snapshot));
        encode(&registry)
    }

    fn cache(resource: &str, objects: usize) -> CacheStats {
        CacheStats {
            resource: resource.into(),
            objects,
            restarts: 0,
            since_last_event: Some(Duration::from_millis(1500)),
            failing_for: Duration::ZERO,
        }
    }

    #[test]
    fn pools_are_exposed_with_uncapped_values() {
        let v6 = PoolStatus {
            capacity: 1 << 64,
            unallocated: (1 << 64) - 3,
            tunnel: 1,
            allocations: 2,
            ..PoolStatus::default()
        };
        let v4 = PoolStatus {
            capacity: 16384,
            unallocated: 16373,
            tunnel: 1,
            leaked: 1,
            ..PoolStatus::default()
        };
        let text = exposition(Snapshot {
            pools: vec![
                (pool("default-ipv4-ippool", "10.233.64.0/18"), v4),
                (pool("v6-big", "fd00:10:244::/64"), v6),
            ],
            orphans: Orphans {
                blocks: 1,
                allocations: 2,
                names: vec!["172-16-0-0-26".into()],
            },
            caches: vec![cache("pods", 4)],
        });
        let v4 = "ippool=\"default-ipv4-ippool\"";
        for (series, value) in [
            (
                format!("ks_network_ippool_capacity{{{v4},family=\"ipv4\"}}"),
                16384.0,
            ),
            (
                "ks_network_ippool_capacity{ippool=\"v6-big\",family=\"ipv6\"}".into(),
                1.8446744073709552e19,
            ),
            (format!("ks_network_ippool_tunnel{{{v4}}}"), 1.0),
            (format!("ks_network_ippool_leaked{{{v4}}}"), 1.0),
            (format!("ks_network_ippool_disabled{{{v4}}}"), 0.0),
            ("ks_network_ipam_orphan_blocks".into(), 1.0),
            ("ks_network_ipam_orphan_allocations".into(), 2.0),
            ("ks_network_cache_objects{resource=\"pods\"}".into(), 4.0),
        ] {
            assert_eq!(sample(&text, &series), value, "{series}");
        }
        let ratio = sample(
            &text,
            &format!("ks_network_ippool_utilization_ratio{{{v4}}}"),
        );
        assert!((ratio - 11.0 / 16384.0).abs() < 1e-12);
    }

    #[test]
    fn watches_expose_restarts_age_and_how_long_they_have_been_failing() {
        let failing = CacheStats {
            restarts: 3,
            failing_for: Duration::from_secs(90),
            ..cache("ippools.crd.projectcalico.org", 0)
        };
        let unsynced = CacheStats {
            since_last_event: None,
            ..cache("workspaces.tenant.kubesphere.io", 0)
        };
        let text = exposition(Snapshot {
            pools: vec![],
            orphans: Orphans::default(),
            caches: vec![cache("pods", 4), failing, unsynced],
        });
        let pools = "{resource=\"ippools.crd.projectcalico.org\"}";
        for (series, value) in [
            (format!("ks_network_watch_restarts_total{pools}"), 3.0),
            (format!("ks_network_watch_failing_seconds{pools}"), 90.0),
            (
                "ks_network_watch_failing_seconds{resource=\"pods\"}".into(),
                0.0,
            ),
            (
                "ks_network_watch_last_event_age_seconds{resource=\"pods\"}".into(),
                1.5,
            ),
        ] {
            assert_eq!(sample(&text, &series), value, "{series}");
        }
        assert!(text.contains("# TYPE ks_network_watch_restarts_total counter\n"));
        assert!(
            !text.contains("ks_network_watch_last_event_age_seconds{resource=\"workspaces"),
            "no age before the first list: {text}"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let text = exposition(Snapshot {
            pools: vec![],
            orphans: Orphans::default(),
            caches: vec![cache("a\"b\\c\nd", 1)],
        });
        assert!(
            text.contains("ks_network_cache_objects{resource=\"a\\\"b\\\\c\\nd\"} 1\n"),
            "{text}"
        );
    }
}
