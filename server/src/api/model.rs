//! The wire types of `/api/v1` and of the MCP tools: what the OpenAPI document and the
//! tools' JSON Schemas describe. They are built from the service layer's answers (the
//! dashboard's DTOs) so every surface shows the same values; only the shape is the
//! API's own, so the dashboard can change its DTOs without breaking API clients.

use app::dto::{
    ClusterState, DeploymentRecord, EnvironmentDetail, EnvironmentRow, MetricsSummary, PodInfo,
    ResourceUsage,
};
use app::model::{EnvironmentStatus, EnvironmentSummary};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::core::domain::Role;
use crate::service::RepositoryView;

/// Every error of the API: a sentence saying what went wrong and what to do, and
/// details (for a rejected field: `{"field": ..., "message": ...}`).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct ErrorBody {
    pub error: String,
    /// `null`, or an object with details such as the offending `field`.
    pub detail: Value,
}

/// Lifecycle state of a preview environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EnvironmentState {
    Pending,
    Deploying,
    Ready,
    Failed,
    Deleting,
    Deleted,
}

impl From<EnvironmentStatus> for EnvironmentState {
    fn from(s: EnvironmentStatus) -> Self {
        match s {
            EnvironmentStatus::Pending => Self::Pending,
            EnvironmentStatus::Deploying => Self::Deploying,
            EnvironmentStatus::Ready => Self::Ready,
            EnvironmentStatus::Failed => Self::Failed,
            EnvironmentStatus::Deleting => Self::Deleting,
            EnvironmentStatus::Deleted => Self::Deleted,
        }
    }
}

impl EnvironmentState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Deploying => "deploying",
            Self::Ready => "ready",
            Self::Failed => "failed",
            Self::Deleting => "deleting",
            Self::Deleted => "deleted",
        }
    }
}

/// One preview environment (one pull request of a configured repository).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct Environment {
    /// Stable id; use it with the other environment routes and tools.
    pub id: String,
    /// `owner/name`
    pub repository: String,
    pub pr_number: u64,
    pub pr_title: Option<String>,
    pub author: Option<String>,
    /// Kubernetes namespace, `pr-{repo}-{number}`.
    pub namespace: String,
    pub status: EnvironmentState,
    /// Public URL of the preview, when a preview domain is configured.
    pub url: Option<String>,
    pub head_sha: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The newest deployment attempt, when there has been one.
    pub latest_deployment: Option<Deployment>,
    /// Place in the capacity queue while waiting for a deployment slot (1 = next).
    pub queue_position: Option<u32>,
    /// Why the environment failed, when it did.
    pub last_error: Option<String>,
    /// Namespace deletion did not finish in time; an operator should look.
    pub deletion_stuck: bool,
    /// CPU and memory against the namespace's quota; `null` when the cluster (or its
    /// metrics) cannot say.
    pub usage: Option<Usage>,
    /// Why an operator should look: stuck deletion, quota exceeded or nearly used up.
    pub warnings: Vec<String>,
}

impl From<EnvironmentSummary> for Environment {
    fn from(e: EnvironmentSummary) -> Self {
        Self {
            id: e.id,
            repository: e.repository,
            pr_number: e.pr_number,
            pr_title: e.pr_title,
            author: e.author,
            namespace: e.namespace,
            status: e.status.into(),
            url: e.url,
            head_sha: e.head_sha,
            created_at: e.created_at,
            updated_at: e.updated_at,
            latest_deployment: e.latest_deployment.map(|d| {
                Deployment::from(DeploymentRecord {
                    summary: d,
                    log_excerpt: None,
                })
            }),
            queue_position: e.queue_position,
            last_error: e.last_error,
            warnings: if e.deletion_stuck {
                vec!["namespace deletion is stuck".to_owned()]
            } else {
                Vec::new()
            },
            deletion_stuck: e.deletion_stuck,
            usage: None,
        }
    }
}

