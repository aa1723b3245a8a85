//! The pull request pod's life: start its Job (one at a time per namespace), read its
//! outcome, cancel it. Reading is level-triggered — the engine asks "how is Job X?"
//! after any restart and gets the same answer.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};

use super::capacity;
use super::deploy_job::{job_name, pr_job};
use super::diagnostics::{self, ContainerLogTail};
use super::labels;
use super::settings::ClusterSettings;
use super::spec::EnvironmentSpec;
use super::{ClusterError, Result, is_already_exists, is_not_found};

/// Where a deploy Job stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobOutcome {
    /// Created, pod pending or running.
    Running,
    /// Checkout, build and `helm upgrade --wait` all succeeded.
    Succeeded,
    /// The Job failed; `reason` says how (a container's exit, the deadline, ...).
    Failed {
        reason: String,
        logs: Vec<ContainerLogTail>,
    },
    /// Its pod cannot be created (quota) or placed (no node has room): not the pull
    /// request's fault; the engine waits and retries.
    CapacityBlocked { reason: String },
    /// No such Job: cancelled, or removed by `ttlSecondsAfterFinished`.
    Missing,
}

fn selector() -> String {
    format!("{}={}", labels::ROLE, labels::ROLE_PULL_REQUEST_POD)
}

fn jobs(client: &kube::Client, namespace: &str) -> Api<Job> {
    Api::namespaced(client.clone(), namespace)
}

/// A Job that has not finished, or is still being deleted (foreground deletion keeps
/// it until its pod is gone, so the next deploy cannot overlap a dying one).
pub fn is_active(job: &Job) -> bool {
    if job.metadata.deletion_timestamp.is_some() {
        return true;
    }
    finished_condition(job).is_none()
}

/// Whether a Job has ended: its `Complete`/`Failed` (or `FailureTarget`) condition is
/// `True`.
pub fn is_finished(job: &Job) -> bool {
    finished_condition(job).is_some()
}

/// The `Complete`/`Failed` (or `FailureTarget`) condition that is `True`, if any.
fn finished_condition(job: &Job) -> Option<&k8s_openapi::api::batch::v1::JobCondition> {
    job.status.as_ref()?.conditions.iter().flatten().find(|c| {
        c.status == "True" && matches!(c.type_.as_str(), "Complete" | "Failed" | "FailureTarget")
    })
}

fn owning_job(pod: &Pod) -> Option<&str> {
    pod.metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.kind == "Job")
        .map(|o| o.name.as_str())
}

/// The deploy Job [`start`] made or found.
#[derive(Clone, Debug, PartialEq)]
pub struct Started {
    pub job: String,
    /// Created by this call; `false`: it already existed (a reconcile after a restart,
    /// or one that lost its result).
    pub created: bool,
    /// The Job and its pods as [`start`] listed them, when it already existed: what
    /// [`outcome_of`] needs, so a reconcile that finds its Job finished reads nothing
    /// more (it used to read the Job and its pods a second time, one after the other).
    pub existing: Option<Existing>,
}

/// An existing deploy Job and its pods, read together.
#[derive(Clone, Debug, PartialEq)]
pub struct Existing {
    pub job: Job,
    pub pods: Vec<Pod>,
}

/// Starts the deploy Job of `attempt`, or finds it already started (idempotent). Fails
/// with [`ClusterError::DeploymentInProgress`] while another deploy Job — or the pod of
/// one being cancelled — is still active in the namespace.
pub async fn start(
    client: &kube::Client,
    spec: &EnvironmentSpec,
    attempt: u32,
    settings: &ClusterSettings,
) -> Result<Started> {
    spec.validate()?;
    let ns = spec.namespace.as_str();
    let name = job_name(spec, attempt);
    let api = jobs(client, ns);
    // A background-deleted Job vanishes at once while its pod is still shutting down,
    // so the pods are read too; both lists in one round trip.
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let selected = ListParams::default().labels(&selector());
    let (existing, leftover) = tokio::try_join!(
        async {
            api.list(&selected)
                .await
                .map_err(|e| ClusterError::api(format!("listing deploy Jobs in {ns}"), e))
        },
        async {
            pods.list(&selected)
                .await
                .map_err(|e| ClusterError::api(format!("listing deploy pods in {ns}"), e))
        },
    )?;
    if let Some(job) = existing
        .items
        .iter()
        .find(|j| j.metadata.name.as_deref() == Some(&name))
    {
        let pods = leftover
            .items
            .into_iter()
            .filter(|p| owning_job(p) == Some(name.as_str()))
            .collect();
        return Ok(Started {
            existing: Some(Existing {
                job: job.clone(),
                pods,
            }),
            job: name,
            created: false,
        });
    }
    if let Some(other) = existing.items.iter().find(|j| is_active(j)) {
        return Err(ClusterError::DeploymentInProgress {
            namespace: ns.to_owned(),
            job: other.metadata.name.clone().unwrap_or_default(),
        });
    }
    if let Some(pod) = leftover.items.iter().find(|p| {
        let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
        matches!(phase, Some("Pending" | "Running") | None)
    }) {
        return Err(ClusterError::DeploymentInProgress {
            namespace: ns.to_owned(),
            job: owning_job(pod)
                .or(pod.metadata.name.as_deref())
                .unwrap_or_default()
                .to_owned(),
        });
    }
    create_job(client, spec, attempt, settings).await
}

