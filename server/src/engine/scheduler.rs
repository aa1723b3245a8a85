//! The reconcile loop. It keeps, per environment, when it is next due; runs due ones
//! (never two at once for one environment, at most `max_workers` in total); and is woken
//! by the webhook intake (everything becomes due), by kicks from reconciles and watches,
//! and by its own timers (polls of in-flight work, retry backoffs, periodic resync).
//! A failed reconcile is logged, counted and retried with exponential backoff.
//!
//! With several replicas on one database every reconcile runs under the environment's
//! work lease ([`super::claim`]): an environment another replica holds is looked at
//! again after half a lease. Webhooks received by another replica are noticed by a
//! pass over what changed every `peer_poll_interval` (3 s by default); the full resync
//! (`CATALYST_RESYNC_INTERVAL_SECS`, 300 s) remains the backstop. The orphan-namespace
//! sweep runs only on the leader.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::core::backoff;
use crate::service::ReconcileSignal;
use crate::store::engine as engine_store;

use super::claim::{self, Outcome};
use super::reconcile::Next;
use super::{Context, Kick, drift};

/// How long wakes (webhooks, kicks) are gathered into one pass over what changed.
const WAKE_COALESCE: Duration = Duration::from_millis(25);

/// Work known to the loop. `due` and `order` hold the same entries: the map answers
/// "when is this environment due", the ordered set "what is due first". Starting work
/// and finding the next wake-up read only the head of `order`, so a burst of hundreds
/// of pull requests costs O(log n) per event instead of a scan of the whole line (a
/// profile of the 500-PR benchmark had 70 % of the engine's CPU in that scan).
#[derive(Default)]
struct Queue {
    /// When each environment is next due.
    due: HashMap<String, Instant>,
    order: BTreeSet<(Instant, String)>,
    /// Environments waiting for a slot (woken when one is freed).
    waiting: HashSet<String>,
    running: HashSet<String>,
    /// Consecutive failures, for the error backoff.
    failures: HashMap<String, u32>,
    last_in_flight_kick: Option<Instant>,
}

impl Queue {
    /// Due at `at`, or earlier if it already was.
    fn make_due(&mut self, id: String, at: Instant) {
        match self.due.get_mut(&id) {
            Some(current) if *current <= at => {}
            Some(current) => {
                let before = std::mem::replace(current, at);
                self.order.remove(&(before, id.clone()));
                self.order.insert((at, id));
            }
            None => {
                self.due.insert(id.clone(), at);
                self.order.insert((at, id));
            }
        }
    }

    fn take(&mut self, id: &str) {
        if let Some(at) = self.due.remove(id) {
            self.order.remove(&(at, id.to_owned()));
        }
    }

    /// Due environments not running now, longest-waiting first, at most `limit`.
    /// Running ones stay due (they run again once finished); at most `max_workers` of
    /// them sit at the head, so skipping them is cheap.
    fn startable(&self, now: Instant, limit: usize) -> Vec<String> {
        self.order
            .iter()
            .take_while(|(at, _)| *at <= now)
            .filter(|(_, id)| !self.running.contains(id))
            .take(limit)
            .map(|(_, id)| id.clone())
            .collect()
    }

    /// When the loop must look again by itself (kicks, wakes and finished reconciles
    /// wake it anyway): when the first environment that is not running becomes due, or
    /// `timer` (resync, peer poll) if sooner. With every worker busy, due work waits
    /// for a worker to finish, not for its time: sleeping until a time already past made
    /// the loop spin on a core for as long as the workers were busy (half of Catalyst's
    /// CPU with 1,000 previews deployed).
    fn wake_at(&self, workers_free: bool, timer: Instant) -> Instant {
        match self.next_due() {
            Some(at) if workers_free => at.min(timer),
            _ => timer,
        }
    }

    /// When the first environment that is not running becomes due.
    fn next_due(&self) -> Option<Instant> {
        self.order
            .iter()
            .find(|(_, id)| !self.running.contains(id))
            .map(|(at, _)| *at)
    }
}

