//! Pods as the cache keeps them: the metadata that filters, sort keys, occupancy and migration read (annotations
//! and owners in compact form), the handful of spec and status fields they read, and the response JSON serialised
//! once. A full `Pod` (about 10 KB in memory for a small pod) lives only while a watch event is decoded.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    Container, PersistentVolumeClaimVolumeSource, Pod, PodSpec, PodStatus, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};

use super::compact::{CompactMap, Labels, Owner, StoredMeta};
use super::list_watch::ItemError;
use super::object_json::ObjectJson;
use super::protobuf::{self, fields, pod_schema};
use crate::query::{LabelLookup, derived_status};

/// A cached pod.
#[derive(Clone, Debug, PartialEq)]
pub struct CachedPod {
    /// The pod's name, namespace, uid, resourceVersion (the watch resumes from it) and creation and deletion
    /// times; its labels, annotations and owners are the three fields below, and nothing else of its metadata is
    /// kept outside `json`.
    pub metadata: ObjectMeta,
    /// `metadata.labels`.
    pub labels: CompactMap,
    /// `metadata.annotations`.
    pub annotations: CompactMap,
    /// `metadata.ownerReferences`.
    pub owners: Box<[Owner]>,
    /// `spec.nodeName`.
    pub node_name: Option<String>,
    /// The `claimName`s of its `persistentVolumeClaim` volumes.
    pub claim_names: Vec<String>,
    /// `spec.hostNetwork`.
    pub host_network: bool,
    /// `status.phase`.
    pub phase: Option<String>,
    /// Its addresses: `status.podIPs`, else `status.podIP` (empty entries dropped).
    pub ips: Vec<String>,
    /// `status.startTime`.
    pub started: Option<Timestamp>,
    /// Running, Waiting, Error or Completed (algorithms §9.5), derived when the pod changed.
    pub status: &'static str,
    /// The pod as returned, without labels.
    pub json: ObjectJson,
}

impl From<Pod> for CachedPod {
    fn from(mut pod: Pod) -> Self {
        pod.metadata.managed_fields = None;
        let labels = pod.metadata.labels.take().unwrap_or_default().into();
        let json = ObjectJson::of(&pod);
        CachedPod::of(pod, labels, json)
    }
}

impl CachedPod {
    /// The cached form of `pod` (whose labels and managed fields are taken out), with its `labels` and stored
    /// text.
    fn of(pod: Pod, labels: CompactMap, json: ObjectJson) -> Self {
        let spec = pod.spec.as_ref();
        let status = pod.status.as_ref();
        let node_name = spec.and_then(|s| s.node_name.clone());
        let claim_names = spec
            .into_iter()
            .flat_map(|s| s.volumes.iter().flatten())
            .filter_map(|v| Some(v.persistent_volume_claim.as_ref()?.claim_name.clone()))
            .collect();
        let host_network = spec.and_then(|s| s.host_network) == Some(true);
        let phase = status.and_then(|s| s.phase.clone());
        let ips = addresses(&pod);
        let started = status.and_then(|s| s.start_time.as_ref()).map(|t| t.0);
        let derived = derived_status(&pod);
        let meta = pod.metadata;
        let metadata = ObjectMeta {
            name: meta.name,
            namespace: meta.namespace,
            uid: meta.uid,
            resource_version: meta.resource_version,
            creation_timestamp: meta.creation_timestamp,
            deletion_timestamp: meta.deletion_timestamp,
            ..ObjectMeta::default()
        };
        CachedPod {
            metadata,
            labels,
            annotations: meta.annotations.unwrap_or_default().into(),
            owners: meta
                .owner_references
                .into_iter()
                .flatten()
                .map(Owner::from)
                .collect(),
            node_name,
            claim_names,
            host_network,
            phase,
            ips,
            started,
            status: derived,
            json,
        }
    }
}

/// What a pod's cached form reads of its spec (the rest of the pod is only in its stored text).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReadSpec {
    node_name: Option<String>,
    host_network: Option<bool>,
    #[serde(default)]
    volumes: Vec<ReadVolume>,
    /// Only counted (the derived status shows `Init:<i>/<count>`).
    #[serde(default)]
    init_containers: Vec<IgnoredAny>,
}

/// A volume, for its claim.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReadVolume {
    persistent_volume_claim: Option<PersistentVolumeClaimVolumeSource>,
}

/// What a pod's cached form reads, from its stored text.
#[derive(Deserialize)]
struct ReadPod {
    #[serde(default)]
    metadata: ObjectMeta,
    spec: Option<ReadSpec>,
    status: Option<PodStatus>,
}

impl From<ReadPod> for Pod {
    /// A pod with what [`CachedPod::of`] reads.
    fn from(read: ReadPod) -> Self {
        Pod {
            metadata: read.metadata,
            spec: read.spec.map(|spec| PodSpec {
                node_name: spec.node_name,
                host_network: spec.host_network,
                volumes: Some(
                    spec.volumes
                        .into_iter()
                        .map(|v| Volume {
                            persistent_volume_claim: v.persistent_volume_claim,
                            ..Volume::default()
                        })
                        .collect(),
                ),
                init_containers: Some(vec![Container::default(); spec.init_containers.len()]),
                ..PodSpec::default()
            }),
            status: read.status,
        }
    }
}

