//! Watch caches: one reflector per resource, fed by a watch that survives apiserver restarts and skips
//! objects that do not parse (a malformed custom resource is logged, never kills the watch).
//!
//! A failed watch is restarted with a full re-list after a backoff: kube-runtime's watcher would resume
//! silently (no event tells that it works again), while a re-list ends in `InitDone`, which both proves the
//! watch is back and drops objects deleted during the gap. How long a watch has been failing feeds
//! `/readyz` (api §5, check `watch`) and `/metrics`, with its restarts and the time since its last event.
//!
//! Optional APIs (api §0.9: Calico, NamespaceNetworkPolicy, Workspace) are rediscovered periodically: an
//! absent API is an empty, synced cache; when it appears its watch starts, when it goes its cache empties.

use std::fmt::Debug;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::utils::Backoff;
use kube::runtime::watcher;
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::list_watch::{ItemDecoder, ListWatchError, list_then_watch};
use super::store::{Store, Writer};

/// A resource type the product caches.
pub trait Cached:
    Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static
{
}
impl<K> Cached for K where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static
{
}

/// Where a cache stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum SyncState {
    /// The first full list has not arrived yet.
    Syncing = 0,
    /// The cache holds the cluster's state (and follows it).
    Synced = 1,
    /// The cluster does not serve this API: the cache is empty and counts as synced.
    Absent = 2,
}

/// One watch cache: a reflector [`Store`] plus its sync state.
pub struct Cache<K: Cached> {
    resource: ApiResource,
    store: Store<K>,
    state: Arc<AtomicU8>,
    watch: SharedWatchHealth,
}

/// Whether a watch works, and since when it does not (api §5, check `watch`). Times are passed in, so the
/// logic is testable without a clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WatchHealth {
    /// When the watch last delivered an event or completed a (re)list.
    last_success: Option<Instant>,
    /// When the current run of failures began; `None` while the watch works (an idle watch works).
    failing_since: Option<Instant>,
    /// Failures so far, each followed by a re-list.
    restarts: u64,
}

impl WatchHealth {
    /// An event arrived or a (re)list completed; returns whether the watch was failing until now.
    pub fn succeeded(&mut self, now: Instant) -> bool {
        self.last_success = Some(now);
        self.failing_since.take().is_some()
    }

    /// The watcher reported an error (the watch is restarted with a re-list); returns whether this starts a
    /// run of failures.
    pub fn failed(&mut self, now: Instant) -> bool {
        self.restarts += 1;
        let first = self.failing_since.is_none();
        self.failing_since.get_or_insert(now);
        first
    }

    /// The watch was stopped because its API went away: a run of failures ends with it.
    pub fn stopped(&mut self) {
        self.failing_since = None;
    }

    /// How long the current run of failures has lasted; zero while the watch works.
    pub fn failing_for(&self, now: Instant) -> Duration {
        self.failing_since
            .map_or(Duration::ZERO, |since| now.saturating_duration_since(since))
    }

    /// How long the watch has been failing, when it has been failing for longer than `window`.
    pub fn stale(&self, now: Instant, window: Duration) -> Option<Duration> {
        let failing = self.failing_for(now);
        (failing > window).then_some(failing)
    }

    /// How many times the watch failed and was restarted with a re-list.
    pub fn restarts(&self) -> u64 {
        self.restarts
    }

    /// When the watch last delivered an event or completed a (re)list.
    pub fn last_success(&self) -> Option<Instant> {
        self.last_success
    }

    /// Whether the watch is failing now, however briefly.
    pub fn is_failing(&self) -> bool {
        self.failing_since.is_some()
    }
}

/// A [`WatchHealth`] shared by the watch task (writer) and readiness (reader).
#[derive(Clone, Debug, Default)]
struct SharedWatchHealth(Arc<Mutex<WatchHealth>>);

impl SharedWatchHealth {
    fn update<T>(&self, f: impl FnOnce(&mut WatchHealth) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn get(&self) -> WatchHealth {
        self.update(|h| *h)
    }
}

impl<K: Cached> Cache<K> {
    /// A cache whose first list never arrives: a server still starting.
    #[cfg(test)]
    pub fn syncing() -> Self {
        Cache {
            resource: ApiResource::erase::<K>(&()),
            store: Writer::default().as_reader(),
            state: Arc::new(AtomicU8::new(SyncState::Syncing as u8)),
            watch: SharedWatchHealth::default(),
        }
    }

