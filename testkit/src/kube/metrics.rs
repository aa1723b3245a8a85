//! `metrics.k8s.io/v1beta1` pod metrics: CPU and memory usage per container, as set by
//! tests (running pods without a setting report a small idle usage).

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::KubeState;
use super::errors::{ApiError, ApiResult};
use super::resources::find;

fn pod_metrics(st: &KubeState, pod: &Value) -> Value {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or("");
    let name = pod["metadata"]["name"].as_str().unwrap_or("");
    let usage = st.usage.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let containers: Vec<Value> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let cname = c["name"].as_str().unwrap_or("");
            let (cpu, mem) = usage
                .get(&(ns.to_string(), name.to_string(), cname.to_string()))
                .cloned()
                .unwrap_or_else(|| ("1m".into(), "4Mi".into()));
            json!({"name": cname, "usage": {"cpu": cpu, "memory": mem}})
        })
        .collect();
    json!({
        "kind": "PodMetrics",
        "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {
            "name": name,
            "namespace": ns,
            "creationTimestamp": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "labels": pod["metadata"]["labels"].clone(),
        },
        "timestamp": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "window": "10.5s",
        "containers": containers,
    })
}

fn running(pod: &Value) -> bool {
    pod["status"]["phase"] == "Running"
}

/// `GET /apis/metrics.k8s.io/v1beta1/[namespaces/{ns}/]pods[/{name}]`.
pub fn serve(st: &Arc<KubeState>, ns: Option<&str>, name: Option<&str>) -> ApiResult<Response> {
    let pods = find("", "v1", "pods").expect("pods are served");
    let inner = st.store.lock();
    let body = match (ns, name) {
        (Some(ns), Some(name)) => {
            let pod = inner
                .get(pods, ns, name)
                .filter(|p| running(p))
                .ok_or_else(|| ApiError::not_found("metrics.k8s.io", "pods", name))?;
            pod_metrics(st, pod)
        }
        _ => {
            let items: Vec<Value> = inner
                .list(pods, ns)
                .into_iter()
                .filter(|p| running(p))
                .map(|p| pod_metrics(st, p))
                .collect();
            json!({"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {}, "items": items})
        }
    };
    Ok((
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response())
}
