//! The simulated cluster: Jobs with logs (and `follow`), Helm steps that create objects,
//! Deployments that become Ready or crash-loop, unschedulable pods, quota and limit ranges,
//! the service proxy, pod metrics, and fault injection.

use std::time::Duration;

use catalyst_testkit::kube::ProxyResponse;
use catalyst_testkit::{JobBehaviour, Match, Outage, WorkloadBehaviour};
use futures::{AsyncBufReadExt, StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, LimitRange, Pod, ResourceQuota, Service};
use kube::api::{Api, ListParams, LogParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;

use crate::{api_error, eventually, kit};

fn job(name: &str) -> Job {
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"backoffLimit": 0, "template": {"spec": {
        "restartPolicy": "Never", "containers": [{"name": "helm", "image": "alpine/helm:3.16"}]}}}}))
    .unwrap()
}

fn job_done(j: &Job, kind: &str) -> bool {
    j.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == kind && c.status == "True"))
}

#[tokio::test]
async fn job_runs_streams_logs_and_creates_what_helm_installs() {
    let kit = kit().await;
    let web = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 1,
        "selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "web:1"}]}}}});
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "protocol": "TCP"}]}});
    kit.cluster().on_job(
        Match::name("deploy-*"),
        JobBehaviour::succeed()
            .after(Duration::from_millis(400))
            .logs([
                "Release \"web\" does not exist. Installing it now.",
                "STATUS: deployed",
            ])
            .creates(vec![web, svc]),
    );
    let client = kit.kube_client().unwrap();
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let created = jobs
        .create(&PostParams::default(), &job("deploy-1"))
        .await
        .unwrap();
    let sel = created
        .spec
        .unwrap()
        .selector
        .unwrap()
        .match_labels
        .unwrap();
    assert!(sel.contains_key("batch.kubernetes.io/controller-uid"));

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod = eventually(2, "a running job pod", || async {
        let list = pods
            .list(&ListParams::default().labels("job-name=deploy-1"))
            .await
            .unwrap();
        list.items
            .into_iter()
            .find(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
    })
    .await;
    let name = pod.metadata.name.clone().unwrap();
    assert_eq!(pod.metadata.owner_references.unwrap()[0].kind, "Job");
    let mut lines = pods
        .log_stream(
            &name,
            &LogParams {
                follow: true,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .lines();
    let mut got = Vec::new();
    while let Some(l) = tokio::time::timeout(Duration::from_secs(3), lines.try_next())
        .await
        .expect("the follow ends when the container ends")
        .unwrap()
    {
        got.push(l);
    }
    assert_eq!(
        got,
        vec![
            "Release \"web\" does not exist. Installing it now.",
            "STATUS: deployed"
        ]
    );
    eventually(2, "job complete", || async {
        job_done(&jobs.get("deploy-1").await.unwrap(), "Complete").then_some(())
    })
    .await;
    let tail = pods
        .logs(
            &name,
            &LogParams {
                tail_lines: Some(1),
                timestamps: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(tail.trim_end().ends_with("Z STATUS: deployed"), "{tail}");

    let deps: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let dep = eventually(3, "the installed deployment ready", || async {
        let d = deps.get_opt("web").await.unwrap()?;
        (d.status.as_ref()?.available_replicas == Some(1)).then_some(d)
    })
    .await;
    let conds = dep.status.unwrap().conditions.unwrap();
    assert!(conds.iter().any(|c| c.type_.as_deref() == Some("Available") && c.status.as_deref() == Some("True")));
    assert!(
        Api::<Service>::namespaced(client, "default")
            .get_opt("web")
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn failing_job_reports_failed_and_logs_before_start_are_refused() {
    let kit = kit().await;
    kit.cluster().on_job(
        "default/migrate",
        JobBehaviour::fail(2)
            .pending(Duration::from_millis(300))
            .logs(["Error: UPGRADE FAILED"]),
    );
    let client = kit.kube_client().unwrap();
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    jobs.create(&PostParams::default(), &job("migrate"))
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let pod = eventually(2, "job pod", || async {
        pods.list(&ListParams::default().labels("job-name=migrate"))
            .await
            .unwrap()
            .items
            .into_iter()
            .next()
    })
    .await;
    let e = api_error(
        pods.logs(&pod.metadata.name.clone().unwrap(), &LogParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 400);
    assert!(
        e.message.contains("is waiting to start: ContainerCreating"),
        "{}",
        e.message
    );
    let j = eventually(3, "job failed", || async {
        let j = jobs.get("migrate").await.unwrap();
        job_done(&j, "Failed").then_some(j)
    })
    .await;
    let status = j.status.unwrap();
    assert_eq!(status.failed, Some(1));
    let job_events = kit.cluster().list("v1", "Event", Some("default"));
    assert!(
        job_events
            .iter()
            .any(|e| e["reason"] == "BackoffLimitExceeded"
                && e["type"] == "Warning"
                && e["involvedObject"]["name"] == "migrate")
    );
    let failed = status
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Failed")
        .unwrap();
    assert_eq!(failed.reason.as_deref(), Some("BackoffLimitExceeded"));
    let p = pods.get(&pod.metadata.name.unwrap()).await.unwrap();
    let term = p.status.unwrap().container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(term.exit_code, 2);
}

fn deployment(name: &str, cpu: &str) -> Deployment {
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "app", "image": "app:1",
            "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}, "limits": {"cpu": cpu, "memory": "64Mi"}}}]}}}}))
    .unwrap()
}

#[tokio::test]
async fn crash_loops_and_unschedulable_pods() {
    let kit = kit().await;
    kit.cluster().on_workload(
        "crashy",
        WorkloadBehaviour::crash_loop(1, ["panic: config missing"]),
    );
    kit.cluster().set_node_capacity("1", "8Gi", 110);
    let client = kit.kube_client().unwrap();
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "default");
    deps.create(&PostParams::default(), &deployment("crashy", "100m"))
        .await
        .unwrap();
    deps.create(&PostParams::default(), &deployment("huge", "2"))
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let crashing = eventually(3, "CrashLoopBackOff", || async {
        pods.list(&ListParams::default().labels("app=crashy"))
            .await
            .unwrap()
            .items
            .into_iter()
            .find(|p| {
                p.status
                    .as_ref()
                    .and_then(|s| s.container_statuses.as_ref())
                    .is_some_and(|cs| {
                        cs.iter().any(|c| {
                            c.state
                                .as_ref()
                                .and_then(|s| s.waiting.as_ref())
                                .and_then(|w| w.reason.as_deref())
                                == Some("CrashLoopBackOff")
                        })
                    })
            })
    })
    .await;
    let crash_name = crashing.metadata.name.clone().unwrap();
    let logs = pods.logs(&crash_name, &LogParams::default()).await.unwrap();
    assert_eq!(logs, "panic: config missing\n");
    let previous = eventually(2, "a previous instance", || async {
        pods.logs(
            &crash_name,
            &LogParams {
                previous: true,
                ..Default::default()
            },
        )
        .await
        .ok()
    })
    .await;
    assert_eq!(previous, "panic: config missing\n");
    let pending = eventually(2, "Unschedulable", || async {
        pods.list(&ListParams::default().labels("app=huge"))
            .await
            .unwrap()
            .items
            .into_iter()
            .find_map(|p| {
                p.status?.conditions?.into_iter().find(|c| {
                    c.type_ == "PodScheduled" && c.reason.as_deref() == Some("Unschedulable")
                })
            })
    })
    .await;
    assert!(
        pending
            .message
            .unwrap()
            .starts_with("0/1 nodes are available: 1 Insufficient cpu.")
    );

    // The Warning events a diagnostics page would show.
    let events: Api<Event> = Api::namespaced(kit.kube_client().unwrap(), "default");
    let warnings = eventually(2, "warning events", || async {
        let list = events
            .list(&ListParams::default().fields("type=Warning"))
            .await
            .unwrap()
            .items;
        let reasons: Vec<String> = list.iter().filter_map(|e| e.reason.clone()).collect();
        (reasons.contains(&"BackOff".to_string())
            && reasons.contains(&"FailedScheduling".to_string()))
        .then_some(list)
    })
    .await;
    let backoff = warnings
        .iter()
        .find(|e| e.reason.as_deref() == Some("BackOff"))
        .unwrap();
    assert!(
        backoff
            .message
            .as_deref()
            .unwrap()
            .starts_with("Back-off restarting failed container app in pod crashy-")
    );
    assert_eq!(backoff.involved_object.kind.as_deref(), Some("Pod"));
}

#[tokio::test]
async fn deployment_rollout_replaces_the_replica_set() {
    let kit = kit().await;
    let client = kit.kube_client().unwrap();
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "default");
    deps.create(&PostParams::default(), &deployment("web", "100m"))
        .await
        .unwrap();
    let rs_api: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let first = eventually(2, "first replica set", || async {
        rs_api
            .list(&ListParams::default().labels("app=web"))
            .await
            .unwrap()
            .items
            .into_iter()
            .next()
    })
    .await;
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}}});
    deps.patch(
        "web",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Strategic(patch),
    )
    .await
    .unwrap();
    let pods: Api<Pod> = Api::namespaced(client, "default");
    eventually(3, "rolled out", || async {
        let s = deps.get("web").await.unwrap().status?;
        let sets = rs_api
            .list(&ListParams::default().labels("app=web"))
            .await
            .unwrap()
            .items;
        let old = sets
            .iter()
            .find(|r| r.metadata.name == first.metadata.name)?;
        let images: Vec<String> = pods
            .list(&ListParams::default().labels("app=web"))
            .await
            .unwrap()
            .items
            .iter()
            .filter_map(|p| p.spec.as_ref()?.containers[0].image.clone())
            .collect();
        let done = s.observed_generation == Some(2)
            && s.available_replicas == Some(1)
            && old.spec.replicas == Some(0)
            && sets.len() == 2
            && images == vec!["app:2".to_string()];
        done.then_some(())
    })
    .await;
}

#[tokio::test]
async fn quota_admission_and_limit_range_defaults() {
    let kit = kit().await;
    let client = kit.kube_client().unwrap();
    let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), "default");
    quotas.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "preview"}, "spec": {"hard": {"limits.cpu": "1", "pods": "5"}}})).unwrap()).await.unwrap();
    let limits: Api<LimitRange> = Api::namespaced(client.clone(), "default");
    limits.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "defaults"}, "spec": {"limits": [{"type": "Container", "default": {"cpu": "250m"}, "defaultRequest": {"cpu": "100m"}}]}})).unwrap()).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let small: Pod = serde_json::from_value(json!({"metadata": {"name": "small"}, "spec": {"containers": [{"name": "app", "image": "app:1"}]}})).unwrap();
    let p = pods.create(&PostParams::default(), &small).await.unwrap();
    let res = p.spec.unwrap().containers[0].resources.clone().unwrap();
    assert_eq!(res.limits.unwrap()["cpu"].0, "250m");
    assert_eq!(res.requests.unwrap()["cpu"].0, "100m");
    let big: Pod = serde_json::from_value(json!({"metadata": {"name": "big"}, "spec": {"containers": [{"name": "app", "image": "app:1", "resources": {"limits": {"cpu": "2"}}}]}})).unwrap();
    let e = api_error(pods.create(&PostParams::default(), &big).await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        e.message,
        "pods \"big\" is forbidden: exceeded quota: preview, requested: limits.cpu=2, used: limits.cpu=250m, limited: limits.cpu=1"
    );
    let used = eventually(2, "quota status", || async {
        let q = quotas.get("preview").await.unwrap();
        q.status?
            .used
            .filter(|u| u.get("pods").is_some_and(|p| p.0 == "1"))
    })
    .await;
    assert_eq!(used["limits.cpu"].0, "250m");
}