    /// The objects, read-only and shared (no copies).
    pub fn store(&self) -> &Store<K> {
        &self.store
    }

    /// `<plural>.<group>` (`pods` for the core group), as in Kubernetes messages.
    pub fn name(&self) -> String {
        resource_name(&self.resource)
    }

    /// Whether reads may be served from this cache.
    pub fn state(&self) -> SyncState {
        match self.state.load(Ordering::Acquire) {
            1 => SyncState::Synced,
            2 => SyncState::Absent,
            _ => SyncState::Syncing,
        }
    }

    /// True once the cache can be read (synced, or the API is absent).
    pub fn is_ready(&self) -> bool {
        self.state() != SyncState::Syncing
    }

    /// The health of the watch that feeds this cache.
    pub fn watch_health(&self) -> WatchHealth {
        self.watch.get()
    }
}

/// What every cache can tell without its type: name, readiness, size.
pub trait CacheInfo {
    /// `<plural>.<group>`.
    fn name(&self) -> String;
    /// `<plural>.<version>.<group>` (`<plural>.<version>` for the core group), as kubectl names one version.
    fn versioned_name(&self) -> String;
    /// Synced, or its API is absent.
    fn is_ready(&self) -> bool;
    /// Number of cached objects.
    fn object_count(&self) -> usize;
    /// Where it stands.
    fn state(&self) -> SyncState;
    /// The health of its watch.
    fn watch_health(&self) -> WatchHealth;
}

impl<K: Cached> CacheInfo for Cache<K> {
    fn name(&self) -> String {
        Cache::name(self)
    }
    fn versioned_name(&self) -> String {
        let (plural, version) = (&self.resource.plural, &self.resource.version);
        match self.resource.group.as_str() {
            "" => format!("{plural}.{version}"),
            group => format!("{plural}.{version}.{group}"),
        }
    }
    fn is_ready(&self) -> bool {
        Cache::is_ready(self)
    }
    fn object_count(&self) -> usize {
        self.store.len()
    }
    fn state(&self) -> SyncState {
        Cache::state(self)
    }
    fn watch_health(&self) -> WatchHealth {
        Cache::watch_health(self)
    }
}

/// `<plural>.<group>`, or `<plural>` for the core group.
pub fn resource_name(resource: &ApiResource) -> String {
    if resource.group.is_empty() {
        resource.plural.clone()
    } else {
        format!("{}.{}", resource.plural, resource.group)
    }
}

/// Receives a cache's changes right after they reach its store: the way indexes stay current without scans.
pub trait Observer<K>: Send + Sync + 'static {
    /// An object was added or changed; `object` is the copy in the store.
    fn applied(&self, object: &Arc<K>);
    /// An object was deleted.
    fn deleted(&self, object: &K);
    /// The whole content was replaced: after a (re)list, or emptied because the API went away.
    fn replaced(&self, objects: &[Arc<K>]);
}

/// The writing side of a cache: the store's writer, its sync state and its observers.
struct Feed<K: Cached> {
    name: String,
    writer: Writer<K>,
    state: Arc<AtomicU8>,
    watch: SharedWatchHealth,
    observers: Vec<Arc<dyn Observer<K>>>,
}

impl<K: Cached> Feed<K> {
    /// An empty cache of `resource`, still syncing, and the feed that fills it for `observers`.
    fn new(resource: &ApiResource, observers: Vec<Arc<dyn Observer<K>>>) -> (Cache<K>, Self) {
        let writer: Writer<K> = Writer::default();
        let cache = Cache {
            resource: resource.clone(),
            store: writer.as_reader(),
            state: Arc::new(AtomicU8::new(SyncState::Syncing as u8)),
            watch: SharedWatchHealth::default(),
        };
        let feed = Feed {
            name: resource_name(resource),
            writer,
            state: cache.state.clone(),
            watch: cache.watch.clone(),
            observers,
        };
        (cache, feed)
    }

    /// Applies one raw watch event: parse, store, notify.
    fn apply(&mut self, event: watcher::Event<DynamicObject>) {
        if let Some(event) = parse_event::<K>(&self.name, &self.writer.as_reader(), event) {
            self.apply_parsed(event);
        }
    }

