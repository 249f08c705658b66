//! Compact forms of metadata that many cached objects carry: a few short strings each, where a `BTreeMap` node
//! and one allocation per `String` would cost several times the text.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;

use crate::query::selector::empty_labels;
use crate::query::{LabelLookup, LabelValue};

/// A string map (labels, annotations) as one boxed slice sorted by key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompactMap(Box<[(Box<str>, Box<str>)]>);

impl CompactMap {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(k, _)| (**k).cmp(key))
            .ok()
            .map(|at| &*self.0[at].1)
    }

    /// The entries, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (&**k, &**v))
    }
}

/// What lists read of a cached kind's metadata (labels, annotations, owners), wherever it keeps them: in its
/// `ObjectMeta`, or (pods) in compact fields beside a trimmed one.
pub trait StoredMeta: Resource {
    /// The stored labels.
    fn stored_labels(&self) -> Labels<'_> {
        Labels::Map(self.meta().labels.as_ref())
    }

    /// `metadata.annotations`.
    fn stored_annotations(&self) -> &dyn LabelLookup {
        self.meta().annotations.as_ref().unwrap_or(empty_labels())
    }

    /// The `uid` of each owner reference.
    fn owner_uids(&self) -> Vec<&str> {
        owner_references(self.meta())
            .map(|o| o.uid.as_str())
            .collect()
    }

    /// The `kind` of each owner reference.
    fn owner_kinds(&self) -> Vec<&str> {
        owner_references(self.meta())
            .map(|o| o.kind.as_str())
            .collect()
    }
}

/// `metadata.ownerReferences`.
pub fn owner_references(meta: &ObjectMeta) -> impl Iterator<Item = &OwnerReference> {
    meta.owner_references.iter().flatten()
}

impl StoredMeta for k8s_openapi::api::core::v1::Namespace {}
/// Full pods: the reference side of the differential tests.
#[cfg(test)]
impl StoredMeta for k8s_openapi::api::core::v1::Pod {}
impl StoredMeta for k8s_openapi::api::core::v1::Service {}
impl StoredMeta for k8s_openapi::api::networking::v1::NetworkPolicy {}
impl StoredMeta for super::kubesphere::NamespaceNetworkPolicy {}
impl StoredMeta for super::kubesphere::Workspace {}
impl StoredMeta for super::calico::IPPool {}

/// Borrowed stored labels.
#[derive(Clone, Copy, Debug)]
pub enum Labels<'a> {
    /// `metadata.labels`.
    Map(Option<&'a BTreeMap<String, String>>),
    /// Labels kept apart from the metadata.
    Compact(&'a CompactMap),
}

impl<'a> Labels<'a> {
    /// The value of `key`.
    pub fn get(self, key: &str) -> Option<&'a str> {
        match self {
            Labels::Map(map) => map?.get(key).map(String::as_str),
            Labels::Compact(map) => map.get(key),
        }
    }

    /// The labels, sorted by key.
    pub fn iter(self) -> impl Iterator<Item = (&'a str, &'a str)> {
        let (map, compact) = match self {
            Labels::Map(map) => (map, None),
            Labels::Compact(compact) => (None, Some(compact)),
        };
        let map = map
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str()));
        map.chain(compact.into_iter().flat_map(CompactMap::iter))
    }
}

impl From<BTreeMap<String, String>> for CompactMap {
    fn from(map: BTreeMap<String, String>) -> Self {
        CompactMap(map.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }
}

impl LabelLookup for CompactMap {
    fn value(&self, key: &str) -> LabelValue<'_> {
        self.get(key).map_or(LabelValue::Absent, LabelValue::One)
    }
}

/// What lists and migration read of a `metadata.ownerReferences` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    /// `kind`.
    pub kind: Box<str>,
    /// `name`.
    pub name: Box<str>,
    /// `uid`.
    pub uid: Box<str>,
    /// `controller: true`.
    pub controller: bool,
}

impl From<OwnerReference> for Owner {
    fn from(owner: OwnerReference) -> Self {
        Owner {
            kind: owner.kind.into(),
            name: owner.name.into(),
            uid: owner.uid.into(),
            controller: owner.controller == Some(true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compact_map_finds_what_the_map_held() {
        let map: BTreeMap<String, String> = [("b", "2"), ("a", "1"), ("c", "")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let compact = CompactMap::from(map);
        assert_eq!(compact.get("a"), Some("1"));
        assert_eq!(compact.get("c"), Some(""));
        assert_eq!(compact.get("d"), None);
        assert_eq!(compact.get("b"), Some("2"));
        assert!(matches!(compact.value("b"), LabelValue::One("2")));
        assert!(matches!(compact.value("x"), LabelValue::Absent));
    }

    #[test]
    fn stored_labels_read_the_same_from_metadata_and_from_a_compact_map() {
        let map: BTreeMap<String, String> = [("tier", "web"), ("app", "a")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let compact = CompactMap::from(map.clone());
        for labels in [Labels::Map(Some(&map)), Labels::Compact(&compact)] {
            assert_eq!(labels.get("app"), Some("a"));
            assert_eq!(labels.get("x"), None);
            assert_eq!(
                labels.iter().collect::<Vec<_>>(),
                [("app", "a"), ("tier", "web")]
            );
        }
        assert_eq!(Labels::Map(None).iter().count(), 0);
        assert_eq!(Labels::Map(None).get("app"), None);
    }
}
