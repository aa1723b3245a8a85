//! The engine: a level-triggered reconciler that turns desired state (pull requests the
//! webhook intake recorded) into running preview environments, like a Kubernetes
//! controller.
//!
//! - [`reconcile::reconcile_environment`] reads one environment's world (desired state,
//!   attempts, namespace, Job) and takes the next step until it has to wait; every step
//!   is persisted before and after it runs and is idempotent (server-side apply, Jobs
//!   named by SHA and attempt), so a restart at any moment repeats nothing harmful.
//! - [`admission`] hands out deployment slots (global, per repository, active
//!   environments) in FIFO order and records each waiting environment's position.
//! - [`scheduler`] is the loop: woken by the webhook intake ([`ReconcileSignal`]), by
//!   timers (in-flight work, retries, periodic resync) and by watches; never two tasks
//!   on one environment; bounded concurrency; failures logged, counted and requeued with
//!   backoff.
//! - [`drift`] removes managed namespaces nobody wants any more.
//! - [`claim`] makes several replicas on one database safe: an environment is
//!   reconciled only under its work lease, the orphan sweep only on the leader.
//!
//! Subscribers (GitHub comments, live dashboard) get [`EnvironmentEvent`]s from
//! [`Engine::subscribe`].

pub mod admission;
pub mod claim;
pub mod drift;
pub mod events;
pub mod notify;
pub mod preview_config;
pub mod reconcile;
pub mod scheduler;
pub mod settings;
pub mod spec;
mod watch;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

use crate::cluster::ClusterError;
use crate::core::deployment::InvalidTransition;
use crate::service::ReconcileSignal;
use crate::store::{Db, StoreError};

pub use events::EnvironmentEvent;
pub use notify::OperatorNotifier;
pub use reconcile::reconcile_environment;
pub use settings::EngineSettings;

/// Why a reconcile did not finish; the scheduler logs, counts and requeues it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("the recorded deployment is inconsistent: {0}")]
    Transition(#[from] InvalidTransition),
}

impl Error {
    /// A short, stable label for counting failures.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Store(_) => "store",
            Self::Cluster(e) => e.metric_label(),
            Self::Transition(_) => "transition",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The sending side of the engine's event channel; `AppState` owns one so subscribers
/// can subscribe before (or without) a running engine.
pub type EventSender = broadcast::Sender<EnvironmentEvent>;

/// A fresh event channel.
pub fn event_channel() -> EventSender {
    broadcast::channel(1024).0
}

/// Asks the scheduler to look at environments now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kick {
    /// This environment.
    Environment(String),
    /// Everything waiting for a deployment slot (one was freed).
    Waiting,
    /// Every environment with unfinished work (a watch saw a change).
    InFlight,
    /// Every environment (a namespace vanished).
    All,
}

/// Counters an operator (and the tests) can read.
#[derive(Debug, Default)]
pub struct EngineMetrics {
    pub reconciles: AtomicU64,
    /// Reads of an environment's world from the database: one as each reconcile
    /// starts, and one after each step that cannot go on from what it stored itself.
    pub world_reads: AtomicU64,
    pub notifications: AtomicU64,
    /// Most deployments ever seen holding a slot at once.
    pub max_in_flight: AtomicU64,
    errors: Mutex<BTreeMap<&'static str, u64>>,
    /// The Prometheus metrics (`/metrics`) the engine records into.
    pub recorder: Arc<crate::metrics::Metrics>,
}

impl EngineMetrics {
    pub fn count_error(&self, label: &'static str) {
        self.recorder.reconcile_error(label);
        let mut e = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        *e.entry(label).or_default() += 1;
    }

    /// Reconcile failures by [`Error::metric_label`].
    pub fn errors(&self) -> BTreeMap<&'static str, u64> {
        self.errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn observe_in_flight(&self, n: u64) {
        self.max_in_flight.fetch_max(n, Ordering::Relaxed);
    }
}

/// Everything a reconcile needs, shared by all tasks.
pub struct Context {
    pub db: Db,
    pub client: kube::Client,
    pub settings: EngineSettings,
    pub events: EventSender,
    pub notifier: OperatorNotifier,
    pub metrics: EngineMetrics,
    /// Serialises slot hand-out; holds every waiting environment's last position.
    pub(crate) admission: tokio::sync::Mutex<HashMap<String, Option<u32>>>,
    /// Decisions waiting for `admission` (they take the shared lease as the decision
    /// before them leaves it, see [`admission::admit`]).
    pub(crate) admission_queue: claim::Waiting,
    /// The last event sent per environment, so only changes are sent.
    pub(crate) last_events: Mutex<HashMap<String, events::EventKey>>,
    /// Namespace → environment id, learnt by reconciles, so watch events can wake
    /// exactly the environment whose Job or namespace changed.
    pub(crate) namespaces: Mutex<HashMap<String, String>>,
    pub(crate) kicks: mpsc::UnboundedSender<Kick>,
    /// Where `.catalyst/preview.yaml` is read from; `None` (no GitHub App configured):
    /// the stored repository configuration alone.
    pub config_source: Option<Arc<dyn preview_config::ConfigSource>>,
    /// This replica's identity and lease timings (work leases per environment).
    pub claims: claim::ClaimSettings,
    /// Whether this replica runs the singleton work (the orphan-namespace sweep).
    pub leader: crate::leadership::Leadership,
    /// Work leases claimed recently (saves a round trip per poll of in-flight work).
    pub(crate) held: claim::HeldLeases,
    /// The registry and Git credentials as last read, shared by every kit apply.
    pub(crate) credentials: crate::cluster::Credentials,
}