    /// Applies one watch event: store (without `metadata.managedFields`, api §0.6: kilobytes per object that no
    /// answer shows), notify.
    fn apply_parsed(&mut self, event: watcher::Event<K>) {
        let event = event.modify(|object| object.meta_mut().managed_fields = None);
        let done = matches!(event, watcher::Event::InitDone);
        self.writer.apply_watcher_event(&event);
        match &event {
            watcher::Event::Apply(object) => {
                // The stored copy, so that observers can keep it without copying the object.
                let stored = self.writer.as_reader().get(&ObjectRef::from_obj(object));
                if let Some(stored) = stored {
                    self.observers.iter().for_each(|o| o.applied(&stored));
                }
            }
            watcher::Event::Delete(object) => self.observers.iter().for_each(|o| o.deleted(object)),
            watcher::Event::InitDone => {
                let all = self.writer.as_reader().state();
                replace_in_observers(&self.observers, &all);
            }
            watcher::Event::Init | watcher::Event::InitApply(_) => {}
        }
        if done
            && self.state.swap(SyncState::Synced as u8, Ordering::AcqRel) != SyncState::Synced as u8
        {
            info!(resource = %self.name, objects = self.writer.as_reader().len(), "cache synced");
        }
    }

    /// Empties the cache and marks the API absent (its watch has stopped).
    fn clear_absent(&mut self) {
        self.writer.apply_watcher_event(&watcher::Event::Init);
        self.writer.apply_watcher_event(&watcher::Event::InitDone);
        self.observers.iter().for_each(|o| o.replaced(&[]));
        self.watch.update(WatchHealth::stopped);
        self.state.store(SyncState::Absent as u8, Ordering::Release);
    }
}

/// Objects in a list from which its observers rebuild at once, one thread each: at 100,000 pods the pod index and
/// the occupancy take about a quarter of a second each, the last step before the cache is synced.
const PARALLEL_REPLACE_OBJECTS: usize = 10_000;

/// Shows `objects` to every observer as the whole content.
fn replace_in_observers<K: Cached>(observers: &[Arc<dyn Observer<K>>], objects: &[Arc<K>]) {
    match observers {
        [first, rest @ ..] if !rest.is_empty() && objects.len() >= PARALLEL_REPLACE_OBJECTS => {
            std::thread::scope(|scope| {
                let helpers: Vec<_> = rest
                    .iter()
                    .map(|observer| scope.spawn(|| observer.replaced(objects)))
                    .collect();
                first.replaced(objects);
                for helper in helpers {
                    if let Err(panic) = helper.join() {
                        std::panic::resume_unwind(panic);
                    }
                }
            });
        }
        _ => observers.iter().for_each(|o| o.replaced(objects)),
    }
}

/// Fixed content for caches: raw objects as kube-apiserver serves them.
pub struct Content<'a>(pub &'a [serde_json::Value]);

impl Content<'_> {
    /// A synced cache of the objects of `K`'s `apiVersion` and `kind`, applied as one list through the watches'
    /// parsing (unparsable objects are skipped), then shown to `observers`.
    pub fn cache<K: Cached>(&self, observers: Vec<Arc<dyn Observer<K>>>) -> Cache<K> {
        let resource = ApiResource::erase::<K>(&());
        let (cache, mut feed) = Feed::new(&resource, observers);
        feed.apply(watcher::Event::Init);
        let objects = self.0.iter().filter(|o| {
            o["apiVersion"] == resource.api_version.as_str() && o["kind"] == resource.kind.as_str()
        });
        for object in objects {
            match serde_json::from_value::<DynamicObject>(object.clone()) {
                Ok(raw) => feed.apply(watcher::Event::InitApply(raw)),
                Err(error) => warn!(resource = %feed.name, %error, "skipping malformed object"),
            }
        }
        feed.apply(watcher::Event::InitDone);
        cache
    }
}

/// Whether a cache's API is always served (core Kubernetes) or may be missing (CRDs of other products).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presence {
    /// Always served.
    Required,
    /// Discovered at start and every `discovery_interval`.
    Optional,
}

/// How a cache lists (at start and after a failed watch).
pub enum Listing<K> {
    /// kube-runtime's watcher: JSON throughout.
    Json,
    /// A protobuf list whose items the function decodes, then a JSON watch (`list_watch`); JSON from the first
    /// time kube-apiserver does not serve it or it does not decode.
    Protobuf(ItemDecoder<K>),
}

