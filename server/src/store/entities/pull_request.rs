//! A pull request's desired state, as last reported by GitHub.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "pull_requests")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub repository_full_name: String,
    /// Lowercased full name; with `number` the natural key.
    pub repository_key: String,
    /// Set while the repository is configured.
    pub repository_id: Option<String>,
    pub number: i64,
    pub title: String,
    pub head_sha: String,
    pub head_ref: String,
    pub base_ref: String,
    pub author: String,
    pub is_fork: bool,
    pub draft: bool,
    /// JSON array of label names.
    pub labels: String,
    /// `open` or `closed`.
    pub state: String,
    pub merged: bool,
    pub github_updated_at: DateTimeUtc,
    pub installation_id: Option<i64>,
    /// False when the repository had no configuration; a later issue comments on these.
    pub configured: bool,
    pub config_missing_notified_at: Option<DateTimeUtc>,
    /// Created from GitHub's `opened` webhook: Catalyst saw the pull request open, so no
    /// earlier Catalyst comment can be on it (not set by the sweep or by later events).
    pub opened_by_webhook: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
