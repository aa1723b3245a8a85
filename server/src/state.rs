//! The state every handler shares: configuration, database, the service layer, the
//! reconciler signal, the (optional) cluster client and the Leptos options.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use crate::config::Config;
use crate::service::{CatalystService, ReconcileSignal};
use crate::store::Db;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub service: Arc<CatalystService>,
    /// Subscribe here to be woken when desired state changes (the engine).
    pub reconcile: ReconcileSignal,
    /// `None` when no kubeconfig or in-cluster account was found.
    pub cluster: Option<kube::Client>,
    /// Wakes the GitHub publishing loop (comments, deployment statuses) when desired or
    /// actual state changed; separate from `reconcile` so neither steals the other's wake.
    pub publish: crate::github::sync::PublishSignal,
    /// The engine's status-change events; subscribe for GitHub comments and live views.
    pub engine_events: crate::engine::EventSender,
    pub leptos: LeptosOptions,
    /// Prometheus metrics (`GET /metrics`); the engine records into the same set.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// This process as one replica of several: its lease identity and timings, and
    /// whether it leads (always, until `run` starts an election on a cluster).
    pub replica: crate::engine::claim::Replica,
}

impl AppState {
    pub fn new(config: Config, db: Db, cluster: Option<kube::Client>) -> Self {
        let reconcile = ReconcileSignal::default();
        let service = Arc::new(
            CatalystService::new(db.clone(), config.preview.domain.clone(), reconcile.clone())
                .with_cluster(cluster.clone())
                .with_github_web_url(&config.dashboard.github_web_url),
        );
        let config_ha = config.ha.clone();
        Self {
            config: Arc::new(config),
            db,
            service,
            reconcile,
            cluster,
            publish: crate::github::sync::PublishSignal::default(),
            engine_events: crate::engine::event_channel(),
            leptos: leptos_options(),
            metrics: Arc::new(crate::metrics::Metrics::new()),
            replica: crate::engine::claim::Replica::from_config(&config_ha),
        }
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

/// Built explicitly so the binary does not depend on cargo-leptos' environment at run
/// time; only the site root may be moved with `LEPTOS_SITE_ROOT`.
pub fn leptos_options() -> LeptosOptions {
    let site_root = std::env::var("LEPTOS_SITE_ROOT").unwrap_or_else(|_| "target/site".to_owned());
    LeptosOptions::builder()
        .output_name("catalyst")
        .site_root(site_root)
        .site_pkg_dir("pkg")
        .build()
}
