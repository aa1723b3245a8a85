//! What Catalyst last wrote to GitHub for one pull request.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "pull_request_publications")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub pull_request_id: String,
    /// The sticky comment, so a restart edits it without listing the comments.
    pub comment_id: Option<i64>,
    /// Hash of the comment body and deployment status last published.
    pub fingerprint: Option<String>,
    /// The deployment row (attempt) the GitHub deployment belongs to.
    pub deployment_attempt: Option<String>,
    pub github_deployment_id: Option<i64>,
    /// The last deployment status state posted (`queued`, `in_progress`, …).
    pub deployment_state: Option<String>,
    pub published_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
