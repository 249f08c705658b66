//! Kubernetes Events of the reconcilers (algorithms §12.4): one per distinct reason and message per object
//! within the backoff window, so a failure retried every few seconds does not flood the Event API.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use tracing::{debug, warn};

/// How long an identical Event is not repeated: the longest backoff.
const DEDUP_WINDOW: Duration = Duration::from_secs(300);

/// The `source` of every Event.
pub const REPORTER: &str = "ks-network-controller";

/// Why an Event is raised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// An NSNP could not be rendered (Warning).
    TranslationFailed,
    /// An NSNP enforces no direction (Normal).
    NothingToEnforce,
    /// A NetworkPolicy with the desired name belongs to someone else (Warning).
    NameConflict,
    /// No DNS Service to allow egress to (Warning).
    DnsServiceNotFound,
    /// A binding entry names no pool and was dropped (Warning).
    IpPoolBindingDropped,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::TranslationFailed => "TranslationFailed",
            Reason::NothingToEnforce => "NothingToEnforce",
            Reason::NameConflict => "NameConflict",
            Reason::DnsServiceNotFound => "DNSServiceNotFound",
            Reason::IpPoolBindingDropped => "IPPoolBindingDropped",
        }
    }

    fn event_type(self) -> EventType {
        match self {
            Reason::NothingToEnforce => EventType::Normal,
            _ => EventType::Warning,
        }
    }
}

/// Publishes Events, deduplicated.
pub struct Events {
    recorder: Recorder,
    published: Mutex<HashMap<(String, Reason, String), Instant>>,
}

impl Events {
    /// Events written through `client`.
    pub fn new(client: Client) -> Self {
        let reporter = Reporter {
            controller: REPORTER.into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client, reporter),
            published: Mutex::default(),
        }
    }

    /// Raises `reason` with `message` on `object`, unless the same was raised within the window. A failure to
    /// publish is logged: Events are advisory.
    pub async fn publish(&self, object: &ObjectReference, reason: Reason, message: String) {
        let key = (
            object.uid.clone().unwrap_or_default(),
            reason,
            message.clone(),
        );
        {
            let mut published = self.published.lock().unwrap_or_else(|e| e.into_inner());
            published.retain(|_, at| at.elapsed() < DEDUP_WINDOW);
            if published.contains_key(&key) {
                debug!(reason = reason.as_str(), %message, "event already raised");
                return;
            }
            published.insert(key, Instant::now());
        }
        let event = Event {
            type_: reason.event_type(),
            reason: reason.as_str().into(),
            note: Some(message),
            action: "Reconcile".into(),
            secondary: None,
        };
        // Events about cluster-scoped objects (Namespaces) are kept in `default`; kube-apiserver (1.20 at least)
        // refuses one whose regarding object's namespace differs from the Event's own.
        let mut regarding = object.clone();
        regarding
            .namespace
            .get_or_insert_with(|| "default".to_owned());
        if let Err(error) = self.recorder.publish(&event, &regarding).await {
            warn!(reason = reason.as_str(), %error, "cannot publish an event");
        }
    }
}