/// Runs until aborted.
pub async fn run(
    ctx: Arc<Context>,
    signal: ReconcileSignal,
    mut kicks: mpsc::UnboundedReceiver<Kick>,
) {
    let mut q = Queue::default();
    let mut tasks: JoinSet<(String, Outcome)> = JoinSet::new();
    let mut full_pass = true;
    // A wake only needs what changed since the last pass; the timer's resync takes all.
    let mut only_changed_since: Option<chrono::DateTime<chrono::Utc>> = None;
    let mut pending_full_pass = false;
    let mut next_full_pass = Instant::now();
    let mut next_resync = Instant::now();
    let mut next_peer_poll = Instant::now() + ctx.claims.peer_poll_interval;
    let mut sweep: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        let now = Instant::now();
        if now >= next_peer_poll {
            // What other replicas recorded (their webhooks, their freed slots).
            next_peer_poll = now + ctx.claims.peer_poll_interval;
            full_pass = true;
            apply_kick(&ctx, &mut q, Kick::Waiting, &mut full_pass);
        }
        if now >= next_resync {
            full_pass = true;
            only_changed_since = None;
            next_resync = now + ctx.settings.resync_interval;
            // The orphan sweep is singleton work: only the leader runs it.
            if ctx.leader.is_leader() && sweep.as_ref().is_none_or(|s| s.is_finished()) {
                let c = ctx.clone();
                sweep = Some(tokio::spawn(async move {
                    if let Err(e) = drift::remove_orphans(&c).await {
                        c.metrics.count_error(e.metric_label());
                        tracing::warn!(error = %e, "orphan namespace sweep failed");
                    }
                }));
            }
        }
        if full_pass && now < next_full_pass {
            // Many wakes (a burst of webhooks) make one pass per `WAKE_COALESCE`.
            full_pass = false;
            pending_full_pass = true;
        }
        if !full_pass && pending_full_pass && now >= next_full_pass {
            full_pass = true;
            pending_full_pass = false;
        }
        if full_pass {
            full_pass = false;
            // Coalesce a burst of wakes into a pass every few milliseconds, not one per
            // poll interval: a webhook must not wait seconds behind the previous one.
            next_full_pass = now + WAKE_COALESCE.min(ctx.settings.poll_interval);
            let pass_started = chrono::Utc::now();
            let since = only_changed_since.take();
            match engine_store::changed_environment_ids(&ctx.db.background_reads(), since).await {
                Ok(ids) => {
                    // Margin for writes that were in flight when the pass read.
                    only_changed_since = Some(pass_started - chrono::TimeDelta::seconds(2));
                    for id in ids {
                        q.make_due(id, now);
                    }
                }
                Err(e) => {
                    ctx.metrics.count_error("store");
                    tracing::warn!(error = %e, "cannot list environments; retrying");
                    next_resync = next_resync.min(now + ctx.settings.poll_interval);
                }
            }
        }
        // Start whatever is due, within the worker limit, longest-waiting first so a busy
        // minority cannot starve the rest.
        let free = ctx.settings.max_workers.saturating_sub(q.running.len());
        for id in q.startable(now, free) {
            q.take(&id);
            q.waiting.remove(&id);
            tracing::trace!(environment = %id, "reconcile");
            q.running.insert(id.clone());
            let c = ctx.clone();
            tasks.spawn(async move {
                let outcome = claim::reconcile_claimed(&c, &id).await;
                (id, outcome)
            });
        }
        let workers_free = q.running.len() < ctx.settings.max_workers;
        let next_due = q.wake_at(workers_free, next_resync.min(next_peer_poll));
        let next_due = if pending_full_pass {
            next_due.min(next_full_pass)
        } else {
            next_due
        };
        tokio::select! {
            () = signal.notified() => full_pass = true,
            Some(kick) = kicks.recv() => {
                take_kick(&ctx, &mut q, kick, &mut full_pass, &mut next_resync);
            }
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                if let Ok((id, result)) = done {
                    finished(&ctx, &mut q, id, result);
                }
            }
            () = tokio::time::sleep_until(next_due) => {}
        }
        // A burst (one admission kicks every environment its plan starts; many reconciles
        // finish together) is taken in whole before the next look at the line.
        while let Ok(kick) = kicks.try_recv() {
            take_kick(&ctx, &mut q, kick, &mut full_pass, &mut next_resync);
        }
        while let Some(done) = tasks.try_join_next() {
            if let Ok((id, result)) = done {
                finished(&ctx, &mut q, id, result);
            }
        }
    }
}

fn take_kick(
    ctx: &Context,
    q: &mut Queue,
    kick: Kick,
    full_pass: &mut bool,
    next_resync: &mut Instant,
) {
    if kick == Kick::All {
        // A real resync: every environment, and the orphan sweep.
        *next_resync = Instant::now();
    } else {
        apply_kick(ctx, q, kick, full_pass);
    }
}

