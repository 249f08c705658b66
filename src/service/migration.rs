//! Pool migration and unbind-all (api §1.4, §1.6; algorithms §7, §8): plan over the caches, check every planned
//! write with a SubjectAccessReview, then write as the caller (namespaces first, with conflict retries).

use std::time::Instant;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;
use kube::api::ApiResource;
use serde_json::{Value, json};
use tracing::info;

use super::pools::{PoolSet, namespace_input_of};
use super::{authorize, synced};
use crate::auth::{Access, Caller};
use crate::cluster::cache::SyncState;
use crate::cluster::caller::CallerClient;
use crate::cluster::legacy::CronJobV1Beta1;
use crate::domain::binding::NamespaceInput;
use crate::domain::migration::{
    self, MigrationError, OwnerRef, ReplicaSetInput, WorkloadInput, WorkloadKind,
};

use crate::domain::unbind;
use crate::http::{ApiError, AppState};

/// Attempts per namespace patch before a conflict is reported (algorithms §4.4).
const NAMESPACE_ATTEMPTS: usize = 5;

/// What a caller asked to migrate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationRequest {
    /// Source pool name.
    pub old: String,
    /// Target pool name.
    pub new: String,
    /// Plan only.
    pub dry_run: bool,
}

/// A failed write of a migration or unbind.
struct WriteError {
    kind: &'static str,
    namespace: String,
    name: String,
    error: String,
}

impl WriteError {
    fn json(&self) -> Value {
        json!({"kind": self.kind, "namespace": self.namespace, "name": self.name, "error": self.error})
    }
}

/// api §1.4. Returns whether every write succeeded, and the response body.
pub async fn migrate(
    state: &AppState,
    caller: &Caller,
    request_id: &str,
    request: MigrationRequest,
) -> Result<(bool, Value), ApiError> {
    let pools = PoolSet::load(state)?;
    if !request.old.is_empty() && request.old != request.new {
        for name in [&request.old, &request.new] {
            authorize(
                state,
                caller,
                &Access::resource("get", super::pools::CALICO_GROUP, "ippools").named(name),
            )
            .await?;
        }
    }
    let (old, new) =
        migration::validate(&request.old, &request.new, &pools.facts).map_err(api_error)?;
    let plan = {
        let inputs = MigrationInputs::load(state)?;
        let occupancy = state.caches.occupancy.read();
        let new_unallocated = occupancy
            .status(&new.name)
            .map(|s| s.unallocated)
            .unwrap_or(0);
        let pods: Vec<migration::PodInput> = synced(&state.caches.pods)?
            .state()
            .iter()
            .map(|pod| {
                let namespace = pod.metadata.namespace.clone().unwrap_or_default();
                let name = pod.metadata.name.clone().unwrap_or_default();
                migration::PodInput {
                    pools: occupancy.pools_of_pod(&namespace, &name).to_vec(),
                    owner: controller_of(&pod.metadata),
                    phase: pod.status.as_ref().and_then(|s| s.phase.clone()),
                    deleting: pod.metadata.deletion_timestamp.is_some(),
                    host_network: pod.spec.as_ref().and_then(|s| s.host_network) == Some(true),
                    namespace,
                    name,
                }
            })
            .collect();
        migration::plan(migration::PlanInput {
            old,
            new,
            new_unallocated,
            namespaces: &inputs.namespaces,
            workloads: &inputs.workloads,
            replica_sets: &inputs.replica_sets,
            pods: &pods,
            pools: &pools.facts,
            now_rfc3339: &now_rfc3339(),
        })
    };

    for change in &plan.namespaces {
        authorize(state, caller, &patch_namespace_access(&change.name)).await?;
    }
    for change in &plan.workloads {
        let (group, plural) = (change.kind.group(), change.kind.plural());
        let access = Access::resource("patch", group, plural)
            .in_namespace(&change.namespace)
            .named(&change.name);
        authorize(state, caller, &access).await?;
    }

    let mut errors = Vec::new();
    if !request.dry_run {
        let client = caller_client(state, caller)?;
        for change in &plan.namespaces {
            let recompute =
                |ns: &NamespaceInput| migration::namespace_patch(ns, old, new, &pools.facts);
            let write = patch_namespace(
                state,
                &client,
                caller,
                request_id,
                &change.name,
                &change.patch,
                recompute,
            )
            .await;
            errors.extend(write.err());
        }
        let cron_jobs = cron_job_resource(state);
        for change in &plan.workloads {
            let resource = match change.kind {
                WorkloadKind::Deployment => ApiResource::erase::<Deployment>(&()),
                WorkloadKind::StatefulSet => ApiResource::erase::<StatefulSet>(&()),
                WorkloadKind::DaemonSet => ApiResource::erase::<DaemonSet>(&()),
                WorkloadKind::CronJob => cron_jobs.clone(),
            };
            let started = Instant::now();
            let result = client
                .patch_namespaced(&resource, &change.namespace, &change.name, &change.patch)
                .await;
            audit(
                caller,
                request_id,
                &resource,
                &change.namespace,
                &change.name,
                &result,
                started,
            );
            if let Err(error) = result {
                errors.push(WriteError {
                    kind: change.kind.kind(),
                    namespace: change.namespace.clone(),
                    name: change.name.clone(),
                    error: error.to_string(),
                });
            }
        }
    }
    let ok = errors.is_empty();
    let mut body = json!({
        "message": if ok { "success" } else { "partial failure" },
        "dryRun": request.dry_run,
        "oldippool": old.name,
        "newippool": new.name,
        "namespaces": plan.namespaces.iter().map(|n| n.name.clone()).collect::<Vec<_>>(),
        "workloads": plan.workloads,
        "skippedPods": plan.skipped_pods,
        "warnings": plan.warnings,
    });
    if !ok {
        body["errors"] = errors.iter().map(WriteError::json).collect();
    }
    Ok((ok, body))
}

