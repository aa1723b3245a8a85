//! The object store: one JSON document per object, one global `resourceVersion` counter,
//! and a bounded history of watch events.
//!
//! Objects are kept as `serde_json::Value` so every kind is handled the same way and the
//! wire format is exactly what was stored; kind-specific rules live in the verb layer.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use tokio::sync::broadcast;

use super::resources::ResourceType;

/// Type of a watch event, as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    /// `ADDED`, `MODIFIED`, `DELETED`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One change to one object, kept for watches and for the simulated cluster.
#[derive(Debug, Clone)]
pub struct WatchEvent {
    pub rv: u64,
    pub resource: &'static ResourceType,
    pub namespace: String,
    pub name: String,
    pub kind: EventType,
    /// The object after the change (for `DELETED`, its last state with a new `resourceVersion`).
    pub object: Arc<Value>,
    /// The object before the change (`None` for `ADDED`), so filtered watches can tell
    /// "started matching" from "changed".
    pub previous: Option<Arc<Value>>,
}

/// Store key: group, plural, namespace (`""` for cluster-scoped), name. Sorted, so lists
/// come out in the API server's order (by namespace, then name).
pub type Key = (&'static str, &'static str, String, String);

/// The mutable state behind the lock.
///
/// An object's state is one shared `Arc<Value>`: the store, the event that wrote it and
/// the event that replaced it (as `previous`) hold the same allocation. Copies of every
/// state in the watch history were most of the benchmark harness's memory growth and a
/// tenth of its CPU (cloning on write, freeing on compaction; BENCHMARKS.md).
pub struct Inner {
    objects: BTreeMap<Key, Arc<Value>>,
    rv: u64,
    history: VecDeque<Arc<WatchEvent>>,
    history_limit: usize,
    /// Highest `resourceVersion` whose event was dropped from `history`.
    compacted: u64,
    /// The newest `resourceVersion` written in each namespace (Events not counted), so
    /// the simulated controllers can tell "nothing changed here" without reading their
    /// objects.
    namespace_versions: HashMap<String, u64>,
    /// What the pods bound to the node request, kept up to date on every pod write as
    /// the real scheduler's node cache is, so placing a pod does not re-read every pod
    /// of the cluster (a quarter of the doubles' CPU in the 500-PR benchmark).
    node: NodeUsage,
    events: broadcast::Sender<Arc<WatchEvent>>,
}

/// Requests of the pods bound to the simulated node that are not finished.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeUsage {
    pub pods: usize,
    pub cpu_milli: i128,
    pub memory_milli: i128,
}

impl NodeUsage {
    fn add(&mut self, pod: &Value, sign: i128) {
        if !super::kubelet::holds_node(pod) {
            return;
        }
        let (cpu, memory) = super::kubelet::pod_requests(pod);
        if sign > 0 {
            self.pods += 1;
        } else {
            self.pods = self.pods.saturating_sub(1);
        }
        self.cpu_milli += sign * cpu;
        self.memory_milli += sign * memory;
    }
}

/// The shared store.
pub struct Store {
    inner: Mutex<Inner>,
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    /// An empty store; `resourceVersion`s start above 1000 like a real etcd that has history.
    pub fn new() -> Self {
        let (events, _) = broadcast::channel(65_536);
        Self {
            inner: Mutex::new(Inner {
                objects: BTreeMap::new(),
                rv: 1000,
                history: VecDeque::new(),
                history_limit: 10_000,
                compacted: 0,
                namespace_versions: HashMap::new(),
                node: NodeUsage::default(),
                events,
            }),
        }
    }

    /// Locks the store; every verb runs entirely under this lock so it is atomic.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock only happens in a failing test; keep serving.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn key(rt: &'static ResourceType, ns: &str, name: &str) -> Key {
    (rt.group, rt.plural, ns.to_string(), name.to_string())
}

impl Inner {
    /// The current (latest) `resourceVersion`.
    pub fn current_rv(&self) -> u64 {
        self.rv
    }

    /// The newest `resourceVersion` written in namespace `ns` (0: nothing yet), Events
    /// not counted.
    pub fn namespace_version(&self, ns: &str) -> u64 {
        self.namespace_versions.get(ns).copied().unwrap_or(0)
    }

    /// One object.
    pub fn get(&self, rt: &'static ResourceType, ns: &str, name: &str) -> Option<&Value> {
        self.objects.get(&key(rt, ns, name)).map(AsRef::as_ref)
    }

