//! Health checks after the deploy Job succeeded: every Deployment and StatefulSet rolled
//! out, every application pod Ready, then an HTTP GET of the health path through the
//! API server's service proxy ([`super::probe`]).
//! A failure names the check and carries the failing containers' last log lines and
//! the namespace's Warning events for the deployment record and the PR comment.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::Api;
use kube::api::ListParams;
use serde::Serialize;
use tokio::time::Instant;

use super::capacity;
use super::diagnostics::{self, ContainerLogTail, FailingContainer, WarningEvent};
use super::probe::{probe, probe_target, proxy_path};
use super::{ClusterError, Result};

/// How a health check may run.
#[derive(Clone)]
pub struct HealthOptions {
    /// Rollouts, readiness and the probe together must pass within this.
    pub timeout: Duration,
    /// Pause between two looks at the namespace.
    pub poll_interval: Duration,
    /// Longest wait for one probe answer.
    pub probe_timeout: Duration,
    /// Log lines kept per failing container.
    pub log_lines: i64,
    /// Warning events kept.
    pub max_events: usize,
    /// Client for the probe itself; see [`super::probe::probe_client`]. `None` uses the main client,
    /// whose built-in retries turn an application's 503 into a long wait that only
    /// [`HealthOptions::probe_timeout`] ends (and the status code is then lost).
    pub probe_client: Option<kube::Client>,
}

impl HealthOptions {
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            poll_interval: Duration::from_secs(2),
            probe_timeout: Duration::from_secs(10),
            log_lines: 50,
            max_events: 20,
            probe_client: None,
        }
    }
}

impl std::fmt::Debug for HealthOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthOptions")
            .field("timeout", &self.timeout)
            .field("poll_interval", &self.poll_interval)
            .field("probe_timeout", &self.probe_timeout)
            .field("log_lines", &self.log_lines)
            .field("max_events", &self.max_events)
            .field("probe_client", &self.probe_client.is_some())
            .finish()
    }
}

/// Which check did not pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailedCheck {
    /// A Deployment or StatefulSet did not finish rolling out.
    Rollout,
    /// A pod did not become Ready (or is crash-looping).
    PodsReady,
    /// No Service to send the health probe to.
    Service,
    /// The health path did not answer 2xx/3xx.
    HttpProbe,
}

impl FailedCheck {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rollout => "rollout",
            Self::PodsReady => "pods_ready",
            Self::Service => "service",
            Self::HttpProbe => "http_probe",
        }
    }
}

/// The verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum HealthOutcome {
    /// Everything rolled out and `GET {path}` on `{service}:{port}` answered.
    Healthy {
        service: String,
        port: String,
    },
    Failed {
        check: FailedCheck,
        message: String,
    },
    /// Pods could not be scheduled: the cluster is full, not the application broken.
    CapacityBlocked {
        reason: String,
    },
}

/// The verdict plus what a developer needs to understand a failure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HealthReport {
    pub outcome: HealthOutcome,
    /// Empty when healthy.
    pub logs: Vec<ContainerLogTail>,
    /// Empty when healthy.
    pub warnings: Vec<WarningEvent>,
}

impl HealthReport {
    pub fn is_healthy(&self) -> bool {
        matches!(self.outcome, HealthOutcome::Healthy { .. })
    }
}

/// Runs the checks with default polling; see [`check_with`].
pub async fn check(
    client: &kube::Client,
    namespace: &str,
    health_path: &str,
    timeout: Duration,
) -> Result<HealthReport> {
    check_with(client, namespace, health_path, &HealthOptions::new(timeout)).await
}

