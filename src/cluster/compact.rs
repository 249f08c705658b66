//! Compact forms of metadata that many cached objects carry: a few short strings each, where a `BTreeMap` node
//! and one allocation per `String` would cost several times the text.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use crate::query::{LabelLookup, LabelValue};

/// A string map (annotations) as one boxed slice sorted by key.
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
}
