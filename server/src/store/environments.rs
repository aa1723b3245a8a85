//! Preview environment rows: created `pending` for every open pull request of a
//! configured repository (the engine takes them from there), and the list the API and
//! dashboard show.

use std::collections::HashMap;

use app::model::{DeploymentSummary, EnvironmentStatus, EnvironmentSummary};
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use super::entities::{preview_environment, pull_request, repository};
use super::{Result, StoreError, new_id};
use crate::core::domain::PullRequestNumber;
use crate::core::naming::{self, NamespaceSlug};

fn pr_number(stored: i64) -> Result<u64> {
    u64::try_from(stored).map_err(|_| StoreError::Corrupt(format!("pull request number {stored}")))
}

/// Makes sure `pr` has an environment that is wanted: creates it `pending`, or brings a
/// deleting/deleted one back to `pending` (a reopened pull request).
pub async fn ensure_pending(
    db: &impl ConnectionTrait,
    repo: &repository::Model,
    pr: &pull_request::Model,
    preview_domain: Option<&str>,
) -> Result<()> {
    let now = Utc::now();
    let existing = preview_environment::Entity::find()
        .filter(preview_environment::Column::PullRequestId.eq(&pr.id))
        .one(db)
        .await?;
    if let Some(env) = existing {
        let gone = matches!(
            EnvironmentStatus::parse(&env.status),
            Some(EnvironmentStatus::Deleting | EnvironmentStatus::Deleted)
        );
        let mut active: preview_environment::ActiveModel = env.into();
        if gone {
            active.status = Set(EnvironmentStatus::Pending.as_str().to_owned());
            active.deleted_at = Set(None);
            active.deletion_stuck = Set(false);
        }
        active.updated_at = Set(now);
        active.update(db).await?;
        return Ok(());
    }
    insert_pending(db, repo, pr, preview_domain).await
}

/// Records a pending environment for `pr`, which has none: a pull request whose row was
/// created in the same transaction cannot have one yet (an environment points at its
/// pull request's id), so webhook intake skips [`ensure_pending`]'s lookup for it.
pub async fn insert_pending(
    db: &impl ConnectionTrait,
    repo: &repository::Model,
    pr: &pull_request::Model,
    preview_domain: Option<&str>,
) -> Result<()> {
    pending(repo, pr.id.clone(), pr.number, preview_domain)?
        .insert(db)
        .await?;
    Ok(())
}

/// The row of a new pending environment for pull request `pull_request_id` (number
/// `number`) of `repo`.
pub(super) fn pending(
    repo: &repository::Model,
    pull_request_id: String,
    number: i64,
    preview_domain: Option<&str>,
) -> Result<preview_environment::ActiveModel> {
    let now = Utc::now();
    let slug = NamespaceSlug::from_stored(repo.namespace_slug.clone());
    let namespace = naming::namespace(&slug, PullRequestNumber(pr_number(number)?));
    let url = preview_domain.map(|d| naming::public_url(&namespace, d));
    Ok(preview_environment::ActiveModel {
        id: Set(new_id()),
        repository_id: Set(repo.id.clone()),
        pull_request_id: Set(pull_request_id),
        pr_number: Set(number),
        namespace: Set(namespace.into_string()),
        url: Set(url),
        status: Set(EnvironmentStatus::Pending.as_str().to_owned()),
        last_error: Set(None),
        deletion_stuck: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
        ready_at: Set(None),
        deleted_at: Set(None),
    })
}

/// One summary per open pull request of a configured repository, newest first.
pub async fn list_open(db: &impl ConnectionTrait) -> Result<Vec<EnvironmentSummary>> {
    let prs: HashMap<String, pull_request::Model> = pull_request::Entity::find()
        .filter(pull_request::Column::State.eq("open"))
        .filter(pull_request::Column::Configured.eq(true))
        .all(db)
        .await?
        .into_iter()
        .map(|pr| (pr.id.clone(), pr))
        .collect();
    let repos: HashMap<String, repository::Model> = repository::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
    let envs = preview_environment::Entity::find().all(db).await?;
    let mut latest = super::deployments::latest_by_environment(db).await?;
    let engine_states = super::engine::all_states(db).await?;
    let mut items = Vec::new();
    for env in envs {
        let (Some(pr), Some(repo)) = (prs.get(&env.pull_request_id), repos.get(&env.repository_id))
        else {
            continue;
        };
        let latest_deployment = latest.remove(&env.id).map(deployment_summary);
        let queue_position = engine_states
            .get(&env.id)
            .and_then(|s| s.queue_position)
            .and_then(|p| u32::try_from(p).ok());
        items.push(EnvironmentSummary {
            status: EnvironmentStatus::parse(&env.status).ok_or_else(|| {
                StoreError::Corrupt(format!("environment status {:?}", env.status))
            })?,
            id: env.id,
            repository: repo.full_name.clone(),
            pr_number: pr_number(env.pr_number)?,
            pr_title: Some(pr.title.clone()),
            author: Some(pr.author.clone()),
            namespace: env.namespace,
            url: env.url,
            head_sha: pr.head_sha.clone(),
            latest_deployment,
            queue_position,
            last_error: env.last_error,
            deletion_stuck: env.deletion_stuck,
            created_at: env.created_at,
            updated_at: env.updated_at,
        });
    }
    items.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
    Ok(items)
}

/// The API's view of a deployment attempt.
pub fn deployment_summary(d: super::entities::deployment::Model) -> DeploymentSummary {
    DeploymentSummary {
        attempt: u32::try_from(d.attempt).unwrap_or_default(),
        head_sha: d.head_sha,
        phase: d.phase,
        outcome: d.outcome,
        error: d.error,
        failed_check: d.failed_check,
        queued_at: d.queued_at,
        provisioning_at: d.provisioning_at,
        deploying_at: d.deploying_at,
        verifying_at: d.verifying_at,
        finished_at: d.finished_at,
    }
}
