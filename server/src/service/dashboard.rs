//! The service layer's environment and repository actions that the dashboard uses
//! first and the JSON API and MCP will share: environment detail, deployment history,
//! pods, logs (tail and follow), usage, the metrics summary, redeploy, delete, and
//! repository configuration. Entrances authorise; these methods decide and persist.

use std::collections::HashMap;
use std::time::Duration;

use app::dto::{
    ClusterState, ContainerInfo, DeploymentRecord, EnvironmentDetail, EnvironmentRow,
    EnvironmentsOverview, MetricsSummary, PodInfo, ResourceUsage, percentile,
};
use app::model::{EnvironmentStatus, EnvironmentSummary};
use chrono::{DateTime, Utc};
use futures::Stream;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::{CatalystService, RepositoryView, ServiceError};
use crate::cluster::logs::{self as cluster_logs, LogQuery, PodSummary};
use crate::store::entities::{deployment, preview_environment, repository};
use crate::store::repositories::{self, NewRepository};
use crate::store::{StoreError, deployments, encode_list, engine, environments, operator_requests};

/// The Kubernetes client, printable (kube's client is not `Debug`).
#[derive(Clone)]
pub struct ClusterClient(pub kube::Client);

impl std::fmt::Debug for ClusterClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterClient(..)")
    }
}

/// Which log to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRequest {
    pub pod: String,
    pub container: String,
    pub tail_lines: Option<i64>,
    pub since_seconds: Option<i64>,
    pub timestamps: bool,
}

impl LogRequest {
    fn query(&self) -> LogQuery {
        LogQuery {
            container: Some(self.container.clone()),
            tail_lines: self.tail_lines,
            since_seconds: self.since_seconds,
            timestamps: self.timestamps,
            previous: false,
        }
    }
}

/// Created a repository, or changed an existing one.
#[derive(Clone, Debug, PartialEq)]
pub enum RepositoryChange {
    Created(RepositoryView),
    Updated(RepositoryView),
}

impl RepositoryChange {
    pub fn view(&self) -> &RepositoryView {
        match self {
            Self::Created(v) | Self::Updated(v) => v,
        }
    }
}

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// How many of the most recent successful attempts the p50/p95 totals are taken over.
pub const PERCENTILE_WINDOW: u64 = 1_000;

/// Environment ids per `IN (...)` list (well below SQLite's and PostgreSQL's limits on
/// bound parameters).
const IN_CHUNK: usize = 500;

fn pod_info(p: PodSummary) -> PodInfo {
    PodInfo {
        name: p.name,
        phase: p.phase,
        ready: p.ready,
        created_at: p.created_at,
        containers: p
            .containers
            .into_iter()
            .map(|c| ContainerInfo {
                name: c.name,
                init: c.init,
                state: c.state,
                ready: c.ready,
                restarts: c.restarts,
                last_termination_reason: c.last_termination_reason,
            })
            .collect(),
    }
}

fn record(d: deployment::Model) -> DeploymentRecord {
    let log_excerpt = d.log_excerpt.clone();
    DeploymentRecord {
        summary: environments::deployment_summary(d),
        log_excerpt,
    }
}

impl CatalystService {
    fn kube(&self) -> Option<&kube::Client> {
        self.cluster.as_ref().map(|c| &c.0)
    }

    /// Whether the Kubernetes API answers now.
    pub async fn cluster_state(&self) -> ClusterState {
        let Some(client) = self.kube() else {
            return ClusterState::NotConfigured;
        };
        match tokio::time::timeout(PROBE_TIMEOUT, client.apiserver_version()).await {
            Ok(Ok(_)) => ClusterState::Connected,
            Ok(Err(e)) => ClusterState::Unreachable(e.to_string()),
            Err(_) => ClusterState::Unreachable("no answer within 2 s".into()),
        }
    }

