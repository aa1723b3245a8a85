//! The cluster adapter (`catalyst_server::cluster`) against testkit's Kubernetes double,
//! through the real `kube` client: the namespace kit, the pull request pod, health
//! checks, namespace deletion, drift listing and logs.

use std::time::Duration;

use catalyst_server::cluster::health::{self, HealthOptions};
use catalyst_server::cluster::probe;
use catalyst_server::cluster::{
    self, ChartSource, ClusterError, ClusterSettings, Credentials, EnvironmentSpec, FailedCheck,
    HealthOutcome, ImageSource, JobOutcome, NamespaceState, QuotaOverrides, SecretCopies, logs,
    namespaces, pr_pod,
};
use catalyst_server::core::domain::{CommitSha, PullRequestNumber, RepositoryName};
use catalyst_server::core::naming::{self, NamespaceSlug};
use catalyst_testkit::kube::ProxyResponse;
use catalyst_testkit::{JobBehaviour, Match, TestKit, WorkloadBehaviour};
use futures::TryStreamExt;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::Role;
use kube::Api;
use kube::api::PostParams;
use serde_json::{Value, json};

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

async fn kit() -> (TestKit, kube::Client) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kit = TestKit::start().await.expect("the doubles start");
    let client = kit.kube_client().expect("a client for the double");
    (kit, client)
}

fn spec(pr: u64) -> EnvironmentSpec {
    let namespace = naming::namespace(
        &NamespaceSlug::from_stored("web".to_owned()),
        PullRequestNumber(pr),
    );
    EnvironmentSpec {
        preview_host: format!("{namespace}.preview.example.com"),
        preview_url: format!("https://{namespace}.preview.example.com"),
        namespace,
        repository: RepositoryName::parse("Acme/Web").unwrap(),
        pr_number: PullRequestNumber(pr),
        head_sha: CommitSha(SHA.to_owned()),
        head_ref: "feature".to_owned(),
        clone_url: "https://github.com/Acme/Web.git".to_owned(),
        chart: ChartSource::InRepository {
            path: "chart".to_owned(),
        },
        values_yaml: None,
        values_files: vec![],
        image: ImageSource::Build {
            dockerfile: "Dockerfile".to_owned(),
            context: ".".to_owned(),
        },
        health_path: "/healthz".to_owned(),
        quota: QuotaOverrides::default(),
        secrets: SecretCopies {
            store_namespace: "acme-secrets".to_owned(),
            names: vec!["web-env".to_owned()],
        },
    }
}

/// The repository's secret store and Catalyst's registry credentials.
async fn seed_secrets(client: &kube::Client) {
    for ns in ["acme-secrets", "catalyst"] {
        let nss: Api<Namespace> = Api::all(client.clone());
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap();
        nss.create(&PostParams::default(), &ns).await.unwrap();
    }
    let create = |ns: &str, body: Value| {
        let api: Api<Secret> = Api::namespaced(client.clone(), ns);
        let secret: Secret = serde_json::from_value(body).unwrap();
        async move { api.create(&PostParams::default(), &secret).await.unwrap() }
    };
    create(
        "acme-secrets",
        json!({"metadata": {"name": "web-env"}, "stringData": {"DATABASE_URL": "postgres://x"}}),
    )
    .await;
    create(
        "catalyst",
        json!({"metadata": {"name": "catalyst-registry"}, "type": "kubernetes.io/dockerconfigjson",
               "data": {".dockerconfigjson": "e30="}}),
    )
    .await;
}

