//! `POST /webhooks/github`: signatures, body cap, every real fixture, de-duplication,
//! ordering, unconfigured repositories and the reconciler wake-up.

use std::time::Duration;

use catalyst_server::core::signature;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::both_backends;
use crate::support::{
    Backend, Options, SECRET, fixture, fixtures_dir, json_of, pr_payload, start, start_with,
};

both_backends!(
    unsigned_and_badly_signed_deliveries_are_refused_and_not_stored,
    without_a_secret_the_endpoint_answers_503,
    oversized_bodies_are_refused_with_413,
    ping_answers_200,
    every_fixture_gets_the_right_outcome,
    malformed_json_with_a_valid_signature_is_400,
    a_redelivery_is_processed_once,
    older_snapshots_never_roll_a_pull_request_back,
    pull_requests_of_unconfigured_repositories_are_recorded,
    open_pull_requests_of_configured_repositories_get_pending_environments,
    only_base_changes_of_edited_count,
    applied_deliveries_wake_the_reconciler,
    concurrent_deliveries_for_one_new_pull_request_all_succeed,
    a_burst_gets_each_deliverys_outcome_and_a_bad_delivery_fails_alone,
    a_batch_applies_its_deliveries_in_order_or_none_of_them,
    a_batch_stores_what_recording_one_by_one_stores,
);

async fn unsigned_and_badly_signed_deliveries_are_refused_and_not_stored(b: Backend) {
    let s = start(b).await;
    let body = fixture("pull_request/opened.payload.json");
    let good = signature::sign(SECRET.as_bytes(), &body);
    let wrong = signature::sign(b"another secret", &body);
    let cases: Vec<(Option<(&str, String)>, &str)> = vec![
        (None, "missing X-Hub-Signature-256"),
        (
            Some(("x-hub-signature", "sha1=0123456789abcdef".into())),
            "sha1",
        ),
        (Some(("x-hub-signature-256", "sha1=0123".into())), "sha1"),
        (
            Some(("x-hub-signature-256", "sha256=nothex".into())),
            "malformed",
        ),
        (
            Some(("x-hub-signature-256", good[..20].to_owned())),
            "malformed",
        ),
        (Some(("x-hub-signature-256", wrong)), "does not match"),
    ];
    for (header, reason) in cases {
        let mut req = s
            .http
            .post(s.url("/webhooks/github"))
            .header("x-github-event", "pull_request")
            .header("x-github-delivery", s.fresh_delivery_id())
            .body(body.clone());
        if let Some((name, value)) = header {
            req = req.header(name, value);
        }
        let (status, json) = json_of(req.send().await.unwrap()).await;
        assert_eq!(status, 401, "{reason}: {json}");
        let error = json["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(reason),
            "{error:?} should mention {reason:?}"
        );
    }
    assert_eq!(s.count("webhook_deliveries").await, 0);
    assert_eq!(s.count("pull_requests").await, 0);
    s.finish().await;
}

async fn without_a_secret_the_endpoint_answers_503(b: Backend) {
    let s = start_with(
        b,
        Options {
            webhook_secret: None,
            ..Options::default()
        },
    )
    .await;
    let (status, json) = s.deliver("ping", &fixture("ping/payload.json")).await;
    assert_eq!(status, 503);
    assert!(
        json["error"]
            .as_str()
            .unwrap_or_default()
            .contains("CATALYST_GITHUB_WEBHOOK_SECRET"),
        "{json}"
    );
    s.finish().await;
}

async fn oversized_bodies_are_refused_with_413(b: Backend) {
    let s = start(b).await;
    // Announce one byte more than GitHub's cap; the server must refuse before reading.
    let addr = s.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let request = format!(
        "POST /webhooks/github HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         x-github-event: ping\r\nx-github-delivery: big\r\nx-hub-signature-256: sha256=00\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{{",
        25 * 1024 * 1024 + 1
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut response))
        .await
        .unwrap()
        .unwrap();
    let head = String::from_utf8_lossy(&response[..n]).to_string();
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");

    // A body at the cap is read (and then refused for its signature, not its size).
    let body = vec![b' '; 25 * 1024 * 1024];
    let res = s
        .http
        .post(s.url("/webhooks/github"))
        .header("x-github-event", "ping")
        .header("x-github-delivery", "at-cap")
        .header("x-hub-signature-256", "sha256=00")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
    assert_eq!(s.count("webhook_deliveries").await, 0);
    s.finish().await;
}

