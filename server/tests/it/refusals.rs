//! Hostile callers of every mutating entrance: the JSON API, the dashboard's server
//! functions and sign-out, the MCP tools and the webhook. Each refusal is checked for its
//! status, a body that says why, and an unchanged database.
//!
//! The routes are not a hand list that can rot: the API's come from its OpenAPI
//! document (generated from the router), the server functions from server_fn's
//! registry, the MCP tools from the server's tool list (read-only hint), and the other
//! axum routes from a scan of the router sources. Each test fails when a new mutating
//! route appears that it does not know how to call.

use std::collections::{BTreeMap, BTreeSet};

use catalyst_server::actions::{Action, Dashboard, Mcp};
use catalyst_server::core::domain::Role;
use catalyst_server::core::signature;
use catalyst_server::web::DbSessionStore;
use catalyst_testkit::github::{GitHub, GitHubServer};
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt, service::RunningService};
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, JsonValue, Statement};
use serde_json::{Value, json};
use tower_sessions::cookie::time::{Duration, OffsetDateTime};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::SessionStore;

use crate::both_backends;
use crate::support::{Backend, Options, SECRET, TestServer, pr_payload, start_with};

both_backends!(
    api_mutations_refuse_bad_credentials_and_viewers,
    dashboard_mutations_need_a_session_the_csrf_token_and_the_right,
    mcp_mutating_tools_refuse_bad_tokens_and_viewers,
    webhooks_and_sign_out_refuse_forgeries,
);

const REPO: &str = "acme/web";
/// A signed-in person who can read `acme/web` but not push to it.
const VISITOR: &str = "visitor";
const VISITOR_GITHUB_TOKEN: &str = "gho_visitor_read_only";

// ---- the world every test starts from ------------------------------------------------

struct World {
    s: TestServer,
    _github: GitHubServer,
    operator: String,
    viewer: String,
    revoked: String,
    env_id: String,
}

async fn world(b: Backend) -> World {
    let github = GitHubServer::start(0).await.unwrap();
    let gh: GitHub = github.handle();
    gh.add_repo(REPO);
    gh.set_collaborator(REPO, VISITOR, "read");
    gh.with_world(|w| {
        w.user_tokens
            .insert(VISITOR_GITHUB_TOKEN.to_owned(), VISITOR.to_owned())
    });
    let s = start_with(
        b,
        Options {
            extra_env: vec![("CATALYST_GITHUB_API_URL", gh.url())],
            ..Options::default()
        },
    )
    .await;
    s.configure(REPO).await;
    let (status, body) = s
        .deliver(
            "pull_request",
            &pr_payload("opened", REPO, 1, "a1b2c3", "2026-01-01T00:00:00Z", true),
        )
        .await;
    assert!(status < 300, "{body}");
    let env_id = s.environments().await[0]["id"].as_str().unwrap().to_owned();
    let operator = s.token("root", Role::Operator).await;
    let viewer = s.token("watcher", Role::Viewer).await;
    let revoked = s.token("former", Role::Operator).await;
    catalyst_server::cli::revoke_token(s.db(), "former")
        .await
        .unwrap();
    // A token the refused `revoke_token` calls aim at.
    s.token("victim", Role::Viewer).await;
    World {
        s,
        _github: github,
        operator,
        viewer,
        revoked,
        env_id,
    }
}

