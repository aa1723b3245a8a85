//! The dashboard's pieces of the store on both databases: sessions (tower-sessions on
//! SeaORM), redeploy and delete requests, the overview (paged, last deployments, usage
//! from two cluster-wide lists) and the metrics summary (SQL aggregates).

use app::dto::{ClusterState, OverviewQuery, PAGE_SIZE, page_of};
use catalyst_server::store::entities::deployment;
use catalyst_server::store::operator_requests;
use catalyst_server::web::DbSessionStore;
use chrono::{TimeDelta, Utc};
use k8s_openapi::api::core::v1::ResourceQuota;
use kube::api::{Api, PostParams};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::json;
use tower_sessions::cookie::time::{Duration, OffsetDateTime};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::SessionStore;

use crate::both_backends;
use crate::support::{Backend, TestServer, fixture, start, start_with_cluster};

both_backends!(
    sessions_are_stored_updated_expired_and_deleted,
    redeploy_and_delete_requests_are_recorded,
    the_overview_lists_environments_without_a_cluster,
    the_overview_pages_sixty_environments,
    last_deploys_and_totals_are_counted_by_the_database,
);

async fn sessions_are_stored_updated_expired_and_deleted(b: Backend) {
    let s = start(b).await;
    let store = DbSessionStore::new(s.db().clone());
    let mut record = Record {
        id: Id::default(),
        data: [("user".to_owned(), serde_json::json!({"login": "octocat"}))].into(),
        expiry_date: OffsetDateTime::now_utc() + Duration::hours(1),
    };
    store.create(&mut record).await.unwrap();
    assert_eq!(
        store.load(&record.id).await.unwrap().unwrap().data,
        record.data
    );
    record
        .data
        .insert("csrf".to_owned(), serde_json::json!("token"));
    store.save(&record).await.unwrap();
    assert_eq!(store.load(&record.id).await.unwrap().unwrap().data.len(), 2);
    record.expiry_date = OffsetDateTime::now_utc() - Duration::minutes(1);
    store.save(&record).await.unwrap();
    assert!(store.load(&record.id).await.unwrap().is_none(), "expired");
    assert_eq!(store.delete_expired().await.unwrap(), 1);
    store.delete(&record.id).await.unwrap();
    s.finish().await;
}

async fn redeploy_and_delete_requests_are_recorded(b: Backend) {
    let s = start(b).await;
    s.configure("Codertocat/Hello-World").await;
    s.deliver("pull_request", &fixture("pull_request/opened.payload.json"))
        .await;
    let id = s.environments().await[0]["id"].as_str().unwrap().to_owned();
    let service = &s.state.service;

    assert!(service.redeploy_environment(&id, "octocat").await.unwrap());
    assert!(service.redeploy_environment(&id, "hubot").await.unwrap());
    let r = operator_requests::of(s.db(), &id).await.unwrap().unwrap();
    assert!(r.redeploy_requested_at.is_some());
    assert_eq!(r.redeploy_requested_by.as_deref(), Some("hubot"));
    assert!(r.delete_requested_at.is_none());

    assert!(service.delete_environment(&id, "octocat").await.unwrap());
    let r = operator_requests::of(s.db(), &id).await.unwrap().unwrap();
    assert!(r.delete_requested_at.is_some(), "delete recorded");
    assert!(
        r.redeploy_requested_at.is_some(),
        "the redeploy request is kept"
    );
    let env = service.environment_summary(&id).await.unwrap().unwrap();
    assert_eq!(env.status.as_str(), "deleting");
    // Redeploying an environment being deleted is refused.
    assert!(service.redeploy_environment(&id, "octocat").await.is_err());
    assert!(
        !service
            .delete_environment("no-such-id", "octocat")
            .await
            .unwrap()
    );
    s.finish().await;
}

async fn the_overview_lists_environments_without_a_cluster(b: Backend) {
    let s = start(b).await;
    s.configure("Codertocat/Hello-World").await;
    s.deliver("pull_request", &fixture("pull_request/opened.payload.json"))
        .await;
    let o = s.state.service.environments_overview().await.unwrap();
    assert_eq!(o.rows.len(), 1);
    assert_eq!(o.cluster, app::dto::ClusterState::NotConfigured);
    assert!(o.rows[0].usage.is_none());
    assert_eq!(o.totals.active_environments, 1);
    assert_eq!(o.totals.success_rate, None);
    let detail = s
        .state
        .service
        .list_deployments(&o.rows[0].env.id)
        .await
        .unwrap();
    assert!(detail.is_empty());
    s.finish().await;
}

async fn env_id(s: &TestServer, number: u64) -> String {
    let o = s.state.service.environments_overview().await.unwrap();
    o.rows
        .iter()
        .find(|r| r.env.pr_number == number)
        .unwrap_or_else(|| panic!("no environment for #{number}"))
        .env
        .id
        .clone()
}

