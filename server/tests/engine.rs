//! The engine end to end: webhooks from testkit's GitHub double over real HTTP into
//! Catalyst's server, the in-process engine against testkit's Kubernetes double, and
//! assertions on the objects in the cluster and the rows in the database — on SQLite and
//! on Postgres.

mod engine_support;
#[path = "common/test_db.rs"]
mod test_db;

use std::time::Duration;

use catalyst_server::engine::drift;
use catalyst_server::store::{operator_requests, pull_request_configs, world};
use catalyst_testkit::kube::ProxyResponse;
use catalyst_testkit::{JobBehaviour, Match, Outage, PrSpec, WorkloadBehaviour};
use engine_support::{Backend, DOMAIN, Harness, REPO, sha, start};
use serde_json::json;

const LONG: Duration = Duration::from_secs(30);

fn job_pattern(head: &str) -> String {
    format!("catalyst-deploy-{}-*", &head[..12])
}

/// The paths of the Kubernetes requests about namespace `ns` sent before the POST that
/// created deploy Job `job`, oldest first.
fn requests_in_before_job(h: &Harness, ns: &str, job: &str) -> Vec<String> {
    let in_ns = [
        format!("/api/v1/namespaces/{ns}/"),
        format!("/apis/batch/v1/namespaces/{ns}/"),
        format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/"),
        format!("/apis/networking.k8s.io/v1/namespaces/{ns}/"),
    ];
    let jobs = format!("/apis/batch/v1/namespaces/{ns}/jobs");
    let mut seen = Vec::new();
    for r in h.kit.requests() {
        if r.method == "POST"
            && r.path == jobs
            && r.json().is_some_and(|b| b["metadata"]["name"] == job)
        {
            return seen;
        }
        let path = format!("{}/", r.path);
        if in_ns.iter().any(|p| path.starts_with(p.as_str())) {
            seen.push(format!("{} {}", r.method, r.path));
        }
    }
    panic!("no POST created Job {job} in {ns}");
}

async fn open_and_wait_ready(h: &Harness, number: u64, head: &str) {
    h.open(number, head).await;
    h.wait_status(number, "ready").await;
}

both_backends!(
    open_creates_the_kit_and_becomes_ready,
    a_failing_job_is_retried_three_times_then_failed_with_logs,
    an_unhealthy_app_fails_with_health_check_logs,
    a_push_mid_deploy_cancels_the_old_job_and_deploys_the_new_sha,
    the_same_sha_twice_starts_one_deployment,
    close_deletes_the_namespace_and_waits_until_it_is_gone,
    a_stuck_deletion_is_flagged_and_notified,
    sixty_prs_with_a_limit_of_ten_all_become_ready,
    an_api_outage_is_survived,
    a_restart_at_any_moment_converges,
    drift_is_repaired,
    unschedulable_pods_are_capacity_not_failure,
    operator_requests_redeploy_and_delete,
    a_redeploy_asked_long_after_the_last_change_starts_without_a_resync,
    a_fork_pr_is_deployed_only_while_it_has_the_opt_in_label,
    a_draft_pr_is_not_deployed_when_drafts_are_off,
    a_prs_preview_yaml_is_merged_and_a_broken_one_fails_without_retries,
    an_idle_pr_expires_unless_kept_and_a_push_brings_it_back,
    a_new_pull_request_reads_its_world_once_on_its_way_to_its_job,
);