/// Waits (up to the timeout) for rollouts and readiness, then probes `health_path`.
/// `Err` only when the API server itself cannot be read: that says nothing about the
/// application, so the engine retries instead of failing the deployment.
pub async fn check_with(
    client: &kube::Client,
    namespace: &str,
    health_path: &str,
    opts: &HealthOptions,
) -> Result<HealthReport> {
    let deadline = Instant::now() + opts.timeout;
    loop {
        let snapshot = Snapshot::read(client, namespace).await?;
        let rollout = rollout_problems(&snapshot.deployments, &snapshot.statefulsets);
        let unready = unready_pods(&snapshot.pods);
        let stuck = crash_looping(&snapshot.pods);
        if rollout.is_empty() && unready.is_empty() {
            break;
        }
        if !stuck.is_empty() || Instant::now() >= deadline {
            if stuck.is_empty()
                && let Some(reason) = snapshot.pods.iter().find_map(capacity::unschedulable)
            {
                return Ok(healthy_or_not(HealthOutcome::CapacityBlocked { reason }));
            }
            let (check, message) = if !rollout.is_empty() && stuck.is_empty() {
                (FailedCheck::Rollout, rollout.join("; "))
            } else {
                let mut all = stuck;
                all.extend(unready);
                all.dedup();
                (FailedCheck::PodsReady, all.join("; "))
            };
            return Ok(failure(client, namespace, &snapshot.pods, check, message, opts).await);
        }
        tokio::time::sleep(opts.poll_interval).await;
    }

    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    let ingresses: Api<Ingress> = Api::namespaced(client.clone(), namespace);
    let lp = ListParams::default();
    let (services, ingresses) = tokio::try_join!(
        async {
            services
                .list(&lp)
                .await
                .map_err(|e| ClusterError::api(format!("listing services in {namespace}"), e))
        },
        async {
            ingresses
                .list(&lp)
                .await
                .map_err(|e| ClusterError::api(format!("listing ingresses in {namespace}"), e))
        },
    )?;
    let (services, ingresses) = (services.items, ingresses.items);
    let Some((service, port)) = probe_target(&ingresses, &services) else {
        let pods = Snapshot::read(client, namespace).await?.pods;
        let message =
            "no Service to probe: the chart created no Ingress backend or Service".to_owned();
        return Ok(failure(
            client,
            namespace,
            &pods,
            FailedCheck::Service,
            message,
            opts,
        )
        .await);
    };

    let path = proxy_path(namespace, &service, &port, health_path);
    let probe_with = opts.probe_client.as_ref().unwrap_or(client);
    loop {
        // Always at least one real attempt, even when rollouts used up the time.
        let remaining = deadline.saturating_duration_since(Instant::now());
        let limit = opts
            .probe_timeout
            .min(remaining.max(Duration::from_secs(1)));
        let answer = match tokio::time::timeout(limit, probe(probe_with, &path)).await {
            Ok(answer) => answer,
            Err(_) => Err(format!(
                "no answer within {}s (the proxy kept answering 503/504, or nothing)",
                limit.as_secs_f32()
            )),
        };
        match answer {
            Ok(()) => return Ok(healthy_or_not(HealthOutcome::Healthy { service, port })),
            Err(why) if Instant::now() >= deadline => {
                let message = format!("GET {health_path} on service {service}:{port}: {why}");
                let pods = Snapshot::read(client, namespace).await?.pods;
                return Ok(failure(
                    client,
                    namespace,
                    &pods,
                    FailedCheck::HttpProbe,
                    message,
                    opts,
                )
                .await);
            }
            Err(_) => tokio::time::sleep(opts.poll_interval).await,
        }
    }
}

fn healthy_or_not(outcome: HealthOutcome) -> HealthReport {
    HealthReport {
        outcome,
        logs: Vec::new(),
        warnings: Vec::new(),
    }
}

