//! The dashboard's pieces of the store on both databases: sessions (tower-sessions on
//! SeaORM), redeploy and delete requests, the overview and the metrics summary.

use catalyst_server::store::operator_requests;
use catalyst_server::web::DbSessionStore;
use tower_sessions::cookie::time::{Duration, OffsetDateTime};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::SessionStore;

use crate::both_backends;
use crate::support::{Backend, fixture, start};

both_backends!(
    sessions_are_stored_updated_expired_and_deleted,
    redeploy_and_delete_requests_are_recorded,
    the_overview_lists_environments_without_a_cluster,
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