async fn open_creates_the_kit_and_becomes_ready(backend: Backend) {
    let mut h = start(backend, |_| {}).await;
    let head = sha(1, 1);
    open_and_wait_ready(&h, 1, &head).await;
    let ns = "pr-web-1";
    let c = h.kit.cluster();

    let namespace = h.namespace(ns).expect("namespace");
    let labels = &namespace["metadata"]["labels"];
    assert_eq!(labels["app.kubernetes.io/managed-by"], "catalyst");
    assert_eq!(labels["catalyst.dev/repository"], "acme.web");
    assert_eq!(labels["catalyst.dev/pr-number"], "1");
    assert_eq!(labels["catalyst.dev/head-sha"], head.as_str());
    assert_eq!(labels["pod-security.kubernetes.io/enforce"], "baseline");
    for (api_version, kind, name) in [
        ("v1", "ResourceQuota", "catalyst-quota"),
        ("v1", "LimitRange", "catalyst-limits"),
        (
            "networking.k8s.io/v1",
            "NetworkPolicy",
            "catalyst-isolation",
        ),
        ("v1", "ServiceAccount", "catalyst-deployer"),
        ("rbac.authorization.k8s.io/v1", "Role", "catalyst-deployer"),
        (
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            "catalyst-deployer",
        ),
        ("v1", "Secret", "web-env"),
        ("v1", "Secret", "catalyst-registry"),
    ] {
        let obj = c
            .get(api_version, kind, ns, name)
            .unwrap_or_else(|| panic!("{kind} {name} missing"));
        let managers: Vec<&str> = obj["metadata"]["managedFields"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["manager"].as_str())
            .collect();
        assert!(
            managers.contains(&"catalyst"),
            "{kind} {name}: {managers:?}"
        );
    }
    // The repository's quota override and the configured defaults.
    let quota = c.get("v1", "ResourceQuota", ns, "catalyst-quota").unwrap();
    assert_eq!(quota["spec"]["hard"]["limits.cpu"], "2");
    let policy = c
        .get(
            "networking.k8s.io/v1",
            "NetworkPolicy",
            ns,
            "catalyst-isolation",
        )
        .unwrap()
        .to_string();
    assert!(
        policy.contains("ingress-nginx") && policy.contains("registry"),
        "{policy}"
    );
    let role = c
        .get(
            "rbac.authorization.k8s.io/v1",
            "Role",
            ns,
            "catalyst-deployer",
        )
        .unwrap();
    assert_eq!(role["metadata"]["namespace"], ns);

    // The pull request pod, created without looking for an earlier one in the
    // namespace the same reconcile had just created.
    let before = requests_in_before_job(&h, ns, &format!("catalyst-deploy-{}-1", &head[..12]));
    assert!(
        !before
            .iter()
            .any(|r| r.starts_with("GET") && (r.ends_with("/jobs") || r.ends_with("/pods"))),
        "{before:#?}"
    );
    let jobs = h.jobs(ns);
    assert_eq!(jobs.len(), 1, "one deploy Job");
    let job = &jobs[0];
    assert_eq!(
        job["metadata"]["name"],
        format!("catalyst-deploy-{}-1", &head[..12])
    );
    assert_eq!(job["spec"]["backoffLimit"], 0);
    assert!(job["spec"]["activeDeadlineSeconds"].as_i64().unwrap() > 0);
    assert!(job["spec"]["ttlSecondsAfterFinished"].as_i64().unwrap() > 0);
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "catalyst-deployer");
    let containers: Vec<&serde_json::Value> = pod["containers"]
        .as_array()
        .into_iter()
        .chain(pod["initContainers"].as_array())
        .flatten()
        .collect();
    assert!(!containers.is_empty());
    for container in containers {
        assert!(
            container["resources"]["limits"]["memory"].is_string(),
            "{container}"
        );
        for env in container["env"].as_array().into_iter().flatten() {
            let name = env["name"]
                .as_str()
                .unwrap_or_default()
                .to_ascii_lowercase();
            if name.contains("token") || name.contains("password") {
                assert!(env["value"].is_null(), "credential in the pod spec: {env}");
            }
        }
        for port in container["ports"].as_array().into_iter().flatten() {
            assert!(port["protocol"].is_string(), "{port}");
        }
    }

    // The records.
    let env = h.env(1).await.unwrap();
    assert_eq!(env.url.as_deref(), Some(&*format!("https://{ns}.{DOMAIN}")));
    assert!(env.ready_at.is_some());
    let attempts = h.attempts(1).await;
    assert_eq!(attempts.len(), 1);
    let a = &attempts[0];
    assert_eq!(a.phase, "succeeded");
    assert_eq!(a.outcome.as_deref(), Some("succeeded"));
    let stamps = [
        a.provisioning_at,
        a.deploying_at,
        a.verifying_at,
        a.finished_at,
    ];
    assert!(stamps.iter().all(Option::is_some), "{a:?}");
    assert!(a.queued_at <= a.provisioning_at.unwrap());
    assert!(a.verifying_at.unwrap() <= a.finished_at.unwrap());

    // The API shows real status, URL and the latest attempt.
    let items = h.api_environments().await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["status"], "ready");
    assert_eq!(items[0]["url"], format!("https://{ns}.{DOMAIN}"));
    assert_eq!(items[0]["latest_deployment"]["phase"], "succeeded");
    assert_eq!(items[0]["latest_deployment"]["attempt"], 1);

    // Subscribers saw the way there.
    let statuses: Vec<String> = h
        .drain_events()
        .into_iter()
        .filter(|e| e.pr_number == 1)
        .map(|e| e.status.as_str().to_owned())
        .collect();
    assert_eq!(
        statuses.first().map(String::as_str),
        Some("pending"),
        "{statuses:?}"
    );
    assert!(statuses.contains(&"deploying".to_owned()), "{statuses:?}");
    assert_eq!(
        statuses.last().map(String::as_str),
        Some("ready"),
        "{statuses:?}"
    );
    h.finish().await;
}

