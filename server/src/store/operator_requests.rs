//! What people asked for from the dashboard, the JSON API or MCP: a manual redeploy
//! (a new attempt at the current head SHA) or the deletion of an environment. The engine
//! reads these level-triggered; see `request_redeploy` and `request_delete`.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set, TransactionTrait};

use super::entities::preview_environment;
use super::{Db, Result};

/// The `environment_requests` table.
pub mod environment_request {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "environment_requests")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub environment_id: String,
        /// A new attempt is wanted if no attempt was queued after this instant.
        pub redeploy_requested_at: Option<DateTimeUtc>,
        pub redeploy_requested_by: Option<String>,
        /// The environment is not wanted any more (whatever the pull request's state).
        pub delete_requested_at: Option<DateTimeUtc>,
        pub delete_requested_by: Option<String>,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use environment_request::{ActiveModel, Column, Entity, Model};

/// The requests recorded for an environment, if any.
pub async fn of(db: &impl ConnectionTrait, environment_id: &str) -> Result<Option<Model>> {
    Ok(Entity::find_by_id(environment_id.to_owned())
        .one(db)
        .await?)
}

/// Every environment's requests (for the engine's pass).
pub async fn all(db: &impl ConnectionTrait) -> Result<Vec<Model>> {
    Ok(Entity::find().all(db).await?)
}

async fn upsert(db: &impl ConnectionTrait, row: ActiveModel, columns: [Column; 2]) -> Result<()> {
    Entity::insert(row)
        .on_conflict(
            OnConflict::column(Column::EnvironmentId)
                .update_columns([columns[0], columns[1], Column::UpdatedAt])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Records that `who` wants a new deployment attempt of the environment's head SHA.
pub async fn request_redeploy(
    db: &impl ConnectionTrait,
    environment_id: &str,
    who: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let row = ActiveModel {
        environment_id: Set(environment_id.to_owned()),
        redeploy_requested_at: Set(Some(now)),
        redeploy_requested_by: Set(Some(who.to_owned())),
        delete_requested_at: Set(None),
        delete_requested_by: Set(None),
        updated_at: Set(now),
    };
    upsert(
        db,
        row,
        [Column::RedeployRequestedAt, Column::RedeployRequestedBy],
    )
    .await
}

/// Records that `who` wants the environment gone and shows it as `deleting` at once;
/// the engine deletes the namespace and marks it `deleted`.
pub async fn request_delete(
    db: &Db,
    env: &preview_environment::Model,
    who: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let txn = db.begin().await?;
    let row = ActiveModel {
        environment_id: Set(env.id.clone()),
        redeploy_requested_at: Set(None),
        redeploy_requested_by: Set(None),
        delete_requested_at: Set(Some(now)),
        delete_requested_by: Set(Some(who.to_owned())),
        updated_at: Set(now),
    };
    upsert(
        &txn,
        row,
        [Column::DeleteRequestedAt, Column::DeleteRequestedBy],
    )
    .await?;
    if env.status != "deleted" && env.status != "deleting" {
        let mut active: preview_environment::ActiveModel = env.clone().into();
        active.status = Set("deleting".to_owned());
        active.updated_at = Set(now);
        active.update(&txn).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Forgets a delete request (the pull request was reopened and wants an environment).
pub async fn clear_delete(db: &impl ConnectionTrait, environment_id: &str) -> Result<()> {
    if let Some(r) = of(db, environment_id).await? {
        let mut active: ActiveModel = r.into();
        active.delete_requested_at = Set(None);
        active.delete_requested_by = Set(None);
        active.updated_at = Set(Utc::now());
        active.update(db).await?;
    }
    Ok(())
}
