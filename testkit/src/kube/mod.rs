//! The Kubernetes API double: a REST server on loopback that `kube` and `kubectl` talk to,
//! backed by a generic JSON object store and a scriptable simulated cluster.

pub mod access;
pub mod admission;
pub mod api;
pub mod apply;
pub mod behaviour;
pub mod cluster;
pub mod controllers;
pub mod defaults;
pub mod discovery;
pub mod errors;
pub mod events;
pub mod fieldpath;
pub mod kubelet;
pub mod logs;
pub mod metrics;
pub mod namespace;
pub mod ops;
pub mod patch;
pub mod podstatus;
pub mod proxy;
pub mod quantity;
pub mod rbac;
pub mod request_info;
pub mod resources;
pub mod selectors;
pub mod store;
pub mod table;
pub mod tokens;
pub mod validation;
pub mod watch;
pub mod workloads;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::faults::{Faults, FaultyListener};
use crate::recorder::Recorder;

pub use behaviour::{JobBehaviour, Match, NodeCapacity, SimConfig, WorkloadBehaviour};
pub use cluster::Cluster;
pub use errors::ApiError;
pub use proxy::ProxyResponse;

/// Tunables of the API behaviour (not of the simulated world).
#[derive(Debug, Clone)]
pub struct KubeConfig {
    /// How often watches with `allowWatchBookmarks` get a `BOOKMARK`.
    pub bookmark_interval: Duration,
    /// Watch length when the client gives no `timeoutSeconds`.
    pub default_watch_timeout: Duration,
}

impl Default for KubeConfig {
    fn default() -> Self {
        Self {
            bookmark_interval: Duration::from_secs(1),
            default_watch_timeout: Duration::from_secs(1800),
        }
    }
}

/// Pod metrics by (namespace, pod, container): (cpu, memory).
pub type UsageMap = HashMap<(String, String, String), (String, String)>;

/// Everything the Kubernetes double holds.
pub struct KubeState {
    pub store: store::Store,
    pub logs: logs::Logs,
    pub faults: Arc<Faults>,
    pub recorder: Recorder,
    /// Issues and checks ServiceAccount tokens (see [`access`] for what they may do).
    pub tokens: tokens::Tokens,
    sim: Mutex<SimConfig>,
    config: Mutex<KubeConfig>,
    /// Pod metrics: (namespace, pod, container) → (cpu, memory).
    pub usage: Mutex<UsageMap>,
    /// Scripted service proxy answers: (namespace, service) → answer.
    pub proxy: Mutex<HashMap<(String, String), ProxyResponse>>,
    addr: OnceLock<SocketAddr>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl KubeState {
    fn new() -> Self {
        Self {
            store: store::Store::new(),
            logs: logs::Logs::default(),
            faults: Arc::new(Faults::default()),
            recorder: Recorder::default(),
            tokens: tokens::Tokens::default(),
            sim: Mutex::new(SimConfig::default()),
            config: Mutex::new(KubeConfig::default()),
            usage: Mutex::new(HashMap::new()),
            proxy: Mutex::new(HashMap::new()),
            addr: OnceLock::new(),
        }
    }

    /// A copy of the API tunables.
    pub fn config(&self) -> KubeConfig {
        lock(&self.config).clone()
    }

    /// Changes the API tunables.
    pub fn update_config(&self, f: impl FnOnce(&mut KubeConfig)) {
        f(&mut lock(&self.config));
    }

    /// A copy of the simulation script.
    pub fn sim(&self) -> SimConfig {
        lock(&self.sim).clone()
    }

    /// Changes the simulation script.
    pub fn update_sim(&self, f: impl FnOnce(&mut SimConfig)) {
        f(&mut lock(&self.sim));
    }

    /// `127.0.0.1:PORT`, as discovery reports it.
    pub fn server_address(&self) -> String {
        self.addr.get().map(ToString::to_string).unwrap_or_default()
    }
}

/// A running Kubernetes double. Dropping it stops the server and the simulation.
pub struct KubeServer {
    state: Arc<KubeState>,
    addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl KubeServer {
    /// Starts on `127.0.0.1:port` (0 = any free port) with the `default` namespace and one node.
    pub async fn start(port: u16) -> std::io::Result<Self> {
        let state = Arc::new(KubeState::new());
        let listener = crate::http_util::bind_loopback(port).await?;
        let addr = listener.local_addr()?;
        let _ = state.addr.set(addr);
        let controllers = controllers::spawn(state.clone());
        seed(&state);
        let app = api::router(state.clone());
        let listener = FaultyListener::new(listener, state.faults.clone());
        let server = tokio::spawn(async move {
            // Serving only ends with the task being aborted. As a make-service the router
            // is readied once, not again for every connection a client opens.
            let _ = axum::serve(listener, app.into_make_service()).await;
        });
        Ok(Self {
            state,
            addr,
            tasks: vec![controllers, server],
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state (store, logs, faults, recorder).
    pub fn state(&self) -> &Arc<KubeState> {
        &self.state
    }

    /// The control handle for the simulated cluster.
    pub fn cluster(&self) -> Cluster {
        Cluster::new(self.state.clone())
    }
}

impl Drop for KubeServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// What every cluster has: the standard namespaces, the bootstrap RBAC roles and a node.
fn seed(st: &KubeState) {
    let mut inner = st.store.lock();
    let ns_rt = resources::find("", "v1", "namespaces").expect("namespaces are served");
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        let obj =
            serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        let _ = ops::create(
            &mut inner,
            ns_rt,
            "",
            obj,
            ops::WriteOpts::by("kube-apiserver"),
        );
    }
    for obj in rbac::bootstrap_objects() {
        let rt = resources::find_kind(
            obj["apiVersion"].as_str().unwrap_or_default(),
            obj["kind"].as_str().unwrap_or_default(),
        )
        .expect("RBAC kinds are served");
        let _ = ops::create(
            &mut inner,
            rt,
            "",
            obj,
            ops::WriteOpts::by("kube-apiserver"),
        );
    }
    let node_rt = resources::find("", "v1", "nodes").expect("nodes are served");
    let node = podstatus::node_object(st.sim().capacity);
    let _ = ops::create(&mut inner, node_rt, "", node, ops::WriteOpts::by("kubelet"));
}
