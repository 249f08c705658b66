//! A cache's list and watch with the initial list in protobuf: what the pod cache runs instead of kube-runtime's
//! watcher. The list is read from kube-apiserver's watch cache (`resourceVersion=0`) as `watcher` reads it, and
//! each item is decoded into the cached form as soon as its bytes arrive; the watch that follows is JSON, from the list's
//! resourceVersion, with bookmarks, and is resumed from the last version seen when kube-apiserver closes it. The
//! stream gives the events kube-runtime's watcher gives (`Init`, `InitApply`…, `InitDone`, then `Apply` and
//! `Delete`) and ends after its first error, like a failed watch in `cache::run_watch`.

use std::collections::VecDeque;

use bytes::Bytes;
use futures::stream::{BoxStream, Stream, StreamExt};
use http::{StatusCode, header};
use http_body_util::BodyExt;
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use kube::core::{Request, Status};
use kube::runtime::watcher;
use kube::{Client, Resource};
use thiserror::Error;

use super::cache::Cached;
use super::protobuf::{DecodeError, ListReader};

/// kube-apiserver's media type for protobuf.
const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

/// Seconds kube-apiserver keeps a watch open before closing it (kube-runtime's default); it is then resumed.
const WATCH_TIMEOUT_SECONDS: u32 = 290;

/// Decodes one item of a protobuf list (the item's bytes, without envelope) into a cached object, with a buffer
/// to reuse for its JSON.
pub type ItemDecoder<K> = fn(&[u8], &mut Vec<u8>) -> Result<K, ItemError>;

/// Items in one batch. A batch is decoded as a task of its own on the runtime's workers while the cache takes the
/// batches before it; 128 pods take about 4 ms, so a re-list while requests are served holds a worker no longer.
const BATCH_ITEMS: usize = 128;

/// Cores that decode at once, at most.
const MAX_DECODERS: usize = 4;

