//! `GET /metrics` (api §5): Prometheus text format, computed at scrape time from the occupancy index and the
//! caches (so a deleted pool's series disappear at once).

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::{ApiError, AppState};
use crate::auth::{Access, Caller, Verb};
use crate::domain::occupancy::{Orphans, PoolStatus};
use crate::domain::pool::Pool;
use crate::service::pools::PoolSet;

/// `GET /metrics`: pool occupancy, orphan blocks and cache sizes, in Prometheus text format.
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
    let caches = &state.services.caches;
    let pools = PoolSet::load(&state.services)
        .map(|set| set.facts)
        .unwrap_or_default();
    let (statuses, orphans) = {
        let occupancy = caches.occupancy.read();
        let statuses: Vec<(Pool, PoolStatus)> = pools
            .into_iter()
            .map(|pool| {
                let status = occupancy.status(&pool.name).unwrap_or_default();
                (pool, status)
            })
            .collect();
        (statuses, occupancy.orphans())
    };
    let counts: Vec<(String, usize)> = caches.object_counts();
    let mut text = render(&statuses, &orphans, &counts);
    if let Some(controller) = &state.controller_metrics {
        text.push_str(&controller.render());
    }
    text.push_str(&state.request_metrics.render());
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    ))
}

/// The exposition text for pools (with their status), orphan blocks and cache sizes.
pub fn render(
    pools: &[(Pool, PoolStatus)],
    orphans: &Orphans,
    caches: &[(String, usize)],
) -> String {
    let mut out = String::new();
    type Field = fn(&PoolStatus) -> u128;
    let gauges: [(&str, &str, Field); 7] = [
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
    for (name, help, field) in gauges {
        header(&mut out, &format!("ks_network_ippool_{name}"), help);
        for (pool, status) in pools {
            let labels = match (name, pool.family()) {
                ("capacity", Some(family)) => format!(
                    "ippool=\"{}\",family=\"{}\"",
                    escape(&pool.name),
                    family.label()
                ),
                _ => format!("ippool=\"{}\"", escape(&pool.name)),
            };
            let _ = writeln!(
                out,
                "ks_network_ippool_{name}{{{labels}}} {}",
                field(status) as f64
            );
        }
    }
    header(
        &mut out,
        "ks_network_ippool_utilization_ratio",
        "(capacity - unallocated) / capacity; 0 when capacity is 0.",
    );
    for (pool, status) in pools {
        let ratio = if status.capacity == 0 {
            0.0
        } else {
            (status.capacity - status.unallocated.min(status.capacity)) as f64
                / status.capacity as f64
        };
        let _ = writeln!(
            out,
            "ks_network_ippool_utilization_ratio{{ippool=\"{}\"}} {ratio}",
            escape(&pool.name)
        );
    }
    header(
        &mut out,
        "ks_network_ippool_disabled",
        "1 if the pool is disabled.",
    );
    for (pool, _) in pools {
        let _ = writeln!(
            out,
            "ks_network_ippool_disabled{{ippool=\"{}\"}} {}",
            escape(&pool.name),
            u8::from(pool.disabled)
        );
    }
    header(
        &mut out,
        "ks_network_ipam_orphan_blocks",
        "IPAM blocks that no pool contains.",
    );
    let _ = writeln!(out, "ks_network_ipam_orphan_blocks {}", orphans.blocks);
    header(
        &mut out,
        "ks_network_ipam_orphan_allocations",
        "Allocated ordinals of orphan blocks.",
    );
    let _ = writeln!(
        out,
        "ks_network_ipam_orphan_allocations {}",
        orphans.allocations
    );
    header(
        &mut out,
        "ks_network_cache_objects",
        "Objects in each watch cache.",
    );
    for (resource, count) in caches {
        let _ = writeln!(
            out,
            "ks_network_cache_objects{{resource=\"{}\"}} {count}",
            escape(resource)
        );
    }
    out
}

fn header(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::cidr::Cidr;
    use crate::domain::pool::default_allowed_uses;

    fn pool(name: &str, cidr: &str) -> Pool {
        Pool {
            name: name.into(),
            cidr: Cidr::parse(cidr),
            disabled: false,
            deleting: false,
            allowed_uses: default_allowed_uses(),
        }
    }

    fn sample(text: &str, series: &str) -> f64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(series))
            .unwrap_or_else(|| panic!("{series} in {text}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    }

    #[test]
    fn pools_are_rendered_with_uncapped_values() {
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
        let orphans = Orphans {
            blocks: 1,
            allocations: 2,
            names: vec!["172-16-0-0-26".into()],
        };
        let text = render(
            &[
                (pool("default-ipv4-ippool", "10.233.64.0/18"), v4),
                (pool("v6-big", "fd00:10:244::/64"), v6),
            ],
            &orphans,
            &[("pods".into(), 4)],
        );
        assert_eq!(
            sample(
                &text,
                "ks_network_ippool_capacity{ippool=\"default-ipv4-ippool\",family=\"ipv4\"}"
            ),
            16384.0
        );
        assert_eq!(
            sample(
                &text,
                "ks_network_ippool_capacity{ippool=\"v6-big\",family=\"ipv6\"}"
            ),
            1.8446744073709552e19
        );
        assert_eq!(
            sample(
                &text,
                "ks_network_ippool_tunnel{ippool=\"default-ipv4-ippool\"}"
            ),
            1.0
        );
        assert_eq!(
            sample(
                &text,
                "ks_network_ippool_leaked{ippool=\"default-ipv4-ippool\"}"
            ),
            1.0
        );
        assert_eq!(sample(&text, "ks_network_ipam_orphan_blocks"), 1.0);
        assert_eq!(sample(&text, "ks_network_ipam_orphan_allocations"), 2.0);
        assert_eq!(
            sample(&text, "ks_network_cache_objects{resource=\"pods\"}"),
            4.0
        );
        let ratio = sample(
            &text,
            "ks_network_ippool_utilization_ratio{ippool=\"default-ipv4-ippool\"}",
        );
        assert!((ratio - 11.0 / 16384.0).abs() < 1e-12);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