    /// One environment as the list shows it, also when its pull request is closed.
    pub async fn environment_summary(
        &self,
        id: &str,
    ) -> Result<Option<EnvironmentSummary>, ServiceError> {
        if let Some(s) = environments::list_open(&self.db)
            .await?
            .into_iter()
            .find(|e| e.id == id)
        {
            return Ok(Some(s));
        }
        let Some(env) = engine::environment(&self.db, id).await? else {
            return Ok(None);
        };
        let pr =
            crate::store::entities::pull_request::Entity::find_by_id(env.pull_request_id.clone())
                .one(&self.db)
                .await
                .map_err(StoreError::from)?;
        let repo = repository::Entity::find_by_id(env.repository_id.clone())
            .one(&self.db)
            .await
            .map_err(StoreError::from)?;
        let latest = deployments::for_environment(&self.db, id)
            .await?
            .into_iter()
            .last()
            .map(environments::deployment_summary);
        Ok(Some(EnvironmentSummary {
            id: env.id.clone(),
            repository: repo.map(|r| r.full_name).unwrap_or_default(),
            pr_number: u64::try_from(env.pr_number).unwrap_or_default(),
            pr_title: pr.as_ref().map(|p| p.title.clone()),
            author: pr.as_ref().map(|p| p.author.clone()),
            namespace: env.namespace.clone(),
            status: EnvironmentStatus::parse(&env.status).unwrap_or(EnvironmentStatus::Pending),
            url: env.url.clone(),
            head_sha: pr.map(|p| p.head_sha).unwrap_or_default(),
            created_at: env.created_at,
            updated_at: env.updated_at,
            latest_deployment: latest,
            queue_position: None,
            last_error: env.last_error.clone(),
            deletion_stuck: env.deletion_stuck,
        }))
    }

    /// The link to an environment's pull request on GitHub.
    pub fn pull_request_url(&self, repository: &str, number: u64) -> String {
        format!("{}/{repository}/pull/{number}", self.github_web_url)
    }

    /// `get_environment`: status, deployment history (newest first), pods, usage and
    /// pending requests; `can_manage` is left `false` for the entrance to decide.
    pub async fn get_environment(
        &self,
        id: &str,
    ) -> Result<Option<EnvironmentDetail>, ServiceError> {
        let Some(env) = self.environment_summary(id).await? else {
            return Ok(None);
        };
        let deployments = self.list_deployments(id).await?;
        let requests = self.environment_requests(id).await?;
        let gone = env.status == EnvironmentStatus::Deleted;
        let (pods, cluster) = if gone {
            (Vec::new(), self.cluster_state().await)
        } else {
            match self.list_pods(&env.namespace).await {
                Ok(p) => (p, ClusterState::Connected),
                Err(state) => (Vec::new(), state),
            }
        };
        let usage = if cluster == ClusterState::Connected && !gone {
            self.namespace_usage(&env.namespace).await
        } else {
            None
        };
        Ok(Some(EnvironmentDetail {
            pr_url: self.pull_request_url(&env.repository, env.pr_number),
            env,
            deployments,
            pods,
            cluster,
            usage,
            redeploy_requested_at: requests.as_ref().and_then(|r| r.redeploy_requested_at),
            delete_requested_at: requests.and_then(|r| r.delete_requested_at),
            can_manage: false,
            generated_at: Utc::now(),
        }))
    }

    /// `list_deployments`: every attempt of an environment, newest first.
    pub async fn list_deployments(&self, id: &str) -> Result<Vec<DeploymentRecord>, ServiceError> {
        let mut all: Vec<DeploymentRecord> = deployments::for_environment(&self.db, id)
            .await?
            .into_iter()
            .map(record)
            .collect();
        all.reverse();
        Ok(all)
    }

    /// The pods of a namespace; `Err` carries why the cluster could not say.
    pub async fn list_pods(&self, namespace: &str) -> Result<Vec<PodInfo>, ClusterState> {
        let Some(client) = self.kube() else {
            return Err(ClusterState::NotConfigured);
        };
        match tokio::time::timeout(
            Duration::from_secs(5),
            cluster_logs::list_pods(client, namespace),
        )
        .await
        {
            Ok(Ok(pods)) => Ok(pods.into_iter().map(pod_info).collect()),
            Ok(Err(e)) => Err(ClusterState::Unreachable(e.to_string())),
            Err(_) => Err(ClusterState::Unreachable("no answer within 5 s".into())),
        }
    }

    /// CPU and memory of a namespace against its quota.
    pub async fn namespace_usage(&self, namespace: &str) -> Option<ResourceUsage> {
        super::usage::namespace_usage(self.kube()?, namespace).await
    }

    /// `get_logs`: a tail of one container's log as text.
    pub async fn get_logs(&self, namespace: &str, req: &LogRequest) -> Result<String, String> {
        let client = self.kube().ok_or("the cluster is not connected")?;
        cluster_logs::tail(client, namespace, &req.pod, &req.query())
            .await
            .map_err(|e| e.to_string())
    }

    /// The live log (the tail first), line by line, until the container stops.
    pub async fn follow_logs(
        &self,
        namespace: &str,
        req: &LogRequest,
    ) -> Result<impl Stream<Item = Result<String, String>> + Send + use<>, String> {
        use futures::StreamExt;
        let client = self.kube().ok_or("the cluster is not connected")?;
        let stream = cluster_logs::follow(client, namespace, &req.pod, &req.query())
            .await
            .map_err(|e| e.to_string())?;
        Ok(stream.map(|r| r.map_err(|e| e.to_string())))
    }

