//! The one service layer: the JSON API, the dashboard (through `app::service`), the
//! webhook entrance and later MCP call these methods, so they cannot drift apart.
//! Entrances authorise and translate; this layer decides and persists.

use std::sync::Arc;

use app::model::EnvironmentList;
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend};
use serde::Serialize;
use tokio::sync::Notify;

mod dashboard;
mod surface;
mod usage;

pub use dashboard::{LogRequest, RepositoryChange};
pub use surface::{EnvironmentForPr, RepositoryRemoval, TokenRecord};

use crate::core::domain::Role;
use crate::core::webhook_event::WebhookEvent;
use crate::store::intake::{self, Delivery, DeliveryOutcome};
use crate::store::intake_queue::IntakeQueue;
use crate::store::repositories::{self, CreateRepositoryError, NewRepository, StoredRepository};
use crate::store::tokens::{self, TokenError, TokenOwner};
use crate::store::{Db, StoreError, decode_list, environments};

/// Why a service call failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Wakes the reconciler. Webhooks and API mutations only record desired state and then
/// call [`ReconcileSignal::wake`]; the engine waits on [`ReconcileSignal::notified`].
/// A wake with nobody waiting is remembered (one permit), so none is lost, and many
/// wakes coalesce into one pass — the reconciler is level-triggered anyway.
#[derive(Clone, Debug, Default)]
pub struct ReconcileSignal(Arc<Notify>);

impl ReconcileSignal {
    pub fn wake(&self) {
        self.0.notify_one();
    }

    pub async fn notified(&self) {
        self.0.notified().await;
    }
}

