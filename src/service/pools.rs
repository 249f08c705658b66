//! IP pools (api §1): pools with their occupancy status, migration targets, pools a namespace may use. Migration
//! and unbind-all are in [`super::migration`].

use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::ApiResource;
use kube::runtime::reflector::ObjectRef;

use super::lists::JsonText;
use super::{Context, Error, synced};
use crate::auth::{Access, Caller, Verb};
use crate::cluster::calico::IPPool;
use crate::cluster::occupancy::{OccupancyIndex, namespace_input_of, pool_facts};
use crate::domain::binding::{self, NamespaceInput};
use crate::domain::occupancy::PoolStatus;
use crate::domain::pool::Pool;

/// The cached pools, sorted by name, with their domain facts.
pub struct PoolSet {
    /// Cached objects, sorted by name.
    pub objects: Vec<Arc<IPPool>>,
    /// The domain's view, same order.
    pub facts: Vec<Pool>,
}

impl PoolSet {
    /// Every cached pool (empty when Calico is absent), or 503 before the cache synced.
    pub fn load(context: &Context) -> Result<Self, Error> {
        let mut objects = synced(&context.caches.ippools)?.state();
        objects.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        let facts = objects.iter().map(|p| pool_facts(p)).collect();
        Ok(Self { objects, facts })
    }

    /// The pool named `name`, or 404 with Kubernetes' message.
    pub fn get(&self, name: &str) -> Result<(&Arc<IPPool>, &Pool), Error> {
        self.objects
            .iter()
            .zip(&self.facts)
            .find(|(_, facts)| facts.name == name)
            .ok_or_else(|| Error::not_found(&pools(), name))
    }

    /// The `chosen` pools of this set with their occupancy status, in name order. The occupancy lock is held
    /// only to copy the statuses.
    pub fn with_statuses(
        &self,
        occupancy: &OccupancyIndex,
        chosen: &[&Pool],
    ) -> Vec<PoolWithStatus> {
        let chosen: Vec<(&Arc<IPPool>, &Pool)> = self
            .objects
            .iter()
            .zip(&self.facts)
            .filter(|(_, f)| chosen.iter().any(|c| c.name == f.name))
            .collect();
        let occupancy = occupancy.read();
        chosen
            .into_iter()
            .map(|(object, f)| PoolWithStatus {
                object: object.clone(),
                status: occupancy.status(&f.name).unwrap_or_default(),
            })
            .collect()
    }

    /// The api §1.0 objects of the `chosen` pools of this set, in name order; serialised without the
    /// occupancy lock.
    pub fn objects_of(&self, occupancy: &OccupancyIndex, chosen: &[&Pool]) -> Vec<Value> {
        self.with_statuses(occupancy, chosen)
            .into_iter()
            .map(|p| pool_object(&p.object, Some(p.status)))
            .collect()
    }
}

/// A cached pool and its occupancy status (all zero when the occupancy index has none yet).
pub struct PoolWithStatus {
    pub object: Arc<IPPool>,
    pub status: PoolStatus,
}

/// Calico's `ippools` resource.
pub fn pools() -> ApiResource {
    ApiResource::erase::<IPPool>(&())
}

