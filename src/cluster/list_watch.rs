//! A cache's list and watch with the initial list in protobuf: what the pod cache runs instead of kube-runtime's
//! watcher. The list is read from kube-apiserver's watch cache (`resourceVersion=0`) as `watcher` reads it, and
//! each item is decoded into the cached form as soon as its bytes arrive; the watch that follows is JSON, from the list's
//! resourceVersion, with bookmarks, and is resumed from the last version seen when kube-apiserver closes it. The
//! stream gives the events kube-runtime's watcher gives (`Init`, `InitApply`…, `InitDone`, then `Apply` and
//! `Delete`) and ends after its first error, like a failed watch in `cache::run_watch`.

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

/// Items decoded at a time, across the machine's cores; the runtime's other tasks run between two batches, so a
/// large list does not hold a worker thread.
const BATCH_ITEMS: usize = 512;

/// Threads a batch is decoded on, at most.
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
            ListWatchError::ListBody(_) | ListWatchError::Item(_) => true,
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

/// Decodes `items` in order, split across up to [`MAX_DECODERS`] threads (one per core): decoding is most of
/// the CPU a large list costs, and kube-apiserver is done with the list by the time its bytes arrive.
fn decode_batch<K: Cached>(decode: ItemDecoder<K>, items: &[Bytes]) -> Result<Vec<K>, ItemError> {
    let decoders = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, MAX_DECODERS);
    let run = |part: &[Bytes]| {
        let mut buffer = Vec::new();
        part.iter()
            .map(|item| decode(item, &mut buffer))
            .collect::<Result<Vec<K>, ItemError>>()
    };
    if decoders == 1 {
        return run(items);
    }
    let mut parts = items.chunks(items.len().div_ceil(decoders));
    let first = parts.next().unwrap_or_default();
    std::thread::scope(|scope| {
        let helpers: Vec<_> = parts.map(|part| scope.spawn(move || run(part))).collect();
        let mut objects = run(first)?;
        for helper in helpers {
            match helper.join() {
                Ok(part) => objects.extend(part?),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        Ok(objects)
    })
}

/// Where the stream is.
enum Phase<K: Cached> {
    /// The list is to be made.
    List,
    /// The list is arriving: its objects are decoded in batches as their bytes come in, and handed out.
    Listing {
        body: BodyChunks,
        reader: ListReader,
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
                    Ok(body) => (
                        Some(Ok(watcher::Event::Init)),
                        Phase::Listing {
                            body,
                            reader: ListReader::default(),
                            decoded: Vec::new().into_iter(),
                        },
                    ),
                    Err(error) => (Some(Err(error)), Phase::Ended),
                };
            }
            Phase::Listing {
                mut body,
                mut reader,
                mut decoded,
            } => {
                if let Some(object) = decoded.next() {
                    return (
                        Some(Ok(watcher::Event::InitApply(object))),
                        Phase::Listing {
                            body,
                            reader,
                            decoded,
                        },
                    );
                }
                // The next batch: items as their bytes arrive, up to BATCH_ITEMS or the end of the body.
                let mut batch = Vec::new();
                let mut ended = false;
                while batch.len() < BATCH_ITEMS && !ended {
                    match reader.next_item() {
                        Ok(Some(item)) => batch.push(item),
                        Ok(None) => match body.next().await {
                            Some(Ok(chunk)) => reader.push(&chunk),
                            Some(Err(error)) => {
                                return (Some(Err(ListWatchError::List(error))), Phase::Ended);
                            }
                            None => ended = true,
                        },
                        Err(error) => return (Some(Err(error.into())), Phase::Ended),
                    }
                }
                if batch.is_empty() {
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
                }
                match decode_batch(decode, &batch) {
                    Ok(objects) => {
                        // Between batches, the other tasks of this worker thread run.
                        tokio::task::yield_now().await;
                        Phase::Listing {
                            body,
                            reader,
                            decoded: objects.into_iter(),
                        }
                    }
                    Err(error) => return (Some(Err(error.into())), Phase::Ended),
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