/// A configured repository as the API shows it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RepositoryView {
    pub id: String,
    pub full_name: String,
    pub project: String,
    /// The `{repo}` part of this repository's namespaces, `pr-{repo}-{number}`.
    pub namespace_slug: String,
    pub installation_id: Option<i64>,
    pub chart: ChartView,
    pub values: Option<String>,
    pub values_files: Vec<String>,
    pub build: Option<BuildView>,
    pub image_pattern: Option<String>,
    pub health_path: String,
    pub quota: QuotaView,
    pub secrets: Vec<String>,
    pub secret_store_namespace: Option<String>,
    pub required_label: Option<String>,
    pub deploy_drafts: bool,
    pub fork_opt_in_label: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ChartView {
    pub repo: Option<String>,
    pub path: Option<String>,
    pub version: Option<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct BuildView {
    pub dockerfile: Option<String>,
    pub context: Option<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct QuotaView {
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub pods: Option<i32>,
}

impl RepositoryView {
    fn from_stored(s: StoredRepository) -> Result<Self, StoreError> {
        let r = s.row;
        let build =
            (r.build_dockerfile.is_some() || r.build_context.is_some()).then(|| BuildView {
                dockerfile: r.build_dockerfile.clone(),
                context: r.build_context.clone(),
            });
        Ok(Self {
            values_files: decode_list(&r.values_files)?,
            secrets: decode_list(&r.secrets)?,
            id: r.id,
            full_name: r.full_name,
            project: s.project,
            namespace_slug: r.namespace_slug,
            installation_id: r.installation_id,
            chart: ChartView {
                repo: r.chart_repo,
                path: r.chart_path,
                version: r.chart_version,
            },
            values: r.values_yaml,
            build,
            image_pattern: r.image_pattern,
            health_path: r.health_path,
            quota: QuotaView {
                cpu: r.quota_cpu,
                memory: r.quota_memory,
                pods: r.quota_pods,
            },
            secret_store_namespace: r.secret_store_namespace,
            required_label: r.required_label,
            deploy_drafts: r.deploy_drafts,
            fork_opt_in_label: r.fork_opt_in_label,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// The service layer over the database and the reconciler signal.
#[derive(Clone, Debug)]
pub struct CatalystService {
    db: Db,
    preview_domain: Option<String>,
    reconcile: ReconcileSignal,
    /// For pods, logs and usage (the dashboard's actions in `service/dashboard.rs`).
    cluster: Option<dashboard::ClusterClient>,
    /// Every namespace's usage, read at most every [`usage::FRESH_FOR`] for all viewers.
    usage: Option<Arc<usage::UsageCache>>,
    /// GitHub's web origin, for links to pull requests.
    github_web_url: String,
    /// SQLite's group commit of webhook deliveries, started by the first delivery.
    intake: Arc<std::sync::OnceLock<IntakeQueue>>,
}

impl CatalystService {
    pub fn new(db: Db, preview_domain: Option<String>, reconcile: ReconcileSignal) -> Self {
        Self {
            db,
            preview_domain,
            reconcile,
            cluster: None,
            usage: None,
            github_web_url: "https://github.com".to_owned(),
            intake: Arc::default(),
        }
    }

    /// Where pull request links point (`CATALYST_GITHUB_WEB_URL`).
    pub fn with_github_web_url(mut self, url: &str) -> Self {
        self.github_web_url = url.trim_end_matches('/').to_owned();
        self
    }

    /// Gives the service the Kubernetes client (none when no cluster is configured).
    pub fn with_cluster(mut self, cluster: Option<kube::Client>) -> Self {
        self.usage = cluster.clone().map(usage::UsageCache::new);
        self.cluster = cluster.map(dashboard::ClusterClient);
        self
    }

    pub fn reconcile_signal(&self) -> &ReconcileSignal {
        &self.reconcile
    }

    /// Records a verified webhook delivery; wakes the reconciler when desired state
    /// changed. Never waits on Kubernetes or GitHub.
    pub async fn ingest_webhook(
        &self,
        delivery: Delivery<'_>,
        event: &WebhookEvent,
    ) -> Result<DeliveryOutcome, ServiceError> {
        let outcome = if self.db.get_database_backend() == DbBackend::Sqlite {
            self.intake
                .get_or_init(|| IntakeQueue::start(self.db.clone(), self.preview_domain.clone()))
                .record(delivery, event)
                .await?
        } else {
            intake::record(&self.db, delivery, event, self.preview_domain.as_deref()).await?
        };
        if outcome == DeliveryOutcome::Applied {
            self.reconcile.wake();
        }
        Ok(outcome)
    }

    pub async fn create_repository(
        &self,
        new: NewRepository,
    ) -> Result<RepositoryView, ServiceError> {
        let stored = repositories::create(&self.db, new, self.preview_domain.as_deref())
            .await
            .map_err(|e| match e {
                CreateRepositoryError::AlreadyExists(_) => ServiceError::Conflict(e.to_string()),
                CreateRepositoryError::Store(s) => ServiceError::Store(s),
            })?;
        self.reconcile.wake();
        Ok(RepositoryView::from_stored(stored)?)
    }

    pub async fn list_repositories(&self) -> Result<Vec<RepositoryView>, ServiceError> {
        repositories::list(&self.db)
            .await?
            .into_iter()
            .map(|s| RepositoryView::from_stored(s).map_err(ServiceError::from))
            .collect()
    }

    pub async fn environments(&self) -> Result<EnvironmentList, ServiceError> {
        let (items, configured) = tokio::join!(
            environments::list_open(&self.db),
            repositories::count(&self.db)
        );
        Ok(EnvironmentList {
            items: items?,
            generated_at: Utc::now(),
            configured_repositories: configured?,
        })
    }

    /// The owner of a presented API token.
    pub async fn authenticate_token(
        &self,
        token: &str,
    ) -> Result<Option<TokenOwner>, ServiceError> {
        Ok(tokens::authenticate(&self.db, token).await?)
    }

    /// `catalyst token create`: returns the plain token (shown once).
    pub async fn create_token(&self, name: &str, role: Role) -> Result<String, TokenError> {
        tokens::create(&self.db, name, role).await
    }

    /// `catalyst token revoke`.
    pub async fn revoke_token(&self, name: &str) -> Result<(), TokenError> {
        tokens::revoke(&self.db, name).await
    }

    pub fn db(&self) -> &Db {
        &self.db
    }
}
