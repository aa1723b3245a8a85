//! Secrets stay secret: a realistic run of Catalyst — a GitHub App with its private key,
//! a webhook secret, an encryption key, installation tokens issued by the GitHub
//! double, a PostgreSQL URL with a password, API tokens, a dashboard sign-in with its
//! session cookie, a repository secret copied into the preview — while every tracing
//! event is captured at TRACE through both log formats (JSON and text). None of the
//! secret values, nor their base64, may appear in the logs, in any PR comment or
//! deployment status GitHub received, in any answer of the read API, health, readiness,
//! metrics, the dashboard or MCP, or in the errors of a bad configuration.
//!
//! Its own test binary: the subscriber that captures everything is process-wide.

#[path = "engine_support/mod.rs"]
mod engine_support;
#[allow(dead_code)]
#[path = "common/test_db.rs"]
mod test_db;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use catalyst_server::core::domain::Role;
use catalyst_server::engine::Engine;
use catalyst_server::{AppState, Config, cli};
use catalyst_testkit::github::TEST_WEBHOOK_SECRET;
use catalyst_testkit::{JobBehaviour, Match, PrSpec, TestKit};
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt, service::RunningService};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use engine_support::{REPO, app_objects, fast_settings};

const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// The local PostgreSQL trusts loopback, so it accepts (and ignores) this password.
const DB_PASSWORD: &str = "Pg-pa55w0rd-9d41c07e";
/// A value in the repository's secret store, copied into the preview's namespace.
const APP_SECRET: &str = "app-secret-value-5be2a1f0";

// ---- capturing every log line ------------------------------------------------------------

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Both formats `telemetry::init` can install, configured the same way, at TRACE for
/// every crate.
fn capture_logs() -> (Buffer, Buffer) {
    let json = Buffer::default();
    let text = Buffer::default();
    let (j, t) = (json.clone(), text.clone());
    tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new("trace"))
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(true)
                .with_span_list(true)
                .with_writer(move || j.clone()),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(move || t.clone()),
        )
        .init();
    (json, text)
}

// ---- the secrets and where they must not be -------------------------------------------------

/// Named secret values; each is also looked for in base64 (padded, unpadded, URL-safe).
struct Secrets(Vec<(String, String)>);

impl Secrets {
    fn add(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        assert!(value.len() >= 12, "{name} is too short to search for");
        self.0.push((name.to_owned(), value));
    }

    fn forms(value: &str) -> Vec<String> {
        use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
        let mut forms = vec![value.to_owned()];
        for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            forms.push(engine.encode(value));
        }
        forms
    }

    /// Panics naming the secret and the place when `haystack` holds one.
    fn assert_absent(&self, place: &str, haystack: &str) {
        for (name, value) in &self.0 {
            for form in Self::forms(value) {
                if let Some(at) = haystack.find(&form) {
                    let start = haystack[..at]
                        .char_indices()
                        .rev()
                        .nth(200)
                        .map_or(0, |(i, _)| i);
                    let end = (at + form.len() + 200).min(haystack.len());
                    let end = (end..haystack.len())
                        .find(|i| haystack.is_char_boundary(*i))
                        .unwrap_or(haystack.len());
                    panic!("{name} leaked into {place}:\n…{}…", &haystack[start..end]);
                }
            }
        }
    }
}

// ---- talking to Catalyst -----------------------------------------------------------------

struct Catalyst {
    base: String,
    http: reqwest::Client,
}

impl Catalyst {
    async fn get(&self, path: &str, auth: &[(&str, &str)]) -> (u16, String) {
        let mut req = self.http.get(format!("{}{path}", self.base));
        for (k, v) in auth {
            req = req.header(*k, *v);
        }
        let res = req.send().await.unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    }

    async fn post(&self, path: &str, headers: &[(&str, &str)], body: String) -> (u16, String) {
        let mut req = self.http.post(format!("{}{path}", self.base)).body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    }
}

fn set_cookie(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("catalyst_session="))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
}

/// Signs in through the GitHub double's OAuth pages, as a browser would; returns the
/// session cookie (`catalyst_session=…`) and every cookie value seen on the way.
async fn sign_in(base: &str) -> (String, Vec<String>) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = http
        .get(format!("{base}/auth/github/login?next=/"))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection(), "{}", res.status());
    let first = set_cookie(&res).expect("a session for the OAuth state");
    let authorize = res.headers()["location"].to_str().unwrap().to_owned();
    let res = http.get(&authorize).send().await.unwrap();
    assert!(res.status().is_redirection(), "authorize: {}", res.status());
    let callback = res.headers()["location"].to_str().unwrap().to_owned();
    let res = http
        .get(&callback)
        .header("cookie", &first)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection(), "callback: {}", res.status());
    let session = set_cookie(&res).expect("a new session id at sign-in");
    assert_ne!(session, first, "the session id is cycled at sign-in");
    (session.clone(), vec![first, session])
}

