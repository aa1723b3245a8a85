//! What the GitHub side of Catalyst persists: sealed installation tokens (the
//! [`TokenStore`] of the GitHub adapter), per pull request what was last published to
//! GitHub, per repository the sweep's `ETag`; and the reads the publishing loop and the
//! sweep make.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, Set,
};

use super::engine::engine_state;
use super::entities::{
    deployment, installation_token, preview_environment, pull_request, pull_request_publication,
    repository, repository_sweep,
};
use super::pull_request_configs::pull_request_config;
use super::{Db, Result, StoreError};
use crate::github::{InstallationId, SealedToken, TokenStore};

/// Installation tokens in the database. Only sealed values ever reach it.
#[derive(Clone, Debug)]
pub struct DbTokenStore {
    db: Db,
}

impl DbTokenStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

fn installation_key(installation: InstallationId) -> Result<i64, String> {
    i64::try_from(installation.0).map_err(|_| format!("installation id {installation} too large"))
}

#[async_trait]
impl TokenStore for DbTokenStore {
    async fn load(&self, installation: InstallationId) -> Result<Option<SealedToken>, String> {
        let row = installation_token::Entity::find_by_id(installation_key(installation)?)
            .one(&self.db)
            .await
            .map_err(|e| e.to_string())?;
        Ok(row.map(|r| SealedToken {
            sealed: r.sealed,
            expires_at: r.expires_at,
        }))
    }

