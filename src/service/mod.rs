//! What each operation does, whichever surface asked (`/kapis`, the webhook, and later `/apis`):
//! authorize with SubjectAccessReviews, read the caches, call the domain, write as the caller. Services
//! return plain data and their own [`Error`]; the HTTP layer maps both to responses.

pub mod aggregated;
pub mod audit;
pub mod dynamic;
mod error;
pub mod lists;
pub mod migration;
pub mod pool_admission;
pub mod pools;

use std::sync::Arc;

use crate::cluster::store::Store;

pub use error::{Error, InvalidObject};

use crate::auth::{Access, Authorizer, Caller};
use crate::cluster::Caches;
use crate::cluster::cache::{Cache, Cached};
use crate::cluster::caller::CallerClient;
use crate::config::WriteIdentity;
use lists::{NamespaceListMemo, PodListMemo, PolicyListMemo};
use pools::PoolListMemo;

/// What the services read and write through: the caches, the authorizer, and the cluster connection that
/// writes on a caller's behalf start from.
pub struct Context {
    /// Watch caches and the indexes fed by them.
    pub caches: Arc<Caches>,
    /// SubjectAccessReviews, cached.
    pub authorizer: Arc<Authorizer>,
    /// The server's own cluster connection; writes swap in the caller's credential.
    kube_config: kube::Config,
    /// How writes present the caller (`auth.writeIdentity`).
    write_identity: WriteIdentity,
    /// Sorted pod lists remembered between cache changes.
    pod_lists: PodListMemo,
    /// Sorted namespace lists remembered between cache changes.
    namespace_lists: NamespaceListMemo,
    /// Sorted NamespaceNetworkPolicy lists remembered between cache changes.
    nsnp_lists: PolicyListMemo,
    /// The pool list remembered between occupancy changes.
    pool_list: PoolListMemo,
}

impl Context {
    /// Services over `caches`, asking `authorizer`, writing through the cluster of `kube_config` as the
    /// caller, presented per `write_identity`.
    pub fn new(
        caches: Arc<Caches>,
        authorizer: Arc<Authorizer>,
        kube_config: kube::Config,
        write_identity: WriteIdentity,
    ) -> Self {
        Self {
            caches,
            authorizer,
            kube_config,
            write_identity,
            pod_lists: PodListMemo::default(),
            namespace_lists: NamespaceListMemo::default(),
            nsnp_lists: PolicyListMemo::default(),
            pool_list: PoolListMemo::default(),
        }
    }

    /// Services over `caches` that authorize only `system:masters` and write to no cluster (writes fail as
    /// kube-apiserver being unreachable): serving fixed content, for tests and benchmarks.
    pub fn reading(caches: Arc<Caches>) -> Self {
        let nowhere = kube::Config::new(http::Uri::from_static("http://127.0.0.1:9"));
        Self::new(
            caches,
            Arc::new(Authorizer::masters_only()),
            nowhere,
            WriteIdentity::Auto,
        )
    }

    /// 403 unless `caller` may perform `access` (api §0.3).
    pub async fn authorize(&self, caller: &Caller, access: &Access) -> Result<(), Error> {
        if self.is_allowed(caller, access).await? {
            Ok(())
        } else {
            Err(Error::Forbidden(
                access.forbidden_message(&caller.identity.user),
            ))
        }
    }

    /// Whether `caller` may perform `access`; 503 when kube-apiserver cannot be asked.
    pub async fn is_allowed(&self, caller: &Caller, access: &Access) -> Result<bool, Error> {
        self.authorizer
            .allowed(&caller.identity, access)
            .await
            .map_err(|error| {
                // The cause is for operators, not callers.
                tracing::warn!(%error, "SubjectAccessReview failed");
                Error::Unavailable("cannot check permissions: kube-apiserver did not answer".into())
            })
    }

    /// A client that writes as `caller` (api §0.4).
    fn caller_client(&self, caller: &Caller) -> Result<CallerClient, Error> {
        CallerClient::new(&self.kube_config, caller, self.write_identity)
            .map_err(|e| Error::Internal(format!("cannot build a client for the caller: {e}")))
    }
}

/// The cache's store, or 503 while it has not synced (an absent API reads as empty).
pub fn synced<K: Cached>(cache: &Cache<K>) -> Result<&Store<K>, Error> {
    if cache.is_ready() {
        Ok(cache.store())
    } else {
        Err(Error::Unavailable(format!(
            "the server is not ready to serve {}",
            cache.name()
        )))
    }
}
