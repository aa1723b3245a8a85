//! Container logs: what the simulated kubelet writes and what `pods/{name}/log` serves,
//! with `container`, `tailLines`, `sinceSeconds`, `timestamps`, `limitBytes` and `follow`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::watch;

use super::KubeState;
use super::errors::{ApiError, ApiResult};
use super::resources::find;

#[derive(Debug, Default, Clone)]
struct ContainerLog {
    lines: Vec<(DateTime<Utc>, String)>,
    /// The container has terminated: followers stop after the last line.
    finished: bool,
    /// The lines of the previous instance of the container (after a restart).
    previous: Option<Vec<(DateTime<Utc>, String)>>,
}

/// All container logs, keyed by namespace, pod and container.
#[derive(Debug)]
pub struct Logs {
    logs: Mutex<HashMap<(String, String, String), ContainerLog>>,
    /// Bumped on every change so followers wake up.
    changed: watch::Sender<u64>,
}

impl Default for Logs {
    fn default() -> Self {
        Self {
            logs: Mutex::new(HashMap::new()),
            changed: watch::channel(0).0,
        }
    }
}

fn key(ns: &str, pod: &str, c: &str) -> (String, String, String) {
    (ns.to_string(), pod.to_string(), c.to_string())
}

impl Logs {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String, String), ContainerLog>> {
        self.logs.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bump(&self) {
        self.changed.send_modify(|n| *n += 1);
    }

    /// Appends lines to a container's log (followers see them at once).
    pub fn append(&self, ns: &str, pod: &str, container: &str, lines: &[String]) {
        let now = Utc::now();
        let mut l = self.lock();
        let log = l.entry(key(ns, pod, container)).or_default();
        log.lines.extend(lines.iter().map(|s| (now, s.clone())));
        drop(l);
        self.bump();
    }

    /// Marks a container as terminated: `follow` streams end after the last line.
    pub fn finish(&self, ns: &str, pod: &str, container: &str) {
        self.lock()
            .entry(key(ns, pod, container))
            .or_default()
            .finished = true;
        self.bump();
    }

    /// Starts a fresh log: a restarted container's earlier lines become its `previous` log.
    pub fn reset(&self, ns: &str, pod: &str, container: &str) {
        let mut l = self.lock();
        let old = l.remove(&key(ns, pod, container));
        let previous = old.filter(|o| o.finished).map(|o| o.lines);
        l.insert(
            key(ns, pod, container),
            ContainerLog {
                previous,
                ..ContainerLog::default()
            },
        );
        drop(l);
        self.bump();
    }

    /// Forgets a pod's logs (the pod was deleted; a new pod of that name starts empty).
    pub fn forget_pod(&self, ns: &str, pod: &str) {
        self.lock().retain(|(n, p, _), _| !(n == ns && p == pod));
        self.bump();
    }

    /// The lines of a container's log so far.
    pub fn lines(&self, ns: &str, pod: &str, container: &str) -> Vec<String> {
        self.lock()
            .get(&key(ns, pod, container))
            .map(|l| l.lines.iter().map(|(_, s)| s.clone()).collect())
            .unwrap_or_default()
    }

    fn snapshot(&self, ns: &str, pod: &str, container: &str) -> ContainerLog {
        self.lock()
            .get(&key(ns, pod, container))
            .cloned()
            .unwrap_or_default()
    }
}

/// Query parameters of the log subresource.
#[derive(Debug, Default)]
pub struct LogParams {
    pub container: Option<String>,
    pub tail_lines: Option<usize>,
    pub since_seconds: Option<i64>,
    pub timestamps: bool,
    pub follow: bool,
    pub limit_bytes: Option<usize>,
    pub previous: bool,
}

fn format_line(ts: &DateTime<Utc>, line: &str, timestamps: bool) -> String {
    if timestamps {
        format!("{} {line}\n", ts.format("%Y-%m-%dT%H:%M:%S%.9fZ"))
    } else {
        format!("{line}\n")
    }
}

/// Picks the container and checks that it has started, with the kubelet's messages.
fn resolve_container(pod: &Value, name: &str, want: Option<&str>) -> ApiResult<String> {
    let names: Vec<String> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect();
    let container = match want {
        Some(c) if names.iter().any(|n| n == c) => c.to_string(),
        Some(c) => {
            return Err(ApiError::bad_request(format!(
                "container {c} is not valid for pod {name}"
            )));
        }
        None if names.len() == 1 => names[0].clone(),
        None => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                names.join(" ")
            )));
        }
    };
    let status = pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["name"] == container.as_str());
    let started = status.is_some_and(|s| {
        s["state"].get("running").is_some()
            || s["state"].get("terminated").is_some()
            || s["lastState"].get("terminated").is_some()
    });
    if !started {
        let reason = status
            .and_then(|s| s["state"]["waiting"]["reason"].as_str())
            .unwrap_or("ContainerCreating");
        return Err(ApiError::bad_request(format!(
            "container \"{container}\" in pod \"{name}\" is waiting to start: {reason}"
        )));
    }
    Ok(container)
}

/// `GET /api/v1/namespaces/{ns}/pods/{name}/log`.
pub async fn serve(st: Arc<KubeState>, ns: &str, name: &str, p: LogParams) -> ApiResult<Response> {
    let pods = find("", "v1", "pods").expect("pods are served");
    let pod = st
        .store
        .lock()
        .get(pods, ns, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found("", "pods", name))?;
    let container = resolve_container(&pod, name, p.container.as_deref())?;
    let mut snap = st.logs.snapshot(ns, name, &container);
    if p.previous {
        let lines = snap.previous.take().ok_or_else(|| {
            ApiError::bad_request(format!(
                "previous terminated container \"{container}\" in pod \"{name}\" not found"
            ))
        })?;
        snap = ContainerLog {
            lines,
            finished: true,
            previous: None,
        };
    }
    let since = p
        .since_seconds
        .map(|s| Utc::now() - chrono::Duration::seconds(s));
    let mut lines: Vec<&(DateTime<Utc>, String)> = snap
        .lines
        .iter()
        .filter(|(ts, _)| since.is_none_or(|s| *ts >= s))
        .collect();
    if let Some(n) = p.tail_lines {
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
    }
    let mut text: String = lines
        .iter()
        .map(|(ts, l)| format_line(ts, l, p.timestamps))
        .collect();
    if let Some(limit) = p.limit_bytes {
        let mut cut = limit.min(text.len());
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    let headers = [(axum::http::header::CONTENT_TYPE, "text/plain")];
    if !p.follow || p.previous {
        return Ok((headers, text).into_response());
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, Infallible>>(64);
    let mut sent = snap.lines.len();
    let mut changes = st.logs.changed.subscribe();
    let (ns, name) = (ns.to_string(), name.to_string());
    tokio::spawn(async move {
        if tx.send(Ok(Bytes::from(text))).await.is_err() {
            return;
        }
        loop {
            let now = st.logs.snapshot(&ns, &name, &container);
            for (ts, line) in now.lines.iter().skip(sent) {
                if tx
                    .send(Ok(Bytes::from(format_line(ts, line, p.timestamps))))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            sent = now.lines.len();
            let pod_gone = st.store.lock().get(pods, &ns, &name).is_none();
            if now.finished || pod_gone {
                return;
            }
            tokio::select! {
                r = changes.changed() => if r.is_err() { return },
                () = tx.closed() => return,
            }
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    Ok((headers, body).into_response())
}
