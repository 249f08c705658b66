//! A few fields of a protobuf object read straight into their cached form, with no JSON in between: what caches
//! that keep only an object's identity and a map or two need (workloads). Field numbers are those of Kubernetes'
//! `generated.proto`, the same the JSON tables in `pod_schema` use.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use super::{DecodeError, Fields, bytes_of, expect_bytes, expect_varint, string};

/// `ObjectMeta` field numbers.
mod object_meta {
    pub const NAME: u32 = 1;
    pub const NAMESPACE: u32 = 3;
    pub const UID: u32 = 5;
    pub const RESOURCE_VERSION: u32 = 6;
    pub const LABELS: u32 = 11;
    pub const ANNOTATIONS: u32 = 12;
    pub const OWNER_REFERENCES: u32 = 13;
}

/// `OwnerReference` field numbers.
mod owner_reference {
    pub const KIND: u32 = 1;
    pub const NAME: u32 = 3;
    pub const UID: u32 = 4;
    pub const API_VERSION: u32 = 5;
    pub const CONTROLLER: u32 = 6;
    pub const BLOCK_OWNER_DELETION: u32 = 7;
}

/// Every object's `metadata`, and a `PodTemplateSpec`'s.
pub const METADATA: u32 = 1;

/// `ObjectMeta.labels`.
pub const LABELS: u32 = object_meta::LABELS;

/// The message reached from `message` through the fields `path` (outermost first); empty when one is absent,
/// as an absent message reads as an empty one.
pub fn message_at<'a>(message: &'a [u8], path: &[u32]) -> Result<&'a [u8], DecodeError> {
    path.iter()
        .try_fold(message, |message, &number| bytes_of(message, number))
}

/// The name, namespace, uid and resourceVersion (each `None` when empty, as Go's JSON leaves them out) and the
/// owner references of the `ObjectMeta` encoded in `meta`.
pub fn identity_and_owners(meta: &[u8]) -> Result<ObjectMeta, DecodeError> {
    let mut identity = ObjectMeta::default();
    let mut owners = Vec::new();
    for field in Fields::new(meta) {
        let (number, value) = field?;
        let text = || non_empty(expect_bytes(number, value)?);
        match number {
            object_meta::NAME => identity.name = text()?,
            object_meta::NAMESPACE => identity.namespace = text()?,
            object_meta::UID => identity.uid = text()?,
            object_meta::RESOURCE_VERSION => identity.resource_version = text()?,
            object_meta::OWNER_REFERENCES => {
                owners.push(owner_reference(expect_bytes(number, value)?)?);
            }
            _ => {}
        }
    }
    identity.owner_references = (!owners.is_empty()).then_some(owners);
    Ok(identity)
}

/// The labels of the `ObjectMeta` encoded in `meta`.
pub fn labels(meta: &[u8]) -> Result<BTreeMap<String, String>, DecodeError> {
    string_map(meta, object_meta::LABELS)
}

/// The annotations of the `ObjectMeta` encoded in `meta`.
pub fn annotations(meta: &[u8]) -> Result<BTreeMap<String, String>, DecodeError> {
    string_map(meta, object_meta::ANNOTATIONS)
}

/// An `OwnerReference`: its four strings are always written; `controller` and `blockOwnerDeletion` are pointers,
/// present when set.
fn owner_reference(bytes: &[u8]) -> Result<OwnerReference, DecodeError> {
    let mut owner = OwnerReference::default();
    for field in Fields::new(bytes) {
        let (number, value) = field?;
        let text = || Ok::<_, DecodeError>(string(expect_bytes(number, value)?).into_owned());
        let flag = || Ok::<_, DecodeError>(Some(expect_varint(number, value)? != 0));
        match number {
            owner_reference::KIND => owner.kind = text()?,
            owner_reference::NAME => owner.name = text()?,
            owner_reference::UID => owner.uid = text()?,
            owner_reference::API_VERSION => owner.api_version = text()?,
            owner_reference::CONTROLLER => owner.controller = flag()?,
            owner_reference::BLOCK_OWNER_DELETION => owner.block_owner_deletion = flag()?,
            _ => {}
        }
    }
    Ok(owner)
}

/// The `map<string, string>` in field `number` of `message` (entries: key = 1, value = 2; a later entry for the
/// same key wins, as protobuf merges maps).
fn string_map(message: &[u8], number: u32) -> Result<BTreeMap<String, String>, DecodeError> {
    let mut map = BTreeMap::new();
    for field in Fields::new(message) {
        let (n, value) = field?;
        if n != number {
            continue;
        }
        let entry = expect_bytes(n, value)?;
        map.insert(
            string(bytes_of(entry, 1)?).into_owned(),
            string(bytes_of(entry, 2)?).into_owned(),
        );
    }
    Ok(map)
}

/// A string field, `None` when empty.
fn non_empty(bytes: &[u8]) -> Result<Option<String>, DecodeError> {
    Ok((!bytes.is_empty()).then(|| string(bytes).into_owned()))
}
