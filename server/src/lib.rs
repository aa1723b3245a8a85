//! Catalyst Preview's server: one axum service with the GitHub webhook entrance, the JSON
//! API, the Leptos dashboard and health endpoints over a SeaORM store.
//!
//! This file holds only the crate's error type, the module list and the start-up
//! sequence; tests start the server in-process through [`build_router`] and [`AppState`].
//!
//! Error policy: each layer has one `thiserror` type (`ConfigError`, `StoreError`,
//! `ServiceError`, `ApiError`, ...); `anyhow` is not used in the library; request paths
//! never panic — failures become a logged error and a short answer.

pub mod actions;
pub mod api;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod core;
pub mod engine;
pub mod github;
pub mod health;
pub mod http;
pub mod leadership;
pub mod mcp;
pub mod metrics;
pub mod service;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod web;
pub mod webhook;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::store::Db;

pub use config::{Config, ConfigError};
pub use http::build_router;
pub use service::{CatalystService, ReconcileSignal};
pub use state::AppState;

/// Why `catalyst` could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot open the database: {0}")]
    Database(#[source] store::StoreError),
    #[error("cannot apply database migrations: {0}")]
    Migrate(#[source] store::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the HTTP server stopped: {0}")]
    Serve(#[source] std::io::Error),
    #[error(transparent)]
    Token(#[from] store::tokens::TokenError),
    #[error("cannot start the GitHub App integration: {0}")]
    Github(#[source] github::sync::SyncError),
}

/// Opens the configured database and brings its schema up to date.
pub async fn open_database(config: &Config) -> Result<Db, Error> {
    let db = store::connect(store::connect_options(&config.database.url))
        .await
        .map_err(Error::Database)?;
    store::migrate(&db).await.map_err(Error::Migrate)?;
    Ok(db)
}

/// A Kubernetes client from `KUBECONFIG`, the usual kubeconfig locations or the
/// in-cluster service account; `None` (with a warning) when there is none, because
/// Catalyst must start without a cluster.
pub async fn cluster_client() -> Option<kube::Client> {
    match kube::Config::infer().await {
        Ok(mut cfg) => {
            cfg.connect_timeout = Some(Duration::from_secs(2));
            cfg.read_timeout = Some(Duration::from_secs(10));
            match kube::Client::try_from(cfg) {
                Ok(client) => Some(client),
                Err(e) => {
                    tracing::warn!(error = %e, "Kubernetes configuration found but unusable; running without a cluster");
                    None
                }
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "no Kubernetes configuration found; running without a cluster");
            None
        }
    }
}

/// Starts the reconciler when a cluster client exists (without one Catalyst still
/// records desired state; `/readyz` says the cluster is missing). With the GitHub App
/// running, the engine reads each PR's `.catalyst/preview.yaml` through its client.
pub fn start_engine(
    state: &AppState,
    github: Option<&std::sync::Arc<github::sync::GithubSync>>,
) -> Option<engine::Engine> {
    let Some(client) = state.cluster.clone() else {
        tracing::warn!("no Kubernetes cluster: the engine is not running");
        return None;
    };
    Some(engine::Engine::start_replica(
        state.db.clone(),
        client,
        engine::EngineSettings::from_config(&state.config),
        state.reconcile.clone(),
        state.engine_events.clone(),
        state.metrics.clone(),
        github.map(|g| {
            std::sync::Arc::new(g.adapter().client.clone())
                as std::sync::Arc<dyn engine::preview_config::ConfigSource>
        }),
        state.replica.clone(),
    ))
}

/// Starts publishing PR comments and deployment statuses and the periodic sweep of open
/// pull requests, when the GitHub App is configured. A configured app that cannot work
/// (missing or wrong encryption key, unreadable private key) is a start-up error.
pub async fn start_github(
    state: &AppState,
) -> Result<Option<std::sync::Arc<github::sync::GithubSync>>, Error> {
    let app = &state.config.github;
    if app.app_id.is_some() != app.app_private_key_path.is_some() {
        return Err(Error::Github(github::sync::SyncError::Github(
            github::GithubError::Settings(
                "CATALYST_GITHUB_APP_ID and CATALYST_GITHUB_APP_PRIVATE_KEY_PATH must be set together"
                    .to_owned(),
            ),
        )));
    }
    let Some(settings) = github::GithubSettings::from_config(&state.config) else {
        tracing::warn!(
            "GitHub App not configured (CATALYST_GITHUB_APP_ID, CATALYST_GITHUB_APP_PRIVATE_KEY_PATH): no PR comments or sweeps"
        );
        return Ok(None);
    };
    let tuning = github::sync::SyncTuning {
        sweep_interval: Duration::from_secs(state.config.github.sweep_interval_secs),
        ..github::sync::SyncTuning::default()
    };
    let reconcile = state.reconcile.clone();
    let sync = github::sync::start_led(
        state.db.clone(),
        settings,
        state.config.preview.domain.clone(),
        tuning,
        state.publish.clone(),
        std::sync::Arc::new(move || reconcile.wake()),
        state.replica.leader.clone(),
    )
    .await
    .map_err(Error::Github)?;
    state.metrics.observe_github(sync.adapter().client.clone());
    // Every engine status change may change a comment: wake the publisher.
    let mut events = state.engine_events.subscribe();
    let publish = state.publish.clone();
    tokio::spawn(async move {
        use tokio::sync::broadcast::error::RecvError;
        while let Ok(_) | Err(RecvError::Lagged(_)) = events.recv().await {
            publish.wake();
        }
    });
    Ok(Some(sync))
}

/// Serves `state` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    // A router as its own make-service would apply its state to every route again for
    // each accepted connection (axum's `Service<IncomingStream>` for `Router`), in the
    // accept loop: with the dashboard's, the API's and MCP's routes that was a seventh
    // of Catalyst's CPU while 500 webhooks arrived at once, each on a new connection.
    // `into_make_service` applies it once and hands each connection a shared copy.
    axum::serve(listener, build_router(state).into_make_service())
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(Error::Serve)
}

/// `catalyst serve`: migrate, then serve until Ctrl-C / SIGTERM.
pub async fn run(config: Config) -> Result<(), Error> {
    if config.github.webhook_secret.is_none() {
        tracing::warn!(
            "CATALYST_GITHUB_WEBHOOK_SECRET is not set: POST /webhooks/github answers 503 until it is"
        );
    }
    let db = open_database(&config).await?;
    let cluster = cluster_client().await;
    let bind = config.http.bind;
    let listener = TcpListener::bind(bind)
        .await
        .map_err(|source| Error::Bind { addr: bind, source })?;
    tracing::info!(address = %bind, "catalyst listening");
    let mut state = AppState::new(config, db, cluster);
    // Singleton loops (sweeps, publishing) run on the holder of the leader Lease; the
    // election runs as long as the server does.
    let (leader, _election) = leadership::for_process(
        &state.config.ha,
        state.cluster.as_ref(),
        &state.replica.claims.holder,
    )
    .await;
    state.replica.leader = leader;
    // The engine runs beside the HTTP server for as long as it serves; dropping the
    // handle at the end stops it.
    let github = start_github(&state).await?;
    let _engine = start_engine(&state, github.as_ref());
    serve(listener, state, shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
