//! Lists and gets served from the caches through the one query engine (algorithms §9): the resource lists of
//! `/kapis/resources.kubesphere.io/v1alpha3` (api §3) and the reads of the dynamic endpoints (api §2).
//!
//! Objects are filtered and sorted as references; only the page is serialised.

#[cfg(test)]
mod differential_tests;
mod memo;
mod namespaces;
mod nsnps;
mod pods;
mod view;
mod visibility;

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::Resource;
use kube::api::ApiResource;
use kube::runtime::reflector::ObjectRef;
use serde::Serialize;
use serde_json::{Value, json};

pub use namespaces::NamespaceListMemo;
pub use nsnps::PolicyListMemo;
pub use pods::PodListMemo;

/// JSON this server wrote (a response body, or one item of a list): sent as it is, never parsed back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonText(Vec<u8>);

impl JsonText {
    /// `value` serialised.
    pub fn of<T: Serialize + ?Sized>(value: &T) -> Self {
        JsonText(serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec()))
    }

    /// The text, as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The text, as owned bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

/// Appends `[item,item,…]`.
fn write_array(items: &[JsonText], out: &mut Vec<u8>) {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&item.0);
    }
    out.push(b']');
}

/// Bytes a body of `items` needs besides its envelope.
fn items_size(items: &[JsonText]) -> usize {
    items.iter().map(|i| i.0.len() + 1).sum()
}

use super::dynamic::PolicyResource;
use super::pools::{self, PoolSet};
use super::{Context, Error, synced};
use crate::auth::{Access, Caller, Verb};
use crate::cluster::cache::{Cache, Cached};
use crate::cluster::calico::IPPool;
use crate::cluster::compact::StoredMeta;
use crate::cluster::kubesphere::{NamespaceNetworkPolicy, Workspace};
use crate::cluster::selection_index::SelectionIndex;
use crate::query::{
    ListQuery, Object, Page, SortKey, SortedPrefix, matches_query, page_bounds, sort_and_page,
};
use view::{PodPools, View, nsnp_view};
use visibility::{Scope, visible_objects};

/// The resources of `/kapis/resources.kubesphere.io/v1alpha3` (api §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceList {
    /// Cluster-scoped; matched with virtual binding labels (algorithms §4.2), shown with the stored ones.
    Namespaces,
    /// With the virtual pool label `ippool.network.kubesphere.io/name` (algorithms §3).
    Pods,
    Services,
    NetworkPolicies,
    /// With derived classification labels (algorithms §9.7).
    NamespaceNetworkPolicies,
    /// Calico pools with status (cluster-scoped; per namespace: the usable ones).
    IpPools,
    /// KubeSphere workspaces (cluster-scoped).
    Workspaces,
}

impl ResourceList {
    /// The resource named in the URL, or 404 `resource is not supported`.
    pub fn from_path(name: &str) -> Result<Self, Error> {
        Ok(match name {
            "namespaces" => Self::Namespaces,
            "pods" => Self::Pods,
            "services" => Self::Services,
            "networkpolicies" => Self::NetworkPolicies,
            "namespacenetworkpolicies" => Self::NamespaceNetworkPolicies,
            "ippools" => Self::IpPools,
            "workspaces" => Self::Workspaces,
            _ => return Err(Error::UnsupportedResource),
        })
    }

    /// Whether objects live in namespaces (`ippools` do not, yet have namespaced routes: the usable pools).
    fn namespaced(self) -> bool {
        matches!(
            self,
            Self::Pods | Self::Services | Self::NetworkPolicies | Self::NamespaceNetworkPolicies
        )
    }

