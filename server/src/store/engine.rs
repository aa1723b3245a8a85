//! The engine's bookkeeping per environment (queue position, when deletion was first
//! requested, when a permanent failure was last announced) and the environment-row
//! updates the reconciler makes.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{OnConflict, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QuerySelect, Set,
};

use super::Result;
use super::entities::{preview_environment, pull_request, repository};
use super::operator_requests::environment_request;

/// The `environment_engine_states` table.
pub mod engine_state {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "environment_engine_states")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub environment_id: String,
        /// 1-based place in the capacity queue; `None` when not waiting.
        pub queue_position: Option<i32>,
        /// First request to delete the namespace; the "deletion stuck" clock.
        pub deletion_requested_at: Option<DateTimeUtc>,
        /// When the operators were last told about a permanent failure.
        pub failure_notified_at: Option<DateTimeUtc>,
        pub updated_at: DateTimeUtc,
        /// When the next attempt of a failed environment is due; `None`: no retry coming.
        pub retry_at: Option<DateTimeUtc>,
        /// Which retry that is (1-based) and how many the policy allows; capacity
        /// requeues, which spend no budget, leave both `None`.
        pub retry_number: Option<i32>,
        pub retry_limit: Option<i32>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The engine state of an environment (an empty one when none is stored).
pub async fn state(db: &impl ConnectionTrait, environment_id: &str) -> Result<engine_state::Model> {
    Ok(engine_state::Entity::find_by_id(environment_id.to_owned())
        .one(db)
        .await?
        .unwrap_or_else(|| engine_state::Model::empty(environment_id)))
}

impl engine_state::Model {
    /// The state of an environment the engine has stored nothing for.
    pub fn empty(environment_id: &str) -> Self {
        Self {
            environment_id: environment_id.to_owned(),
            queue_position: None,
            deletion_requested_at: None,
            failure_notified_at: None,
            updated_at: Utc::now(),
            retry_at: None,
            retry_number: None,
            retry_limit: None,
        }
    }
}

/// Every stored engine state, by environment.
pub async fn all_states(db: &impl ConnectionTrait) -> Result<HashMap<String, engine_state::Model>> {
    Ok(engine_state::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|s| (s.environment_id.clone(), s))
        .collect())
}