impl From<EnvironmentRow> for Environment {
    fn from(row: EnvironmentRow) -> Self {
        let warnings = row.warnings();
        let usage = row.usage.map(usage);
        Self {
            warnings,
            usage,
            ..Self::from(row.env)
        }
    }
}

fn usage(u: ResourceUsage) -> Usage {
    Usage {
        cpu: Gauge {
            used: u.cpu.used,
            limit: u.cpu.limit,
        },
        memory: Gauge {
            used: u.memory.used,
            limit: u.memory.limit,
        },
        quota_exceeded: u.quota_exceeded,
    }
}

/// One phase of a deployment attempt.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct PhaseTiming {
    /// `queued | provisioning | deploying | verifying`
    pub phase: String,
    pub started_at: DateTime<Utc>,
    /// `null` while the phase is still running.
    pub seconds: Option<i64>,
}

/// One deployment attempt of an environment, with its phases and error.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct Deployment {
    /// 1, 2, ... per environment; use it to get one attempt.
    pub attempt: u32,
    pub head_sha: String,
    /// `queued | provisioning | deploying | verifying | succeeded | failed | superseded | cancelled`
    pub phase: String,
    /// For failed attempts the stage that failed (`job`, `health`, ...).
    pub outcome: Option<String>,
    pub error: Option<String>,
    pub failed_check: Option<String>,
    pub queued_at: DateTime<Utc>,
    pub provisioning_at: Option<DateTime<Utc>>,
    pub deploying_at: Option<DateTime<Utc>>,
    pub verifying_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Queued to finished, when finished.
    pub duration_seconds: Option<i64>,
    pub phases: Vec<PhaseTiming>,
    /// The failing containers' last log lines and events, for failed attempts.
    pub log_excerpt: Option<String>,
}

impl From<DeploymentRecord> for Deployment {
    fn from(r: DeploymentRecord) -> Self {
        let phases = r
            .phases()
            .into_iter()
            .map(|p| PhaseTiming {
                phase: p.phase.to_owned(),
                started_at: p.started_at,
                seconds: p.seconds,
            })
            .collect();
        let duration_seconds = r.total_seconds();
        let s = r.summary;
        Self {
            attempt: s.attempt,
            head_sha: s.head_sha,
            phase: s.phase,
            outcome: s.outcome,
            error: s.error,
            failed_check: s.failed_check,
            queued_at: s.queued_at,
            provisioning_at: s.provisioning_at,
            deploying_at: s.deploying_at,
            verifying_at: s.verifying_at,
            finished_at: s.finished_at,
            duration_seconds,
            phases,
            log_excerpt: r.log_excerpt,
        }
    }
}

/// A container of a pod.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct Container {
    pub name: String,
    pub init: bool,
    pub state: String,
    pub ready: bool,
    pub restarts: i32,
    pub last_termination_reason: Option<String>,
}

/// A pod of the environment's namespace.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct Pod {
    pub name: String,
    pub phase: String,
    pub ready: bool,
    pub containers: Vec<Container>,
    pub created_at: Option<DateTime<Utc>>,
}

impl From<PodInfo> for Pod {
    fn from(p: PodInfo) -> Self {
        Self {
            name: p.name,
            phase: p.phase,
            ready: p.ready,
            created_at: p.created_at,
            containers: p
                .containers
                .into_iter()
                .map(|c| Container {
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
}

/// Used against allowed (CPU in cores, memory in bytes).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct Gauge {
    pub used: f64,
    pub limit: Option<f64>,
}

/// CPU and memory of the namespace against its ResourceQuota.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct Usage {
    pub cpu: Gauge,
    pub memory: Gauge,
    pub quota_exceeded: bool,
}

/// Whether Catalyst can reach Kubernetes.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct ClusterStatus {
    /// `connected | not_configured | unreachable`
    pub state: String,
    pub message: Option<String>,
}

impl From<ClusterState> for ClusterStatus {
    fn from(c: ClusterState) -> Self {
        match c {
            ClusterState::Connected => Self {
                state: "connected".into(),
                message: None,
            },
            ClusterState::NotConfigured => Self {
                state: "not_configured".into(),
                message: Some("no Kubernetes configuration was found".into()),
            },
            ClusterState::Unreachable(m) => Self {
                state: "unreachable".into(),
                message: Some(m),
            },
        }
    }
}

/// An environment with its deployment history (newest first), pods and usage.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct EnvironmentDetails {
    pub environment: Environment,
    /// The pull request on GitHub.
    pub pr_url: String,
    pub deployments: Vec<Deployment>,
    pub pods: Vec<Pod>,
    pub cluster: ClusterStatus,
    pub usage: Option<Usage>,
    pub redeploy_requested_at: Option<DateTime<Utc>>,
    pub delete_requested_at: Option<DateTime<Utc>>,
}