    /// One object, shared with the store (no copy of the object).
    pub fn get_shared(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
    ) -> Option<Arc<Value>> {
        self.objects.get(&key(rt, ns, name)).cloned()
    }

    /// The stored objects of one kind, in one namespace or (`None`) in all: one range
    /// of the sorted keys, so reading them costs what they hold, not what the cluster
    /// holds.
    fn of_kind<'a>(
        &'a self,
        rt: &'static ResourceType,
        ns: Option<&str>,
    ) -> impl Iterator<Item = (&'a Key, &'a Arc<Value>)> {
        self.objects
            .range(key(rt, ns.unwrap_or_default(), "")..)
            .take_while(move |(k, _)| {
                k.0 == rt.group && k.1 == rt.plural && ns.is_none_or(|n| k.2 == n)
            })
    }

    /// All objects of a kind, in one namespace or (`None`) in all.
    pub fn list(&self, rt: &'static ResourceType, ns: Option<&str>) -> Vec<&Value> {
        self.of_kind(rt, ns).map(|(_, v)| v.as_ref()).collect()
    }

    /// Every namespaced object in a namespace, of any kind (namespace deletion, GC): one
    /// range per kind.
    pub fn all_in_namespace(&self, ns: &str) -> Vec<(Key, Value)> {
        if ns.is_empty() {
            return Vec::new();
        }
        let mut found = super::resources::RESOURCES
            .iter()
            .filter(|rt| rt.namespaced)
            .flat_map(|rt| self.of_kind(rt, Some(ns)))
            .map(|(k, v)| (k.clone(), Value::clone(v)))
            .collect::<Vec<_>>();
        // In key order, as a walk over the whole store gave them.
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found
    }

    /// What the pods bound to the simulated node request.
    pub fn node_usage(&self) -> NodeUsage {
        self.node
    }

    /// Every object (garbage collection walks owner references across kinds).
    pub fn all(&self) -> impl Iterator<Item = (&Key, &Value)> {
        self.objects.iter().map(|(k, v)| (k, v.as_ref()))
    }

    /// Writes an object: assigns the next `resourceVersion`, stores it, records the event.
    /// Returns the stored object, shared: most writers (the simulated controllers and
    /// kubelet) never read their answer, and a deep copy of every written object for it
    /// was a tenth of the double's CPU in the 50-PR burst.
    pub fn put(
        &mut self,
        rt: &'static ResourceType,
        mut obj: Value,
        kind: EventType,
    ) -> Arc<Value> {
        self.rv += 1;
        let rv = self.rv;
        obj["metadata"]["resourceVersion"] = Value::String(rv.to_string());
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
        let k = key(rt, &ns, &name);
        // Events aside: no simulated controller reads them, and the kubelet and the
        // controllers record several for each pod, each of which woke every controller
        // loop of the namespace for a pass that found nothing to do.
        if rt.plural != "events" {
            match self.namespace_versions.get_mut(&ns) {
                Some(v) => *v = rv,
                None => {
                    self.namespace_versions.insert(ns.clone(), rv);
                }
            }
        }
        let obj = Arc::new(obj);
        let previous = if kind == EventType::Deleted {
            self.objects.remove(&k)
        } else {
            self.objects.insert(k, obj.clone())
        };
        if rt.group.is_empty() && rt.plural == "pods" {
            if let Some(old) = &previous {
                self.node.add(old, -1);
            }
            if kind != EventType::Deleted {
                self.node.add(&obj, 1);
            }
        }
        self.record(WatchEvent {
            rv,
            resource: rt,
            namespace: ns,
            name,
            kind,
            object: obj.clone(),
            previous,
        });
        obj
    }

    fn record(&mut self, ev: WatchEvent) {
        let ev = Arc::new(ev);
        self.history.push_back(ev.clone());
        while self.history.len() > self.history_limit {
            if let Some(old) = self.history.pop_front() {
                self.compacted = old.rv;
            }
        }
        // No receivers is fine: nobody is watching.
        let _ = self.events.send(ev);
    }

    /// Events after `rv`, or `Err(oldest)` when some of them were compacted away.
    pub fn events_since(&self, rv: u64) -> Result<Vec<Arc<WatchEvent>>, u64> {
        if rv < self.compacted {
            return Err(self.compacted + 1);
        }
        Ok(self.history.iter().filter(|e| e.rv > rv).cloned().collect())
    }

    /// A receiver for events from now on (take it under the lock with a backlog for no gaps).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<WatchEvent>> {
        self.events.subscribe()
    }

    /// How many events are kept for `resourceVersion` watches; older ones answer 410 Gone.
    pub fn set_history_limit(&mut self, limit: usize) {
        self.history_limit = limit.max(1);
        while self.history.len() > self.history_limit {
            if let Some(old) = self.history.pop_front() {
                self.compacted = old.rv;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::kube::kubelet::NODE_NAME;
    use crate::kube::resources::find;

    fn pod(ns: &str, name: &str, node: Option<&str>, phase: &str, cpu: &str) -> Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"namespace": ns, "name": name},
            "spec": {
                "nodeName": node,
                "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu, "memory": "1Mi"}}}]
            },
            "status": {"phase": phase}
        })
    }

    #[test]
    fn a_namespace_version_moves_with_its_objects_but_not_with_its_events() {
        let store = Store::new();
        let mut inner = store.lock();
        assert_eq!(inner.namespace_version("a"), 0);
        let pods = find("", "v1", "pods").unwrap();
        inner.put(pods, pod("a", "x", None, "Pending", "1"), EventType::Added);
        let after_pod = inner.namespace_version("a");
        assert_eq!(after_pod, inner.current_rv());
        let events = find("", "v1", "events").unwrap();
        for name in ["x.1", "x.2"] {
            let event = json!({"metadata": {"namespace": "a", "name": name}, "reason": "Pulled"});
            inner.put(events, event, EventType::Added);
        }
        assert_eq!(inner.namespace_version("a"), after_pod);
        assert!(inner.current_rv() > after_pod);
        inner.put(
            pods,
            pod("a", "x", None, "Running", "1"),
            EventType::Modified,
        );
        assert_eq!(inner.namespace_version("a"), inner.current_rv());
        assert_eq!(inner.namespace_version("b"), 0);
    }

    #[test]
    fn a_namespaced_list_holds_that_namespace_only_and_the_whole_list_every_one() {
        let store = Store::new();
        let mut inner = store.lock();
        let pods = find("", "v1", "pods").unwrap();
        let secrets = find("", "v1", "secrets").unwrap();
        for ns in ["a", "ab", "b"] {
            for name in ["x", "y"] {
                inner.put(pods, pod(ns, name, None, "Pending", "1"), EventType::Added);
            }
        }
        inner.put(
            secrets,
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"namespace": "a", "name": "s"}}),
            EventType::Added,
        );
        let names = |list: Vec<&Value>| -> Vec<String> {
            list.iter()
                .map(|v| {
                    format!(
                        "{}/{}",
                        v["metadata"]["namespace"].as_str().unwrap(),
                        v["metadata"]["name"].as_str().unwrap()
                    )
                })
                .collect()
        };
        assert_eq!(names(inner.list(pods, Some("a"))), ["a/x", "a/y"]);
        assert_eq!(names(inner.list(pods, Some("c"))), Vec::<String>::new());
        assert_eq!(inner.list(pods, None).len(), 6);
        let all_of_a: Vec<String> = inner
            .all_in_namespace("a")
            .into_iter()
            .map(|(k, _)| format!("{}/{}", k.1, k.3))
            .collect();
        assert_eq!(all_of_a, ["pods/x", "pods/y", "secrets/s"]);
        assert!(inner.all_in_namespace("").is_empty());
    }

    #[test]
    fn node_usage_follows_every_pod_write() {
        let store = Store::new();
        let mut inner = store.lock();
        let pods = find("", "v1", "pods").unwrap();
        inner.put(
            pods,
            pod("a", "p", None, "Pending", "500m"),
            EventType::Added,
        );
        assert_eq!(inner.node_usage(), NodeUsage::default(), "not bound yet");
        inner.put(
            pods,
            pod("a", "p", Some(NODE_NAME), "Running", "500m"),
            EventType::Modified,
        );
        inner.put(
            pods,
            pod("b", "q", Some(NODE_NAME), "Running", "2"),
            EventType::Added,
        );
        let usage = inner.node_usage();
        assert_eq!((usage.pods, usage.cpu_milli), (2, 2_500));
        inner.put(
            pods,
            pod("a", "p", Some(NODE_NAME), "Succeeded", "500m"),
            EventType::Modified,
        );
        assert_eq!(inner.node_usage().pods, 1, "a finished pod frees its room");
        inner.put(
            pods,
            pod("b", "q", Some(NODE_NAME), "Running", "2"),
            EventType::Deleted,
        );
        assert_eq!(inner.node_usage(), NodeUsage::default());
    }
}
