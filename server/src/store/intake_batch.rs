//! A batch of webhook deliveries recorded in one transaction with few statements.
//!
//! The group commit ([`IntakeQueue`](super::intake_queue::IntakeQueue)) gave a burst one
//! `BEGIN` and `COMMIT` per batch, but each delivery still made four statements (its
//! delivery row; its pull request, read, then inserted; the pending environment), each a
//! round trip to SQLite's one writer thread: recording a 500-PR burst took about 150 ms
//! there, and every first PR comment waits for its delivery to be recorded.
//!
//! Here the batch first reads, in two statements, which of its delivery ids and pull
//! requests are already stored. A delivery that is new and either carries nothing to
//! apply or opens a pull request never seen is then *appended*: its rows are built in
//! memory and written with every other appended delivery's in one multi-row `INSERT` per
//! table. Anything else (a duplicate, a pull request already stored or touched earlier
//! in the batch) first writes what was appended, then takes the one-by-one path of
//! [`intake`], so it sees every earlier delivery as if each had committed on its own.

use std::collections::HashSet;

use sea_orm::{
    ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect, TransactionTrait,
};

use super::entities::{preview_environment, pull_request, webhook_delivery};
use super::intake::{self, Delivery, DeliveryOutcome, Repositories};
use super::{Db, Result, environments, new_id};
use crate::core::webhook_event::{PullRequestEvent, WebhookEvent};

