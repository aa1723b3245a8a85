//! `/healthz`, `/readyz` and the dashboard page being mounted.

use crate::both_backends;
use crate::support::{Backend, Options, start, start_with};

both_backends!(
    healthz_and_readyz_report_what_catalyst_can_reach,
    readyz_is_503_while_migrations_are_pending,
    the_dashboard_is_served_at_the_root,
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
    let res = s.http.get(s.url("/")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("<html"), "{html}");
    s.finish().await;
}