async fn a_failing_job_is_retried_three_times_then_failed_with_logs(backend: Backend) {
    let h = start(backend, |_| {}).await;
    h.kit.cluster().on_job(
        Match::namespace("pr-web-2"),
        JobBehaviour::fail(1).logs([
            "Release \"preview\" does not exist.",
            "Error: chart not found",
        ]),
    );
    h.open(2, &sha(2, 1)).await;
    let env = h.wait_status(2, "failed").await;
    let attempts = h.attempts(2).await;
    assert_eq!(attempts.len(), 4, "the first try and three retries");
    for a in &attempts {
        assert_eq!(a.phase, "failed");
        assert_eq!(a.outcome.as_deref(), Some("job"));
        assert_eq!(a.failed_check.as_deref(), Some("job"));
        assert!(a.error.as_deref().unwrap().contains("exit code 1"), "{a:?}");
        assert!(
            a.log_excerpt
                .as_deref()
                .unwrap()
                .contains("Error: chart not found"),
            "{a:?}"
        );
    }
    // Backoff: each retry was queued after the previous attempt finished.
    for pair in attempts.windows(2) {
        assert!(pair[1].queued_at >= pair[0].finished_at.unwrap());
    }
    assert!(env.last_error.as_deref().unwrap().contains("exit code 1"));
    h.wait_until("the permanent failure is notified", LONG, || async {
        h.inbox
            .messages()
            .iter()
            .any(|m| m.contains("failed permanently"))
    })
    .await;
    // It stays failed: no fifth attempt.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.attempts(2).await.len(), 4);
    assert_eq!(h.inbox.messages().len(), 1, "notified once");
    h.finish().await;
}

async fn an_unhealthy_app_fails_with_health_check_logs(backend: Backend) {
    let h = start(backend, |s| {
        s.cluster.health_timeout = Duration::from_millis(250);
        s.retry.max_retries = 1;
    })
    .await;
    let c = h.kit.cluster();
    c.on_workload(
        Match::namespace("pr-web-3"),
        WorkloadBehaviour::ready().logs(["listening on :8080", "cannot reach the database"]),
    );
    c.set_service_response(
        "pr-web-3",
        "web",
        ProxyResponse {
            status: 503,
            content_type: "text/plain".into(),
            body: "database unreachable".into(),
        },
    );
    h.open(3, &sha(3, 1)).await;
    h.wait_status(3, "failed").await;
    let attempts = h.attempts(3).await;
    assert_eq!(attempts.len(), 2, "one retry as configured");
    let last = attempts.last().unwrap();
    assert_eq!(last.outcome.as_deref(), Some("health"));
    assert_eq!(last.failed_check.as_deref(), Some("http_probe"));
    assert!(
        last.error.as_deref().unwrap().contains("/healthz"),
        "{last:?}"
    );
    let logs = last.log_excerpt.as_deref().unwrap();
    assert!(logs.contains("cannot reach the database"), "{logs}");
    let items = h.api_environments().await;
    assert_eq!(items[0]["status"], "failed");
    assert_eq!(items[0]["latest_deployment"]["failed_check"], "http_probe");
    h.finish().await;
}

async fn a_push_mid_deploy_cancels_the_old_job_and_deploys_the_new_sha(backend: Backend) {
    let h = start(backend, |_| {}).await;
    let (old, new) = (sha(4, 1), sha(4, 2));
    h.kit
        .cluster()
        .on_job(Match::name(job_pattern(&old)), JobBehaviour::forever());
    h.open(4, &old).await;
    let old_job = format!("catalyst-deploy-{}-1", &old[..12]);
    h.wait_until("the old Job runs", LONG, || async {
        h.jobs("pr-web-4")
            .iter()
            .any(|j| j["metadata"]["name"] == old_job.as_str())
    })
    .await;
    h.push(4, &new).await;
    h.wait_status(4, "ready").await;
    // In a namespace that was there already, the new Job is started only after looking
    // for other deploy Jobs and their pods.
    let new_job = format!("catalyst-deploy-{}-2", &new[..12]);
    let before = requests_in_before_job(&h, "pr-web-4", &new_job);
    let mut last_two = before[before.len().saturating_sub(2)..].to_vec();
    last_two.sort();
    assert_eq!(
        last_two,
        [
            "GET /api/v1/namespaces/pr-web-4/pods",
            "GET /apis/batch/v1/namespaces/pr-web-4/jobs"
        ],
        "{before:#?}"
    );
    let attempts = h.attempts(4).await;
    assert_eq!(attempts.len(), 2, "{attempts:#?}");
    assert_eq!(attempts[0].phase, "superseded");
    assert_eq!(attempts[0].head_sha, old);
    assert!(attempts[0].finished_at.is_some());
    assert_eq!(attempts[1].phase, "succeeded");
    assert_eq!(attempts[1].head_sha, new);
    assert!(
        h.kit
            .cluster()
            .get("batch/v1", "Job", "pr-web-4", &old_job)
            .is_none(),
        "the old Job is deleted"
    );
    let ns = h.namespace("pr-web-4").unwrap();
    assert_eq!(
        ns["metadata"]["labels"]["catalyst.dev/head-sha"],
        new.as_str()
    );
    h.finish().await;
}

