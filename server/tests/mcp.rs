//! The MCP server at `/mcp`, driven by rmcp's own client over streamable HTTP against a
//! Catalyst started in-process with `catalyst-testkit`'s Kubernetes double: initialize,
//! list tools (schemas, descriptions), call every tool, tool errors that say what to
//! fix, bearer-token auth, and the flow an agent runs: create → logs → delete.

#[allow(dead_code, unused_imports)]
#[path = "it/support.rs"]
mod support;
#[allow(dead_code)]
#[path = "common/test_db.rs"]
mod test_db;

use catalyst_server::core::domain::Role;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};
use support::{Backend, TestServer, start};

type Client = RunningService<RoleClient, ()>;

async fn connect(s: &TestServer, token: &str) -> Client {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(s.url("/mcp")).auth_header(token),
    );
    ().serve(transport).await.expect("the MCP session starts")
}

async fn call(client: &Client, tool: &str, args: Value) -> CallToolResult {
    let mut params = CallToolRequestParams::new(tool.to_owned());
    if let Value::Object(map) = args {
        params = params.with_arguments(map);
    }
    client
        .call_tool(params)
        .await
        .unwrap_or_else(|e| panic!("{tool}: {e}"))
}

/// A successful call's structured result.
async fn ok(client: &Client, tool: &str, args: Value) -> Value {
    let r = call(client, tool, args).await;
    assert_ne!(r.is_error, Some(true), "{tool}: {:?}", r.content);
    r.structured_content
        .unwrap_or_else(|| panic!("{tool} has no structured result"))
}

/// A failed call's message.
async fn tool_error(client: &Client, tool: &str, args: Value) -> String {
    let r = call(client, tool, args).await;
    assert_eq!(r.is_error, Some(true), "{tool} should fail: {r:?}");
    serde_json::to_string(&r.content).unwrap()
}

