//! Deployment slots: a queued attempt starts only while the global and per-repository
//! limits on concurrent deployments (and, for a new namespace, the limit on active
//! environments) leave room. Over the limit, attempts wait in one FIFO line ordered by
//! when they were queued ([`crate::core::queue::plan`]); each waiting environment's
//! position is stored for the API, the dashboard and the PR comment.
//!
//! Decisions are made under one lock and the `provisioning` phase is written before the
//! lock is released, so two reconciles can never both take the last slot. With several
//! replicas the lock is also the shared admission lease ([`super::claim`]), so the
//! limits hold across replicas too.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::core::deployment::{Event, transition};
use crate::core::queue::{self, InFlight, WaitingItem};
use crate::store::deployments;
use crate::store::engine as engine_store;
use crate::store::entities::deployment;

use super::reconcile::{World, phase_of};
use super::{Context, Kick, Result, claim};

/// The answer for one queued attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// This decision took a slot: the attempt is `provisioning` since `at`, and its
    /// environment out of the line.
    Started { at: DateTime<Utc> },
    /// Another environment's decision took the slot for it meanwhile (at a time only
    /// the database knows).
    StartedElsewhere,
    /// No slot; `position` in the line (1 = next).
    Waiting { position: u32 },
}

/// Starts `row` (queued) if there is room, else records its place in the line.
pub(crate) async fn admit(ctx: &Context, w: &World, row: &deployment::Model) -> Result<Admission> {
    let mut positions = {
        let _waiting = ctx.admission_queue.enter();
        ctx.admission.lock().await
    };
    let Some(shared) = claim::admission_lock(ctx).await? else {
        // Another replica is deciding; stay in line and ask again.
        let position = w
            .state
            .queue_position
            .and_then(|p| u32::try_from(p).ok())
            .unwrap_or_default();
        return Ok(Admission::Waiting { position });
    };
    let decided = decide(ctx, w, row, &mut positions).await;
    // In a burst every reconcile decides in turn: the next in line takes the lease as
    // this one leaves it; the last one gives it back.
    if decided.is_ok() && ctx.admission_queue.any() {
        shared.keep();
    } else {
        shared.release().await;
    }
    decided
}

async fn decide(
    ctx: &Context,
    w: &World,
    row: &deployment::Model,
    positions: &mut HashMap<String, Option<u32>>,
) -> Result<Admission> {
    // On the writer (warm cache, see `World::read`). Slim rows, read side by side: this
    // runs under the admission lock, so its cost is paid serially by every decision.
    let db = &ctx.db;
    let (unfinished, provisioned) = tokio::try_join!(
        deployments::unfinished_slots(db),
        deployments::provisioned_environments(db),
    )?;
    // Started meanwhile by another environment's decision (see below).
    if unfinished
        .iter()
        .any(|s| s.attempt_id == row.id && deployments::IN_FLIGHT.contains(&s.phase.as_str()))
    {
        positions.remove(&w.env.id);
        return Ok(Admission::StartedElsewhere);
    }

    let mut in_flight = InFlight::default();
    let mut waiting = Vec::new();
    let mut queued: HashMap<&str, &deployments::Slot> = HashMap::new();
    for slot in &unfinished {
        if deployments::IN_FLIGHT.contains(&slot.phase.as_str()) {
            in_flight.global += 1;
            *in_flight
                .per_repository
                .entry(slot.repository_id.clone())
                .or_default() += 1;
        } else {
            queued.insert(slot.environment_id.as_str(), slot);
            waiting.push(WaitingItem {
                creates_environment: !provisioned.contains(&slot.environment_id),
                environment: slot.environment_id.clone(),
                repository: slot.repository_id.clone(),
                enqueued_at: slot.queued_at,
            });
        }
    }
    // `provisioned` holds live environments only.
    in_flight.active_environments = provisioned.len().try_into().unwrap_or(u32::MAX);
    let plan = queue::plan(&waiting, &in_flight, &ctx.settings.limits);

    // Positions of everyone still waiting, written only where they changed.
    let mut now_waiting: HashMap<String, Option<u32>> = plan
        .waiting
        .iter()
        .map(|w| (w.environment.clone(), Some(w.position)))
        .collect();
    let starts = plan.start.contains(&w.env.id);
    if starts {
        now_waiting.insert(w.env.id.clone(), None);
    }
    // The plan's other starts whose preview file is already read (the one step before
    // admission) take their slots here too, in one statement, instead of each waiting
    // for a decision of its own under this lock (three reads of every unfinished
    // attempt each). Their own reconciles find them provisioning.
    let others: Vec<&deployments::Slot> = plan
        .start
        .iter()
        .filter(|id| **id != w.env.id)
        .filter_map(|id| queued.get(id.as_str()).copied())
        .filter(|slot| ready(ctx, slot))
        .collect();
    for slot in &others {
        now_waiting.insert(slot.environment_id.clone(), None);
    }
    // Others the plan would start and that were told to wait: they sleep until kicked.
    // The rest of the plan's starts are on their way here by themselves; kicking them
    // too made every admission of a 500-PR burst re-run the reconciles in progress.
    let wake: Vec<String> = plan
        .start
        .iter()
        .filter(|id| **id != w.env.id && positions.get(*id).copied().flatten().is_some())
        .cloned()
        .collect();
    for (id, position) in &now_waiting {
        let known = positions.get(id).copied();
        let stored = if *id == w.env.id {
            Some(w.state.queue_position.and_then(|p| u32::try_from(p).ok()))
        } else {
            known
        };
        if stored != Some(*position) {
            engine_store::set_queue_position(db, id, *position).await?;
        }
        positions.insert(id.clone(), *position);
    }
    positions.retain(|id, _| now_waiting.contains_key(id));

    // This attempt and the others take their slots in one statement, the phase change
    // checked against the state machine as every other one is.
    let mut ids: Vec<String> = others.iter().map(|s| s.attempt_id.clone()).collect();
    if starts {
        transition(phase_of(row), &Event::Start)?;
        ids.push(row.id.clone());
    }
    let now = Utc::now();
    let moved = deployments::start_queued(db, &ids, now).await?;
    let granted = u64::from(in_flight.global) + moved;
    ctx.metrics.observe_in_flight(granted);
    for slot in &others {
        tracing::info!(
            environment = %slot.namespace,
            attempt_id = %slot.attempt_id,
            "deployment slot granted"
        );
    }
    for id in wake {
        ctx.kick(Kick::Environment(id));
    }

    if starts {
        tracing::info!(
            environment = %w.env.namespace,
            attempt = row.attempt,
            in_flight = granted,
            "deployment slot granted"
        );
        return Ok(Admission::Started { at: now });
    }
    let position = now_waiting
        .get(&w.env.id)
        .copied()
        .flatten()
        .unwrap_or_default();
    tracing::debug!(
        environment = %w.env.namespace,
        position,
        in_flight = in_flight.global,
        starts = plan.start.len(),
        "waiting for a deployment slot"
    );
    Ok(Admission::Waiting { position })
}

/// Whether a queued attempt may take its slot from another environment's decision: the
/// step before admission (reading `.catalyst/preview.yaml` at its SHA) is done and did
/// not find the file broken, which fails the attempt in its own reconcile instead.
fn ready(ctx: &Context, slot: &deployments::Slot) -> bool {
    if ctx.config_source.is_none() {
        return true;
    }
    slot.config.as_ref().is_some_and(|(sha, state)| {
        *sha == slot.head_sha && state != super::preview_config::INVALID_STATE
    })
}
