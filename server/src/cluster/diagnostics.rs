//! What a failed deployment leaves for the developer: the failing containers' last log
//! lines and the namespace's Warning events, gathered for the deployment record and
//! the PR comment. Gathering is best effort: a log that cannot be read becomes a line
//! saying why, never an error that hides the original failure.

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{ContainerStatus, Event, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Api;
use kube::api::{ListParams, LogParams};
use serde::Serialize;

use super::{ClusterError, Result};

/// The last lines of one failing container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContainerLogTail {
    pub pod: String,
    pub container: String,
    /// `Error`, `OOMKilled`, `CrashLoopBackOff`, `ImagePullBackOff`, ...
    pub reason: Option<String>,
    pub exit_code: Option<i32>,
    pub lines: String,
}

/// One Warning event of the namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WarningEvent {
    /// `Kind/name` of the object the event is about.
    pub object: String,
    pub reason: String,
    pub message: String,
    pub count: i32,
    pub last_seen: Option<DateTime<Utc>>,
}

/// A container worth showing logs of, found from pod status alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailingContainer {
    pub container: String,
    pub reason: Option<String>,
    pub exit_code: Option<i32>,
    /// Read the previous instance's log (the current one is waiting to restart).
    pub previous: bool,
}

/// Containers of `pod` (init containers first) that exited non-zero, are waiting on an
/// error, or are running but not ready after restarts.
pub fn failing_containers(pod: &Pod) -> Vec<FailingContainer> {
    let Some(status) = pod.status.as_ref() else {
        return Vec::new();
    };
    status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten())
        .filter_map(failing)
        .collect()
}

fn failing(cs: &ContainerStatus) -> Option<FailingContainer> {
    let state = cs.state.as_ref();
    if let Some(t) = state.and_then(|s| s.terminated.as_ref()) {
        return (t.exit_code != 0).then(|| FailingContainer {
            container: cs.name.clone(),
            reason: t.reason.clone(),
            exit_code: Some(t.exit_code),
            previous: false,
        });
    }
    if let Some(w) = state.and_then(|s| s.waiting.as_ref()) {
        let reason = w.reason.clone().unwrap_or_default();
        let benign = matches!(
            reason.as_str(),
            "" | "ContainerCreating" | "PodInitializing"
        );
        if benign && cs.restart_count == 0 {
            return None;
        }
        let last_exit = cs
            .last_state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .map(|t| t.exit_code);
        return Some(FailingContainer {
            container: cs.name.clone(),
            reason: Some(reason).filter(|r| !r.is_empty()),
            exit_code: last_exit,
            previous: cs.restart_count > 0,
        });
    }
    (!cs.ready && cs.restart_count > 0).then(|| FailingContainer {
        container: cs.name.clone(),
        reason: Some("NotReady".to_owned()),
        exit_code: None,
        previous: false,
    })
}

/// The last `tail_lines` lines of every failing container of `pods`.
pub async fn failing_container_logs(
    client: &kube::Client,
    namespace: &str,
    pods: &[Pod],
    tail_lines: i64,
) -> Vec<ContainerLogTail> {
    let targets: Vec<(String, FailingContainer)> = pods
        .iter()
        .filter_map(|p| Some((p.metadata.name.clone()?, failing_containers(p))))
        .flat_map(|(pod, fs)| fs.into_iter().map(move |f| (pod.clone(), f)))
        .collect();
    container_logs(client, namespace, &targets, tail_lines).await
}

/// The last `tail_lines` lines of each `(pod, container)`.
pub async fn container_logs(
    client: &kube::Client,
    namespace: &str,
    targets: &[(String, FailingContainer)],
    tail_lines: i64,
) -> Vec<ContainerLogTail> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let mut out = Vec::new();
    for (pod, f) in targets {
        let params = LogParams {
            container: Some(f.container.clone()),
            tail_lines: Some(tail_lines),
            previous: f.previous,
            ..LogParams::default()
        };
        let lines = match api.logs(pod, &params).await {
            Ok(text) => text,
            // Image pulls and unstarted containers have no log yet.
            Err(e) => format!("(no log available: {})", short_error(&e)),
        };
        out.push(ContainerLogTail {
            pod: pod.clone(),
            container: f.container.clone(),
            reason: f.reason.clone(),
            exit_code: f.exit_code,
            lines,
        });
    }
    out
}

fn short_error(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    }
}

/// The namespace's most recent `limit` Warning events, oldest first.
pub async fn warning_events(
    client: &kube::Client,
    namespace: &str,
    limit: usize,
) -> Result<Vec<WarningEvent>> {
    let events = namespace_events(client, namespace).await?;
    Ok(summarize_warnings(&events, limit))
}

/// Every event of the namespace (filtered here, not with a field selector, so the
/// same code works against API servers and doubles that lack event field selectors).
pub async fn namespace_events(client: &kube::Client, namespace: &str) -> Result<Vec<Event>> {
    let api: Api<Event> = Api::namespaced(client.clone(), namespace);
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| ClusterError::api(format!("listing events in {namespace}"), e))?;
    Ok(list.items)
}

