//! Webhook intake: records a verified delivery and applies the desired-state change it
//! carries in one transaction, so a delivery is either fully processed or not at all.
//!
//! Two rules keep desired state right whatever GitHub's delivery order:
//! - a `X-GitHub-Delivery` id seen before is acknowledged and not applied again;
//! - a pull request snapshot older (by GitHub's `updated_at`) than the stored one does
//!   not overwrite it.
//!
//! On SQLite, deliveries that arrive together are committed together
//! ([`IntakeQueue`](super::intake_queue::IntakeQueue)): its one writer connection runs
//! one transaction at a time, so a burst of deliveries waited in line for a `BEGIN` and
//! a `COMMIT` each. A batch writes the rows of new deliveries and new pull requests with
//! one statement per table ([`intake_batch`](super::intake_batch)) and takes the path
//! here for the rest.

use std::collections::HashMap;

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter, QuerySelect, Set, SqlErr, TransactionTrait, TryInsertResult,
};

use super::entities::{pull_request, repository, webhook_delivery};
use super::{Db, Result, StoreError, encode_list, environments, new_id, repositories};
use crate::core::webhook_event::{PullRequestEvent, WebhookEvent};

/// The headers that identify a delivery.
#[derive(Clone, Copy, Debug)]
pub struct Delivery<'a> {
    /// `X-GitHub-Delivery`.
    pub id: &'a str,
    /// `X-GitHub-Event`.
    pub event: &'a str,
}

/// What happened to a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Desired state changed (or was confirmed).
    Applied,
    /// Older than what is stored; recorded, not applied.
    Stale,
    /// Nothing Catalyst acts on; recorded.
    Ignored,
    Ping,
    /// Seen before; not processed again.
    Duplicate,
}

impl DeliveryOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Stale => "stale",
            Self::Ignored => "ignored",
            Self::Ping => "ping",
            Self::Duplicate => "duplicate",
        }
    }

    /// What a new delivery of `event` is recorded as before it is applied (a pull
    /// request's snapshot may still turn out [`Stale`](Self::Stale)).
    pub(super) fn of(event: &WebhookEvent) -> Self {
        match event {
            WebhookEvent::Ping => Self::Ping,
            WebhookEvent::Ignored(_) => Self::Ignored,
            WebhookEvent::PullRequest(_) => Self::Applied,
        }
    }
}

/// Records `delivery` and applies `event`.
pub async fn record(
    db: &Db,
    delivery: Delivery<'_>,
    event: &WebhookEvent,
    preview_domain: Option<&str>,
) -> Result<DeliveryOutcome> {
    let txn = db.begin().await?;
    let outcome = record_in(
        &txn,
        delivery,
        event,
        preview_domain,
        &mut Repositories::new(),
    )
    .await?;
    // A duplicate wrote nothing: committing it ends the transaction as a rollback would.
    txn.commit().await?;
    Ok(outcome)
}

/// Repositories read in one transaction, by key (`None`: not configured), so that a batch
/// of deliveries reads each once: a burst's deliveries come from a few repositories, and
/// every statement of the batch is a round trip to SQLite's one writer thread.
pub(super) type Repositories = HashMap<String, Option<repository::Model>>;

pub(super) async fn record_in(
    txn: &DatabaseTransaction,
    delivery: Delivery<'_>,
    event: &WebhookEvent,
    preview_domain: Option<&str>,
    repositories: &mut Repositories,
) -> Result<DeliveryOutcome> {
    let outcome = DeliveryOutcome::of(event);
    let inserted = webhook_delivery::Entity::insert(delivery_row(delivery, event, outcome))
        .on_conflict_do_nothing_on([webhook_delivery::Column::DeliveryId])
        .exec_without_returning(txn)
        .await?;
    if matches!(
        inserted,
        TryInsertResult::Conflicted | TryInsertResult::Inserted(0)
    ) {
        return Ok(DeliveryOutcome::Duplicate);
    }
    Ok(match event {
        WebhookEvent::PullRequest(e) => {
            let applied =
                apply_pull_request(txn, e, Source::Webhook, preview_domain, repositories).await?;
            if applied {
                DeliveryOutcome::Applied
            } else {
                webhook_delivery::Entity::update_many()
                    .col_expr(
                        webhook_delivery::Column::Outcome,
                        Expr::value(DeliveryOutcome::Stale.as_str()),
                    )
                    .filter(webhook_delivery::Column::DeliveryId.eq(delivery.id))
                    .exec(txn)
                    .await?;
                DeliveryOutcome::Stale
            }
        }
        _ => outcome,
    })
}