/// Builds the failure report: logs of failing containers (else of not-ready ones, else
/// of the first few application pods) and the namespace's Warning events.
async fn failure(
    client: &kube::Client,
    namespace: &str,
    pods: &[Pod],
    check: FailedCheck,
    message: String,
    opts: &HealthOptions,
) -> HealthReport {
    let app_pods: Vec<&Pod> = pods.iter().filter(|p| is_application_pod(p)).collect();
    let mut targets = Vec::new();
    for pod in &app_pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        for f in diagnostics::failing_containers(pod) {
            targets.push((name.clone(), f));
        }
    }
    if targets.is_empty() {
        for pod in app_pods.iter().take(3) {
            let name = pod.metadata.name.clone().unwrap_or_default();
            let unready = pod
                .status
                .iter()
                .flat_map(|s| s.container_statuses.iter().flatten())
                .filter(|c| check == FailedCheck::HttpProbe || !c.ready);
            for c in unready {
                targets.push((
                    name.clone(),
                    FailingContainer {
                        container: c.name.clone(),
                        reason: (!c.ready).then(|| "NotReady".to_owned()),
                        exit_code: None,
                        previous: false,
                    },
                ));
            }
        }
    }
    let logs = diagnostics::container_logs(client, namespace, &targets, opts.log_lines).await;
    let warnings = diagnostics::warning_events(client, namespace, opts.max_events)
        .await
        .unwrap_or_default();
    tracing::info!(namespace, check = check.as_str(), %message, "health check failed");
    HealthReport {
        outcome: HealthOutcome::Failed { check, message },
        logs,
        warnings,
    }
}

/// Everything the rollout and readiness checks look at, read once per poll.
struct Snapshot {
    deployments: Vec<Deployment>,
    statefulsets: Vec<StatefulSet>,
    pods: Vec<Pod>,
}

impl Snapshot {
    async fn read(client: &kube::Client, namespace: &str) -> Result<Self> {
        let lp = ListParams::default();
        let d: Api<Deployment> = Api::namespaced(client.clone(), namespace);
        let s: Api<StatefulSet> = Api::namespaced(client.clone(), namespace);
        let p: Api<Pod> = Api::namespaced(client.clone(), namespace);
        let err = |what: &str, e| ClusterError::api(format!("listing {what} in {namespace}"), e);
        // Side by side: the check holds one of the engine's workers while it waits.
        let (deployments, statefulsets, pods) = tokio::try_join!(
            async { d.list(&lp).await.map_err(|e| err("deployments", e)) },
            async { s.list(&lp).await.map_err(|e| err("statefulsets", e)) },
            async { p.list(&lp).await.map_err(|e| err("pods", e)) },
        )?;
        Ok(Self {
            deployments: deployments.items,
            statefulsets: statefulsets.items,
            pods: pods.items,
        })
    }
}

/// One line per workload that has not finished rolling out. A Deployment is done when
/// the controller has seen its latest spec and all wanted replicas are updated and
/// available; a StatefulSet when all are ready.
pub fn rollout_problems(deployments: &[Deployment], statefulsets: &[StatefulSet]) -> Vec<String> {
    let mut out = Vec::new();
    for d in deployments {
        let name = d.metadata.name.as_deref().unwrap_or_default();
        let wanted = d.spec.replicas.unwrap_or(1);
        let st = d.status.clone().unwrap_or_default();
        let generation = d.metadata.generation.unwrap_or(0);
        let observed = st.observed_generation.unwrap_or(0);
        let updated = st.updated_replicas.unwrap_or(0);
        let available = st.available_replicas.unwrap_or(0);
        if observed < generation || updated < wanted || available < wanted {
            out.push(format!(
                "Deployment {name}: {updated}/{wanted} updated, {available}/{wanted} available"
            ));
        }
    }
    for s in statefulsets {
        let name = s.metadata.name.as_deref().unwrap_or_default();
        let wanted = s.spec.replicas.unwrap_or(1);
        let st = s.status.clone().unwrap_or_default();
        let ready = st.ready_replicas.unwrap_or(0);
        let generation = s.metadata.generation.unwrap_or(0);
        if st.observed_generation.unwrap_or(0) < generation || ready < wanted {
            out.push(format!("StatefulSet {name}: {ready}/{wanted} ready"));
        }
    }
    out
}

/// Pods that run the application: not the deploy Job's pod (or any Job's) and not
/// finished ones.
fn is_application_pod(pod: &Pod) -> bool {
    let owned_by_job = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.kind == "Job");
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    !owned_by_job && !matches!(phase, Some("Succeeded" | "Failed"))
}