/// `status.podIPs`, else `status.podIP`, without empty entries.
fn addresses(pod: &Pod) -> Vec<String> {
    let Some(status) = &pod.status else {
        return Vec::new();
    };
    let listed: Vec<String> = status
        .pod_ips
        .iter()
        .flatten()
        .map(|p| p.ip.clone())
        .filter(|ip| !ip.is_empty())
        .collect();
    if !listed.is_empty() {
        return listed;
    }
    status
        .pod_ip
        .iter()
        .filter(|ip| !ip.is_empty())
        .cloned()
        .collect()
}

impl CachedPod {
    /// A pod from its protobuf encoding (an item of a protobuf pod list), read as its JSON would be; `json` is
    /// a buffer to reuse.
    ///
    /// The stored text is written straight from the protobuf in the order and form the JSON path stores it
    /// (`protobuf::write_canonical_members`); the few fields kept apart are then read back from it, and the
    /// labels from the protobuf. No whole `Pod` is built or serialised.
    pub fn from_protobuf(item: &[u8], json: &mut Vec<u8>) -> Result<Self, ItemError> {
        json.clear();
        json.extend_from_slice(br#"{"apiVersion":"v1","kind":"Pod""#);
        protobuf::write_canonical_members(
            &pod_schema::POD,
            item,
            json,
            &mut false,
            &[fields::METADATA, fields::LABELS],
        )?;
        json.push(b'}');
        let read: ReadPod = serde_json::from_slice(json)?;
        let metadata = fields::message_at(item, &[fields::METADATA])?;
        let labels = fields::labels(metadata)?.into();
        Ok(CachedPod::of(
            read.into(),
            labels,
            ObjectJson::from_text(json),
        ))
    }

    /// The owner with `controller: true`.
    pub fn controller(&self) -> Option<&Owner> {
        self.owners.iter().find(|o| o.controller)
    }
}

impl StoredMeta for CachedPod {
    fn stored_labels(&self) -> Labels<'_> {
        Labels::Compact(&self.labels)
    }

    fn stored_annotations(&self) -> &dyn LabelLookup {
        &self.annotations
    }

    fn owner_uids(&self) -> Vec<&str> {
        self.owners.iter().map(Owner::uid).collect()
    }

    fn owner_kinds(&self) -> Vec<&str> {
        self.owners.iter().map(Owner::kind).collect()
    }
}

impl<'de> Deserialize<'de> for CachedPod {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Pod::deserialize(deserializer).map(CachedPod::from)
    }
}

resource_like!([] CachedPod, Pod);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_what_reads_need_and_the_response_without_managed_fields() {
        let wire = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "n", "labels": {"app": "web"}, "annotations": {"a": "1"},
                         "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "x", "uid": "u1"},
                                             {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u2", "controller": true}],
                         "resourceVersion": "7", "managedFields": [{"manager": "kubectl"}]},
            "spec": {"nodeName": "node-1", "hostNetwork": true, "containers": [{"name": "c", "image": "pause"}],
                     "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": "data"}}, {"name": "e", "emptyDir": {}}]},
            "status": {"phase": "Running", "podIP": "10.0.0.1", "podIPs": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}],
                       "startTime": "2026-03-02T10:00:00Z",
                       "containerStatuses": [{"name": "c", "ready": true, "restartCount": 0, "image": "pause", "imageID": "",
                                              "state": {"running": {}}}]}
        });
        let pod: CachedPod = serde_json::from_value(wire.clone()).unwrap();
        assert_eq!(pod.node_name.as_deref(), Some("node-1"));
        assert_eq!(pod.claim_names, ["data"]);
        assert!(pod.host_network);
        assert_eq!(pod.phase.as_deref(), Some("Running"));
        assert_eq!(pod.ips, ["10.0.0.1", "fd00::1"]);
        assert_eq!(pod.started, Some("2026-03-02T10:00:00Z".parse().unwrap()));
        assert_eq!(pod.status, "Running");
        assert!(pod.metadata.managed_fields.is_none());
        assert_eq!(pod.labels.get("app"), Some("web"));
        assert!(pod.metadata.labels.is_none());
        assert_eq!(pod.metadata.resource_version.as_deref(), Some("7"));
        assert_eq!(pod.annotations.get("a"), Some("1"));
        assert_eq!(pod.controller().map(Owner::name), Some("rs"));
        assert_eq!(pod.owners.len(), 2);

        let mut out = Vec::new();
        pod.json.write_with_labels([("app", "web")], &mut out);
        let mut expected = wire;
        expected["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("managedFields");
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&out).unwrap(),
            expected
        );
    }

    #[test]
    fn the_single_address_is_used_when_no_list_is_given() {
        let pod: CachedPod = serde_json::from_value(json!({
            "metadata": {"name": "p"}, "status": {"podIP": "10.0.0.2", "podIPs": [{"ip": ""}]}
        }))
        .unwrap();
        assert_eq!(pod.ips, ["10.0.0.2"]);
        assert_eq!(
            serde_json::from_value::<CachedPod>(json!({"metadata": {"name": "q"}}))
                .unwrap()
                .ips,
            Vec::<String>::new()
        );
    }
}
