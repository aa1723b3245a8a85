//! One deployment attempt of an environment, with per-phase timestamps.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deployments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub environment_id: String,
    pub attempt: i32,
    pub head_sha: String,
    /// `queued | provisioning | deploying | verifying | succeeded | failed | superseded | cancelled`.
    pub phase: String,
    pub queued_at: DateTimeUtc,
    pub provisioning_at: Option<DateTimeUtc>,
    pub deploying_at: Option<DateTimeUtc>,
    pub verifying_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    pub outcome: Option<String>,
    pub error: Option<String>,
    pub failed_check: Option<String>,
    pub log_excerpt: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