impl<K> Clone for Listing<K> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K> Copy for Listing<K> {}

/// Starts a cache and, in `tasks`, the task that keeps it filled; the task ends when `stop` is cancelled.
/// `observers` see every change after it reaches the store.
pub fn start<K: Cached>(
    client: &Client,
    presence: Presence,
    listing: Listing<K>,
    discovery_interval: Duration,
    stop: &CancellationToken,
    tasks: &mut JoinSet<()>,
    observers: Vec<Arc<dyn Observer<K>>>,
) -> Cache<K> {
    let (client, stop) = (client.clone(), stop.clone());
    let resource = ApiResource::erase::<K>(&());
    let (cache, mut feed) = Feed::new(&resource, observers);
    match presence {
        Presence::Required => tasks.spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = run_watch(client, resource, presence, listing, &mut feed) => {}
            }
        }),
        Presence::Optional => tasks.spawn(supervise_optional(
            client,
            resource,
            feed,
            discovery_interval,
            stop,
        )),
    };
    cache
}

/// Watches forever, feeding parsed events to the store. After an error the watch is restarted with a
/// re-list, after kube-runtime's default backoff (0.8 s doubling to 30 s, reset by a completed re-list).
///
/// Lists are served from kube-apiserver's watch cache (`resourceVersion=0`, as client-go's informers do), not
/// paged out of etcd. Objects of APIs that may be absent (other products' CRDs, which kube-apiserver does not
/// validate) are parsed one by one, so that a malformed one is skipped; built-in kinds are decoded straight into
/// `K`, so a large list never exists as JSON trees.
async fn run_watch<K: Cached>(
    client: Client,
    resource: ApiResource,
    presence: Presence,
    mut listing: Listing<K>,
    feed: &mut Feed<K>,
) {
    let mut backoff = watcher::DefaultBackoff::default();
    let config = watcher::Config::default().any_semantic();
    loop {
        let mut events = match (presence, listing) {
            (Presence::Required, Listing::Protobuf(decode)) => {
                list_then_watch(client.clone(), decode).boxed()
            }
            (Presence::Required, Listing::Json) => {
                watcher(Api::<K>::all(client.clone()), config.clone())
                    .map_err(ListWatchError::from)
                    .boxed()
            }
            (Presence::Optional, _) => {
                let (name, cached) = (feed.name.clone(), feed.writer.as_reader());
                let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
                watcher(api, config.clone())
                    .filter_map(move |event| {
                        std::future::ready(match event {
                            Ok(event) => parse_event::<K>(&name, &cached, event).map(Ok),
                            Err(error) => Some(Err(ListWatchError::from(error))),
                        })
                    })
                    .boxed()
            }
        };
        while let Some(event) = events.next().await {
            match event {
                Ok(event) => {
                    let listed = matches!(event, watcher::Event::InitDone);
                    // A re-list only proves the watch works once it is complete.
                    let works =
                        !matches!(event, watcher::Event::Init | watcher::Event::InitApply(_));
                    feed.apply_parsed(event);
                    if listed {
                        backoff.reset();
                    }
                    if works && feed.watch.update(|h| h.succeeded(Instant::now())) {
                        info!(resource = %feed.name, "watch recovered");
                    }
                }
                Err(error) => {
                    if error.protobuf_unusable() {
                        warn!(resource = %feed.name, %error, "listing in JSON from now on");
                        listing = Listing::Json;
                    }
                    let now = Instant::now();
                    let (first, last_success) =
                        feed.watch.update(|h| (h.failed(now), h.last_success()));
                    if first {
                        let since_success = last_success.map(|t| now.duration_since(t));
                        warn!(resource = %feed.name, %error, ?since_success, "watch failed; re-listing with backoff");
                    } else {
                        debug!(resource = %feed.name, %error, "watch still failing");
                    }
                    break;
                }
            }
        }
        tokio::time::sleep(backoff.next().unwrap_or(Duration::from_secs(30))).await;
    }
}