/// api §1.6. Returns whether every write succeeded, and the response body.
pub async fn unbind(
    state: &AppState,
    caller: &Caller,
    request_id: &str,
    pool: &str,
    dry_run: bool,
) -> Result<(bool, Value), ApiError> {
    let pools = PoolSet::load(state)?;
    let namespaces = namespace_inputs(state)?;
    let targets = unbind::unbind_targets(pool, &namespaces, &pools.facts)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    for change in &targets {
        authorize(state, caller, &patch_namespace_access(&change.name)).await?;
    }
    let mut errors = Vec::new();
    if !dry_run {
        let client = caller_client(state, caller)?;
        for change in &targets {
            let recompute = |ns: &NamespaceInput| unbind::unbind_patch(ns, pool, &pools.facts);
            let (name, patch) = (&change.name, &change.patch);
            let write =
                patch_namespace(state, &client, caller, request_id, name, patch, recompute).await;
            errors.extend(write.err());
        }
    }
    let ok = errors.is_empty();
    let mut body = json!({
        "message": if ok { "success" } else { "partial failure" },
        "dryRun": dry_run,
        "ippool": pool,
        "namespaces": targets.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
    });
    if !ok {
        body["errors"] = errors.iter().map(WriteError::json).collect();
    }
    Ok((ok, body))
}

fn api_error(error: MigrationError) -> ApiError {
    match error {
        MigrationError::BadRequest(message) => ApiError::BadRequest(message),
        MigrationError::NotFound { resource, name } => ApiError::NotFound { resource, name },
    }
}

fn patch_namespace_access(name: &str) -> Access {
    Access::resource("patch", "", "namespaces").named(name)
}

fn caller_client(state: &AppState, caller: &Caller) -> Result<CallerClient, ApiError> {
    CallerClient::new(&state.kube_config, caller)
        .map_err(|e| ApiError::Internal(format!("cannot build a client for the caller: {e}")))
}

/// A JSON merge patch of a namespace, guarded by the cached resourceVersion; on 409 the namespace is read
/// again, the patch recomputed by `recompute` (nothing left to do → done), and retried (algorithms §4.4).
async fn patch_namespace(
    state: &AppState,
    client: &CallerClient,
    caller: &Caller,
    request_id: &str,
    name: &str,
    patch: &Value,
    recompute: impl Fn(&NamespaceInput) -> Option<Value>,
) -> Result<(), WriteError> {
    let resource = ApiResource::erase::<Namespace>(&());
    let cached = state
        .caches
        .namespaces
        .store()
        .get(&kube::runtime::reflector::ObjectRef::new(name));
    let mut version = cached.and_then(|ns| ns.metadata.resource_version.clone());
    let mut patch = patch.clone();
    let mut last_error = String::new();
    for _ in 0..NAMESPACE_ATTEMPTS {
        let mut guarded = patch.clone();
        if let Some(version) = &version {
            guarded["metadata"]["resourceVersion"] = version.clone().into();
        }
        let started = Instant::now();
        let result = client.patch_namespace(name, &guarded).await;
        audit(caller, request_id, &resource, "", name, &result, started);
        match result {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(status)) if status.code == 409 => {
                last_error = status.message.clone();
                let fresh = match client.get_namespace(name).await {
                    Ok(fresh) => fresh,
                    Err(error) => {
                        last_error = error.to_string();
                        break;
                    }
                };
                version = fresh.metadata.resource_version.clone();
                match recompute(&namespace_input_of(&fresh)) {
                    Some(next) => patch = next,
                    None => return Ok(()),
                }
            }
            Err(error) => {
                last_error = error.to_string();
                break;
            }
        }
    }
    Err(WriteError {
        kind: "Namespace",
        namespace: String::new(),
        name: name.to_owned(),
        error: last_error,
    })
}

