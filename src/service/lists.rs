//! Lists and gets served from the caches through the one query engine (algorithms §9): the resource lists of
//! `/kapis/resources.kubesphere.io/v1alpha3` (api §3) and the reads of the dynamic endpoints (api §2).
//!
//! Objects are filtered and sorted as references; only the page is serialised.

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use kube::Resource;
use kube::runtime::reflector::ObjectRef;
use serde::Serialize;
use serde_json::{Value, json};

use super::dynamic::{DynamicResource, NAMESPACE_NETWORK_POLICIES};
use super::pools::{CALICO_GROUP, PoolSet, namespace_input_of};
use super::{authorize, synced};
use crate::auth::{Access, Caller};
use crate::cluster::cache::{Cache, Cached};
use crate::cluster::kubesphere::NamespaceNetworkPolicy;
use crate::domain::binding::{self, virtual_binding_labels};
use crate::domain::nsnp;
use crate::domain::occupancy::Occupancy;
use crate::domain::pool::Pool;
use crate::http::{ApiError, AppState};
use crate::query::page_bounds;
use crate::query::pod_status::derived_status;
use crate::query::selector::Operator;
use crate::query::{
    LabelLookup, LabelValue, ListQuery, Object, SortBy, SortKey, matches_query, sort_and_page,
};

/// The label that shows a pod's pool (algorithms §3).
pub const POOL_LABEL: &str = "ippool.network.kubesphere.io/name";

/// The resources of `/kapis/resources.kubesphere.io/v1alpha3` (api §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceList {
    /// Core namespaces (cluster-scoped).
    Namespaces,
    /// Core pods.
    Pods,
    /// Core services.
    Services,
    /// NetworkPolicies.
    NetworkPolicies,
    /// NamespaceNetworkPolicies.
    NamespaceNetworkPolicies,
    /// Calico pools with status (cluster-scoped; per namespace: the usable ones).
    IpPools,
    /// KubeSphere workspaces (cluster-scoped).
    Workspaces,
}

impl ResourceList {
    /// The resource named in the URL, or 404 `resource is not supported`.
    pub fn from_path(name: &str) -> Result<Self, ApiError> {
        Ok(match name {
            "namespaces" => Self::Namespaces,
            "pods" => Self::Pods,
            "services" => Self::Services,
            "networkpolicies" => Self::NetworkPolicies,
            "namespacenetworkpolicies" => Self::NamespaceNetworkPolicies,
            "ippools" => Self::IpPools,
            "workspaces" => Self::Workspaces,
            _ => return Err(ApiError::UnsupportedResource),
        })
    }

    /// Whether objects live in namespaces.
    pub fn namespaced(self) -> bool {
        matches!(
            self,
            Self::Pods | Self::Services | Self::NetworkPolicies | Self::NamespaceNetworkPolicies
        )
    }

    fn group_plural(self) -> (&'static str, &'static str) {
        match self {
            Self::Namespaces => ("", "namespaces"),
            Self::Pods => ("", "pods"),
            Self::Services => ("", "services"),
            Self::NetworkPolicies => ("networking.k8s.io", "networkpolicies"),
            Self::NamespaceNetworkPolicies => ("network.kubesphere.io", "namespacenetworkpolicies"),
            Self::IpPools => (CALICO_GROUP, "ippools"),
            Self::Workspaces => ("tenant.kubesphere.io", "workspaces"),
        }
    }
}

/// A cached object as a list sees it: the object plus its effective labels (virtual and derived ones).
pub struct View<'a, K> {
    object: &'a K,
    extra_labels: BTreeMap<String, String>,
    /// Pods: where to find `pools(pod)`, looked up only when a selector or the response needs it.
    occupancy: Option<&'a Occupancy>,
    pools: OnceCell<&'a [String]>,
}

