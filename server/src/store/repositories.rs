//! Configured repositories: creation (with the namespace slug decided once), listing and
//! lookup. Configuring a repository adopts the pull requests already recorded for it.

use std::collections::HashMap;

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set, SqlErr, TransactionTrait,
};

use super::entities::{project, pull_request, repository};
use super::{Db, Result, StoreError, encode_list, environments, new_id};
use crate::core::domain::RepositoryName;
use crate::core::naming;

/// The preview configuration of a repository, already validated.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PreviewSettings {
    pub chart_repo: Option<String>,
    pub chart_path: Option<String>,
    pub chart_version: Option<String>,
    pub values_yaml: Option<String>,
    pub values_files: Vec<String>,
    pub build_dockerfile: Option<String>,
    pub build_context: Option<String>,
    pub image_pattern: Option<String>,
    pub health_path: String,
    pub quota_cpu: Option<String>,
    pub quota_memory: Option<String>,
    pub quota_pods: Option<i32>,
    pub secrets: Vec<String>,
    pub secret_store_namespace: Option<String>,
    pub required_label: Option<String>,
    pub deploy_drafts: bool,
    pub fork_opt_in_label: Option<String>,
    pub installation_id: Option<i64>,
}

/// A repository to configure.
#[derive(Clone, Debug)]
pub struct NewRepository {
    pub full_name: RepositoryName,
    /// Defaults to the owner's name.
    pub project: Option<String>,
    pub settings: PreviewSettings,
}

/// A configured repository with its project's name.
#[derive(Clone, Debug)]
pub struct StoredRepository {
    pub row: repository::Model,
    pub project: String,
}

/// Why a repository could not be configured.
#[derive(Debug, thiserror::Error)]
pub enum CreateRepositoryError {
    #[error("repository {0} is already configured")]
    AlreadyExists(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sea_orm::DbErr> for CreateRepositoryError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Store(e.into())
    }
}

/// The configured repository with this lowercased full name.
pub async fn find_by_key(
    db: &impl ConnectionTrait,
    key: &str,
) -> Result<Option<repository::Model>> {
    Ok(repository::Entity::find()
        .filter(repository::Column::FullNameKey.eq(key))
        .one(db)
        .await?)
}

/// How many repositories are configured.
pub async fn count(db: &impl ConnectionTrait) -> Result<u64> {
    Ok(repository::Entity::find().count(db).await?)
}

/// Every configured repository, by name.
pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<StoredRepository>> {
    let projects: HashMap<String, String> = project::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect();
    let rows = repository::Entity::find()
        .order_by_asc(repository::Column::FullNameKey)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| StoredRepository {
            project: projects.get(&row.project_id).cloned().unwrap_or_default(),
            row,
        })
        .collect())
}

/// Configures a repository in one transaction: project, repository with its namespace
/// slug, and adoption of already recorded pull requests (open ones get a pending
/// environment).
pub async fn create(
    db: &Db,
    new: NewRepository,
    preview_domain: Option<&str>,
) -> Result<StoredRepository, CreateRepositoryError> {
    let txn = db.begin().await?;
    let key = new.full_name.key();
    if find_by_key(&txn, &key).await?.is_some() {
        return Err(CreateRepositoryError::AlreadyExists(
            new.full_name.to_string(),
        ));
    }
    let now = Utc::now();
    let project_name = new
        .project
        .clone()
        .unwrap_or_else(|| new.full_name.owner().to_owned());
    let project = match project::Entity::find()
        .filter(project::Column::Name.eq(&project_name))
        .one(&txn)
        .await?
    {
        Some(p) => p,
        None => {
            project::ActiveModel {
                id: Set(new_id()),
                name: Set(project_name.clone()),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&txn)
            .await?
        }
    };

    let plain = naming::plain_slug(&new.full_name);
    let plain_taken = repository::Entity::find()
        .filter(repository::Column::NamespaceSlug.eq(plain.as_str()))
        .one(&txn)
        .await?
        .is_some();
    let slug = naming::slug_for_new_repository(&new.full_name, plain_taken);

    let s = new.settings;
    let inserted = repository::ActiveModel {
        id: Set(new_id()),
        project_id: Set(project.id),
        full_name: Set(new.full_name.to_string()),
        full_name_key: Set(key.clone()),
        namespace_slug: Set(slug.as_str().to_owned()),
        chart_repo: Set(s.chart_repo),
        chart_path: Set(s.chart_path),
        chart_version: Set(s.chart_version),
        values_yaml: Set(s.values_yaml),
        values_files: Set(encode_list(&s.values_files)),
        build_dockerfile: Set(s.build_dockerfile),
        build_context: Set(s.build_context),
        image_pattern: Set(s.image_pattern),
        health_path: Set(s.health_path),
        quota_cpu: Set(s.quota_cpu),
        quota_memory: Set(s.quota_memory),
        quota_pods: Set(s.quota_pods),
        secrets: Set(encode_list(&s.secrets)),
        secret_store_namespace: Set(s.secret_store_namespace),
        required_label: Set(s.required_label),
        deploy_drafts: Set(s.deploy_drafts),
        fork_opt_in_label: Set(s.fork_opt_in_label),
        installation_id: Set(s.installation_id),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await;
    let row = match inserted {
        Ok(row) => row,
        // A concurrent request configured it first (Postgres, several replicas).
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            return Err(CreateRepositoryError::AlreadyExists(
                new.full_name.to_string(),
            ));
        }
        Err(e) => return Err(e.into()),
    };

    pull_request::Entity::update_many()
        .col_expr(
            pull_request::Column::RepositoryId,
            Expr::value(row.id.clone()),
        )
        .col_expr(pull_request::Column::Configured, Expr::value(true))
        .filter(pull_request::Column::RepositoryKey.eq(&key))
        .exec(&txn)
        .await?;
    let open_prs = pull_request::Entity::find()
        .filter(pull_request::Column::RepositoryKey.eq(&key))
        .filter(pull_request::Column::State.eq("open"))
        .all(&txn)
        .await?;
    for pr in &open_prs {
        environments::ensure_pending(&txn, &row, pr, preview_domain).await?;
    }
    txn.commit().await?;
    Ok(StoredRepository {
        row,
        project: project_name,
    })
}