/// Every row of every table, volatile bookkeeping left out: the proof that a refused
/// request changed nothing.
async fn snapshot(s: &TestServer) -> BTreeMap<String, Vec<String>> {
    let db = s.db();
    let backend = db.get_database_backend();
    let tables_sql = match backend {
        DbBackend::Sqlite => {
            "SELECT name AS t FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        }
        _ => {
            "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = current_schema()"
        }
    };
    let tables = JsonValue::find_by_statement(Statement::from_string(backend, tables_sql))
        .all(db)
        .await
        .unwrap();
    let mut out = BTreeMap::new();
    for t in tables {
        let table = t["t"].as_str().unwrap().to_owned();
        // Sessions are touched by every request that carries one (inactivity expiry).
        if table == "sessions" {
            continue;
        }
        let rows = JsonValue::find_by_statement(Statement::from_string(
            backend,
            format!("SELECT * FROM {table}"),
        ))
        .all(db)
        .await
        .unwrap();
        let mut rows: Vec<String> = rows
            .into_iter()
            .map(|mut row| {
                // Authenticating records when a token was last used; that is not a change
                // the refused action made.
                if let Some(obj) = row.as_object_mut() {
                    obj.remove("last_used_at");
                }
                row.to_string()
            })
            .collect();
        rows.sort();
        out.insert(table, rows);
    }
    out
}

fn assert_unchanged(
    before: &BTreeMap<String, Vec<String>>,
    after: &BTreeMap<String, Vec<String>>,
    what: &str,
) {
    for (table, rows) in before {
        assert_eq!(
            Some(rows),
            after.get(table),
            "{what} changed table {table} although it was refused"
        );
    }
    assert_eq!(before.len(), after.len(), "{what} changed the tables");
}

// ---- the JSON API --------------------------------------------------------------------

/// `(method, path, body)` that would succeed for an operator, per mutating operation.
fn api_call(w: &World, operation_id: &str) -> (reqwest::Method, String, Option<Value>) {
    use reqwest::Method;
    let env = &w.env_id;
    match operation_id {
        "create_environment" => (
            Method::POST,
            "/api/v1/environments".into(),
            Some(json!({ "repository": REPO, "pr_number": 1 })),
        ),
        "redeploy_environment" => (
            Method::POST,
            format!("/api/v1/environments/{env}/redeploy"),
            None,
        ),
        "delete_environment" => (Method::DELETE, format!("/api/v1/environments/{env}"), None),
        "create_repository" => (
            Method::POST,
            "/api/v1/repositories".into(),
            Some(json!({ "full_name": "acme/intruder" })),
        ),
        "validate_repository" => (
            Method::POST,
            "/api/v1/repositories/validate".into(),
            Some(json!({ "full_name": "acme/intruder" })),
        ),
        "update_repository" => (
            Method::PUT,
            format!("/api/v1/repositories/{REPO}"),
            Some(json!({ "health_path": "/owned" })),
        ),
        "delete_repository" => (Method::DELETE, format!("/api/v1/repositories/{REPO}"), None),
        "create_token" => (
            Method::POST,
            "/api/v1/tokens".into(),
            Some(json!({ "name": "backdoor", "role": "operator" })),
        ),
        "revoke_token" => (Method::DELETE, "/api/v1/tokens/victim".into(), None),
        "set_log_level" => (
            Method::PUT,
            "/api/v1/log-level".into(),
            Some(json!({ "filter": "trace" })),
        ),
        other => panic!(
            "the API has a new mutating operation `{other}`: teach refusals.rs how to call it"
        ),
    }
}

/// POSTs that change nothing and so are open to viewers, with the reason.
const READ_ONLY_POSTS: &[(&str, &str)] = &[(
    "validate_repository",
    "checks a configuration without saving it",
)];

/// The mutating operations of the OpenAPI document (generated from the router).
fn mutating_operations() -> Vec<String> {
    let doc = catalyst_server::api::v1::openapi();
    let mut ids = Vec::new();
    for item in doc.paths.paths.values() {
        let item = serde_json::to_value(item).unwrap();
        for method in ["post", "put", "patch", "delete"] {
            if let Some(op) = item.get(method) {
                ids.push(op["operationId"].as_str().unwrap().to_owned());
            }
        }
    }
    ids.sort();
    ids
}

async fn send(
    s: &TestServer,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
    headers: &[(&str, String)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = s.http.request(method, s.url(path));
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, body)
}

fn error_text(body: &Value) -> &str {
    body["error"].as_str().unwrap_or_default()
}

async fn api_mutations_refuse_bad_credentials_and_viewers(b: Backend) {
    let w = world(b).await;
    let s = &w.s;
    let session = session_cookie(s, true).await;
    let ops = mutating_operations();
    assert!(
        ops.len() >= 9,
        "the document lost its mutating routes: {ops:?}"
    );

    for op in &ops {
        let (method, path, body) = api_call(&w, op);
        let before = snapshot(s).await;

        // No credentials, malformed, unknown and revoked tokens, and a dashboard
        // session (the API never accepts cookies, so it is immune to CSRF): 401.
        let unauthenticated: Vec<(&str, Vec<(&str, String)>)> = vec![
            ("no credentials", vec![]),
            (
                "basic auth",
                vec![("authorization", "Basic cm9vdDpyb290".into())],
            ),
            ("empty bearer", vec![("authorization", "Bearer ".into())]),
            (
                "other scheme",
                vec![("authorization", format!("Token {}", w.operator))],
            ),
            (
                "unknown token",
                vec![("authorization", "Bearer cat_not_a_real_token".into())],
            ),
            (
                "truncated token",
                vec![(
                    "authorization",
                    format!("Bearer {}", &w.operator[..w.operator.len() - 1]),
                )],
            ),
            (
                "revoked token",
                vec![("authorization", format!("Bearer {}", w.revoked))],
            ),
            (
                "session cookie only",
                vec![("cookie", session.cookie.clone())],
            ),
        ];
        for (case, headers) in unauthenticated {
            let (status, h, reply) = send(s, method.clone(), &path, body.as_ref(), &headers).await;
            assert_eq!(status, 401, "{op} {method} {path} with {case}: {reply}");
            assert_eq!(h["www-authenticate"], "Bearer", "{op} with {case}");
            assert!(
                error_text(&reply).contains("token") || error_text(&reply).contains("Bearer"),
                "{op} with {case}: the refusal must say what is missing: {reply}"
            );
        }

        let viewer = vec![("authorization", format!("Bearer {}", w.viewer))];
        let (status, _, reply) = send(s, method.clone(), &path, body.as_ref(), &viewer).await;
        if READ_ONLY_POSTS.iter().any(|(id, _)| *id == op.as_str()) {
            assert_eq!(
                status, 200,
                "{op} is read-only and open to viewers: {reply}"
            );
        } else {
            assert_eq!(status, 403, "{op} {method} {path} as a viewer: {reply}");
            assert!(
                error_text(&reply).contains("operator"),
                "{op}: the refusal must name the role needed: {reply}"
            );
        }
        assert_unchanged(&before, &snapshot(s).await, op);
    }
    assert_ne!(
        catalyst_server::telemetry::current_filter().as_deref(),
        Some("trace"),
        "a refused PUT /log-level changed the filter"
    );

    // The same calls with an operator token are not refused: the refusals above came
    // from the credentials, not from broken requests. Order: changes that leave the
    // fixtures in place first.
    let order = [
        "validate_repository",
        "redeploy_environment",
        "update_repository",
        "create_repository",
        "create_token",
        "revoke_token",
        "set_log_level",
        "delete_environment",
        "create_environment",
        "delete_repository",
    ];
    let known: BTreeSet<&str> = order.iter().copied().collect();
    let listed: BTreeSet<&str> = ops.iter().map(String::as_str).collect();
    assert_eq!(
        known, listed,
        "every mutating operation has a positive control"
    );
    let operator = vec![("authorization", format!("Bearer {}", w.operator))];
    for op in order {
        let (method, path, body) = api_call(&w, op);
        let (status, _, reply) = send(s, method, &path, body.as_ref(), &operator).await;
        assert!(
            (status != 401 && status != 403 && status < 500) || status == 503,
            "{op} as an operator: {status} {reply}"
        );
    }
    w.s.finish().await;
}

// ---- dashboard sessions ----------------------------------------------------------------

struct Session {
    cookie: String,
    csrf: String,
}

/// A signed-in session as the GitHub sign-in stores it (an operator, or the visitor who
/// can only read `acme/web`).
async fn session_cookie(s: &TestServer, operator: bool) -> Session {
    let csrf = format!("csrf-{}", uuid::Uuid::new_v4().simple());
    let login = if operator { "root-person" } else { VISITOR };
    let user = json!({
        "github_id": if operator { 1 } else { 2 },
        "login": login,
        "name": null,
        "avatar_url": null,
        "operator": operator,
        "github_token": VISITOR_GITHUB_TOKEN,
        "csrf_token": csrf,
    });
    let store = DbSessionStore::new(s.db().clone());
    let mut record = Record {
        id: Id::default(),
        data: [("user".to_owned(), user)].into(),
        expiry_date: OffsetDateTime::now_utc() + Duration::hours(1),
    };
    store.create(&mut record).await.unwrap();
    Session {
        cookie: format!("catalyst_session={}", record.id),
        csrf,
    }
}

/// Server functions that only read, with the reason they need no CSRF token.
const READ_ONLY_SERVER_FNS: &[&str] = &[
    "list_environments",
    "get_overview",
    "get_environment",
    "list_repositories",
    "current_session",
];

/// The form body of a mutating server function (without the CSRF token).
fn server_fn_form(w: &World, name: &str) -> String {
    let enc = |v: &str| -> String { form_urlencoded::byte_serialize(v.as_bytes()).collect() };
    match name {
        "redeploy_environment" | "delete_environment" => format!("id={}", enc(&w.env_id)),
        "create_environment" => format!("repository={}&pr_number=1", enc(REPO)),
        "configure_repository" => format!(
            "form[full_name]={}&form[health_path]={}",
            enc("acme/intruder"),
            enc("/owned")
        ),
        "delete_repository" => format!("full_name={}", enc(REPO)),
        other => {
            panic!("the dashboard has a new server function `{other}`: classify it in refusals.rs")
        }
    }
}

async fn call_server_fn(
    s: &TestServer,
    path: &str,
    form: &str,
    cookie: Option<&str>,
) -> (u16, Value) {
    let mut req = s
        .http
        .post(s.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body(form.to_owned());
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    crate::support::json_of(req.send().await.unwrap()).await
}

async fn dashboard_mutations_need_a_session_the_csrf_token_and_the_right(b: Backend) {
    let w = world(b).await;
    let s = &w.s;
    let operator = session_cookie(s, true).await;
    let visitor = session_cookie(s, false).await;

    // Every registered server function is classified; the mutating ones are exactly
    // the dashboard entrances of the actions that change something.
    let registered: BTreeMap<String, String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, method)| {
            let name = path.rsplit('/').next().unwrap().to_owned();
            assert_eq!(method, http::Method::POST, "{path}");
            (name, path.to_owned())
        })
        .collect();
    let mutating: BTreeSet<&str> = registered
        .keys()
        .map(String::as_str)
        .filter(|n| !READ_ONLY_SERVER_FNS.contains(n))
        .collect();
    let from_actions: BTreeSet<&str> = Action::ALL
        .iter()
        .map(|a| a.surfaces())
        .filter(|s| {
            s.api
                .iter()
                .any(|(m, p)| *m != "get" && *p != "/repositories/validate")
        })
        .filter_map(|s| match s.dashboard {
            Dashboard::ServerFn(f) => Some(f),
            _ => None,
        })
        .collect();
    assert_eq!(
        mutating, from_actions,
        "server functions that change something vs. the action table"
    );
    for read in READ_ONLY_SERVER_FNS {
        assert!(registered.contains_key(*read), "no server function {read}");
    }

    for name in &mutating {
        let path = &registered[*name];
        let form = server_fn_form(&w, name);
        let with_csrf = |csrf: &str| format!("{form}&csrf={csrf}");
        let before = snapshot(s).await;

        let (status, reply) = call_server_fn(s, path, &with_csrf(&operator.csrf), None).await;
        assert_eq!(status, 401, "{name} without a session: {reply}");
        assert_eq!(reply, json!("Unauthorized"), "{name}");
        let (status, reply) = call_server_fn(
            s,
            path,
            &with_csrf(&operator.csrf),
            Some("catalyst_session=AAAAAAAAAAAAAAAAAAAAAA"),
        )
        .await;
        assert_eq!(status, 401, "{name} with an unknown session: {reply}");

        let (status, reply) = call_server_fn(s, path, &form, Some(&operator.cookie)).await;
        assert_eq!(status, 403, "{name} without the CSRF token: {reply}");
        assert!(reply.to_string().contains("CSRF"), "{name}: {reply}");
        let (status, reply) =
            call_server_fn(s, path, &with_csrf(&visitor.csrf), Some(&operator.cookie)).await;
        assert_eq!(
            status, 403,
            "{name} with another session's CSRF token: {reply}"
        );
        assert!(reply.to_string().contains("CSRF"), "{name}: {reply}");

        let (status, reply) =
            call_server_fn(s, path, &with_csrf(&visitor.csrf), Some(&visitor.cookie)).await;
        assert_eq!(
            status, 403,
            "{name} by someone who may only read {REPO}: {reply}"
        );
        assert!(
            reply.to_string().contains("Only operators"),
            "{name}: the refusal must say who may: {reply}"
        );
        assert_unchanged(&before, &snapshot(s).await, name);
    }

    // The operator's session with its token goes through: the refusals above were the
    // checks, not a broken call.
    let path = &registered["redeploy_environment"];
    let form = format!(
        "{}&csrf={}",
        server_fn_form(&w, "redeploy_environment"),
        operator.csrf
    );
    let (status, reply) = call_server_fn(s, path, &form, Some(&operator.cookie)).await;
    assert_eq!(status, 200, "{reply}");
    w.s.finish().await;
}