impl<'a, K: Resource> View<'a, K> {
    fn new(
        object: &'a K,
        extra_labels: BTreeMap<String, String>,
        occupancy: Option<&'a Occupancy>,
    ) -> Self {
        View {
            object,
            extra_labels,
            occupancy,
            pools: OnceCell::new(),
        }
    }

    fn stored_labels(&self) -> Option<&BTreeMap<String, String>> {
        self.object.meta().labels.as_ref()
    }

    /// The pod's pools (algorithms §3); empty for other kinds.
    fn pools(&self) -> &'a [String] {
        self.pools.get_or_init(|| match self.occupancy {
            Some(occupancy) => {
                let meta = self.object.meta();
                let (namespace, name) = (meta.namespace.as_deref(), meta.name.as_deref());
                occupancy.pools_of_pod(namespace.unwrap_or_default(), name.unwrap_or_default())
            }
            None => &[],
        })
    }

    /// Stored labels plus the virtual and derived ones (a pod's pool label shows its first pool).
    fn effective_labels(&self) -> BTreeMap<String, String> {
        let mut labels = self.stored_labels().cloned().unwrap_or_default();
        for (k, v) in &self.extra_labels {
            labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
        if let Some(first) = self.pools().first() {
            labels
                .entry(POOL_LABEL.to_owned())
                .or_insert_with(|| first.clone());
        }
        labels
    }
}

impl<K: Resource> LabelLookup for View<'_, K> {
    fn value(&self, key: &str) -> LabelValue<'_> {
        if let Some(value) = self.stored_labels().and_then(|l| l.get(key)) {
            return LabelValue::One(value);
        }
        if key == POOL_LABEL && !self.pools().is_empty() {
            return LabelValue::Set(self.pools());
        }
        match self.extra_labels.get(key) {
            Some(value) => LabelValue::One(value),
            None => LabelValue::Absent,
        }
    }
}

static NO_ANNOTATIONS: BTreeMap<String, String> = BTreeMap::new();

impl<K: Resource> Object for View<'_, K> {
    fn name(&self) -> &str {
        self.object.meta().name.as_deref().unwrap_or_default()
    }
    fn namespace(&self) -> &str {
        self.object.meta().namespace.as_deref().unwrap_or_default()
    }
    fn uid(&self) -> &str {
        self.object.meta().uid.as_deref().unwrap_or_default()
    }
    fn labels(&self) -> &dyn LabelLookup {
        self
    }
    fn annotations(&self) -> &BTreeMap<String, String> {
        self.object
            .meta()
            .annotations
            .as_ref()
            .unwrap_or(&NO_ANNOTATIONS)
    }
    fn owner_uids(&self) -> Vec<&str> {
        owners(self.object.meta()).map(|o| o.uid.as_str()).collect()
    }
    fn owner_kinds(&self) -> Vec<&str> {
        owners(self.object.meta())
            .map(|o| o.kind.as_str())
            .collect()
    }
}

fn owners(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> impl Iterator<Item = &k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference> {
    meta.owner_references.iter().flatten()
}

impl<K: Resource + Serialize> View<'_, K> {
    /// The object as returned: `apiVersion`, `kind` and effective labels, no managedFields.
    fn to_json(&self) -> Value {
        let mut value = serde_json::to_value(self.object).unwrap_or_else(|_| json!({}));
        let labels = self.effective_labels();
        if let Some(metadata) = value.get_mut("metadata").and_then(Value::as_object_mut) {
            metadata.remove("managedFields");
            if !labels.is_empty() {
                metadata.insert("labels".into(), json!(labels));
            }
        }
        value
    }
}

/// What a list or get works on: the caller's query and which namespaces it covers.
struct Scope<'q> {
    query: &'q ListQuery,
    namespace: Option<&'q str>,
    /// Namespaces the caller may list in (None: all).
    visible: Option<BTreeSet<String>>,
}

impl Scope<'_> {
    fn covers(&self, namespace: &str) -> bool {
        self.namespace.is_none_or(|ns| ns == namespace)
            && self.visible.as_ref().is_none_or(|v| v.contains(namespace))
    }
}