/// Turns a watch event on raw objects into one on `K`. An object that does not parse is logged and
/// treated as absent: its cached copy (if any) is removed, so the cache never serves a stale version.
fn parse_event<K: Cached>(
    resource: &str,
    cached: &Store<K>,
    event: watcher::Event<DynamicObject>,
) -> Option<watcher::Event<K>> {
    Some(match event {
        watcher::Event::Init => watcher::Event::Init,
        watcher::Event::InitDone => watcher::Event::InitDone,
        watcher::Event::InitApply(obj) => watcher::Event::InitApply(parse_object(resource, obj)?),
        watcher::Event::Apply(obj) => {
            let key = object_ref::<K>(&obj);
            match parse_object::<K>(resource, obj) {
                Some(parsed) => watcher::Event::Apply(parsed),
                None => watcher::Event::Delete(K::clone(&*cached.get(&key)?)),
            }
        }
        watcher::Event::Delete(obj) => {
            watcher::Event::Delete(K::clone(&*cached.get(&object_ref::<K>(&obj))?))
        }
    })
}

fn object_ref<K: Cached>(obj: &DynamicObject) -> ObjectRef<K> {
    let name = obj.metadata.name.clone().unwrap_or_default();
    match &obj.metadata.namespace {
        Some(ns) => ObjectRef::new(&name).within(ns),
        None => ObjectRef::new(&name),
    }
}

/// Parses a raw object, dropping `metadata.managedFields` (api §0.6).
pub fn parse_object<K: Cached>(resource: &str, mut obj: DynamicObject) -> Option<K> {
    obj.metadata.managed_fields = None;
    let (namespace, name) = (obj.metadata.namespace.clone(), obj.metadata.name.clone());
    match obj.try_parse::<K>() {
        Ok(parsed) => Some(parsed),
        Err(error) => {
            warn!(resource, namespace, name, %error, "skipping malformed object");
            None
        }
    }
}

/// How soon discovery is retried after it failed (apiserver unreachable).
const DISCOVERY_RETRY: Duration = Duration::from_secs(2);

/// Keeps an optional API's cache in line with whether the cluster serves the API.
async fn supervise_optional<K: Cached>(
    client: Client,
    resource: ApiResource,
    feed: Feed<K>,
    interval: Duration,
    stop: CancellationToken,
) {
    let name = feed.name.clone();
    let mut idle = Some(feed);
    let mut watch: Option<(JoinHandle<Feed<K>>, CancellationToken)> = None;
    loop {
        let mut wait = interval;
        match served(&client, &resource).await {
            Ok(true) => {
                if let Some(mut feed) = idle.take() {
                    info!(resource = %name, "API is served; starting its watch");
                    feed.state
                        .store(SyncState::Syncing as u8, Ordering::Release);
                    let token = stop.child_token();
                    let (c, r, t) = (client.clone(), resource.clone(), token.clone());
                    let task = tokio::spawn(async move {
                        tokio::select! {
                            _ = t.cancelled() => {}
                            _ = run_watch(c, r, Presence::Optional, Listing::Json, &mut feed) => {}
                        }
                        feed
                    });
                    watch = Some((task, token));
                }
            }
            Ok(false) => {
                if let Some((task, token)) = watch.take() {
                    token.cancel();
                    match task.await {
                        Ok(feed) => idle = Some(feed),
                        Err(_) => return,
                    }
                }
                if let Some(feed) = idle
                    .as_mut()
                    .filter(|f| f.state.load(Ordering::Acquire) != SyncState::Absent as u8)
                {
                    feed.clear_absent();
                    warn!(
                        resource = %name,
                        "the cluster does not serve {}/{} {}: serving it as an empty collection until it appears",
                        resource.group, resource.version, resource.plural
                    );
                }
            }
            Err(error) => {
                warn!(resource = %name, %error, "cannot discover whether the API is served; retrying");
                wait = interval.min(DISCOVERY_RETRY);
            }
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(wait) => {}
        }
    }
    if let Some((_, token)) = watch {
        token.cancel();
    }
}