    /// Group, version, kind and plural, from the Rust type.
    fn api_resource(self) -> ApiResource {
        match self {
            Self::Namespaces => ApiResource::erase::<Namespace>(&()),
            Self::Pods => ApiResource::erase::<Pod>(&()),
            Self::Services => ApiResource::erase::<Service>(&()),
            Self::NetworkPolicies => ApiResource::erase::<NetworkPolicy>(&()),
            Self::NamespaceNetworkPolicies => ApiResource::erase::<NamespaceNetworkPolicy>(&()),
            Self::IpPools => ApiResource::erase::<IPPool>(&()),
            Self::Workspaces => ApiResource::erase::<Workspace>(&()),
        }
    }
}

impl From<PolicyResource> for ResourceList {
    fn from(resource: PolicyResource) -> Self {
        match resource {
            PolicyResource::NetworkPolicies => ResourceList::NetworkPolicies,
            PolicyResource::NamespaceNetworkPolicies => ResourceList::NamespaceNetworkPolicies,
        }
    }
}

/// api §3 R1/R3: a v1alpha3 list, `{"items":[…],"totalItems":N}`.
pub async fn v1alpha3_list(
    context: &Context,
    caller: &Caller,
    resource: ResourceList,
    namespace: Option<&str>,
    pairs: &[(String, String)],
) -> Result<JsonText, Error> {
    if namespace.is_some() && !resource.namespaced() && resource != ResourceList::IpPools {
        return Err(Error::NoSuchPath);
    }
    let query = ListQuery::parse_v1alpha3(pairs).map_err(|e| Error::BadRequest(e.to_string()))?;
    let page = list(context, caller, resource, namespace, &query).await?;
    let mut out = Vec::with_capacity(items_size(&page.items) + 40);
    out.extend_from_slice(b"{\"items\":");
    write_array(&page.items, &mut out);
    out.extend_from_slice(format!(",\"totalItems\":{}}}", page.total).as_bytes());
    Ok(JsonText(out))
}

/// api §2 L1/L2: a Kubernetes list with `continue` and `remainingItemCount` (algorithms §9.11).
pub async fn dynamic_list(
    context: &Context,
    caller: &Caller,
    resource: PolicyResource,
    namespace: Option<&str>,
    pairs: &[(String, String)],
) -> Result<JsonText, Error> {
    let query = ListQuery::parse(pairs).map_err(|e| Error::BadRequest(e.to_string()))?;
    let page = list(context, caller, resource.into(), namespace, &query).await?;
    let api = resource.api_resource();
    let envelope = json!({
        "apiVersion": api.api_version,
        "kind": format!("{}List", api.kind),
        "metadata": {"continue": page.total.to_string(), "remainingItemCount": page.remaining()},
    });
    let mut out = JsonText::of(&envelope).0;
    out.reserve(items_size(&page.items) + 12);
    // Reopen the envelope object to append the items.
    out.pop();
    out.extend_from_slice(b",\"items\":");
    write_array(&page.items, &mut out);
    out.push(b'}');
    Ok(JsonText(out))
}

/// api §2 G: one object from the cache.
pub async fn dynamic_get(
    context: &Context,
    caller: &Caller,
    resource: PolicyResource,
    namespace: &str,
    name: &str,
) -> Result<Value, Error> {
    get_one(context, caller, resource.into(), Some(namespace), name)
        .await?
        .ok_or_else(|| Error::not_found(&resource.api_resource(), name))
}

/// api §3 R2/R4: one object, or 404 with Kubernetes' message.
pub async fn v1alpha3_get(
    context: &Context,
    caller: &Caller,
    resource: ResourceList,
    namespace: Option<&str>,
    name: &str,
) -> Result<Value, Error> {
    if resource.namespaced() != namespace.is_some() && resource != ResourceList::IpPools {
        return Err(Error::NoSuchPath);
    }
    get_one(context, caller, resource, namespace, name)
        .await?
        .ok_or_else(|| Error::not_found(&resource.api_resource(), name))
}

