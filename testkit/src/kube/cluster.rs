//! `Cluster`: the handle tests use to script the simulated world and to look at (or seed)
//! the store directly, without going through HTTP.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::KubeState;
use super::behaviour::{JobBehaviour, Match, WorkloadBehaviour};
use super::errors::ApiError;
use super::ops::{self, Preconditions, WriteOpts};
use super::proxy::ProxyResponse;
use super::quantity::parse_milli;
use super::resources::{ResourceType, find_kind};
use crate::faults::Faults;
use crate::recorder::RecordedRequest;

/// Control over the simulated cluster behind the Kubernetes double.
#[derive(Clone)]
pub struct Cluster {
    st: Arc<KubeState>,
}

fn kind(api_version: &str, kind: &str) -> Result<&'static ResourceType, ApiError> {
    find_kind(api_version, kind).ok_or_else(|| {
        ApiError::bad_request(format!(
            "no kind \"{kind}\" is registered for version \"{api_version}\""
        ))
    })
}

impl Cluster {
    pub(crate) fn new(st: Arc<KubeState>) -> Self {
        Self { st }
    }

    /// The shared state, for anything this handle does not cover.
    pub fn state(&self) -> &Arc<KubeState> {
        &self.st
    }

    /// Jobs matching `m` behave like `b` (the last matching rule wins).
    pub fn on_job(&self, m: impl Into<Match>, b: JobBehaviour) {
        let m = m.into();
        self.st.update_sim(|s| s.jobs.push((m, b)));
    }

    /// Pods of Deployments/StatefulSets (by workload name) or bare pods matching `m` behave like `b`.
    pub fn on_workload(&self, m: impl Into<Match>, b: WorkloadBehaviour) {
        let m = m.into();
        self.st.update_sim(|s| s.workloads.push((m, b)));
    }

    /// The simulated node's allocatable CPU (`"2"`, `"500m"`), memory (`"4Gi"`) and pod count.
    /// Pods whose requests do not fit stay Pending with reason `Unschedulable`.
    pub fn set_node_capacity(&self, cpu: &str, memory: &str, pods: usize) {
        let cpu = parse_milli(cpu).unwrap_or(0);
        let mem = parse_milli(memory).unwrap_or(0);
        self.st.update_sim(|s| {
            s.capacity.cpu_milli = cpu;
            s.capacity.memory_milli = mem;
            s.capacity.pods = pods;
        });
    }

    /// How long a terminating namespace lingers after its contents are deleted.
    pub fn set_namespace_deletion_delay(&self, d: Duration) {
        self.st.update_sim(|s| s.namespace_deletion_delay = d);
    }

    /// Namespaces matching `pattern` never finish terminating (`stuck = false` releases them).
    pub fn set_namespace_stuck(&self, pattern: &str, stuck: bool) {
        self.st.update_sim(|s| {
            s.stuck_namespaces
                .retain(|m| m.namespace.as_deref() != Some(pattern));
            if stuck {
                s.stuck_namespaces.push(Match::namespace(pattern));
            }
        });
    }

    /// Appends lines to a running container's log; `logs -f` followers get them at once.
    pub fn append_log(&self, ns: &str, pod: &str, container: &str, lines: &[&str]) {
        let lines: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
        self.st.logs.append(ns, pod, container, &lines);
    }

    /// A container's log lines so far.
    pub fn logs(&self, ns: &str, pod: &str, container: &str) -> Vec<String> {
        self.st.logs.lines(ns, pod, container)
    }

    /// The usage `metrics.k8s.io` reports for a container (`"250m"`, `"64Mi"`).
    pub fn set_pod_metrics(&self, ns: &str, pod: &str, container: &str, cpu: &str, memory: &str) {
        let mut u = self.st.usage.lock().unwrap_or_else(|p| p.into_inner());
        u.insert(
            (ns.into(), pod.into(), container.into()),
            (cpu.into(), memory.into()),
        );
    }

    /// What the service proxy answers for `ns/service` (instead of the default).
    pub fn set_service_response(&self, ns: &str, service: &str, r: ProxyResponse) {
        let mut p = self.st.proxy.lock().unwrap_or_else(|p| p.into_inner());
        p.insert((ns.into(), service.into()), r);
    }

    /// Fault injection for the API (fail next N, outages, latency).
    pub fn faults(&self) -> &Faults {
        &self.st.faults
    }

    /// How many events are kept for `resourceVersion` watches (older ones get 410 Gone).
    pub fn set_watch_history_limit(&self, n: usize) {
        self.st.store.lock().set_history_limit(n);
    }

    /// How often bookmarks are sent to watches that allow them.
    pub fn set_bookmark_interval(&self, d: Duration) {
        self.st.update_config(|c| c.bookmark_interval = d);
    }

    /// Every request the API received.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.st.recorder.all()
    }

    /// One object straight from the store.
    pub fn get(&self, api_version: &str, kind_: &str, ns: &str, name: &str) -> Option<Value> {
        let rt = kind(api_version, kind_).ok()?;
        let ns = if rt.namespaced { ns } else { "" };
        self.st.store.lock().get(rt, ns, name).cloned()
    }

    /// All objects of a kind (in one namespace, or all).
    pub fn list(&self, api_version: &str, kind_: &str, ns: Option<&str>) -> Vec<Value> {
        let Ok(rt) = kind(api_version, kind_) else {
            return Vec::new();
        };
        self.st
            .store
            .lock()
            .list(rt, ns)
            .into_iter()
            .cloned()
            .collect()
    }

    /// Creates an object as if `manager` had POSTed it (seeding state for a test).
    pub fn create(&self, obj: Value) -> Result<Value, ApiError> {
        let rt = kind(
            obj["apiVersion"].as_str().unwrap_or(""),
            obj["kind"].as_str().unwrap_or(""),
        )?;
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string();
        let ns = if rt.namespaced { ns } else { String::new() };
        ops::create(
            &mut self.st.store.lock(),
            rt,
            &ns,
            obj,
            WriteOpts::by("catalyst-testkit"),
        )
        .map(std::sync::Arc::unwrap_or_clone)
    }

    /// Deletes an object (background propagation).
    pub fn delete(
        &self,
        api_version: &str,
        kind_: &str,
        ns: &str,
        name: &str,
    ) -> Result<Value, ApiError> {
        let rt = kind(api_version, kind_)?;
        let ns = if rt.namespaced { ns } else { "" };
        ops::delete(
            &mut self.st.store.lock(),
            rt,
            ns,
            name,
            Some("Background"),
            &Preconditions::default(),
            false,
        )
        .map(std::sync::Arc::unwrap_or_clone)
    }

    /// Waits until an object satisfies `pred` (or `None` after `timeout`).
    pub async fn wait_for(
        &self,
        api_version: &str,
        kind_: &str,
        ns: &str,
        name: &str,
        timeout: Duration,
        pred: impl Fn(Option<&Value>) -> bool,
    ) -> Option<Option<Value>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let obj = self.get(api_version, kind_, ns, name);
            if pred(obj.as_ref()) {
                return Some(obj);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
