//! IP pools (api §1): occupancy, pools a namespace may use, migration targets, migration, unbind-all.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::{authorize, synced};
use crate::auth::{Access, Caller};
use crate::cluster::calico::IPPool;
pub use crate::cluster::occupancy::namespace_input_of;
use crate::cluster::occupancy::pool_facts;
use crate::domain::binding::{self, NamespaceInput};
use crate::domain::occupancy::{Occupancy, PoolStatus};
use crate::domain::pool::{Pool, default_spec};
use crate::http::{ApiError, AppState};

/// API group of Calico pools.
pub const CALICO_GROUP: &str = "crd.projectcalico.org";
/// `apiVersion` of Calico pools.
pub const CALICO_API_VERSION: &str = "crd.projectcalico.org/v1";

/// The cached pools, sorted by name, with their domain facts.
pub struct PoolSet {
    /// Cached objects, sorted by name.
    pub objects: Vec<Arc<IPPool>>,
    /// The domain's view, same order.
    pub facts: Vec<Pool>,
}

impl PoolSet {
    /// Every cached pool (empty when Calico is absent), or 503 before the cache synced.
    pub fn load(state: &AppState) -> Result<Self, ApiError> {
        let mut objects = synced(&state.caches.ippools)?.state();
        objects.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        let facts = objects.iter().map(|p| pool_facts(p)).collect();
        Ok(Self { objects, facts })
    }

    /// The pool named `name`, or 404 with Kubernetes' message.
    pub fn get(&self, name: &str) -> Result<(&Arc<IPPool>, &Pool), ApiError> {
        self.objects
            .iter()
            .zip(&self.facts)
            .find(|(_, facts)| facts.name == name)
            .ok_or_else(|| not_found(name))
    }

    /// The §1.0 objects of `facts` (a subset of this set), with status.
    pub fn objects_of(&self, occupancy: &Occupancy, chosen: &[&Pool]) -> Vec<Value> {
        self.objects
            .iter()
            .zip(&self.facts)
            .filter(|(_, f)| chosen.iter().any(|c| c.name == f.name))
            .map(|(object, facts)| {
                pool_object(object, occupancy.status(&facts.name), CALICO_API_VERSION)
            })
            .collect()
    }
}

/// 404 `ippools.crd.projectcalico.org "<name>" not found`.
pub fn not_found(name: &str) -> ApiError {
    ApiError::NotFound {
        resource: format!("ippools.{CALICO_GROUP}"),
        name: name.to_owned(),
    }
}

/// The api §1.0 object: the stored pool with defaulted spec and the occupancy status (stored status keys kept).
pub fn pool_object(pool: &IPPool, status: Option<PoolStatus>, api_version: &str) -> Value {
    let mut object = serde_json::to_value(pool).unwrap_or_else(|_| json!({}));
    object["apiVersion"] = api_version.into();
    object["kind"] = "IPPool".into();
    if let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) {
        default_spec(spec);
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
    json!({"apiVersion": CALICO_API_VERSION, "kind": "IPPoolList", "metadata": {}, "items": items})
}

/// §1.1: every pool with status, sorted by name.
pub async fn list(state: &AppState, caller: &Caller) -> Result<Vec<Value>, ApiError> {
    authorize(
        state,
        caller,
        &Access::resource("list", CALICO_GROUP, "ippools"),
    )
    .await?;
    let pools = PoolSet::load(state)?;
    let occupancy = state.caches.occupancy.read();
    let all: Vec<&Pool> = pools.facts.iter().collect();
    Ok(pools.objects_of(&occupancy, &all))
}

/// §1.2: one pool with status.
pub async fn get(state: &AppState, caller: &Caller, name: &str) -> Result<Value, ApiError> {
    authorize(
        state,
        caller,
        &Access::resource("get", CALICO_GROUP, "ippools").named(name),
    )
    .await?;
    let pools = PoolSet::load(state)?;
    let (object, facts) = pools.get(name)?;
    let status = state.caches.occupancy.read().status(&facts.name);
    Ok(pool_object(object, status, CALICO_API_VERSION))
}

/// §1.3: the pools `name` may be migrated to, as an `IPPoolList`.
pub async fn migration_targets(
    state: &AppState,
    caller: &Caller,
    name: &str,
) -> Result<Value, ApiError> {
    authorize(
        state,
        caller,
        &Access::resource("get", CALICO_GROUP, "ippools").named(name),
    )
    .await?;
    let pools = PoolSet::load(state)?;
    let (_, source) = pools.get(name)?;
    let targets = binding::migration_targets(source, &pools.facts);
    let occupancy = state.caches.occupancy.read();
    Ok(pool_list(pools.objects_of(&occupancy, &targets)))
}

/// §1.5: the pools namespace `namespace` may use, as an `IPPoolList`.
pub async fn usable_by_namespace(
    state: &AppState,
    caller: &Caller,
    namespace: &str,
) -> Result<Value, ApiError> {
    authorize(
        state,
        caller,
        &Access::resource("get", "", "namespaces").named(namespace),
    )
    .await?;
    let input = namespace_input(state, namespace)?;
    let pools = PoolSet::load(state)?;
    let usable = binding::usable_pools(&input, &pools.facts);
    let occupancy = state.caches.occupancy.read();
    Ok(pool_list(pools.objects_of(&occupancy, &usable)))
}

/// The domain's view of a cached namespace, or 404 `namespaces "<name>" not found`.
pub fn namespace_input(state: &AppState, name: &str) -> Result<NamespaceInput, ApiError> {
    let store = synced(&state.caches.namespaces)?;
    let namespace = store
        .get(&kube::runtime::reflector::ObjectRef::new(name))
        .ok_or_else(|| ApiError::NotFound {
            resource: "namespaces".into(),
            name: name.to_owned(),
        })?;
    Ok(namespace_input_of(&namespace))
}
