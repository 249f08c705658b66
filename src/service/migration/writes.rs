//! The writes of a migration or unbind, as the caller: namespace patches guarded by resourceVersion and
//! retried on conflict, workload patches, and an audit event for each.

use std::time::Instant;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::ApiResource;
use kube::runtime::reflector::ObjectRef;
use serde::Serialize;
use serde_json::Value;

use crate::auth::Caller;
use crate::cluster::cache::SyncState;
use crate::cluster::caller::CallerClient;
use crate::cluster::legacy::CronJobV1Beta1;
use crate::cluster::occupancy::namespace_input_of;
use crate::domain::binding::NamespaceInput;
use crate::domain::migration::{WorkloadChange, WorkloadKind};
use crate::service::Context;
use crate::service::audit::{self, Write};

/// Attempts per namespace patch before a conflict is reported (algorithms §4.4).
const NAMESPACE_ATTEMPTS: usize = 5;

/// A write that failed, as the summary's `errors` lists it.
#[derive(Debug, Serialize)]
pub struct WriteError {
    kind: &'static str,
    namespace: String,
    name: String,
    error: String,
}

impl std::fmt::Display for WriteError {
    /// `Namespace ns3: <error>` or `Deployment demo/web: <error>`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {}: {}", self.kind, self.name, self.error)
        } else {
            write!(
                f,
                "{} {}/{}: {}",
                self.kind, self.namespace, self.name, self.error
            )
        }
    }
}

/// The resource of a workload kind; CronJobs from `batch/v1` when the cluster serves it, else `batch/v1beta1`
/// (Kubernetes ≤ 1.20).
pub fn workload_resource(context: &Context, kind: WorkloadKind) -> ApiResource {
    match kind {
        WorkloadKind::Deployment => ApiResource::erase::<Deployment>(&()),
        WorkloadKind::StatefulSet => ApiResource::erase::<StatefulSet>(&()),
        WorkloadKind::DaemonSet => ApiResource::erase::<DaemonSet>(&()),
        WorkloadKind::CronJob if context.caches.cron_jobs.state() == SyncState::Synced => {
            ApiResource::erase::<CronJob>(&())
        }
        WorkloadKind::CronJob => ApiResource::erase::<CronJobV1Beta1>(&()),
    }
}

/// Writes as one caller, on behalf of one request.
pub struct Writer<'a> {
    context: &'a Context,
    client: CallerClient,
    caller: &'a Caller,
    request_id: &'a str,
}

impl<'a> Writer<'a> {
    /// A writer for `caller`'s request `request_id`.
    pub fn new(
        context: &'a Context,
        caller: &'a Caller,
        request_id: &'a str,
    ) -> Result<Self, crate::service::Error> {
        Ok(Self {
            context,
            client: context.caller_client(caller)?,
            caller,
            request_id,
        })
    }

    /// A JSON merge patch of a namespace, guarded by the cached resourceVersion; on 409 the namespace is read
    /// again, the patch recomputed by `recompute` (nothing left to do → done), and retried (algorithms §4.4).
    pub async fn patch_namespace(
        &self,
        name: &str,
        patch: &Value,
        recompute: impl Fn(&NamespaceInput) -> Option<Value>,
    ) -> Result<(), WriteError> {
        let resource = ApiResource::erase::<Namespace>(&());
        let cached = self
            .context
            .caches
            .namespaces
            .store()
            .get(&ObjectRef::new(name));
        let mut version = cached.and_then(|ns| ns.metadata.resource_version.clone());
        let mut patch = patch.clone();
        let mut last_error = String::new();
        for _ in 0..NAMESPACE_ATTEMPTS {
            let mut guarded = patch.clone();
            if let Some(version) = &version {
                guarded["metadata"]["resourceVersion"] = version.clone().into();
            }
            let started = Instant::now();
            let result = self.client.patch_namespace(name, &guarded).await;
            self.audit(&resource, "", name, audit::code_of(&result), started);
            match result {
                Ok(_) => return Ok(()),
                Err(kube::Error::Api(status)) if status.code == 409 => {
                    last_error = status.message.clone();
                    let fresh = match self.client.get_namespace(name).await {
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

    /// The JSON merge patch of one workload's pod template.
    pub async fn patch_workload(&self, change: &WorkloadChange) -> Result<(), WriteError> {
        let resource = workload_resource(self.context, change.kind);
        let started = Instant::now();
        let result = self
            .client
            .patch_namespaced(&resource, &change.namespace, &change.name, &change.patch)
            .await;
        let code = audit::code_of(&result);
        self.audit(&resource, &change.namespace, &change.name, code, started);
        result.map(|_| ()).map_err(|error| WriteError {
            kind: change.kind.kind(),
            namespace: change.namespace.clone(),
            name: change.name.clone(),
            error: error.to_string(),
        })
    }

    fn audit(
        &self,
        resource: &ApiResource,
        namespace: &str,
        name: &str,
        code: u16,
        started: Instant,
    ) {
        audit::record(&Write {
            request: audit::Request::PartOf(self.request_id),
            caller: self.caller,
            verb: "patch",
            resource,
            namespace,
            name,
            dry_run: false,
            code,
            started,
        });
    }
}