async fn ping_answers_200(b: Backend) {
    let s = start(b).await;
    let (status, json) = s.deliver("ping", &fixture("ping/payload.json")).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["outcome"], "ping");
    s.finish().await;
}

/// The outcome GitHub's real payloads must get.
fn expected_outcome(event: &str, action: Option<&str>) -> (u16, &'static str) {
    match (event, action) {
        ("ping", _) => (200, "ping"),
        (
            "pull_request",
            Some(
                "opened" | "reopened" | "synchronize" | "closed" | "ready_for_review"
                | "converted_to_draft" | "labeled" | "unlabeled",
            ),
        ) => (200, "applied"),
        _ => (202, "ignored"),
    }
}

async fn every_fixture_gets_the_right_outcome(b: Backend) {
    let s = start(b).await;
    let mut seen = 0;
    let mut events: Vec<_> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    events.sort();
    for dir in events {
        let event = dir.file_name().unwrap().to_string_lossy().to_string();
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for file in files {
            let body = std::fs::read(&file).unwrap();
            let payload: Value = serde_json::from_slice(&body).unwrap();
            let (want_status, want_outcome) = expected_outcome(&event, payload["action"].as_str());
            let (status, json) = s.deliver(&event, &body).await;
            // Fixtures share one PR; an older snapshot after a newer one is "stale", which
            // is also a correct, acknowledged outcome.
            let outcome = json["outcome"].as_str().unwrap_or_default();
            let ok = status == want_status
                && (outcome == want_outcome || (want_outcome == "applied" && outcome == "stale"));
            assert!(
                ok,
                "{}: got {status} {json}, want {want_status} {want_outcome}",
                file.display()
            );
            seen += 1;
        }
    }
    assert!(
        seen >= 40,
        "only {seen} fixtures found in {}",
        fixtures_dir().display()
    );
    assert_eq!(s.count("webhook_deliveries").await, seen);
    assert_eq!(s.count("pull_requests").await, 1);
    s.finish().await;
}

async fn malformed_json_with_a_valid_signature_is_400(b: Backend) {
    let s = start(b).await;
    for (event, body) in [
        ("pull_request", &b"{\"action\": \"opened\", "[..]),
        ("push", &b"not json"[..]),
        (
            "pull_request",
            &br#"{"action":"opened","pull_request":{"number":"x"}}"#[..],
        ),
    ] {
        let (status, json) = s.deliver(event, body).await;
        assert_eq!(status, 400, "{json}");
    }
    assert_eq!(s.count("webhook_deliveries").await, 0);
    s.finish().await;
}

async fn a_redelivery_is_processed_once(b: Backend) {
    let s = start(b).await;
    s.configure("Codertocat/Hello-World").await;
    let body = fixture("pull_request/opened.payload.json");
    let (first, json) = s.deliver_as("pull_request", "same-id", &body).await;
    assert_eq!((first, json["outcome"].as_str()), (200, Some("applied")));
    let (second, json) = s.deliver_as("pull_request", "same-id", &body).await;
    assert_eq!((second, json["outcome"].as_str()), (200, Some("duplicate")));
    // Even an ignored event keeps its id: replaying it changes nothing.
    let push = fixture("push/payload.json");
    assert_eq!(s.deliver_as("push", "push-id", &push).await.0, 202);
    assert_eq!(s.deliver_as("push", "push-id", &push).await.0, 200);
    assert_eq!(s.count("webhook_deliveries").await, 2);
    assert_eq!(s.count("pull_requests").await, 1);
    assert_eq!(s.environments().await.len(), 1);
    s.finish().await;
}