type McpClient = RunningService<RoleClient, ()>;

async fn mcp(base: &str, token: &str) -> McpClient {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp")).auth_header(token),
    );
    ().serve(transport).await.expect("the MCP session starts")
}

async fn wait_for<F, Fut>(what: &str, mut ok: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ok().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---- the test ------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn secrets_never_reach_logs_comments_or_answers() {
    let (json_logs, text_logs) = capture_logs();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut secrets = Secrets(Vec::new());

    // A database of its own, reached with a password in the URL.
    let admin_url =
        std::env::var("CATALYST_TEST_POSTGRES_URL").unwrap_or_else(|_| ADMIN_URL.to_owned());
    let admin =
        catalyst_server::store::connect(catalyst_server::store::connect_options(&admin_url))
            .await
            .expect("PostgreSQL at 127.0.0.1:5432 is needed");
    let db_name = format!("secrets_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE {db_name}"))
        .await
        .unwrap();
    let (_, rest) = admin_url.split_once("://").unwrap();
    let (userinfo, hostpath) = rest.split_once('@').unwrap();
    let user = userinfo.split(':').next().unwrap();
    let host = hostpath.split('/').next().unwrap();
    let database_url = format!("postgres://{user}:{DB_PASSWORD}@{host}/{db_name}");
    secrets.add("the database password", DB_PASSWORD);

    // The doubles, and Catalyst configured as in production.
    let kit = TestKit::start().await.expect("the doubles start");
    let gh = kit.github();
    let mut env = kit.env();
    env.extend([
        ("CATALYST_DATABASE_URL".to_owned(), database_url.clone()),
        (
            "CATALYST_PREVIEW_DOMAIN".to_owned(),
            engine_support::DOMAIN.to_owned(),
        ),
        ("CATALYST_GITHUB_WEB_URL".to_owned(), kit.github_url()),
        ("CATALYST_OPERATORS".to_owned(), "octocat".to_owned()),
    ]);
    let lookup = |key: &str| {
        env.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    secrets.add("the webhook secret", TEST_WEBHOOK_SECRET);
    secrets.add("the encryption key", lookup("CATALYST_ENCRYPTION_KEY"));
    let key_bytes = hex::decode(lookup("CATALYST_ENCRYPTION_KEY")).unwrap();
    secrets.add(
        "the encryption key's bytes (base64)",
        base64::engine::general_purpose::STANDARD.encode(&key_bytes),
    );
    secrets.add(
        "the OAuth client secret",
        lookup("CATALYST_GITHUB_OAUTH_CLIENT_SECRET"),
    );
    let pem = gh.app_private_key_pem();
    for (i, line) in pem
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 40)
        .enumerate()
    {
        secrets.add(
            &format!("line {} of the GitHub App private key", i + 1),
            line,
        );
    }
    secrets.add(APP_SECRET, APP_SECRET);

    let config = Config::from_sources(None, env.clone()).unwrap();
    let db = catalyst_server::open_database(&config).await.unwrap();
    let client = kit.kube_client().unwrap();
    let state = AppState::new(config, db, Some(client.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(catalyst_server::serve(listener, state.clone(), async {
        let _ = stopped.await;
    }));
    let engine = Engine::start(
        state.db.clone(),
        client,
        fast_settings(),
        state.reconcile.clone(),
        state.engine_events.clone(),
    );
    let github = catalyst_server::start_github(&state)
        .await
        .unwrap()
        .expect("the GitHub App is configured");

    // The cluster: the repository's secret store and charts that install an app.
    let cluster = kit.cluster();
    cluster.set_node_capacity("64", "256Gi", 200);
    for ns in ["acme-secrets", "catalyst", "ingress-nginx", "registry"] {
        cluster
            .create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
            .unwrap();
    }
    cluster
        .create(json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "web-env", "namespace": "acme-secrets"},
            "data": {"API_KEY": base64::engine::general_purpose::STANDARD.encode(APP_SECRET)}}))
        .unwrap();
    cluster.on_job(
        Match::namespace("pr-*"),
        JobBehaviour::succeed()
            .after(Duration::from_millis(50))
            .creates(app_objects()),
    );

    let catalyst = Catalyst {
        base: base.clone(),
        http: reqwest::Client::new(),
    };
    let operator = cli::create_token(&state.db, "root", Role::Operator)
        .await
        .unwrap();
    let viewer = cli::create_token(&state.db, "watcher", Role::Viewer)
        .await
        .unwrap();
    secrets.add("the operator's API token", operator.clone());
    secrets.add("the viewer's API token", viewer.clone());
    let bearer = format!("Bearer {operator}");
    let op_auth = [("authorization", bearer.as_str())];

    // Configure the repository through the API, then a pull request arrives.
    let (status, body) = catalyst
        .post(
            "/api/v1/repositories",
            &[
                ("authorization", bearer.as_str()),
                ("content-type", "application/json"),
            ],
            json!({
                "full_name": REPO,
                "chart": { "path": "deploy/chart" },
                "health_path": "/healthz",
                "secrets": ["web-env"],
                "secret_store_namespace": "acme-secrets",
            })
            .to_string(),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    gh.add_repo(REPO);
    gh.set_webhook_target(&format!("{base}/webhooks/github"), TEST_WEBHOOK_SECRET);
    let opened = gh
        .open_pr(
            REPO,
            PrSpec::new().number(1).head_sha(&"c0ffee".repeat(7)[..40]),
        )
        .unwrap();
    let r = gh.deliver(&opened).await.unwrap();
    assert!(r.status < 300, "{}", r.body);

    // Deployed, commented on, with a deployment status.
    let env_id = {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, body) = catalyst.get("/api/v1/environments", &op_auth).await;
            let v: Value = serde_json::from_str(&body).unwrap_or_default();
            if v["items"][0]["status"] == "ready" {
                break v["items"][0]["id"].as_str().unwrap().to_owned();
            }
            assert!(Instant::now() < deadline, "not ready in time: {body}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    wait_for("a comment and a successful deployment status", || {
        let gh = gh.clone();
        async move {
            let commented = !gh.comments(REPO, 1).is_empty();
            let success = gh.deployments(REPO).iter().any(|d| {
                gh.deployment_statuses(d.id)
                    .iter()
                    .any(|s| s.state == "success")
            });
            commented && success
        }
    })
    .await;

    // A person signs in to the dashboard and redeploys from it.
    gh.set_oauth_user("octocat");
    let (session, cookies) = sign_in(&base).await;
    for c in &cookies {
        secrets.add(
            "a session cookie",
            c.trim_start_matches("catalyst_session="),
        );
    }
    let mut answers: Vec<(String, String)> = Vec::new();
    let cookie = [("cookie", session.as_str())];
    let (status, page) = catalyst.get("/", &cookie).await;
    assert_eq!(status, 200);
    answers.push(("the dashboard page".into(), page));
    let (status, page) = catalyst
        .get(&format!("/environments/{env_id}"), &cookie)
        .await;
    assert_eq!(status, 200);
    answers.push(("the environment page".into(), page));
    let fn_headers = [
        ("cookie", session.as_str()),
        ("content-type", "application/x-www-form-urlencoded"),
        ("accept", "application/json"),
    ];
    let (status, who) = catalyst
        .post("/api/current_session", &fn_headers, String::new())
        .await;
    assert_eq!(status, 200, "{who}");
    let csrf = serde_json::from_str::<Value>(&who).unwrap()["viewer"]["csrf_token"]
        .as_str()
        .unwrap()
        .to_owned();
    answers.push(("current_session".into(), who));
    for (name, form) in [
        ("get_overview", String::new()),
        ("list_environments", String::new()),
        ("list_repositories", String::new()),
        ("get_environment", format!("id={env_id}")),
        ("redeploy_environment", format!("id={env_id}&csrf={csrf}")),
    ] {
        let (status, body) = catalyst
            .post(&format!("/api/{name}"), &fn_headers, form)
            .await;
        assert_eq!(status, 200, "{name}: {body}");
        answers.push((format!("server function {name}"), body));
    }
    let (status, body) = catalyst
        .get(&format!("/logs/{env_id}/download"), &cookie)
        .await;
    answers.push((format!("the log download ({status})"), body));

    // The user's GitHub token and the installation tokens the double issued.
    let (user_tokens, installation_tokens): (Vec<String>, Vec<String>) = gh.with_world(|w| {
        (
            w.user_tokens.keys().cloned().collect(),
            w.tokens.keys().cloned().collect(),
        )
    });
    assert!(
        !installation_tokens.is_empty(),
        "Catalyst used an installation token"
    );
    assert!(!user_tokens.is_empty(), "the sign-in got a user token");
    for t in user_tokens {
        secrets.add("a person's GitHub token", t);
    }
    for t in installation_tokens {
        secrets.add("an installation token", t);
    }

    // Every read route of the API (from its OpenAPI document), as operator and viewer.
    let doc = catalyst_server::api::v1::openapi();
    for (path, item) in &doc.paths.paths {
        let item = serde_json::to_value(item).unwrap();
        if item.get("get").is_none() {
            continue;
        }
        let concrete = path
            .replace("{id}", &env_id)
            .replace("{attempt}", "1")
            .replace("{owner}/{name}", REPO)
            .replace("{name}", "root");
        for token in [&operator, &viewer] {
            let auth = format!("Bearer {token}");
            let (status, body) = catalyst
                .get(&concrete, &[("authorization", auth.as_str())])
                .await;
            assert!(status < 500 || status == 503, "{concrete}: {status} {body}");
            answers.push((format!("GET {concrete} ({status})"), body));
        }
    }
    for path in ["/api/v1/openapi.json", "/healthz", "/readyz", "/metrics"] {
        let (status, body) = catalyst.get(path, &op_auth).await;
        answers.push((format!("GET {path} ({status})"), body));
    }
    // Refusals say why without echoing what was sent.
    let wrong = format!("Bearer {operator}x");
    let (_, body) = catalyst
        .get("/api/v1/environments", &[("authorization", wrong.as_str())])
        .await;
    answers.push(("a refused token".into(), body));

    // Every read-only MCP tool.
    let agent = mcp(&base, &operator).await;
    for (tool, args) in [
        ("list_environments", json!({})),
        ("get_environment", json!({ "id": env_id })),
        ("list_deployments", json!({ "environment_id": env_id })),
        (
            "get_deployment",
            json!({ "environment_id": env_id, "attempt": 1 }),
        ),
        ("get_logs", json!({ "environment_id": env_id })),
        ("list_repositories", json!({})),
        ("get_repository", json!({ "full_name": REPO })),
        ("validate_repository_config", json!({ "full_name": REPO })),
        ("get_metrics_summary", json!({})),
    ] {
        let mut params = CallToolRequestParams::new(tool);
        if let Value::Object(map) = args {
            params = params.with_arguments(map);
        }
        let r = agent.call_tool(params).await.unwrap();
        answers.push((format!("MCP {tool}"), serde_json::to_string(&r).unwrap()));
    }
    agent.cancel().await.unwrap();

    // The pull request closes; the environment goes, the comment says so.
    let closed = gh.close(REPO, 1, false).unwrap();
    gh.deliver(&closed).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, body) = catalyst.get("/api/v1/environments", &op_auth).await;
        let v: Value = serde_json::from_str(&body).unwrap_or_default();
        if v["items"].as_array().is_some_and(Vec::is_empty) {
            break;
        }
        assert!(Instant::now() < deadline, "not deleted in time: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Bad configuration: the errors name the key, never the value's secret part.
    let bad_configs: Vec<(&str, String)> = vec![
        (
            "CATALYST_DATABASE_URL",
            format!("mysql://{user}:{DB_PASSWORD}@{host}/{db_name}"),
        ),
        (
            "CATALYST_DATABASE_URL",
            format!("postgres//{user}:{DB_PASSWORD}@{host}/{db_name}"),
        ),
        (
            "CATALYST_ENCRYPTION_KEY",
            format!("{DB_PASSWORD}{DB_PASSWORD}"),
        ),
    ];
    for (key, value) in bad_configs {
        let err = Config::from_sources(None, [(key.to_owned(), value)])
            .expect_err("a bad value is refused");
        let text = err.to_string();
        assert!(text.contains(key), "{text}");
        answers.push((
            format!("the error for a bad {key}"),
            format!("{text} {err:?}"),
        ));
    }
    // A database that cannot be reached: the start-up error names it without its password.
    let unreachable = Config::from_sources(
        None,
        [(
            "CATALYST_DATABASE_URL".to_owned(),
            format!("postgres://{user}:{DB_PASSWORD}@127.0.0.1:1/{db_name}"),
        )],
    )
    .unwrap();
    let Err(err) = catalyst_server::open_database(&unreachable).await else {
        panic!("nothing listens on port 1");
    };
    answers.push((
        "the error for an unreachable database".into(),
        format!("{err} {err:?}"),
    ));
    // The configuration's own Debug form (what a `?config` in a log line would print).
    let running = Config::from_sources(None, env.clone()).unwrap();
    answers.push((
        "the configuration's Debug form".into(),
        format!("{running:?}"),
    ));

    // Now look.
    drop(github);
    drop(engine);
    let _ = stop.send(());
    for (place, body) in &answers {
        secrets.assert_absent(place, body);
    }
    for c in gh.comments(REPO, 1) {
        secrets.assert_absent("a PR comment", &c.body);
    }
    for d in gh.deployments(REPO) {
        secrets.assert_absent("a GitHub deployment", &serde_json::to_string(&d).unwrap());
        for s in gh.deployment_statuses(d.id) {
            secrets.assert_absent("a deployment status", &serde_json::to_string(&s).unwrap());
        }
    }
    let (json_text, plain_text) = (json_logs.text(), text_logs.text());
    assert!(
        plain_text.contains("webhook delivery") && json_text.contains("\"request_id\""),
        "the logs were captured"
    );
    secrets.assert_absent("the JSON logs", &json_text);
    secrets.assert_absent("the text logs", &plain_text);

    state.db.clone().close().await.ok();
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"))
        .await
        .unwrap();
}