/// Creates the deploy Job of `attempt` without looking for other deploy Jobs first: for
/// a namespace known to hold none, one that [`super::apply_kit`] has just created
/// ([`super::KitApplied::namespace_created`]). Anywhere else, [`start`] keeps the one
/// Job at a time. A Job of that name already there is found, not an error.
pub async fn create(
    client: &kube::Client,
    spec: &EnvironmentSpec,
    attempt: u32,
    settings: &ClusterSettings,
) -> Result<Started> {
    spec.validate()?;
    create_job(client, spec, attempt, settings).await
}

async fn create_job(
    client: &kube::Client,
    spec: &EnvironmentSpec,
    attempt: u32,
    settings: &ClusterSettings,
) -> Result<Started> {
    let ns = spec.namespace.as_str();
    let name = job_name(spec, attempt);
    match jobs(client, ns)
        .create(&PostParams::default(), &pr_job(spec, attempt, settings))
        .await
    {
        Ok(_) => {
            tracing::info!(namespace = ns, job = %name, sha = %spec.head_sha, "deploy Job started");
            Ok(Started {
                job: name,
                created: true,
                existing: None,
            })
        }
        Err(e) if is_already_exists(&e) => Ok(Started {
            job: name,
            created: false,
            existing: None,
        }),
        Err(e) => Err(ClusterError::api(format!("creating deploy Job {name}"), e)),
    }
}

/// Reads where Job `name` stands, with the failing containers' last log lines when it
/// failed.
pub async fn outcome(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    settings: &ClusterSettings,
) -> Result<JobOutcome> {
    let job = match jobs(client, namespace).get(name).await {
        Ok(job) => job,
        Err(e) if is_not_found(&e) => return Ok(JobOutcome::Missing),
        Err(e) => return Err(ClusterError::api(format!("reading deploy Job {name}"), e)),
    };
    // A complete Job's pods have nothing to add.
    let pods = if finished_condition(&job).is_some_and(|c| c.type_ == "Complete") {
        Vec::new()
    } else {
        job_pods(client, namespace, name).await?
    };
    outcome_of(client, namespace, &job, &pods, settings).await
}

/// [`outcome`] of a Job and its pods already read: reads more only for a failure (the
/// failing containers' logs) or a Job without pods (the namespace's quota events).
pub async fn outcome_of(
    client: &kube::Client,
    namespace: &str,
    job: &Job,
    pods: &[Pod],
    settings: &ClusterSettings,
) -> Result<JobOutcome> {
    let name = job.metadata.name.as_deref().unwrap_or_default();
    if let Some(c) = finished_condition(job) {
        if c.type_ == "Complete" {
            return Ok(JobOutcome::Succeeded);
        }
        let logs = diagnostics::failing_container_logs(
            client,
            namespace,
            pods,
            settings.failure_log_lines,
        )
        .await;
        return Ok(JobOutcome::Failed {
            reason: failure_reason(c, &logs),
            logs,
        });
    }
    if let Some(reason) = pods.iter().find_map(capacity::unschedulable) {
        return Ok(JobOutcome::CapacityBlocked { reason });
    }
    if pods.is_empty() {
        let events = diagnostics::namespace_events(client, namespace).await?;
        if let Some(reason) = capacity::quota_event_for(&events, name) {
            return Ok(JobOutcome::CapacityBlocked { reason });
        }
    }
    Ok(JobOutcome::Running)
}

/// "DeadlineExceeded: Job was active longer than specified deadline", or the failing
/// container's exit when there is one.
fn failure_reason(
    c: &k8s_openapi::api::batch::v1::JobCondition,
    logs: &[ContainerLogTail],
) -> String {
    let mut reason = c.reason.clone().unwrap_or_else(|| "Failed".to_owned());
    if let Some(m) = c.message.as_deref().filter(|m| !m.is_empty()) {
        reason.push_str(": ");
        reason.push_str(m);
    }
    if let Some(l) = logs.first() {
        reason.push_str(&format!("; container {} failed", l.container));
        if let Some(code) = l.exit_code {
            reason.push_str(&format!(" with exit code {code}"));
        }
        if let Some(r) = &l.reason {
            reason.push_str(&format!(" ({r})"));
        }
    }
    reason
}

