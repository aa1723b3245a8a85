//! The GitHub API double: REST endpoints for the app, pulls, comments, deployments,
//! contents and OAuth on loopback, with GitHub's auth, rate limits, ETags and pagination,
//! plus a webhook sender that turns state changes into signed deliveries.

pub mod actions;
pub mod apps;
pub mod auth;
pub mod contents;
pub mod control;
pub mod deployments;
pub mod errors;
pub mod gate;
pub mod handle;
pub mod oauth;
pub mod pulls;
pub mod ratelimit;
pub mod render;
pub mod routes;
pub mod state;
pub mod webhook;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use tokio::task::JoinHandle;

use crate::faults::{Faults, FaultyListener};
use crate::recorder::Recorder;

pub use actions::{PrAction, PrSpec};
pub use errors::GhError;
pub use handle::GitHub;
pub use webhook::{Delivery, DeliveryResult, WebhookError, WebhookSender, signature};

/// A test-only RSA key for the GitHub App. Never use it for anything real.
pub const TEST_APP_PRIVATE_KEY_PEM: &str = include_str!("../../keys/test-app-key.DO-NOT-USE.pem");
/// The public half of [`TEST_APP_PRIVATE_KEY_PEM`].
pub const TEST_APP_PUBLIC_KEY_PEM: &str =
    include_str!("../../keys/test-app-key.DO-NOT-USE.pub.pem");
/// The app id the double's app has.
pub const TEST_APP_ID: u64 = 1001;
/// The app's one installation.
pub const TEST_INSTALLATION_ID: u64 = 2002;
/// The default webhook secret.
pub const TEST_WEBHOOK_SECRET: &str = "catalyst-testkit-webhook-secret";

/// Everything the GitHub double holds.
pub struct GhState {
    world: Mutex<state::World>,
    limits: Mutex<ratelimit::RateLimits>,
    pub faults: Arc<Faults>,
    pub recorder: Recorder,
    /// Where `pr` actions deliver webhooks (if anywhere).
    pub webhook: Mutex<Option<WebhookSender>>,
    /// Every delivery sent, with the receiver's status (None when sending failed).
    pub deliveries: Mutex<Vec<(Delivery, Option<u16>)>>,
    base: OnceLock<String>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl GhState {
    fn new() -> Self {
        let app = state::App {
            id: TEST_APP_ID,
            slug: "catalyst-preview-test".into(),
            name: "Catalyst Preview (test)".into(),
            public_key_pem: TEST_APP_PUBLIC_KEY_PEM.into(),
            owner: "acme".into(),
        };
        Self {
            world: Mutex::new(state::World::new(app, TEST_INSTALLATION_ID, "acme")),
            limits: Mutex::new(ratelimit::RateLimits::default()),
            faults: Arc::new(Faults::default()),
            recorder: Recorder::default(),
            webhook: Mutex::new(None),
            deliveries: Mutex::new(Vec::new()),
            base: OnceLock::new(),
        }
    }

    /// The world, locked.
    pub fn world(&self) -> MutexGuard<'_, state::World> {
        lock(&self.world)
    }

    /// The rate limits, locked.
    pub fn limits(&self) -> MutexGuard<'_, ratelimit::RateLimits> {
        lock(&self.limits)
    }

    /// `http://127.0.0.1:PORT`, the base of every URL in answers.
    pub fn base(&self) -> String {
        self.base.get().cloned().unwrap_or_default()
    }
}

/// A running GitHub double. Dropping it stops the server.
pub struct GitHubServer {
    state: Arc<GhState>,
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl GitHubServer {
    /// Starts on `127.0.0.1:port` (0 = any free port).
    pub async fn start(port: u16) -> std::io::Result<Self> {
        let state = Arc::new(GhState::new());
        let listener = crate::http_util::bind_loopback(port).await?;
        let addr = listener.local_addr()?;
        let _ = state.base.set(format!("http://{addr}"));
        let app = routes::router()
            .merge(oauth::router())
            .merge(control::router())
            .fallback(routes::not_found)
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                gate::gate,
            ))
            .with_state(state.clone());
        let listener = FaultyListener::new(listener, state.faults.clone());
        let task = tokio::spawn(async move {
            // Serving only ends with the task being aborted. As a make-service the router
            // is readied once, not again for every connection a client opens.
            let _ = axum::serve(listener, app.into_make_service()).await;
        });
        Ok(Self { state, addr, task })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The control handle.
    pub fn handle(&self) -> GitHub {
        GitHub::new(self.state.clone())
    }
}

impl Drop for GitHubServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