#[tokio::test]
async fn service_proxy_and_pod_metrics() {
    let kit = kit().await;
    let client = kit.kube_client().unwrap();
    let svcs: Api<Service> = Api::namespaced(client.clone(), "default");
    svcs.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "protocol": "TCP"}]}})).unwrap()).await.unwrap();
    let get = |path: &str| {
        http::Request::get(path.to_string())
            .body(Vec::new())
            .unwrap()
    };
    // kube would retry a 503 with back-off, so look at this one with a plain client.
    let r = reqwest::get(format!(
        "{}/api/v1/namespaces/default/services/web:80/proxy/healthz",
        kit.kube_url()
    ))
    .await
    .unwrap();
    assert_eq!(r.status(), 503);
    let status: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        status["message"],
        "no endpoints available for service \"web\""
    );
    kit.cluster().set_service_response(
        "default",
        "web",
        ProxyResponse {
            status: 200,
            content_type: "text/plain".into(),
            body: "ok".into(),
        },
    );
    assert_eq!(
        client
            .request_text(get(
                "/api/v1/namespaces/default/services/web:80/proxy/healthz"
            ))
            .await
            .unwrap(),
        "ok"
    );

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "m"}, "spec": {"containers": [{"name": "app", "image": "app:1"}]}})).unwrap()).await.unwrap();
    eventually(2, "pod running", || async {
        (pods.get("m").await.unwrap().status?.phase.as_deref() == Some("Running")).then_some(())
    })
    .await;
    kit.cluster()
        .set_pod_metrics("default", "m", "app", "250m", "128Mi");
    let ar = kube::api::ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk("metrics.k8s.io", "v1beta1", "PodMetrics"),
        "pods",
    );
    let metrics: Api<kube::api::DynamicObject> = Api::namespaced_with(client, "default", &ar);
    let m = metrics.get("m").await.unwrap();
    assert_eq!(
        m.data["containers"][0]["usage"],
        json!({"cpu": "250m", "memory": "128Mi"})
    );
}