async fn the_same_sha_twice_starts_one_deployment(backend: Backend) {
    let h = start(backend, |_| {}).await;
    let head = sha(5, 1);
    let opened = h.open(5, &head).await;
    h.push(5, &head).await;
    h.redeliver(&opened).await;
    h.wait_status(5, "ready").await;
    h.redeliver(&opened).await;
    h.push(5, &head).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let attempts = h.attempts(5).await;
    assert_eq!(attempts.len(), 1, "{attempts:#?}");
    assert_eq!(h.jobs("pr-web-5").len(), 1);
    assert_eq!(h.status(5).await.as_deref(), Some("ready"));
    h.finish().await;
}

async fn close_deletes_the_namespace_and_waits_until_it_is_gone(backend: Backend) {
    let h = start(backend, |_| {}).await;
    h.kit
        .cluster()
        .set_namespace_deletion_delay(Duration::from_millis(400));
    open_and_wait_ready(&h, 6, &sha(6, 1)).await;
    h.close(6).await;
    h.wait_status(6, "deleting").await;
    assert!(h.namespace("pr-web-6").is_some(), "still terminating");
    let env = h.wait_status(6, "deleted").await;
    assert!(h.namespace("pr-web-6").is_none());
    assert!(env.deleted_at.is_some());
    assert!(!env.deletion_stuck);
    h.finish().await;
}

async fn a_stuck_deletion_is_flagged_and_notified(backend: Backend) {
    let h = start(backend, |s| s.deletion_timeout = Duration::from_millis(300)).await;
    open_and_wait_ready(&h, 7, &sha(7, 1)).await;
    h.kit.cluster().set_namespace_stuck("pr-web-7", true);
    h.close(7).await;
    h.wait_until("the deletion is flagged stuck", LONG, || async {
        h.env(7).await.is_some_and(|e| e.deletion_stuck)
    })
    .await;
    assert_eq!(h.status(7).await.as_deref(), Some("deleting"));
    h.wait_until("operators are notified", LONG, || async {
        h.inbox.messages().iter().any(|m| m.contains("pr-web-7"))
    })
    .await;
    // Once the finalizer lets go, the retried deletion finishes.
    h.kit.cluster().set_namespace_stuck("pr-web-7", false);
    let env = h.wait_status(7, "deleted").await;
    assert!(!env.deletion_stuck);
    assert!(h.namespace("pr-web-7").is_none());
    h.finish().await;
}

async fn sixty_prs_with_a_limit_of_ten_all_become_ready(backend: Backend) {
    let h = start(backend, |s| {
        s.poll_interval = Duration::from_millis(250);
        s.health_poll_interval = Duration::from_millis(50);
        s.resync_interval = Duration::from_secs(10);
    })
    .await;
    let sampler_db = h.db().clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_sampling = stop.clone();
    let sampler = tokio::spawn(async move {
        let mut max = 0usize;
        let mut saw_queue = false;
        while !stop_sampling.load(std::sync::atomic::Ordering::Relaxed) {
            let rows = catalyst_server::store::deployments::unfinished(&sampler_db)
                .await
                .unwrap();
            let in_flight = rows.iter().filter(|d| d.phase != "queued").count();
            max = max.max(in_flight);
            let states = catalyst_server::store::engine::all_states(&sampler_db)
                .await
                .unwrap();
            saw_queue |= states.values().any(|s| s.queue_position.unwrap_or(0) > 1);
            // Sparse sampling: the engine's own exact count (taken under the admission
            // lock) is asserted below too.
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
        (max, saw_queue)
    });
    for n in 100..160 {
        h.open(n, &sha(n, 1)).await;
    }
    h.wait_until(
        "all 60 environments are ready",
        Duration::from_secs(400),
        || async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let envs = catalyst_server::store::engine::all_environments(h.db())
                .await
                .unwrap();
            envs.len() == 60 && envs.iter().all(|e| e.status == "ready")
        },
    )
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (max, saw_queue) = sampler.await.unwrap();
    assert!(max <= 10, "{max} deployments ran at once");
    assert!(saw_queue, "waiting environments knew their queue position");
    let seen = h
        .engine()
        .metrics()
        .max_in_flight
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!((1..=10).contains(&seen), "{seen}");
    for n in 100..160 {
        assert_eq!(h.attempts(n).await.len(), 1, "PR {n}");
    }
    assert!(h.env(100).await.is_some());
    h.finish().await;
}

async fn an_api_outage_is_survived(backend: Backend) {
    let mut h = start(backend, |_| {}).await;
    h.kill_engine();
    h.open(8, &sha(8, 1)).await;
    // The API server answers 503 to everything for a while (the client backs off and
    // retries those), then fails a few requests with 500 (the engine's own error policy
    // requeues those with backoff).
    let cluster = h.kit.cluster();
    let faults = cluster.faults();
    faults.outage(Outage::Status(503), Duration::from_millis(1500));
    faults.fail_next(4, 500);
    h.start_engine();
    h.wait_status(8, "ready").await;
    let answered: Vec<u16> = h.kit.requests().iter().map(|r| r.status).collect();
    assert!(answered.contains(&503), "the outage was met");
    let errors = h.engine().metrics().errors();
    assert!(errors.get("api").copied().unwrap_or(0) > 0, "{errors:?}");
    let attempts = h.attempts(8).await;
    assert_eq!(attempts.len(), 1, "an outage is not an application failure");
    assert_eq!(attempts[0].phase, "succeeded");
    h.finish().await;
}

