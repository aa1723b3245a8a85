//! Claims: with several replicas on one database, an environment is reconciled only by
//! the replica holding its work lease ([`crate::store::leases`]). The scheduler runs
//! every reconcile through [`reconcile_claimed`], which claims the lease first, renews
//! it while the reconcile runs and stops the reconcile when the lease can no longer be
//! trusted (renewals failing for most of its duration, or another replica took it).
//!
//! Nothing else changes: reconciles stay level-triggered and idempotent, so a replica
//! taking over an environment from a dead one continues from what is recorded. A lease
//! is kept after a reconcile that will look again soon (the same replica keeps the
//! environment while it is in flight) and released when the environment is settled.
//!
//! Deployment slots are shared too: [`admission_lock`] makes the slot hand-out one
//! critical section across replicas. A replica keeps that lease from one decision to
//! the next while decisions wait in line behind it, and releases it when its line is
//! empty.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::FutureExt;
use tokio::time::Instant;

use crate::store::leases::{self, Claim};

use super::reconcile::{Next, reconcile_environment};
use super::{Context, Result};

/// The name of the lease that serialises slot hand-out across replicas.
pub const ADMISSION_LEASE: &str = "engine/admission";

/// How this replica takes part in the shared work.
#[derive(Clone, Debug)]
pub struct ClaimSettings {
    /// This replica's identity in leases (unique per process).
    pub holder: String,
    /// How long a lease lasts without renewal: a dead replica's environments are taken
    /// over after at most this long.
    pub lease_ttl: Duration,
    /// How often the scheduler looks for environments that changed elsewhere (a webhook
    /// received by another replica) and for free slots.
    pub peer_poll_interval: Duration,
}

impl Default for ClaimSettings {
    fn default() -> Self {
        Self {
            holder: replica_id(),
            lease_ttl: Duration::from_secs(15),
            peer_poll_interval: Duration::from_secs(3),
        }
    }
}

/// This process's identity: the host (the pod name in Kubernetes) and a random suffix,
/// so a restarted pod with the same name never mistakes its predecessor's leases for its
/// own. One per process: an engine stopped and started again in the same process (as
/// the tests do) continues with the leases it had.
pub fn replica_id() -> String {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        let host = std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.trim().is_empty())
            .unwrap_or_else(|| "catalyst".to_owned());
        format!("{}-{:08x}", host.trim(), rand::random::<u32>())
    })
    .clone()
}

/// What became of one scheduled reconcile.
pub(crate) enum Outcome {
    /// It ran; `None` when it panicked.
    Ran(Option<Result<Next>>),
    /// Another replica holds the environment (`None`: claiming it right now).
    Busy(Option<String>),
    /// The lease could not be kept; the reconcile was stopped where it was.
    Lost,
}

/// Leases this replica claimed recently, and when: a reconcile within the first third
/// of a lease needs no database round trip (nobody else can take a lease before it
/// expires), which keeps the polling of in-flight work cheap.
#[derive(Debug, Default)]
pub struct HeldLeases(std::sync::Mutex<HashMap<String, Instant>>);

impl HeldLeases {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// When `name` was last claimed or renewed, if that is recent enough to rely on.
    fn fresh(&self, name: &str, ttl: Duration) -> Option<Instant> {
        self.lock()
            .get(name)
            .copied()
            .filter(|at| at.elapsed() < ttl / 3)
    }

    fn record(&self, name: &str, at: Instant) {
        self.lock().insert(name.to_owned(), at);
    }

    fn forget(&self, name: &str) {
        self.lock().remove(name);
    }
}

/// Claims the environment's lease, runs one reconcile while renewing it, and releases
/// it when the environment needs nothing more.
pub(crate) async fn reconcile_claimed(ctx: &Context, id: &str) -> Outcome {
    let name = leases::environment(id);
    let holder = ctx.claims.holder.as_str();
    let ttl = ctx.claims.lease_ttl;
    let claimed_at = match ctx.held.fresh(&name, ttl) {
        Some(at) => at,
        None => {
            let asked = Instant::now();
            match leases::claim(&ctx.db, &name, holder, ttl).await {
                Ok(Claim::Held { .. }) => {
                    ctx.held.record(&name, asked);
                    asked
                }
                Ok(Claim::Busy { holder }) => {
                    ctx.held.forget(&name);
                    return Outcome::Busy(holder);
                }
                Err(e) => return Outcome::Ran(Some(Err(e.into()))),
            }
        }
    };
    // A panic must not leave the environment marked as running forever.
    let work = AssertUnwindSafe(reconcile_environment(ctx, id)).catch_unwind();
    let outcome = tokio::select! {
        result = work => Outcome::Ran(result.ok()),
        () = keep_renewed(ctx, &name, claimed_at) => Outcome::Lost,
    };
    match &outcome {
        Outcome::Ran(Some(Ok(Next::Done))) => {
            ctx.held.forget(&name);
            if let Err(e) = leases::release(&ctx.db, &name, holder).await {
                // It expires on its own.
                tracing::debug!(environment = %id, error = %e, "cannot release the lease");
            }
        }
        Outcome::Lost => ctx.held.forget(&name),
        _ => {}
    }
    outcome
}

