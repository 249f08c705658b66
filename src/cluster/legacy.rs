//! `batch/v1beta1` CronJob, the only CronJob API of Kubernetes 1.20 (batch/v1 arrived in 1.21). Only what
//! migration reads is modelled; the rest of the object is kept as stored.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `batch/v1beta1` CronJob spec: the job template is kept as raw JSON.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[kube(
    group = "batch",
    version = "v1beta1",
    kind = "CronJob",
    root = "CronJobV1Beta1",
    plural = "cronjobs",
    namespaced,
    crates(kube_core = "kube::core")
)]
#[serde(rename_all = "camelCase")]
pub struct CronJobV1Beta1Spec {
    /// The job template (`spec.template.metadata.annotations` is what migration reads).
    #[serde(default)]
    pub job_template: serde_json::Value,
    /// Everything else, as stored.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

impl CronJobV1Beta1 {
    /// `spec.jobTemplate.spec.template.metadata.annotations`.
    pub fn template_annotations(&self) -> BTreeMap<String, String> {
        self.spec.job_template["spec"]["template"]["metadata"]["annotations"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default()
    }
}
