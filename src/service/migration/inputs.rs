//! The domain's view of the cached objects a migration or unbind plans over.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::cluster::cache::SyncState;
use crate::cluster::occupancy::namespace_input_of;
use crate::domain::binding::NamespaceInput;
use crate::domain::migration::{OwnerRef, PodInput, ReplicaSetInput, WorkloadInput, WorkloadKind};
use crate::service::{Context, Error, synced};

/// Everything [`crate::domain::migration::plan`] reads besides the pools.
pub struct MigrationInputs {
    pub namespaces: Vec<NamespaceInput>,
    /// Deployments, StatefulSets, DaemonSets and CronJobs with their pod-template annotations.
    pub workloads: Vec<WorkloadInput>,
    /// ReplicaSets and their controllers, to find a pod's Deployment.
    pub replica_sets: Vec<ReplicaSetInput>,
    /// Every pod with its pools and controller.
    pub pods: Vec<PodInput>,
}

impl MigrationInputs {
    /// Reads the caches; 503 while one of them has not synced.
    pub fn load(context: &Context) -> Result<Self, Error> {
        let caches = &context.caches;
        let mut workloads = Vec::new();
        let mut add =
            |kind: WorkloadKind, meta: &ObjectMeta, annotations: &BTreeMap<String, String>| {
                workloads.push(WorkloadInput {
                    kind,
                    namespace: meta.namespace.clone().unwrap_or_default(),
                    name: meta.name.clone().unwrap_or_default(),
                    template_annotations: annotations.clone(),
                })
            };
        for d in synced(&caches.deployments)?.state() {
            add(
                WorkloadKind::Deployment,
                &d.metadata,
                &d.template_annotations,
            );
        }
        for s in synced(&caches.stateful_sets)?.state() {
            add(
                WorkloadKind::StatefulSet,
                &s.metadata,
                &s.template_annotations,
            );
        }
        for d in synced(&caches.daemon_sets)?.state() {
            add(
                WorkloadKind::DaemonSet,
                &d.metadata,
                &d.template_annotations,
            );
        }
        // batch/v1 where served (Kubernetes ≥ 1.21), else batch/v1beta1.
        if caches.cron_jobs.state() == SyncState::Synced {
            for c in caches.cron_jobs.store().state() {
                add(WorkloadKind::CronJob, &c.metadata, &c.template_annotations);
            }
        } else {
            for c in synced(&caches.cron_jobs_v1beta1)?.state() {
                add(WorkloadKind::CronJob, &c.metadata, &c.template_annotations);
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
        let pods = synced(&caches.pods)?.state();
        let pools: Vec<Vec<String>> = {
            let occupancy = caches.occupancy.read();
            pods.iter()
                .map(|pod| {
                    let meta = &pod.metadata;
                    let namespace = meta.namespace.as_deref().unwrap_or_default();
                    let name = meta.name.as_deref().unwrap_or_default();
                    let pools = occupancy.pools_of_pod(namespace, name);
                    pools.iter().map(ToString::to_string).collect()
                })
                .collect()
        };
        let pods = pods
            .iter()
            .zip(pools)
            .map(|(pod, pools)| {
                let namespace = pod.metadata.namespace.clone().unwrap_or_default();
                let name = pod.metadata.name.clone().unwrap_or_default();
                PodInput {
                    pools,
                    owner: pod.controller().map(|o| OwnerRef {
                        kind: o.kind().to_owned(),
                        name: o.name().to_owned(),
                    }),
                    phase: pod.phase.clone(),
                    deleting: pod.metadata.deletion_timestamp.is_some(),
                    host_network: pod.host_network,
                    namespace,
                    name,
                }
            })
            .collect();
        Ok(Self {
            namespaces: namespace_inputs(context)?,
            workloads,
            replica_sets,
            pods,
        })
    }
}

/// Every cached namespace, as the domain sees it.
pub fn namespace_inputs(context: &Context) -> Result<Vec<NamespaceInput>, Error> {
    Ok(synced(&context.caches.namespaces)?
        .state()
        .iter()
        .map(|ns| namespace_input_of(ns))
        .collect())
}

fn controller_of(meta: &ObjectMeta) -> Option<OwnerRef> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
        .map(|o| OwnerRef {
            kind: o.kind.clone(),
            name: o.name.clone(),
        })
}