#[tokio::test]
async fn faults_fail_hang_and_refuse() {
    let kit = kit().await;
    let client = kit.kube_client().unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    kit.cluster().faults().fail_next(1, 500);
    let e = api_error(pods.list(&Default::default()).await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (500, "InternalError"));
    // kube retries 503 by itself: two failures, then the answer.
    kit.cluster().faults().fail_next(2, 503);
    pods.list(&Default::default()).await.unwrap();
    kit.cluster()
        .faults()
        .outage(Outage::Refuse, Duration::from_millis(300));
    let err = pods.list(&Default::default()).await.unwrap_err();
    assert!(
        !matches!(err, kube::Error::Api(_)),
        "a refused connection is not an API answer: {err:?}"
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    pods.list(&Default::default()).await.unwrap();
    kit.cluster()
        .faults()
        .outage(Outage::Hang, Duration::from_millis(300));
    let started = std::time::Instant::now();
    pods.list(&Default::default()).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "the request waited out the hang"
    );
    let statuses: Vec<u16> = kit
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v1/namespaces/default/pods")
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses[..4], [500, 503, 503, 200]);
}

#[tokio::test]
async fn statefulset_pods_come_up_in_order() {
    let kit = kit().await;
    let client = kit.kube_client().unwrap();
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    let sts: StatefulSet = serde_json::from_value(json!({"metadata": {"name": "db"}, "spec": {"replicas": 2, "serviceName": "db",
        "selector": {"matchLabels": {"app": "db"}}, "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "pg", "image": "postgres:17"}]}}}}))
    .unwrap();
    sets.create(&PostParams::default(), &sts).await.unwrap();
    eventually(3, "two ready replicas", || async {
        (sets.get("db").await.unwrap().status?.ready_replicas == Some(2)).then_some(())
    })
    .await;
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let mut names: Vec<String> = pods
        .list(&ListParams::default().labels("app=db"))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    names.sort();
    assert_eq!(names, vec!["db-0", "db-1"]);
    let db0 = kit.cluster().get("v1", "Pod", "default", "db-0").unwrap();
    let db1 = kit.cluster().get("v1", "Pod", "default", "db-1").unwrap();
    let created = |p: &serde_json::Value| {
        p["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    assert_eq!(
        db1["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"],
        "db-1"
    );
    assert!(created(&db0) > 0 && created(&db1) > 0);
}

#[tokio::test]
async fn latency_is_added_to_every_request() {
    let kit = kit().await;
    let pods: Api<Pod> = Api::namespaced(kit.kube_client().unwrap(), "default");
    pods.list(&Default::default()).await.unwrap();
    kit.cluster()
        .faults()
        .set_latency(Duration::from_millis(150));
    let started = std::time::Instant::now();
    pods.list(&Default::default()).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(150));
    kit.cluster().faults().clear();
    let started = std::time::Instant::now();
    pods.list(&Default::default()).await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(150), "cleared");
}

/// The simulated scheduler binds as the API server's `pods/binding` does: one update
/// that sets `spec.nodeName` and `PodScheduled` together, with no `managedFields` entry
/// of its own, so a watcher never sees a bound pod without its condition.
#[tokio::test]
async fn a_pod_is_bound_in_one_write_with_its_scheduled_condition() {
    let kit = kit().await;
    let client = kit.kube_client().unwrap();
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "solo"},
        "spec": {"containers": [{"name": "app", "image": "app:1"}]}}))
    .unwrap();
    let created = pods.create(&PostParams::default(), &pod).await.unwrap();
    let from = created.metadata.resource_version.clone().unwrap();
    let mut events = pods
        .watch(&WatchParams::default().fields("metadata.name=solo"), &from)
        .await
        .unwrap()
        .boxed();
    let first = tokio::time::timeout(Duration::from_secs(5), events.try_next())
        .await
        .expect("the pod is bound within 5 s")
        .unwrap()
        .expect("the watch stays open");
    let WatchEvent::Modified(bound) = first else {
        panic!("expected the binding's MODIFIED event, got {first:?}");
    };
    assert_eq!(
        bound.spec.as_ref().and_then(|s| s.node_name.as_deref()),
        Some("catalyst-testkit-node")
    );
    let scheduled = bound
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "PodScheduled"))
        .expect("PodScheduled is set by the binding itself");
    assert_eq!(scheduled.status, "True");
    let managers: Vec<_> = bound
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(
        !managers.iter().any(|m| m == "kube-scheduler"),
        "a binding records no manager: {managers:?}"
    );
}