async fn older_snapshots_never_roll_a_pull_request_back(b: Backend) {
    let s = start(b).await;
    s.configure("acme/web").await;
    let newer = pr_payload(
        "synchronize",
        "acme/web",
        7,
        "bbbb",
        "2026-01-01T10:05:00Z",
        true,
    );
    let older = pr_payload(
        "opened",
        "acme/web",
        7,
        "aaaa",
        "2026-01-01T10:00:00Z",
        true,
    );
    assert_eq!(
        s.deliver("pull_request", &newer).await.1["outcome"],
        "applied"
    );
    let (status, json) = s.deliver("pull_request", &older).await;
    assert_eq!((status, json["outcome"].as_str()), (200, Some("stale")));
    let envs = s.environments().await;
    assert_eq!(envs.len(), 1);
    assert_eq!(envs[0]["head_sha"], "bbbb");

    // A late "opened" must not resurrect a closed PR either.
    let closed = pr_payload(
        "closed",
        "acme/web",
        7,
        "bbbb",
        "2026-01-01T10:10:00Z",
        false,
    );
    assert_eq!(
        s.deliver("pull_request", &closed).await.1["outcome"],
        "applied"
    );
    assert_eq!(
        s.deliver("pull_request", &older).await.1["outcome"],
        "stale"
    );
    assert!(s.environments().await.is_empty());

    // The same timestamp is applied (GitHub sends several events per second).
    let same = pr_payload(
        "reopened",
        "acme/web",
        7,
        "cccc",
        "2026-01-01T10:10:00Z",
        true,
    );
    assert_eq!(
        s.deliver("pull_request", &same).await.1["outcome"],
        "applied"
    );
    assert_eq!(s.environments().await[0]["head_sha"], "cccc");
    s.finish().await;
}

async fn pull_requests_of_unconfigured_repositories_are_recorded(b: Backend) {
    let s = start(b).await;
    let body = pr_payload(
        "opened",
        "stranger/app",
        3,
        "abc",
        "2026-01-01T00:00:00Z",
        true,
    );
    let (status, json) = s.deliver("pull_request", &body).await;
    assert_eq!((status, json["outcome"].as_str()), (200, Some("applied")));
    assert_eq!(s.count("pull_requests").await, 1);
    let unconfigured = s
        .count("pull_requests WHERE configured = false AND repository_key = 'stranger/app'")
        .await;
    assert_eq!(unconfigured, 1);
    assert!(s.environments().await.is_empty());

    // Configuring the repository later adopts the open PR.
    s.configure("stranger/app").await;
    let envs = s.environments().await;
    assert_eq!(envs.len(), 1);
    assert_eq!(envs[0]["namespace"], "pr-app-3");
    s.finish().await;
}

async fn open_pull_requests_of_configured_repositories_get_pending_environments(b: Backend) {
    let s = start(b).await;
    s.configure("Codertocat/Hello-World").await;
    let (status, _) = s
        .deliver("pull_request", &fixture("pull_request/opened.payload.json"))
        .await;
    assert_eq!(status, 200);
    let envs = s.environments().await;
    assert_eq!(envs.len(), 1);
    let env = &envs[0];
    assert_eq!(env["repository"], "Codertocat/Hello-World");
    assert_eq!(env["pr_number"], 2);
    assert_eq!(env["namespace"], "pr-hello-world-2");
    assert_eq!(env["status"], "pending");
    assert_eq!(env["url"], "https://pr-hello-world-2.preview.example.test");
    assert_eq!(env["head_sha"], "ec26c3e57ca3a959ca5aad62de7213c562f8c821");
    for key in ["id", "created_at", "updated_at"] {
        assert!(env[key].is_string(), "{key} missing in {env}");
    }

    s.deliver("pull_request", &fixture("pull_request/closed.payload.json"))
        .await;
    assert!(
        s.environments().await.is_empty(),
        "closed PRs are not listed"
    );
    assert_eq!(
        s.count("preview_environments").await,
        1,
        "the row stays for the engine"
    );

    let reopened = pr_payload(
        "reopened",
        "Codertocat/Hello-World",
        2,
        "ffff",
        "2030-01-01T00:00:00Z",
        true,
    );
    s.deliver("pull_request", &reopened).await;
    let envs = s.environments().await;
    assert_eq!(envs.len(), 1);
    assert_eq!(envs[0]["head_sha"], "ffff");
    assert_eq!(envs[0]["namespace"], "pr-hello-world-2");
    s.finish().await;
}

async fn only_base_changes_of_edited_count(b: Backend) {
    let s = start(b).await;
    let mut v: Value = serde_json::from_slice(&pr_payload(
        "edited",
        "acme/web",
        1,
        "a",
        "2026-01-01T00:00:00Z",
        true,
    ))
    .unwrap();
    v["changes"] = serde_json::json!({ "title": { "from": "old" } });
    let (status, json) = s
        .deliver("pull_request", &serde_json::to_vec(&v).unwrap())
        .await;
    assert_eq!((status, json["outcome"].as_str()), (202, Some("ignored")));
    v["changes"] = serde_json::json!({ "base": { "ref": { "from": "develop" } } });
    let (status, json) = s
        .deliver("pull_request", &serde_json::to_vec(&v).unwrap())
        .await;
    assert_eq!((status, json["outcome"].as_str()), (200, Some("applied")));
    s.finish().await;
}