/// Filters, sorts and pages views; resource-specific filter keys are answered by `extra`. A field selector
/// (dynamic endpoints only) is evaluated on the object's JSON, so it costs a serialisation per candidate.
fn select<'a, K: Resource + Serialize>(
    views: Vec<View<'a, K>>,
    query: &ListQuery,
    extra: impl Fn(&View<'a, K>, &str, &str) -> Option<bool>,
    sort_time: impl Fn(&View<'a, K>) -> Option<jiff::Timestamp>,
) -> crate::query::Page<View<'a, K>> {
    let kept: Vec<View<'a, K>> = views
        .into_iter()
        .filter(|view| {
            matches_query(view, query, |key, value| extra(view, key, value))
                && query
                    .field_selector
                    .as_ref()
                    .is_none_or(|fields| fields.matches(&view.to_json()))
        })
        .collect();
    sort_and_page(kept, query, |view| SortKey {
        time: sort_time(view),
        name: view.name(),
        namespace: view.namespace(),
    })
}

fn created<K: Resource>(object: &K) -> Option<jiff::Timestamp> {
    object.meta().creation_timestamp.as_ref().map(|t| t.0)
}

/// The v1alpha3 response `{"items":[…],"totalItems":N}`.
fn v1alpha3_page(items: Vec<Value>, total: usize) -> Value {
    json!({"items": items, "totalItems": total})
}

/// Namespaces the caller may `list` `group/plural` in: None = all (cluster-wide permission); 403 when none.
async fn visible_namespaces(
    state: &AppState,
    caller: &Caller,
    group: &str,
    plural: &str,
    namespace: Option<&str>,
) -> Result<Option<BTreeSet<String>>, ApiError> {
    let list = Access::resource("list", group, plural);
    if let Some(namespace) = namespace {
        authorize(state, caller, &list.in_namespace(namespace)).await?;
        return Ok(None);
    }
    if state.authorizer.allowed(&caller.identity, &list).await? {
        return Ok(None);
    }
    let mut allowed = BTreeSet::new();
    for ns in synced(&state.caches.namespaces)?.state() {
        let name = ns.metadata.name.clone().unwrap_or_default();
        if state
            .authorizer
            .allowed(&caller.identity, &list.clone().in_namespace(&name))
            .await?
        {
            allowed.insert(name);
        }
    }
    if allowed.is_empty() {
        return Err(ApiError::Forbidden(
            list.forbidden_message(&caller.identity.user),
        ));
    }
    Ok(Some(allowed))
}

/// api §3 R1/R3: a v1alpha3 list.
pub async fn v1alpha3_list(
    state: &AppState,
    caller: &Caller,
    resource: ResourceList,
    namespace: Option<&str>,
    pairs: &[(String, String)],
) -> Result<Value, ApiError> {
    if namespace.is_some() && !resource.namespaced() && resource != ResourceList::IpPools {
        return Err(ApiError::RouteNotFound);
    }
    let query =
        ListQuery::parse_v1alpha3(pairs).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let (items, total, _) = list(state, caller, resource, namespace, &query).await?;
    Ok(v1alpha3_page(items, total))
}

/// api §2 L1/L2: a Kubernetes list with `continue` and `remainingItemCount` (algorithms §9.11).
pub async fn dynamic_list(
    state: &AppState,
    caller: &Caller,
    resource: DynamicResource,
    namespace: Option<&str>,
    pairs: &[(String, String)],
) -> Result<Value, ApiError> {
    let query = ListQuery::parse(pairs).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let kind = if resource == NAMESPACE_NETWORK_POLICIES {
        ResourceList::NamespaceNetworkPolicies
    } else {
        ResourceList::NetworkPolicies
    };
    let (items, total, end) = list(state, caller, kind, namespace, &query).await?;
    Ok(json!({
        "apiVersion": resource.api_version(),
        "kind": format!("{}List", resource.kind),
        "metadata": {"continue": total.to_string(), "remainingItemCount": total.saturating_sub(end)},
        "items": items,
    }))
}

