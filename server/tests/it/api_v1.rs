//! `/api/v1` route by route over real HTTP: happy paths, missing/unknown tokens, viewer
//! tokens on operator routes, bad input (400/422), missing things (404) and conflicts
//! (409); logs against `catalyst-testkit`'s Kubernetes double; the OpenAPI document.

use catalyst_server::core::domain::Role;
use catalyst_server::store::entities::deployment;
use chrono::{TimeDelta, Utc};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, PostParams};
use sea_orm::{ActiveModelTrait, Set};
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::{Backend, TestServer, json_of, pr_payload, start, start_with_cluster};

both_backends!(
    every_route_needs_a_token_and_mutations_an_operator,
    the_openapi_document_describes_every_route,
    environments_are_filtered_and_paged,
    an_environment_is_created_for_a_known_open_pull_request,
    environments_are_shown_redeployed_and_deleted,
    deployments_are_listed_and_shown_with_phases,
    repositories_are_read_updated_validated_and_removed,
    the_metrics_summary_counts_outcomes,
    operators_manage_tokens,
);

/// Every route with a sample path, and whether it changes something.
const ROUTES: &[(&str, &str, bool)] = &[
    ("GET", "/api/v1/environments", false),
    ("POST", "/api/v1/environments", true),
    ("GET", "/api/v1/environments/x", false),
    ("DELETE", "/api/v1/environments/x", true),
    ("POST", "/api/v1/environments/x/redeploy", true),
    ("GET", "/api/v1/environments/x/deployments", false),
    ("GET", "/api/v1/environments/x/deployments/1", false),
    ("GET", "/api/v1/environments/x/logs", false),
    ("GET", "/api/v1/repositories", false),
    ("POST", "/api/v1/repositories", true),
    ("POST", "/api/v1/repositories/validate", false),
    ("GET", "/api/v1/repositories/a/b", false),
    ("PUT", "/api/v1/repositories/a/b", true),
    ("DELETE", "/api/v1/repositories/a/b", true),
    ("GET", "/api/v1/metrics/summary", false),
    ("GET", "/api/v1/tokens", true),
    ("POST", "/api/v1/tokens", true),
    ("DELETE", "/api/v1/tokens/x", true),
    ("GET", "/api/v1/log-level", false),
    ("PUT", "/api/v1/log-level", true),
];