/// One line per application pod that is not Ready.
pub fn unready_pods(pods: &[Pod]) -> Vec<String> {
    pods.iter()
        .filter(|p| is_application_pod(p))
        .filter(|p| {
            !p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .map(|p| {
            let phase = p
                .status
                .as_ref()
                .and_then(|s| s.phase.as_deref())
                .unwrap_or("Unknown");
            format!(
                "pod {} not ready ({phase})",
                p.metadata.name.as_deref().unwrap_or_default()
            )
        })
        .collect()
}

/// Containers that will not get better by waiting: crash-looping after a few restarts,
/// or with a configuration the kubelet cannot start.
pub fn crash_looping(pods: &[Pod]) -> Vec<String> {
    let mut out = Vec::new();
    for pod in pods.iter().filter(|p| is_application_pod(p)) {
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        for cs in pod
            .status
            .iter()
            .flat_map(|s| s.container_statuses.iter().flatten())
        {
            let reason = cs
                .state
                .as_ref()
                .and_then(|s| s.waiting.as_ref())
                .and_then(|w| w.reason.as_deref());
            let hopeless = match reason {
                Some("CrashLoopBackOff") => cs.restart_count >= 3,
                Some("InvalidImageName" | "CreateContainerConfigError" | "ErrImageNeverPull") => {
                    true
                }
                _ => false,
            };
            if hopeless {
                out.push(format!(
                    "pod {name} container {}: {} after {} restarts",
                    cs.name,
                    reason.unwrap_or_default(),
                    cs.restart_count
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{
        DeploymentSpec, DeploymentStatus, StatefulSetSpec, StatefulSetStatus,
    };
    use k8s_openapi::api::core::v1::{PodCondition, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

    fn meta(name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_owned()),
            generation: Some(2),
            ..ObjectMeta::default()
        }
    }

    fn deployment(replicas: i32, observed: i64, updated: i32, available: i32) -> Deployment {
        Deployment {
            metadata: meta("web"),
            spec: DeploymentSpec {
                replicas: Some(replicas),
                ..DeploymentSpec::default()
            },
            status: Some(DeploymentStatus {
                observed_generation: Some(observed),
                updated_replicas: Some(updated),
                available_replicas: Some(available),
                ..DeploymentStatus::default()
            }),
        }
    }

    #[test]
    fn deployments_roll_out_when_updated_available_and_observed() {
        assert!(rollout_problems(&[deployment(2, 2, 2, 2)], &[]).is_empty());
        assert_eq!(rollout_problems(&[deployment(2, 1, 2, 2)], &[]).len(), 1);
        assert_eq!(
            rollout_problems(&[deployment(2, 2, 2, 1)], &[]),
            ["Deployment web: 2/2 updated, 1/2 available"]
        );
    }

    #[test]
    fn statefulsets_roll_out_when_all_ready() {
        let sts = |ready| StatefulSet {
            metadata: meta("db"),
            spec: StatefulSetSpec {
                replicas: Some(1),
                ..StatefulSetSpec::default()
            },
            status: Some(StatefulSetStatus {
                observed_generation: Some(2),
                ready_replicas: Some(ready),
                ..StatefulSetStatus::default()
            }),
        };
        assert!(rollout_problems(&[], &[sts(1)]).is_empty());
        assert_eq!(
            rollout_problems(&[], &[sts(0)]),
            ["StatefulSet db: 0/1 ready"]
        );
    }

    fn pod(name: &str, ready: bool, job: bool) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                owner_references: job.then(|| {
                    vec![OwnerReference {
                        kind: "Job".to_owned(),
                        name: "catalyst-deploy-x-1".to_owned(),
                        ..OwnerReference::default()
                    }]
                }),
                ..ObjectMeta::default()
            },
            status: Some(PodStatus {
                phase: Some("Running".to_owned()),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".to_owned(),
                    status: if ready { "True" } else { "False" }.to_owned(),
                    ..PodCondition::default()
                }]),
                ..PodStatus::default()
            }),
            ..Pod::default()
        }
    }

    #[test]
    fn only_application_pods_must_be_ready() {
        let pods = [
            pod("web-1", true, false),
            pod("deploy", false, true),
            pod("web-2", false, false),
        ];
        assert_eq!(unready_pods(&pods), ["pod web-2 not ready (Running)"]);
    }
}