/// api §2 G: one object from the cache.
pub async fn dynamic_get(
    state: &AppState,
    caller: &Caller,
    resource: DynamicResource,
    namespace: &str,
    name: &str,
) -> Result<Value, ApiError> {
    let kind = if resource == NAMESPACE_NETWORK_POLICIES {
        ResourceList::NamespaceNetworkPolicies
    } else {
        ResourceList::NetworkPolicies
    };
    let not_found = || ApiError::NotFound {
        resource: resource.qualified(),
        name: name.to_owned(),
    };
    get_one(state, caller, kind, Some(namespace), name)
        .await?
        .ok_or_else(not_found)
}

/// api §3 R2/R4: one object, or 404 with Kubernetes' message.
pub async fn v1alpha3_get(
    state: &AppState,
    caller: &Caller,
    resource: ResourceList,
    namespace: Option<&str>,
    name: &str,
) -> Result<Value, ApiError> {
    if resource.namespaced() != namespace.is_some() && resource != ResourceList::IpPools {
        return Err(ApiError::RouteNotFound);
    }
    let (group, plural) = resource.group_plural();
    let qualified = if group.is_empty() {
        plural.to_owned()
    } else {
        format!("{plural}.{group}")
    };
    let not_found = || ApiError::NotFound {
        resource: qualified.clone(),
        name: name.to_owned(),
    };
    get_one(state, caller, resource, namespace, name)
        .await?
        .ok_or_else(not_found)
}

async fn get_one(
    state: &AppState,
    caller: &Caller,
    resource: ResourceList,
    namespace: Option<&str>,
    name: &str,
) -> Result<Option<Value>, ApiError> {
    let (group, plural) = resource.group_plural();
    if resource == ResourceList::IpPools {
        if let Some(namespace) = namespace {
            let pools = super::pools::usable_by_namespace(state, caller, namespace).await?;
            return Ok(pools["items"].as_array().and_then(|items| {
                items
                    .iter()
                    .find(|p| p["metadata"]["name"] == name)
                    .cloned()
            }));
        }
        return match super::pools::get(state, caller, name).await {
            Ok(pool) => Ok(Some(pool)),
            Err(ApiError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        };
    }
    let mut access = Access::resource("get", group, plural).named(name);
    if let Some(namespace) = namespace {
        access = access.in_namespace(namespace);
    }
    authorize(state, caller, &access).await?;
    fn lookup<K: Cached>(
        cache: &Cache<K>,
        name: &str,
        namespace: Option<&str>,
    ) -> Result<Option<Arc<K>>, ApiError> {
        let reference = match namespace {
            Some(ns) => ObjectRef::new(name).within(ns),
            None => ObjectRef::new(name),
        };
        Ok(synced(cache)?.get(&reference))
    }
    let caches = &state.caches;
    let ns = namespace;
    Ok(match resource {
        ResourceList::Namespaces => {
            let pools = PoolSet::load(state).map(|p| p.facts).unwrap_or_default();
            lookup(&caches.namespaces, name, None)?.map(|n| namespace_view(&n, &pools).to_json())
        }
        ResourceList::Pods => {
            let occupancy = caches.occupancy.read();
            lookup(&caches.pods, name, ns)?
                .map(|p| View::new(&*p, BTreeMap::new(), Some(&occupancy)).to_json())
        }
        ResourceList::Services => lookup(&caches.services, name, ns)?.map(|s| plain(&*s).to_json()),
        ResourceList::NetworkPolicies => {
            lookup(&caches.network_policies, name, ns)?.map(|p| plain(&*p).to_json())
        }
        ResourceList::NamespaceNetworkPolicies => {
            lookup(&caches.namespace_network_policies, name, ns)?.map(|p| nsnp_view(&p).to_json())
        }
        ResourceList::Workspaces => {
            lookup(&caches.workspaces, name, None)?.map(|w| plain(&*w).to_json())
        }
        ResourceList::IpPools => None,
    })
}

fn plain<K: Resource>(object: &K) -> View<'_, K> {
    View::new(object, BTreeMap::new(), None)
}