/// What the chart installs: a Deployment, its Service and an Ingress.
fn app_objects() -> Vec<Value> {
    vec![
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "web:1",
                        "ports": [{"containerPort": 8080, "protocol": "TCP"}]}]}}}}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]}}),
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "web"},
            "spec": {"rules": [{"host": "pr-web-1.preview.example.com", "http": {"paths": [{"path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}}),
    ]
}

async fn wait_outcome(
    client: &kube::Client,
    ns: &str,
    job: &str,
    done: fn(&JobOutcome) -> bool,
) -> JobOutcome {
    let settings = ClusterSettings::default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let o = pr_pod::outcome(client, ns, job, &settings).await.unwrap();
        if done(&o) {
            return o;
        }
        assert!(tokio::time::Instant::now() < deadline, "still {o:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn fast(timeout_ms: u64) -> HealthOptions {
    HealthOptions {
        poll_interval: Duration::from_millis(20),
        ..HealthOptions::new(Duration::from_millis(timeout_ms))
    }
}

#[tokio::test]
async fn namespace_kit_applies_and_reapplies_without_change() {
    let (kit, client) = kit().await;
    seed_secrets(&client).await;
    let (sp, settings) = (spec(1), ClusterSettings::default());
    let applied = cluster::apply_kit(&client, &sp, &settings, &Credentials::default(), &[])
        .await
        .unwrap();
    assert!(
        applied.namespace_created,
        "the first apply creates the namespace"
    );

    let c = kit.cluster();
    let ns = c.get("v1", "Namespace", "", "pr-web-1").expect("namespace");
    assert_eq!(
        ns["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "catalyst"
    );
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "baseline"
    );
    assert_eq!(ns["metadata"]["labels"]["catalyst.dev/pr-number"], "1");
    for (api_version, kind, name) in [
        ("v1", "ResourceQuota", "catalyst-quota"),
        ("v1", "LimitRange", "catalyst-limits"),
        (
            "networking.k8s.io/v1",
            "NetworkPolicy",
            "catalyst-isolation",
        ),
        (
            "networking.k8s.io/v1",
            "NetworkPolicy",
            "catalyst-deployer-egress",
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
            .get(api_version, kind, "pr-web-1", name)
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
    let copied = c.get("v1", "Secret", "pr-web-1", "web-env").unwrap();
    assert_eq!(
        copied["metadata"]["annotations"]["catalyst.dev/copied-from"],
        "acme-secrets/web-env"
    );
    assert!(c.get("v1", "Secret", "pr-web-1", "catalyst-git").is_none());

    let roles: Api<Role> = Api::namespaced(client.clone(), "pr-web-1");
    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), "pr-web-1");
    let before = (
        roles
            .get("catalyst-deployer")
            .await
            .unwrap()
            .metadata
            .resource_version,
        policies
            .get("catalyst-isolation")
            .await
            .unwrap()
            .metadata
            .resource_version,
    );
    let again = cluster::apply_kit(&client, &sp, &settings, &Credentials::default(), &[])
        .await
        .unwrap();
    assert!(!again.namespace_created, "the namespace was there already");
    let after = (
        roles
            .get("catalyst-deployer")
            .await
            .unwrap()
            .metadata
            .resource_version,
        policies
            .get("catalyst-isolation")
            .await
            .unwrap()
            .metadata
            .resource_version,
    );
    assert_eq!(
        before, after,
        "a second apply of the same kit changes nothing"
    );
}

#[tokio::test]
async fn one_reading_of_the_credentials_serves_the_applies_within_its_window() {
    let (kit, client) = kit().await;
    seed_secrets(&client).await;
    let settings = ClusterSettings::default();
    let credential_reads = || {
        kit.requests()
            .iter()
            .filter(|r| {
                r.method == "GET" && r.path.starts_with("/api/v1/namespaces/catalyst/secrets/")
            })
            .count()
    };
    let copied = |ns: &str, name: &str| kit.cluster().get("v1", "Secret", ns, name).is_some();
    let names = |read: Vec<Secret>| {
        let mut names: Vec<String> = read.into_iter().filter_map(|s| s.metadata.name).collect();
        names.sort();
        names
    };
    let credentials = Credentials::new(Duration::from_secs(600));
    let specs: Vec<EnvironmentSpec> = (20..30).map(spec).collect();
    let applied = futures::future::try_join_all(
        specs
            .iter()
            .map(|sp| cluster::apply_kit(&client, sp, &settings, &credentials, &[])),
    )
    .await
    .unwrap();
    assert!(applied.iter().all(|a| a.namespace_created));
    assert_eq!(
        credential_reads(),
        2,
        "ten namespaces provisioned at once read the registry and Git secrets once"
    );
    for sp in &specs {
        let ns = sp.namespace.as_str();
        assert!(copied(ns, "catalyst-registry"), "{ns}");
        assert!(!copied(ns, "catalyst-git"), "{ns}");
    }

    // A credential added within the window is not copied until the window ends; an
    // uncached reading sees it at once.
    let brief = Credentials::new(Duration::from_millis(500));
    assert_eq!(
        names(brief.read(&client, &settings).await.unwrap()),
        ["catalyst-registry"]
    );
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "catalyst");
    let git: Secret = serde_json::from_value(json!({"metadata": {"name": "catalyst-git"},
        "stringData": {"username": "x-access-token", "password": "t"}}))
    .unwrap();
    secrets.create(&PostParams::default(), &git).await.unwrap();
    cluster::apply_kit(&client, &spec(30), &settings, &credentials, &[])
        .await
        .unwrap();
    assert!(!copied("pr-web-30", "catalyst-git"));
    assert_eq!(credential_reads(), 4);
    cluster::apply_kit(&client, &spec(31), &settings, &Credentials::default(), &[])
        .await
        .unwrap();
    assert!(copied("pr-web-31", "catalyst-git"));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        names(brief.read(&client, &settings).await.unwrap()),
        ["catalyst-git", "catalyst-registry"],
        "once its window ended"
    );

    // A failed reading is not kept: the next one asks again.
    let fresh = Credentials::new(Duration::from_secs(600));
    kit.cluster().faults().fail_next(1, 500);
    assert!(fresh.read(&client, &settings).await.is_err());
    let before = credential_reads();
    assert_eq!(
        names(fresh.read(&client, &settings).await.unwrap()),
        ["catalyst-git", "catalyst-registry"]
    );
    assert_eq!(credential_reads(), before + 2);
}

#[tokio::test]
async fn a_missing_repository_secret_is_named() {
    let (_kit, client) = kit().await;
    seed_secrets(&client).await;
    let mut sp = spec(2);
    sp.secrets.names.push("nope".to_owned());
    let err = cluster::apply_kit(
        &client,
        &sp,
        &ClusterSettings::default(),
        &Credentials::default(),
        &[],
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, ClusterError::SecretMissing { namespace, name } if namespace == "acme-secrets" && name == "nope"),
        "{err:?}"
    );
    assert_eq!(err.metric_label(), "secret_missing");
}

#[tokio::test]
async fn one_deploy_job_at_a_time_and_cancel_frees_the_namespace() {
    let (kit, client) = kit().await;
    seed_secrets(&client).await;
    let (sp, settings) = (spec(3), ClusterSettings::default());
    cluster::apply_kit(&client, &sp, &settings, &Credentials::default(), &[])
        .await
        .unwrap();
    kit.cluster()
        .on_job(Match::name("*-1"), JobBehaviour::forever());
    kit.cluster().on_job(
        Match::name("*-2"),
        JobBehaviour::succeed().creates(app_objects()),
    );

    let started = pr_pod::start(&client, &sp, 1, &settings).await.unwrap();
    assert!(started.created);
    let first = started.job;
    assert_eq!(first, "catalyst-deploy-0123456789ab-1");
    let again = pr_pod::start(&client, &sp, 1, &settings).await.unwrap();
    assert_eq!(
        (again.job.as_str(), again.created),
        (first.as_str(), false),
        "idempotent"
    );
    let created_again = pr_pod::create(&client, &sp, 1, &settings).await.unwrap();
    assert_eq!(
        (created_again.job.as_str(), created_again.created),
        (first.as_str(), false),
        "creating a Job that exists finds it"
    );
    // The Job it found comes back with its pods, so its outcome needs no second read.
    let found = again.existing.expect("the existing Job, as listed");
    assert_eq!(found.job.metadata.name.as_deref(), Some(first.as_str()));
    assert!(found.pods.iter().all(|p| {
        p.metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.kind == "Job" && o.name == first)
    }));
    assert_eq!(
        pr_pod::outcome_of(&client, "pr-web-3", &found.job, &found.pods, &settings)
            .await
            .unwrap(),
        pr_pod::outcome(&client, "pr-web-3", &first, &settings)
            .await
            .unwrap(),
    );
    let busy = pr_pod::start(&client, &sp, 2, &settings).await.unwrap_err();
    assert!(
        matches!(&busy, ClusterError::DeploymentInProgress { job, .. } if *job == first),
        "{busy:?}"
    );
    wait_outcome(&client, "pr-web-3", &first, |o| *o == JobOutcome::Running).await;

    let job = kit
        .cluster()
        .get("batch/v1", "Job", "pr-web-3", &first)
        .unwrap();
    assert_eq!(job["spec"]["backoffLimit"], 0);
    assert_eq!(
        job["spec"]["template"]["spec"]["serviceAccountName"],
        "catalyst-deployer"
    );

    assert_eq!(
        pr_pod::cancel_active(&client, "pr-web-3", None)
            .await
            .unwrap(),
        vec![first.clone()]
    );
    wait_outcome(&client, "pr-web-3", &first, |o| *o == JobOutcome::Missing).await;
    pr_pod::cancel(&client, "pr-web-3", &first)
        .await
        .expect("cancelling twice is fine");

    let second = pr_pod::start(&client, &sp, 2, &settings).await.unwrap().job;
    wait_outcome(&client, "pr-web-3", &second, |o| {
        *o == JobOutcome::Succeeded
    })
    .await;
}

#[tokio::test]
async fn a_failed_job_reports_its_reason_and_last_log_lines() {
    let (kit, client) = kit().await;
    seed_secrets(&client).await;
    let (sp, settings) = (spec(4), ClusterSettings::default());
    cluster::apply_kit(&client, &sp, &settings, &Credentials::default(), &[])
        .await
        .unwrap();
    kit.cluster().on_job(
        Match::namespace("pr-web-4"),
        JobBehaviour::fail(1).logs([
            "Release \"preview\" does not exist.",
            "Error: chart not found",
        ]),
    );
    let job = pr_pod::start(&client, &sp, 1, &settings).await.unwrap().job;
    let outcome = wait_outcome(&client, "pr-web-4", &job, |o| {
        matches!(o, JobOutcome::Failed { .. })
    })
    .await;
    let JobOutcome::Failed { reason, logs } = outcome else {
        unreachable!()
    };
    assert!(reason.starts_with("BackoffLimitExceeded"), "{reason}");
    assert!(reason.contains("exit code 1"), "{reason}");
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert!(logs[0].lines.contains("Error: chart not found"), "{logs:?}");
}

#[tokio::test]
async fn an_unschedulable_deploy_pod_is_a_capacity_problem() {
    let (kit, client) = kit().await;
    seed_secrets(&client).await;
    let (sp, settings) = (spec(5), ClusterSettings::default());
    cluster::apply_kit(&client, &sp, &settings, &Credentials::default(), &[])
        .await
        .unwrap();
    kit.cluster().set_node_capacity("100m", "64Mi", 110);
    let job = pr_pod::start(&client, &sp, 1, &settings).await.unwrap().job;
    let outcome = wait_outcome(&client, "pr-web-5", &job, |o| {
        matches!(o, JobOutcome::CapacityBlocked { .. })
    })
    .await;
    let JobOutcome::CapacityBlocked { reason } = outcome else {
        unreachable!()
    };
    assert!(reason.contains("Insufficient"), "{reason}");
}

#[tokio::test]
async fn health_passes_after_rollout_and_fails_with_the_failing_check() {
    let (kit, client) = kit().await;
    seed_secrets(&client).await;
    let (sp, settings) = (spec(6), ClusterSettings::default());
    cluster::apply_kit(&client, &sp, &settings, &Credentials::default(), &[])
        .await
        .unwrap();
    kit.cluster().on_job(
        Match::namespace("pr-web-6"),
        JobBehaviour::succeed().creates(app_objects()),
    );
    let job = pr_pod::start(&client, &sp, 1, &settings).await.unwrap().job;
    wait_outcome(&client, "pr-web-6", &job, |o| *o == JobOutcome::Succeeded).await;

    let report = health::check_with(&client, "pr-web-6", "/healthz", &fast(5_000))
        .await
        .unwrap();
    assert!(report.is_healthy(), "{report:?}");
    assert_eq!(
        report.outcome,
        HealthOutcome::Healthy {
            service: "web".to_owned(),
            port: "80".to_owned()
        }
    );

    kit.cluster().set_service_response(
        "pr-web-6",
        "web",
        ProxyResponse {
            status: 503,
            content_type: "text/plain".into(),
            body: "database unreachable".into(),
        },
    );
    // A probe client without kube's retries sees the application's own 503.
    let config = kube::Config::new(kit.kube_url().parse().unwrap());
    let opts = HealthOptions {
        probe_client: Some(probe::probe_client(config).unwrap()),
        ..fast(300)
    };
    let report = health::check_with(&client, "pr-web-6", "/healthz", &opts)
        .await
        .unwrap();
    let HealthOutcome::Failed { check, message } = &report.outcome else {
        panic!("{report:?}")
    };
    assert_eq!(*check, FailedCheck::HttpProbe);
    assert!(
        message.contains("503") && message.contains("database unreachable"),
        "{message}"
    );
    assert!(
        !report.logs.is_empty(),
        "logs of the application pods are attached"
    );

    // The main client retries 503s for minutes; the probe timeout bounds each attempt.
    let opts = HealthOptions {
        probe_timeout: Duration::from_millis(200),
        ..fast(300)
    };
    let started = std::time::Instant::now();
    let report = health::check_with(&client, "pr-web-6", "/healthz", &opts)
        .await
        .unwrap();
    let HealthOutcome::Failed { check, message } = &report.outcome else {
        panic!("{report:?}")
    };
    assert_eq!(*check, FailedCheck::HttpProbe);
    assert!(message.contains("no answer within"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[tokio::test]
async fn crash_looping_pods_fail_readiness_with_their_logs() {
    let (kit, client) = kit().await;
    seed_secrets(&client).await;
    let (sp, settings) = (spec(7), ClusterSettings::default());
    cluster::apply_kit(&client, &sp, &settings, &Credentials::default(), &[])
        .await
        .unwrap();
    kit.cluster().on_workload(
        Match::namespace("pr-web-7"),
        WorkloadBehaviour::crash_loop(1, ["panic: missing DATABASE_URL"]),
    );
    kit.cluster().on_job(
        Match::namespace("pr-web-7"),
        JobBehaviour::succeed().creates(app_objects()),
    );
    let job = pr_pod::start(&client, &sp, 1, &settings).await.unwrap().job;
    wait_outcome(&client, "pr-web-7", &job, |o| *o == JobOutcome::Succeeded).await;

    let report = health::check_with(&client, "pr-web-7", "/healthz", &fast(1_500))
        .await
        .unwrap();
    let HealthOutcome::Failed { check, .. } = &report.outcome else {
        panic!("{report:?}")
    };
    assert!(
        matches!(check, FailedCheck::Rollout | FailedCheck::PodsReady),
        "{check:?}"
    );
    assert!(
        report
            .logs
            .iter()
            .any(|l| l.lines.contains("panic: missing DATABASE_URL")),
        "{:?}",
        report.logs
    );
}

#[tokio::test]
async fn deleted_namespaces_terminate_then_vanish_and_drift_lists_managed_ones() {
    let (kit, client) = kit().await;
    seed_secrets(&client).await;
    let settings = ClusterSettings::default();
    kit.cluster()
        .set_namespace_deletion_delay(Duration::from_millis(300));
    for pr in [8, 9] {
        cluster::apply_kit(&client, &spec(pr), &settings, &Credentials::default(), &[])
            .await
            .unwrap();
    }
    let mut managed = namespaces::list_managed(&client).await.unwrap();
    managed.sort_by(|a, b| a.name.cmp(&b.name));
    let names: Vec<_> = managed.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        ["pr-web-8", "pr-web-9"],
        "unmanaged namespaces are not listed"
    );
    assert_eq!(managed[0].pr_number, Some(8));
    assert_eq!(managed[0].repository.as_deref(), Some("acme.web"));
    assert_eq!(managed[0].repository_full_name.as_deref(), Some("Acme/Web"));
    assert_eq!(managed[0].head_sha.as_deref(), Some(SHA));

    assert_eq!(
        namespaces::state(&client, "pr-web-8").await.unwrap(),
        NamespaceState::Active
    );
    assert_eq!(
        namespaces::delete(&client, "pr-web-8").await.unwrap(),
        NamespaceState::Terminating
    );
    assert_eq!(
        namespaces::state(&client, "pr-web-8").await.unwrap(),
        NamespaceState::Terminating
    );
    let err = cluster::apply_kit(&client, &spec(8), &settings, &Credentials::default(), &[])
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClusterError::NamespaceTerminating { .. }) || err.metric_label() == "api",
        "{err:?}"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while namespaces::state(&client, "pr-web-8").await.unwrap() != NamespaceState::Absent {
        assert!(
            tokio::time::Instant::now() < deadline,
            "namespace never went away"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        namespaces::delete(&client, "pr-web-8").await.unwrap(),
        NamespaceState::Absent
    );
    let recreated = cluster::apply_kit(&client, &spec(8), &settings, &Credentials::default(), &[])
        .await
        .unwrap();
    assert!(
        recreated.namespace_created,
        "a namespace made again after deletion is new"
    );
}

#[tokio::test]
async fn logs_can_be_tailed_followed_and_pods_summarised() {
    let (kit, client) = kit().await;
    seed_secrets(&client).await;
    let (sp, settings) = (spec(10), ClusterSettings::default());
    cluster::apply_kit(&client, &sp, &settings, &Credentials::default(), &[])
        .await
        .unwrap();
    kit.cluster().on_job(
        Match::namespace("pr-web-10"),
        JobBehaviour::succeed()
            .after(Duration::from_millis(300))
            .logs(["one", "two", "three"]),
    );
    let job = pr_pod::start(&client, &sp, 1, &settings).await.unwrap().job;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let pod = loop {
        let pods = logs::list_pods(&client, "pr-web-10").await.unwrap();
        if let Some(p) = pods.into_iter().find(|p| p.phase == "Running") {
            break p;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no running deploy pod"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(pod.name.starts_with(&job), "{}", pod.name);
    assert!(pod.containers.iter().any(|c| c.name == "deploy" && !c.init));

    let query = logs::LogQuery {
        container: Some("deploy".to_owned()),
        ..logs::LogQuery::default()
    };
    let stream = logs::follow(&client, "pr-web-10", &pod.name, &query)
        .await
        .unwrap();
    let lines: Vec<String> = tokio::time::timeout(Duration::from_secs(5), stream.try_collect())
        .await
        .expect("the stream ends with the container")
        .unwrap();
    assert_eq!(lines, ["one", "two", "three"]);
    let tail = logs::tail(
        &client,
        "pr-web-10",
        &pod.name,
        &logs::LogQuery {
            tail_lines: Some(1),
            ..query
        },
    )
    .await
    .unwrap();
    assert_eq!(tail.trim_end(), "three");
}
