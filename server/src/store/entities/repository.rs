//! A configured repository and its preview configuration.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "repositories")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub project_id: String,
    pub full_name: String,
    /// Lowercased `full_name`; the lookup key.
    #[sea_orm(unique)]
    pub full_name_key: String,
    /// The `{repo}` of `pr-{repo}-{n}`, fixed when the repository was configured.
    #[sea_orm(unique)]
    pub namespace_slug: String,
    pub chart_repo: Option<String>,
    pub chart_path: Option<String>,
    pub chart_version: Option<String>,
    pub values_yaml: Option<String>,
    /// JSON array of strings.
    pub values_files: String,
    pub build_dockerfile: Option<String>,
    pub build_context: Option<String>,
    pub image_pattern: Option<String>,
    pub health_path: String,
    pub quota_cpu: Option<String>,
    pub quota_memory: Option<String>,
    pub quota_pods: Option<i32>,
    /// JSON array of strings.
    pub secrets: String,
    pub secret_store_namespace: Option<String>,
    pub required_label: Option<String>,
    pub deploy_drafts: bool,
    pub fork_opt_in_label: Option<String>,
    pub installation_id: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