    async fn save(&self, installation: InstallationId, token: &SealedToken) -> Result<(), String> {
        let row = installation_token::ActiveModel {
            installation_id: Set(installation_key(installation)?),
            sealed: Set(token.sealed.clone()),
            expires_at: Set(token.expires_at),
            updated_at: Set(Utc::now()),
        };
        installation_token::Entity::insert(row)
            .on_conflict(
                OnConflict::column(installation_token::Column::InstallationId)
                    .update_columns([
                        installation_token::Column::Sealed,
                        installation_token::Column::ExpiresAt,
                        installation_token::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// One stored sealed token, to check at start-up that the configured key opens it.
pub async fn any_sealed_token(
    db: &impl ConnectionTrait,
) -> Result<Option<(InstallationId, SealedToken)>> {
    let row = installation_token::Entity::find()
        .filter(installation_token::Column::Sealed.ne(""))
        .filter(installation_token::Column::ExpiresAt.gt(Utc::now()))
        .one(db)
        .await?;
    row.map(|r| {
        let id = u64::try_from(r.installation_id)
            .map_err(|_| StoreError::Corrupt(format!("installation id {}", r.installation_id)))?;
        Ok((
            InstallationId(id),
            SealedToken {
                sealed: r.sealed,
                expires_at: r.expires_at,
            },
        ))
    })
    .transpose()
}

/// Everything the publishing loop needs to render one environment's comment.
#[derive(Clone, Debug)]
pub struct PublishCandidate {
    pub environment: preview_environment::Model,
    pub pull_request: pull_request::Model,
    pub repository: repository::Model,
    /// The newest attempt, if any.
    pub deployment: Option<deployment::Model>,
    pub queue_position: Option<i32>,
    pub publication: Option<pull_request_publication::Model>,
    /// The engine's bookkeeping (the scheduled retry of a failed environment).
    pub engine_state: Option<engine_state::Model>,
    /// `.catalyst/preview.yaml` as last read for the pull request.
    pub config: Option<pull_request_config::Model>,
}

/// Environments whose comment may need writing: every one not deleted, and deleted ones
/// changed within `recent` (their final "cleaned up" comment).
pub async fn publish_candidates(
    db: &impl ConnectionTrait,
    recent_since: DateTime<Utc>,
) -> Result<Vec<PublishCandidate>> {
    let envs = preview_environment::Entity::find()
        .filter(publishable(recent_since))
        .all(db)
        .await?;
    candidates_of(db, envs).await
}

/// The candidates among `environment_ids` (those still stored).
pub async fn publish_candidates_among(
    db: &impl ConnectionTrait,
    environment_ids: &[String],
) -> Result<Vec<PublishCandidate>> {
    let mut envs = Vec::with_capacity(environment_ids.len());
    // Bounded lists: SQLite and PostgreSQL both cap bound parameters per statement.
    for ids in environment_ids.chunks(5_000) {
        envs.extend(
            preview_environment::Entity::find()
                .filter(preview_environment::Column::Id.is_in(ids.iter().cloned()))
                .all(db)
                .await?,
        );
    }
    candidates_of(db, envs).await
}

/// Not deleted, or deleted and changed since `recent_since`.
fn publishable(recent_since: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(preview_environment::Column::Status.ne("deleted"))
        .add(preview_environment::Column::UpdatedAt.gte(recent_since))
}

/// When each input of an environment's comment last changed. Two equal stamps mean the
/// comment renders the same (the GitHub rate-limit state aside, which full passes see).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommentStamps {
    pub environment: DateTime<Utc>,
    pub pull_request: Option<DateTime<Utc>>,
    pub repository: Option<DateTime<Utc>>,
    /// The newest attempt's (the comment shows no other).
    pub deployment: Option<DateTime<Utc>>,
    pub engine_state: Option<DateTime<Utc>>,
    pub config: Option<DateTime<Utc>>,
    pub publication: Option<DateTime<Utc>>,
}

impl PublishCandidate {
    /// The stamps of the rows this candidate was read from.
    pub fn stamps(&self) -> CommentStamps {
        CommentStamps {
            environment: self.environment.updated_at,
            pull_request: Some(self.pull_request.updated_at),
            repository: Some(self.repository.updated_at),
            deployment: self.deployment.as_ref().map(|d| d.updated_at),
            engine_state: self.engine_state.as_ref().map(|s| s.updated_at),
            config: self.config.as_ref().map(|c| c.fetched_at),
            publication: self.publication.as_ref().map(|p| p.updated_at),
        }
    }
}

/// The publishable environments where an input of the comment changed at or after
/// `changed_since`, with every input's stamp, in one statement of small rows. A pass
/// over changes looks back a margin before the previous pass (a change is stamped
/// before it commits), so in a burst most environments it finds were already rendered
/// as they are: comparing stamps first spares reading and rendering them again (the
/// publisher's passes, up to 20 a second, were the largest part of Catalyst's own CPU
/// in the 500-PR benchmark after the database).
pub async fn changed_stamps(
    db: &impl ConnectionTrait,
    recent_since: DateTime<Utc>,
    changed_since: DateTime<Utc>,
) -> Result<Vec<(String, CommentStamps)>> {
    use deployment::{Column as D, Entity as DepE};
    use engine_state::{Column as S, Entity as StateE};
    use preview_environment::{Column as E, Entity as EnvE};
    use pull_request::{Column as P, Entity as PrE};
    use pull_request_config::{Column as C, Entity as CfgE};
    use pull_request_publication::{Column as Pb, Entity as PubE};
    use repository::{Column as R, Entity as RepoE};

    let mut q = Query::select();
    q.expr_as(Expr::col((EnvE, E::Id)), Alias::new("id"))
        .expr_as(Expr::col((EnvE, E::UpdatedAt)), Alias::new("env_at"))
        .expr_as(Expr::col((PrE, P::UpdatedAt)), Alias::new("pr_at"))
        .expr_as(Expr::col((RepoE, R::UpdatedAt)), Alias::new("repo_at"))
        .expr_as(Expr::col((DepE, D::UpdatedAt)), Alias::new("deployment_at"))
        .expr_as(Expr::col((StateE, S::UpdatedAt)), Alias::new("state_at"))
        .expr_as(Expr::col((CfgE, C::FetchedAt)), Alias::new("config_at"))
        .expr_as(
            Expr::col((PubE, Pb::UpdatedAt)),
            Alias::new("publication_at"),
        )
        .from(EnvE);
    super::world::join_inputs(&mut q)
        .left_join(
            DepE,
            Condition::all()
                .add(Expr::col((DepE, D::EnvironmentId)).equals((EnvE, E::Id)))
                .add(super::deployments::newest_attempt_only()),
        )
        .left_join(
            PubE,
            Expr::col((PubE, Pb::PullRequestId)).equals((EnvE, E::PullRequestId)),
        )
        .cond_where(
            Condition::all()
                .add(publishable(recent_since))
                .add(changed_at_or_after(changed_since)),
        );
    db.query_all(&q)
        .await?
        .iter()
        .map(|row| {
            let at = |name: &str| row.try_get::<Option<DateTime<Utc>>>("", name);
            let id: String = row.try_get("", "id")?;
            let stamps = CommentStamps {
                environment: row.try_get("", "env_at")?,
                pull_request: at("pr_at")?,
                repository: at("repo_at")?,
                deployment: at("deployment_at")?,
                engine_state: at("state_at")?,
                config: at("config_at")?,
                publication: at("publication_at")?,
            };
            Ok((id, stamps))
        })
        .collect()
}

/// Everything else each of `envs` needs rendering, read in one statement per table.
async fn candidates_of(
    db: &impl ConnectionTrait,
    envs: Vec<preview_environment::Model>,
) -> Result<Vec<PublishCandidate>> {
    if envs.is_empty() {
        return Ok(Vec::new());
    }
    let env_ids: Vec<String> = envs.iter().map(|e| e.id.clone()).collect();
    let pr_ids: Vec<String> = envs.iter().map(|e| e.pull_request_id.clone()).collect();
    let repo_ids: Vec<String> = envs.iter().map(|e| e.repository_id.clone()).collect();
    let mut prs: HashMap<String, pull_request::Model> = by_key(
        pull_request::Entity::find()
            .filter(pull_request::Column::Id.is_in(pr_ids.clone()))
            .all(db)
            .await?,
        |p| p.id.clone(),
    );
    let repos: HashMap<String, repository::Model> = by_key(
        repository::Entity::find()
            .filter(repository::Column::Id.is_in(repo_ids))
            .all(db)
            .await?,
        |r| r.id.clone(),
    );
    let mut latest = super::deployments::latest_of(db, &env_ids).await?;
    let mut states: HashMap<String, engine_state::Model> = by_key(
        engine_state::Entity::find()
            .filter(engine_state::Column::EnvironmentId.is_in(env_ids))
            .all(db)
            .await?,
        |s| s.environment_id.clone(),
    );
    let mut configs: HashMap<String, pull_request_config::Model> = by_key(
        pull_request_config::Entity::find()
            .filter(pull_request_config::Column::PullRequestId.is_in(pr_ids.clone()))
            .all(db)
            .await?,
        |c| c.pull_request_id.clone(),
    );
    let mut publications = publications(db, pr_ids).await?;
    let mut out = Vec::with_capacity(envs.len());
    for env in envs {
        let (Some(pr), Some(repo)) = (
            prs.remove(&env.pull_request_id),
            repos.get(&env.repository_id),
        ) else {
            continue;
        };
        let engine_state = states.remove(&env.id);
        out.push(PublishCandidate {
            deployment: latest.remove(&env.id),
            queue_position: engine_state.as_ref().and_then(|s| s.queue_position),
            engine_state,
            config: configs.remove(&pr.id),
            publication: publications.remove(&pr.id),
            repository: repo.clone(),
            pull_request: pr,
            environment: env,
        });
    }
    Ok(out)
}

/// Environments with an input of their comment changed at or after `t`, each found
/// through an index on that input's change time (migration 000034).
fn changed_at_or_after(t: DateTime<Utc>) -> Condition {
    use preview_environment::Column as Env;
    Condition::any()
        .add(Env::UpdatedAt.gte(t))
        .add(Env::PullRequestId.in_subquery(changed(
            pull_request::Entity,
            pull_request::Column::Id,
            pull_request::Column::UpdatedAt,
            t,
        )))
        .add(Env::RepositoryId.in_subquery(changed(
            repository::Entity,
            repository::Column::Id,
            repository::Column::UpdatedAt,
            t,
        )))
        .add(Env::Id.in_subquery(changed(
            deployment::Entity,
            deployment::Column::EnvironmentId,
            deployment::Column::UpdatedAt,
            t,
        )))
        .add(Env::Id.in_subquery(changed(
            engine_state::Entity,
            engine_state::Column::EnvironmentId,
            engine_state::Column::UpdatedAt,
            t,
        )))
        .add(Env::PullRequestId.in_subquery(changed(
            pull_request_config::Entity,
            pull_request_config::Column::PullRequestId,
            pull_request_config::Column::FetchedAt,
            t,
        )))
        .add(Env::PullRequestId.in_subquery(changed(
            pull_request_publication::Entity,
            pull_request_publication::Column::PullRequestId,
            pull_request_publication::Column::UpdatedAt,
            t,
        )))
}

/// `SELECT id FROM entity WHERE changed_at >= t`.
fn changed<E: EntityTrait>(
    entity: E,
    id: E::Column,
    changed_at: E::Column,
    t: DateTime<Utc>,
) -> SelectStatement {
    Query::select()
        .column(id)
        .from(entity)
        .and_where(changed_at.gte(t))
        .to_owned()
}

fn by_key<T>(rows: Vec<T>, key: impl Fn(&T) -> String) -> HashMap<String, T> {
    rows.into_iter().map(|r| (key(&r), r)).collect()
}

async fn publications(
    db: &impl ConnectionTrait,
    pr_ids: Vec<String>,
) -> Result<HashMap<String, pull_request_publication::Model>> {
    Ok(by_key(
        pull_request_publication::Entity::find()
            .filter(pull_request_publication::Column::PullRequestId.is_in(pr_ids))
            .all(db)
            .await?,
        |p| p.pull_request_id.clone(),
    ))
}

/// Open pull requests of repositories without configuration that have not been told so.
pub async fn unnotified_unconfigured(
    db: &impl ConnectionTrait,
) -> Result<Vec<(pull_request::Model, Option<pull_request_publication::Model>)>> {
    let prs = pull_request::Entity::find()
        .filter(pull_request::Column::State.eq("open"))
        .filter(pull_request::Column::Configured.eq(false))
        .filter(pull_request::Column::ConfigMissingNotifiedAt.is_null())
        .filter(pull_request::Column::InstallationId.is_not_null())
        .all(db)
        .await?;
    let mut publications = publications(db, prs.iter().map(|p| p.id.clone()).collect()).await?;
    Ok(prs
        .into_iter()
        .map(|p| {
            let publication = publications.remove(&p.id);
            (p, publication)
        })
        .collect())
}

/// Records that the "configuration missing" comment of these pull requests was written.
pub async fn mark_config_missing_notified(
    db: &impl ConnectionTrait,
    pull_request_ids: &[String],
    at: DateTime<Utc>,
) -> Result<()> {
    // Bounded lists: SQLite and PostgreSQL both cap bound parameters per statement.
    for ids in pull_request_ids.chunks(5_000) {
        pull_request::Entity::update_many()
            .col_expr(
                pull_request::Column::ConfigMissingNotifiedAt,
                sea_orm::sea_query::Expr::value(at),
            )
            .filter(pull_request::Column::Id.is_in(ids.iter().cloned()))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// What was published for a pull request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Published {
    pub comment_id: Option<i64>,
    pub fingerprint: Option<String>,
    pub deployment_attempt: Option<String>,
    pub github_deployment_id: Option<i64>,
    pub deployment_state: Option<String>,
}

/// Writes what was published for each pull request (insert or replace), a few hundred
/// rows a statement: the publisher stores a pass's settled updates together, on the
/// writer every webhook waits for, so one statement per row held up deliveries.
pub async fn save_publications(
    db: &impl ConnectionTrait,
    published: &[(String, Published)],
) -> Result<()> {
    let now = Utc::now();
    use pull_request_publication::Column as C;
    // Rows of eight values: 500 a statement stay under both databases' parameter caps.
    for chunk in published.chunks(500) {
        let rows = chunk.iter().map(
            |(pull_request_id, p)| pull_request_publication::ActiveModel {
                pull_request_id: Set(pull_request_id.clone()),
                comment_id: Set(p.comment_id),
                fingerprint: Set(p.fingerprint.clone()),
                deployment_attempt: Set(p.deployment_attempt.clone()),
                github_deployment_id: Set(p.github_deployment_id),
                deployment_state: Set(p.deployment_state.clone()),
                published_at: Set(Some(now)),
                updated_at: Set(now),
            },
        );
        pull_request_publication::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::column(C::PullRequestId)
                    .update_columns([
                        C::CommentId,
                        C::Fingerprint,
                        C::DeploymentAttempt,
                        C::GithubDeploymentId,
                        C::DeploymentState,
                        C::PublishedAt,
                        C::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// The sweep's `ETag` of a repository's open-PR list.
pub async fn open_pulls_etag(
    db: &impl ConnectionTrait,
    repository_id: &str,
) -> Result<Option<String>> {
    Ok(
        repository_sweep::Entity::find_by_id(repository_id.to_owned())
            .one(db)
            .await?
            .and_then(|r| r.open_pulls_etag),
    )
}

/// Stores a sweep that read the list: its new `ETag` (none when GitHub sent none).
pub async fn record_sweep(
    db: &impl ConnectionTrait,
    repository_id: &str,
    etag: Option<&str>,
) -> Result<()> {
    upsert_sweep(db, repository_id, Some(etag.map(str::to_owned))).await
}

/// Stores a sweep that changed nothing (`304`): the `ETag` stays.
pub async fn touch_sweep(db: &impl ConnectionTrait, repository_id: &str) -> Result<()> {
    upsert_sweep(db, repository_id, None).await
}

async fn upsert_sweep(
    db: &impl ConnectionTrait,
    repository_id: &str,
    etag: Option<Option<String>>,
) -> Result<()> {
    let now = Utc::now();
    let existing = repository_sweep::Entity::find_by_id(repository_id.to_owned())
        .one(db)
        .await?;
    match existing {
        Some(row) => {
            let mut active: repository_sweep::ActiveModel = row.into();
            if let Some(etag) = etag {
                active.open_pulls_etag = Set(etag);
            }
            active.swept_at = Set(Some(now));
            active.updated_at = Set(now);
            active.update(db).await?;
        }
        None => {
            repository_sweep::ActiveModel {
                repository_id: Set(repository_id.to_owned()),
                open_pulls_etag: Set(etag.flatten()),
                swept_at: Set(Some(now)),
                updated_at: Set(now),
            }
            .insert(db)
            .await?;
        }
    }
    Ok(())
}

/// Every configured repository.
pub async fn configured_repositories(db: &impl ConnectionTrait) -> Result<Vec<repository::Model>> {
    Ok(repository::Entity::find().all(db).await?)
}

/// Stores the installation found for a repository configured without one.
pub async fn set_repository_installation(
    db: &impl ConnectionTrait,
    repository_id: &str,
    installation: i64,
) -> Result<()> {
    repository::Entity::update_many()
        .col_expr(
            repository::Column::InstallationId,
            sea_orm::sea_query::Expr::value(installation),
        )
        .filter(repository::Column::Id.eq(repository_id))
        .exec(db)
        .await?;
    Ok(())
}

/// The installation the newest webhook of a repository's pull requests carried.
pub async fn webhook_installation(
    db: &impl ConnectionTrait,
    repository_key: &str,
) -> Result<Option<i64>> {
    Ok(pull_request::Entity::find()
        .filter(pull_request::Column::RepositoryKey.eq(repository_key))
        .filter(pull_request::Column::InstallationId.is_not_null())
        .all(db)
        .await?
        .into_iter()
        .max_by_key(|p| p.updated_at)
        .and_then(|p| p.installation_id))
}

/// All stored pull requests of a repository, by number.
pub async fn pull_requests_by_number(
    db: &impl ConnectionTrait,
    repository_key: &str,
) -> Result<HashMap<i64, pull_request::Model>> {
    Ok(pull_request::Entity::find()
        .filter(pull_request::Column::RepositoryKey.eq(repository_key))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.number, p))
        .collect())
}
