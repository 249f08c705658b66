//! What a caller may see of a list (algorithms §9.12): everything with a cluster-wide `list`, else the namespaces
//! (namespaced resources) or the objects (cluster-scoped ones) they may read; nothing at all is a 403.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
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
            let names = synced(&context.caches.namespaces)?
                .state()
                .iter()
                .filter_map(|ns| ns.metadata.name.clone())
                .collect();
            let allowed = allowed_among(context, caller, names, |name| {
                list.clone().in_namespace(name)
            })
            .await?;
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

/// Which of a cluster-scoped resource's objects the caller may see: `None` (all) with a cluster-wide `list`, else
/// the `names` they may `get`; none → 403. `names` is only called when it is needed.
pub async fn visible_names(
    context: &Context,
    caller: &Caller,
    resource: &ApiResource,
    names: impl FnOnce() -> Vec<String>,
) -> Result<Option<BTreeSet<String>>, Error> {
    let list = Access::to(Verb::List, resource);
    if context.is_allowed(caller, &list).await? {
        return Ok(None);
    }
    let allowed = allowed_among(context, caller, names(), |name| {
        Access::to(Verb::Get, resource).named(name)
    })
    .await?;
    if allowed.is_empty() {
        return Err(Error::Forbidden(
            list.forbidden_message(&caller.identity.user),
        ));
    }
    Ok(Some(allowed))
}

/// Cluster-scoped objects the caller may see (see [`visible_names`]).
pub async fn visible_objects<K: Cached>(
    context: &Context,
    caller: &Caller,
    resource: &ApiResource,
    objects: Vec<Arc<K>>,
) -> Result<Vec<Arc<K>>, Error> {
    let names = || {
        objects
            .iter()
            .filter_map(|o| o.meta().name.clone())
            .collect()
    };
    Ok(
        match visible_names(context, caller, resource, names).await? {
            None => objects,
            Some(allowed) => objects
                .into_iter()
                .filter(|o| o.meta().name.as_ref().is_some_and(|n| allowed.contains(n)))
                .collect(),
        },
    )
}

/// SubjectAccessReviews in flight at once for one request: enough that a user with rights in 1,000 namespaces is
/// answered in well under a second, bounded so that one request cannot flood kube-apiserver.
const PARALLEL_REVIEWS: usize = 64;

/// The names among `names` for which `caller` may perform `access(name)`, with up to `PARALLEL_REVIEWS` reviews in
/// flight (answers are cached by the authorizer for `auth.cacheTTLSeconds`).
async fn allowed_among(
    context: &Context,
    caller: &Caller,
    names: Vec<String>,
    access: impl Fn(&str) -> Access,
) -> Result<BTreeSet<String>, Error> {
    let checks: Vec<(Access, String)> = names.into_iter().map(|n| (access(&n), n)).collect();
    let mut waiting = checks.iter();
    let mut running = FuturesUnordered::new();
    for (access, name) in waiting.by_ref().take(PARALLEL_REVIEWS) {
        running.push(check(context, caller, access, name));
    }
    let mut allowed = BTreeSet::new();
    while let Some((name, answer)) = running.next().await {
        if answer? {
            allowed.insert(name.to_owned());
        }
        if let Some((access, name)) = waiting.next() {
            running.push(check(context, caller, access, name));
        }
    }
    Ok(allowed)
}

/// One review, with the name it is about.
async fn check<'a>(
    context: &Context,
    caller: &Caller,
    access: &Access,
    name: &'a str,
) -> (&'a str, Result<bool, Error>) {
    (name, context.is_allowed(caller, access).await)
}