/// Why one item of a protobuf list could not be decoded.
#[derive(Debug, Error)]
pub enum ItemError {
    /// The protobuf is malformed.
    #[error(transparent)]
    Protobuf(#[from] DecodeError),
    /// The JSON it becomes is not an object of the cached kind.
    #[error("decoded object does not parse: {0}")]
    Json(#[from] serde_json::Error),
}

/// Why a list or watch stopped.
#[derive(Debug, Error)]
pub enum ListWatchError {
    /// The list request failed.
    #[error("list failed: {0}")]
    List(#[source] kube::Error),
    /// kube-apiserver answered the list with an error status.
    #[error("list answered {0}")]
    ListStatus(StatusCode),
    /// The list's body is not a protobuf list.
    #[error("protobuf list is malformed: {0}")]
    ListBody(#[from] DecodeError),
    /// An item of the list does not decode.
    #[error("protobuf list item does not decode: {0}")]
    Item(#[from] ItemError),
    /// A batch's decoding did not finish (it panicked, or the runtime is shutting down).
    #[error("protobuf list decoding stopped: {0}")]
    Decoder(#[source] tokio::task::JoinError),
    /// The watch request or its stream failed.
    #[error("watch failed: {0}")]
    Watch(#[source] kube::Error),
    /// kube-apiserver ended the watch with an error (410 Gone: the version is too old; a re-list follows).
    #[error("watch ended with {}: {}", .0.code, .0.message)]
    WatchStatus(Box<Status>),
    /// kube-runtime's watcher failed (caches listed in JSON).
    #[error(transparent)]
    Watcher(#[from] watcher::Error),
}

impl ListWatchError {
    /// Whether the protobuf list cannot work with this server (not served, or not decodable), so that JSON is
    /// used from now on.
    pub fn protobuf_unusable(&self) -> bool {
        match self {
            ListWatchError::ListStatus(status) => *status == StatusCode::NOT_ACCEPTABLE,
            ListWatchError::ListBody(_) | ListWatchError::Item(_) | ListWatchError::Decoder(_) => {
                true
            }
            _ => false,
        }
    }
}

/// The response's body, as it arrives.
type BodyChunks = BoxStream<'static, kube::Result<Bytes>>;

/// Asks kube-apiserver for every object at `url` in protobuf, from its watch cache.
async fn request_list(client: &Client, url: &str) -> Result<BodyChunks, ListWatchError> {
    let mut request = Request::new(url)
        .list(&ListParams::default().match_any())
        .map_err(|error| ListWatchError::List(kube::Error::BuildRequest(error)))?;
    request
        .headers_mut()
        .insert(header::ACCEPT, header::HeaderValue::from_static(PROTOBUF));
    let response = client
        .send(request.map(kube::client::Body::from))
        .await
        .map_err(ListWatchError::List)?;
    if !response.status().is_success() {
        return Err(ListWatchError::ListStatus(response.status()));
    }
    Ok(response.into_body().into_data_stream().boxed())
}

/// Every object of `K`: the list the stream makes, decoded as the stream decodes it.
pub async fn list_all<K: Cached>(
    client: &Client,
    decode: ItemDecoder<K>,
) -> Result<Vec<K>, ListWatchError> {
    let events = list_then_watch(client.clone(), decode);
    futures::pin_mut!(events);
    let mut objects = Vec::new();
    while let Some(event) = events.next().await {
        match event? {
            watcher::Event::InitApply(object) => objects.push(object),
            watcher::Event::InitDone => return Ok(objects),
            _ => {}
        }
    }
    Err(ListWatchError::ListBody(DecodeError::Truncated))
}

/// Batches decoded at once: one per core (at most [`MAX_DECODERS`]), plus one so that no core waits while the
/// cache takes a batch.
fn batches_in_flight() -> usize {
    std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, MAX_DECODERS)
        + 1
}

/// Decodes `items` in order, as a task: decoding is most of the CPU a large list costs. A task rather than a
/// blocking thread, which keeps its allocator pages until it exits 10 s after the list (up to 40 MB at `xl`).
fn decode_batch<K: Cached>(decode: ItemDecoder<K>, items: Vec<Bytes>) -> DecodingBatch<K> {
    tokio::spawn(async move {
        let mut buffer = Vec::new();
        items.iter().map(|item| decode(item, &mut buffer)).collect()
    })
}

/// A batch of items being decoded.
type DecodingBatch<K> = tokio::task::JoinHandle<Result<Vec<K>, ItemError>>;

/// The next batch of items as their bytes arrive: up to [`BATCH_ITEMS`], fewer at the end of the body (none once
/// it has ended).
async fn next_batch(
    body: &mut BodyChunks,
    reader: &mut ListReader,
) -> Result<Vec<Bytes>, ListWatchError> {
    let mut batch = Vec::new();
    while batch.len() < BATCH_ITEMS {
        match reader.next_item()? {
            Some(item) => batch.push(item),
            None => match body.next().await {
                Some(chunk) => reader.push(&chunk.map_err(ListWatchError::List)?),
                None => break,
            },
        }
    }
    Ok(batch)
}

/// Where the stream is.
enum Phase<K: Cached> {
    /// The list is to be made.
    List,
    /// The list is arriving: its items are decoded in batches as their bytes come in, several batches at once,
    /// and handed out in order.
    Listing {
        body: BodyChunks,
        reader: ListReader,
        /// Whether the body has ended (every item is in `decoding` or handed out).
        body_ended: bool,
        /// Batches decoded at once, at most.
        in_flight: usize,
        /// Batches being decoded, oldest first.
        decoding: VecDeque<DecodingBatch<K>>,
        decoded: std::vec::IntoIter<K>,
    },
    /// Watching from `resource_version`; `events` is `None` until the watch request is made.
    Watching {
        resource_version: String,
        events: Option<BoxStream<'static, kube::Result<WatchEvent<K>>>>,
    },
    /// An error was reported: the stream has ended.
    Ended,
}

impl<K: Cached> Phase<K> {
    /// The list's `body` is arriving.
    fn listing(body: BodyChunks) -> Self {
        Phase::Listing {
            body,
            reader: ListReader::default(),
            body_ended: false,
            in_flight: batches_in_flight(),
            decoding: VecDeque::new(),
            decoded: Vec::new().into_iter(),
        }
    }
}

/// The events of a protobuf list of every `K`, then of a JSON watch from it (module doc).
pub fn list_then_watch<K: Cached>(
    client: Client,
    decode: ItemDecoder<K>,
) -> impl Stream<Item = Result<watcher::Event<K>, ListWatchError>> + Send {
    futures::stream::unfold(Phase::<K>::List, move |phase| {
        let client = client.clone();
        async move {
            let (item, next) = step(&client, decode, phase).await;
            item.map(|item| (item, next))
        }
    })
}

/// The next event and the phase after it; `None` once the stream has ended.
async fn step<K: Cached>(
    client: &Client,
    decode: ItemDecoder<K>,
    mut phase: Phase<K>,
) -> (Option<Result<watcher::Event<K>, ListWatchError>>, Phase<K>) {
    loop {
        phase = match phase {
            Phase::List => {
                return match request_list(client, &K::url_path(&(), None)).await {
                    Ok(body) => (Some(Ok(watcher::Event::Init)), Phase::listing(body)),
                    Err(error) => (Some(Err(error)), Phase::Ended),
                };
            }
            Phase::Listing {
                mut body,
                mut reader,
                mut body_ended,
                in_flight,
                mut decoding,
                mut decoded,
            } => {
                if let Some(object) = decoded.next() {
                    return (
                        Some(Ok(watcher::Event::InitApply(object))),
                        Phase::Listing {
                            body,
                            reader,
                            body_ended,
                            in_flight,
                            decoding,
                            decoded,
                        },
                    );
                }
                // Keep the decoders busy: the batches after the one handed out next are decoded meanwhile.
                while !body_ended && decoding.len() < in_flight {
                    match next_batch(&mut body, &mut reader).await {
                        Ok(batch) if batch.is_empty() => body_ended = true,
                        Ok(batch) => decoding.push_back(decode_batch(decode, batch)),
                        Err(error) => return (Some(Err(error)), Phase::Ended),
                    }
                }
                let Some(oldest) = decoding.pop_front() else {
                    return match reader.finish() {
                        Ok(resource_version) => (
                            Some(Ok(watcher::Event::InitDone)),
                            Phase::Watching {
                                resource_version,
                                events: None,
                            },
                        ),
                        Err(error) => (Some(Err(error.into())), Phase::Ended),
                    };
                };
                match oldest.await {
                    Ok(Ok(objects)) => Phase::Listing {
                        body,
                        reader,
                        body_ended,
                        in_flight,
                        decoding,
                        decoded: objects.into_iter(),
                    },
                    Ok(Err(error)) => return (Some(Err(error.into())), Phase::Ended),
                    Err(error) => return (Some(Err(ListWatchError::Decoder(error))), Phase::Ended),
                }
            }
            Phase::Watching {
                resource_version,
                events: None,
            } => {
                // Bookmarks are asked for by default.
                let params = WatchParams::default().timeout(WATCH_TIMEOUT_SECONDS);
                match Api::<K>::all(client.clone())
                    .watch(&params, &resource_version)
                    .await
                {
                    Ok(events) => Phase::Watching {
                        resource_version,
                        events: Some(events.boxed()),
                    },
                    Err(error) => return (Some(Err(ListWatchError::Watch(error))), Phase::Ended),
                }
            }
            Phase::Watching {
                mut resource_version,
                events: Some(mut events),
            } => {
                let event = match events.next().await {
                    // kube-apiserver closed the watch (its timeout): resume from the last version seen.
                    None => {
                        phase = Phase::Watching {
                            resource_version,
                            events: None,
                        };
                        continue;
                    }
                    Some(Err(error)) => {
                        return (Some(Err(ListWatchError::Watch(error))), Phase::Ended);
                    }
                    Some(Ok(event)) => event,
                };
                let item = match event {
                    WatchEvent::Added(object) | WatchEvent::Modified(object) => {
                        resource_version = version_of(&object, resource_version);
                        watcher::Event::Apply(object)
                    }
                    WatchEvent::Deleted(object) => {
                        resource_version = version_of(&object, resource_version);
                        watcher::Event::Delete(object)
                    }
                    WatchEvent::Bookmark(bookmark) => {
                        phase = Phase::Watching {
                            resource_version: bookmark.metadata.resource_version,
                            events: Some(events),
                        };
                        continue;
                    }
                    WatchEvent::Error(status) => {
                        return (Some(Err(ListWatchError::WatchStatus(status))), Phase::Ended);
                    }
                };
                return (
                    Some(Ok(item)),
                    Phase::Watching {
                        resource_version,
                        events: Some(events),
                    },
                );
            }
            Phase::Ended => return (None, Phase::Ended),
        };
    }
}

/// `object`'s resourceVersion, or `current` when it has none.
fn version_of<K: Resource>(object: &K, current: String) -> String {
    object.meta().resource_version.clone().unwrap_or(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::protobuf::encode::list_body;
    use k8s_openapi::api::core::v1::Namespace;

    /// A protobuf list of `items` at resourceVersion 4242, as kube-apiserver sends it, in chunks of 1,000 bytes.
    fn body(items: &[Vec<u8>]) -> BodyChunks {
        let chunks: Vec<kube::Result<Bytes>> = list_body(items)
            .chunks(1000)
            .map(|chunk| Ok(Bytes::copy_from_slice(chunk)))
            .collect();
        futures::stream::iter(chunks).boxed()
    }

    /// A namespace named by the item's bytes; `bad` does not decode and `panic` panics.
    fn named(item: &[u8], _: &mut Vec<u8>) -> Result<Namespace, ItemError> {
        match item {
            b"bad" => Err(serde_json::from_slice::<serde_json::Value>(b"{")
                .unwrap_err()
                .into()),
            b"panic" => panic!("decoder bug"),
            name => {
                let mut namespace = Namespace::default();
                namespace.metadata.name = Some(String::from_utf8_lossy(name).into_owned());
                Ok(namespace)
            }
        }
    }

    /// The names handed out while listing `items`, and how the list ended: the resourceVersion to watch from, or
    /// the error.
    async fn list(items: &[Vec<u8>]) -> (Vec<String>, Result<String, ListWatchError>) {
        // Not contacted: listing a body makes no request.
        let client =
            Client::try_from(kube::Config::new("http://127.0.0.1:9".parse().unwrap())).unwrap();
        let mut phase = Phase::listing(body(items));
        let mut names = Vec::new();
        loop {
            let (event, next) = step(&client, named, phase).await;
            phase = next;
            match event {
                Some(Ok(watcher::Event::InitApply(namespace))) => {
                    names.push(namespace.metadata.name.unwrap());
                }
                Some(Ok(watcher::Event::InitDone)) => {
                    let Phase::Watching {
                        resource_version, ..
                    } = phase
                    else {
                        panic!("the list is followed by a watch");
                    };
                    return (names, Ok(resource_version));
                }
                Some(Err(error)) => return (names, Err(error)),
                other => panic!("unexpected event while listing: {other:?}"),
            }
        }
    }

    fn items(names: impl Iterator<Item = String>) -> Vec<Vec<u8>> {
        names.map(String::into_bytes).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_list_of_many_batches_is_handed_out_whole_and_in_order() {
        let names: Vec<String> = (0..BATCH_ITEMS * 6 + 7)
            .map(|i| format!("ns-{i}"))
            .collect();
        let (listed, end) = list(&items(names.iter().cloned())).await;
        assert_eq!(listed, names);
        assert_eq!(end.unwrap(), "4242", "watched from the list's version");

        let (listed, end) = list(&[]).await;
        assert!(listed.is_empty());
        assert_eq!(end.unwrap(), "4242", "an empty list");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_item_that_does_not_decode_ends_the_list_after_the_batches_before_it() {
        let mut names: Vec<String> = (0..BATCH_ITEMS * 3).map(|i| format!("ns-{i}")).collect();
        names[BATCH_ITEMS + 5] = "bad".to_owned();
        let (listed, end) = list(&items(names.iter().cloned())).await;
        assert_eq!(listed, names[..BATCH_ITEMS], "the first batch only");
        let error = end.unwrap_err();
        assert!(
            matches!(error, ListWatchError::Item(ItemError::Json(_))),
            "{error}"
        );
        assert!(error.protobuf_unusable(), "the cache lists in JSON instead");

        names[BATCH_ITEMS + 5] = "panic".to_owned();
        let (listed, end) = list(&items(names.iter().cloned())).await;
        assert_eq!(listed, names[..BATCH_ITEMS]);
        let error = end.unwrap_err();
        assert!(matches!(error, ListWatchError::Decoder(_)), "{error}");
        assert!(
            error.protobuf_unusable(),
            "a decoder bug falls back to JSON"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_list_cut_short_is_an_error() {
        let names: Vec<String> = (0..300).map(|i| format!("ns-{i}")).collect();
        let full = body(&items(names.iter().cloned()));
        let chunks: Vec<kube::Result<Bytes>> = full.collect().await;
        let cut = chunks.len() - 1;
        let mut phase = Phase::<Namespace>::listing(
            futures::stream::iter(chunks.into_iter().take(cut)).boxed(),
        );
        let client =
            Client::try_from(kube::Config::new("http://127.0.0.1:9".parse().unwrap())).unwrap();
        let mut listed = 0;
        loop {
            let (event, next) = step(&client, named, phase).await;
            phase = next;
            match event {
                Some(Ok(watcher::Event::InitApply(_))) => listed += 1,
                Some(Err(error)) => {
                    assert!(
                        matches!(error, ListWatchError::ListBody(DecodeError::Truncated)),
                        "{error}"
                    );
                    assert!(
                        listed > 0 && listed < names.len(),
                        "the items that arrived whole come first"
                    );
                    return;
                }
                other => panic!("a truncated list does not end well: {other:?}"),
            }
        }
    }
}