async fn send(
    s: &TestServer,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let method: reqwest::Method = method.parse().unwrap();
    let mut req = s.http.request(method, s.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    json_of(req.send().await.unwrap()).await
}

fn assert_error_shape(body: &Value) {
    assert!(body["error"].is_string(), "{body}");
    assert!(body.get("detail").is_some(), "{body}");
}

async fn env_id(s: &TestServer, repo: &str, number: u64) -> String {
    s.environments()
        .await
        .into_iter()
        .find(|e| e["repository"] == repo && e["pr_number"] == number)
        .unwrap_or_else(|| panic!("no environment for {repo}#{number}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn every_route_needs_a_token_and_mutations_an_operator(b: Backend) {
    let s = start(b).await;
    let viewer = s.token("viewer", Role::Viewer).await;
    for (method, path, mutation) in ROUTES {
        let body = (*method != "GET" && *method != "DELETE").then(|| json!({}));
        for token in [None, Some("cat_not-a-token")] {
            let (status, reply) = send(&s, method, path, token, body.as_ref()).await;
            assert_eq!(status, 401, "{method} {path} -> {reply}");
            assert_error_shape(&reply);
        }
        let (status, reply) = send(&s, method, path, Some(&viewer), body.as_ref()).await;
        if *mutation {
            assert_eq!(status, 403, "{method} {path} -> {reply}");
            assert!(
                reply["error"].as_str().unwrap().contains("operator"),
                "{reply}"
            );
        } else {
            assert_ne!(status, 401, "{method} {path}");
            assert_ne!(status, 403, "{method} {path}");
        }
        if status >= 400 {
            assert_error_shape(&reply);
        }
    }
    // Revoked tokens stop working at once.
    let op = s.token("short-lived", Role::Operator).await;
    let (status, _) = send(&s, "GET", "/api/v1/environments", Some(&op), None).await;
    assert_eq!(status, 200);
    let (status, _) = send(&s, "DELETE", "/api/v1/tokens/short-lived", Some(&op), None).await;
    assert_eq!(status, 204);
    let (status, _) = send(&s, "GET", "/api/v1/environments", Some(&op), None).await;
    assert_eq!(status, 401);
    // A method the route does not have.
    let (status, reply) = send(&s, "PATCH", "/api/v1/environments", Some(&viewer), None).await;
    assert_eq!(status, 405);
    assert_error_shape(&reply);
    s.finish().await;
}

async fn the_openapi_document_describes_every_route(b: Backend) {
    let s = start(b).await;
    let (status, reply) = send(&s, "GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(status, 401, "{reply}");
    let viewer = s.token("viewer", Role::Viewer).await;
    let (status, doc) = send(&s, "GET", "/api/v1/openapi.json", Some(&viewer), None).await;
    assert_eq!(status, 200, "{doc}");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{doc}");
    let paths = doc["paths"].as_object().unwrap();
    for (method, path, _) in ROUTES {
        let template = path
            .replace(
                "/environments/x/deployments/1",
                "/environments/{id}/deployments/{attempt}",
            )
            .replace("/environments/x", "/environments/{id}")
            .replace("/repositories/a/b", "/repositories/{owner}/{name}")
            .replace("/tokens/x", "/tokens/{name}");
        let op = &paths
            .get(&template)
            .unwrap_or_else(|| panic!("{template} is not documented"))[method.to_lowercase()];
        assert!(op.is_object(), "{method} {template} is not documented");
        assert!(op["operationId"].is_string(), "{method} {template}");
        let responses = op["responses"].as_object().unwrap();
        assert!(responses.contains_key("401"), "{method} {template}");
        for (code, r) in responses {
            if code.starts_with('4') || code.starts_with('5') {
                assert_eq!(
                    r["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{method} {template} {code}"
                );
            }
        }
    }
    let list = &paths["/api/v1/environments"]["get"];
    let params: Vec<&str> = list["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for p in ["repository", "status", "pr_number", "limit", "offset"] {
        assert!(params.contains(&p), "{params:?}");
    }
    let logs = &paths["/api/v1/environments/{id}/logs"]["get"];
    let params: Vec<&str> = logs["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for p in ["id", "pod", "container", "tail_lines", "since", "follow"] {
        assert!(params.contains(&p), "{params:?}");
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "ErrorBody",
        "Environment",
        "EnvironmentPage",
        "Deployment",
        "CreateRepositoryRequest",
        "CreateEnvironmentRequest",
        "MetricsSummaryBody",
        "CreatedToken",
    ] {
        assert!(schemas.contains_key(name), "{name} missing");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    s.finish().await;
}

async fn environments_are_filtered_and_paged(b: Backend) {
    let s = start(b).await;
    let viewer = s.token("viewer", Role::Viewer).await;
    s.configure("acme/web").await;
    s.configure("acme/api").await;
    for n in 1..=3 {
        s.open_pr("acme/web", n).await;
    }
    s.open_pr("acme/api", 7).await;

    let (status, all) = send(&s, "GET", "/api/v1/environments", Some(&viewer), None).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["total"], 4);
    let item = &all["items"][0];
    for key in [
        "id",
        "repository",
        "pr_number",
        "namespace",
        "status",
        "url",
        "head_sha",
        "created_at",
        "updated_at",
    ] {
        assert!(item.get(key).is_some(), "{key} missing in {item}");
    }
    assert_eq!(item["warnings"], json!([]), "{item}");
    assert_eq!(item["usage"], Value::Null, "no cluster: {item}");

    let (_, web) = send(
        &s,
        "GET",
        "/api/v1/environments?repository=ACME/web",
        Some(&viewer),
        None,
    )
    .await;
    assert_eq!(web["total"], 3, "{web}");
    let (_, one) = send(
        &s,
        "GET",
        "/api/v1/environments?repository=acme/api&pr_number=7&status=pending",
        Some(&viewer),
        None,
    )
    .await;
    assert_eq!(one["total"], 1, "{one}");
    assert_eq!(one["items"][0]["namespace"], "pr-api-7");
    let (_, none) = send(
        &s,
        "GET",
        "/api/v1/environments?status=ready",
        Some(&viewer),
        None,
    )
    .await;
    assert_eq!(none["total"], 0);

    let (_, p1) = send(
        &s,
        "GET",
        "/api/v1/environments?limit=3",
        Some(&viewer),
        None,
    )
    .await;
    assert_eq!(
        (p1["items"].as_array().unwrap().len(), &p1["next_offset"]),
        (3, &json!(3))
    );
    let (_, p2) = send(
        &s,
        "GET",
        "/api/v1/environments?limit=3&offset=3",
        Some(&viewer),
        None,
    )
    .await;
    assert_eq!(p2["items"].as_array().unwrap().len(), 1);
    assert_eq!(p2["next_offset"], Value::Null);

    for (query, field) in [
        ("status=running", "status"),
        ("limit=0", "limit"),
        ("limit=9999", "limit"),
        ("offset=-1", "offset"),
        ("colour=red", "colour"),
    ] {
        let (status, body) = send(
            &s,
            "GET",
            &format!("/api/v1/environments?{query}"),
            Some(&viewer),
            None,
        )
        .await;
        assert_eq!(status, 422, "{query} -> {body}");
        assert_eq!(body["detail"]["field"], field, "{query} -> {body}");
    }
    s.finish().await;
}

async fn an_environment_is_created_for_a_known_open_pull_request(b: Backend) {
    let s = start(b).await;
    let op = s.token("ops", Role::Operator).await;
    // A pull request seen before its repository was configured has no environment.
    s.open_pr("acme/web", 4).await;
    let (status, body) = send(
        &s,
        "POST",
        "/api/v1/environments",
        Some(&op),
        Some(&json!({ "repository": "acme/web", "pr_number": 4 })),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("not configured"),
        "{body}"
    );
    s.configure("acme/web").await;

    let (status, body) = send(
        &s,
        "POST",
        "/api/v1/environments",
        Some(&op),
        Some(&json!({ "repository": "acme/web", "pr_number": 4 })),
    )
    .await;
    assert!(status == 201 || status == 200, "{body}");
    assert_eq!(body["created"], status == 201, "{body}");
    assert_eq!(body["environment"]["namespace"], "pr-web-4");
    assert_eq!(body["environment"]["status"], "pending");
    let id = body["environment"]["id"].as_str().unwrap().to_owned();

    // Deleted, then asked for again: wanted again and the delete request is gone.
    let (status, _) = send(
        &s,
        "DELETE",
        &format!("/api/v1/environments/{id}"),
        Some(&op),
        None,
    )
    .await;
    assert_eq!(status, 202);
    let (status, body) = send(
        &s,
        "POST",
        "/api/v1/environments",
        Some(&op),
        Some(&json!({ "repository": "acme/web", "pr_number": 4 })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["created"], false);
    assert_eq!(body["environment"]["id"], id.as_str());
    assert_eq!(body["environment"]["status"], "pending");
    let (_, detail) = send(
        &s,
        "GET",
        &format!("/api/v1/environments/{id}"),
        Some(&op),
        None,
    )
    .await;
    assert_eq!(detail["delete_requested_at"], Value::Null, "{detail}");

    // Unknown pull request: 404 saying what to do.
    let (status, body) = send(
        &s,
        "POST",
        "/api/v1/environments",
        Some(&op),
        Some(&json!({ "repository": "acme/web", "pr_number": 99 })),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("open the pull request"),
        "{body}"
    );
    assert_eq!(body["detail"]["field"], "pr_number");

    // Closed pull request: 409.
    let (status, _) = s
        .deliver(
            "pull_request",
            &pr_payload(
                "closed",
                "acme/web",
                4,
                "sha4",
                "2026-01-02T00:00:00Z",
                false,
            ),
        )
        .await;
    assert!(status < 300);
    let (status, body) = send(
        &s,
        "POST",
        "/api/v1/environments",
        Some(&op),
        Some(&json!({ "repository": "acme/web", "pr_number": 4 })),
    )
    .await;
    assert_eq!(status, 409, "{body}");

    // Bad input.
    for (request, field) in [
        (
            json!({ "repository": "acme", "pr_number": 4 }),
            "repository",
        ),
        (
            json!({ "repository": "acme/web", "pr_number": 0 }),
            "pr_number",
        ),
        (
            json!({ "repository": "acme/web", "pr_number": "4" }),
            "pr_number",
        ),
        (json!({ "repository": "acme/web" }), "pr_number"),
        (
            json!({ "repository": "acme/web", "pr_number": 4, "sha": "x" }),
            "sha",
        ),
    ] {
        let (status, body) = send(
            &s,
            "POST",
            "/api/v1/environments",
            Some(&op),
            Some(&request),
        )
        .await;
        assert_eq!(status, 422, "{request} -> {body}");
        assert_eq!(body["detail"]["field"], field, "{request} -> {body}");
    }
    let (status, body) = s
        .post_raw("/api/v1/environments", Some(&op), "{not json")
        .await;
    assert_eq!(status, 400, "{body}");
    s.finish().await;
}

async fn environments_are_shown_redeployed_and_deleted(b: Backend) {
    let s = start(b).await;
    let op = s.token("ops", Role::Operator).await;
    s.configure("acme/web").await;
    s.open_pr("acme/web", 5).await;
    let id = env_id(&s, "acme/web", 5).await;

    let (status, detail) = send(
        &s,
        "GET",
        &format!("/api/v1/environments/{id}"),
        Some(&op),
        None,
    )
    .await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["environment"]["id"], id.as_str());
    assert_eq!(detail["environment"]["head_sha"], "sha5");
    assert_eq!(detail["cluster"]["state"], "not_configured");
    assert!(
        detail["pr_url"]
            .as_str()
            .unwrap()
            .ends_with("/acme/web/pull/5")
    );

    for (method, path) in [
        ("GET", "/api/v1/environments/nope"),
        ("POST", "/api/v1/environments/nope/redeploy"),
        ("DELETE", "/api/v1/environments/nope"),
    ] {
        let (status, body) = send(&s, method, path, Some(&op), None).await;
        assert_eq!(status, 404, "{method} {path} -> {body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("list_environments"),
            "{body}"
        );
    }

    let (status, body) = send(
        &s,
        "POST",
        &format!("/api/v1/environments/{id}/redeploy"),
        Some(&op),
        None,
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["environment"]["id"], id.as_str());
    let (_, detail) = send(
        &s,
        "GET",
        &format!("/api/v1/environments/{id}"),
        Some(&op),
        None,
    )
    .await;
    assert!(detail["redeploy_requested_at"].is_string(), "{detail}");

    let (status, body) = send(
        &s,
        "DELETE",
        &format!("/api/v1/environments/{id}"),
        Some(&op),
        None,
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["environment"]["status"], "deleting");
    let (status, body) = send(
        &s,
        "POST",
        &format!("/api/v1/environments/{id}/redeploy"),
        Some(&op),
        None,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    // Without a cluster the logs say so.
    let (status, body) = send(
        &s,
        "GET",
        &format!("/api/v1/environments/{id}/logs"),
        Some(&op),
        None,
    )
    .await;
    assert_eq!(status, 503, "{body}");
    s.finish().await;
}

async fn insert_attempt(s: &TestServer, env: &str, attempt: i32, phase: &str) {
    let now = Utc::now();
    let queued = now - TimeDelta::seconds(100);
    let failed = phase == "failed";
    deployment::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        environment_id: Set(env.to_owned()),
        attempt: Set(attempt),
        head_sha: Set("sha6".into()),
        phase: Set(phase.into()),
        queued_at: Set(queued),
        provisioning_at: Set(Some(queued + TimeDelta::seconds(10))),
        deploying_at: Set(Some(queued + TimeDelta::seconds(20))),
        verifying_at: Set(Some(queued + TimeDelta::seconds(60))),
        finished_at: Set(Some(now)),
        outcome: Set(Some(if failed { "health" } else { "succeeded" }.into())),
        error: Set(failed.then(|| "readiness probe failed".to_owned())),
        failed_check: Set(failed.then(|| "deployment/web".to_owned())),
        log_excerpt: Set(failed.then(|| "boom".to_owned())),
        created_at: Set(queued),
        updated_at: Set(now),
    }
    .insert(s.db())
    .await
    .unwrap();
}

async fn deployments_are_listed_and_shown_with_phases(b: Backend) {
    let s = start(b).await;
    let viewer = s.token("viewer", Role::Viewer).await;
    s.configure("acme/web").await;
    s.open_pr("acme/web", 6).await;
    let id = env_id(&s, "acme/web", 6).await;
    insert_attempt(&s, &id, 1, "failed").await;
    insert_attempt(&s, &id, 2, "succeeded").await;

    let base = format!("/api/v1/environments/{id}/deployments");
    let (status, page) = send(&s, "GET", &base, Some(&viewer), None).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 2);
    assert_eq!(page["items"][0]["attempt"], 2, "newest first: {page}");
    let (_, page) = send(
        &s,
        "GET",
        &format!("{base}?limit=1&offset=1"),
        Some(&viewer),
        None,
    )
    .await;
    assert_eq!(page["items"][0]["attempt"], 1);

    let (status, one) = send(&s, "GET", &format!("{base}/1"), Some(&viewer), None).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["phase"], "failed");
    assert_eq!(one["error"], "readiness probe failed");
    assert_eq!(one["failed_check"], "deployment/web");
    assert_eq!(one["log_excerpt"], "boom");
    assert_eq!(one["duration_seconds"], 100);
    let phases: Vec<&str> = one["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phase"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["queued", "provisioning", "deploying", "verifying"]);
    assert_eq!(one["phases"][2]["seconds"], 40);

    let (status, body) = send(&s, "GET", &format!("{base}/9"), Some(&viewer), None).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = send(&s, "GET", &format!("{base}/first"), Some(&viewer), None).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["detail"]["field"], "attempt");
    let (status, _) = send(
        &s,
        "GET",
        "/api/v1/environments/nope/deployments",
        Some(&viewer),
        None,
    )
    .await;
    assert_eq!(status, 404);
    s.finish().await;
}

async fn repositories_are_read_updated_validated_and_removed(b: Backend) {
    let s = start(b).await;
    let op = s.token("ops", Role::Operator).await;
    let viewer = s.token("viewer", Role::Viewer).await;
    s.configure("acme/web").await;

    let (status, repo) = send(
        &s,
        "GET",
        "/api/v1/repositories/ACME/web",
        Some(&viewer),
        None,
    )
    .await;
    assert_eq!(status, 200, "{repo}");
    assert_eq!(repo["full_name"], "acme/web");
    let (status, _) = send(
        &s,
        "GET",
        "/api/v1/repositories/acme/nope",
        Some(&viewer),
        None,
    )
    .await;
    assert_eq!(status, 404);

    let (status, page) = send(
        &s,
        "GET",
        "/api/v1/repositories?limit=1",
        Some(&viewer),
        None,
    )
    .await;
    assert_eq!((status, &page["total"]), (200, &json!(1)), "{page}");

    // Update: full_name may be left out; other fields replace the stored ones.
    let (status, updated) = send(
        &s,
        "PUT",
        "/api/v1/repositories/acme/web",
        Some(&op),
        Some(&json!({ "health_path": "/healthz", "chart": { "path": "charts/web" } })),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["health_path"], "/healthz");
    assert_eq!(updated["chart"]["path"], "charts/web");
    assert_eq!(updated["id"], repo["id"]);
    for (path, body, code) in [
        (
            "/api/v1/repositories/acme/nope",
            json!({ "health_path": "/" }),
            404,
        ),
        (
            "/api/v1/repositories/acme/web",
            json!({ "full_name": "acme/other" }),
            422,
        ),
        (
            "/api/v1/repositories/acme/web",
            json!({ "health_path": "x" }),
            422,
        ),
        ("/api/v1/repositories/acme/web", json!([1]), 422),
    ] {
        let (status, reply) = send(&s, "PUT", path, Some(&op), Some(&body)).await;
        assert_eq!(status, code, "{path} {body} -> {reply}");
        assert_error_shape(&reply);
    }

    // Validate without saving: viewers may check.
    let (status, v) = send(
        &s,
        "POST",
        "/api/v1/repositories/validate",
        Some(&viewer),
        Some(&json!({ "full_name": "acme/new" })),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["valid"], true);
    assert_eq!(v["exists"], false);
    assert_eq!(v["warnings"].as_array().unwrap().len(), 2, "{v}");
    let (_, v) = send(
        &s,
        "POST",
        "/api/v1/repositories/validate",
        Some(&viewer),
        Some(&json!({ "full_name": "acme/web", "chart": {"path": "c"}, "image_pattern": "r/web:{sha}" })),
    )
    .await;
    assert_eq!(
        (&v["exists"], v["warnings"].as_array().unwrap().len()),
        (&json!(true), 0)
    );
    let (status, v) = send(
        &s,
        "POST",
        "/api/v1/repositories/validate",
        Some(&viewer),
        Some(&json!({ "full_name": "acme/new", "quota": { "cpu": "lots" } })),
    )
    .await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["detail"]["field"], "quota.cpu");
    assert_eq!(s.count("repositories").await, 1);

    // Remove: refused while an environment exists.
    s.open_pr("acme/web", 8).await;
    let (status, body) = send(
        &s,
        "DELETE",
        "/api/v1/repositories/acme/web",
        Some(&op),
        None,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["detail"]["environments"].as_array().unwrap().len(), 1);
    s.configure("acme/empty").await;
    let (status, _) = send(
        &s,
        "DELETE",
        "/api/v1/repositories/acme/empty",
        Some(&op),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = send(
        &s,
        "DELETE",
        "/api/v1/repositories/acme/empty",
        Some(&op),
        None,
    )
    .await;
    assert_eq!(status, 404);
    s.finish().await;
}

async fn the_metrics_summary_counts_outcomes(b: Backend) {
    let s = start(b).await;
    let viewer = s.token("viewer", Role::Viewer).await;
    let (status, empty) = send(&s, "GET", "/api/v1/metrics/summary", Some(&viewer), None).await;
    assert_eq!(status, 200, "{empty}");
    assert_eq!(empty["success_rate"], Value::Null);
    s.configure("acme/web").await;
    s.open_pr("acme/web", 6).await;
    let id = env_id(&s, "acme/web", 6).await;
    insert_attempt(&s, &id, 1, "failed").await;
    insert_attempt(&s, &id, 2, "succeeded").await;
    let (_, m) = send(&s, "GET", "/api/v1/metrics/summary", Some(&viewer), None).await;
    assert_eq!(m["active_environments"], 1, "{m}");
    assert_eq!(m["success_rate"], 0.5, "{m}");
    assert_eq!(m["p50_deployment_secs"], 100.0, "{m}");
    assert_eq!(m["queue_length"], 0);
    s.finish().await;
}

async fn operators_manage_tokens(b: Backend) {
    let s = start(b).await;
    let op = s.token("ops", Role::Operator).await;
    let (status, created) = send(
        &s,
        "POST",
        "/api/v1/tokens",
        Some(&op),
        Some(&json!({ "name": "ci-bot" })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["role"], "viewer");
    let secret = created["token"].as_str().unwrap().to_owned();
    let (status, _) = send(&s, "GET", "/api/v1/repositories", Some(&secret), None).await;
    assert_eq!(status, 200);

    let (status, list) = send(&s, "GET", "/api/v1/tokens", Some(&op), None).await;
    assert_eq!(status, 200, "{list}");
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ops", "ci-bot"]);
    assert!(!list.to_string().contains(&secret), "secrets never listed");

    let (status, body) = send(
        &s,
        "POST",
        "/api/v1/tokens",
        Some(&op),
        Some(&json!({ "name": "ci-bot", "role": "operator" })),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    for (request, field) in [
        (json!({ "name": "has space" }), "name"),
        (json!({ "name": "x", "role": "admin" }), "role"),
        (json!({}), "name"),
    ] {
        let (status, body) = send(&s, "POST", "/api/v1/tokens", Some(&op), Some(&request)).await;
        assert_eq!(status, 422, "{request} -> {body}");
        assert_eq!(body["detail"]["field"], field, "{request} -> {body}");
    }
    let (status, _) = send(&s, "DELETE", "/api/v1/tokens/ci-bot", Some(&op), None).await;
    assert_eq!(status, 204);
    let (status, _) = send(&s, "DELETE", "/api/v1/tokens/ci-bot", Some(&op), None).await;
    assert_eq!(status, 404);
    let (status, _) = send(&s, "GET", "/api/v1/repositories", Some(&secret), None).await;
    assert_eq!(status, 401);
    s.finish().await;
}

// ---- logs against the Kubernetes double ---------------------------------------------------

/// Creates the environment's namespace and a pod with containers `app` and `sidecar`.
pub async fn running_pod(client: &kube::Client, namespace: &str, pod: &str) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let _ = namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({ "metadata": { "name": namespace } })).unwrap(),
        )
        .await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    pods.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "metadata": { "name": pod },
            "spec": { "containers": [
                { "name": "app", "image": "web:1" },
                { "name": "sidecar", "image": "proxy:1" }
            ] }
        }))
        .unwrap(),
    )
    .await
    .unwrap();
    // Wait for the simulated kubelet to start both containers (it starts their logs).
    for _ in 0..100 {
        let p = pods.get(pod).await.unwrap();
        let running = p
            .status
            .and_then(|s| s.container_statuses)
            .is_some_and(|cs| {
                cs.len() == 2
                    && cs
                        .iter()
                        .all(|c| c.state.as_ref().is_some_and(|st| st.running.is_some()))
            });
        if running {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("pod {namespace}/{pod} did not start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_tailed_and_followed_from_the_cluster() {
    let (kit, s) = start_with_cluster(Backend::Sqlite).await;
    let viewer = s.token("viewer", Role::Viewer).await;
    s.configure("acme/web").await;
    s.open_pr("acme/web", 3).await;
    let id = env_id(&s, "acme/web", 3).await;
    let base = format!("/api/v1/environments/{id}/logs");

    let (status, body) = send(&s, "GET", &base, Some(&viewer), None).await;
    assert_eq!(status, 404, "no pods yet: {body}");
    assert!(
        body["error"].as_str().unwrap().contains("no pods"),
        "{body}"
    );

    let client = kit.kube_client().unwrap();
    running_pod(&client, "pr-web-3", "web-0").await;
    let lines: Vec<String> = (1..=20).map(|i| format!("line {i}")).collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    kit.cluster().append_log("pr-web-3", "web-0", "app", &refs);
    kit.cluster()
        .append_log("pr-web-3", "web-0", "sidecar", &["proxy up"]);

    let (status, tail) = send(&s, "GET", &base, Some(&viewer), None).await;
    assert_eq!(status, 200, "{tail}");
    assert_eq!(
        (&tail["pod"], &tail["container"]),
        (&json!("web-0"), &json!("app"))
    );
    assert_eq!(tail["lines"].as_array().unwrap().len(), 20, "{tail}");
    let (_, tail) = send(
        &s,
        "GET",
        &format!("{base}?container=sidecar&tail_lines=5&since=10m"),
        Some(&viewer),
        None,
    )
    .await;
    assert_eq!(tail["lines"], json!(["proxy up"]), "{tail}");
    let (_, tail) = send(
        &s,
        "GET",
        &format!("{base}?tail_lines=2"),
        Some(&viewer),
        None,
    )
    .await;
    assert_eq!(tail["lines"], json!(["line 19", "line 20"]), "{tail}");

    for (query, status_code, field) in [
        ("tail_lines=0", 422, "tail_lines"),
        ("tail_lines=abc", 422, "tail_lines"),
        ("since=soon", 422, "since"),
        ("container=db", 404, "container"),
        ("pod=web-9", 404, "pod"),
    ] {
        let (status, body) = send(&s, "GET", &format!("{base}?{query}"), Some(&viewer), None).await;
        assert_eq!(status, status_code, "{query} -> {body}");
        assert_eq!(body["detail"]["field"], field, "{query} -> {body}");
    }

    // Follow: the tail first, then lines as they are written.
    let res = s
        .http
        .get(s.url(&format!("{base}?follow=true&tail_lines=1")))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let mut stream = res.bytes_stream();
    use futures::StreamExt;
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut appended = false;
    while !seen.contains("live line") {
        let next = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("the followed log delivers lines in time");
        let Some(chunk) = next else { break };
        seen.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        if seen.contains("line 20") && !appended {
            kit.cluster()
                .append_log("pr-web-3", "web-0", "app", &["live line"]);
            appended = true;
        }
    }
    assert!(seen.starts_with("line 20\n"), "{seen}");
    assert!(seen.contains("live line\n"), "{seen}");
    s.finish().await;
}
