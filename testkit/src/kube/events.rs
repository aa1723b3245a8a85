//! Events (`core/v1`) recorded by the simulated scheduler, kubelet and controllers, with the
//! reasons and messages the real components use, aggregated by count like the real recorder.

use serde_json::{Value, json};

use super::KubeState;
use super::kubelet::{NODE_NAME, rt};
use super::ops::{self, WriteOpts};

/// `Normal` or `Warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Normal,
    Warning,
}

impl EventKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "Normal",
            Self::Warning => "Warning",
        }
    }
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Records an event about `involved` (an object as stored), or bumps the count of the same
/// event (same object, reason and message) like the real event recorder does.
pub fn record(
    st: &KubeState,
    involved: &Value,
    kind: EventKind,
    reason: &str,
    message: &str,
    component: &str,
) {
    let events = rt("", "events");
    let ns = involved["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default")
        .to_string();
    let uid = involved["metadata"]["uid"].clone();
    let mut inner = st.store.lock();
    let existing = inner
        .list(events, Some(&ns))
        .into_iter()
        .find(|e| {
            e["involvedObject"]["uid"] == uid && e["reason"] == reason && e["message"] == message
        })
        .and_then(|e| e["metadata"]["name"].as_str().map(str::to_string));
    let opts = WriteOpts::by(component);
    if let Some(name) = existing {
        let _ = ops::mutate(&mut inner, events, &ns, &name, opts, |e| {
            e["count"] = json!(e["count"].as_i64().unwrap_or(1) + 1);
            e["lastTimestamp"] = json!(now());
        });
        return;
    }
    let obj_name = involved["metadata"]["name"].as_str().unwrap_or("");
    let event = json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": format!("{obj_name}.{}", &uuid::Uuid::new_v4().simple().to_string()[..16]), "namespace": ns},
        "involvedObject": {
            "apiVersion": involved["apiVersion"],
            "kind": involved["kind"],
            "name": obj_name,
            "namespace": ns,
            "uid": uid,
            "resourceVersion": involved["metadata"]["resourceVersion"],
        },
        "reason": reason,
        "message": message,
        "source": {"component": component, "host": if component == "kubelet" { NODE_NAME } else { "" }},
        "firstTimestamp": now(),
        "lastTimestamp": now(),
        "count": 1,
        "type": kind.as_str(),
        "eventTime": null,
        "reportingComponent": component,
        "reportingInstance": if component == "kubelet" { NODE_NAME } else { "" },
    });
    // A namespace being deleted refuses new events; that is what the real one does too.
    let _ = ops::create(&mut inner, events, &ns, event, opts);
}