fn namespace_view<'a>(namespace: &'a Namespace, pools: &[Pool]) -> View<'a, Namespace> {
    View::new(
        namespace,
        virtual_binding_labels(&namespace_input_of(namespace), pools),
        None,
    )
}

fn nsnp_view(policy: &NamespaceNetworkPolicy) -> View<'_, NamespaceNetworkPolicy> {
    let spec = serde_json::to_value(&policy.spec).unwrap_or(Value::Null);
    let labels = policy.metadata.labels.clone().unwrap_or_default();
    View::new(policy, nsnp::derived_labels(&labels, &spec), None)
}

/// The page of `resource` for `query`: serialised items, total, end index.
async fn list(
    state: &AppState,
    caller: &Caller,
    resource: ResourceList,
    namespace: Option<&str>,
    query: &ListQuery,
) -> Result<(Vec<Value>, usize, usize), ApiError> {
    let caches = &state.caches;
    let (group, plural) = resource.group_plural();
    match resource {
        ResourceList::IpPools => return list_pools(state, caller, namespace, query).await,
        ResourceList::Namespaces | ResourceList::Workspaces => {
            let all_allowed = state
                .authorizer
                .allowed(&caller.identity, &Access::resource("list", group, plural))
                .await?;
            return if resource == ResourceList::Namespaces {
                let pools = PoolSet::load(state).map(|p| p.facts).unwrap_or_default();
                let objects = synced(&caches.namespaces)?.state();
                let visible =
                    visible_objects(state, caller, &objects, group, plural, all_allowed).await?;
                let views: Vec<_> = visible.iter().map(|n| namespace_view(n, &pools)).collect();
                let page = select(
                    views,
                    query,
                    |view, key, value| match key {
                        "status" => Some(
                            view.object.status.as_ref().and_then(|s| s.phase.as_deref())
                                == Some(value),
                        ),
                        _ => None,
                    },
                    |v| created(v.object),
                );
                Ok((
                    page.items.iter().map(View::to_json).collect(),
                    page.total,
                    page.end,
                ))
            } else {
                let objects = synced(&caches.workspaces)?.state();
                let visible =
                    visible_objects(state, caller, &objects, group, plural, all_allowed).await?;
                let views: Vec<_> = visible.iter().map(|w| plain(&**w)).collect();
                let page = select(views, query, |_, _, _| None, |v| created(v.object));
                Ok((
                    page.items.iter().map(View::to_json).collect(),
                    page.total,
                    page.end,
                ))
            };
        }
        _ => {}
    }
    let scope = Scope {
        query,
        namespace,
        visible: visible_namespaces(state, caller, group, plural, namespace).await?,
    };
    Ok(match resource {
        ResourceList::Pods => list_pods(state, &scope)?,
        ResourceList::Services => page_of(&synced(&caches.services)?.state(), &scope, plain)?,
        ResourceList::NetworkPolicies => {
            page_of(&synced(&caches.network_policies)?.state(), &scope, plain)?
        }
        ResourceList::NamespaceNetworkPolicies => page_of(
            &synced(&caches.namespace_network_policies)?.state(),
            &scope,
            |p| nsnp_view(p),
        )?,
        _ => (Vec::new(), 0, 0),
    })
}

