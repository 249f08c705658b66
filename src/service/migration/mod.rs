//! Pool migration and unbind-all (api §1.4, api §1.6; algorithms §7, algorithms §8): plan over the caches, check
//! every planned write with a SubjectAccessReview, then write as the caller (namespaces first, with conflict
//! retries).

mod inputs;
mod writes;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::ApiResource;
use serde_json::{Value, json};

use super::pools::{self, PoolSet};
use super::{Context, Error};
use crate::auth::{Access, Caller, Verb};
use crate::domain::binding::NamespaceInput;
use crate::domain::migration;
use crate::domain::unbind;
use inputs::{MigrationInputs, namespace_inputs};
use writes::{WriteError, Writer, workload_resource};

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

/// The answer of a migration or unbind: whether every write succeeded, and the summary to show.
pub struct Summary {
    /// No write failed.
    pub complete: bool,
    /// The response body (api §1.4, api §1.6), with `errors` when a write failed.
    pub body: Value,
    /// The failed writes, one line each (`Deployment demo/web: <error>`).
    pub failed_writes: Vec<String>,
}

impl Summary {
    fn new(mut body: Value, errors: Vec<WriteError>) -> Self {
        let complete = errors.is_empty();
        let failed_writes = errors.iter().map(ToString::to_string).collect();
        body["message"] = if complete {
            "success"
        } else {
            "partial failure"
        }
        .into();
        if !complete {
            body["errors"] = serde_json::to_value(errors).unwrap_or_default();
        }
        Summary {
            complete,
            body,
            failed_writes,
        }
    }
}

/// api §1.4: authorize, plan, check every planned write, then patch (nothing on a dry run).
pub async fn migrate(
    context: &Context,
    caller: &Caller,
    request_id: &str,
    request: MigrationRequest,
) -> Result<Summary, Error> {
    let pools = PoolSet::load(context)?;
    if !request.old.is_empty() && request.old != request.new {
        for name in [&request.old, &request.new] {
            let access = Access::to(Verb::Get, &pools::pools()).named(name);
            context.authorize(caller, &access).await?;
        }
    }
    let (old, new) = migration::validate(&request.old, &request.new, &pools.facts)?;
    let plan = {
        let inputs = MigrationInputs::load(context)?;
        let new_unallocated = context
            .caches
            .occupancy
            .read()
            .status(&new.name)
            .map(|s| s.unallocated)
            .unwrap_or(0);
        migration::plan(migration::PlanInput {
            old,
            new,
            new_unallocated,
            namespaces: &inputs.namespaces,
            workloads: &inputs.workloads,
            replica_sets: &inputs.replica_sets,
            pods: &inputs.pods,
            pools: &pools.facts,
            now_rfc3339: &now_rfc3339(),
        })
    };

    for change in &plan.namespaces {
        context
            .authorize(caller, &patch_namespace_access(&change.name))
            .await?;
    }
    for change in &plan.workloads {
        let resource = workload_resource(context, change.kind);
        let access = Access::to(Verb::Patch, &resource)
            .in_namespace(&change.namespace)
            .named(&change.name);
        context.authorize(caller, &access).await?;
    }

    let mut errors = Vec::new();
    if !request.dry_run {
        let writer = Writer::new(context, caller, request_id)?;
        for change in &plan.namespaces {
            let recompute =
                |ns: &NamespaceInput| migration::namespace_patch(ns, old, new, &pools.facts);
            let write = writer
                .patch_namespace(&change.name, &change.patch, recompute)
                .await;
            errors.extend(write.err());
        }
        for change in &plan.workloads {
            errors.extend(writer.patch_workload(change).await.err());
        }
    }
    let body = json!({
        "message": "",
        "dryRun": request.dry_run,
        "oldippool": old.name,
        "newippool": new.name,
        "namespaces": plan.namespaces.iter().map(|n| n.name.clone()).collect::<Vec<_>>(),
        "workloads": plan.workloads,
        "skippedPods": plan.skipped_pods,
        "warnings": plan.warnings,
    });
    Ok(Summary::new(body, errors))
}

/// api §1.6: remove `pool` from the bindings of every namespace (`pool` need not exist).
pub async fn unbind(
    context: &Context,
    caller: &Caller,
    request_id: &str,
    pool: &str,
    dry_run: bool,
) -> Result<Summary, Error> {
    let pools = PoolSet::load(context)?;
    let namespaces = namespace_inputs(context)?;
    let targets = unbind::unbind_targets(pool, &namespaces, &pools.facts)
        .map_err(|e| Error::BadRequest(e.to_string()))?;
    for change in &targets {
        context
            .authorize(caller, &patch_namespace_access(&change.name))
            .await?;
    }
    let mut errors = Vec::new();
    if !dry_run {
        let writer = Writer::new(context, caller, request_id)?;
        for change in &targets {
            let recompute = |ns: &NamespaceInput| unbind::unbind_patch(ns, pool, &pools.facts);
            let write = writer
                .patch_namespace(&change.name, &change.patch, recompute)
                .await;
            errors.extend(write.err());
        }
    }
    let body = json!({
        "message": "",
        "dryRun": dry_run,
        "ippool": pool,
        "namespaces": targets.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
    });
    Ok(Summary::new(body, errors))
}

fn patch_namespace_access(name: &str) -> Access {
    Access::to(Verb::Patch, &ApiResource::erase::<Namespace>(&())).named(name)
}

fn now_rfc3339() -> String {
    let now = jiff::Timestamp::now();
    jiff::Timestamp::from_second(now.as_second())
        .map(|t| t.to_string())
        .unwrap_or_else(|_| now.to_string())
}
