//! The namespace controller (deleting a terminating namespace's contents, then the namespace,
//! after a configurable delay — or never, in stuck mode) and the quota controller.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::KubeState;
use super::admission::quota_used;
use super::kubelet::{condition, rt, set_condition};
use super::ops::{self, Preconditions, WriteOpts};
use super::resources::RESOURCES;
use super::store::{EventType, Inner};

/// Finishes the deletion of a namespace that entered `Terminating`.
pub async fn finalize(st: Arc<KubeState>, name: String, uid: String) {
    let namespaces = rt("", "namespaces");
    let started = tokio::time::Instant::now();
    let mut marked_stuck = false;
    loop {
        if super::kubelet::alive(&st, namespaces, "", &name, &uid).is_none() {
            return;
        }
        let remaining = delete_contents(&mut st.store.lock(), &name);
        let sim = st.sim();
        if sim.is_stuck(&name) {
            if !marked_stuck {
                marked_stuck = true;
                let mut inner = st.store.lock();
                let _ = ops::mutate(
                    &mut inner,
                    namespaces,
                    "",
                    &name,
                    WriteOpts::status_by("kube-controller-manager"),
                    |n| {
                        set_condition(
                            &mut n["status"],
                            condition(
                                "NamespaceDeletionContentFailure",
                                false,
                                Some("ContentDeleted"),
                                Some(
                                    "All content successfully deleted, may be waiting on finalization",
                                ),
                            ),
                        );
                        set_condition(
                            &mut n["status"],
                            condition(
                                "NamespaceFinalizersRemaining",
                                true,
                                Some("SomeFinalizersRemain"),
                                Some(
                                    "Some content in the namespace has finalizers remaining: catalyst-testkit/hang in 1 resource instances",
                                ),
                            ),
                        );
                    },
                );
            }
        } else if remaining == 0 && started.elapsed() >= sim.namespace_deletion_delay {
            let mut inner = st.store.lock();
            if let Some(ns) = inner
                .get(namespaces, "", &name)
                .filter(|n| n["metadata"]["uid"] == uid)
                .cloned()
            {
                let mut ns = ns;
                ns["spec"]["finalizers"] = json!([]);
                inner.put(namespaces, ns, EventType::Deleted);
            }
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Deletes everything in a namespace; returns how many objects were there.
fn delete_contents(inner: &mut Inner, ns: &str) -> usize {
    let objects = inner.all_in_namespace(ns);
    let n = objects.len();
    for (k, v) in objects {
        let Some(rt) = RESOURCES.iter().find(|r| r.group == k.0 && r.plural == k.1) else {
            continue;
        };
        let name = v["metadata"]["name"].as_str().unwrap_or("").to_string();
        // Namespace deletion removes finalizer-free objects outright, dependents included.
        let _ = ops::delete(
            inner,
            rt,
            ns,
            &name,
            Some("Background"),
            &Preconditions::default(),
            false,
        );
    }
    n
}

/// Recomputes `status.used` of every quota in a namespace.
pub fn sync_quotas(inner: &mut Inner, ns: &str) {
    let quotas = rt("", "resourcequotas");
    let list: Vec<_> = inner.list(quotas, Some(ns)).into_iter().cloned().collect();
    for q in list {
        let used = quota_used(inner, ns, &q);
        let hard = q["spec"]["hard"].clone();
        if q["status"]["used"] == used && q["status"]["hard"] == hard {
            continue;
        }
        let name = q["metadata"]["name"].as_str().unwrap_or("").to_string();
        let _ = ops::mutate(
            inner,
            quotas,
            ns,
            &name,
            WriteOpts::status_by("resourcequota-controller"),
            |o| {
                o["status"] = json!({"hard": hard, "used": used});
            },
        );
    }
}