/// Cluster-scoped objects the caller may see: all with `list`, else those it may `get`; none → 403.
async fn visible_objects<K: Cached>(
    state: &AppState,
    caller: &Caller,
    objects: &[Arc<K>],
    group: &str,
    plural: &str,
    all_allowed: bool,
) -> Result<Vec<Arc<K>>, ApiError> {
    if all_allowed {
        return Ok(objects.to_vec());
    }
    let mut visible = Vec::new();
    for object in objects {
        let name = object.meta().name.clone().unwrap_or_default();
        if state
            .authorizer
            .allowed(
                &caller.identity,
                &Access::resource("get", group, plural).named(&name),
            )
            .await?
        {
            visible.push(object.clone());
        }
    }
    if visible.is_empty() {
        return Err(ApiError::Forbidden(
            Access::resource("list", group, plural).forbidden_message(&caller.identity.user),
        ));
    }
    Ok(visible)
}

fn page_of<'a, K: Cached + Serialize>(
    objects: &'a [Arc<K>],
    scope: &Scope<'_>,
    view: impl Fn(&'a K) -> View<'a, K>,
) -> Result<(Vec<Value>, usize, usize), ApiError> {
    let views: Vec<View<'a, K>> = objects
        .iter()
        .filter(|o| scope.covers(o.meta().namespace.as_deref().unwrap_or_default()))
        .map(|o| view(o))
        .collect();
    let page = select(views, scope.query, |_, _, _| None, |v| created(v.object));
    Ok((
        page.items.iter().map(View::to_json).collect(),
        page.total,
        page.end,
    ))
}

fn list_pods(state: &AppState, scope: &Scope<'_>) -> Result<(Vec<Value>, usize, usize), ApiError> {
    let caches = &state.caches;
    let sorted = sorted_pods(state, scope)?;
    let (start, end) = page_bounds(sorted.len(), scope.query.page, scope.query.limit);
    let occupancy = caches.occupancy.read();
    let items = sorted
        .get(start..end)
        .unwrap_or_default()
        .iter()
        .map(|p| View::new(&**p, BTreeMap::new(), Some(&occupancy)).to_json())
        .collect();
    Ok((items, sorted.len(), end))
}

/// A query's sorted pods and the cache generation they were computed at.
type Remembered = (u64, Arc<Vec<Arc<Pod>>>);

/// Sorted pod lists by query, valid while the caches they were computed from have not changed.
#[derive(Default)]
pub struct PodListMemo {
    entries: Mutex<HashMap<String, Remembered>>,
}

/// Distinct queries remembered at most; beyond, the memo starts over.
const MEMO_ENTRIES: usize = 64;

/// Every pod the query keeps, in its order (before paging). Repeated queries between cache changes reuse the
/// previous answer, so a page costs O(page) while the cluster is quiet and one evaluation per change otherwise.
fn sorted_pods(state: &AppState, scope: &Scope<'_>) -> Result<Arc<Vec<Arc<Pod>>>, ApiError> {
    let caches = &state.caches;
    let generation = caches.pod_list_generation.current();
    let query = scope.query;
    let key = format!(
        "{:?}|{:?}|{}|{}|{}|{:?}|{:?}|{}",
        scope.namespace,
        scope.visible,
        query
            .label_selector
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        query
            .label_filter
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        query
            .annotation_filter
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        query.filters,
        query.sort_by,
        query.ascending,
    );
    let memo = &state.pod_lists;
    if let Some((seen, list)) = memo
        .entries
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key)
        && *seen == generation
    {
        return Ok(list.clone());
    }
    let list = Arc::new(evaluate_pods(state, scope)?);
    let mut entries = memo.entries.lock().unwrap_or_else(|e| e.into_inner());
    if entries.len() >= MEMO_ENTRIES {
        entries.clear();
    }
    entries.insert(key, (generation, list.clone()));
    Ok(list)
}