fn attempt(
    env: &str,
    n: i32,
    phase: &str,
    queued_secs_ago: i64,
    took: Option<i64>,
) -> deployment::ActiveModel {
    let queued = Utc::now() - TimeDelta::seconds(queued_secs_ago);
    let finished = took.map(|t| queued + TimeDelta::seconds(t));
    deployment::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        environment_id: Set(env.to_owned()),
        attempt: Set(n),
        head_sha: Set("sha".into()),
        phase: Set(phase.into()),
        queued_at: Set(queued),
        provisioning_at: Set(None),
        deploying_at: Set(None),
        verifying_at: Set(None),
        finished_at: Set(finished),
        outcome: Set(None),
        error: Set(None),
        failed_check: Set(None),
        log_excerpt: Set(None),
        created_at: Set(queued),
        updated_at: Set(queued),
    }
}

async fn the_overview_pages_sixty_environments(b: Backend) {
    let s = start(b).await;
    s.configure("acme/web").await;
    s.configure("acme/api").await;
    for n in 1..=60 {
        s.open_pr(if n % 3 == 0 { "acme/api" } else { "acme/web" }, n)
            .await;
    }
    let o = s.state.service.environments_overview().await.unwrap();
    assert_eq!(o.rows.len(), 60);
    let first = page_of(&o, &OverviewQuery::default());
    assert_eq!((first.page, first.pages, first.matching), (1, 2, 60));
    assert_eq!(first.rows.len(), PAGE_SIZE);
    assert_eq!(first.repositories, vec!["acme/api", "acme/web"]);
    let second = page_of(
        &o,
        &OverviewQuery {
            page: 2,
            ..OverviewQuery::default()
        },
    );
    assert_eq!(second.rows.len(), 10);
    let shown: std::collections::HashSet<&str> = first
        .rows
        .iter()
        .chain(&second.rows)
        .map(|r| r.env.id.as_str())
        .collect();
    assert_eq!(shown.len(), 60, "the two pages hold every environment once");
    let api = page_of(
        &o,
        &OverviewQuery::from_params(|k| (k == "repo").then(|| "acme/api".to_owned())),
    );
    assert_eq!((api.matching, api.pages), (20, 1));
    assert!(api.rows.iter().all(|r| r.env.repository == "acme/api"));
    s.finish().await;
}

async fn last_deploys_and_totals_are_counted_by_the_database(b: Backend) {
    let s = start(b).await;
    s.configure("acme/web").await;
    for n in 1..=3 {
        s.open_pr("acme/web", n).await;
    }
    let (one, two) = (env_id(&s, 1).await, env_id(&s, 2).await);
    // #1: failed after 100 s, succeeded after 30 s, a third attempt still queued.
    attempt(&one, 1, "failed", 500, Some(100))
        .insert(s.db())
        .await
        .unwrap();
    attempt(&one, 2, "succeeded", 300, Some(30))
        .insert(s.db())
        .await
        .unwrap();
    attempt(&one, 3, "queued", 10, None)
        .insert(s.db())
        .await
        .unwrap();
    // #2: one attempt deploying.
    attempt(&two, 1, "deploying", 20, None)
        .insert(s.db())
        .await
        .unwrap();
    let o = s.state.service.environments_overview().await.unwrap();
    let secs = |n: u64| {
        o.rows
            .iter()
            .find(|r| r.env.pr_number == n)
            .unwrap()
            .last_deployment_secs
    };
    assert_eq!(secs(1), Some(30), "the newest finished attempt");
    assert_eq!((secs(2), secs(3)), (None, None), "nothing finished yet");
    let t = &o.totals;
    assert_eq!(t.active_environments, 3);
    assert_eq!((t.queue_length, t.deployments_in_flight), (1, 1));
    assert_eq!(t.success_rate, Some(0.5));
    assert_eq!(t.p50_deployment_secs, Some(30.0));

    // p50/p95 are over the most recent 1,000 successful attempts: 1,000 quick ones
    // finished after 100 older slow ones, which no longer count (over all 1,100 the p95
    // would be a slow one).
    let three = env_id(&s, 3).await;
    let slow: Vec<deployment::ActiveModel> = (0..100)
        .map(|i| {
            attempt(
                &three,
                10 + i,
                "succeeded",
                100_000 + i64::from(i),
                Some(900),
            )
        })
        .collect();
    deployment::Entity::insert_many(slow)
        .exec(s.db())
        .await
        .unwrap();
    for chunk in (0..1_000).collect::<Vec<i32>>().chunks(200) {
        let quick: Vec<deployment::ActiveModel> = chunk
            .iter()
            .map(|i| {
                attempt(
                    &three,
                    200 + i,
                    "succeeded",
                    5_000 - i64::from(*i),
                    Some(12),
                )
            })
            .collect();
        deployment::Entity::insert_many(quick)
            .exec(s.db())
            .await
            .unwrap();
    }
    let t = s.state.service.get_metrics_summary().await.unwrap();
    assert_eq!(t.p95_deployment_secs, Some(12.0), "{t:?}");
    assert_eq!(t.p50_deployment_secs, Some(12.0), "{t:?}");
    assert_eq!(
        s.state
            .service
            .last_deployment_secs(std::slice::from_ref(&three))
            .await
            .unwrap()[&three],
        12
    );
    s.finish().await;
}