async fn a_restart_at_any_moment_converges(backend: Backend) {
    let mut h = start(backend, |_| {}).await;
    let c = h.kit.cluster();
    c.on_job(
        Match::namespace("pr-web-9"),
        JobBehaviour::succeed()
            .after(Duration::from_millis(150))
            .creates(engine_support::app_objects()),
    );
    c.on_workload(
        Match::namespace("pr-web-9"),
        WorkloadBehaviour::ready().ready_after(Duration::from_millis(400)),
    );
    // Every API call takes 40 ms, so each phase lasts long enough for the 2 ms poll
    // below to see it on a busy machine: the kit is applied in three rounds, and at
    // 10 ms a call the provisioning phase (30 ms) passed unseen in CI, the poll's
    // task not running for that long on the test's single runtime thread.
    c.faults().set_latency(Duration::from_millis(40));
    h.kill_engine();
    h.open(9, &sha(9, 1)).await;
    let mut phases_killed_in = std::collections::BTreeSet::new();
    // Killed as soon as each phase is recorded (mid-step: the kit half applied, the Job
    // just created, the health check under way)...
    for target in ["provisioning", "deploying", "verifying"] {
        h.start_engine();
        let deadline = tokio::time::Instant::now() + LONG;
        loop {
            let phase = h.attempts(9).await.last().map(|a| a.phase.clone());
            if phase.as_deref() == Some(target) || tokio::time::Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        h.kill_engine();
        if let Some(a) = h.attempts(9).await.last() {
            phases_killed_in.insert(a.phase.clone());
        }
    }
    // ...and then again and again at arbitrary moments, between any two API calls.
    for round in 1..60u64 {
        h.start_engine();
        tokio::time::sleep(Duration::from_millis(10 + 12 * round)).await;
        h.kill_engine();
        if let Some(a) = h.attempts(9).await.last() {
            phases_killed_in.insert(a.phase.clone());
        }
        if h.status(9).await.as_deref() == Some("ready") {
            break;
        }
    }
    h.start_engine();
    h.wait_status(9, "ready").await;
    let attempts = h.attempts(9).await;
    assert_eq!(attempts.len(), 1, "{attempts:#?}");
    assert_eq!(attempts[0].phase, "succeeded");
    assert_eq!(
        h.jobs("pr-web-9").len(),
        1,
        "one Job, found again after restarts"
    );
    for phase in ["provisioning", "deploying", "verifying"] {
        assert!(
            phases_killed_in.contains(phase),
            "killed in {phases_killed_in:?}"
        );
    }
    h.finish().await;
}

async fn drift_is_repaired(backend: Backend) {
    let h = start(backend, |s| s.resync_interval = Duration::from_millis(300)).await;
    open_and_wait_ready(&h, 10, &sha(10, 1)).await;
    let c = h.kit.cluster();
    // An orphan: managed by Catalyst, but no open pull request owns it.
    c.create(
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": "pr-web-999",
        "labels": {"app.kubernetes.io/managed-by": "catalyst", "catalyst.dev/pr-number": "999"}}}),
    )
    .unwrap();
    // A namespace of an open pull request deleted by hand.
    c.delete("v1", "Namespace", "", "pr-web-10").unwrap();
    h.wait_until("the orphan is removed", LONG, || async {
        h.namespace("pr-web-999").is_none()
    })
    .await;
    h.wait_until(
        "the deleted namespace is recreated and deployed",
        LONG,
        || async {
            let attempts = h.attempts(10).await;
            attempts.len() == 2
                && attempts[1].phase == "succeeded"
                && h.status(10).await.as_deref() == Some("ready")
        },
    )
    .await;
    assert!(h.namespace("pr-web-10").is_some());
    assert!(
        h.namespace("kube-system").is_some(),
        "unmanaged namespaces are left alone"
    );
    let removed = drift::remove_orphans(h.engine().context()).await.unwrap();
    assert!(removed.is_empty(), "{removed:?}");
    h.finish().await;
}

async fn unschedulable_pods_are_capacity_not_failure(backend: Backend) {
    let h = start(backend, |_| {}).await;
    h.kit.cluster().set_node_capacity("100m", "64Mi", 110);
    h.open(11, &sha(11, 1)).await;
    h.wait_until("a capacity failure is recorded", LONG, || async {
        h.attempts(11)
            .await
            .iter()
            .any(|a| a.outcome.as_deref() == Some("capacity"))
    })
    .await;
    let status = h.status(11).await.unwrap();
    assert!(
        status == "pending" || status == "deploying",
        "capacity is not a failure: {status}"
    );
    h.kit.cluster().set_node_capacity("8", "32Gi", 110);
    h.wait_status(11, "ready").await;
    let attempts = h.attempts(11).await;
    assert!(attempts.len() >= 2);
    assert!(
        attempts[..attempts.len() - 1]
            .iter()
            .all(|a| a.outcome.as_deref() == Some("capacity")),
        "{attempts:#?}"
    );
    let _ = REPO;
    h.finish().await;
}