async fn applied_deliveries_wake_the_reconciler(b: Backend) {
    let s = start(b).await;
    let signal = s.state.reconcile.clone();
    s.deliver("pull_request", &fixture("pull_request/opened.payload.json"))
        .await;
    tokio::time::timeout(Duration::from_secs(5), signal.notified())
        .await
        .expect("the reconciler was not woken");
    s.finish().await;
}

async fn concurrent_deliveries_for_one_new_pull_request_all_succeed(b: Backend) {
    let s = start(b).await;
    s.configure("acme/web").await;
    let t = "2026-03-01T00:00:00Z";
    let bodies: Vec<Vec<u8>> = (0..8)
        .map(|i| pr_payload("synchronize", "acme/web", 21, &format!("sha{i}"), t, true))
        .collect();
    let results =
        futures::future::join_all(bodies.iter().map(|b| s.deliver("pull_request", b))).await;
    for (status, json) in results {
        assert_eq!(status, 200, "{json}");
    }
    assert_eq!(s.count("webhook_deliveries").await, 8);
    assert_eq!(s.count("pull_requests").await, 1);
    assert_eq!(s.count("preview_environments").await, 1);
    assert_eq!(s.environments().await.len(), 1);
    s.finish().await;
}

/// Deliveries arriving together are committed together on SQLite (the intake's group
/// commit): each must still get its own outcome, and one the store refuses must fail
/// alone, with nothing of it kept.
async fn a_burst_gets_each_deliverys_outcome_and_a_bad_delivery_fails_alone(b: Backend) {
    let s = start(b).await;
    s.configure("acme/web").await;
    let t = "2026-03-01T00:00:00Z";
    let mut sends: Vec<(String, Vec<u8>)> = (1..=30)
        .map(|n| {
            let body = pr_payload("opened", "acme/web", n, &format!("sha{n}"), t, true);
            (s.fresh_delivery_id(), body)
        })
        .collect();
    // One delivery sent five times, and one whose number the store cannot hold.
    let again = pr_payload("opened", "acme/web", 31, "sha31", t, true);
    sends.extend((0..5).map(|_| ("the-same-delivery".to_owned(), again.clone())));
    let too_big = 1u64 << 63;
    let bad = pr_payload("opened", "acme/web", too_big, "bad", t, true);
    sends.push((s.fresh_delivery_id(), bad));

    let results = futures::future::join_all(
        sends
            .iter()
            .map(|(id, body)| s.deliver_as("pull_request", id, body)),
    )
    .await;
    let outcomes: Vec<(u16, Option<&str>)> = results
        .iter()
        .map(|(status, json)| (*status, json["outcome"].as_str()))
        .collect();
    for (i, outcome) in outcomes[..30].iter().enumerate() {
        assert_eq!(*outcome, (200, Some("applied")), "delivery {i}");
    }
    let mut repeated: Vec<_> = outcomes[30..35].to_vec();
    repeated.sort();
    assert_eq!(
        repeated,
        [
            (200, Some("applied")),
            (200, Some("duplicate")),
            (200, Some("duplicate")),
            (200, Some("duplicate")),
            (200, Some("duplicate")),
        ]
    );
    assert_eq!(results[35].0, 500, "{}", results[35].1);

    assert_eq!(s.count("webhook_deliveries").await, 31);
    assert_eq!(s.count("pull_requests").await, 31);
    assert_eq!(s.environments().await.len(), 31);
    s.finish().await;
}

