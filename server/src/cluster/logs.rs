//! Container logs and pod summaries for the dashboard, the JSON API and MCP: a tail, a
//! live follow stream, and the pod list with each container's state.

use chrono::{DateTime, Utc};
use futures::{AsyncBufReadExt, Stream, TryStreamExt};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::Api;
use kube::api::{ListParams, LogParams};
use serde::Serialize;

use super::diagnostics::to_chrono;
use super::{ClusterError, Result};

/// What to read of one container's log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogQuery {
    /// `None`: the pod's only container (the API server refuses if there are several).
    pub container: Option<String>,
    pub tail_lines: Option<i64>,
    pub since_seconds: Option<i64>,
    /// Prefix every line with its RFC 3339 timestamp.
    pub timestamps: bool,
    /// The previous instance of a restarted container.
    pub previous: bool,
}

impl LogQuery {
    fn params(&self, follow: bool) -> LogParams {
        LogParams {
            container: self.container.clone(),
            tail_lines: self.tail_lines,
            since_seconds: self.since_seconds,
            timestamps: self.timestamps,
            previous: self.previous,
            follow,
            ..LogParams::default()
        }
    }
}

/// One pod of a preview namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PodSummary {
    pub name: String,
    /// `Pending`, `Running`, `Succeeded`, `Failed`, `Unknown`.
    pub phase: String,
    pub ready: bool,
    /// Init containers first, marked by [`ContainerSummary::init`].
    pub containers: Vec<ContainerSummary>,
    pub created_at: Option<DateTime<Utc>>,
}

/// One container of a pod.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContainerSummary {
    pub name: String,
    pub init: bool,
    /// `running`, `waiting: CrashLoopBackOff`, `terminated: Completed (exit 0)`, ...
    pub state: String,
    pub ready: bool,
    pub restarts: i32,
    /// Why the previous instance ended (`OOMKilled`, `Error`, ...), when it did.
    pub last_termination_reason: Option<String>,
}

fn pods(client: &kube::Client, namespace: &str) -> Api<Pod> {
    Api::namespaced(client.clone(), namespace)
}

/// The requested part of one container's log.
pub async fn tail(
    client: &kube::Client,
    namespace: &str,
    pod: &str,
    query: &LogQuery,
) -> Result<String> {
    pods(client, namespace)
        .logs(pod, &query.params(false))
        .await
        .map_err(|e| ClusterError::api(format!("reading the log of {namespace}/{pod}"), e))
}

/// The log as a live stream of lines (without their newline), starting with the
/// requested tail; it ends when the container stops or the connection drops.
pub async fn follow(
    client: &kube::Client,
    namespace: &str,
    pod: &str,
    query: &LogQuery,
) -> Result<impl Stream<Item = Result<String>> + Send + use<>> {
    let reader = pods(client, namespace)
        .log_stream(pod, &query.params(true))
        .await
        .map_err(|e| ClusterError::api(format!("following the log of {namespace}/{pod}"), e))?;
    Ok(reader.lines().map_err(ClusterError::LogStream))
}

/// Every pod of the namespace, summarised, oldest first.
pub async fn list_pods(client: &kube::Client, namespace: &str) -> Result<Vec<PodSummary>> {
    let list = pods(client, namespace)
        .list(&ListParams::default())
        .await
        .map_err(|e| ClusterError::api(format!("listing pods in {namespace}"), e))?;
    let mut out: Vec<PodSummary> = list.items.iter().map(summarize).collect();
    out.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.name.cmp(&b.name)));
    Ok(out)
}

