//! Dependencies that go away for a while — the Kubernetes API, GitHub, the database —
//! under a real `catalyst` process: meanwhile `/readyz` answers 503 and names what is
//! down; webhooks are accepted (or, without a database, refused with a 5xx so GitHub
//! delivers them again); afterwards everything converges and nothing is lost.

use std::time::Duration;

use catalyst_server::store::Db;
use catalyst_server::store::entities::preview_environment;
use catalyst_testkit::{Outage, TestKit};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::support::{
    FreshDb, Proxy, REPO, Replica, configure, deliver, open_pr, replica_env, start_kit, wait_until,
};

async fn status(db: &Db, n: u64) -> Option<String> {
    preview_environment::Entity::find()
        .filter(preview_environment::Column::PrNumber.eq(i64::try_from(n).unwrap()))
        .one(db)
        .await
        .ok()
        .flatten()
        .map(|e| e.status)
}

async fn wait_ready(db: &Db, n: u64, within: Duration) {
    wait_until(&format!("PR {n} ready"), within, || async {
        status(db, n).await.as_deref() == Some("ready")
    })
    .await;
}

/// The comment of PR `n` exists and names its namespace.
async fn wait_comment(kit: &TestKit, n: u64, within: Duration) {
    let bot = kit.github().bot_login();
    wait_until(&format!("PR {n}'s comment"), within, || async {
        let mine: Vec<_> = kit
            .github()
            .comments(REPO, n)
            .into_iter()
            .filter(|c| c.author == bot)
            .collect();
        mine.len() == 1 && mine[0].body.contains(&format!("pr-web-{n}"))
    })
    .await;
}

/// Polls `/readyz` until it answers 503 naming exactly `what` as down.
async fn wait_not_ready(r: &Replica, what: &str) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        let (code, body) = r.readyz().await;
        if code == 503 && body["down"] == serde_json::json!([what]) {
            return body;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("/readyz never said only {what} is down: {last}");
}

async fn wait_ready_again(r: &Replica) {
    let mut last = serde_json::Value::Null;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::time::Instant::now() < deadline {
        let (code, body) = r.readyz().await;
        if code == 200 {
            assert_eq!(body["down"], serde_json::json!([]));
            return;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("/readyz never recovered: {last}");
}

/// One replica with one ready environment (PR 1), on `database_url` (default: direct).
async fn one_replica(via_proxy: bool) -> (TestKit, FreshDb, Option<Proxy>, Replica, Db) {
    let kit = start_kit(Duration::from_millis(300)).await;
    let fresh = FreshDb::create().await;
    let proxy = if via_proxy {
        Some(Proxy::start("127.0.0.1:5432").await)
    } else {
        None
    };
    let url = proxy
        .as_ref()
        .map_or_else(|| fresh.url(), |p| fresh.url_via(p.addr));
    let env = replica_env(&kit, &url, &[]);
    let r = Replica::start("solo", &env).await;
    let db = fresh.connect().await;
    configure(&db).await;
    assert_eq!(deliver(&r, &open_pr(&kit, 1)).await, 200);
    wait_ready(&db, 1, Duration::from_secs(20)).await;
    wait_ready_again(&r).await;
    (kit, fresh, proxy, r, db)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kubernetes_outage_is_reported_and_waited_out() {
    let started = tokio::time::Instant::now();
    let (kit, fresh, _proxy, r, db) = one_replica(false).await;
    // The API server answers 503 to everything for a while.
    kit.cluster()
        .faults()
        .outage(Outage::Status(503), Duration::from_secs(6));
    let body = wait_not_ready(&r, "cluster").await;
    assert_eq!(body["cluster"]["status"], "unreachable");
    assert_eq!(body["database"]["ok"], true);
    // A pull request opened meanwhile is recorded at once...
    assert_eq!(deliver(&r, &open_pr(&kit, 2)).await, 200);
    assert_eq!(status(&db, 2).await.as_deref(), Some("pending"));
    // ...and deployed once the API is back; the first environment was never lost.
    wait_ready(&db, 2, Duration::from_secs(40)).await;
    assert_eq!(status(&db, 1).await.as_deref(), Some("ready"));
    wait_ready_again(&r).await;
    wait_comment(&kit, 2, Duration::from_secs(15)).await;
    eprintln!(
        "kubernetes outage test: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    drop(db);
    drop(r);
    fresh.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_github_outage_is_reported_and_caught_up_on() {
    let started = tokio::time::Instant::now();
    let (kit, fresh, _proxy, r, db) = one_replica(false).await;
    wait_comment(&kit, 1, Duration::from_secs(15)).await;
    // GitHub refuses connections for a while.
    kit.github()
        .faults()
        .outage(Outage::Refuse, Duration::from_secs(6));
    let body = wait_not_ready(&r, "github").await;
    assert_eq!(body["github"]["status"], "unreachable");
    // Webhooks come from GitHub's queue (or a redelivery) and are still recorded.
    assert_eq!(deliver(&r, &open_pr(&kit, 2)).await, 200);
    // Once GitHub is back: deployed, commented on, and ready again.
    wait_ready(&db, 2, Duration::from_secs(40)).await;
    wait_comment(&kit, 2, Duration::from_secs(30)).await;
    wait_comment(&kit, 1, Duration::from_secs(5)).await;
    wait_ready_again(&r).await;
    eprintln!(
        "github outage test: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    drop(db);
    drop(r);
    fresh.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_refuses_webhooks_until_it_is_back() {
    let started = tokio::time::Instant::now();
    let (kit, fresh, proxy, r, db) = one_replica(true).await;
    let proxy = proxy.unwrap();
    // The database goes away: every connection is cut, new ones fail.
    proxy.cut();
    let body = wait_not_ready(&r, "database").await;
    assert_eq!(body["database"]["ok"], false);
    // A webhook now cannot be recorded: 5xx, so GitHub delivers it again later.
    let d2 = open_pr(&kit, 2);
    let code = deliver(&r, &d2).await;
    assert!((500..600).contains(&code), "answered {code}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    proxy.restore();
    wait_ready_again(&r).await;
    // The redelivery is recorded and deployed; nothing before it was lost.
    assert_eq!(deliver(&r, &d2).await, 200);
    wait_ready(&db, 2, Duration::from_secs(30)).await;
    assert_eq!(status(&db, 1).await.as_deref(), Some("ready"));
    // Sessions ended by the server (a restart, a failover) are replaced too.
    assert!(fresh.terminate_sessions().await > 0);
    assert_eq!(deliver(&r, &open_pr(&kit, 3)).await, 200);
    wait_ready(&db, 3, Duration::from_secs(30)).await;
    wait_comment(&kit, 2, Duration::from_secs(15)).await;
    eprintln!(
        "database outage test: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    drop(db);
    drop(r);
    fresh.drop_db().await;
}
