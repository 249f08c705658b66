//! Pod lists: narrowed by the label and pods-by-pool indexes, filtered by the pod filters of
//! algorithms §9.5, sorted, and remembered between cache changes.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::runtime::reflector::{ObjectRef, Store};
use serde_json::Value;

use super::view::{POOL_LABEL, PodPools, View, owners};
use super::visibility::Scope;
use crate::query::pod_status::derived_status;
use crate::query::selector::Operator;
use crate::query::{ListQuery, Page, SortBy, SortKey, matches_query, page_bounds, sort_and_page};
use crate::service::{Context, Error, synced};

/// What a sorted pod list depends on besides the caches: the scope and the query without its paging.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct PodListKey {
    namespace: Option<String>,
    visible: Option<BTreeSet<String>>,
    query: ListQuery,
}

impl PodListKey {
    fn of(scope: &Scope<'_>) -> Self {
        let mut query = scope.query.clone();
        query.page = 1;
        query.limit = -1;
        PodListKey {
            namespace: scope.namespace.map(str::to_owned),
            visible: scope.visible.clone(),
            query,
        }
    }
}

/// A query's sorted pods and the cache generation they were computed at.
struct Remembered {
    generation: u64,
    pods: Arc<Vec<Arc<Pod>>>,
}

/// Sorted pod lists by query, valid while the caches they were computed from have not changed.
#[derive(Default)]
pub struct PodListMemo {
    entries: Mutex<HashMap<PodListKey, Remembered>>,
}

/// Distinct queries remembered at most; beyond, the memo starts over.
const MEMO_ENTRIES: usize = 64;

/// The page of pods for `scope`.
pub fn page(context: &Context, scope: &Scope<'_>) -> Result<Page<Value>, Error> {
    let sorted = sorted_pods(context, scope)?;
    let (start, end) = page_bounds(sorted.len(), scope.query.page, scope.query.limit);
    let shown = sorted.get(start..end).unwrap_or_default();
    let pools = PodPools::of(&context.caches.occupancy, shown);
    let items = shown
        .iter()
        .map(|p| View::pod(&**p, pools.of_pod(p)).to_json())
        .collect();
    Ok(Page {
        items,
        total: sorted.len(),
        end,
    })
}

/// Every pod the query keeps, in its order (before paging). Repeated queries between cache changes reuse the
/// previous answer, so a page costs O(page) while the cluster is quiet and one evaluation per change otherwise.
fn sorted_pods(context: &Context, scope: &Scope<'_>) -> Result<Arc<Vec<Arc<Pod>>>, Error> {
    let generation = context.caches.pod_list_generation.current();
    let key = PodListKey::of(scope);
    let memo = &context.pod_lists;
    if let Some(remembered) = memo
        .entries
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key)
        && remembered.generation == generation
    {
        return Ok(remembered.pods.clone());
    }
    let pods = Arc::new(evaluate(context, scope)?);
    let mut entries = memo.entries.lock().unwrap_or_else(|e| e.into_inner());
    if entries.len() >= MEMO_ENTRIES {
        entries.clear();
    }
    let remembered = Remembered {
        generation,
        pods: pods.clone(),
    };
    entries.insert(key, remembered);
    Ok(pods)
}

/// Filters and sorts the pods for `scope` (no paging).
fn evaluate(context: &Context, scope: &Scope<'_>) -> Result<Vec<Arc<Pod>>, Error> {
    let caches = &context.caches;
    let store = synced(&caches.pods)?;
    // An equality requirement narrows the scan to its exact matches from the indexes: pods with the stored
    // label, plus (for the virtual pool label) pods in the pool without a stored one. When it is the selector's
    // only requirement the selector needs no re-check; otherwise the whole selector still runs below.
    let mut query = scope.query.clone();
    let pods: Vec<Arc<Pod>> = match indexed_requirement(scope.query) {
        Some((key, values)) => {
            let mut pods: Vec<Arc<Pod>> = caches
                .pod_labels
                .lookup(key, values)
                .iter()
                .filter_map(|reference| store.get(reference))
                .collect();
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
                    let stored = pod
                        .metadata
                        .labels
                        .as_ref()
                        .is_some_and(|l| l.contains_key(POOL_LABEL));
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
        None => store.state(),
    };
    let related = Related {
        services: synced(&caches.services)?,
        replica_sets: synced(&caches.replica_sets)?,
    };
    let pools = PodPools::of(&caches.occupancy, &pods);
    let kept: Vec<Arc<Pod>> = pods
        .iter()
        .filter(|p| {
            scope.covers(p.metadata.namespace.as_deref().unwrap_or_default()) && {
                let view = View::pod(&***p, pools.of_pod(p));
                matches_query(&view, &query, |key, value| related.filter(p, key, value))
            }
        })
        .cloned()
        .collect();
    query.page = 1;
    query.limit = -1;
    let start_time = query.sort_by == SortBy::StartTime;
    let page = sort_and_page(kept, &query, |pod: &Arc<Pod>| SortKey {
        time: if start_time {
            started(pod).or_else(|| super::created(&**pod))
        } else {
            super::created(&**pod)
        },
        name: pod.metadata.name.as_deref().unwrap_or_default(),
        namespace: pod.metadata.namespace.as_deref().unwrap_or_default(),
    });
    Ok(page.items)
}

fn started(pod: &Pod) -> Option<jiff::Timestamp> {
    pod.status.as_ref()?.start_time.as_ref().map(|t| t.0)
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
    replica_sets: &'a Store<ReplicaSet>,
}

impl Related<'_> {
    /// The pod filters of algorithms §9.5 (`None` for keys that are not pod filters).
    fn filter(&self, pod: &Pod, key: &str, value: &str) -> Option<bool> {
        let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
        Some(match key {
            "nodeName" => pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(value),
            "pvcName" => pod.spec.as_ref().is_some_and(|s| {
                s.volumes.iter().flatten().any(|v| {
                    v.persistent_volume_claim
                        .as_ref()
                        .is_some_and(|c| c.claim_name == value)
                })
            }),
            "phase" => pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some(value),
            "podIP" => crate::cluster::occupancy::pod_ips(pod)
                .iter()
                .any(|ip| ip.contains(value)),
            "status" => derived_status(pod) == value,
            "serviceName" => self
                .services
                .get(&ObjectRef::new(value).within(namespace))
                .is_some_and(|service| {
                    let selector = service.spec.as_ref().and_then(|s| s.selector.as_ref());
                    let labels = pod.metadata.labels.as_ref();
                    selector.is_some_and(|sel| {
                        !sel.is_empty()
                            && sel
                                .iter()
                                .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
                    })
                }),
            "ownerReference" => owners(&pod.metadata).any(|owner| {
                owner.uid == value
                    || (owner.kind == "ReplicaSet"
                        && self
                            .replica_sets
                            .get(&ObjectRef::new(&owner.name).within(namespace))
                            .is_some_and(|rs| owners(&rs.metadata).any(|o| o.uid == value)))
            }),
            _ => return None,
        })
    }
}
