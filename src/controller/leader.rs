//! Leader election through a `coordination.k8s.io/v1` Lease (algorithms §12.1), the way client-go does it:
//! the holder renews every retry period; another replica takes over once it has seen the same record unchanged
//! for a whole lease duration (its own clock, never the holder's); a holder that cannot renew within the renew
//! deadline steps down. Writes are guarded by the Lease's resourceVersion, so two replicas never both win.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Api;
use kube::api::PostParams;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Timings of algorithms §12.1.
#[derive(Clone, Copy, Debug)]
pub struct Timings {
    /// How long a lease is valid without renewal.
    pub lease_duration: Duration,
    /// A leader that has not renewed for this long stops leading.
    pub renew_deadline: Duration,
    /// Pause between attempts to acquire or renew.
    pub retry_period: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// One replica's candidacy for the Lease `name`.
pub struct Candidate {
    leases: Api<Lease>,
    name: String,
    identity: String,
    timings: Timings,
}

/// The holder record last seen on the Lease, and when this replica first saw it.
struct Observed {
    holder: Option<String>,
    renew_time: Option<MicroTime>,
    since: Instant,
}

impl Candidate {
    /// A candidate for `leases`/`name`, known to the others as `identity`.
    pub fn new(leases: Api<Lease>, name: &str, identity: String, timings: Timings) -> Self {
        Self {
            leases,
            name: name.to_owned(),
            identity,
            timings,
        }
    }

    /// Campaigns until `stop` is cancelled, publishing whether this replica leads on `leading`. On stop, a
    /// leader releases the Lease so that another replica takes over at once.
    pub async fn run(self, leading: watch::Sender<bool>, stop: CancellationToken) {
        let mut observed: Option<Observed> = None;
        let mut last_renewal: Option<Instant> = None;
        loop {
            let now = Instant::now();
            match self.try_acquire_or_renew(&mut observed).await {
                Ok(true) => {
                    if !*leading.borrow() {
                        info!(lease = %self.name, identity = %self.identity, "became the leader");
                    }
                    last_renewal = Some(now);
                    leading.send_replace(true);
                }
                Ok(false) => {
                    if *leading.borrow() {
                        info!(lease = %self.name, "another replica holds the lease; stopping");
                    }
                    leading.send_replace(false);
                }
                Err(error) => {
                    let overdue =
                        last_renewal.is_none_or(|t| t.elapsed() > self.timings.renew_deadline);
                    if *leading.borrow() && overdue {
                        warn!(lease = %self.name, %error, "cannot renew the lease within the deadline; stepping down");
                        leading.send_replace(false);
                    } else {
                        warn!(lease = %self.name, %error, "lease update failed; retrying");
                    }
                }
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(self.timings.retry_period) => {}
            }
        }
        if *leading.borrow() {
            leading.send_replace(false);
            if let Err(error) = self.release().await {
                warn!(lease = %self.name, %error, "cannot release the lease; it expires by itself");
            }
        }
    }

    /// One round: `Ok(true)` when this replica holds the Lease afterwards.
    async fn try_acquire_or_renew(
        &self,
        observed: &mut Option<Observed>,
    ) -> Result<bool, kube::Error> {
        let Some(mut lease) = self.leases.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.claim(None)),
            };
            return match self.leases.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
                Err(error) => Err(error),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let changed = observed
            .as_ref()
            .is_none_or(|o| o.holder != holder || o.renew_time != spec.renew_time);
        if changed {
            *observed = Some(Observed {
                holder: holder.clone(),
                renew_time: spec.renew_time.clone(),
                since: Instant::now(),
            });
        }
        let ours = holder.as_deref() == Some(self.identity.as_str());
        let expired = observed.as_ref().is_some_and(|o| {
            let duration = spec
                .lease_duration_seconds
                .map(|s| Duration::from_secs(s.max(1) as u64))
                .unwrap_or(self.timings.lease_duration);
            o.since.elapsed() > duration
        });
        if !ours && holder.is_some() && !expired {
            return Ok(false);
        }
        lease.spec = Some(if ours {
            LeaseSpec {
                renew_time: Some(now()),
                lease_duration_seconds: Some(self.lease_seconds()),
                ..spec
            }
        } else {
            self.claim(Some(&spec))
        });
        match self
            .leases
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// The spec that makes this replica the holder, counting a transition when it takes over from `previous`.
    fn claim(&self, previous: Option<&LeaseSpec>) -> LeaseSpec {
        let transitions = previous.and_then(|p| p.lease_transitions).unwrap_or(0);
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(self.lease_seconds()),
            acquire_time: Some(now()),
            renew_time: Some(now()),
            lease_transitions: Some(if previous.is_some() {
                transitions + 1
            } else {
                transitions
            }),
            ..LeaseSpec::default()
        }
    }

    /// Gives the Lease up: no holder, so the next candidate acquires it on its next round.
    async fn release(&self) -> Result<(), kube::Error> {
        let Some(mut lease) = self.leases.get_opt(&self.name).await? else {
            return Ok(());
        };
        let spec = lease.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        lease.spec = Some(LeaseSpec {
            holder_identity: None,
            lease_duration_seconds: Some(1),
            renew_time: Some(now()),
            ..spec
        });
        self.leases
            .replace(&self.name, &PostParams::default(), &lease)
            .await
            .map(|_| info!(lease = %self.name, "released the lease"))
    }

    fn lease_seconds(&self) -> i32 {
        self.timings.lease_duration.as_secs().max(1) as i32
    }
}

fn now() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}