    /// `redeploy_environment`: records that a new attempt is wanted and wakes the engine.
    pub async fn redeploy_environment(&self, id: &str, who: &str) -> Result<bool, ServiceError> {
        let Some(env) = engine::environment(&self.db, id).await? else {
            return Ok(false);
        };
        if matches!(env.status.as_str(), "deleting" | "deleted") {
            return Err(ServiceError::Conflict(
                "the environment is being deleted; reopen or push to the pull request instead"
                    .into(),
            ));
        }
        operator_requests::request_redeploy(&self.db, id, who, Utc::now()).await?;
        self.reconcile.wake();
        Ok(true)
    }

    /// `delete_environment`: the environment is not wanted any more; shows `deleting`
    /// at once and wakes the engine, which removes the namespace.
    pub async fn delete_environment(&self, id: &str, who: &str) -> Result<bool, ServiceError> {
        let Some(env) = engine::environment(&self.db, id).await? else {
            return Ok(false);
        };
        operator_requests::request_delete(&self.db, &env, who, Utc::now()).await?;
        self.reconcile.wake();
        Ok(true)
    }

    /// Pending redeploy/delete requests of an environment.
    pub async fn environment_requests(
        &self,
        id: &str,
    ) -> Result<Option<operator_requests::environment_request::Model>, ServiceError> {
        Ok(operator_requests::of(&self.db, id).await?)
    }

    /// `get_metrics_summary`: active environments, deployments in flight, queue length,
    /// success rate (every finished attempt) and p50/p95 of successful deployments
    /// (queued → finished) over the most recent [`PERCENTILE_WINDOW`] of them. Counted
    /// by the database, so the cost does not grow with the deployment history.
    pub async fn get_metrics_summary(&self) -> Result<MetricsSummary, ServiceError> {
        let by_phase: Vec<(String, i64)> = deployment::Entity::find()
            .select_only()
            .column(deployment::Column::Phase)
            .column_as(deployment::Column::Id.count(), "n")
            .group_by(deployment::Column::Phase)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(StoreError::from)?;
        let count = |phase: &str| -> u64 {
            by_phase
                .iter()
                .filter(|(p, _)| p == phase)
                .map(|(_, n)| u64::try_from(*n).unwrap_or_default())
                .sum()
        };
        let (succeeded, failed, queued) = (count("succeeded"), count("failed"), count("queued"));
        let in_flight = deployments::IN_FLIGHT.iter().map(|p| count(p)).sum();
        let recent: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> = deployment::Entity::find()
            .select_only()
            .column(deployment::Column::QueuedAt)
            .column(deployment::Column::FinishedAt)
            .filter(deployment::Column::Phase.eq("succeeded"))
            .filter(deployment::Column::FinishedAt.is_not_null())
            .order_by_desc(deployment::Column::FinishedAt)
            .limit(PERCENTILE_WINDOW)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(StoreError::from)?;
        let durations: Vec<f64> = recent
            .into_iter()
            .filter_map(|(queued, finished)| {
                finished.map(|f| (f - queued).num_milliseconds() as f64 / 1000.0)
            })
            .collect();
        let active = preview_environment::Entity::find()
            .filter(preview_environment::Column::Status.is_not_in(["deleted", "deleting"]))
            .count(&self.db)
            .await
            .map_err(StoreError::from)?;
        Ok(MetricsSummary {
            active_environments: active,
            deployments_in_flight: in_flight,
            queue_length: queued,
            success_rate: (succeeded + failed > 0)
                .then(|| succeeded as f64 / (succeeded + failed) as f64),
            p50_deployment_secs: percentile(&durations, 50.0),
            p95_deployment_secs: percentile(&durations, 95.0),
        })
    }

