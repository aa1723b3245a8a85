//! Deployment attempts: one row per try of one head SHA, with the phase the engine last
//! persisted and its per-phase timestamps. Attempt numbers count up per environment and
//! are unique with it, so a restarted engine can never record the same attempt twice.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::entities::{deployment, preview_environment};
use super::pull_request_configs::pull_request_config;
use super::{Result, new_id};
use crate::core::deployment::Phase;

/// Phases in which an attempt is still going (queued or holding a slot).
pub const UNFINISHED: [&str; 4] = ["queued", "provisioning", "deploying", "verifying"];
/// Phases that hold one of the concurrent-deployment slots.
pub const IN_FLIGHT: [&str; 3] = ["provisioning", "deploying", "verifying"];

/// Every attempt of an environment, oldest first.
pub async fn for_environment(
    db: &impl ConnectionTrait,
    environment_id: &str,
) -> Result<Vec<deployment::Model>> {
    Ok(deployment::Entity::find()
        .filter(deployment::Column::EnvironmentId.eq(environment_id))
        .order_by_asc(deployment::Column::Attempt)
        .all(db)
        .await?)
}

/// Records attempt `attempt` of `head_sha` as queued.
pub async fn insert_queued(
    db: &impl ConnectionTrait,
    environment_id: &str,
    attempt: i32,
    head_sha: &str,
    now: DateTime<Utc>,
) -> Result<deployment::Model> {
    Ok(deployment::ActiveModel {
        id: Set(new_id()),
        environment_id: Set(environment_id.to_owned()),
        attempt: Set(attempt),
        head_sha: Set(head_sha.to_owned()),
        phase: Set("queued".to_owned()),
        queued_at: Set(now),
        provisioning_at: Set(None),
        deploying_at: Set(None),
        verifying_at: Set(None),
        finished_at: Set(None),
        outcome: Set(None),
        error: Set(None),
        failed_check: Set(None),
        log_excerpt: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?)
}

/// Saves changed columns of an attempt.
pub async fn save(
    db: &impl ConnectionTrait,
    mut row: deployment::ActiveModel,
) -> Result<deployment::Model> {
    row.updated_at = Set(Utc::now());
    Ok(row.update(db).await?)
}

/// Attempts that are not finished, across all environments.
pub async fn unfinished(db: &impl ConnectionTrait) -> Result<Vec<deployment::Model>> {
    Ok(deployment::Entity::find()
        .filter(deployment::Column::Phase.is_in(UNFINISHED))
        .all(db)
        .await?)
}

/// One unfinished attempt as admission sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slot {
    pub attempt_id: String,
    pub environment_id: String,
    /// The environment's namespace (for logs).
    pub namespace: String,
    pub repository_id: String,
    pub phase: String,
    pub queued_at: DateTime<Utc>,
    pub head_sha: String,
    /// The SHA and state of the pull request's recorded `.catalyst/preview.yaml`.
    pub config: Option<(String, String)>,
}

/// Every unfinished attempt with its environment's repository and its pull request's
/// recorded preview file: what admission needs, in one statement and without reading
/// whole rows on each decision.
pub async fn unfinished_slots(db: &impl ConnectionTrait) -> Result<Vec<Slot>> {
    use pull_request_config::{Column as C, Entity as Cfg};
    let (d, e) = (deployment::Entity, preview_environment::Entity);
    let q = Query::select()
        .column((d, deployment::Column::Id))
        .column((d, deployment::Column::EnvironmentId))
        .column((e, preview_environment::Column::Namespace))
        .column((e, preview_environment::Column::RepositoryId))
        .column((d, deployment::Column::Phase))
        .column((d, deployment::Column::QueuedAt))
        .column((d, deployment::Column::HeadSha))
        .expr_as(Expr::col((Cfg, C::HeadSha)), Alias::new("config_sha"))
        .expr_as(Expr::col((Cfg, C::State)), Alias::new("config_state"))
        .from(d)
        .inner_join(
            e,
            Expr::col((e, preview_environment::Column::Id))
                .equals((d, deployment::Column::EnvironmentId)),
        )
        .left_join(
            Cfg,
            Expr::col((Cfg, C::PullRequestId))
                .equals((e, preview_environment::Column::PullRequestId)),
        )
        .and_where(Expr::col((d, deployment::Column::Phase)).is_in(UNFINISHED))
        .to_owned();
    let rows = db.query_all(&q).await?;
    rows.iter()
        .map(|r| {
            let sha: Option<String> = r.try_get("", "config_sha")?;
            let state: Option<String> = r.try_get("", "config_state")?;
            Ok(Slot {
                attempt_id: r.try_get("", "id")?,
                environment_id: r.try_get("", "environment_id")?,
                namespace: r.try_get("", "namespace")?,
                repository_id: r.try_get("", "repository_id")?,
                phase: r.try_get("", "phase")?,
                queued_at: r.try_get("", "queued_at")?,
                head_sha: r.try_get("", "head_sha")?,
                config: sha.zip(state),
            })
        })
        .collect::<std::result::Result<_, sea_orm::DbErr>>()
        .map_err(Into::into)
}