async fn get_one(
    context: &Context,
    caller: &Caller,
    resource: ResourceList,
    namespace: Option<&str>,
    name: &str,
) -> Result<Option<Value>, Error> {
    if resource == ResourceList::IpPools {
        if let Some(namespace) = namespace {
            let (pools, usable) = pools::usable_pools(context, caller, namespace).await?;
            return Ok(usable.iter().find(|p| *p == name).and_then(|_| {
                let (object, facts) = pools.get(name).ok()?;
                let status = context.caches.occupancy.read().status(&facts.name);
                Some(pools::pool_object(object, status))
            }));
        }
        return match pools::get(context, caller, name).await {
            Ok(pool) => Ok(Some(pool)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        };
    }
    let mut access = Access::to(Verb::Get, &resource.api_resource()).named(name);
    if let Some(namespace) = namespace {
        access = access.in_namespace(namespace);
    }
    context.authorize(caller, &access).await?;
    fn lookup<K: Cached>(
        cache: &Cache<K>,
        name: &str,
        namespace: Option<&str>,
    ) -> Result<Option<Arc<K>>, Error> {
        let reference = match namespace {
            Some(ns) => ObjectRef::new(name).within(ns),
            None => ObjectRef::new(name),
        };
        Ok(synced(cache)?.get(&reference))
    }
    let caches = &context.caches;
    let ns = namespace;
    Ok(match resource {
        ResourceList::Namespaces => {
            lookup(&caches.namespaces, name, None)?.map(|n| View::plain(&*n).to_json())
        }
        ResourceList::Pods => lookup(&caches.pods, name, ns)?.map(|p| {
            let pod = [p];
            let pools = PodPools::of(&caches.occupancy, &pod);
            let text = pods::pod_json(&pod[0], pools.of_pod(&pod[0]));
            serde_json::from_slice(text.as_bytes()).unwrap_or(Value::Null)
        }),
        ResourceList::Services => {
            lookup(&caches.services, name, ns)?.map(|s| View::plain(&*s).to_json())
        }
        ResourceList::NetworkPolicies => {
            lookup(&caches.network_policies, name, ns)?.map(|p| View::plain(&*p).to_json())
        }
        ResourceList::NamespaceNetworkPolicies => {
            lookup(&caches.namespace_network_policies, name, ns)?.map(|p| nsnp_view(&p).to_json())
        }
        ResourceList::Workspaces => {
            lookup(&caches.workspaces, name, None)?.map(|w| View::plain(&*w).to_json())
        }
        ResourceList::IpPools => None,
    })
}

/// The page of `resource` for `query`.
async fn list(
    context: &Context,
    caller: &Caller,
    resource: ResourceList,
    namespace: Option<&str>,
    query: &ListQuery,
) -> Result<Page<JsonText>, Error> {
    let caches = &context.caches;
    let api = resource.api_resource();
    match resource {
        ResourceList::IpPools => return list_pools(context, caller, namespace, query).await,
        ResourceList::Namespaces => return namespaces::page(context, caller, query).await,
        ResourceList::Workspaces => {
            let objects = synced(&caches.workspaces)?.state();
            let visible = visible_objects(context, caller, &api, objects).await?;
            let views = visible.iter().map(|w| View::plain(&**w)).collect();
            return Ok(serialised(select(views, query, |_, _, _| None)));
        }
        _ => {}
    }
    let scope = Scope::resolve(context, caller, &api, namespace, query).await?;
    Ok(match resource {
        ResourceList::Pods => pods::page(context, &scope)?,
        ResourceList::Services => namespaced_page(
            &in_scope(&caches.services, &caches.service_index, &scope)?,
            &scope,
            View::plain,
        ),
        ResourceList::NetworkPolicies => namespaced_page(
            &synced(&caches.network_policies)?.state(),
            &scope,
            View::plain,
        ),
        ResourceList::NamespaceNetworkPolicies => nsnps::page(context, &scope)?,
        _ => Page {
            items: Vec::new(),
            total: 0,
            end: 0,
        },
    })
}

/// Filters, sorts (by creation time or name) and pages views; resource-specific filter keys are answered by
/// `extra`. A field selector (dynamic endpoints only) is evaluated on the object's JSON, so it costs a
/// serialisation per candidate.
fn select<'a, K: StoredMeta + Serialize>(
    views: Vec<View<'a, K>>,
    query: &ListQuery,
    extra: impl Fn(&View<'a, K>, &str, &str) -> Option<bool>,
) -> Page<View<'a, K>> {
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
        time: created(view.object),
        name: view.name(),
        namespace: view.namespace(),
    })
}