/// Writes the whole engine state of an environment (insert or update).
pub async fn put_state(db: &impl ConnectionTrait, state: &engine_state::Model) -> Result<()> {
    let row = engine_state::ActiveModel {
        environment_id: Set(state.environment_id.clone()),
        queue_position: Set(state.queue_position),
        deletion_requested_at: Set(state.deletion_requested_at),
        failure_notified_at: Set(state.failure_notified_at),
        updated_at: Set(Utc::now()),
        retry_at: Set(state.retry_at),
        retry_number: Set(state.retry_number),
        retry_limit: Set(state.retry_limit),
    };
    engine_state::Entity::insert(row)
        .on_conflict(
            OnConflict::column(engine_state::Column::EnvironmentId)
                .update_columns([
                    engine_state::Column::QueuePosition,
                    engine_state::Column::DeletionRequestedAt,
                    engine_state::Column::FailureNotifiedAt,
                    engine_state::Column::UpdatedAt,
                    engine_state::Column::RetryAt,
                    engine_state::Column::RetryNumber,
                    engine_state::Column::RetryLimit,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Sets only the queue position.
pub async fn set_queue_position(
    db: &impl ConnectionTrait,
    environment_id: &str,
    position: Option<u32>,
) -> Result<()> {
    let row = engine_state::ActiveModel {
        environment_id: Set(environment_id.to_owned()),
        queue_position: Set(position.and_then(|p| i32::try_from(p).ok())),
        deletion_requested_at: Set(None),
        failure_notified_at: Set(None),
        updated_at: Set(Utc::now()),
        retry_at: Set(None),
        retry_number: Set(None),
        retry_limit: Set(None),
    };
    engine_state::Entity::insert(row)
        .on_conflict(
            OnConflict::column(engine_state::Column::EnvironmentId)
                .update_columns([
                    engine_state::Column::QueuePosition,
                    engine_state::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// One environment row.
pub async fn environment(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<preview_environment::Model>> {
    Ok(preview_environment::Entity::find_by_id(id.to_owned())
        .one(db)
        .await?)
}

/// Ids of environments the engine still has to look at (everything not `deleted`).
pub async fn live_environment_ids(db: &impl ConnectionTrait) -> Result<Vec<String>> {
    Ok(preview_environment::Entity::find()
        .select_only()
        .column(preview_environment::Column::Id)
        .filter(preview_environment::Column::Status.ne("deleted"))
        .into_tuple()
        .all(db)
        .await?)
}

/// Every environment row.
pub async fn all_environments(
    db: &impl ConnectionTrait,
) -> Result<Vec<preview_environment::Model>> {
    Ok(preview_environment::Entity::find().all(db).await?)
}

/// What the engine changes on an environment row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvironmentUpdate {
    pub status: String,
    pub url: Option<String>,
    pub last_error: Option<String>,
    pub deletion_stuck: bool,
    pub ready_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl EnvironmentUpdate {
    pub fn of(env: &preview_environment::Model) -> Self {
        Self {
            status: env.status.clone(),
            url: env.url.clone(),
            last_error: env.last_error.clone(),
            deletion_stuck: env.deletion_stuck,
            ready_at: env.ready_at,
            deleted_at: env.deleted_at,
        }
    }
}

/// Writes `update` onto the environment row when it differs; returns the row as
/// written, `None` when nothing changed.
pub async fn update_environment(
    db: &impl ConnectionTrait,
    env: &preview_environment::Model,
    update: EnvironmentUpdate,
) -> Result<Option<preview_environment::Model>> {
    if EnvironmentUpdate::of(env) == update {
        return Ok(None);
    }
    let mut row: preview_environment::ActiveModel = env.clone().into();
    row.status = Set(update.status);
    row.url = Set(update.url);
    row.last_error = Set(update.last_error);
    row.deletion_stuck = Set(update.deletion_stuck);
    row.ready_at = Set(update.ready_at);
    row.deleted_at = Set(update.deleted_at);
    row.updated_at = Set(Utc::now());
    Ok(Some(row.update(db).await?))
}

/// Live environments whose row, pull request, repository configuration or operator
/// requests changed at or after `since` (what a wake from the webhook intake, the
/// dashboard, the API or MCP has to look at); every live one when `since` is `None`.
pub async fn changed_environment_ids(
    db: &impl ConnectionTrait,
    since: Option<DateTime<Utc>>,
) -> Result<Vec<String>> {
    let Some(since) = since else {
        return live_environment_ids(db).await;
    };
    // One query returning ids only: a wake comes with every webhook, and reading whole
    // rows of every live environment and every recently changed pull request was the
    // engine's largest cost under a webhook burst (BENCHMARKS.md, ack at 500/s).
    let changed_prs = Query::select()
        .column(pull_request::Column::Id)
        .from(pull_request::Entity)
        .and_where(pull_request::Column::UpdatedAt.gte(since))
        .to_owned();
    // A redeploy request touches only its own row: without this an operator's
    // "redeploy" waited for the next resync (five minutes by default).
    let changed_requests = Query::select()
        .column(environment_request::Column::EnvironmentId)
        .from(environment_request::Entity)
        .and_where(environment_request::Column::UpdatedAt.gte(since))
        .to_owned();
    // An edited repository (its eligibility rules, quota, chart) concerns all of its
    // environments.
    let changed_repositories = Query::select()
        .column(repository::Column::Id)
        .from(repository::Entity)
        .and_where(repository::Column::UpdatedAt.gte(since))
        .to_owned();
    Ok(preview_environment::Entity::find()
        .select_only()
        .column(preview_environment::Column::Id)
        .filter(preview_environment::Column::Status.ne("deleted"))
        .filter(
            Condition::any()
                .add(preview_environment::Column::UpdatedAt.gte(since))
                .add(preview_environment::Column::PullRequestId.in_subquery(changed_prs))
                .add(preview_environment::Column::Id.in_subquery(changed_requests))
                .add(preview_environment::Column::RepositoryId.in_subquery(changed_repositories)),
        )
        .into_tuple()
        .all(db)
        .await?)
}