impl From<EnvironmentDetail> for EnvironmentDetails {
    fn from(d: EnvironmentDetail) -> Self {
        let row = EnvironmentRow {
            env: d.env,
            usage: d.usage.clone(),
            last_deployment_secs: None,
        };
        Self {
            environment: row.into(),
            pr_url: d.pr_url,
            deployments: d.deployments.into_iter().map(Deployment::from).collect(),
            pods: d.pods.into_iter().map(Pod::from).collect(),
            cluster: d.cluster.into(),
            usage: d.usage.map(usage),
            redeploy_requested_at: d.redeploy_requested_at,
            delete_requested_at: d.delete_requested_at,
        }
    }
}

/// A page of environments.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct EnvironmentPage {
    pub items: Vec<Environment>,
    /// Matching items in all pages.
    pub total: u64,
    pub limit: u64,
    pub offset: u64,
    /// Pass as `offset` for the next page; `null` on the last page.
    pub next_offset: Option<u64>,
}

/// A page of deployment attempts, newest first.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct DeploymentPage {
    pub items: Vec<Deployment>,
    pub total: u64,
    pub limit: u64,
    pub offset: u64,
    pub next_offset: Option<u64>,
}

/// A page of configured repositories.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct RepositoryPage {
    pub items: Vec<Repository>,
    pub total: u64,
    pub limit: u64,
    pub offset: u64,
    pub next_offset: Option<u64>,
}

/// Chart to install into the preview namespace.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct Chart {
    pub repo: Option<String>,
    pub path: Option<String>,
    pub version: Option<String>,
}

/// How the image is built from the pull request's head.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct Build {
    pub dockerfile: Option<String>,
    pub context: Option<String>,
}

/// ResourceQuota of each preview namespace.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct Quota {
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub pods: Option<i32>,
}

/// A configured repository and its preview settings.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct Repository {
    pub id: String,
    /// `owner/name`
    pub full_name: String,
    pub project: String,
    /// The `{repo}` part of this repository's namespaces, `pr-{repo}-{number}`.
    pub namespace_slug: String,
    pub installation_id: Option<i64>,
    pub chart: Chart,
    /// Helm values as YAML text.
    pub values: Option<String>,
    pub values_files: Vec<String>,
    pub build: Option<Build>,
    /// Prebuilt image reference; `{sha}` is replaced by the head SHA.
    pub image_pattern: Option<String>,
    pub health_path: String,
    pub quota: Quota,
    pub secrets: Vec<String>,
    pub secret_store_namespace: Option<String>,
    pub required_label: Option<String>,
    pub deploy_drafts: bool,
    pub fork_opt_in_label: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<RepositoryView> for Repository {
    fn from(v: RepositoryView) -> Self {
        Self {
            id: v.id,
            full_name: v.full_name,
            project: v.project,
            namespace_slug: v.namespace_slug,
            installation_id: v.installation_id,
            chart: Chart {
                repo: v.chart.repo,
                path: v.chart.path,
                version: v.chart.version,
            },
            values: v.values,
            values_files: v.values_files,
            build: v.build.map(|b| Build {
                dockerfile: b.dockerfile,
                context: b.context,
            }),
            image_pattern: v.image_pattern,
            health_path: v.health_path,
            quota: Quota {
                cpu: v.quota.cpu,
                memory: v.quota.memory,
                pods: v.quota.pods,
            },
            secrets: v.secrets,
            secret_store_namespace: v.secret_store_namespace,
            required_label: v.required_label,
            deploy_drafts: v.deploy_drafts,
            fork_opt_in_label: v.fork_opt_in_label,
            created_at: v.created_at,
            updated_at: v.updated_at,
        }
    }
}

