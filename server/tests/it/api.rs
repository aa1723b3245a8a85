//! The JSON API: bearer auth and roles, repository configuration with its error
//! contract, and the environments list with the namespace rule.

use catalyst_server::core::domain::Role;
use serde_json::json;

use crate::both_backends;
use crate::support::{Backend, pr_payload, start};

both_backends!(
    requests_without_a_valid_token_are_401,
    viewers_may_read_but_not_configure,
    configuring_a_repository_answers_201_then_409,
    invalid_repository_bodies_name_the_field,
    unknown_api_paths_are_json_404,
    environments_list_one_item_per_open_pr_with_distinct_namespaces,
);

async fn requests_without_a_valid_token_are_401(b: Backend) {
    let s = start(b).await;
    for token in [None, Some("cat_unknown")] {
        let (status, body) = s.get("/api/v1/environments", token).await;
        assert_eq!(status, 401, "{body}");
        assert!(
            body["error"].is_string() && body.get("detail").is_some(),
            "{body}"
        );
    }
    let res = s
        .http
        .get(s.url("/api/v1/repositories"))
        .header("authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    let (status, _) = s
        .post("/api/v1/repositories", None, &json!({ "full_name": "a/b" }))
        .await;
    assert_eq!(status, 401);
    s.finish().await;
}

async fn viewers_may_read_but_not_configure(b: Backend) {
    let s = start(b).await;
    let viewer = s.token("dashboard-bot", Role::Viewer).await;
    let (status, body) = s.get("/api/v1/repositories", Some(&viewer)).await;
    assert_eq!(
        (status, body["items"].as_array().map(Vec::len)),
        (200, Some(0))
    );
    let (status, body) = s
        .post(
            "/api/v1/repositories",
            Some(&viewer),
            &json!({ "full_name": "acme/web" }),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("operator")
    );
    assert_eq!(body["detail"], serde_json::Value::Null);
    s.finish().await;
}

async fn configuring_a_repository_answers_201_then_409(b: Backend) {
    let s = start(b).await;
    let op = s.token("ops", Role::Operator).await;
    let request = json!({
        "full_name": "acme/web",
        "project": "storefront",
        "installation_id": 99,
        "chart": { "repo": "oci://registry.example/charts", "path": "charts/web", "version": "1.2.3" },
        "values": "replicaCount: 1\nimage:\n  pullPolicy: IfNotPresent\n",
        "values_files": ["values-preview.yaml"],
        "build": { "dockerfile": "Dockerfile", "context": "." },
        "health_path": "/healthz",
        "quota": { "cpu": "2", "memory": "4Gi", "pods": 20 },
        "secrets": ["db-credentials"],
        "secret_store_namespace": "preview-secrets",
        "required_label": "preview",
        "deploy_drafts": true,
        "fork_opt_in_label": "safe-to-deploy"
    });
    let (status, created) = s.post("/api/v1/repositories", Some(&op), &request).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["full_name"], "acme/web");
    assert_eq!(created["project"], "storefront");
    assert_eq!(created["namespace_slug"], "web");
    assert_eq!(created["chart"]["version"], "1.2.3");
    assert_eq!(created["quota"]["pods"], 20);
    assert_eq!(created["secrets"], json!(["db-credentials"]));
    assert_eq!(created["deploy_drafts"], true);
    assert!(created["id"].is_string());

    let (status, body) = s.post("/api/v1/repositories", Some(&op), &request).await;
    assert_eq!(status, 409, "{body}");
    // GitHub names are case-insensitive.
    let (status, _) = s
        .post(
            "/api/v1/repositories",
            Some(&op),
            &json!({ "full_name": "ACME/Web" }),
        )
        .await;
    assert_eq!(status, 409);

    let (status, list) = s.get("/api/v1/repositories", Some(&op)).await;
    assert_eq!(status, 200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["fork_opt_in_label"], "safe-to-deploy");
    s.finish().await;
}