/// The group commit's batch itself: in order, each delivery seeing the ones before it,
/// and all or nothing.
async fn a_batch_applies_its_deliveries_in_order_or_none_of_them(b: Backend) {
    use catalyst_server::core::webhook_event;
    use catalyst_server::store::intake::{Delivery, DeliveryOutcome};
    use catalyst_server::store::intake_batch;

    let s = start(b).await;
    s.configure("acme/web").await;
    let event = |body: &[u8]| webhook_event::parse("pull_request", body).unwrap();
    let opened = event(&pr_payload(
        "opened",
        "acme/web",
        1,
        "aaaa",
        "2026-03-01T00:00:00Z",
        true,
    ));
    let pushed = event(&pr_payload(
        "synchronize",
        "acme/web",
        1,
        "bbbb",
        "2026-03-01T00:05:00Z",
        true,
    ));
    let late = event(&pr_payload(
        "opened",
        "acme/web",
        1,
        "aaaa",
        "2026-03-01T00:00:00Z",
        true,
    ));
    let other = event(&pr_payload(
        "opened",
        "acme/web",
        2,
        "cccc",
        "2026-03-01T00:00:00Z",
        true,
    ));
    let bad = event(&pr_payload(
        "opened",
        "acme/web",
        1 << 63,
        "dddd",
        "2026-03-01T00:00:00Z",
        true,
    ));
    let d = |id: &'static str| Delivery {
        id,
        event: "pull_request",
    };

    // A failing delivery rolls back the whole batch, the good ones before it included.
    let failed =
        intake_batch::record_batch(s.db(), &[(d("x1"), &other), (d("x2"), &bad)], None).await;
    assert!(failed.is_err());
    assert_eq!(s.count("webhook_deliveries").await, 0);
    assert_eq!(s.count("pull_requests").await, 0);

    let outcomes = intake_batch::record_batch(
        s.db(),
        &[
            (d("a"), &opened),
            (d("b"), &pushed),
            (d("a"), &opened),
            (d("c"), &late),
            (d("x1"), &other),
        ],
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        outcomes,
        [
            DeliveryOutcome::Applied,
            DeliveryOutcome::Applied,
            DeliveryOutcome::Duplicate,
            DeliveryOutcome::Stale,
            DeliveryOutcome::Applied,
        ]
    );
    assert_eq!(s.count("webhook_deliveries").await, 4);
    // One environment per pull request: the push later in the batch found the one its
    // pull request's creation made, rather than making a second.
    assert_eq!(s.count("preview_environments").await, 2);
    let mut heads: Vec<String> = s
        .environments()
        .await
        .iter()
        .map(|e| e["head_sha"].as_str().unwrap().to_owned())
        .collect();
    heads.sort();
    assert_eq!(heads, ["bbbb", "cccc"]);
    s.finish().await;
}

