//! Workloads as the caches keep them: name, namespace, uid, owner references and the pod template's annotations,
//! which is all that migration and the pod filters read (workloads are never listed). A ReplicaSet, Deployment,
//! StatefulSet, DaemonSet or CronJob carries a whole pod template and labels and annotations of its own (kilobytes
//! per object, and clusters keep ten old ReplicaSets per Deployment); only this much of it is kept.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use super::identifying;
use super::legacy::CronJobV1Beta1;
use super::list_watch::ItemError;
use super::protobuf::fields;

/// A kind whose objects carry a pod template.
pub trait PodTemplateOwner: Resource<DynamicType = ()> + DeserializeOwned + 'static {
    /// The protobuf field numbers from the object to its `PodTemplateSpec`, outermost first.
    const TEMPLATE: &'static [u32];

    /// The object's metadata and its pod template's annotations, taken out of it.
    fn into_parts(self) -> (ObjectMeta, BTreeMap<String, String>);
}

/// The annotations of a template, when there is one.
fn annotations_of(template: Option<PodTemplateSpec>) -> BTreeMap<String, String> {
    template
        .and_then(|t| t.metadata?.annotations)
        .unwrap_or_default()
}

impl PodTemplateOwner for ReplicaSet {
    /// `spec` = 2, `template` = 3.
    const TEMPLATE: &'static [u32] = &[2, 3];

    fn into_parts(self) -> (ObjectMeta, BTreeMap<String, String>) {
        (
            self.metadata,
            annotations_of(self.spec.and_then(|s| s.template)),
        )
    }
}

impl PodTemplateOwner for Deployment {
    /// `spec` = 2, `template` = 3.
    const TEMPLATE: &'static [u32] = &[2, 3];

    fn into_parts(self) -> (ObjectMeta, BTreeMap<String, String>) {
        (self.metadata, annotations_of(self.spec.map(|s| s.template)))
    }
}

impl PodTemplateOwner for StatefulSet {
    /// `spec` = 2, `template` = 3.
    const TEMPLATE: &'static [u32] = &[2, 3];

    fn into_parts(self) -> (ObjectMeta, BTreeMap<String, String>) {
        (self.metadata, annotations_of(self.spec.map(|s| s.template)))
    }
}

impl PodTemplateOwner for DaemonSet {
    /// `spec` = 2, `template` = 2.
    const TEMPLATE: &'static [u32] = &[2, 2];

    fn into_parts(self) -> (ObjectMeta, BTreeMap<String, String>) {
        (self.metadata, annotations_of(self.spec.map(|s| s.template)))
    }
}

impl PodTemplateOwner for CronJob {
    /// `spec` = 2, `jobTemplate` = 5, its `spec` = 2, `template` = 6.
    const TEMPLATE: &'static [u32] = &[2, 5, 2, 6];

    fn into_parts(self) -> (ObjectMeta, BTreeMap<String, String>) {
        let template = self
            .spec
            .and_then(|s| s.job_template.spec)
            .map(|s| s.template);
        (self.metadata, annotations_of(template))
    }
}

impl PodTemplateOwner for CronJobV1Beta1 {
    /// As `batch/v1`'s.
    const TEMPLATE: &'static [u32] = &[2, 5, 2, 6];

    fn into_parts(self) -> (ObjectMeta, BTreeMap<String, String>) {
        let annotations = self.template_annotations();
        (self.metadata, annotations)
    }
}

/// A cached workload of kind `K`.
pub struct Workload<K> {
    /// Its name, namespace, uid, resourceVersion and owner references.
    pub metadata: ObjectMeta,
    /// Its pod template's annotations.
    pub template_annotations: BTreeMap<String, String>,
    kind: PhantomData<fn() -> K>,
}

impl<K: PodTemplateOwner> From<K> for Workload<K> {
    fn from(object: K) -> Self {
        let (mut metadata, template_annotations) = object.into_parts();
        let owner_references = metadata.owner_references.take();
        Workload {
            metadata: ObjectMeta {
                owner_references,
                ..identifying(metadata)
            },
            template_annotations,
            kind: PhantomData,
        }
    }
}

impl<K: PodTemplateOwner> Workload<K> {
    /// A workload from its protobuf encoding (an item of a protobuf list), read field by field: no JSON and no
    /// full object in between. The buffer is not needed.
    pub fn from_protobuf(item: &[u8], _: &mut Vec<u8>) -> Result<Self, ItemError> {
        let metadata = fields::identity_and_owners(fields::message_at(item, &[fields::METADATA])?)?;
        let template = fields::message_at(item, K::TEMPLATE)?;
        let template_annotations =
            fields::annotations(fields::message_at(template, &[fields::METADATA])?)?;
        Ok(Workload {
            metadata,
            template_annotations,
            kind: PhantomData,
        })
    }
}

impl<K> Clone for Workload<K> {
    fn clone(&self) -> Self {
        Workload {
            metadata: self.metadata.clone(),
            template_annotations: self.template_annotations.clone(),
            kind: PhantomData,
        }
    }
}

impl<K: PodTemplateOwner> fmt::Debug for Workload<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(&K::kind(&()))
            .field("metadata", &self.metadata)
            .field("template_annotations", &self.template_annotations)
            .finish()
    }
}

impl<'de, K: PodTemplateOwner> Deserialize<'de> for Workload<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        K::deserialize(deserializer).map(Workload::from)
    }
}

resource_like!([K: PodTemplateOwner] Workload<K>, K);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_identity_owners_and_template_annotations_only() {
        let deployment: Workload<Deployment> = serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "demo", "uid": "u1", "managedFields": [{"manager": "kubectl"}],
                         "labels": {"app": "web"}, "annotations": {"deployment.kubernetes.io/revision": "3"},
                         "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "x", "uid": "u0", "controller": true}]},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"annotations": {"cni.projectcalico.org/ipv4pools": "[\"a\"]"}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}
        }))
        .unwrap();
        assert_eq!(deployment.metadata.name.as_deref(), Some("web"));
        assert!(deployment.metadata.managed_fields.is_none());
        assert_eq!(deployment.metadata.uid.as_deref(), Some("u1"));
        assert!(deployment.metadata.labels.is_none() && deployment.metadata.annotations.is_none());
        let owners = deployment.metadata.owner_references.as_deref().unwrap();
        assert_eq!(
            (owners[0].uid.as_str(), owners[0].controller),
            ("u0", Some(true))
        );
        assert_eq!(
            deployment.template_annotations["cni.projectcalico.org/ipv4pools"],
            "[\"a\"]"
        );
        assert_eq!(Workload::<Deployment>::plural(&()), "deployments");

        let cron_job: Workload<CronJob> = serde_json::from_value(json!({
            "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"},
            "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {
                "metadata": {"annotations": {"x": "y"}}, "spec": {"containers": []}}}}}
        }))
        .unwrap();
        assert_eq!(cron_job.template_annotations["x"], "y");

        let bare: Workload<ReplicaSet> =
            serde_json::from_value(json!({"metadata": {"name": "rs"}})).unwrap();
        assert!(bare.template_annotations.is_empty());
    }
}