/// The delivery's row, recorded with `outcome`.
pub(super) fn delivery_row(
    delivery: Delivery<'_>,
    event: &WebhookEvent,
    outcome: DeliveryOutcome,
) -> webhook_delivery::ActiveModel {
    let (action, repository, pr_number) = match event {
        WebhookEvent::Ping => (None, None, None),
        WebhookEvent::Ignored(i) => (i.action.clone(), i.repository.clone(), i.pr_number),
        WebhookEvent::PullRequest(e) => (
            Some(e.action.as_str().to_owned()),
            Some(e.repository.to_string()),
            Some(e.pull_request.number.0),
        ),
    };
    webhook_delivery::ActiveModel {
        id: Set(new_id()),
        delivery_id: Set(delivery.id.to_owned()),
        event: Set(delivery.event.to_owned()),
        action: Set(action),
        repository: Set(repository),
        pr_number: Set(pr_number.and_then(|n| i64::try_from(n).ok())),
        received_at: Set(Utc::now()),
        outcome: Set(outcome.as_str().to_owned()),
    }
}

/// Applies a pull request snapshot that did not come from a webhook (the reconciliation
/// sweep read it from GitHub's API), under the same rules as a delivery: a snapshot older
/// than the stored one is not applied. Returns whether it was.
pub async fn apply_snapshot(
    db: &Db,
    event: &PullRequestEvent,
    preview_domain: Option<&str>,
) -> Result<bool> {
    let txn = db.begin().await?;
    let applied = apply_pull_request(
        &txn,
        event,
        Source::Sweep,
        preview_domain,
        &mut Repositories::new(),
    )
    .await?;
    txn.commit().await?;
    Ok(applied)
}

/// Where a pull request snapshot came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Source {
    /// A webhook delivery: GitHub telling us as it happens.
    Webhook,
    /// The reconciliation sweep: a pull request read later, whatever happened meanwhile.
    Sweep,
}

/// Writes the snapshot unless a newer one is stored; returns whether it was applied.
async fn apply_pull_request(
    txn: &DatabaseTransaction,
    e: &PullRequestEvent,
    source: Source,
    preview_domain: Option<&str>,
    repositories: &mut Repositories,
) -> Result<bool> {
    let key = e.repository.key();
    let repo = repository(txn, &key, repositories).await?;
    let number = i64::try_from(e.pull_request.number.0).map_err(|_| {
        StoreError::Corrupt(format!("pull request number {}", e.pull_request.number))
    })?;
    let find = || {
        pull_request::Entity::find()
            .filter(pull_request::Column::RepositoryKey.eq(&key))
            .filter(pull_request::Column::Number.eq(number))
            // Serialises concurrent deliveries for one PR on Postgres (no-op on SQLite,
            // whose single connection already serialises them).
            .lock_exclusive()
    };
    // The row, and whether this transaction created it.
    let (row, created) = match find().one(txn).await? {
        Some(stored) => match update_if_newer(txn, stored, e, repo.as_ref()).await? {
            Some(row) => (row, false),
            None => return Ok(false),
        },
        None => {
            let fresh = new_pull_request(new_id(), key.clone(), number, e, source, repo.as_ref());
            if txn.get_database_backend() == DbBackend::Sqlite {
                // SQLite's one connection runs one transaction at a time: no concurrent
                // first delivery can exist, so no savepoint (two statements fewer on the
                // webhook path).
                (fresh.insert(txn).await?, true)
            } else {
                // A concurrent first delivery for the same PR (Postgres) makes this insert
                // wait, then conflict; the savepoint lets the transaction go on with the
                // row the other delivery wrote.
                let savepoint = txn.begin().await?;
                match fresh.insert(&savepoint).await {
                    Ok(row) => {
                        savepoint.commit().await?;
                        (row, true)
                    }
                    Err(err)
                        if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) =>
                    {
                        savepoint.rollback().await?;
                        let stored = find().one(txn).await?.ok_or(StoreError::Db(err))?;
                        match update_if_newer(txn, stored, e, repo.as_ref()).await? {
                            Some(row) => (row, false),
                            None => return Ok(false),
                        }
                    }
                    Err(err) => return Err(err.into()),
                }
            }
        }
    };
    match (repo, e.pull_request.open) {
        // A pull request created just now has no environment to look up.
        (Some(repo), true) if created => {
            environments::insert_pending(txn, &repo, &row, preview_domain).await?;
        }
        (Some(repo), true) => {
            environments::ensure_pending(txn, &repo, &row, preview_domain).await?
        }
        _ => {}
    }
    Ok(true)
}