/// One `audit` event per write performed on the caller's behalf (api §0.7).
fn audit<T>(
    caller: &Caller,
    parent_request_id: &str,
    resource: &ApiResource,
    namespace: &str,
    name: &str,
    result: &Result<T, kube::Error>,
    started: Instant,
) {
    let code = match result {
        Ok(_) => 200,
        Err(kube::Error::Api(status)) => status.code,
        Err(_) => 0,
    };
    info!(
        target: "audit",
        requestID = %uuid::Uuid::new_v4(),
        parentRequestID = parent_request_id,
        user = %caller.identity.user,
        groups = ?caller.identity.groups,
        verb = "patch",
        apiGroup = %resource.group,
        resource = %resource.plural,
        namespace,
        name,
        dryRun = false,
        code,
        latencyMs = started.elapsed().as_millis() as u64,
        "write"
    );
}

/// `batch/v1` when the cluster serves it, else `batch/v1beta1` (Kubernetes ≤ 1.20).
fn cron_job_resource(state: &AppState) -> ApiResource {
    if state.caches.cron_jobs.state() == SyncState::Synced {
        ApiResource::erase::<CronJob>(&())
    } else {
        ApiResource::erase::<CronJobV1Beta1>(&())
    }
}

fn controller_of(meta: &ObjectMeta) -> Option<OwnerRef> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|o: &&OwnerReference| o.controller == Some(true))
        .map(|o| OwnerRef {
            kind: o.kind.clone(),
            name: o.name.clone(),
        })
}

fn namespace_inputs(state: &AppState) -> Result<Vec<NamespaceInput>, ApiError> {
    Ok(synced(&state.caches.namespaces)?
        .state()
        .iter()
        .map(|ns| namespace_input_of(ns))
        .collect())
}

/// The cached objects migration plans over.
struct MigrationInputs {
    namespaces: Vec<NamespaceInput>,
    workloads: Vec<WorkloadInput>,
    replica_sets: Vec<ReplicaSetInput>,
}

impl MigrationInputs {
    fn load(state: &AppState) -> Result<Self, ApiError> {
        let caches = &state.caches;
        let mut workloads = Vec::new();
        let mut add =
            |kind: WorkloadKind,
             meta: &ObjectMeta,
             annotations: Option<&std::collections::BTreeMap<String, String>>| {
                workloads.push(WorkloadInput {
                    kind,
                    namespace: meta.namespace.clone().unwrap_or_default(),
                    name: meta.name.clone().unwrap_or_default(),
                    template_annotations: annotations.cloned().unwrap_or_default(),
                })
            };
        for d in synced(&caches.deployments)?.state() {
            let annotations = d
                .spec
                .as_ref()
                .and_then(|s| s.template.metadata.as_ref()?.annotations.as_ref());
            add(WorkloadKind::Deployment, d.meta(), annotations);
        }
        for s in synced(&caches.stateful_sets)?.state() {
            let annotations = s
                .spec
                .as_ref()
                .and_then(|s| s.template.metadata.as_ref()?.annotations.as_ref());
            add(WorkloadKind::StatefulSet, s.meta(), annotations);
        }
        for d in synced(&caches.daemon_sets)?.state() {
            let annotations = d
                .spec
                .as_ref()
                .and_then(|s| s.template.metadata.as_ref()?.annotations.as_ref());
            add(WorkloadKind::DaemonSet, d.meta(), annotations);
        }
        if caches.cron_jobs.state() == SyncState::Synced {
            for c in caches.cron_jobs.store().state() {
                let annotations = c.spec.as_ref().and_then(|s| {
                    s.job_template
                        .spec
                        .as_ref()?
                        .template
                        .metadata
                        .as_ref()?
                        .annotations
                        .as_ref()
                });
                add(WorkloadKind::CronJob, c.meta(), annotations);
            }
        } else {
            for c in synced(&caches.cron_jobs_v1beta1)?.state() {
                add(
                    WorkloadKind::CronJob,
                    c.meta(),
                    Some(&c.template_annotations()),
                );
            }
        }
        let replica_sets = synced(&caches.replica_sets)?
            .state()
            .iter()
            .map(|rs| ReplicaSetInput {
                namespace: rs.metadata.namespace.clone().unwrap_or_default(),
                name: rs.metadata.name.clone().unwrap_or_default(),
                owner: controller_of(&rs.metadata),
            })
            .collect();
        Ok(Self {
            namespaces: namespace_inputs(state)?,
            workloads,
            replica_sets,
        })
    }
}

fn now_rfc3339() -> String {
    let now = jiff::Timestamp::now();
    jiff::Timestamp::from_second(now.as_second())
        .map(|t| t.to_string())
        .unwrap_or_else(|_| now.to_string())
}
