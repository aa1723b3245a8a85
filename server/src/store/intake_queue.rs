//! Group commit of webhook deliveries on SQLite. Its one writer connection runs one
//! transaction at a time, so in a burst every delivery waited in line for a `BEGIN`, its
//! statements and a `COMMIT`, each a round trip to the connection's thread, and its
//! acknowledgement (and every first PR comment, which waits for intake) waited for all
//! the deliveries ahead of it. Here one task takes every delivery waiting when the
//! writer is free and records them in one transaction ([`intake_batch::record_batch`]); each
//! is still acknowledged only once its batch is committed, so nothing is acknowledged
//! that is not stored.
//!
//! PostgreSQL keeps one transaction per delivery: it runs them side by side on its pool.

use tokio::sync::{mpsc, oneshot};

use super::intake::{self, Delivery, DeliveryOutcome};
use super::intake_batch;
use super::{Db, Result, StoreError};
use crate::core::webhook_event::WebhookEvent;

/// Most deliveries committed together: bounds one transaction's length, and so the wait
/// of the deliveries that arrive while it runs.
const MAX_BATCH: usize = 64;

/// Deliveries queued for the next batch (the HTTP handlers wait for their answer).
const QUEUE_LENGTH: usize = 4_096;

struct Queued {
    delivery_id: String,
    event_name: String,
    event: WebhookEvent,
    reply: oneshot::Sender<Result<DeliveryOutcome>>,
}

/// The entrance to the group commit. Cheap to clone; its task ends when the last clone
/// is dropped.
#[derive(Clone, Debug)]
pub struct IntakeQueue {
    tx: mpsc::Sender<Queued>,
}

impl IntakeQueue {
    /// Starts the committing task. Must be called inside a Tokio runtime.
    pub fn start(db: Db, preview_domain: Option<String>) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE_LENGTH);
        tokio::spawn(run(db, preview_domain, rx));
        Self { tx }
    }

    /// Records `delivery` with the next batch; answers once that batch is committed.
    pub async fn record(
        &self,
        delivery: Delivery<'_>,
        event: &WebhookEvent,
    ) -> Result<DeliveryOutcome> {
        let (reply, answer) = oneshot::channel();
        let queued = Queued {
            delivery_id: delivery.id.to_owned(),
            event_name: delivery.event.to_owned(),
            event: event.clone(),
            reply,
        };
        self.tx.send(queued).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> StoreError {
    StoreError::Db(sea_orm::DbErr::Custom(
        "the webhook intake stopped before recording the delivery".to_owned(),
    ))
}

async fn run(db: Db, preview_domain: Option<String>, mut rx: mpsc::Receiver<Queued>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let queued = std::mem::take(&mut batch);
        // A task of its own: a panic fails this batch's deliveries (their answers are
        // dropped, so each gets an error and GitHub redelivers), not every later one.
        let write = tokio::spawn(commit(db.clone(), preview_domain.clone(), queued));
        if let Err(e) = write.await {
            tracing::error!(error = %e, "a batch of webhook deliveries was lost before its commit");
        }
    }
}

async fn commit(db: Db, preview_domain: Option<String>, queued: Vec<Queued>) {
    let domain = preview_domain.as_deref();
    let deliveries: Vec<(Delivery<'_>, &WebhookEvent)> =
        queued.iter().map(|q| (delivery_of(q), &q.event)).collect();
    let recorded = intake_batch::record_batch(&db, &deliveries, domain).await;
    drop(deliveries);
    match recorded {
        Ok(outcomes) => {
            for (q, outcome) in queued.into_iter().zip(outcomes) {
                let _ = q.reply.send(Ok(outcome));
            }
        }
        Err(e) if queued.len() > 1 => {
            // Nothing of the batch is stored: each delivery on its own, so only the one
            // that cannot be recorded fails.
            tracing::warn!(deliveries = queued.len(), error = %e, "a batch of webhook deliveries failed; recording them one by one");
            for q in queued {
                let outcome = intake::record(&db, delivery_of(&q), &q.event, domain).await;
                let _ = q.reply.send(outcome);
            }
        }
        Err(e) => {
            if let Some(q) = queued.into_iter().next() {
                let _ = q.reply.send(Err(e));
            }
        }
    }
}

fn delivery_of(q: &Queued) -> Delivery<'_> {
    Delivery {
        id: &q.delivery_id,
        event: &q.event_name,
    }
}