async fn invalid_repository_bodies_name_the_field(b: Backend) {
    let s = start(b).await;
    let op = s.token("ops", Role::Operator).await;
    let (status, body) = s
        .post(
            "/api/v1/repositories",
            Some(&op),
            &json!({ "full_name": "not-a-repo" }),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        body,
        json!({"error": "invalid full_name", "detail": {"field": "full_name", "message": "expected owner/name"}})
    );
    let cases = [
        (json!({ "full_name": "a/b", "colour": "red" }), "colour"),
        (
            json!({ "full_name": "a/b", "quota": { "cpus": "1" } }),
            "quota.cpus",
        ),
        (
            json!({ "full_name": "a/b", "quota": { "cpu": "lots" } }),
            "quota.cpu",
        ),
        (
            json!({ "full_name": "a/b", "quota": { "pods": "x" } }),
            "quota.pods",
        ),
        (json!({ "full_name": "a/b", "values": "a: [1" }), "values"),
        (
            json!({ "full_name": "a/b", "health_path": "healthz" }),
            "health_path",
        ),
        (
            json!({ "full_name": "a/b", "image_pattern": "x:{sha}", "build": {"dockerfile": "D"} }),
            "image_pattern",
        ),
        (
            json!({ "full_name": "a/b", "secrets": ["Bad Name"], "secret_store_namespace": "s" }),
            "secrets",
        ),
        (json!({ "project": "x" }), "full_name"),
    ];
    for (request, field) in cases {
        let (status, body) = s.post("/api/v1/repositories", Some(&op), &request).await;
        assert_eq!(status, 422, "{request} -> {body}");
        assert_eq!(body["detail"]["field"], field, "{request} -> {body}");
        assert!(
            body["error"].as_str().unwrap_or_default().contains(field),
            "{body}"
        );
    }
    for bad in ["{\"full_name\": ", "[1,2", "{} trailing"] {
        let (status, body) = s.post_raw("/api/v1/repositories", Some(&op), bad).await;
        assert_eq!(status, 400, "{bad} -> {body}");
        assert_eq!(body["error"], "invalid JSON");
    }
    assert_eq!(s.count("repositories").await, 0);
    s.finish().await;
}

async fn unknown_api_paths_are_json_404(b: Backend) {
    let s = start(b).await;
    let op = s.token("ops", Role::Operator).await;
    let (status, body) = s.get("/api/v1/nothing-here", Some(&op)).await;
    assert_eq!(status, 404);
    assert!(body["error"].is_string(), "{body}");
    let res = s
        .http
        .put(s.url("/api/v1/environments"))
        .bearer_auth(&op)
        .send()
        .await
        .unwrap();
    let (status, body) = crate::support::json_of(res).await;
    assert_eq!(status, 405);
    assert!(body["error"].is_string(), "{body}");
    s.finish().await;
}

async fn environments_list_one_item_per_open_pr_with_distinct_namespaces(b: Backend) {
    let s = start(b).await;
    s.configure("org-a/web").await;
    s.configure("org-b/web").await;
    let long_a = format!("acme/{}-alpha", "service".repeat(8));
    let long_b = format!("acme/{}-beta", "service".repeat(8));
    s.configure(&long_a).await;
    s.configure(&long_b).await;
    let t = "2026-01-01T00:00:00Z";
    for repo in ["org-a/web", "org-b/web", long_a.as_str(), long_b.as_str()] {
        s.deliver(
            "pull_request",
            &pr_payload("opened", repo, 12, "s1", t, true),
        )
        .await;
    }
    s.deliver(
        "pull_request",
        &pr_payload("opened", "org-a/web", 13, "s2", t, true),
    )
    .await;
    s.deliver(
        "pull_request",
        &pr_payload(
            "closed",
            "org-a/web",
            13,
            "s2",
            "2026-01-02T00:00:00Z",
            false,
        ),
    )
    .await;
    s.deliver(
        "pull_request",
        &pr_payload("opened", "unconfigured/web", 12, "s3", t, true),
    )
    .await;

    let envs = s.environments().await;
    assert_eq!(envs.len(), 4, "{envs:?}");
    let mut namespaces: Vec<String> = envs
        .iter()
        .map(|e| e["namespace"].as_str().unwrap().to_owned())
        .collect();
    let web_a = envs
        .iter()
        .find(|e| e["repository"] == "org-a/web")
        .unwrap();
    assert_eq!(web_a["namespace"], "pr-web-12");
    let web_b = envs
        .iter()
        .find(|e| e["repository"] == "org-b/web")
        .unwrap();
    assert!(web_b["namespace"].as_str().unwrap().starts_with("pr-web-"));
    for ns in &namespaces {
        assert!(ns.len() <= 63, "{ns}");
        assert!(
            ns.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{ns}"
        );
        assert!(ns.ends_with("-12"), "{ns}");
    }
    namespaces.sort();
    namespaces.dedup();
    assert_eq!(namespaces.len(), 4, "namespaces collide: {namespaces:?}");
    for e in &envs {
        assert_eq!(e["status"], "pending");
        assert_eq!(e["pr_number"], 12);
    }
    s.finish().await;
}
