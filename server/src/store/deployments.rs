//! Deployment attempts: one row per try of one head SHA, with the phase the engine last
//! persisted and its per-phase timestamps. Attempt numbers count up per environment and
//! are unique with it, so a restarted engine can never record the same attempt twice.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::entities::{deployment, preview_environment};
use super::{Result, new_id};

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

/// Environment, phase and queue time of every unfinished attempt: what admission needs,
/// without reading whole rows on each decision.
pub async fn unfinished_slots(
    db: &impl ConnectionTrait,
) -> Result<Vec<(String, String, DateTime<Utc>)>> {
    Ok(deployment::Entity::find()
        .select_only()
        .column(deployment::Column::EnvironmentId)
        .column(deployment::Column::Phase)
        .column(deployment::Column::QueuedAt)
        .filter(deployment::Column::Phase.is_in(UNFINISHED))
        .into_tuple()
        .all(db)
        .await?)
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
fn newest_attempt_only() -> sea_orm::sea_query::SimpleExpr {
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
