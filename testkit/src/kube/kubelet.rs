//! The simulated scheduler and kubelet: places each pod on the one simulated node when its
//! requests fit (or leaves it Pending/Unschedulable), then plays the pod's behaviour —
//! run and exit for Job pods, start and become Ready (or crash-loop) for workload pods —
//! writing container statuses and logs as a kubelet would.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::KubeState;
use super::behaviour::{JobBehaviour, NodeCapacity, WorkloadBehaviour};
use super::events::{self, EventKind};
use super::ops::{WriteOpts, mutate};
use super::podstatus::{all_containers, container_status};
pub(crate) use super::podstatus::{condition, set_condition};
use super::quantity::parse_milli;
use super::resources::{ResourceType, find};
use super::store::Inner;

/// The name of the simulated node.
pub const NODE_NAME: &str = "catalyst-testkit-node";

pub(crate) fn rt(group: &str, plural: &str) -> &'static ResourceType {
    let version = if group.is_empty() {
        "v1"
    } else {
        super::resources::group_version(group)
    };
    find(group, version, plural).expect("simulated kinds are served")
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The pod, if it still exists with this uid.
pub(crate) fn alive(
    st: &KubeState,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
    uid: &str,
) -> Option<Arc<Value>> {
    // Shared with the store, not copied: the simulated controllers call this on every
    // pass, and copying whole objects here was about 8 % of the doubles' CPU in a
    // 500-pull-request benchmark.
    st.store
        .lock()
        .get_shared(rt, ns, name)
        .filter(|o| o["metadata"]["uid"] == uid)
}

pub(crate) fn containers(pod: &Value) -> Vec<(String, String)> {
    pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or("").to_string(),
                c["image"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn requests(pod: &Value, res: &str) -> i128 {
    pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let r = &c["resources"];
            r["requests"][res]
                .as_str()
                .or(r["limits"][res].as_str())
                .and_then(parse_milli)
                .unwrap_or(0)
        })
        .sum()
}

fn terminal(pod: &Value) -> bool {
    matches!(
        pod["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed")
    )
}

/// Whether `pod` takes room on the node: bound to it and not finished.
pub(crate) fn holds_node(pod: &Value) -> bool {
    pod["spec"]["nodeName"] == NODE_NAME && !terminal(pod)
}

/// CPU and memory (both in milli-units) the pod's containers request.
pub(crate) fn pod_requests(pod: &Value) -> (i128, i128) {
    (requests(pod, "cpu"), requests(pod, "memory"))
}

/// Why a pod does not fit on the node, in the scheduler's words.
fn unschedulable(inner: &Inner, pod: &Value, cap: NodeCapacity) -> Option<String> {
    let placed = inner.node_usage();
    let mut reasons = Vec::new();
    if placed.pods + 1 > cap.pods {
        reasons.push("1 Too many pods");
    }
    let (cpu, memory) = pod_requests(pod);
    if placed.cpu_milli + cpu > cap.cpu_milli {
        reasons.push("1 Insufficient cpu");
    }
    if placed.memory_milli + memory > cap.memory_milli {
        reasons.push("1 Insufficient memory");
    }
    (!reasons.is_empty()).then(|| {
        format!(
            "0/1 nodes are available: {}. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
            reasons.join(", ")
        )
    })
}

/// Writes the pod's status through the status subresource, as the kubelet does.
fn write_status(
    st: &KubeState,
    ns: &str,
    name: &str,
    uid: &str,
    f: impl FnOnce(&mut Value),
) -> bool {
    let mut inner = st.store.lock();
    if inner
        .get(rt("", "pods"), ns, name)
        .is_none_or(|p| p["metadata"]["uid"] != uid)
    {
        return false;
    }
    mutate(
        &mut inner,
        rt("", "pods"),
        ns,
        name,
        WriteOpts::status_by("kubelet"),
        |p| f(&mut p["status"]),
    )
    .is_ok()
}

/// Binds the pod when it fits; otherwise records why not. Returns whether it is placed.
fn schedule(st: &KubeState, ns: &str, name: &str, uid: &str) -> Option<bool> {
    let cap = st.sim().capacity;
    let mut inner = st.store.lock();
    // Shared, not copied: the pod is only read here (and named in the event).
    let pod = inner
        .get_shared(rt("", "pods"), ns, name)
        .filter(|p| p["metadata"]["uid"] == uid)?;
    if pod["spec"]["nodeName"] == NODE_NAME {
        return Some(true);
    }
    let pods = rt("", "pods");
    match unschedulable(&inner, &pod, cap) {
        Some(msg) => {
            let first = !pod["status"]["conditions"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["reason"] == "Unschedulable"));
            let _ = mutate(
                &mut inner,
                pods,
                ns,
                name,
                WriteOpts::status_by("kube-scheduler"),
                |p| {
                    set_condition(
                        &mut p["status"],
                        condition("PodScheduled", false, Some("Unschedulable"), Some(&msg)),
                    );
                },
            );
            drop(inner);
            if first {
                events::record(
                    st,
                    &pod,
                    EventKind::Warning,
                    "FailedScheduling",
                    &msg,
                    "default-scheduler",
                );
            }
            Some(false)
        }
        None => {
            let _ = super::ops::bind(&mut inner, ns, name, NODE_NAME);
            drop(inner);
            let msg = format!("Successfully assigned {ns}/{name} to {NODE_NAME}");
            events::record(
                st,
                &pod,
                EventKind::Normal,
                "Scheduled",
                &msg,
                "default-scheduler",
            );
            Some(true)
        }
    }
}