    /// Queued → finished seconds of the newest finished attempt of each of `ids`: one
    /// query per [`IN_CHUNK`] environments, reading one row per environment.
    pub async fn last_deployment_secs(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, i64>, ServiceError> {
        let mut out = HashMap::new();
        for chunk in ids.chunks(IN_CHUNK) {
            let newest = Alias::new("newest");
            // The newest finished attempt of the same environment (ix_deployments_environment).
            let newest_attempt = Query::select()
                .expr(Expr::col((newest.clone(), deployment::Column::Attempt)).max())
                .from_as(deployment::Entity, newest.clone())
                .and_where(
                    Expr::col((newest.clone(), deployment::Column::EnvironmentId))
                        .equals((deployment::Entity, deployment::Column::EnvironmentId)),
                )
                .and_where(Expr::col((newest, deployment::Column::FinishedAt)).is_not_null())
                .to_owned();
            let rows: Vec<(String, DateTime<Utc>, Option<DateTime<Utc>>)> =
                deployment::Entity::find()
                    .select_only()
                    .column(deployment::Column::EnvironmentId)
                    .column(deployment::Column::QueuedAt)
                    .column(deployment::Column::FinishedAt)
                    .filter(deployment::Column::EnvironmentId.is_in(chunk.iter().cloned()))
                    .filter(deployment::Column::FinishedAt.is_not_null())
                    .filter(
                        Expr::col((deployment::Entity, deployment::Column::Attempt))
                            .in_subquery(newest_attempt),
                    )
                    .into_tuple()
                    .all(&self.db)
                    .await
                    .map_err(StoreError::from)?;
            for (env, queued, finished) in rows {
                if let Some(f) = finished {
                    out.insert(env, Ord::max((f - queued).num_seconds(), 0));
                }
            }
        }
        Ok(out)
    }

    /// The environments page's data, unpaginated: open environments (not yet deleted)
    /// with usage, the last deployment's duration, totals and the cluster's state. Usage
    /// comes from two cluster-wide lists, shared by every view for
    /// [`super::usage::FRESH_FOR`], and the rest from a fixed number of queries, so the
    /// cost barely grows with the number of environments; the dashboard and the live
    /// feed page it with [`app::dto::page_of`].
    pub async fn environments_overview(&self) -> Result<EnvironmentsOverview, ServiceError> {
        // Independent reads side by side (the cluster's two lists beside the database's
        // queries; on PostgreSQL the queries themselves run on the pool): the page waits
        // for the slowest, not for their sum.
        let usage = async {
            match &self.usage {
                Some(cache) => cache.current().await,
                None => None,
            }
        };
        let (list, cluster, totals, usage) = tokio::join!(
            self.environments(),
            self.cluster_state(),
            self.get_metrics_summary(),
            usage
        );
        let (list, totals) = (list?, totals?);
        let usage = usage.filter(|_| cluster == ClusterState::Connected);
        let items: Vec<EnvironmentSummary> = list
            .items
            .into_iter()
            .filter(|e| e.status != EnvironmentStatus::Deleted)
            .collect();
        let ids: Vec<String> = items.iter().map(|e| e.id.clone()).collect();
        let last = self.last_deployment_secs(&ids).await?;
        let rows = items
            .into_iter()
            .map(|env| EnvironmentRow {
                last_deployment_secs: last.get(&env.id).copied(),
                usage: usage.as_ref().map(|u| u.of(&env.namespace)),
                env,
            })
            .collect();
        Ok(EnvironmentsOverview {
            github_web_url: self.github_web_url.clone(),
            rows,
            totals,
            cluster,
            configured_repositories: list.configured_repositories,
            generated_at: list.generated_at,
        })
    }

    /// `configure_repository`: creates the repository, or replaces the preview settings
    /// of an existing one (its namespace slug never changes).
    pub async fn configure_repository(
        &self,
        new: NewRepository,
    ) -> Result<RepositoryChange, ServiceError> {
        let key = new.full_name.key();
        let Some(existing) = repositories::find_by_key(&self.db, &key).await? else {
            return Ok(RepositoryChange::Created(
                self.create_repository(new).await?,
            ));
        };
        let s = new.settings;
        let mut row: repository::ActiveModel = existing.into();
        row.chart_repo = Set(s.chart_repo);
        row.chart_path = Set(s.chart_path);
        row.chart_version = Set(s.chart_version);
        row.values_yaml = Set(s.values_yaml);
        row.values_files = Set(encode_list(&s.values_files));
        row.build_dockerfile = Set(s.build_dockerfile);
        row.build_context = Set(s.build_context);
        row.image_pattern = Set(s.image_pattern);
        row.health_path = Set(s.health_path);
        row.quota_cpu = Set(s.quota_cpu);
        row.quota_memory = Set(s.quota_memory);
        row.quota_pods = Set(s.quota_pods);
        row.secrets = Set(encode_list(&s.secrets));
        row.secret_store_namespace = Set(s.secret_store_namespace);
        row.required_label = Set(s.required_label);
        row.deploy_drafts = Set(s.deploy_drafts);
        row.fork_opt_in_label = Set(s.fork_opt_in_label);
        if s.installation_id.is_some() {
            row.installation_id = Set(s.installation_id);
        }
        row.updated_at = Set(Utc::now());
        let updated = row.update(&self.db).await.map_err(StoreError::from)?;
        self.reconcile.wake();
        let view = self
            .list_repositories()
            .await?
            .into_iter()
            .find(|r| r.id == updated.id)
            .ok_or_else(|| ServiceError::Conflict("the repository vanished while saving".into()))?;
        Ok(RepositoryChange::Updated(view))
    }
}
