//! Webhook deliveries: signed, with GitHub's headers, shaped like the real fixtures, and
//! redeliverable, reorderable or droppable.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use catalyst_testkit::PrSpec;
use catalyst_testkit::github::signature;
use serde_json::Value;

use crate::kit;

type Received = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A stand-in for Catalyst's webhook endpoint that records what it gets.
pub async fn receiver() -> (String, Received) {
    let got: Received = Arc::default();
    async fn hook(State(got): State<Received>, headers: HeaderMap, body: Bytes) -> &'static str {
        got.lock().unwrap().push((headers, body));
        "ok"
    }
    let app = Router::new()
        .route("/webhooks/github", post(hook))
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhooks/github", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../../shared/fixtures/github-webhooks/pull_request/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[tokio::test]
async fn signed_deliveries_shaped_like_github() {
    let kit = kit().await;
    let (url, got) = receiver().await;
    let gh = kit.github();
    gh.set_webhook_target(&url, "s3cret");
    let opened = gh
        .open_pr("acme/web", PrSpec::new().number(3).fork().label("preview"))
        .unwrap();
    let pushed = gh.push("acme/web", 3, Some(&"b".repeat(40))).unwrap();
    let labeled = gh.label("acme/web", 3, "deploy").unwrap();
    let closed = gh.close("acme/web", 3, true).unwrap();

    // Reorder: push before open; drop: never send `labeled`; redeliver: `closed` twice.
    for d in [&pushed, &opened, &closed, &closed] {
        assert_eq!(gh.deliver(d).await.unwrap().status, 200);
    }
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 4);
    let (h, body) = &got[1];
    assert_eq!(h["x-github-event"], "pull_request");
    assert_eq!(h["x-github-delivery"], opened.id.as_str());
    assert!(
        h["user-agent"]
            .to_str()
            .unwrap()
            .starts_with("GitHub-Hookshot/")
    );
    assert_eq!(
        h["x-hub-signature-256"].to_str().unwrap(),
        signature("s3cret", body)
    );
    assert_eq!(
        got[2].0["x-github-delivery"], got[3].0["x-github-delivery"],
        "a redelivery keeps its GUID"
    );
    assert_ne!(got[0].0["x-github-delivery"], got[1].0["x-github-delivery"]);

    let payload: Value = serde_json::from_slice(body).unwrap();
    let real = fixture("opened.with-organization.payload.json");
    assert_eq!(payload["organization"]["login"], "acme");
    for k in keys(&real["organization"]) {
        assert!(
            payload["organization"].get(&k).is_some(),
            "organization lacks {k}"
        );
    }
    for k in keys(&real) {
        assert!(payload.get(&k).is_some(), "payload lacks top-level {k}");
    }
    for k in keys(&real["pull_request"]) {
        assert!(
            payload["pull_request"].get(&k).is_some(),
            "pull_request lacks {k}"
        );
    }
    for k in [
        "id",
        "name",
        "full_name",
        "private",
        "owner",
        "default_branch",
        "clone_url",
        "html_url",
    ] {
        assert!(
            payload["repository"].get(k).is_some(),
            "repository lacks {k}"
        );
    }
    assert_eq!(payload["action"], "opened");
    assert_eq!(
        payload["pull_request"]["head"]["repo"]["full_name"], "octocat/web",
        "fork head"
    );
    assert_eq!(payload["pull_request"]["labels"][0]["name"], "preview");
    assert_eq!(payload["installation"]["id"], gh.installation_id());

    let sync: Value = serde_json::from_slice(&got[0].1).unwrap();
    assert_eq!(sync["action"], "synchronize");
    assert_eq!(sync["after"], "b".repeat(40));
    assert_eq!(
        sync["before"],
        opened.payload()["pull_request"]["head"]["sha"]
    );
    assert_eq!(labeled.payload()["label"]["name"], "deploy");
    let closed_payload = closed.payload();
    assert_eq!(
        (
            closed_payload["pull_request"]["state"].as_str(),
            closed_payload["pull_request"]["merged"].as_bool()
        ),
        (Some("closed"), Some(true))
    );
    assert_eq!(gh.deliveries().len(), 4);
}