// ---- MCP -----------------------------------------------------------------------------

type Client = RunningService<RoleClient, ()>;

async fn connect(s: &TestServer, token: &str) -> Client {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(s.url("/mcp")).auth_header(token),
    );
    ().serve(transport).await.expect("the MCP session starts")
}

fn tool_args(w: &World, tool: &str) -> Value {
    match tool {
        "create_environment" => json!({ "repository": REPO, "pr_number": 1 }),
        "redeploy_environment" | "delete_environment" => json!({ "id": w.env_id }),
        "configure_repository" => json!({ "full_name": "acme/intruder" }),
        "delete_repository" => json!({ "full_name": REPO }),
        other => panic!("MCP has a new mutating tool `{other}`: teach refusals.rs to call it"),
    }
}

async fn mcp_mutating_tools_refuse_bad_tokens_and_viewers(b: Backend) {
    let w = world(b).await;
    let s = &w.s;

    // Without a valid bearer token nothing reaches a tool, not even `initialize`.
    let call = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": { "name": "delete_environment", "arguments": { "id": w.env_id } }
    });
    let before = snapshot(s).await;
    for auth in [
        None,
        Some("Bearer cat_not_a_real_token".to_owned()),
        Some(format!("Bearer {}", w.revoked)),
        Some("Basic cm9vdDpyb290".to_owned()),
    ] {
        let mut headers = vec![("accept", "application/json, text/event-stream".to_owned())];
        if let Some(a) = &auth {
            headers.push(("authorization", a.clone()));
        }
        let (status, h, reply) =
            send(s, reqwest::Method::POST, "/mcp", Some(&call), &headers).await;
        assert_eq!(status, 401, "MCP with {auth:?}: {reply}");
        assert_eq!(h["www-authenticate"], "Bearer");
        assert!(!error_text(&reply).is_empty(), "{reply}");
    }
    assert_unchanged(&before, &snapshot(s).await, "unauthenticated MCP calls");

    let viewer = connect(s, &w.viewer).await;
    let tools = viewer.list_all_tools().await.unwrap();
    let mutating: BTreeSet<String> = tools
        .iter()
        .filter(|t| {
            t.annotations
                .as_ref()
                .and_then(|a| a.read_only_hint)
                .is_none_or(|read_only| !read_only)
        })
        .map(|t| t.name.to_string())
        .collect();
    let from_actions: BTreeSet<String> = Action::ALL
        .iter()
        .map(|a| a.surfaces())
        .filter(|s| {
            s.api
                .iter()
                .any(|(m, p)| *m != "get" && *p != "/repositories/validate")
        })
        .filter_map(|s| match s.mcp {
            Mcp::Tool(t) => Some(t.to_owned()),
            Mcp::Missing(_) => None,
        })
        .collect();
    assert_eq!(
        mutating, from_actions,
        "tools not marked read-only vs. the action table"
    );

    for tool in &mutating {
        let before = snapshot(s).await;
        let mut params = CallToolRequestParams::new(tool.clone());
        if let Value::Object(map) = tool_args(&w, tool) {
            params = params.with_arguments(map);
        }
        let r = viewer.call_tool(params).await.unwrap();
        assert_eq!(r.is_error, Some(true), "{tool} as a viewer: {r:?}");
        let text = serde_json::to_string(&r.content).unwrap();
        assert!(
            text.contains("HTTP 403") && text.contains("operator"),
            "{tool}: {text}"
        );
        assert_unchanged(&before, &snapshot(s).await, tool);
    }
    viewer.cancel().await.unwrap();

    // An operator's call of the same kind goes through.
    let operator = connect(s, &w.operator).await;
    let mut params = CallToolRequestParams::new("redeploy_environment");
    if let Value::Object(map) = tool_args(&w, "redeploy_environment") {
        params = params.with_arguments(map);
    }
    let r = operator.call_tool(params).await.unwrap();
    assert_ne!(r.is_error, Some(true), "{r:?}");
    operator.cancel().await.unwrap();
    w.s.finish().await;
}

