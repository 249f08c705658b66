//! Compact forms of metadata that many cached objects carry: a few short strings each, where a `BTreeMap` node
//! and one allocation per `String` would cost several times the text.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;

use crate::query::selector::empty_labels;
use crate::query::{LabelLookup, LabelValue};

/// A string map (labels, annotations) sorted by key, as two allocations: its keys and values one after the other in
/// one text, and where each of them ends. A map of seven short entries keeps about 250 bytes instead of 450 as a
/// slice of boxed strings (one allocation per key and per value).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompactMap {
    /// Key, value, key, value, … in key order.
    text: Box<str>,
    /// The end offset in `text` of each key and value.
    ends: Box<[u32]>,
}

impl CompactMap {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        let (mut low, mut high) = (0, self.len());
        while low < high {
            let middle = low + (high - low) / 2;
            match self.part(2 * middle).cmp(key) {
                std::cmp::Ordering::Less => low = middle + 1,
                std::cmp::Ordering::Greater => high = middle,
                std::cmp::Ordering::Equal => return Some(self.part(2 * middle + 1)),
            }
        }
        None
    }

    /// The entries, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        (0..self.len()).map(|at| (self.part(2 * at), self.part(2 * at + 1)))
    }

    /// The number of entries.
    fn len(&self) -> usize {
        self.ends.len() / 2
    }

    /// Key or value number `at` (keys even, values odd).
    fn part(&self, at: usize) -> &str {
        let start = at
            .checked_sub(1)
            .and_then(|before| self.ends.get(before))
            .map_or(0, |&end| end as usize);
        let end = self.ends.get(at).map_or(start, |&end| end as usize);
        self.text.get(start..end).unwrap_or_default()
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
    /// A map whose text exceeds 4 GiB keeps the entries that fit (kube-apiserver refuses objects over 3 MiB).
    fn from(map: BTreeMap<String, String>) -> Self {
        let mut text = String::with_capacity(map.iter().map(|(k, v)| k.len() + v.len()).sum());
        let mut ends = Vec::with_capacity(2 * map.len());
        for (key, value) in &map {
            let (Ok(key_end), Ok(value_end)) = (
                u32::try_from(text.len() + key.len()),
                u32::try_from(text.len() + key.len() + value.len()),
            ) else {
                break;
            };
            text.push_str(key);
            text.push_str(value);
            ends.extend([key_end, value_end]);
        }
        CompactMap {
            text: text.into(),
            ends: ends.into(),
        }
    }
}

impl LabelLookup for CompactMap {
    fn value(&self, key: &str) -> LabelValue<'_> {
        self.get(key).map_or(LabelValue::Absent, LabelValue::One)
    }
}

/// What lists and migration read of a `metadata.ownerReferences` entry, its three strings in one allocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    /// `kind`, `name` and `uid`, one after the other.
    text: Box<str>,
    /// Where `kind` ends in `text`.
    kind_end: u32,
    /// Where `name` ends in `text`.
    name_end: u32,
    /// `controller: true`.
    pub controller: bool,
}

impl Owner {
    /// `kind`.
    pub fn kind(&self) -> &str {
        self.text.get(..self.kind_end as usize).unwrap_or_default()
    }

    /// `name`.
    pub fn name(&self) -> &str {
        let range = self.kind_end as usize..self.name_end as usize;
        self.text.get(range).unwrap_or_default()
    }

    /// `uid`.
    pub fn uid(&self) -> &str {
        self.text.get(self.name_end as usize..).unwrap_or_default()
    }
}

impl From<OwnerReference> for Owner {
    /// Strings beyond 4 GiB read as empty (kube-apiserver refuses objects over 3 MiB).
    fn from(owner: OwnerReference) -> Self {
        let kind_end = u32::try_from(owner.kind.len()).unwrap_or(0);
        let name_end = u32::try_from(owner.kind.len() + owner.name.len()).unwrap_or(kind_end);
        Owner {
            text: [owner.kind, owner.name, owner.uid].concat().into(),
            kind_end,
            name_end,
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
        assert_eq!(compact.len(), 3);
        assert_eq!(
            compact.iter().collect::<Vec<_>>(),
            [("a", "1"), ("b", "2"), ("c", "")]
        );
    }

    #[test]
    fn a_compact_map_finds_every_key_of_any_map() {
        let cases: [&[(&str, &str)]; 5] = [
            &[],
            &[("", "")],
            &[("", "empty key"), ("k", "")],
            &[
                ("a", "x"),
                ("ab", "y"),
                ("b", "z"),
                ("é", "ü"),
                ("z/z", "1/2"),
            ],
            &[
                ("app", "web"),
                ("pod-template-hash", "7d9f"),
                ("tier", "front"),
            ],
        ];
        for entries in cases {
            let map: BTreeMap<String, String> = entries
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let compact = CompactMap::from(map.clone());
            assert_eq!(compact.len(), map.len());
            for (key, value) in &map {
                assert_eq!(compact.get(key), Some(value.as_str()), "{entries:?}");
            }
            for absent in ["0", "aa", "c", "zz", "é0"] {
                assert_eq!(compact.get(absent), map.get(absent).map(String::as_str));
            }
            assert!(
                compact
                    .iter()
                    .eq(map.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            );
        }
    }

    #[test]
    fn an_owner_keeps_its_kind_name_and_uid() {
        let owner = Owner::from(OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: "web-7d9f".into(),
            uid: "u-1".into(),
            controller: Some(true),
            block_owner_deletion: None,
        });
        assert_eq!(
            (owner.kind(), owner.name(), owner.uid(), owner.controller),
            ("ReplicaSet", "web-7d9f", "u-1", true)
        );
        let empty = Owner::from(OwnerReference::default());
        assert_eq!((empty.kind(), empty.name(), empty.uid()), ("", "", ""));
        assert!(!empty.controller);
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