/// Plays one pod's life; ends when the pod is gone or has terminated.
pub async fn run_pod(st: Arc<KubeState>, ns: String, name: String, uid: String) {
    let pods = rt("", "pods");
    loop {
        match schedule(&st, &ns, &name, &uid) {
            None => return,
            Some(true) => break,
            Some(false) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let Some(pod) = alive(&st, pods, &ns, &name, &uid) else {
        return;
    };
    write_status(&st, &ns, &name, &uid, |s| {
        s["phase"] = json!("Pending");
        s["hostIP"] = json!("10.0.0.10");
        s["startTime"] = json!(now());
        set_condition(s, condition("PodReadyToStartContainers", false, None, None));
        set_condition(s, condition("Initialized", true, None, None));
        set_condition(
            s,
            condition(
                "Ready",
                false,
                Some("ContainersNotReady"),
                Some("containers with unready status"),
            ),
        );
        set_condition(
            s,
            condition(
                "ContainersReady",
                false,
                Some("ContainersNotReady"),
                Some("containers with unready status"),
            ),
        );
        s["containerStatuses"] = all_containers(&pod, |n, i| {
            container_status(
                n,
                i,
                json!({"waiting": {"reason": "ContainerCreating"}}),
                false,
                0,
                None,
            )
        });
    });
    match script_for(&st, &pod) {
        Script::Job(b) => run_job_pod(&st, &pod, &ns, &name, &uid, b).await,
        Script::Workload(b) => run_workload_pod(&st, &pod, &ns, &name, &uid, b).await,
    }
}

enum Script {
    Job(JobBehaviour),
    Workload(WorkloadBehaviour),
}

fn script_for(st: &KubeState, pod: &Value) -> Script {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or("");
    let owner = &pod["metadata"]["ownerReferences"][0];
    let owner_name = owner["name"].as_str().unwrap_or("");
    let sim = st.sim();
    match owner["kind"].as_str() {
        Some("Job") => Script::Job(sim.job(ns, owner_name)),
        Some("ReplicaSet") => {
            let rs = st
                .store
                .lock()
                .get(rt("apps", "replicasets"), ns, owner_name)
                .cloned();
            let workload = rs
                .as_ref()
                .and_then(|r| {
                    r["metadata"]["ownerReferences"][0]["name"]
                        .as_str()
                        .map(str::to_string)
                })
                .unwrap_or_else(|| owner_name.to_string());
            Script::Workload(sim.workload(ns, &workload))
        }
        Some(_) => Script::Workload(sim.workload(ns, owner_name)),
        None => Script::Workload(sim.workload(ns, pod["metadata"]["name"].as_str().unwrap_or(""))),
    }
}

/// The pod a kubelet task plays.
struct PodCtx<'a> {
    st: &'a KubeState,
    pod: &'a Value,
    ns: &'a str,
    name: &'a str,
    uid: &'a str,
}

fn set_running(c: &PodCtx<'_>, ready: bool, restarts: i64, last: Option<Value>) -> bool {
    let (st, pod, ns, name, uid) = (c.st, c.pod, c.ns, c.name, c.uid);
    let started = now();
    write_status(st, ns, name, uid, |s| {
        s["phase"] = json!("Running");
        s["podIP"] = json!(format!("10.244.0.{}", rand::random_range(2..250u8)));
        set_condition(s, condition("PodReadyToStartContainers", true, None, None));
        let (reason, msg) = if ready {
            (None, None)
        } else {
            (
                Some("ContainersNotReady"),
                Some("containers with unready status"),
            )
        };
        set_condition(s, condition("Ready", ready, reason, msg));
        set_condition(s, condition("ContainersReady", ready, reason, msg));
        s["containerStatuses"] = all_containers(pod, |n, i| {
            container_status(
                n,
                i,
                json!({"running": {"startedAt": started}}),
                ready,
                restarts,
                last.clone(),
            )
        });
    })
}

/// Starts the containers: fresh logs and the kubelet's Pulled/Created/Started events.
fn reset_logs(st: &KubeState, pod: &Value, ns: &str, name: &str) {
    for (c, image) in containers(pod) {
        st.logs.reset(ns, name, &c);
        let pulled = format!("Container image \"{image}\" already present on machine");
        events::record(st, pod, EventKind::Normal, "Pulled", &pulled, "kubelet");
        events::record(
            st,
            pod,
            EventKind::Normal,
            "Created",
            &format!("Created container: {c}"),
            "kubelet",
        );
        events::record(
            st,
            pod,
            EventKind::Normal,
            "Started",
            &format!("Started container {c}"),
            "kubelet",
        );
    }
}

fn log_all(st: &KubeState, pod: &Value, ns: &str, name: &str, line: &str) {
    for (c, _) in containers(pod) {
        st.logs.append(ns, name, &c, &[line.to_string()]);
    }
}

async fn run_job_pod(
    st: &KubeState,
    pod: &Value,
    ns: &str,
    name: &str,
    uid: &str,
    b: JobBehaviour,
) {
    tokio::time::sleep(b.pending_for).await;
    reset_logs(st, pod, ns, name);
    if !set_running(
        &PodCtx {
            st,
            pod,
            ns,
            name,
            uid,
        },
        true,
        0,
        None,
    ) {
        return;
    }
    let step = b.run_for / (b.logs.len() as u32 + 1);
    for line in &b.logs {
        tokio::time::sleep(step).await;
        if alive(st, rt("", "pods"), ns, name, uid).is_none() {
            return;
        }
        log_all(st, pod, ns, name, line);
    }
    if b.forever {
        return;
    }
    tokio::time::sleep(step).await;
    let code = b.exit_code;
    let finished = now();
    let ok = write_status(st, ns, name, uid, |s| {
        let started = s["containerStatuses"][0]["state"]["running"]["startedAt"].clone();
        s["phase"] = json!(if code == 0 { "Succeeded" } else { "Failed" });
        set_condition(s, condition("Ready", false, Some("PodCompleted"), None));
        set_condition(
            s,
            condition("ContainersReady", false, Some("PodCompleted"), None),
        );
        set_condition(s, condition("PodReadyToStartContainers", false, None, None));
        let reason = if code == 0 { "Completed" } else { "Error" };
        s["containerStatuses"] = all_containers(pod, |n, i| {
            container_status(
                n,
                i,
                json!({"terminated": {"exitCode": code, "reason": reason, "startedAt": started, "finishedAt": finished}}),
                false,
                0,
                None,
            )
        });
    });
    if ok {
        for (c, _) in containers(pod) {
            st.logs.finish(ns, name, &c);
        }
    }
}

async fn run_workload_pod(
    st: &KubeState,
    pod: &Value,
    ns: &str,
    name: &str,
    uid: &str,
    b: WorkloadBehaviour,
) {
    let pods = rt("", "pods");
    tokio::time::sleep(b.pending_for).await;
    let Some(code) = b.crash_exit_code else {
        reset_logs(st, pod, ns, name);
        if !set_running(
            &PodCtx {
                st,
                pod,
                ns,
                name,
                uid,
            },
            false,
            0,
            None,
        ) {
            return;
        }
        for line in &b.logs {
            log_all(st, pod, ns, name, line);
        }
        tokio::time::sleep(b.ready_after).await;
        set_running(
            &PodCtx {
                st,
                pod,
                ns,
                name,
                uid,
            },
            true,
            0,
            None,
        );
        return;
    };
    let mut restarts = 0;
    let mut last: Option<Value> = None;
    loop {
        reset_logs(st, pod, ns, name);
        if !set_running(
            &PodCtx {
                st,
                pod,
                ns,
                name,
                uid,
            },
            false,
            restarts,
            last.clone(),
        ) {
            return;
        }
        for line in &b.logs {
            log_all(st, pod, ns, name, line);
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
        for (c, _) in containers(pod) {
            st.logs.finish(ns, name, &c);
        }
        let terminated = json!({"terminated": {"exitCode": code, "reason": "Error", "startedAt": now(), "finishedAt": now()}});
        last = Some(terminated.clone());
        restarts += 1;
        let backoff = 10 * (1 << (restarts - 1).min(4));
        let ok = write_status(st, ns, name, uid, |s| {
            s["containerStatuses"] = all_containers(pod, |n, i| {
                let msg = format!(
                    "back-off {backoff}s restarting failed container={n} pod={name}_{ns}({uid})"
                );
                container_status(
                    n,
                    i,
                    json!({"waiting": {"reason": "CrashLoopBackOff", "message": msg}}),
                    false,
                    restarts,
                    Some(terminated.clone()),
                )
            });
        });
        if !ok {
            return;
        }
        for (c, _) in containers(pod) {
            let msg = format!("Back-off restarting failed container {c} in pod {name}_{ns}({uid})");
            events::record(st, pod, EventKind::Warning, "BackOff", &msg, "kubelet");
        }
        // Simulated back-off is short; the reported one is the real schedule.
        tokio::time::sleep(Duration::from_millis(100 * restarts.min(5) as u64)).await;
        if alive(st, pods, ns, name, uid).is_none() {
            return;
        }
    }
}