impl Context {
    pub(crate) fn kick(&self, k: Kick) {
        let _ = self.kicks.send(k);
    }

    /// Wakes the environment of `namespace` (or everything in flight when unknown).
    pub(crate) fn kick_namespace(&self, namespace: &str) {
        let id = self
            .namespaces
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(namespace)
            .cloned();
        self.kick(id.map_or(Kick::InFlight, Kick::Environment));
    }
}

/// A running engine. Dropping it (or [`Engine::stop`]) stops the loop and every
/// reconcile in progress, wherever they are — which is safe by design.
pub struct Engine {
    ctx: Arc<Context>,
    tasks: Vec<JoinHandle<()>>,
}

impl Engine {
    /// Starts the engine; `signal` is the one the webhook intake wakes, `events` where
    /// status changes go.
    pub fn start(
        db: Db,
        client: kube::Client,
        settings: EngineSettings,
        signal: ReconcileSignal,
        events: EventSender,
    ) -> Self {
        Self::start_recording(db, client, settings, signal, events, Arc::default(), None)
    }

    /// [`Engine::start`], reading `.catalyst/preview.yaml` from `source`.
    pub fn start_with_config_source(
        db: Db,
        client: kube::Client,
        settings: EngineSettings,
        signal: ReconcileSignal,
        events: EventSender,
        source: Arc<dyn preview_config::ConfigSource>,
    ) -> Self {
        Self::start_recording(
            db,
            client,
            settings,
            signal,
            events,
            Arc::default(),
            Some(source),
        )
    }

    /// [`Engine::start`], recording deployments and reconciles into `recorder` and
    /// reading `.catalyst/preview.yaml` from `config_source` when there is one.
    pub fn start_recording(
        db: Db,
        client: kube::Client,
        settings: EngineSettings,
        signal: ReconcileSignal,
        events: EventSender,
        recorder: Arc<crate::metrics::Metrics>,
        config_source: Option<Arc<dyn preview_config::ConfigSource>>,
    ) -> Self {
        Self::start_replica(
            db,
            client,
            settings,
            signal,
            events,
            recorder,
            config_source,
            claim::Replica::default(),
        )
    }

    /// [`Engine::start_recording`] as one replica of several on one database: reconciles
    /// only under the environment's work lease, the orphan sweep only while `replica`
    /// leads.
    #[allow(clippy::too_many_arguments)]
    pub fn start_replica(
        db: Db,
        client: kube::Client,
        settings: EngineSettings,
        signal: ReconcileSignal,
        events: EventSender,
        recorder: Arc<crate::metrics::Metrics>,
        config_source: Option<Arc<dyn preview_config::ConfigSource>>,
        replica: claim::Replica,
    ) -> Self {
        let (kicks, kick_rx) = mpsc::unbounded_channel();
        let ctx = Arc::new(Context {
            db,
            client,
            notifier: OperatorNotifier::new(settings.notify_webhook_url.clone()),
            credentials: crate::cluster::Credentials::new(settings.cluster.credentials_window),
            settings,
            events,
            metrics: EngineMetrics {
                recorder,
                ..EngineMetrics::default()
            },
            admission: tokio::sync::Mutex::new(HashMap::new()),
            admission_queue: claim::Waiting::default(),
            last_events: Mutex::new(HashMap::new()),
            namespaces: Mutex::new(HashMap::new()),
            kicks,
            config_source,
            claims: replica.claims,
            leader: replica.leader,
            held: claim::HeldLeases::default(),
        });
        let mut tasks = vec![tokio::spawn(scheduler::run(ctx.clone(), signal, kick_rx))];
        if ctx.settings.watch {
            tasks.extend(watch::spawn(ctx.clone()));
        }
        tracing::info!("engine started");
        Self { ctx, tasks }
    }

    /// Status changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<EnvironmentEvent> {
        self.ctx.events.subscribe()
    }

    pub fn context(&self) -> &Arc<Context> {
        &self.ctx
    }

    pub fn metrics(&self) -> &EngineMetrics {
        &self.ctx.metrics
    }

    /// Stops the loop and all reconciles at once.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
