//! NamespaceNetworkPolicy lists: matched with their derived classification labels (algorithms §9.7), filtered and
//! sorted once per change of the policies, each shown policy serialised once per change.

use std::sync::{Arc, OnceLock};

use super::memo::{ListKey, ListMemo};
use super::view::nsnp_view;
use super::visibility::Scope;
use super::{JsonText, created, in_scope, shown_page};
use crate::cluster::kubesphere::NamespaceNetworkPolicy;
use crate::query::{Object, Page, SortKey, SortedPrefix, matches_query, page_bounds, sort_prefix};
use crate::service::{Context, Error};

/// A policy of a remembered list.
pub struct PolicyItem {
    policy: Arc<NamespaceNetworkPolicy>,
    /// The policy as returned, once shown.
    json: OnceLock<JsonText>,
}

impl PolicyItem {
    fn json(&self) -> JsonText {
        self.json
            .get_or_init(|| JsonText::of(&nsnp_view(&self.policy).to_json()))
            .clone()
    }
}

/// Sorted policy lists remembered between changes of the policies.
pub type PolicyListMemo = ListMemo<PolicyItem>;

/// The page of policies for `scope`.
pub fn page(context: &Context, scope: &Scope<'_>) -> Result<Page<JsonText>, Error> {
    let query = scope.query;
    let (_, wanted) = page_bounds(usize::MAX, query.page, query.limit);
    let generation = context.caches.nsnp_list_generation.current();
    let key = ListKey::new(scope.namespace, scope.visible.as_ref(), query);
    let list = context
        .nsnp_lists
        .get_or_evaluate(generation, key, wanted, |sorted| {
            evaluate(context, scope, sorted)
        })?;
    Ok(shown_page(&list, query, PolicyItem::json))
}

/// The policies in `scope` that its query keeps, the first `sorted` in its order.
fn evaluate(
    context: &Context,
    scope: &Scope<'_>,
    sorted: usize,
) -> Result<SortedPrefix<PolicyItem>, Error> {
    let caches = &context.caches;
    let query = scope.query;
    let kept: Vec<PolicyItem> = in_scope(
        &caches.namespace_network_policies,
        &caches.nsnp_index,
        scope,
    )?
    .into_iter()
    .filter(|policy| {
        let view = nsnp_view(policy);
        scope.covers(view.namespace())
            && matches_query(&view, query, |_, _| None)
            && query
                .field_selector
                .as_ref()
                .is_none_or(|fields| fields.matches(&view.to_json()))
    })
    .map(|policy| PolicyItem {
        policy,
        json: OnceLock::new(),
    })
    .collect();
    Ok(sort_prefix(kept, query, sorted, |item: &PolicyItem| {
        let meta = &item.policy.metadata;
        SortKey {
            time: created(&*item.policy),
            name: meta.name.as_deref().unwrap_or_default(),
            namespace: meta.namespace.as_deref().unwrap_or_default(),
        }
    }))
}
