//! A cached object as a list sees it: the object plus its effective labels (stored, virtual and derived).

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, json};

use crate::cluster::compact::{Labels, StoredMeta};
use crate::cluster::kubesphere::NamespaceNetworkPolicy;
use crate::cluster::occupancy::OccupancyIndex;
use crate::cluster::pod::CachedPod;
use crate::domain::nsnp;
use crate::domain::occupancy::PoolName;
use crate::query::{LabelLookup, LabelValue, Object};

/// The label that shows a pod's pool (algorithms §3).
pub const POOL_LABEL: &str = "ippool.network.kubesphere.io/name";

/// The pools of some pods (algorithms §3), copied out of the occupancy index (shared names, no text copied) under one
/// short read lock, so that filtering, sorting and serialising the pods never hold it (a writer waiting on it would
/// stall watch processing).
pub struct PodPools<'p>(HashMap<&'p str, HashMap<&'p str, Vec<PoolName>>>);

impl<'p> PodPools<'p> {
    /// The pools of `pods`; pods in no pool are left out.
    pub fn of(index: &OccupancyIndex, pods: &'p [Arc<CachedPod>]) -> Self {
        let occupancy = index.read();
        let mut pools: HashMap<&str, HashMap<&str, Vec<PoolName>>> = HashMap::new();
        for pod in pods {
            let (namespace, name) = pod_key(pod);
            let of_pod = occupancy.pools_of_pod(namespace, name);
            if !of_pod.is_empty() {
                pools
                    .entry(namespace)
                    .or_default()
                    .insert(name, of_pod.to_vec());
            }
        }
        PodPools(pools)
    }

    /// No pods' pools: every pod is in none.
    pub fn none() -> Self {
        PodPools(HashMap::new())
    }

    /// The pools of `pod`: empty when it is in none or was not copied.
    pub fn of_pod(&self, pod: &CachedPod) -> &[PoolName] {
        let (namespace, name) = pod_key(pod);
        self.0
            .get(namespace)
            .and_then(|pods| pods.get(name))
            .map_or(&[], Vec::as_slice)
    }
}

fn pod_key(pod: &CachedPod) -> (&str, &str) {
    let meta = &pod.metadata;
    (
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default(),
    )
}

/// A cached object with the labels a list matches and shows.
pub struct View<'a, K> {
    pub(super) object: &'a K,
    extra_labels: ExtraLabels<'a, K>,
    /// Pods: `pools(pod)`; empty for other kinds.
    pools: &'a [PoolName],
}

impl<'a, K: StoredMeta> View<'a, K> {
    /// An object whose only labels are its stored ones.
    pub fn plain(object: &'a K) -> Self {
        Self::new(object, Cow::Owned(BTreeMap::new()), &[])
    }

    /// A pod in `pools` (its virtual pool label shows the first), from [`PodPools::of_pod`].
    pub fn with_pools(object: &'a K, pools: &'a [PoolName]) -> Self {
        Self::new(object, Cow::Owned(BTreeMap::new()), pools)
    }

    /// An object with labels added to its stored ones (a stored label wins).
    pub fn with_labels(object: &'a K, extra_labels: &'a BTreeMap<String, String>) -> Self {
        Self::new(object, Cow::Borrowed(extra_labels), &[])
    }

    fn new(
        object: &'a K,
        extra_labels: Cow<'a, BTreeMap<String, String>>,
        pools: &'a [PoolName],
    ) -> Self {
        View {
            object,
            extra_labels: ExtraLabels::Given(extra_labels),
            pools,
        }
    }

    fn stored_labels(&self) -> Labels<'a> {
        self.object.stored_labels()
    }

    /// The pod's pools (algorithms §3); empty for other kinds.
    fn pools(&self) -> &'a [PoolName] {
        self.pools
    }

    /// Stored labels plus the virtual and derived ones (a pod's pool label shows its first pool).
    fn effective_labels(&self) -> BTreeMap<String, String> {
        let mut labels: BTreeMap<String, String> = self
            .stored_labels()
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        for (k, v) in self.extra_labels().iter() {
            labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
        if let Some(first) = self.pools().first() {
            labels
                .entry(POOL_LABEL.to_owned())
                .or_insert_with(|| first.to_string());
        }
        labels
    }
}

/// A NamespaceNetworkPolicy with its derived classification labels (algorithms §9.7), derived when a selector or the
/// response first reads them: a list of hundreds of policies derives them only for the page it shows.
pub fn nsnp_view(policy: &NamespaceNetworkPolicy) -> View<'_, NamespaceNetworkPolicy> {
    View {
        object: policy,
        extra_labels: ExtraLabels::Derived(nsnp_labels, OnceCell::new()),
        pools: &[],
    }
}

fn nsnp_labels(policy: &NamespaceNetworkPolicy) -> BTreeMap<String, String> {
    let spec = serde_json::to_value(&policy.spec).unwrap_or(Value::Null);
    let labels = policy.metadata.labels.clone().unwrap_or_default();
    nsnp::derived_labels(&labels, &spec)
}

/// Labels a view adds to an object's stored ones: given, or derived from the object on first use.
enum ExtraLabels<'a, K> {
    Given(Cow<'a, BTreeMap<String, String>>),
    Derived(
        fn(&K) -> BTreeMap<String, String>,
        OnceCell<BTreeMap<String, String>>,
    ),
}

impl<K> View<'_, K> {
    fn extra_labels(&self) -> &BTreeMap<String, String> {
        match &self.extra_labels {
            ExtraLabels::Given(labels) => labels,
            ExtraLabels::Derived(derive, labels) => labels.get_or_init(|| derive(self.object)),
        }
    }
}

impl<K: StoredMeta> LabelLookup for View<'_, K> {
    fn value(&self, key: &str) -> LabelValue<'_> {
        if let Some(value) = self.stored_labels().get(key) {
            return LabelValue::One(value);
        }
        if key == POOL_LABEL && !self.pools().is_empty() {
            return LabelValue::Set(self.pools());
        }
        match self.extra_labels().get(key) {
            Some(value) => LabelValue::One(value),
            None => LabelValue::Absent,
        }
    }
}

impl<K: StoredMeta> Object for View<'_, K> {
    fn name(&self) -> &str {
        self.object.meta().name.as_deref().unwrap_or_default()
    }
    fn namespace(&self) -> &str {
        self.object.meta().namespace.as_deref().unwrap_or_default()
    }
    fn uid(&self) -> &str {
        self.object.meta().uid.as_deref().unwrap_or_default()
    }
    fn labels(&self) -> &dyn LabelLookup {
        self
    }
    fn annotations(&self) -> &dyn LabelLookup {
        self.object.stored_annotations()
    }
    fn owner_uids(&self) -> Vec<&str> {
        self.object.owner_uids()
    }
    fn owner_kinds(&self) -> Vec<&str> {
        self.object.owner_kinds()
    }
}

impl<K: StoredMeta + Serialize> View<'_, K> {
    /// The object as returned: `apiVersion`, `kind` and effective labels, no managedFields.
    pub fn to_json(&self) -> Value {
        let mut value = serde_json::to_value(self.object).unwrap_or_else(|_| json!({}));
        let labels = self.effective_labels();
        if let Some(metadata) = value.get_mut("metadata").and_then(Value::as_object_mut) {
            metadata.remove("managedFields");
            if !labels.is_empty() {
                metadata.insert("labels".into(), json!(labels));
            }
        }
        value
    }
}