// ---- the webhook and sign-out, and the routes outside the API ---------------------------

/// Mutating routes outside `/api/v1` and the server functions, found in the router's
/// sources: `.route("<path>", post(..))` and friends, and nested services.
fn mutating_routes_in_sources() -> BTreeSet<String> {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = BTreeSet::new();
    let mut stack = vec![src];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for call in [".route(", ".route_service(", ".nest_service("] {
                for (at, _) in text.match_indices(call) {
                    let rest = text[at + call.len()..].trim_start();
                    let Some(rest) = rest.strip_prefix('"') else {
                        continue;
                    };
                    let Some(end) = rest.find('"') else { continue };
                    let route = &rest[..end];
                    let tail = &rest[end..];
                    // The method router ends at the next route or statement.
                    let stop = [tail.find(".route"), tail.find(";\n"), tail.find("\n}")]
                        .into_iter()
                        .flatten()
                        .min()
                        .unwrap_or(tail.len());
                    let methods = &tail[..stop];
                    let mutating = ["post(", "put(", "patch(", "delete(", "any("]
                        .iter()
                        .any(|m| methods.contains(m));
                    // A nested service answers every method.
                    if mutating || call != ".route(" {
                        found.insert(route.to_owned());
                    }
                }
            }
        }
    }
    found
}