/// A pod's summary, from its status (containers without a status yet show `waiting`).
pub fn summarize(pod: &Pod) -> PodSummary {
    let status = pod.status.as_ref();
    let statuses = |init: bool| {
        status
            .and_then(|s| {
                if init {
                    s.init_container_statuses.as_ref()
                } else {
                    s.container_statuses.as_ref()
                }
            })
            .cloned()
            .unwrap_or_default()
    };
    let spec = pod.spec.as_ref();
    let declared = |init: bool| -> Vec<String> {
        spec.map(|s| {
            if init {
                s.init_containers
                    .iter()
                    .flatten()
                    .map(|c| c.name.clone())
                    .collect()
            } else {
                s.containers.iter().map(|c| c.name.clone()).collect()
            }
        })
        .unwrap_or_default()
    };
    let mut containers = Vec::new();
    for init in [true, false] {
        let st = statuses(init);
        let mut names = declared(init);
        for s in &st {
            if !names.contains(&s.name) {
                names.push(s.name.clone());
            }
        }
        for name in names {
            containers.push(match st.iter().find(|s| s.name == name) {
                Some(s) => container_summary(s, init),
                None => ContainerSummary {
                    name,
                    init,
                    state: "waiting".to_owned(),
                    ready: false,
                    restarts: 0,
                    last_termination_reason: None,
                },
            });
        }
    }
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    PodSummary {
        name: pod.metadata.name.clone().unwrap_or_default(),
        phase: status
            .and_then(|s| s.phase.clone())
            .unwrap_or_else(|| "Unknown".to_owned()),
        ready,
        containers,
        created_at: pod.metadata.creation_timestamp.as_ref().map(to_chrono),
    }
}

fn container_summary(s: &ContainerStatus, init: bool) -> ContainerSummary {
    let state = match s.state.as_ref() {
        Some(st) if st.running.is_some() => "running".to_owned(),
        Some(st) if st.terminated.is_some() => {
            let t = st.terminated.as_ref().map(|t| {
                format!(
                    "terminated: {} (exit {})",
                    t.reason.as_deref().unwrap_or("Unknown"),
                    t.exit_code
                )
            });
            t.unwrap_or_default()
        }
        Some(st) => match st.waiting.as_ref().and_then(|w| w.reason.as_deref()) {
            Some(reason) => format!("waiting: {reason}"),
            None => "waiting".to_owned(),
        },
        None => "waiting".to_owned(),
    };
    ContainerSummary {
        name: s.name.clone(),
        init,
        state,
        ready: s.ready,
        restarts: s.restart_count,
        last_termination_reason: s
            .last_state
            .as_ref()
            .and_then(|l| l.terminated.as_ref())
            .and_then(|t| t.reason.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        Container, ContainerState, ContainerStateTerminated, ContainerStateWaiting, PodSpec,
        PodStatus,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    #[test]
    fn summaries_show_state_restarts_and_last_termination() {
        let pod = Pod {
            metadata: ObjectMeta {
                name: Some("web-1".to_owned()),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                containers: vec![
                    Container {
                        name: "app".to_owned(),
                        ..Container::default()
                    },
                    Container {
                        name: "sidecar".to_owned(),
                        ..Container::default()
                    },
                ],
                ..PodSpec::default()
            }),
            status: Some(PodStatus {
                phase: Some("Running".to_owned()),
                container_statuses: Some(vec![ContainerStatus {
                    name: "app".to_owned(),
                    restart_count: 4,
                    state: Some(ContainerState {
                        waiting: Some(ContainerStateWaiting {
                            reason: Some("CrashLoopBackOff".to_owned()),
                            ..ContainerStateWaiting::default()
                        }),
                        ..ContainerState::default()
                    }),
                    last_state: Some(ContainerState {
                        terminated: Some(ContainerStateTerminated {
                            exit_code: 137,
                            reason: Some("OOMKilled".to_owned()),
                            ..ContainerStateTerminated::default()
                        }),
                        ..ContainerState::default()
                    }),
                    ..ContainerStatus::default()
                }]),
                ..PodStatus::default()
            }),
        };
        let s = summarize(&pod);
        assert_eq!(s.name, "web-1");
        assert_eq!(s.phase, "Running");
        assert!(!s.ready);
        assert_eq!(s.containers.len(), 2);
        let app = &s.containers[0];
        assert_eq!(app.state, "waiting: CrashLoopBackOff");
        assert_eq!(app.restarts, 4);
        assert_eq!(app.last_termination_reason.as_deref(), Some("OOMKilled"));
        assert_eq!(s.containers[1].state, "waiting");
    }
}