/// Filters and sorts the pods for `scope` (no paging).
fn evaluate_pods(state: &AppState, scope: &Scope<'_>) -> Result<Vec<Arc<Pod>>, ApiError> {
    let caches = &state.caches;
    let store = synced(&caches.pods)?;
    // An equality requirement narrows the scan to its exact matches from the indexes: pods with the stored
    // label, plus (for the virtual pool label) pods in the pool without a stored one. When it is the selector's
    // only requirement the selector needs no re-check; otherwise the whole selector still runs below.
    let occupancy = caches.occupancy.read();
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
                for value in values {
                    let members = occupancy.pods_in_pool(value).filter_map(|(ns, name)| {
                        let pod = store.get(&ObjectRef::new(name).within(ns))?;
                        let stored = pod
                            .metadata
                            .labels
                            .as_ref()
                            .is_some_and(|l| l.contains_key(POOL_LABEL));
                        (!stored).then_some(pod)
                    });
                    pods.extend(members);
                }
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
    let services = synced(&caches.services)?;
    let replica_sets = synced(&caches.replica_sets)?;
    let kept: Vec<Arc<Pod>> = pods
        .into_iter()
        .filter(|p| {
            scope.covers(p.metadata.namespace.as_deref().unwrap_or_default()) && {
                let view = View::new(&**p, BTreeMap::new(), Some(&occupancy));
                matches_query(&view, &query, |key, value| {
                    pod_filter(p, key, value, services, replica_sets)
                })
            }
        })
        .collect();
    query.page = 1;
    query.limit = -1;
    let start_time = query.sort_by == SortBy::StartTime;
    let page = sort_and_page(kept, &query, |pod: &Arc<Pod>| SortKey {
        time: if start_time {
            started(pod).or_else(|| created(&**pod))
        } else {
            created(&**pod)
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

/// The pod filters of algorithms §9.5 (`None` for keys that are not pod filters).
fn pod_filter(
    pod: &Pod,
    key: &str,
    value: &str,
    services: &kube::runtime::reflector::Store<Service>,
    replica_sets: &kube::runtime::reflector::Store<k8s_openapi::api::apps::v1::ReplicaSet>,
) -> Option<bool> {
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
        "serviceName" => services
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
                    && replica_sets
                        .get(&ObjectRef::new(&owner.name).within(namespace))
                        .is_some_and(|rs| owners(&rs.metadata).any(|o| o.uid == value)))
        }),
        _ => return None,
    })
}

/// v1alpha3 `ippools`: every pool (R1) or the namespace's usable pools (R3), filtered, sorted and paged.
async fn list_pools(
    state: &AppState,
    caller: &Caller,
    namespace: Option<&str>,
    query: &ListQuery,
) -> Result<(Vec<Value>, usize, usize), ApiError> {
    let chosen: Vec<String> = match namespace {
        Some(namespace) => {
            authorize(
                state,
                caller,
                &Access::resource("get", "", "namespaces").named(namespace),
            )
            .await?;
            let input = super::pools::namespace_input(state, namespace)?;
            let pools = PoolSet::load(state)?;
            binding::usable_pools(&input, &pools.facts)
                .iter()
                .map(|p| p.name.clone())
                .collect()
        }
        None => {
            authorize(
                state,
                caller,
                &Access::resource("list", CALICO_GROUP, "ippools"),
            )
            .await?;
            PoolSet::load(state)?
                .facts
                .into_iter()
                .map(|p| p.name)
                .collect()
        }
    };
    let pools = PoolSet::load(state)?;
    let views: Vec<_> = pools
        .objects
        .iter()
        .filter(|p| p.metadata.name.as_ref().is_some_and(|n| chosen.contains(n)))
        .map(|p| plain(&**p))
        .collect();
    let page = select(views, query, |_, _, _| None, |v| created(v.object));
    let occupancy = state.caches.occupancy.read();
    let items = page
        .items
        .iter()
        .map(|view| {
            let name = view.name();
            super::pools::pool_object(
                view.object,
                occupancy.status(name),
                super::pools::CALICO_API_VERSION,
            )
        })
        .collect();
    Ok((items, page.total, page.end))
}