async fn job_pods(client: &kube::Client, namespace: &str, job: &str) -> Result<Vec<Pod>> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let list = pods
        .list(&ListParams::default().labels(&selector()))
        .await
        .map_err(|e| ClusterError::api(format!("listing pods of Job {job}"), e))?;
    Ok(list
        .items
        .into_iter()
        .filter(|p| owning_job(p) == Some(job))
        .collect())
}

/// Cancels Job `name`: foreground deletion, so the Job stays visible (and blocks the
/// next start) until its pod is gone. Already gone is fine.
pub async fn cancel(client: &kube::Client, namespace: &str, name: &str) -> Result<()> {
    match jobs(client, namespace)
        .delete(name, &DeleteParams::foreground())
        .await
    {
        Ok(_) => {
            tracing::info!(namespace, job = name, "deploy Job cancelled");
            Ok(())
        }
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(ClusterError::api(
            format!("cancelling deploy Job {name}"),
            e,
        )),
    }
}

/// Cancels every active deploy Job in the namespace except `keep` (a new head SHA
/// supersedes all older deployments). Returns the names cancelled.
pub async fn cancel_active(
    client: &kube::Client,
    namespace: &str,
    keep: Option<&str>,
) -> Result<Vec<String>> {
    let list = jobs(client, namespace)
        .list(&ListParams::default().labels(&selector()))
        .await
        .map_err(|e| ClusterError::api(format!("listing deploy Jobs in {namespace}"), e))?;
    let mut cancelled = Vec::new();
    for job in list.items {
        let Some(name) = job.metadata.name.clone() else {
            continue;
        };
        let deleting = job.metadata.deletion_timestamp.is_some();
        if Some(name.as_str()) == keep || deleting || !is_active(&job) {
            continue;
        }
        cancel(client, namespace, &name).await?;
        cancelled.push(name);
    }
    Ok(cancelled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::{JobCondition, JobStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    fn job_with(conditions: Vec<(&str, &str)>) -> Job {
        Job {
            status: Some(JobStatus {
                conditions: Some(
                    conditions
                        .into_iter()
                        .map(|(t, s)| JobCondition {
                            type_: t.to_owned(),
                            status: s.to_owned(),
                            reason: Some("DeadlineExceeded".to_owned()),
                            message: Some("too slow".to_owned()),
                            ..JobCondition::default()
                        })
                        .collect(),
                ),
                ..JobStatus::default()
            }),
            ..Job::default()
        }
    }

    #[test]
    fn jobs_are_active_until_a_final_condition_is_true() {
        assert!(is_active(&Job::default()));
        assert!(is_active(&job_with(vec![("Failed", "False")])));
        assert!(!is_active(&job_with(vec![("Complete", "True")])));
        assert!(!is_active(&job_with(vec![("Failed", "True")])));
        assert!(!is_active(&job_with(vec![("FailureTarget", "True")])));
    }

    #[test]
    fn only_a_true_final_condition_makes_a_job_finished() {
        assert!(is_finished(&job_with(vec![("Complete", "True")])));
        assert!(is_finished(&job_with(vec![("Failed", "True")])));
        assert!(!is_finished(&job_with(vec![("Failed", "False")])));
        assert!(!is_finished(&job_with(vec![("Suspended", "True")])));
        assert!(!is_finished(&Job::default()));
    }

    #[test]
    fn jobs_being_deleted_still_count_as_active() {
        let mut j = job_with(vec![("Failed", "True")]);
        j.metadata = ObjectMeta {
            deletion_timestamp: Some(Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH)),
            ..ObjectMeta::default()
        };
        assert!(is_active(&j));
    }

    #[test]
    fn failure_reasons_name_the_condition_and_the_container() {
        let j = job_with(vec![("Failed", "True")]);
        let c = finished_condition(&j).unwrap();
        let logs = vec![ContainerLogTail {
            pod: "p".to_owned(),
            container: "build".to_owned(),
            reason: Some("Error".to_owned()),
            exit_code: Some(1),
            lines: "boom".to_owned(),
        }];
        assert_eq!(
            failure_reason(c, &logs),
            "DeadlineExceeded: too slow; container build failed with exit code 1 (Error)"
        );
        assert_eq!(failure_reason(c, &[]), "DeadlineExceeded: too slow");
    }
}
