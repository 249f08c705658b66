//! Pod lists: narrowed by the label and pods-by-pool indexes, filtered by the pod filters of
//! algorithms §9.5, sorted, and remembered between cache changes.

use std::sync::Arc;

use crate::cluster::store::Store;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Service;
use kube::runtime::reflector::ObjectRef;

use super::JsonText;
use super::memo::{ListKey, ListMemo};
use super::view::{POOL_LABEL, PodPools, View};
use super::visibility::Scope;
use crate::cluster::compact::owner_references;
use crate::cluster::pod::CachedPod;
use crate::cluster::workload::Workload;
use crate::domain::occupancy::PoolName;
use crate::query::selector::Operator;
use crate::query::{
    ListQuery, Page, SortBy, SortKey, SortedPrefix, matches_query, page_bounds, sort_prefix,
};
use crate::service::{Context, Error, synced};

/// Sorted pod lists remembered between changes of the pods, pools, services and ReplicaSets.
pub type PodListMemo = ListMemo<Arc<CachedPod>>;

/// The page of pods for `scope`.
pub fn page(context: &Context, scope: &Scope<'_>) -> Result<Page<JsonText>, Error> {
    let query = scope.query;
    let (_, wanted) = page_bounds(usize::MAX, query.page, query.limit);
    let list = sorted_pods(context, scope, wanted)?;
    let (start, end) = page_bounds(list.items.len(), query.page, query.limit);
    let shown = list.items.get(start..end).unwrap_or_default();
    let pools = PodPools::of(&context.caches.occupancy, shown);
    let items = shown.iter().map(|p| pod_json(p, pools.of_pod(p))).collect();
    Ok(Page {
        items,
        total: list.items.len(),
        end,
    })
}

/// Every pod the query keeps, in its order up to `end` at least. Repeated queries between cache changes reuse
/// the previous answer, so a page costs O(page) while the cluster is quiet and one evaluation per change
/// otherwise.
fn sorted_pods(
    context: &Context,
    scope: &Scope<'_>,
    end: usize,
) -> Result<Arc<SortedPrefix<Arc<CachedPod>>>, Error> {
    let generation = context.caches.pod_list_generation.current();
    let key = ListKey::new(scope.namespace, scope.visible.as_ref(), scope.query);
    context
        .pod_lists
        .get_or_evaluate(generation, key, end, |sorted| {
            evaluate(context, scope, sorted)
        })
}

/// Filters the pods for `scope` and sorts the first `sorted` of them.
fn evaluate(
    context: &Context,
    scope: &Scope<'_>,
    sorted: usize,
) -> Result<SortedPrefix<Arc<CachedPod>>, Error> {
    let caches = &context.caches;
    let store = synced(&caches.pods)?;
    // An equality requirement narrows the scan to its exact matches from the indexes: pods with the stored
    // label, plus (for the virtual pool label) pods in the pool without a stored one. When it is the selector's
    // only requirement the selector needs no re-check; otherwise the whole selector still runs below.
    let mut query = scope.query.clone();
    let pods: Vec<Arc<CachedPod>> = match indexed_requirement(scope.query) {
        Some((key, values)) => {
            let mut pods = caches.pod_index.with_label(key, values);
            if key == POOL_LABEL {
                let members: Vec<(String, String)> = {
                    let occupancy = caches.occupancy.read();
                    values
                        .iter()
                        .flat_map(|value| occupancy.pods_in_pool(value))
                        .map(|(ns, name)| (ns.to_owned(), name.to_owned()))
                        .collect()
                };
                let members = members.iter().filter_map(|(ns, name)| {
                    let pod = store.get(&ObjectRef::new(name).within(ns))?;
                    let stored = pod.labels.get(POOL_LABEL).is_some();
                    (!stored).then_some(pod)
                });
                pods.extend(members);
                if values.len() > 1 {
                    // A dual-stack pod can be in two of the pools.
                    pods.sort_by_key(|p| Arc::as_ptr(p) as usize);
                    pods.dedup_by(|a, b| Arc::ptr_eq(a, b));
                }
            }
            if query
                .label_selector
                .as_ref()
                .is_some_and(|s| s.requirements().len() == 1)
            {
                query.label_selector = None;
            }
            pods
        }
        None => match scope.namespace {
            Some(namespace) => caches.pod_index.in_namespace(namespace),
            None => store.state(),
        },
    };
    let related = Related {
        services: synced(&caches.services)?,
        replica_sets: synced(&caches.replica_sets)?,
    };
    // Only a selector on the pool label reads the pods' pools (the page looks them up for what it shows).
    let selects_pools = [&query.label_selector, &query.label_filter]
        .into_iter()
        .flatten()
        .any(|selector| {
            selector
                .requirements()
                .iter()
                .any(|r| r.key() == POOL_LABEL)
        });
    let pools = if selects_pools {
        PodPools::of(&caches.occupancy, &pods)
    } else {
        PodPools::none()
    };
    let kept: Vec<Arc<CachedPod>> = pods
        .iter()
        .filter(|p| {
            scope.covers(p.metadata.namespace.as_deref().unwrap_or_default()) && {
                let view = View::<CachedPod>::with_pools(p, pools.of_pod(p));
                matches_query(&view, &query, |key, value| related.filter(p, key, value))
            }
        })
        .cloned()
        .collect();
    let start_time = query.sort_by == SortBy::StartTime;
    Ok(sort_prefix(kept, &query, sorted, |pod: &Arc<CachedPod>| {
        SortKey {
            time: if start_time {
                pod.started.or_else(|| super::created(&**pod))
            } else {
                super::created(&**pod)
            },
            name: pod.metadata.name.as_deref().unwrap_or_default(),
            namespace: pod.metadata.namespace.as_deref().unwrap_or_default(),
        }
    }))
}