/// Renews `name` a third of its duration after the last claim, and every third after;
/// returns once the lease cannot be relied on any more: another replica holds it, or
/// renewals failed for so long that it may expire before the next attempt.
async fn keep_renewed(ctx: &Context, name: &str, claimed_at: Instant) {
    let ttl = ctx.claims.lease_ttl;
    let step = ttl / 3;
    let mut valid_until = claimed_at + ttl;
    tokio::time::sleep_until(claimed_at + step).await;
    loop {
        let asked = Instant::now();
        match tokio::time::timeout(step, leases::renew(&ctx.db, name, &ctx.claims.holder, ttl))
            .await
        {
            Ok(Ok(true)) => {
                valid_until = asked + ttl;
                ctx.held.record(name, asked);
            }
            Ok(Ok(false)) => {
                tracing::warn!(
                    lease = name,
                    "lease taken over by another replica; stopping"
                );
                return;
            }
            Ok(Err(e)) => tracing::warn!(lease = name, error = %e, "cannot renew the lease"),
            Err(_) => tracing::warn!(lease = name, "renewing the lease timed out"),
        }
        if Instant::now() + step >= valid_until {
            tracing::warn!(lease = name, "lease about to expire unrenewed; stopping");
            return;
        }
        tokio::time::sleep(step).await;
    }
}

/// Holds the shared admission lease for one slot decision.
pub(crate) struct AdmissionLock<'a> {
    ctx: &'a Context,
}

impl AdmissionLock<'_> {
    /// Gives the lease back, for other replicas to decide.
    pub(crate) async fn release(self) {
        let c = self.ctx;
        c.held.forget(ADMISSION_LEASE);
        if let Err(e) = leases::release(&c.db, ADMISSION_LEASE, &c.claims.holder).await {
            tracing::debug!(error = %e, "cannot release the admission lease");
        }
    }

    /// Leaves the lease held for the next decision of this replica. A release and a
    /// claim for each decision were three writes inside the critical section that every
    /// reconcile of a burst waits for in turn (BENCHMARKS.md). Should nobody take it on,
    /// it expires within its duration, as a dead replica's would.
    pub(crate) fn keep(self) {}
}

/// How many tasks wait for something, counted while they wait (see [`Waiting::enter`]).
#[derive(Debug, Default)]
pub struct Waiting(std::sync::atomic::AtomicUsize);

impl Waiting {
    /// Counts the caller as waiting until the returned guard is dropped (also when the
    /// waiting future is dropped midway).
    pub(crate) fn enter(&self) -> WaitingGuard<'_> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        WaitingGuard(self)
    }

    /// Whether anyone waits right now.
    pub(crate) fn any(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst) > 0
    }
}

/// One waiter of a [`Waiting`].
pub(crate) struct WaitingGuard<'a>(&'a Waiting);

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        (self.0).0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// How long the admission lease lasts: long enough for a few decisions; a replica dying
/// while it holds the lease blocks slots this long.
const ADMISSION_TTL: Duration = Duration::from_secs(10);

/// Waits (a few seconds at most) for the admission lease; `None` when another replica
/// kept it all that time, in which case the caller stays in line and tries again later.
/// A lease kept by the decision before this one ([`AdmissionLock::keep`]) and claimed
/// within the last third of its duration is taken as it is, without a round trip.
pub(crate) async fn admission_lock(ctx: &Context) -> Result<Option<AdmissionLock<'_>>> {
    const PATIENCE: Duration = Duration::from_secs(5);
    if ctx.held.fresh(ADMISSION_LEASE, ADMISSION_TTL).is_some() {
        return Ok(Some(AdmissionLock { ctx }));
    }
    let deadline = Instant::now() + PATIENCE;
    loop {
        let asked = Instant::now();
        let claim =
            leases::claim(&ctx.db, ADMISSION_LEASE, &ctx.claims.holder, ADMISSION_TTL).await?;
        if claim.is_held() {
            ctx.held.record(ADMISSION_LEASE, asked);
            return Ok(Some(AdmissionLock { ctx }));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(20) + rand_jitter()).await;
    }
}

fn rand_jitter() -> Duration {
    Duration::from_millis(u64::from(rand::random::<u8>() % 30))
}

/// What makes an engine one replica among several.
#[derive(Clone, Debug)]
pub struct Replica {
    pub claims: ClaimSettings,
    pub leader: crate::leadership::Leadership,
}

impl Default for Replica {
    /// A process on its own: a fresh identity, and always the leader.
    fn default() -> Self {
        Self {
            claims: ClaimSettings::default(),
            leader: crate::leadership::Leadership::always(),
        }
    }
}

impl Replica {
    /// Identity and timings from `CATALYST_REPLICA_ID`, `CATALYST_LEASE_DURATION_SECS`
    /// and `CATALYST_PEER_POLL_INTERVAL_MS`; leading until an election says otherwise.
    pub fn from_config(ha: &crate::config::HaConfig) -> Self {
        Self {
            claims: ClaimSettings {
                holder: ha.replica_id.clone().unwrap_or_else(replica_id),
                lease_ttl: Duration::from_secs(ha.lease_duration_secs),
                peer_poll_interval: Duration::from_millis(ha.peer_poll_interval_ms),
            },
            leader: crate::leadership::Leadership::always(),
        }
    }
}