async fn operator_requests_redeploy_and_delete(backend: Backend) {
    let h = start(backend, |s| s.retry.max_retries = 0).await;
    let c = h.kit.cluster();
    c.on_job(Match::namespace("pr-web-12"), JobBehaviour::fail(2));
    h.open(12, &sha(12, 1)).await;
    let env = h.wait_status(12, "failed").await;
    assert_eq!(h.attempts(12).await.len(), 1);

    // The application is fixed out of band; someone presses "redeploy".
    c.on_job(
        Match::namespace("pr-web-12"),
        JobBehaviour::succeed().creates(engine_support::app_objects()),
    );
    operator_requests::request_redeploy(h.db(), &env.id, "octocat", chrono::Utc::now())
        .await
        .unwrap();
    h.state.reconcile.wake();
    h.wait_status(12, "ready").await;
    let attempts = h.attempts(12).await;
    assert_eq!(
        attempts.len(),
        2,
        "a fresh attempt with a fresh retry budget"
    );
    assert_eq!(attempts[1].phase, "succeeded");

    // An operator deletes the environment although the pull request is open.
    let env = h.env(12).await.unwrap();
    operator_requests::request_delete(h.db(), &env, "octocat", chrono::Utc::now())
        .await
        .unwrap();
    h.state.reconcile.wake();
    h.wait_status(12, "deleted").await;
    assert!(h.namespace("pr-web-12").is_none());
    h.finish().await;
}

async fn a_redeploy_asked_long_after_the_last_change_starts_without_a_resync(backend: Backend) {
    // The resync is far away: only the wake that comes with the request can start the
    // new attempt.
    let h = start(backend, |s| {
        s.retry.max_retries = 0;
        s.resync_interval = Duration::from_secs(600);
    })
    .await;
    let c = h.kit.cluster();
    c.on_job(Match::namespace("pr-web-13"), JobBehaviour::fail(2));
    h.open(13, &sha(13, 1)).await;
    let env = h.wait_status(13, "failed").await;
    // Past the margin a wake's pass keeps for writes in flight (2 s): the request is
    // the only thing that changed.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    c.on_job(
        Match::namespace("pr-web-13"),
        JobBehaviour::succeed().creates(engine_support::app_objects()),
    );
    operator_requests::request_redeploy(h.db(), &env.id, "octocat", chrono::Utc::now())
        .await
        .unwrap();
    h.state.reconcile.wake();
    h.wait_status_within(13, "ready", Duration::from_secs(10))
        .await;
    assert_eq!(h.attempts(13).await.len(), 2);

    // The reconciler's one-statement read of the world gives what the tables hold.
    let rows = world::environment_rows(h.db(), &env.id)
        .await
        .unwrap()
        .expect("the environment's rows");
    assert_eq!(rows.env.id, env.id);
    assert_eq!(rows.pr.map(|p| p.id), Some(env.pull_request_id.clone()));
    assert_eq!(rows.repo.map(|r| r.id), Some(env.repository_id.clone()));
    let request = operator_requests::of(h.db(), &env.id).await.unwrap();
    assert!(
        request
            .as_ref()
            .is_some_and(|r| r.redeploy_requested_at.is_some())
    );
    assert_eq!(rows.request, request);
    assert_eq!(
        rows.config,
        pull_request_configs::of(h.db(), &env.pull_request_id)
            .await
            .unwrap()
    );
    assert!(
        world::environment_rows(h.db(), "no-such-environment")
            .await
            .unwrap()
            .is_none()
    );
    h.finish().await;
}

async fn a_fork_pr_is_deployed_only_while_it_has_the_opt_in_label(backend: Backend) {
    // The service's configured opt-in label (`CATALYST_GITHUB_FORK_LABEL`) applies to a
    // repository that sets none.
    let h = start(backend, |s| {
        s.default_policy.fork_opt_in_label = "safe-to-deploy".to_owned();
    })
    .await;
    let head = sha(20, 1);
    h.open_pr(PrSpec::new().number(20).head_sha(&head).fork())
        .await;
    // A PR from the repository itself deploys meanwhile, so the engine is running.
    open_and_wait_ready(&h, 21, &sha(21, 1)).await;
    assert!(
        h.attempts(20).await.is_empty(),
        "fork deployed without the label"
    );
    assert!(h.namespace("pr-web-20").is_none());
    // The built-in default label is not the configured one.
    h.label(20, "preview").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        h.attempts(20).await.is_empty(),
        "fork deployed with another label"
    );

    // A maintainer opts in: the fork PR deploys.
    h.label(20, "safe-to-deploy").await;
    h.wait_status(20, "ready").await;
    assert!(h.namespace("pr-web-20").is_some());
    assert_eq!(h.attempts(20).await.len(), 1);

    // A label that does not change eligibility starts no new deployment.
    h.label(20, "documentation").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.attempts(20).await.len(), 1);
    assert_eq!(h.status(20).await.as_deref(), Some("ready"));

    // Removing the opt-in tears the environment down like a closed PR's.
    h.unlabel(20, "safe-to-deploy").await;
    h.wait_status(20, "deleted").await;
    assert!(h.namespace("pr-web-20").is_none());
    h.finish().await;
}