/// The page as returned: only its items are serialised.
fn serialised<K: StoredMeta + Serialize>(page: Page<View<'_, K>>) -> Page<JsonText> {
    Page {
        items: page
            .items
            .iter()
            .map(|v| JsonText::of(&v.to_json()))
            .collect(),
        total: page.total,
        end: page.end,
    }
}

/// The page `query` asks for of a remembered list, each shown item as returned.
fn shown_page<T>(
    list: &SortedPrefix<T>,
    query: &ListQuery,
    json: impl Fn(&T) -> JsonText,
) -> Page<JsonText> {
    let (start, end) = page_bounds(list.items.len(), query.page, query.limit);
    let shown = list.items.get(start..end).unwrap_or_default();
    Page {
        items: shown.iter().map(json).collect(),
        total: list.items.len(),
        end,
    }
}

fn created<K: Resource>(object: &K) -> Option<jiff::Timestamp> {
    object.meta().creation_timestamp.as_ref().map(|t| t.0)
}

/// The cached objects a namespaced list starts from: one namespace's from `index`, else all of them.
fn in_scope<K: Cached + StoredMeta>(
    cache: &Cache<K>,
    index: &SelectionIndex<K>,
    scope: &Scope<'_>,
) -> Result<Vec<Arc<K>>, Error> {
    let store = synced(cache)?;
    Ok(match scope.namespace {
        Some(namespace) => index.in_namespace(namespace),
        None => store.state(),
    })
}

fn namespaced_page<'a, K: Cached + StoredMeta + Serialize>(
    objects: &'a [Arc<K>],
    scope: &Scope<'_>,
    view: impl Fn(&'a K) -> View<'a, K>,
) -> Page<JsonText> {
    let views = objects
        .iter()
        .filter(|o| scope.covers(o.meta().namespace.as_deref().unwrap_or_default()))
        .map(|o| view(o))
        .collect();
    serialised(select(views, scope.query, |_, _, _| None))
}

/// v1alpha3 `ippools`: every pool (R1) or the namespace's usable pools (R3), filtered, sorted and paged.
async fn list_pools(
    context: &Context,
    caller: &Caller,
    namespace: Option<&str>,
    query: &ListQuery,
) -> Result<Page<JsonText>, Error> {
    let (pools, chosen): (PoolSet, Vec<String>) = match namespace {
        Some(namespace) => pools::usable_pools(context, caller, namespace).await?,
        None => {
            context
                .authorize(caller, &Access::to(Verb::List, &pools::pools()))
                .await?;
            let pools = PoolSet::load(context)?;
            let names = pools.facts.iter().map(|p| p.name.clone()).collect();
            (pools, names)
        }
    };
    let views = pools
        .objects
        .iter()
        .filter(|p| p.metadata.name.as_ref().is_some_and(|n| chosen.contains(n)))
        .map(|p| View::plain(&**p))
        .collect();
    let page = select(views, query, |_, _, _| None);
    let statuses: Vec<_> = {
        let occupancy = context.caches.occupancy.read();
        page.items
            .iter()
            .map(|view| occupancy.status(view.name()))
            .collect()
    };
    let items = page
        .items
        .iter()
        .zip(statuses)
        .map(|(view, status)| JsonText::of(&pools::pool_object(view.object, status)))
        .collect();
    Ok(Page {
        items,
        total: page.total,
        end: page.end,
    })
}