/// Records several deliveries in one transaction, in order (a later one sees what an
/// earlier one wrote, as if each had committed on its own). Any error rolls all of them
/// back: the caller records them one by one instead, so one bad delivery fails alone.
pub async fn record_batch(
    db: &Db,
    deliveries: &[(Delivery<'_>, &WebhookEvent)],
    preview_domain: Option<&str>,
) -> Result<Vec<DeliveryOutcome>> {
    let txn = db.begin().await?;
    let mut batch = Batch::read(&txn, deliveries).await?;
    let mut outcomes = Vec::with_capacity(deliveries.len());
    // Intake never writes repositories, so one reading per repository serves the batch.
    let mut repositories = Repositories::new();
    for &(delivery, event) in deliveries {
        let outcome = match batch
            .append(&txn, delivery, event, preview_domain, &mut repositories)
            .await?
        {
            Some(outcome) => outcome,
            None => {
                batch.write(&txn).await?;
                let outcome =
                    intake::record_in(&txn, delivery, event, preview_domain, &mut repositories)
                        .await?;
                batch.seen(delivery, event);
                outcome
            }
        };
        outcomes.push(outcome);
    }
    batch.write(&txn).await?;
    txn.commit().await?;
    Ok(outcomes)
}

/// What the batch knows of the stored rows it touches, and the rows appended so far.
#[derive(Default)]
struct Batch {
    /// Delivery ids stored, or recorded earlier in this batch.
    deliveries: HashSet<String>,
    /// Pull requests (`repository key`, number) stored, or written earlier in this batch.
    pull_requests: HashSet<(String, i64)>,
    new_deliveries: Vec<webhook_delivery::ActiveModel>,
    new_pull_requests: Vec<pull_request::ActiveModel>,
    new_environments: Vec<preview_environment::ActiveModel>,
}

impl Batch {
    /// Reads which of the batch's delivery ids and pull requests are stored.
    async fn read(
        txn: &DatabaseTransaction,
        deliveries: &[(Delivery<'_>, &WebhookEvent)],
    ) -> Result<Self> {
        let ids: Vec<&str> = deliveries.iter().map(|(d, _)| d.id).collect();
        let stored_ids: Vec<String> = webhook_delivery::Entity::find()
            .select_only()
            .column(webhook_delivery::Column::DeliveryId)
            .filter(webhook_delivery::Column::DeliveryId.is_in(ids))
            .into_tuple()
            .all(txn)
            .await?;
        let pulls: Vec<&PullRequestEvent> = deliveries
            .iter()
            .filter_map(|(_, event)| match event {
                WebhookEvent::PullRequest(e) => Some(e),
                _ => None,
            })
            .collect();
        let mut stored_pulls = Vec::new();
        if !pulls.is_empty() {
            let keys: HashSet<String> = pulls.iter().map(|e| e.repository.key()).collect();
            // A number too large for the column matches nothing; the delivery that carries
            // it fails on the one-by-one path, as it would have alone.
            let numbers: HashSet<i64> = pulls
                .iter()
                .filter_map(|e| i64::try_from(e.pull_request.number.0).ok())
                .collect();
            // Keys and numbers each in a list: the stored pairs are a superset of the
            // batch's, told apart below.
            stored_pulls = pull_request::Entity::find()
                .select_only()
                .column(pull_request::Column::RepositoryKey)
                .column(pull_request::Column::Number)
                .filter(pull_request::Column::RepositoryKey.is_in(keys))
                .filter(pull_request::Column::Number.is_in(numbers))
                .into_tuple()
                .all(txn)
                .await?;
        }
        Ok(Self {
            deliveries: stored_ids.into_iter().collect(),
            pull_requests: stored_pulls.into_iter().collect(),
            ..Self::default()
        })
    }

    /// Appends `delivery` when it is new and writes only new rows; its outcome, or `None`
    /// when it must take the one-by-one path.
    async fn append(
        &mut self,
        txn: &DatabaseTransaction,
        delivery: Delivery<'_>,
        event: &WebhookEvent,
        preview_domain: Option<&str>,
        repositories: &mut Repositories,
    ) -> Result<Option<DeliveryOutcome>> {
        if self.deliveries.contains(delivery.id) {
            return Ok(None);
        }
        let outcome = DeliveryOutcome::of(event);
        if let WebhookEvent::PullRequest(e) = event {
            let Ok(number) = i64::try_from(e.pull_request.number.0) else {
                return Ok(None);
            };
            let key = e.repository.key();
            if self.pull_requests.contains(&(key.clone(), number)) {
                return Ok(None);
            }
            let repo = intake::repository(txn, &key, repositories).await?;
            let id = new_id();
            if let Some(repo) = repo.as_ref().filter(|_| e.pull_request.open) {
                self.new_environments.push(environments::pending(
                    repo,
                    id.clone(),
                    number,
                    preview_domain,
                )?);
            }
            self.new_pull_requests.push(intake::new_pull_request(
                id,
                key.clone(),
                number,
                e,
                intake::Source::Webhook,
                repo.as_ref(),
            ));
            self.pull_requests.insert((key, number));
        }
        self.new_deliveries
            .push(intake::delivery_row(delivery, event, outcome));
        self.deliveries.insert(delivery.id.to_owned());
        Ok(Some(outcome))
    }

    /// Notes what a delivery recorded one by one wrote.
    fn seen(&mut self, delivery: Delivery<'_>, event: &WebhookEvent) {
        self.deliveries.insert(delivery.id.to_owned());
        if let WebhookEvent::PullRequest(e) = event
            && let Ok(number) = i64::try_from(e.pull_request.number.0)
        {
            self.pull_requests.insert((e.repository.key(), number));
        }
    }

    /// Writes the appended rows: one statement per table, pull requests before the
    /// environments that point at them.
    async fn write(&mut self, txn: &DatabaseTransaction) -> Result<()> {
        let deliveries = std::mem::take(&mut self.new_deliveries);
        let pull_requests = std::mem::take(&mut self.new_pull_requests);
        let environments = std::mem::take(&mut self.new_environments);
        insert_all(txn, deliveries).await?;
        insert_all(txn, pull_requests).await?;
        insert_all(txn, environments).await?;
        Ok(())
    }
}

/// One multi-row `INSERT` of `rows` (no statement for none). It has no `ON CONFLICT`: the
/// batch read that none of the rows is stored, and on SQLite it is the one writer, so a
/// conflict can only come from a concurrent writer (PostgreSQL) and fails the batch,
/// whose caller then records its deliveries one by one.
async fn insert_all<A>(txn: &DatabaseTransaction, rows: Vec<A>) -> Result<()>
where
    A: sea_orm::ActiveModelTrait + Send,
{
    <A::Entity as EntityTrait>::insert_many(rows)
        .exec_without_returning(txn)
        .await?;
    Ok(())
}
