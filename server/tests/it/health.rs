//! `/healthz`, `/readyz` and the dashboard page being mounted.

use crate::both_backends;
use crate::support::{Backend, Options, start, start_with};

both_backends!(
    healthz_and_readyz_report_what_catalyst_can_reach,
    readyz_is_503_while_migrations_are_pending,
    the_dashboard_is_served_at_the_root,
    an_unreachable_cluster_is_reported_and_not_ready,
    migrations_roll_back_and_reapply_cleanly,
);

async fn healthz_and_readyz_report_what_catalyst_can_reach(b: Backend) {
    let s = start(b).await;
    let (status, body) = s.get("/healthz", None).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let (status, body) = s.get("/readyz", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["database"]["ok"], true);
    assert_eq!(body["database"]["migrations_applied"], true);
    assert_eq!(body["cluster"]["status"], "not_configured");
    assert_eq!(body["github"]["webhook_secret_configured"], true);
    assert_eq!(body["github"]["app_configured"], false);
    s.finish().await;
}

async fn readyz_is_503_while_migrations_are_pending(b: Backend) {
    let s = start_with(
        b,
        Options {
            migrate: false,
            ..Options::default()
        },
    )
    .await;
    let (status, body) = s.get("/readyz", None).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["database"]["ok"], false);
    assert_eq!(body["status"], "not_ready");
    s.finish().await;
}

async fn the_dashboard_is_served_at_the_root(b: Backend) {
    let s = start(b).await;
    s.configure("Codertocat/Hello-World").await;
    s.deliver(
        "pull_request",
        &crate::support::fixture("pull_request/opened.payload.json"),
    )
    .await;
    // Server-side rendering goes through the same service layer as the API.
    let res = s.http.get(s.url("/")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("<html"), "{html}");
    assert!(html.contains("pr-hello-world-2"), "{html}");
    // So does the server function the page calls after hydration.
    let res = s
        .http
        .post(s.url("/api/list_environments"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let list: serde_json::Value = res.json().await.unwrap();
    assert_eq!(list["items"][0]["namespace"], "pr-hello-world-2");
    // Unknown pages are the dashboard's 404, not a crash, even without a built site.
    let res = s.http.get(s.url("/no/such/page")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 404);
    s.finish().await;
}

async fn an_unreachable_cluster_is_reported_and_not_ready(b: Backend) {
    // Port 1 on loopback: nothing listens there, the connection is refused at once.
    let s = start_with(
        b,
        Options {
            cluster_url: Some("http://127.0.0.1:1"),
            ..Options::default()
        },
    )
    .await;
    // Configured but unreachable: not ready, and the answer says what is down.
    let (status, body) = s.get("/readyz", None).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["cluster"]["status"], "unreachable");
    assert_eq!(body["down"], serde_json::json!(["cluster"]), "{body}");
    assert!(body["cluster"]["error"].is_string(), "{body}");
    // Everything else still works: the process is alive and serves.
    let (status, _) = s.get("/healthz", None).await;
    assert_eq!(status, 200);
    s.finish().await;
}

async fn migrations_roll_back_and_reapply_cleanly(b: Backend) {
    use migration::MigratorTrait;
    let s = start(b).await;
    migration::Migrator::down(s.db().writer(), None)
        .await
        .unwrap();
    assert_eq!(
        migration::Migrator::get_pending_migrations(s.db().writer())
            .await
            .unwrap()
            .len(),
        migration::Migrator::migrations().len()
    );
    migration::Migrator::up(s.db().writer(), None)
        .await
        .unwrap();
    assert_eq!(s.count("api_tokens").await, 0);
    s.finish().await;
}
