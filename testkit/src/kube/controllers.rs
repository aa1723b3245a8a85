//! The simulated control plane's event loop: it watches the store like real controllers
//! watch the API server, and starts the per-object simulations.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use super::store::{EventType, WatchEvent};
use super::{KubeState, kubelet, namespace, workloads};

/// Starts the control loop; it runs until the store is dropped or the task is aborted.
pub fn spawn(st: Arc<KubeState>) -> JoinHandle<()> {
    let mut rx = st.store.lock().subscribe();
    tokio::spawn(async move {
        let mut started: HashSet<String> = HashSet::new();
        loop {
            match rx.recv().await {
                Ok(ev) => handle(&st, &ev, &mut started),
                // Missing events only delays reactions: the per-object loops re-read state.
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            }
        }
    })
}

fn handle(st: &Arc<KubeState>, ev: &WatchEvent, started: &mut HashSet<String>) {
    let uid = ev.object["metadata"]["uid"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let (ns, name) = (ev.namespace.clone(), ev.name.clone());
    let first = |started: &mut HashSet<String>, tag: &str| started.insert(format!("{tag}/{uid}"));
    match (ev.resource.group, ev.resource.kind, ev.kind) {
        ("", "Namespace", EventType::Added | EventType::Modified)
            if !ev.object["metadata"]["deletionTimestamp"].is_null() && first(started, "ns") =>
        {
            tokio::spawn(namespace::finalize(st.clone(), name, uid));
        }
        ("batch", "Job", EventType::Added) if first(started, "job") => {
            tokio::spawn(workloads::run_job(st.clone(), ns, name, uid));
        }
        ("apps", "Deployment", EventType::Added) if first(started, "deploy") => {
            tokio::spawn(workloads::run_deployment(st.clone(), ns, name, uid));
        }
        ("apps", "ReplicaSet", EventType::Added) if first(started, "rs") => {
            tokio::spawn(workloads::run_replicaset(st.clone(), ns, name, uid));
        }
        ("apps", "StatefulSet", EventType::Added) if first(started, "sts") => {
            tokio::spawn(workloads::run_statefulset(st.clone(), ns, name, uid));
        }
        ("", "Pod", kind) => {
            if kind == EventType::Added && first(started, "pod") {
                tokio::spawn(kubelet::run_pod(st.clone(), ns.clone(), name.clone(), uid));
            }
            if kind == EventType::Deleted {
                for c in ev.object["spec"]["containers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    st.logs.finish(&ns, &name, c["name"].as_str().unwrap_or(""));
                }
                // Followers have seen the end; a new pod of this name starts empty.
                st.logs.forget_pod(&ns, &name);
            }
            namespace::sync_quotas(&mut st.store.lock(), &ns);
        }
        ("", "ResourceQuota", EventType::Added | EventType::Modified) => {
            namespace::sync_quotas(&mut st.store.lock(), &ns);
        }
        _ => {}
    }
}
