//! Namespace lists: the caller's visible namespaces, matched with their virtual binding labels (algorithms §4.2) and
//! shown with their stored labels only, filtered and sorted once per change of the namespaces or pools, each shown
//! namespace serialised once per change. The console writes a namespace back as it read it (docs/console.md): a
//! virtual label shown would be stored as a binding label.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::ApiResource;

use super::memo::{ListKey, ListMemo};
use super::view::View;
use super::visibility::visible_names;
use super::{JsonText, created, shown_page};
use crate::auth::Caller;
use crate::cluster::occupancy::namespace_input_of;
use crate::domain::binding::virtual_binding_labels;
use crate::query::{
    ListQuery, Page, SortKey, SortedPrefix, matches_query, page_bounds, sort_prefix,
};
use crate::service::pools::PoolSet;
use crate::service::{Context, Error, synced};

/// A namespace of a remembered list.
pub struct NamespaceItem {
    namespace: Arc<Namespace>,
    /// Its virtual binding labels, for matching.
    binding_labels: BTreeMap<String, String>,
    /// The namespace as returned, once shown.
    json: OnceLock<JsonText>,
}

impl NamespaceItem {
    fn view(&self) -> View<'_, Namespace> {
        View::with_labels(&self.namespace, &self.binding_labels)
    }

    fn json(&self) -> JsonText {
        self.json
            .get_or_init(|| JsonText::of(&View::plain(&*self.namespace).to_json()))
            .clone()
    }
}

/// Sorted namespace lists remembered between changes of the namespaces and pools.
pub type NamespaceListMemo = ListMemo<NamespaceItem>;

/// The page of namespaces for `query`.
pub async fn page(
    context: &Context,
    caller: &Caller,
    query: &ListQuery,
) -> Result<Page<JsonText>, Error> {
    let store = synced(&context.caches.namespaces)?;
    let names = || {
        store
            .state()
            .iter()
            .filter_map(|n| n.metadata.name.clone())
            .collect()
    };
    let api = ApiResource::erase::<Namespace>(&());
    let visible = visible_names(context, caller, &api, names).await?;
    let generation = context.caches.namespace_list_generation.current();
    let key = ListKey::new(None, visible.as_ref(), query);
    let (_, wanted) = page_bounds(usize::MAX, query.page, query.limit);
    let list = context
        .namespace_lists
        .get_or_evaluate(generation, key, wanted, |sorted| {
            evaluate(context, visible.as_ref(), query, sorted)
        })?;
    Ok(shown_page(&list, query, NamespaceItem::json))
}

/// The namespaces in `visible` (`None`: all) that `query` keeps, the first `sorted` in its order.
fn evaluate(
    context: &Context,
    visible: Option<&BTreeSet<String>>,
    query: &ListQuery,
    sorted: usize,
) -> Result<SortedPrefix<NamespaceItem>, Error> {
    let pools = PoolSet::load(context).map(|p| p.facts).unwrap_or_default();
    let kept: Vec<NamespaceItem> = synced(&context.caches.namespaces)?
        .state()
        .into_iter()
        .filter(|n| {
            let name = n.metadata.name.as_deref().unwrap_or_default();
            visible.is_none_or(|v| v.contains(name))
        })
        .map(|namespace| NamespaceItem {
            binding_labels: virtual_binding_labels(&namespace_input_of(&namespace), &pools),
            namespace,
            json: OnceLock::new(),
        })
        .filter(|item| {
            let view = item.view();
            matches_query(&view, query, |key, value| match key {
                "status" => Some(
                    item.namespace
                        .status
                        .as_ref()
                        .and_then(|s| s.phase.as_deref())
                        == Some(value),
                ),
                _ => None,
            }) && query
                .field_selector
                .as_ref()
                .is_none_or(|fields| fields.matches(&view.to_json()))
        })
        .collect();
    Ok(sort_prefix(kept, query, sorted, |item: &NamespaceItem| {
        SortKey {
            time: created(&*item.namespace),
            name: item.namespace.metadata.name.as_deref().unwrap_or_default(),
            namespace: "",
        }
    }))
}
