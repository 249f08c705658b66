//! The `audit` log (api §0.7): one structured event for every write made on a caller's behalf.

use std::time::Instant;

use kube::api::ApiResource;
use tracing::info;

use crate::auth::Caller;

/// The request a write belongs to.
#[derive(Clone, Copy, Debug)]
pub enum Request<'a> {
    /// The client's own write, forwarded: the event carries the request's id.
    Forwarded(&'a str),
    /// One of the writes a migration or unbind performs: the event gets its own id and names the request
    /// that caused it as `parentRequestID`.
    PartOf(&'a str),
}

/// One write on a caller's behalf.
pub struct Write<'a> {
    pub request: Request<'a>,
    pub caller: &'a Caller,
    /// `create`, `update`, `patch` or `delete`.
    pub verb: &'static str,
    pub resource: &'a ApiResource,
    /// Empty for cluster-scoped objects.
    pub namespace: &'a str,
    /// Empty when a create had no name.
    pub name: &'a str,
    /// Whether kube-apiserver was asked for a dry run.
    pub dry_run: bool,
    /// kube-apiserver's status code; 0 when it could not be reached.
    pub code: u16,
    /// When the write was sent: the event's `latencyMs` counts from here.
    pub started: Instant,
}

/// Logs `write` as one `audit` event.
pub fn record(write: &Write<'_>) {
    let latency_ms = write.started.elapsed().as_millis() as u64;
    let identity = &write.caller.identity;
    let (resource, group) = (&write.resource.plural, &write.resource.group);
    match write.request {
        Request::Forwarded(request_id) => info!(
            target: "audit",
            requestID = request_id,
            user = %identity.user,
            groups = ?identity.groups,
            verb = write.verb,
            apiGroup = %group,
            resource = %resource,
            namespace = write.namespace,
            name = write.name,
            dryRun = write.dry_run,
            code = write.code,
            latencyMs = latency_ms,
            "write"
        ),
        Request::PartOf(parent) => info!(
            target: "audit",
            requestID = %uuid::Uuid::new_v4(),
            parentRequestID = parent,
            user = %identity.user,
            groups = ?identity.groups,
            verb = write.verb,
            apiGroup = %group,
            resource = %resource,
            namespace = write.namespace,
            name = write.name,
            dryRun = write.dry_run,
            code = write.code,
            latencyMs = latency_ms,
            "write"
        ),
    }
}

/// The status code of a kube client's answer, for [`Write::code`].
pub fn code_of<T>(result: &Result<T, kube::Error>) -> u16 {
    match result {
        Ok(_) => 200,
        Err(kube::Error::Api(status)) => status.code,
        Err(_) => 0,
    }
}