/// `row` as [`start_queued`] leaves it when it moved it at `now`: what the decision that
/// started it goes on from without reading it back.
pub fn started(row: &deployment::Model, now: DateTime<Utc>) -> deployment::Model {
    deployment::Model {
        phase: Phase::Provisioning.as_str().to_owned(),
        provisioning_at: Some(now),
        updated_at: now,
        ..row.clone()
    }
}

/// Moves queued attempts to `provisioning` (slots admission granted them); an attempt
/// that left `queued` meanwhile (superseded, cancelled) is left alone. Returns how many
/// moved.
pub async fn start_queued(
    db: &impl ConnectionTrait,
    attempt_ids: &[String],
    now: DateTime<Utc>,
) -> Result<u64> {
    if attempt_ids.is_empty() {
        return Ok(0);
    }
    let mut moved = 0;
    // Bounded lists: SQLite and PostgreSQL both cap bound parameters per statement.
    for ids in attempt_ids.chunks(5_000) {
        moved += deployment::Entity::update_many()
            .col_expr(
                deployment::Column::Phase,
                Expr::value(Phase::Provisioning.as_str()),
            )
            .col_expr(deployment::Column::ProvisioningAt, Expr::value(now))
            .col_expr(deployment::Column::UpdatedAt, Expr::value(now))
            .filter(deployment::Column::Id.is_in(ids.iter().cloned()))
            .filter(deployment::Column::Phase.eq(Phase::Queued.as_str()))
            .exec(db)
            .await?
            .rows_affected;
    }
    Ok(moved)
}

/// Environments that have had a namespace created for them at some point (an attempt
/// reached provisioning) and are not deleted: they count against the active-environment
/// limit. Deleted environments are left out in the query, so admission does not read the
/// whole history of attempts (it grows with every push ever deployed).
pub async fn provisioned_environments(
    db: &impl ConnectionTrait,
) -> Result<std::collections::HashSet<String>> {
    let live = Query::select()
        .column(preview_environment::Column::Id)
        .from(preview_environment::Entity)
        .and_where(preview_environment::Column::Status.ne("deleted"))
        .to_owned();
    let ids: Vec<String> = deployment::Entity::find()
        .select_only()
        .column(deployment::Column::EnvironmentId)
        .distinct()
        .filter(deployment::Column::ProvisioningAt.is_not_null())
        .filter(deployment::Column::EnvironmentId.in_subquery(live))
        .into_tuple()
        .all(db)
        .await?;
    Ok(ids.into_iter().collect())
}

/// Keeps only each environment's newest attempt. The unique (environment, attempt)
/// index answers the correlated `MAX` per row, so this reads one attempt per
/// environment instead of every attempt ever made.
pub(super) fn newest_attempt_only() -> sea_orm::sea_query::SimpleExpr {
    Expr::cust(
        "deployments.attempt = (SELECT MAX(newer.attempt) FROM deployments newer \
         WHERE newer.environment_id = deployments.environment_id)",
    )
}

/// The latest attempt of every environment that has one.
pub async fn latest_by_environment(
    db: &impl ConnectionTrait,
) -> Result<HashMap<String, deployment::Model>> {
    let rows = deployment::Entity::find()
        .filter(newest_attempt_only())
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|d| (d.environment_id.clone(), d))
        .collect())
}

/// The latest attempt of each of `environment_ids` that has one.
pub async fn latest_of(
    db: &impl ConnectionTrait,
    environment_ids: &[String],
) -> Result<HashMap<String, deployment::Model>> {
    let mut latest = HashMap::new();
    // Bounded lists: SQLite and PostgreSQL both cap bound parameters per statement.
    for ids in environment_ids.chunks(5_000) {
        let rows = deployment::Entity::find()
            .filter(deployment::Column::EnvironmentId.is_in(ids.iter().cloned()))
            .filter(newest_attempt_only())
            .all(db)
            .await?;
        latest.extend(rows.into_iter().map(|d| (d.environment_id.clone(), d)));
    }
    Ok(latest)
}