/// The answer of a configuration check.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct ValidationResult {
    /// Always `true` in a 200 answer; a problem is a 422 naming the field.
    pub valid: bool,
    /// Whether a repository with this name is configured already (saving updates it).
    pub exists: bool,
    /// Things that are allowed but probably not meant (no chart, no image, ...).
    pub warnings: Vec<String>,
}

/// Deployment statistics over all repositories.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct MetricsSummaryBody {
    /// Environments neither deleting nor deleted.
    pub active_environments: u64,
    pub deployments_in_flight: u64,
    /// Attempts waiting in the queue.
    pub queue_length: u64,
    /// succeeded / (succeeded + failed), 0..1; `null` before the first finished attempt.
    pub success_rate: Option<f64>,
    pub p50_deployment_secs: Option<f64>,
    pub p95_deployment_secs: Option<f64>,
}

impl From<MetricsSummary> for MetricsSummaryBody {
    fn from(m: MetricsSummary) -> Self {
        Self {
            active_environments: m.active_environments,
            deployments_in_flight: m.deployments_in_flight,
            queue_length: m.queue_length,
            success_rate: m.success_rate,
            p50_deployment_secs: m.p50_deployment_secs,
            p95_deployment_secs: m.p95_deployment_secs,
        }
    }
}

/// The last lines of one container's log.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct LogTail {
    pub environment_id: String,
    pub namespace: String,
    pub pod: String,
    pub container: String,
    /// Oldest first.
    pub lines: Vec<String>,
}

/// What a redeploy or delete request recorded.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct ActionAccepted {
    /// The environment as it is now (a delete shows `deleting` at once).
    pub environment: Environment,
    /// What happens next.
    pub message: String,
}

/// API token role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenRole {
    /// Reads and changes everything.
    Operator,
    /// Reads only.
    Viewer,
}

impl From<TokenRole> for Role {
    fn from(r: TokenRole) -> Self {
        match r {
            TokenRole::Operator => Role::Operator,
            TokenRole::Viewer => Role::Viewer,
        }
    }
}

impl From<Role> for TokenRole {
    fn from(r: Role) -> Self {
        match r {
            Role::Operator => TokenRole::Operator,
            Role::Viewer => TokenRole::Viewer,
        }
    }
}

/// An active API token (never its secret).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct TokenInfo {
    pub name: String,
    pub role: TokenRole,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Active API tokens.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct TokenList {
    pub items: Vec<TokenInfo>,
}

/// Body of `POST /api/v1/tokens`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    /// 1-64 letters, digits, `.`, `_` or `-`; unique among active tokens.
    pub name: String,
    /// Defaults to `viewer`.
    #[serde(default)]
    pub role: Option<TokenRole>,
}

/// A new token: `token` is shown this once; only its hash is stored.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct CreatedToken {
    pub name: String,
    pub role: TokenRole,
    pub token: String,
}

/// Body of `POST /api/v1/environments`: ask for the environment of a pull request.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEnvironmentRequest {
    /// Configured repository, `owner/name`.
    pub repository: String,
    /// Number of an open pull request of that repository.
    pub pr_number: u64,
}

/// Answer of `POST /api/v1/environments`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct CreatedEnvironment {
    /// `false` when the environment existed already (it is wanted again now).
    pub created: bool,
    pub environment: Environment,
    pub message: String,
}

/// The process's log filter, `RUST_LOG` syntax (`info,catalyst_server=debug`).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct LogFilter {
    pub filter: String,
}