/// Usage of every environment comes from one cluster-wide list of pod metrics and one of
/// Catalyst's ResourceQuotas, however many environments there are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_of_all_environments_takes_two_cluster_wide_lists() {
    let (kit, s) = start_with_cluster(Backend::Sqlite).await;
    s.configure("acme/web").await;
    for n in 1..=3 {
        s.open_pr("acme/web", n).await;
    }
    let client = kit.kube_client().unwrap();
    crate::api_v1::running_pod(&client, "pr-web-1", "web-0").await;
    crate::api_v1::running_pod(&client, "pr-web-2", "web-0").await;
    kit.cluster()
        .set_pod_metrics("pr-web-1", "web-0", "app", "300m", "100Mi");
    kit.cluster()
        .set_pod_metrics("pr-web-1", "web-0", "sidecar", "100m", "28Mi");
    kit.cluster()
        .set_pod_metrics("pr-web-2", "web-0", "app", "900m", "64Mi");
    let quota = |name: &str, ns: &str, cpu: &str, managed: bool| -> ResourceQuota {
        let labels = if managed {
            json!({ "app.kubernetes.io/managed-by": "catalyst" })
        } else {
            json!({})
        };
        serde_json::from_value(json!({
            "metadata": { "name": name, "namespace": ns, "labels": labels },
            "spec": { "hard": { "limits.cpu": cpu, "limits.memory": "1Gi" } }
        }))
        .unwrap()
    };
    for (name, ns, cpu, managed) in [
        ("preview-quota", "pr-web-1", "2", true),
        ("preview-quota", "pr-web-2", "1", true),
        // Somebody else's quota is not Catalyst's: not read, not shown.
        ("team-quota", "pr-web-2", "100", false),
    ] {
        Api::<ResourceQuota>::namespaced(client.clone(), ns)
            .create(&PostParams::default(), &quota(name, ns, cpu, managed))
            .await
            .unwrap();
    }

    let before = kit.cluster().requests().len();
    let o = s.state.service.environments_overview().await.unwrap();
    let usage_requests: Vec<String> = kit.cluster().requests()[before..]
        .iter()
        .filter(|r| r.path.contains("metrics.k8s.io") || r.path.contains("resourcequotas"))
        .map(|r| format!("{} {}?{}", r.method, r.path, r.query))
        .collect();
    assert_eq!(o.cluster, ClusterState::Connected);
    assert_eq!(usage_requests.len(), 2, "{usage_requests:?}");
    assert!(
        usage_requests
            .iter()
            .any(|r| r.starts_with("GET /apis/metrics.k8s.io/v1beta1/pods?")),
        "{usage_requests:?}"
    );
    assert!(
        usage_requests
            .iter()
            .any(|r| r.starts_with("GET /api/v1/resourcequotas?")
                && r.contains("labelSelector=app.kubernetes.io%2Fmanaged-by%3Dcatalyst")),
        "{usage_requests:?}"
    );
    let usage = |n: u64| {
        o.rows
            .iter()
            .find(|r| r.env.pr_number == n)
            .unwrap()
            .usage
            .clone()
            .expect("usage is known")
    };
    let one = usage(1);
    assert!((one.cpu.used - 0.4).abs() < 1e-9, "{one:?}");
    assert_eq!(one.memory.used, 128.0 * 1_048_576.0);
    assert_eq!(
        (one.cpu.limit, one.memory.limit),
        (Some(2.0), Some(1_073_741_824.0))
    );
    let two = usage(2);
    assert_eq!(two.cpu.limit, Some(1.0), "Catalyst's quota, not the team's");
    assert_eq!(two.cpu.level(), app::dto::Level::Warning);
    let three = usage(3);
    assert_eq!(
        (three.cpu.used, three.cpu.limit),
        (0.0, None),
        "no pods, no quota yet"
    );
    // The environment page still reads its own namespace, with the same answer.
    assert_eq!(
        s.state.service.namespace_usage("pr-web-1").await,
        Some(one.clone())
    );
    // The next view (another viewer, the live feed's next tick) within FRESH_FOR uses
    // the same read: no list at all.
    let before = kit.cluster().requests().len();
    let again = s.state.service.environments_overview().await.unwrap();
    let relisted = kit.cluster().requests()[before..]
        .iter()
        .filter(|r| r.path.contains("metrics.k8s.io") || r.path.contains("resourcequotas"))
        .count();
    assert_eq!(relisted, 0);
    let first = again.rows.iter().find(|r| r.env.pr_number == 1).unwrap();
    assert_eq!(first.usage.as_ref(), Some(&one));
    s.finish().await;
}