/// The repository stored under `key`, read once per transaction.
pub(super) async fn repository(
    txn: &DatabaseTransaction,
    key: &str,
    repositories: &mut Repositories,
) -> Result<Option<repository::Model>> {
    if let Some(known) = repositories.get(key) {
        return Ok(known.clone());
    }
    let read = repositories::find_by_key(txn, key).await?;
    repositories.insert(key.to_owned(), read.clone());
    Ok(read)
}

/// The row of a pull request seen for the first time, every column set.
pub(super) fn new_pull_request(
    id: String,
    key: String,
    number: i64,
    e: &PullRequestEvent,
    source: Source,
    repo: Option<&repository::Model>,
) -> pull_request::ActiveModel {
    let now = Utc::now();
    let mut fresh = pull_request::ActiveModel {
        id: Set(id),
        repository_key: Set(key),
        number: Set(number),
        config_missing_notified_at: Set(None),
        // The sweep's "opened" only means "not stored yet": the pull request may be old.
        opened_by_webhook: Set(source == Source::Webhook && e.announces_opening(now)),
        created_at: Set(now),
        ..Default::default()
    };
    fill(&mut fresh, e, repo);
    fresh
}

/// Applies the snapshot to a stored pull request unless the stored one is newer.
async fn update_if_newer(
    txn: &DatabaseTransaction,
    stored: pull_request::Model,
    e: &PullRequestEvent,
    repo: Option<&repository::Model>,
) -> Result<Option<pull_request::Model>> {
    // Equal timestamps are applied: GitHub sends several events within one second.
    if stored.github_updated_at > e.pull_request.updated_at {
        return Ok(None);
    }
    let mut active = pull_request::ActiveModel::from(stored);
    fill(&mut active, e, repo);
    Ok(Some(active.update(txn).await?))
}

/// Copies the snapshot's desired-state fields onto a row.
fn fill(
    active: &mut pull_request::ActiveModel,
    e: &PullRequestEvent,
    repo: Option<&repository::Model>,
) {
    let snap = &e.pull_request;
    active.repository_full_name = Set(e.repository.to_string());
    active.repository_id = Set(repo.map(|r| r.id.clone()));
    active.title = Set(snap.title.clone());
    active.head_sha = Set(snap.head_sha.to_string());
    active.head_ref = Set(snap.head_ref.clone());
    active.base_ref = Set(snap.base_ref.clone());
    active.author = Set(snap.author.clone());
    active.is_fork = Set(snap.is_fork);
    active.draft = Set(snap.draft);
    active.labels = Set(encode_list(&snap.labels));
    active.state = Set(if snap.open { "open" } else { "closed" }.to_owned());
    active.merged = Set(snap.merged);
    active.github_updated_at = Set(snap.updated_at);
    active.installation_id = Set(e.installation_id);
    active.configured = Set(repo.is_some());
    active.updated_at = Set(Utc::now());
}
