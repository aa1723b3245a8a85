//! The shapes a kubelet and scheduler write: pod conditions, container statuses, and the
//! simulated node object.

use serde_json::{Value, json};

use super::behaviour::NodeCapacity;
use super::kubelet::{NODE_NAME, containers};
use super::quantity::format_milli;

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// One status condition (`type`, `status`, `reason`, `message`, transition time).
pub fn condition(kind: &str, status: bool, reason: Option<&str>, message: Option<&str>) -> Value {
    let mut c = json!({"type": kind, "status": if status { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": now()});
    if let Some(r) = reason {
        c["reason"] = json!(r);
    }
    if let Some(m) = message {
        c["message"] = json!(m);
    }
    c
}

pub fn set_condition(status: &mut Value, c: Value) {
    if !status["conditions"].is_array() {
        status["conditions"] = json!([]);
    }
    let list = status["conditions"]
        .as_array_mut()
        .expect("made an array above");
    match list.iter_mut().find(|x| x["type"] == c["type"]) {
        Some(x) => {
            if x["status"] != c["status"] || x["reason"] != c["reason"] {
                *x = c;
            }
        }
        None => list.push(c),
    }
}

/// One container's status in a given state.
pub fn container_status(
    name: &str,
    image: &str,
    state: Value,
    ready: bool,
    restarts: i64,
    last: Option<Value>,
) -> Value {
    let started = state.get("running").is_some();
    let mut s = json!({
        "name": name,
        "image": image,
        "imageID": format!("{image}@sha256:{}", "0".repeat(64)),
        "state": state,
        "ready": ready,
        "started": started,
        "restartCount": restarts,
        "lastState": last.unwrap_or_else(|| json!({})),
    });
    if started || s["state"].get("terminated").is_some() {
        s["containerID"] = json!(format!("containerd://{}", uuid::Uuid::new_v4().simple()));
    }
    s
}

pub fn all_containers(pod: &Value, f: impl Fn(&str, &str) -> Value) -> Value {
    Value::Array(containers(pod).iter().map(|(n, i)| f(n, i)).collect())
}

/// The node object the simulated cluster reports.
pub fn node_object(cap: NodeCapacity) -> Value {
    let alloc = json!({
        "cpu": format_milli("cpu", cap.cpu_milli),
        "memory": format_milli("memory", cap.memory_milli),
        "pods": cap.pods.to_string(),
    });
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": NODE_NAME, "labels": {"kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux"}},
        "spec": {},
        "status": {
            "capacity": alloc.clone(),
            "allocatable": alloc,
            "conditions": [condition("Ready", true, Some("KubeletReady"), Some("kubelet is posting ready status"))],
            "nodeInfo": {"kubeletVersion": "v1.37.0", "operatingSystem": "linux", "architecture": "amd64", "containerRuntimeVersion": "containerd://2.1.0"}
        }
    })
}