/// The first `key=v`, `key==v` or `key in (…)` requirement of the label selector, for the indexes (stored
/// labels, and the pods-by-pool index for the virtual pool label).
fn indexed_requirement(query: &ListQuery) -> Option<(&str, &[String])> {
    query
        .label_selector
        .as_ref()?
        .requirements()
        .iter()
        .find_map(|r| {
            let equality = matches!(
                r.operator(),
                Operator::Equals | Operator::DoubleEquals | Operator::In
            );
            equality.then(|| (r.key(), r.values()))
        })
}

/// The caches the pod filters look into besides the pods.
struct Related<'a> {
    services: &'a Store<Service>,
    replica_sets: &'a Store<Workload<ReplicaSet>>,
}

impl Related<'_> {
    /// The pod filters of algorithms §9.5 (`None` for keys that are not pod filters).
    fn filter(&self, pod: &CachedPod, key: &str, value: &str) -> Option<bool> {
        let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
        Some(match key {
            "nodeName" => pod.node_name.as_deref() == Some(value),
            "pvcName" => pod.claim_names.iter().any(|claim| claim == value),
            "phase" => pod.phase.as_deref() == Some(value),
            "podIP" => pod.ips.iter().any(|ip| ip.contains(value)),
            "status" => pod.status == value,
            "serviceName" => self
                .services
                .get(&ObjectRef::new(value).within(namespace))
                .is_some_and(|service| {
                    let selector = service.spec.as_ref().and_then(|s| s.selector.as_ref());
                    selector.is_some_and(|sel| {
                        !sel.is_empty() && sel.iter().all(|(k, v)| pod.labels.get(k) == Some(v))
                    })
                }),
            "ownerReference" => pod.owners.iter().any(|owner| {
                owner.uid() == value
                    || (owner.kind() == "ReplicaSet"
                        && self
                            .replica_sets
                            .get(&ObjectRef::new(owner.name()).within(namespace))
                            .is_some_and(|rs| {
                                owner_references(&rs.metadata).any(|o| o.uid == value)
                            }))
            }),
            _ => return None,
        })
    }
}

/// A pod as returned: its stored JSON with its effective labels, the stored ones plus the virtual pool label
/// (algorithms §3) when it has no stored one.
pub fn pod_json(pod: &CachedPod, pools: &[PoolName]) -> JsonText {
    let mut labels: Vec<(&str, &str)> = pod.labels.iter().collect();
    if let Some(first) = pools.first()
        && let Err(at) = labels.binary_search_by(|(k, _)| (*k).cmp(POOL_LABEL))
    {
        labels.insert(at, (POOL_LABEL, first));
    }
    let mut out = Vec::with_capacity(pod.json.len() + 64 * (labels.len() + 1));
    pod.json.write_with_labels(labels, &mut out);
    JsonText(out)
}
