//! Service actions the JSON API and MCP added beside the dashboard's: an environment
//! for a pull request on demand, removing a repository's configuration, and listing
//! API tokens. Entrances authorise; these methods decide and persist.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait};

use super::{CatalystService, ServiceError};
use crate::core::domain::Role;
use crate::store::entities::{api_token, preview_environment, pull_request};
use crate::store::{StoreError, environments, operator_requests, repositories};

/// What asking for a pull request's environment did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnvironmentForPr {
    /// The repository is not configured in Catalyst.
    RepositoryNotConfigured,
    /// Catalyst has no record of this pull request (no webhook or sweep saw it yet).
    PullRequestUnknown,
    /// The pull request is closed; closed pull requests get no environment.
    PullRequestClosed,
    /// The environment is wanted now; `created` when it did not exist before.
    Wanted {
        environment_id: String,
        created: bool,
    },
}

/// What removing a repository's configuration did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RepositoryRemoval {
    NotConfigured,
    /// Environments that are not deleted yet hold it (their ids).
    HasEnvironments(Vec<String>),
    Removed,
}

/// An active API token, without its secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl CatalystService {
    /// `create_environment`: the environment of an open pull request that Catalyst
    /// knows (from a webhook or the periodic sweep) is wanted: created `pending`, or
    /// brought back from deleting/deleted, and any delete request is forgotten. Wakes
    /// the reconciler, which deploys it.
    pub async fn create_environment_for_pr(
        &self,
        repository: &str,
        pr_number: u64,
    ) -> Result<EnvironmentForPr, ServiceError> {
        let key = repository.to_ascii_lowercase();
        let Some(repo) = repositories::find_by_key(&self.db, &key).await? else {
            return Ok(EnvironmentForPr::RepositoryNotConfigured);
        };
        let number = i64::try_from(pr_number).unwrap_or(i64::MAX);
        let Some(pr) = pull_request::Entity::find()
            .filter(pull_request::Column::RepositoryKey.eq(&key))
            .filter(pull_request::Column::Number.eq(number))
            .one(&self.db)
            .await
            .map_err(StoreError::from)?
        else {
            return Ok(EnvironmentForPr::PullRequestUnknown);
        };
        if pr.state != "open" {
            return Ok(EnvironmentForPr::PullRequestClosed);
        }
        let existed = preview_environment::Entity::find()
            .filter(preview_environment::Column::PullRequestId.eq(&pr.id))
            .one(&self.db)
            .await
            .map_err(StoreError::from)?
            .is_some();
        let txn = self.db.begin().await.map_err(StoreError::from)?;
        environments::ensure_pending(&txn, &repo, &pr, self.preview_domain.as_deref()).await?;
        let env = preview_environment::Entity::find()
            .filter(preview_environment::Column::PullRequestId.eq(&pr.id))
            .one(&txn)
            .await
            .map_err(StoreError::from)?
            .ok_or_else(|| {
                ServiceError::Conflict("the environment vanished while saving".into())
            })?;
        operator_requests::clear_delete(&txn, &env.id).await?;
        txn.commit().await.map_err(StoreError::from)?;
        self.reconcile.wake();
        Ok(EnvironmentForPr::Wanted {
            environment_id: env.id,
            created: !existed,
        })
    }

    /// `delete_repository`: forgets a repository's configuration once none of its
    /// environments is left (deleted ones are removed with it).
    pub async fn delete_repository(
        &self,
        full_name: &str,
    ) -> Result<RepositoryRemoval, ServiceError> {
        let key = full_name.to_ascii_lowercase();
        let Some(repo) = repositories::find_by_key(&self.db, &key).await? else {
            return Ok(RepositoryRemoval::NotConfigured);
        };
        let envs = preview_environment::Entity::find()
            .filter(preview_environment::Column::RepositoryId.eq(&repo.id))
            .all(&self.db)
            .await
            .map_err(StoreError::from)?;
        let live: Vec<String> = envs
            .iter()
            .filter(|e| e.status != "deleted")
            .map(|e| e.id.clone())
            .collect();
        if !live.is_empty() {
            return Ok(RepositoryRemoval::HasEnvironments(live));
        }
        let txn = self.db.begin().await.map_err(StoreError::from)?;
        preview_environment::Entity::delete_many()
            .filter(preview_environment::Column::RepositoryId.eq(&repo.id))
            .exec(&txn)
            .await
            .map_err(StoreError::from)?;
        crate::store::entities::repository::Entity::delete_by_id(repo.id.clone())
            .exec(&txn)
            .await
            .map_err(StoreError::from)?;
        txn.commit().await.map_err(StoreError::from)?;
        self.reconcile.wake();
        Ok(RepositoryRemoval::Removed)
    }

    /// `list_tokens`: active API tokens, oldest first.
    pub async fn list_tokens(&self) -> Result<Vec<TokenRecord>, ServiceError> {
        let rows = api_token::Entity::find()
            .filter(api_token::Column::RevokedAt.is_null())
            .order_by_asc(api_token::Column::CreatedAt)
            .all(&self.db)
            .await
            .map_err(StoreError::from)?;
        rows.into_iter()
            .map(|r| {
                let role = Role::parse(&r.role)
                    .ok_or_else(|| StoreError::Corrupt(format!("token role {:?}", r.role)))?;
                Ok(TokenRecord {
                    name: r.name,
                    role,
                    created_at: r.created_at,
                    last_used_at: r.last_used_at,
                })
            })
            .collect()
    }
}