async fn webhooks_and_sign_out_refuse_forgeries(b: Backend) {
    // The routes this test (and the MCP one) cover are all the mutating routes the
    // router sources declare outside the API's OpenAPI-described routes.
    let covered: BTreeSet<String> = ["/webhooks/github", "/auth/logout", "/mcp"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        mutating_routes_in_sources(),
        covered,
        "a mutating route was added outside the API: add its refusals to refusals.rs"
    );

    let w = world(b).await;
    let s = &w.s;
    let body = pr_payload("opened", REPO, 2, "d4e5f6", "2026-01-02T00:00:00Z", true);
    let before = snapshot(s).await;
    let forged = [
        ("no signature", vec![]),
        (
            "signed with another secret",
            vec![(
                "x-hub-signature-256",
                signature::sign(b"not-the-secret", &body),
            )],
        ),
        (
            "sha1 only",
            vec![("x-hub-signature", "sha1=0000000000000000".to_owned())],
        ),
        (
            "malformed signature",
            vec![("x-hub-signature-256", "sha256=zz".to_owned())],
        ),
        (
            "signature of another body",
            vec![(
                "x-hub-signature-256",
                signature::sign(SECRET.as_bytes(), b"{}"),
            )],
        ),
    ];
    for (case, mut headers) in forged {
        headers.push(("x-github-event", "pull_request".to_owned()));
        headers.push(("x-github-delivery", format!("forged-{case}")));
        let mut req = s
            .http
            .post(s.url("/webhooks/github"))
            .header("content-type", "application/json")
            .body(body.clone());
        for (k, v) in &headers {
            req = req.header(*k, v);
        }
        let res = req.send().await.unwrap();
        let (status, reply) = crate::support::json_of(res).await;
        assert_eq!(status, 401, "webhook with {case}: {reply}");
        assert!(!error_text(&reply).is_empty(), "{case}: {reply}");
    }
    assert_unchanged(&before, &snapshot(s).await, "forged webhooks");
    let (status, _) = s.deliver("pull_request", &body).await;
    assert_eq!(status, 200, "the same delivery, signed, is accepted");

    // Sign-out ends a session only with the session's CSRF token.
    let session = session_cookie(s, true).await;
    let store = DbSessionStore::new(s.db().clone());
    let id: Id = session
        .cookie
        .trim_start_matches("catalyst_session=")
        .parse()
        .unwrap();
    for (case, form) in [
        ("no CSRF token", String::new()),
        ("a wrong CSRF token", "csrf=forged".to_owned()),
    ] {
        let res = s
            .http
            .post(s.url("/auth/logout"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", &session.cookie)
            .body(form)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        assert_eq!(status, 403, "sign-out with {case}: {text}");
        assert!(text.contains("CSRF"), "{case}: {text}");
        assert!(
            store.load(&id).await.unwrap().is_some(),
            "sign-out with {case} ended the session"
        );
    }
    let res = s
        .http
        .post(s.url("/auth/logout"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", &session.cookie)
        .body(format!("csrf={}", session.csrf))
        .send()
        .await
        .unwrap();
    // A redirect to the dashboard (followed by the client).
    assert!(res.status().is_success(), "{}", res.status());
    assert!(
        store.load(&id).await.unwrap().is_none(),
        "sign-out with the token ends the session"
    );
    w.s.finish().await;
}