/// Warning events, newest `limit`, in time order.
pub fn summarize_warnings(events: &[Event], limit: usize) -> Vec<WarningEvent> {
    let mut warnings: Vec<WarningEvent> = events
        .iter()
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .map(|e| WarningEvent {
            object: format!(
                "{}/{}",
                e.involved_object.kind.as_deref().unwrap_or("Object"),
                e.involved_object.name.as_deref().unwrap_or_default()
            ),
            reason: e.reason.clone().unwrap_or_default(),
            message: e.message.clone().unwrap_or_default(),
            count: e.count.unwrap_or(1),
            last_seen: e
                .last_timestamp
                .as_ref()
                .or(e.first_timestamp.as_ref())
                .map(to_chrono)
                .or_else(|| e.event_time.as_ref().and_then(|t| from_timestamp(&t.0))),
        })
        .collect();
    warnings.sort_by_key(|w| w.last_seen);
    let skip = warnings.len().saturating_sub(limit);
    warnings.split_off(skip)
}

/// `metav1.Time` as chrono (k8s-openapi uses jiff).
pub fn to_chrono(t: &Time) -> DateTime<Utc> {
    from_timestamp(&t.0).unwrap_or_default()
}

fn from_timestamp(ts: &k8s_openapi::jiff::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(ts.as_second(), ts.subsec_nanosecond().try_into().ok()?)
}

/// Log tails and events as Markdown-ready plain text, for the PR comment.
pub fn render(logs: &[ContainerLogTail], events: &[WarningEvent]) -> String {
    let mut out = String::new();
    for l in logs {
        out.push_str(&format!("==> {}/{}", l.pod, l.container));
        if let Some(r) = &l.reason {
            out.push_str(&format!(" ({r}"));
            if let Some(code) = l.exit_code {
                out.push_str(&format!(", exit {code}"));
            }
            out.push(')');
        }
        out.push_str(" <==\n");
        out.push_str(l.lines.trim_end());
        out.push('\n');
    }
    if !events.is_empty() {
        out.push_str("==> warning events <==\n");
        for e in events {
            out.push_str(&format!(
                "{} {}: {} (x{})\n",
                e.object, e.reason, e.message, e.count
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
        ObjectReference, PodStatus,
    };

    fn status(name: &str, state: ContainerState, restarts: i32, ready: bool) -> ContainerStatus {
        ContainerStatus {
            name: name.to_owned(),
            state: Some(state),
            restart_count: restarts,
            ready,
            ..ContainerStatus::default()
        }
    }

    fn terminated(code: i32, reason: &str) -> ContainerState {
        ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: code,
                reason: Some(reason.to_owned()),
                ..ContainerStateTerminated::default()
            }),
            ..ContainerState::default()
        }
    }

    fn waiting(reason: &str) -> ContainerState {
        ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some(reason.to_owned()),
                ..ContainerStateWaiting::default()
            }),
            ..ContainerState::default()
        }
    }

    #[test]
    fn failing_containers_are_picked_from_status() {
        let pod = Pod {
            status: Some(PodStatus {
                init_container_statuses: Some(vec![
                    status("checkout", terminated(0, "Completed"), 0, false),
                    status("build", terminated(1, "Error"), 0, false),
                ]),
                container_statuses: Some(vec![
                    status("deploy", waiting("PodInitializing"), 0, false),
                    status("app", waiting("CrashLoopBackOff"), 3, false),
                    status(
                        "ok",
                        ContainerState {
                            running: Some(ContainerStateRunning::default()),
                            ..ContainerState::default()
                        },
                        0,
                        true,
                    ),
                ]),
                ..PodStatus::default()
            }),
            ..Pod::default()
        };
        let f = failing_containers(&pod);
        let names: Vec<_> = f.iter().map(|f| f.container.as_str()).collect();
        assert_eq!(names, ["build", "app"]);
        assert_eq!(f[0].exit_code, Some(1));
        assert!(f[1].previous);
        assert_eq!(f[1].reason.as_deref(), Some("CrashLoopBackOff"));
    }

    #[test]
    fn only_the_newest_warnings_are_kept() {
        let ev = |n: i64, kind: &str| Event {
            type_: Some(kind.to_owned()),
            reason: Some(format!("R{n}")),
            message: Some("m".to_owned()),
            involved_object: ObjectReference {
                kind: Some("Pod".to_owned()),
                name: Some("p".to_owned()),
                ..ObjectReference::default()
            },
            last_timestamp: Some(Time(
                k8s_openapi::jiff::Timestamp::from_second(1_700_000_000 + n).unwrap(),
            )),
            ..Event::default()
        };
        let events = vec![
            ev(3, "Warning"),
            ev(1, "Warning"),
            ev(2, "Normal"),
            ev(4, "Warning"),
        ];
        let w = summarize_warnings(&events, 2);
        let reasons: Vec<_> = w.iter().map(|w| w.reason.as_str()).collect();
        assert_eq!(reasons, ["R3", "R4"]);
        assert_eq!(w[0].object, "Pod/p");
        let text = render(&[], &w);
        assert!(text.contains("Pod/p R4: m (x1)"));
    }
}