async fn a_draft_pr_is_not_deployed_when_drafts_are_off(backend: Backend) {
    // `configure` leaves the repository's `deploy_drafts` off.
    let h = start(backend, |_| {}).await;
    h.open_pr(PrSpec {
        draft: true,
        ..PrSpec::new().number(22).head_sha(sha(22, 1))
    })
    .await;
    open_and_wait_ready(&h, 23, &sha(23, 1)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(h.attempts(22).await.is_empty(), "draft deployed");
    assert!(h.namespace("pr-web-22").is_none());
    h.finish().await;
}

/// The `CATALYST_VALUES` the deploy Job of `head` was given (the merged Helm values).
fn job_values(h: &Harness, ns: &str, head: &str) -> Option<String> {
    let job = h
        .jobs(ns)
        .into_iter()
        .find(|j| {
            j["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with(&format!("catalyst-deploy-{}", &head[..12])))
        })
        .unwrap_or_else(|| panic!("no Job for {head} in {ns}"));
    let containers = job["spec"]["template"]["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    containers
        .iter()
        .flat_map(|c| c["env"].as_array().cloned().unwrap_or_default())
        .find(|e| e["name"] == "CATALYST_VALUES")
        .and_then(|e| e["value"].as_str().map(str::to_owned))
}

async fn recorded_config(h: &Harness, number: u64) -> (String, String) {
    use catalyst_server::store::pull_request_configs;
    let env = h.env(number).await.expect("environment");
    let row = pull_request_configs::of(h.db(), &env.pull_request_id)
        .await
        .unwrap()
        .expect("a recorded configuration");
    (row.head_sha, row.state)
}

async fn a_prs_preview_yaml_is_merged_and_a_broken_one_fails_without_retries(backend: Backend) {
    let mut h = start(backend, |_| {}).await;
    h.start_engine_reading_config();
    let gh = h.kit.github();
    let ns = "pr-web-30";

    // Values from the PR's file reach the deploy Job; the stored chart, secrets and
    // quota still apply.
    let first = sha(30, 1);
    gh.set_file(
        REPO,
        &first,
        ".catalyst/preview.yaml",
        "values:\n  replicas: 3\n  image:\n    pullPolicy: IfNotPresent\nhealth_path: /healthz\n",
    );
    open_and_wait_ready(&h, 30, &first).await;
    assert_eq!(
        recorded_config(&h, 30).await,
        (first.clone(), "found".to_owned())
    );
    let values = job_values(&h, ns, &first).expect("merged values");
    assert!(values.contains("replicas: 3"), "{values}");
    assert!(values.contains("pullPolicy: IfNotPresent"), "{values}");
    let c = h.kit.cluster();
    assert!(c.get("v1", "Secret", ns, "web-env").is_some());

    // A broken file at the next push fails that attempt as a configuration error with
    // its line, starts no Job and is not retried.
    let second = sha(30, 2);
    gh.set_file(
        REPO,
        &second,
        ".catalyst/preview.yaml",
        "values: {}\nchart:\n  path: ../../etc\n",
    );
    h.push(30, &second).await;
    h.wait_status(30, "failed").await;
    let attempts = h.attempts(30).await;
    let last = attempts.last().unwrap();
    assert_eq!(last.head_sha, second);
    assert_eq!(last.outcome.as_deref(), Some("configuration"));
    let error = last.error.clone().unwrap_or_default();
    assert!(error.contains(".catalyst/preview.yaml:3"), "{error}");
    assert!(error.contains("outside the repository"), "{error}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        h.attempts(30)
            .await
            .iter()
            .filter(|a| a.head_sha == second)
            .count(),
        1,
        "a configuration error must not be retried"
    );
    assert!(
        h.jobs(ns).iter().all(|j| !j["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .contains(&second[..12])),
        "no Job for a broken configuration"
    );

    // A file that asks for more than the repository allows is refused the same way.
    let third = sha(30, 3);
    gh.set_file(
        REPO,
        &third,
        ".catalyst/preview.yaml",
        "secrets: [web-env, aws-root]\n",
    );
    h.push(30, &third).await;
    h.wait_until("the third attempt fails", LONG, || async {
        h.attempts(30)
            .await
            .last()
            .is_some_and(|a| a.head_sha == third && a.phase == "failed")
    })
    .await;
    let error = h
        .attempts(30)
        .await
        .last()
        .unwrap()
        .error
        .clone()
        .unwrap_or_default();
    assert!(error.contains("`aws-root` is not allowed"), "{error}");

    // Without a file, the stored configuration alone deploys.
    let fourth = sha(30, 4);
    h.push(30, &fourth).await;
    // Its attempt succeeded, not only queued: for a moment after a push the status
    // still says "ready" for the commit before.
    h.wait_until("the fourth commit is ready", LONG, || async {
        h.status(30).await.as_deref() == Some("ready")
            && h.attempts(30)
                .await
                .last()
                .is_some_and(|a| a.head_sha == fourth && a.phase == "succeeded")
    })
    .await;
    assert_eq!(
        recorded_config(&h, 30).await,
        (fourth.clone(), "missing".to_owned())
    );
    assert_eq!(job_values(&h, ns, &fourth), None);

    // GitHub is down: after a short wait the commit deploys with the stored
    // configuration (a GitHub outage never stops deployments), and that is recorded.
    let fifth = sha(30, 5);
    gh.set_file(
        REPO,
        &fifth,
        ".catalyst/preview.yaml",
        "values:\n  replicas: 5\n",
    );
    gh.faults()
        .outage(Outage::Status(503), Duration::from_secs(3600));
    h.push(30, &fifth).await;
    // Its attempt succeeded, not only queued: for a moment after a push the status
    // still says "ready" for the commit before.
    h.wait_until("the fifth commit is ready", LONG, || async {
        h.status(30).await.as_deref() == Some("ready")
            && h.attempts(30)
                .await
                .last()
                .is_some_and(|a| a.head_sha == fifth && a.phase == "succeeded")
    })
    .await;
    gh.faults().clear();
    assert_eq!(
        recorded_config(&h, 30).await,
        (fifth.clone(), "unavailable".to_owned())
    );
    assert_eq!(job_values(&h, ns, &fifth), None);
    h.finish().await;
}

async fn an_idle_pr_expires_unless_kept_and_a_push_brings_it_back(backend: Backend) {
    use catalyst_server::store::entities::pull_request;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};

    let h = start(backend, |s| {
        s.default_policy.ttl = Some(Duration::from_secs(3600));
    })
    .await;
    open_and_wait_ready(&h, 40, &sha(40, 1)).await;
    h.open_pr(PrSpec::new().number(41).head_sha(sha(41, 1)).label("keep"))
        .await;
    h.wait_status(41, "ready").await;

    // Both fall idle for two hours (as if nothing happened since).
    let two_hours_ago = chrono::Utc::now() - chrono::TimeDelta::hours(2);
    pull_request::Entity::update_many()
        .col_expr(
            pull_request::Column::GithubUpdatedAt,
            Expr::value(two_hours_ago),
        )
        .filter(pull_request::Column::Number.is_in([40, 41]))
        .exec(h.db())
        .await
        .unwrap();

    // The next resync removes the idle one; the kept one stays.
    h.wait_status(40, "deleted").await;
    assert!(h.namespace("pr-web-40").is_none());
    assert_eq!(h.status(41).await.as_deref(), Some("ready"));
    assert!(h.namespace("pr-web-41").is_some());

    // Activity brings the expired one back.
    h.push(40, &sha(40, 2)).await;
    h.wait_status(40, "ready").await;
    assert!(h.namespace("pr-web-40").is_some());
    h.finish().await;
}

/// The five steps from a new pull request to its Job (queue an attempt, read its
/// `.catalyst/preview.yaml`, take a slot, apply the namespace kit, create the Job) each go
/// on from what the step before stored instead of reading the world back: every
/// reconcile until the Job exists read the world once.
async fn a_new_pull_request_reads_its_world_once_on_its_way_to_its_job(backend: Backend) {
    let mut h = start(backend, |_| {}).await;
    h.start_engine_reading_config();
    let head = sha(40, 1);
    h.kit.github().set_file(
        REPO,
        &head,
        ".catalyst/preview.yaml",
        "values:\n  replicas: 2\n",
    );
    h.open(40, &head).await;
    let ns = "pr-web-40";
    h.wait_until("the deploy Job", LONG, || async { !h.jobs(ns).is_empty() })
        .await;
    let metrics = h.engine().metrics();
    let reads = metrics
        .world_reads
        .load(std::sync::atomic::Ordering::Relaxed);
    let reconciles = metrics
        .reconciles
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(reconciles >= 1);
    assert_eq!(
        reads, reconciles,
        "world reads before the Job: {reads} in {reconciles} reconciles"
    );

    // What the steps went on from was what they stored: the Job carries the file's
    // values, and the attempt every stamp of its way.
    let values = job_values(&h, ns, &head).expect("merged values");
    assert!(values.contains("replicas: 2"), "{values}");
    assert_eq!(
        recorded_config(&h, 40).await,
        (head.clone(), "found".to_owned())
    );
    let attempts = h.attempts(40).await;
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert!(
        attempts[0].provisioning_at.is_some() && attempts[0].deploying_at.is_some(),
        "{attempts:?}"
    );
    h.wait_status(40, "ready").await;
    h.finish().await;
}