/// Whether the cluster serves `resource` (a 404 on the group version means no).
async fn served(client: &Client, resource: &ApiResource) -> Result<bool, kube::Error> {
    match client.list_api_group_resources(&resource.api_version).await {
        Ok(list) => Ok(list.resources.iter().any(|r| r.name == resource.plural)),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::calico::IPPool;
    use k8s_openapi::api::core::v1::Namespace;

    fn raw(value: serde_json::Value) -> DynamicObject {
        serde_json::from_value(value).unwrap()
    }

    fn pool(cidr: serde_json::Value) -> DynamicObject {
        raw(serde_json::json!({
            "apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool",
            "metadata": {"name": "p", "managedFields": [{"manager": "kubectl"}]},
            "spec": {"cidr": cidr, "futureField": {"x": 1}}
        }))
    }

    #[test]
    fn objects_are_parsed_without_managed_fields_and_keep_unknown_fields() {
        let parsed: IPPool = parse_object("ippools", pool("10.0.0.0/16".into())).unwrap();
        assert_eq!(parsed.spec.cidr, "10.0.0.0/16");
        assert!(parsed.metadata.managed_fields.is_none());
        assert_eq!(
            parsed.spec.other["futureField"],
            serde_json::json!({"x": 1})
        );
    }

    #[test]
    fn every_kind_is_stored_without_managed_fields() {
        use k8s_openapi::api::core::v1::Service;
        let service: Service = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "n", "managedFields": [{"manager": "kubectl"}]},
            "spec": {"selector": {"app": "web"}}
        }))
        .unwrap();
        assert!(service.metadata.managed_fields.is_some());
        let (cache, mut feed) = Feed::new(&ApiResource::erase::<Service>(&()), vec![]);
        feed.apply_parsed(watcher::Event::Init);
        feed.apply_parsed(watcher::Event::InitApply(service.clone()));
        feed.apply_parsed(watcher::Event::InitDone);
        feed.apply_parsed(watcher::Event::Apply(service));
        let stored = cache.store.get(&ObjectRef::new("web").within("n")).unwrap();
        assert!(stored.metadata.managed_fields.is_none());
        assert!(stored.spec.as_ref().unwrap().selector.is_some());
    }

    #[test]
    fn a_malformed_object_is_skipped_on_list() {
        let event = watcher::Event::InitApply(pool(5.into()));
        let empty = Writer::<IPPool>::default().as_reader();
        assert!(parse_event::<IPPool>("ippools", &empty, event).is_none());
    }

    #[test]
    fn a_malformed_update_removes_the_stale_copy() {
        let mut writer: Writer<IPPool> = Writer::default();
        let reader = writer.as_reader();
        for event in [
            watcher::Event::Init,
            watcher::Event::InitApply(pool("10.0.0.0/16".into())),
            watcher::Event::InitDone,
        ] {
            writer.apply_watcher_event(&parse_event::<IPPool>("ippools", &reader, event).unwrap());
        }
        assert_eq!(reader.len(), 1);
        let event =
            parse_event::<IPPool>("ippools", &reader, watcher::Event::Apply(pool(5.into())));
        let event = event.unwrap();
        assert!(matches!(event, watcher::Event::Delete(_)));
        writer.apply_watcher_event(&event);
        assert_eq!(reader.len(), 0);
    }

    #[test]
    fn deletes_of_unknown_objects_are_dropped() {
        let ns = raw(
            serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}}),
        );
        let empty = Writer::<Namespace>::default().as_reader();
        assert!(
            parse_event::<Namespace>("namespaces", &empty, watcher::Event::Delete(ns)).is_none()
        );
    }

    fn namespace(name: &str) -> DynamicObject {
        raw(
            serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
        )
    }

    /// Sees what replaced the content.
    #[derive(Default)]
    struct Replaced(Mutex<Vec<Vec<String>>>);

    impl Observer<Namespace> for Replaced {
        fn applied(&self, _: &Arc<Namespace>) {}
        fn deleted(&self, _: &Namespace) {}
        fn replaced(&self, objects: &[Arc<Namespace>]) {
            let mut names: Vec<String> = objects
                .iter()
                .filter_map(|n| n.metadata.name.clone())
                .collect();
            names.sort();
            self.0.lock().unwrap().push(names);
        }
    }

    #[test]
    fn a_relist_drops_objects_deleted_during_the_gap() {
        // What follows a 410 Gone or a restarted watch: a full list replaces the content.
        let replaced = Arc::new(Replaced::default());
        let writer: Writer<Namespace> = Writer::default();
        let reader = writer.as_reader();
        let mut feed = Feed {
            name: "namespaces".into(),
            writer,
            state: Arc::new(AtomicU8::new(SyncState::Syncing as u8)),
            watch: SharedWatchHealth::default(),
            observers: vec![replaced.clone()],
        };
        for event in [
            watcher::Event::Init,
            watcher::Event::InitApply(namespace("a")),
            watcher::Event::InitApply(namespace("b")),
            watcher::Event::InitDone,
        ] {
            feed.apply(event);
        }
        assert_eq!(reader.len(), 2);
        assert_eq!(feed.state.load(Ordering::Acquire), SyncState::Synced as u8);

        // `b` was deleted while the watch was down: the re-list does not hold it.
        feed.apply(watcher::Event::Init);
        feed.apply(watcher::Event::InitApply(namespace("a")));
        assert_eq!(
            reader.len(),
            2,
            "the old content is served until the list is complete"
        );
        feed.apply(watcher::Event::InitDone);
        let names: Vec<_> = reader
            .state()
            .iter()
            .map(|n| n.metadata.name.clone())
            .collect();
        assert_eq!(names, [Some("a".to_owned())]);
        assert_eq!(
            *replaced.0.lock().unwrap(),
            [vec!["a".to_owned(), "b".to_owned()], vec!["a".to_owned()]]
        );
    }

    #[test]
    fn every_observer_sees_a_large_list_whole() {
        // Large enough for the observers to rebuild on threads of their own.
        let names: Vec<String> = (0..PARALLEL_REPLACE_OBJECTS)
            .map(|i| format!("ns-{i:05}"))
            .collect();
        let objects: Vec<Arc<Namespace>> = names
            .iter()
            .map(|name| {
                let mut namespace = Namespace::default();
                namespace.metadata.name = Some(name.clone());
                Arc::new(namespace)
            })
            .collect();
        let observers: Vec<Arc<Replaced>> = (0..3).map(|_| Arc::default()).collect();
        let as_observers: Vec<Arc<dyn Observer<Namespace>>> = observers
            .iter()
            .map(|o| o.clone() as Arc<dyn Observer<Namespace>>)
            .collect();
        replace_in_observers(&as_observers, &objects);
        replace_in_observers(&as_observers, &objects[..2]);
        for observer in &observers {
            assert_eq!(
                *observer.0.lock().unwrap(),
                [names.clone(), names[..2].to_vec()]
            );
        }
    }

    #[test]
    fn only_a_watch_failing_for_longer_than_the_window_is_stale() {
        let window = Duration::from_secs(30);
        let start = Instant::now();
        let at = |seconds| start + Duration::from_secs(seconds);
        let mut health = WatchHealth::default();
        // Never failed, however long idle.
        assert_eq!(health.stale(at(3600), window), None);
        assert!(!health.succeeded(at(1)));
        assert_eq!(health.last_success(), Some(at(1)));
        assert_eq!(
            health.stale(at(3600), window),
            None,
            "an idle watch is not stale"
        );

        // Failing since 100 s: stale only once the window has passed, counted from the first failure.
        assert!(!health.is_failing());
        assert!(health.failed(at(100)));
        assert!(health.is_failing());
        assert!(!health.failed(at(120)));
        assert_eq!(health.stale(at(130), window), None);
        assert_eq!(health.stale(at(131), window), Some(Duration::from_secs(31)));

        // A success (a completed re-list) ends the run; a later failure starts a new window.
        assert!(health.succeeded(at(140)));
        assert_eq!(health.stale(at(200), window), None);
        assert!(health.failed(at(300)));
        assert_eq!(health.stale(at(320), window), None);
        assert_eq!(health.stale(at(331), window), Some(Duration::from_secs(31)));
        assert_eq!(health.last_success(), Some(at(140)));
    }

    #[test]
    fn failures_count_restarts_and_time_the_current_run() {
        let start = Instant::now();
        let at = |seconds| start + Duration::from_secs(seconds);
        let mut health = WatchHealth::default();
        assert_eq!(health.failing_for(at(10)), Duration::ZERO);
        health.failed(at(10));
        health.failed(at(12));
        assert_eq!(health.restarts(), 2);
        assert_eq!(health.failing_for(at(15)), Duration::from_secs(5));
        health.succeeded(at(16));
        assert_eq!(health.failing_for(at(20)), Duration::ZERO);
        assert_eq!(health.restarts(), 2, "restarts only ever grow");

        // A watch stopped while failing (its API went away) is not failing any more.
        health.failed(at(30));
        health.stopped();
        assert_eq!(health.failing_for(at(100)), Duration::ZERO);
        assert_eq!(health.restarts(), 3);
    }
}
