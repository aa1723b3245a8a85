//! `.catalyst/preview.yaml` as read at a pull request's head SHA (one row per pull
//! request, replaced when the head moves). The engine writes it before an attempt is
//! admitted and builds every step of that attempt from it; the GitHub sync reads it to
//! show a broken file's problem in the comment.

use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait};

use super::Result;

/// The `pull_request_configs` table.
pub mod pull_request_config {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "pull_request_configs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub pull_request_id: String,
        /// The commit the file was read at.
        pub head_sha: String,
        /// `missing | found | invalid | unavailable`.
        pub state: String,
        /// The parsed file (found, YAML) or the problem (invalid, JSON) or why GitHub
        /// could not be asked (unavailable).
        pub body: Option<String>,
        pub fetched_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use pull_request_config::{ActiveModel, Column, Entity, Model};

/// The recorded file of a pull request, whatever SHA it was read at.
pub async fn of(db: &impl ConnectionTrait, pull_request_id: &str) -> Result<Option<Model>> {
    Ok(Entity::find_by_id(pull_request_id.to_owned())
        .one(db)
        .await?)
}

/// Records what was read at `head_sha` (replacing an older SHA's record), and returns
/// the row as stored, so the reconcile that read the file goes on without reading it
/// back.
pub async fn put(
    db: &impl ConnectionTrait,
    pull_request_id: &str,
    head_sha: &str,
    state: &str,
    body: Option<String>,
) -> Result<Model> {
    let stored = Model {
        pull_request_id: pull_request_id.to_owned(),
        head_sha: head_sha.to_owned(),
        state: state.to_owned(),
        body,
        fetched_at: Utc::now(),
    };
    Entity::insert(ActiveModel::from(stored.clone()).reset_all())
        .on_conflict(
            OnConflict::column(Column::PullRequestId)
                .update_columns([
                    Column::HeadSha,
                    Column::State,
                    Column::Body,
                    Column::FetchedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(stored)
}