/// The api §1.0 object: the stored pool with defaulted spec and the occupancy status (stored status keys kept).
pub fn pool_object(pool: &IPPool, status: Option<PoolStatus>) -> Value {
    let mut object = serde_json::to_value(pool).unwrap_or_else(|_| json!({}));
    object["apiVersion"] = pools().api_version.into();
    object["kind"] = "IPPool".into();
    if let Ok(spec) = serde_json::to_value(pool.spec.with_read_defaults()) {
        object["spec"] = spec;
    }
    let mut merged = match serde_json::to_value(status.unwrap_or_default()) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    if let Some(Value::Object(stored)) = object.get("status") {
        for (key, value) in stored {
            merged.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
    object["status"] = Value::Object(merged);
    object
}

/// `{"apiVersion":"crd.projectcalico.org/v1","kind":"IPPoolList","metadata":{},"items":[…]}`.
pub fn pool_list(items: Vec<Value>) -> Value {
    json!({"apiVersion": pools().api_version, "kind": "IPPoolList", "metadata": {}, "items": items})
}

/// The answer of [`list`], remembered with the occupancy generation it was computed at (every pool event moves
/// it too): a pool's status carries its namespaces, so building the answer costs far more than sending it.
#[derive(Default)]
pub struct PoolListMemo(Mutex<Option<(u64, JsonText)>>);

impl PoolListMemo {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(u64, JsonText)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// api §1.1: every pool with status, sorted by name, as a JSON array.
pub async fn list(context: &Context, caller: &Caller) -> Result<JsonText, Error> {
    context
        .authorize(caller, &Access::to(Verb::List, &pools()))
        .await?;
    let generation = context.caches.occupancy.generation();
    if let Some((at, text)) = &*context.pool_list.lock()
        && *at == generation
    {
        return Ok(text.clone());
    }
    let pools = PoolSet::load(context)?;
    let all: Vec<&Pool> = pools.facts.iter().collect();
    let text = JsonText::of(&pools.objects_of(&context.caches.occupancy, &all));
    *context.pool_list.lock() = Some((generation, text.clone()));
    Ok(text)
}

/// api §1.2: one pool with status.
pub async fn get(context: &Context, caller: &Caller, name: &str) -> Result<Value, Error> {
    context
        .authorize(caller, &Access::to(Verb::Get, &pools()).named(name))
        .await?;
    let pools = PoolSet::load(context)?;
    let (object, facts) = pools.get(name)?;
    let status = context.caches.occupancy.read().status(&facts.name);
    Ok(pool_object(object, status))
}

/// api §1.3: the pools `name` may be migrated to, as an `IPPoolList`.
pub async fn migration_targets(
    context: &Context,
    caller: &Caller,
    name: &str,
) -> Result<Value, Error> {
    context
        .authorize(caller, &Access::to(Verb::Get, &pools()).named(name))
        .await?;
    let pools = PoolSet::load(context)?;
    let (_, source) = pools.get(name)?;
    let targets = binding::migration_targets(source, &pools.facts);
    Ok(pool_list(
        pools.objects_of(&context.caches.occupancy, &targets),
    ))
}

/// api §1.5: the pools namespace `namespace` may use, as a bare array (the console's workload form maps over it).
pub async fn usable_by_namespace(
    context: &Context,
    caller: &Caller,
    namespace: &str,
) -> Result<Vec<Value>, Error> {
    let (pools, usable) = usable_pools(context, caller, namespace).await?;
    let usable: Vec<&Pool> = pools
        .facts
        .iter()
        .filter(|p| usable.contains(&p.name))
        .collect();
    Ok(pools.objects_of(&context.caches.occupancy, &usable))
}

/// Every cached pool, and the names of those `namespace` may use (403 unless the caller may get it).
pub async fn usable_pools(
    context: &Context,
    caller: &Caller,
    namespace: &str,
) -> Result<(PoolSet, Vec<String>), Error> {
    let namespaces = ApiResource::erase::<Namespace>(&());
    context
        .authorize(caller, &Access::to(Verb::Get, &namespaces).named(namespace))
        .await?;
    let input = namespace_input(context, namespace)?;
    let pools = PoolSet::load(context)?;
    let usable = binding::usable_pools(&input, &pools.facts)
        .iter()
        .map(|p| p.name.clone())
        .collect();
    Ok((pools, usable))
}

/// The domain's view of a cached namespace, or 404 `namespaces "<name>" not found`.
fn namespace_input(context: &Context, name: &str) -> Result<NamespaceInput, Error> {
    let store = synced(&context.caches.namespaces)?;
    let namespace = store
        .get(&ObjectRef::new(name))
        .ok_or_else(|| Error::not_found(&ApiResource::erase::<Namespace>(&()), name))?;
    Ok(namespace_input_of(&namespace))
}
