//! A preview environment: one namespace for one pull request.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "preview_environments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub repository_id: String,
    #[sea_orm(unique)]
    pub pull_request_id: String,
    pub pr_number: i64,
    #[sea_orm(unique)]
    pub namespace: String,
    pub url: Option<String>,
    /// `pending | deploying | ready | failed | deleting | deleted`.
    pub status: String,
    pub last_error: Option<String>,
    /// Namespace deletion did not finish in time; operators are warned.
    pub deletion_stuck: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub ready_at: Option<DateTimeUtc>,
    pub deleted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