fn apply_kick(ctx: &Context, q: &mut Queue, kick: Kick, full_pass: &mut bool) {
    let now = Instant::now();
    match kick {
        Kick::Environment(id) => q.make_due(id, now),
        Kick::Waiting => {
            // One waiting environment is enough: its admission plans the whole line
            // and kicks every environment the plan starts.
            if let Some(id) = q.waiting.iter().next().cloned() {
                q.waiting.remove(&id);
                q.make_due(id, now);
            }
        }
        Kick::InFlight => {
            // Only what is polling anyway (not retry backoffs or the capacity line),
            // and at most a few times per poll interval however chatty the watch is.
            if q.last_in_flight_kick
                .is_some_and(|t| now.duration_since(t) < ctx.settings.poll_interval / 4)
            {
                return;
            }
            q.last_in_flight_kick = Some(now);
            let soon = now + ctx.settings.poll_interval;
            let polling: Vec<String> = q
                .order
                .iter()
                .take_while(|(at, _)| *at <= soon)
                .map(|(_, id)| id.clone())
                .collect();
            for id in polling {
                q.make_due(id, now);
            }
        }
        Kick::All => *full_pass = true,
    }
}

fn finished(ctx: &Context, q: &mut Queue, id: String, outcome: Outcome) {
    q.running.remove(&id);
    let now = Instant::now();
    let result = match outcome {
        Outcome::Ran(result) => result,
        Outcome::Busy(holder) => {
            // Another replica works on it; look again when its lease could have run out.
            tracing::trace!(environment = %id, holder = ?holder, "held by another replica");
            q.make_due(id, now + ctx.claims.lease_ttl / 2);
            return;
        }
        Outcome::Lost => {
            ctx.metrics.count_error("lease_lost");
            q.make_due(id, now + ctx.settings.poll_interval);
            return;
        }
    };
    let Some(result) = result else {
        ctx.metrics.count_error("panic");
        tracing::error!(environment = %id, "reconcile panicked; will retry");
        q.make_due(id, now + ctx.settings.error_backoff_cap);
        return;
    };
    match result {
        Ok(next) => {
            q.failures.remove(&id);
            match next {
                Next::Done => {}
                Next::After(d) => q.make_due(id, now + d),
                Next::Queued => {
                    // Woken when a slot frees (and by every resync).
                    q.waiting.insert(id);
                }
            }
        }
        Err(e) => {
            let n = q.failures.entry(id.clone()).or_default();
            *n += 1;
            let delay = backoff::delay_at_least(
                n.saturating_sub(1),
                ctx.settings.poll_interval,
                ctx.settings.error_backoff_cap,
                ctx.settings.poll_interval,
                rand::random(),
            );
            ctx.metrics.count_error(e.metric_label());
            tracing::warn!(
                environment = %id,
                error = %e,
                kind = e.metric_label(),
                retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "reconcile failed; will retry"
            );
            q.make_due(id, now + delay.max(Duration::from_millis(1)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_line_starts_longest_waiting_first_and_skips_running_work() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut q = Queue::default();
        q.make_due("c".into(), at(30));
        q.make_due("a".into(), at(10));
        q.make_due("b".into(), at(20));
        q.make_due("later".into(), at(500));
        // Only ever moved earlier by another wake.
        q.make_due("c".into(), at(40));
        q.make_due("b".into(), at(5));
        assert_eq!(q.startable(at(100), 10), ids(&["b", "a", "c"]));
        assert_eq!(q.startable(at(100), 2), ids(&["b", "a"]));
        assert_eq!(q.startable(at(100), 0), Vec::<String>::new());
        q.running.insert("b".into());
        assert_eq!(q.startable(at(100), 10), ids(&["a", "c"]));
        assert_eq!(q.next_due(), Some(at(10)));
        q.take("a");
        q.take("c");
        assert_eq!(q.next_due(), Some(at(500)));
        assert_eq!(q.order.len(), q.due.len());
    }

    #[test]
    fn with_every_worker_busy_the_loop_waits_for_its_timers_not_for_past_due_work() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut q = Queue::default();
        q.make_due("a".into(), at(10));
        let timer = at(2_000);
        // A worker is free: wake when the work is due.
        assert_eq!(q.wake_at(true, timer), at(10));
        // None is: already-due work would make the loop spin; a finishing worker (or a
        // timer) wakes it instead.
        assert_eq!(q.wake_at(false, timer), timer);
        // Nothing due: the timer.
        q.take("a");
        assert_eq!(q.wake_at(true, timer), timer);
        // A timer sooner than the work wins.
        q.make_due("b".into(), at(5_000));
        assert_eq!(q.wake_at(true, timer), timer);
    }
}