/// The batch's appended rows (new deliveries and new pull requests, written with one
/// statement per table) and its one-by-one path together store exactly what recording
/// each delivery in its own transaction stores, whatever the mix: duplicates within the
/// batch and of stored deliveries, pull requests stored before the batch, created in it
/// and then updated, stale, closed, of unconfigured repositories, pings and ignored
/// events.
async fn a_batch_stores_what_recording_one_by_one_stores(b: Backend) {
    use catalyst_server::core::webhook_event::{self, WebhookEvent};
    use catalyst_server::store::intake::{self, Delivery, DeliveryOutcome};
    use catalyst_server::store::intake_batch;

    let event = |name: &str, body: &[u8]| webhook_event::parse(name, body).unwrap();
    let pr = |action: &str, repo: &str, n: u64, sha: &str, at: &str, open: bool| {
        event("pull_request", &pr_payload(action, repo, n, sha, at, open))
    };
    let t0 = "2026-03-01T00:00:00Z";
    let t1 = "2026-03-01T00:05:00Z";
    // An opening delivered as it happens (the others are redeliveries, months late).
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let before: Vec<(&str, WebhookEvent)> = vec![
        ("s1", pr("opened", "acme/web", 5, "5555", t0, true)),
        ("s2", pr("opened", "acme/web", 6, "6666", t0, true)),
        ("s3", pr("closed", "acme/web", 6, "6666", t1, false)),
    ];
    let batch: Vec<(&str, WebhookEvent)> = vec![
        ("b1", pr("opened", "acme/web", 1, "1111", t0, true)),
        ("b2", pr("opened", "acme/other", 2, "2222", t0, true)),
        ("b3", event("ping", br#"{"zen":"Design for failure."}"#)),
        (
            "b4",
            event(
                "issues",
                br#"{"action":"opened","repository":{"full_name":"acme/web"},"number":9}"#,
            ),
        ),
        ("b1", pr("opened", "acme/web", 1, "1111", t0, true)),
        ("b5", pr("opened", "acme/web", 3, "3333", t0, true)),
        ("b6", pr("synchronize", "acme/web", 1, "1112", t1, true)),
        ("b7", pr("opened", "acme/web", 1, "1111", t0, true)),
        ("s1", pr("opened", "acme/web", 5, "5555", t0, true)),
        ("b8", pr("synchronize", "acme/web", 5, "5556", t1, true)),
        ("b9", pr("closed", "acme/web", 4, "4444", t1, false)),
        (
            "b10",
            pr(
                "reopened",
                "acme/web",
                6,
                "6666",
                "2026-03-01T00:09:00Z",
                true,
            ),
        ),
        ("b11", pr("opened", "acme/web", 7, "7777", &now, true)),
        ("b12", pr("opened", "acme/other", 2, "2222", t0, true)),
    ];
    // The delivery `id` of `e`, under the event name GitHub gives it.
    fn d<'a>(id: &'a str, e: &WebhookEvent) -> Delivery<'a> {
        let event = match e {
            WebhookEvent::Ping => "ping",
            WebhookEvent::Ignored(_) => "issues",
            WebhookEvent::PullRequest(_) => "pull_request",
        };
        Delivery { id, event }
    }

    let one_by_one = start(b).await;
    let batched = start(b).await;
    let mut stored = Vec::new();
    for s in [&one_by_one, &batched] {
        s.configure("acme/web").await;
        for (id, e) in &before {
            intake::record(s.db(), d(id, e), e, Some("preview.example.com"))
                .await
                .unwrap();
        }
    }
    let mut expected = Vec::new();
    for (id, e) in &batch {
        expected.push(
            intake::record(one_by_one.db(), d(id, e), e, Some("preview.example.com"))
                .await
                .unwrap(),
        );
    }
    let deliveries: Vec<(Delivery<'_>, &WebhookEvent)> =
        batch.iter().map(|(id, e)| (d(id, e), e)).collect();
    let outcomes =
        intake_batch::record_batch(batched.db(), &deliveries, Some("preview.example.com"))
            .await
            .unwrap();
    assert_eq!(outcomes, expected);
    assert!(outcomes.contains(&DeliveryOutcome::Duplicate));
    assert!(outcomes.contains(&DeliveryOutcome::Stale));
    for s in [&one_by_one, &batched] {
        stored.push(stored_state(s).await);
    }
    assert_eq!(stored[0], stored[1]);
    assert_eq!(stored[0].len(), 3);
    assert_eq!(stored[0][1].len(), 7, "pull requests: {:?}", stored[0][1]);
    let seen: Vec<&String> = stored[0][1]
        .iter()
        .filter(|row| row.ends_with("seen opening"))
        .collect();
    assert!(
        seen.len() == 1 && seen[0].starts_with("acme/web | 7 |"),
        "only the timely opening: {seen:?}"
    );
    one_by_one.finish().await;
    batched.finish().await;
}

/// Every delivery, pull request and environment row of `s`, as text, without the ids and
/// times that differ between two recordings of the same deliveries.
async fn stored_state(s: &crate::support::TestServer) -> Vec<Vec<String>> {
    use sea_orm::ConnectionTrait;

    let queries = [
        "SELECT delivery_id, event, COALESCE(action, '-'), COALESCE(repository, '-'), \
         COALESCE(CAST(pr_number AS TEXT), '-'), outcome FROM webhook_deliveries",
        "SELECT repository_key, CAST(number AS TEXT), repository_full_name, title, head_sha, \
         head_ref, base_ref, author, CAST(is_fork AS TEXT), CAST(draft AS TEXT), labels, \
         state, CAST(merged AS TEXT), CAST(github_updated_at AS TEXT), \
         COALESCE(CAST(installation_id AS TEXT), '-'), CAST(configured AS TEXT), \
         CASE WHEN repository_id IS NULL THEN 'no repository' ELSE 'repository' END, \
         CASE WHEN config_missing_notified_at IS NULL THEN '-' ELSE 'notified' END, \
         CASE WHEN opened_by_webhook THEN 'seen opening' ELSE '-' END \
         FROM pull_requests",
        "SELECT p.repository_key, CAST(e.pr_number AS TEXT), e.namespace, \
         COALESCE(e.url, '-'), e.status, CAST(e.deletion_stuck AS TEXT), \
         CASE WHEN e.deleted_at IS NULL THEN '-' ELSE 'deleted' END \
         FROM preview_environments e JOIN pull_requests p ON p.id = e.pull_request_id",
    ];
    let backend = s.db().get_database_backend();
    let mut tables = Vec::new();
    for sql in queries {
        let rows = s
            .db()
            .query_all_raw(sea_orm::Statement::from_string(backend, sql))
            .await
            .unwrap();
        let mut lines: Vec<String> = rows
            .iter()
            .map(|row| {
                (0..)
                    .map_while(|i| row.try_get_by_index::<String>(i).ok())
                    .collect::<Vec<_>>()
                    .join(" | ")
            })
            .collect();
        lines.sort();
        tables.push(lines);
    }
    tables
}