const TOOLS: [&str; 14] = [
    "list_environments",
    "get_environment",
    "create_environment",
    "redeploy_environment",
    "delete_environment",
    "list_deployments",
    "get_deployment",
    "get_logs",
    "list_repositories",
    "get_repository",
    "configure_repository",
    "validate_repository_config",
    "delete_repository",
    "get_metrics_summary",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initialize_and_list_tools_with_schemas() {
    let s = start(Backend::Sqlite).await;
    let token = s.token("agent", Role::Viewer).await;
    let client = connect(&s, &token).await;
    let info = client.peer_info().expect("initialized");
    assert_eq!(info.server_info.as_ref().unwrap().name, "catalyst");
    assert!(info.capabilities.tools.is_some());
    assert!(
        info.instructions
            .as_deref()
            .unwrap_or_default()
            .contains("list_environments")
    );

    let tools = client.list_all_tools().await.unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort();
    let mut want = TOOLS.to_vec();
    want.sort();
    assert_eq!(names, want);
    for t in &tools {
        assert!(
            t.description.as_deref().unwrap_or_default().len() > 40,
            "{}",
            t.name
        );
        assert_eq!(t.input_schema["type"], "object", "{}", t.name);
        assert!(t.output_schema.is_some(), "{}", t.name);
    }
    let create = tools
        .iter()
        .find(|t| t.name == "create_environment")
        .unwrap();
    let required: Vec<&str> = create.input_schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(required, ["repository", "pr_number"]);
    let configure = tools
        .iter()
        .find(|t| t.name == "configure_repository")
        .unwrap();
    assert!(configure.input_schema["properties"]["full_name"].is_object());
    client.cancel().await.unwrap();
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_needs_a_valid_bearer_token() {
    let s = start(Backend::Sqlite).await;
    let init = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": { "protocolVersion": "2025-06-18", "capabilities": {},
                    "clientInfo": { "name": "curl", "version": "1" } }
    });
    for token in [None, Some("cat_unknown")] {
        let mut req = s
            .http
            .post(s.url("/mcp"))
            .header("accept", "application/json, text/event-stream")
            .json(&init);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status().as_u16(), 401);
        assert_eq!(res.headers()["www-authenticate"], "Bearer");
    }
    let token = s.token("agent", Role::Viewer).await;
    // DNS rebinding protection: only loopback and CATALYST_PUBLIC_URL's host.
    let res = s
        .http
        .post(s.url("/mcp"))
        .header("host", "attacker.example")
        .header("accept", "application/json, text/event-stream")
        .bearer_auth(&token)
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);
    let res = s
        .http
        .post(s.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .bearer_auth(&token)
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tool_answers_and_errors_say_what_to_fix() {
    let s = start(Backend::Sqlite).await;
    let op = s.token("ops-agent", Role::Operator).await;
    let viewer = s.token("read-agent", Role::Viewer).await;
    let agent = connect(&s, &op).await;
    let reader = connect(&s, &viewer).await;

    // Repositories.
    let v = ok(
        &agent,
        "validate_repository_config",
        json!({ "full_name": "acme/web" }),
    )
    .await;
    assert_eq!((&v["valid"], &v["exists"]), (&json!(true), &json!(false)));
    assert_eq!(v["warnings"].as_array().unwrap().len(), 2);
    let msg = tool_error(
        &agent,
        "validate_repository_config",
        json!({ "full_name": "acme/web", "quota": { "cpu": "lots" } }),
    )
    .await;
    assert!(msg.contains("quota.cpu"), "{msg}");
    let c = ok(
        &agent,
        "configure_repository",
        json!({ "full_name": "acme/web", "chart": { "path": "charts/web" }, "image_pattern": "registry.example/web:{sha}" }),
    )
    .await;
    assert_eq!(c["created"], true);
    assert_eq!(c["repository"]["namespace_slug"], "web");
    let c = ok(
        &agent,
        "configure_repository",
        json!({ "full_name": "acme/web", "health_path": "/healthz" }),
    )
    .await;
    assert_eq!(c["created"], false);
    assert_eq!(c["repository"]["health_path"], "/healthz");
    let r = ok(
        &reader,
        "get_repository",
        json!({ "full_name": "ACME/web" }),
    )
    .await;
    assert_eq!(r["full_name"], "acme/web");
    let msg = tool_error(&reader, "get_repository", json!({ "full_name": "acme/x" })).await;
    assert!(msg.contains("not configured"), "{msg}");
    let page = ok(&reader, "list_repositories", json!({})).await;
    assert_eq!(page["total"], 1);
    let msg = tool_error(
        &reader,
        "configure_repository",
        json!({ "full_name": "acme/api" }),
    )
    .await;
    assert!(msg.contains("operator"), "{msg}");

    // Environments and deployments.
    s.open_pr("acme/web", 2).await;
    let envs = ok(
        &reader,
        "list_environments",
        json!({ "repository": "acme/web", "status": "pending" }),
    )
    .await;
    assert_eq!(envs["total"], 1, "{envs}");
    let id = envs["items"][0]["id"].as_str().unwrap().to_owned();
    let detail = ok(&reader, "get_environment", json!({ "id": id })).await;
    assert_eq!(detail["environment"]["namespace"], "pr-web-2");
    let msg = tool_error(&reader, "get_environment", json!({ "id": "nope" })).await;
    assert!(msg.contains("list_environments"), "{msg}");
    let msg = tool_error(&reader, "list_environments", json!({ "status": "running" })).await;
    assert!(msg.contains("status") || msg.contains("running"), "{msg}");
    let deployments = ok(&reader, "list_deployments", json!({ "environment_id": id })).await;
    assert_eq!(deployments["total"], 0);
    let msg = tool_error(
        &reader,
        "get_deployment",
        json!({ "environment_id": id, "attempt": 1 }),
    )
    .await;
    assert!(msg.contains("list_deployments"), "{msg}");
    failed_attempt(&s, &id).await;
    let d = ok(
        &reader,
        "get_deployment",
        json!({ "environment_id": id, "attempt": 1 }),
    )
    .await;
    assert_eq!(d["phase"], "failed");
    assert_eq!(d["error"], "image pull failed");
    assert_eq!(d["phases"].as_array().unwrap().len(), 2, "{d}");
    let page = ok(
        &reader,
        "list_deployments",
        json!({ "environment_id": id, "limit": 1 }),
    )
    .await;
    assert_eq!(page["total"], 1);
    let redeploy = ok(&agent, "redeploy_environment", json!({ "id": id })).await;
    assert!(redeploy["message"].as_str().unwrap().contains("queued"));
    let msg = tool_error(&reader, "redeploy_environment", json!({ "id": id })).await;
    assert!(msg.contains("operator"), "{msg}");
    let msg = tool_error(
        &agent,
        "create_environment",
        json!({ "repository": "acme/web", "pr_number": 77 }),
    )
    .await;
    assert!(msg.contains("open the pull request"), "{msg}");
    let msg = tool_error(&reader, "get_logs", json!({ "environment_id": id })).await;
    assert!(msg.contains("cluster"), "{msg}");
    let m = ok(&reader, "get_metrics_summary", json!({})).await;
    assert_eq!(m["active_environments"], 1, "{m}");

    // Removing a repository that still has an environment is refused with the reason.
    let msg = tool_error(
        &agent,
        "delete_repository",
        json!({ "full_name": "acme/web" }),
    )
    .await;
    assert!(msg.contains("delete them first"), "{msg}");
    ok(
        &agent,
        "configure_repository",
        json!({ "full_name": "acme/old" }),
    )
    .await;
    let done = ok(
        &agent,
        "delete_repository",
        json!({ "full_name": "acme/old" }),
    )
    .await;
    assert!(done["message"].as_str().unwrap().contains("acme/old"));

    agent.cancel().await.unwrap();
    reader.cancel().await.unwrap();
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_creates_reads_logs_and_deletes_an_environment() {
    let (kit, s) = support::start_with_cluster(Backend::Sqlite).await;
    let op = s.token("agent", Role::Operator).await;
    let agent = connect(&s, &op).await;
    ok(
        &agent,
        "configure_repository",
        json!({ "full_name": "acme/shop", "chart": { "path": "chart" }, "image_pattern": "r/shop:{sha}" }),
    )
    .await;
    s.open_pr("acme/shop", 9).await;
    // The operator removed it earlier; the agent asks for it again.
    let envs = ok(&agent, "list_environments", json!({ "pr_number": 9 })).await;
    let id = envs["items"][0]["id"].as_str().unwrap().to_owned();
    ok(&agent, "delete_environment", json!({ "id": id })).await;

    let created = ok(
        &agent,
        "create_environment",
        json!({ "repository": "acme/shop", "pr_number": 9 }),
    )
    .await;
    assert_eq!(created["environment"]["id"], id.as_str());
    assert_eq!(created["environment"]["status"], "pending");
    let namespace = created["environment"]["namespace"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(namespace, "pr-shop-9");

    // What the deployment would have started (the engine is not running in this test).
    let client = kit.kube_client().unwrap();
    running_pod(&client, &namespace, "shop-0").await;
    kit.cluster().append_log(
        &namespace,
        "shop-0",
        "app",
        &["listening on :8080", "GET /healthz 200"],
    );

    let detail = ok(&agent, "get_environment", json!({ "id": id })).await;
    assert_eq!(detail["pods"][0]["name"], "shop-0", "{detail}");
    let logs = ok(
        &agent,
        "get_logs",
        json!({ "environment_id": id, "container": "app", "tail_lines": 1 }),
    )
    .await;
    assert_eq!(logs["lines"], json!(["GET /healthz 200"]), "{logs}");
    let msg = tool_error(
        &agent,
        "get_logs",
        json!({ "environment_id": id, "container": "db" }),
    )
    .await;
    assert!(msg.contains("container") && msg.contains("shop-0"), "{msg}");

    let deleted = ok(&agent, "delete_environment", json!({ "id": id })).await;
    assert_eq!(deleted["environment"]["status"], "deleting");
    let detail = ok(&agent, "get_environment", json!({ "id": id })).await;
    assert!(detail["delete_requested_at"].is_string(), "{detail}");
    let msg = tool_error(&agent, "redeploy_environment", json!({ "id": id })).await;
    assert!(msg.contains("being deleted"), "{msg}");

    agent.cancel().await.unwrap();
    s.finish().await;
}

/// Records a failed first attempt of the environment.
async fn failed_attempt(s: &TestServer, env: &str) {
    use catalyst_server::store::entities::deployment;
    use sea_orm::{ActiveModelTrait, Set};
    let now = chrono::Utc::now();
    let queued = now - chrono::TimeDelta::seconds(30);
    deployment::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        environment_id: Set(env.to_owned()),
        attempt: Set(1),
        head_sha: Set("sha2".into()),
        phase: Set("failed".into()),
        queued_at: Set(queued),
        provisioning_at: Set(Some(queued + chrono::TimeDelta::seconds(5))),
        deploying_at: Set(None),
        verifying_at: Set(None),
        finished_at: Set(Some(now)),
        outcome: Set(Some("job".into())),
        error: Set(Some("image pull failed".into())),
        failed_check: Set(None),
        log_excerpt: Set(Some("ErrImagePull".into())),
        created_at: Set(queued),
        updated_at: Set(now),
    }
    .insert(s.db())
    .await
    .unwrap();
}

/// Creates the namespace and a pod with container `app`, and waits until it runs.
async fn running_pod(client: &kube::Client, namespace: &str, pod: &str) {
    use k8s_openapi::api::core::v1::{Namespace, Pod};
    use kube::api::{Api, PostParams};
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
            "spec": { "containers": [ { "name": "app", "image": "shop:1" } ] }
        }))
        .unwrap(),
    )
    .await
    .unwrap();
    for _ in 0..100 {
        let p = pods.get(pod).await.unwrap();
        let running = p
            .status
            .and_then(|s| s.container_statuses)
            .is_some_and(|cs| {
                cs.iter()
                    .all(|c| c.state.as_ref().is_some_and(|st| st.running.is_some()))
                    && !cs.is_empty()
            });
        if running {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("pod {namespace}/{pod} did not start");
}
