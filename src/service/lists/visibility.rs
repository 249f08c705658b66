//! What a caller may see of a list (algorithms §9.12): everything with a cluster-wide `list`, else the namespaces
//! (namespaced resources) or the objects (cluster-scoped ones) they may read; nothing at all is a 403.

use std::collections::BTreeSet;
use std::sync::Arc;

use kube::api::ApiResource;

use crate::auth::{Access, Caller, Verb};
use crate::cluster::cache::Cached;
use crate::query::ListQuery;
use crate::service::{Context, Error, synced};

/// What a namespaced list works on: the caller's query and which namespaces it covers.
pub struct Scope<'q> {
    pub query: &'q ListQuery,
    /// The namespace from the URL; `None` for a cluster-wide list.
    pub namespace: Option<&'q str>,
    /// Namespaces the caller may list in; `None` for all.
    pub visible: Option<BTreeSet<String>>,
}

impl<'q> Scope<'q> {
    /// The scope of `query` on `resource` for `caller`: one namespace (403 unless they may list in it), or
    /// the namespaces they may list in (403 when there are none).
    pub async fn resolve(
        context: &Context,
        caller: &Caller,
        resource: &ApiResource,
        namespace: Option<&'q str>,
        query: &'q ListQuery,
    ) -> Result<Scope<'q>, Error> {
        let list = Access::to(Verb::List, resource);
        let visible = if let Some(namespace) = namespace {
            context
                .authorize(caller, &list.in_namespace(namespace))
                .await?;
            None
        } else if context.is_allowed(caller, &list).await? {
            None
        } else {
            let mut allowed = BTreeSet::new();
            for ns in synced(&context.caches.namespaces)?.state() {
                let name = ns.metadata.name.clone().unwrap_or_default();
                if context
                    .is_allowed(caller, &list.clone().in_namespace(&name))
                    .await?
                {
                    allowed.insert(name);
                }
            }
            if allowed.is_empty() {
                return Err(Error::Forbidden(
                    list.forbidden_message(&caller.identity.user),
                ));
            }
            Some(allowed)
        };
        Ok(Scope {
            query,
            namespace,
            visible,
        })
    }

    /// Whether objects of `namespace` are in scope.
    pub fn covers(&self, namespace: &str) -> bool {
        self.namespace.is_none_or(|ns| ns == namespace)
            && self.visible.as_ref().is_none_or(|v| v.contains(namespace))
    }
}

/// Cluster-scoped objects the caller may see: all with `list`, else those it may `get`; none → 403.
pub async fn visible_objects<K: Cached>(
    context: &Context,
    caller: &Caller,
    resource: &ApiResource,
    objects: Vec<Arc<K>>,
) -> Result<Vec<Arc<K>>, Error> {
    let list = Access::to(Verb::List, resource);
    if context.is_allowed(caller, &list).await? {
        return Ok(objects);
    }
    let mut visible = Vec::new();
    for object in objects {
        let name = object.meta().name.clone().unwrap_or_default();
        let get = Access::to(Verb::Get, resource).named(&name);
        if context.is_allowed(caller, &get).await? {
            visible.push(object);
        }
    }
    if visible.is_empty() {
        return Err(Error::Forbidden(
            list.forbidden_message(&caller.identity.user),
        ));
    }
    Ok(visible)
}
