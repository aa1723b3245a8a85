//! The REST endpoints Catalyst uses, with GitHub's status codes, pagination and errors.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Extension, OriginalUri, Path, Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde_json::{Value, json};

use super::auth::{Identity, new_token};
use super::errors::{GhError, GhResult};
use super::render;
use super::state::{Comment, Deployment, DeploymentStatus, IssuedToken, World, random_hex};
use super::GhState;

type Q = Query<HashMap<String, String>>;

/// The REST routes (the gate middleware and control routes are added by the caller).
pub fn router() -> Router<Arc<GhState>> {
    Router::new()
        .route("/app", get(app))
        .route("/app/installations", get(installations))
        .route("/app/installations/{id}", get(installation))
        .route("/app/installations/{id}/access_tokens", post(access_token))
        .route("/repos/{owner}/{repo}/installation", get(repo_installation))
        .route("/installation/repositories", get(installation_repos))
        .route("/rate_limit", get(rate_limit))
        .route("/repos/{owner}/{repo}", get(repo))
        .route("/repos/{owner}/{repo}/pulls", get(pulls))
        .route("/repos/{owner}/{repo}/pulls/{number}", get(pull))
        .route("/repos/{owner}/{repo}/issues/{number}/comments", get(comments).post(create_comment))
        .route("/repos/{owner}/{repo}/issues/comments/{id}", get(comment).patch(update_comment).delete(delete_comment))
        .route("/repos/{owner}/{repo}/deployments", get(deployments).post(create_deployment))
        .route("/repos/{owner}/{repo}/deployments/{id}", get(deployment).delete(delete_deployment))
        .route("/repos/{owner}/{repo}/deployments/{id}/statuses", get(statuses).post(create_status))
        .route("/repos/{owner}/{repo}/contents/{*path}", get(contents))
        .route("/repos/{owner}/{repo}/collaborators/{user}/permission", get(permission))
}

fn ok(v: Value) -> Response {
    Json(v).into_response()
}

fn created(v: Value) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

fn require_app(id: &Identity) -> GhResult<()> {
    match id {
        Identity::App => Ok(()),
        _ => Err(GhError::new(401, "A JSON web token could not be decoded")),
    }
}

/// The repository, if the caller may see it (404 otherwise, as GitHub hides what you cannot see).
fn visible_repo(w: &World, id: &Identity, full: &str) -> GhResult<()> {
    let r = w.repos.get(full).ok_or_else(GhError::not_found)?;
    match id {
        Identity::App => Err(GhError::forbidden("Resource not accessible by integration")),
        Identity::Anonymous if r.private => Err(GhError::not_found()),
        _ => Ok(()),
    }
}

/// Who writes: the app's bot for installation tokens, the user for OAuth tokens.
fn writer(w: &World, id: &Identity) -> GhResult<String> {
    match id {
        Identity::Installation(_) => Ok(w.bot_login()),
        Identity::User(l) => Ok(l.clone()),
        Identity::App => Err(GhError::forbidden("Resource not accessible by integration")),
        Identity::Anonymous => Err(GhError::requires_auth()),
    }
}

/// Pages `items` by `per_page`/`page` and adds GitHub's `Link` header.
fn paginate(st: &GhState, uri: &axum::http::Uri, q: &HashMap<String, String>, items: Vec<Value>) -> Response {
    let per_page = q.get("per_page").and_then(|v| v.parse::<usize>().ok()).unwrap_or(30).clamp(1, 100);
    let page = q.get("page").and_then(|v| v.parse::<usize>().ok()).unwrap_or(1).max(1);
    let last = items.len().div_ceil(per_page).max(1);
    let slice: Vec<Value> = items.into_iter().skip((page - 1) * per_page).take(per_page).collect();
    let link_to = |p: usize| {
        let mut params: Vec<(String, String)> = q.iter().filter(|(k, _)| *k != "page").map(|(k, v)| (k.clone(), v.clone())).collect();
        params.sort();
        params.push(("page".into(), p.to_string()));
        let qs: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{}{}?{}", st.base(), uri.path(), qs.join("&"))
    };
    let mut links = Vec::new();
    if page > 1 {
        links.push(format!("<{}>; rel=\"prev\"", link_to(page - 1)));
    }
    if page < last {
        links.push(format!("<{}>; rel=\"next\"", link_to(page + 1)));
        links.push(format!("<{}>; rel=\"last\"", link_to(last)));
    }
    if page > 1 {
        links.push(format!("<{}>; rel=\"first\"", link_to(1)));
    }
    let mut resp = Json(Value::Array(slice)).into_response();
    if !links.is_empty()
        && let Ok(v) = HeaderValue::from_str(&links.join(", "))
    {
        resp.headers_mut().insert("link", v);
    }
    resp
}

async fn app(State(st): State<Arc<GhState>>, Extension(id): Extension<Identity>) -> GhResult<Response> {
    require_app(&id)?;
    let base = st.base();
    let mut w = st.world();
    let owner = w.app.owner.clone();
    let a = w.app.clone();
    Ok(ok(json!({
        "id": a.id, "slug": a.slug, "node_id": "A_testkit", "name": a.name,
        "owner": render::user_of(&base, &mut w, &owner),
        "description": "Catalyst Preview (test double)", "external_url": base, "html_url": format!("{base}/apps/{}", a.slug),
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
        "permissions": render::permissions(), "events": ["pull_request", "push"], "installations_count": 1
    })))
}

async fn installations(State(st): State<Arc<GhState>>, Extension(id): Extension<Identity>) -> GhResult<Response> {
    require_app(&id)?;
    let base = st.base();
    Ok(ok(json!([render::installation(&base, &mut st.world())])))
}

async fn installation(State(st): State<Arc<GhState>>, Extension(id): Extension<Identity>, Path(iid): Path<u64>) -> GhResult<Response> {
    require_app(&id)?;
    let base = st.base();
    let mut w = st.world();
    if iid != w.installation_id {
        return Err(GhError::not_found());
    }
    Ok(ok(render::installation(&base, &mut w)))
}

async fn access_token(State(st): State<Arc<GhState>>, Extension(id): Extension<Identity>, Path(iid): Path<u64>) -> GhResult<Response> {
    require_app(&id)?;
    let base = st.base();
    let mut w = st.world();
    if iid != w.installation_id {
        return Err(GhError::not_found());
    }
    let token = new_token("ghs");
    let expires_at = Utc::now() + chrono::Duration::hours(1);
    w.tokens.insert(token.clone(), IssuedToken { installation_id: iid, expires_at });
    let repos: Vec<_> = w.repos.values().cloned().collect();
    let repos: Vec<Value> = repos.iter().map(|r| render::repo(&base, &mut w, r)).collect();
    Ok(created(json!({
        "token": token,
        "expires_at": expires_at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "permissions": render::permissions(),
        "repository_selection": "selected",
        "repositories": repos
    })))
}

async fn repo_installation(State(st): State<Arc<GhState>>, Extension(id): Extension<Identity>, Path((o, r)): Path<(String, String)>) -> GhResult<Response> {
    require_app(&id)?;
    let base = st.base();
    let mut w = st.world();
    if !w.repos.contains_key(&format!("{o}/{r}")) {
        return Err(GhError::not_found());
    }
    Ok(ok(render::installation(&base, &mut w)))
}

async fn installation_repos(State(st): State<Arc<GhState>>, Extension(id): Extension<Identity>, OriginalUri(uri): OriginalUri, Query(q): Q) -> GhResult<Response> {
    if !matches!(id, Identity::Installation(_)) {
        return Err(GhError::forbidden("You must authenticate with an installation access token in order to list repositories for an installation."));
    }
    let base = st.base();
    let items: Vec<Value> = {
        let mut w = st.world();
        let repos: Vec<_> = w.repos.values().cloned().collect();
        repos.iter().map(|r| render::repo(&base, &mut w, r)).collect()
    };
    let total = items.len();
    let resp = paginate(&st, &uri, &q, items);
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let list: Value = serde_json::from_slice(&bytes).unwrap_or(json!([]));
    let mut r = Json(json!({"total_count": total, "repository_selection": "selected", "repositories": list})).into_response();
    if let Some(l) = parts.headers.get("link") {
        r.headers_mut().insert("link", l.clone());
    }
    Ok(r)
}

async fn rate_limit(State(st): State<Arc<GhState>>, Extension(id): Extension<Identity>) -> Response {
    let b = *st.limits().bucket(&id);
    let core = json!({"limit": b.limit, "remaining": b.remaining(), "used": b.used, "reset": b.reset, "resource": "core"});
    ok(json!({"resources": {"core": core.clone()}, "rate": core}))
}

async fn repo(State(st): State<Arc<GhState>>, Extension(id): Extension<Identity>, Path((o, r)): Path<(String, String)>) -> GhResult<Response> {
    let base = st.base();
    let mut w = st.world();
    let full = format!("{o}/{r}");
    visible_repo(&w, &id, &full)?;
    let repo = w.repos[&full].clone();
    Ok(ok(render::repo(&base, &mut w, &repo)))
}

async fn pulls(State(st): State<Arc<GhState>>, Extension(id): Extension<Identity>, Path((o, r)): Path<(String, String)>, OriginalUri(uri): OriginalUri, Query(q): Q) -> GhResult<Response> {
    let base = st.base();
    let mut w = st.world();
    let full = format!("{o}/{r}");
    visible_repo(&w, &id, &full)?;
    let state = q.get("state").map_or("open", String::as_str).to_string();
    if !matches!(state.as_str(), "open" | "closed" | "all") {
        return Err(GhError::validation("PullRequest", "state", "invalid"));
    }
    let mut list: Vec<_> = w
        .pulls
        .values()
        .filter(|p| p.repo == full && (state == "all" || p.state == state))
        .filter(|p| q.get("head").is_none_or(|h| *h == format!("{}:{}", p.head_repo.split('/').next().unwrap_or(""), p.head_ref)))
        .filter(|p| q.get("base").is_none_or(|b| *b == p.base_ref))
        .cloned()
        .collect();
    // Default sort: newest first.
    list.sort_by_key(|p| std::cmp::Reverse(p.number));
    if q.get("direction").is_some_and(|d| d == "asc") {
        list.reverse();
    }
    let items: Vec<Value> = list.iter().map(|p| render::pull(&base, &mut w, p)).collect();
    drop(w);
    Ok(paginate(&st, &uri, &q, items))
}

async fn pull(State(st): State<Arc<GhState>>, Extension(id): Extension<Identity>, Path((o, r, n)): Path<(String, String, u64)>) -> GhResult<Response> {
    let base = st.base();
    let mut w = st.world();
    let full = format!("{o}/{r}");
    visible_repo(&w, &id, &full)?;
    let p = w.pulls.get(&(full, n)).cloned().ok_or_else(GhError::not_found)?;
    Ok(ok(render::pull(&base, &mut w, &p)))
}

async fn comments(State(st): State<Arc<GhState>>, Extension(id): Extension<Identity>, Path((o, r, n)): Path<(String, String, u64)>, OriginalUri(uri): OriginalUri, Query(q): Q) -> GhResult<Response> {
    let base = st.base();
    let mut w = st.world();
    let full = format!("{o}/{r}");
    visible_repo(&w, &id, &full)?;
    if !w.pulls.contains_key(&(full.clone(), n)) {
        return Err(GhError::not_found());
    }
    let list: Vec<Comment> = w.comments.iter().filter(|c| c.repo == full && c.issue_number == n).cloned().collect();
    let items: Vec<Value> = list.iter().map(|c| render::comment(&base, &mut w, c)).collect();
    drop(w);
    Ok(paginate(&st, &uri, &q, items))
}

fn body_field(body: &Value) -> GhResult<String> {
    match body.get("body") {
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err(GhError::unprocessable("Invalid request.\n\n\"body\" wasn't supplied.")),
    }
}

async fn create_comment(State(st): State<Arc<GhState>>, Extension(id): Extension<Identity>, Path((o, r, n)): Path<(String, String, u64)>, Json(body): Json<Value>) -> GhResult<Response> {
    let base = st.base();
    let mut w = st.world();
    let full = format!("{o}/{r}");
    visible_repo(&w, &id, &full)?;
    let author = writer(&w, &id)?;
    if !w.pulls.contains_key(&(full.clone(), n)) {
        return Err(GhError::not_found());
    }
    let text = body_field(&body)?;
    if text.chars().count() > 65_536 {
        return Err(GhError::validation("IssueComment", "data", "custom"));
    }
    let c = Comment { id: w.next_id(), repo: full, issue_number: n, body: text, author, created_at: Utc::now(), updated_at: Utc::now() };
    w.comments.push(c.clone());
    Ok(created(render::comment(&base, &mut w, &c)))
}

fn find_comment(w: &World, full: &str, cid: u64) -> GhResult<usize> {
    w.comments.iter().position(|c| c.repo == full && c.id == cid).ok_or_else(GhError::not_found)
}

async fn comment(State(st): State<Arc<GhState>>, Extension(id): Extension<Identity>, Path((o, r, cid)): Path<(String, String, u64)>) -> GhResult<Response> {
    let base = st.base();
    let mut w = st.world();
    let full = format!("{o}/{r}");
    visible_repo(&w, &id, &full)?;
    let i = find_comment(&w, &full, cid)?;
    let c = w.comments[i].clone();
    Ok(ok(render::comment(&base, &mut w, &c)))
}

async fn update_comment(State(st): State<Arc<GhState>>, Extension(id): Extension<Identity>, Path((o, r, cid)): Path<(String, String, u64)>, Json(body): Json<Value>) -> GhResult<Response> {
    let base = st.base();
    let mut w = st.world();
    let full = format!("{o}/{r}");
    visible_repo(&w, &id, &full)?;
    let who = writer(&w, &id)?;
    let i = find_comment(&w, &full, cid)?;
    if w.comments[i].author != who {
        return Err(GhError::forbidden("Resource not accessible by integration"));
    }
    w.comments[i].body = body_field(&body)?;
    w.comments[i].updated_at = Utc::now();
    let c = w.comments[i].clone();
    Ok(ok(render::comment(&base, &mut w, &c)))
}

async fn delete_comment(State(st): State<Arc<GhState>>, Extension(id): Extension<Identity>, Path((o, r, cid)): Path<(String, String, u64)>) -> GhResult<Response> {
    let mut w = st.world();
    let full = format!("{o}/{r}");
    visible_repo(&w, &id, &full)?;
    let who = writer(&w, &id)?;
    let i = find_comment(&w, &full, cid)?;
    if w.comments[i].author != who {
        return Err(GhError::forbidden("Resource not accessible by integration"));
    }
    w.comments.remove(i);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn deployments(State(st): State<Arc<GhState>>, Extension(id): Extension<Identity>, Path((o, r)): Path<(String, String)>, OriginalUri(uri): OriginalUri, Query(q): Q) -> GhResult<Response> {
    let base = st.base();
    let mut w = st.world();
    let full = format!("{o}/{r}");
    visible_repo(&w, &id, &full)?;
    let mut list: Vec<Deployment> = w
        .deployments
        .iter()
        .filter(|d| d.repo == full)
        .filter(|d| q.get("sha").is_none_or(|s| *s == d.sha))
        .filter(|d| q.get("ref").is_none_or(|s| *s == d.git_ref))
        .filter(|d| q.get("task").is_none_or(|s| *s == d.task))
        .filter(|d| q.get("environment").is_none_or(|s| *s == d.environment))
        .cloned()
        .collect();
    list.reverse();
    let items: Vec<Value> = list.iter().map(|d| render::deployment(&base, &mut w, d)).collect();
    drop(w);
    Ok(paginate(&st, &uri, &q, items))
}

async fn create_deployment(State(st): State<Arc<GhState>>, Extension(id): Extension<Identity>, Path((o, r)): Path<(String, String)>, Json(body): Json<Value>) -> GhResult<Response> {
    let base = st.base();
    let mut w = st.world();
    let full = format!("{o}/{r}");
    visible_repo(&w, &id, &full)?;
    let creator = writer(&w, &id)?;
    let Some(git_ref) = body["ref"].as_str().map(str::to_string) else {
        return Err(GhError::unprocessable("Invalid request.\n\n\"ref\" wasn't supplied."));
    };
    let is_sha = git_ref.len() == 40 && git_ref.chars().all(|c| c.is_ascii_hexdigit());
    let sha = if is_sha {
        git_ref.clone()
    } else {
        w.pulls
            .values()
            .find(|p| p.repo == full && p.head_ref == git_ref)
            .map(|p| p.head_sha.clone())
            .ok_or_else(|| GhError::unprocessable(format!("No ref found for: {git_ref}")))?
    };
    let environment = body["environment"].as_str().unwrap_or("production").to_string();
    let payload = match &body["payload"] {
        Value::String(s) => serde_json::from_str(s).unwrap_or(json!({})),
        Value::Null => json!({}),
        v => v.clone(),
    };
    let d = Deployment {
        id: w.next_id(),
        repo: full,
        sha,
        git_ref,
        task: body["task"].as_str().unwrap_or("deploy").to_string(),
        description: body["description"].as_str().map(str::to_string),
        payload,
        transient_environment: body["transient_environment"].as_bool().unwrap_or(false),
        production_environment: body["production_environment"].as_bool().unwrap_or(environment == "production"),
        environment,
        creator,
        created_at: Utc::now(),
    };
    w.deployments.push(d.clone());
    Ok(created(render::deployment(&base, &mut w, &d)))
}

fn find_deployment(w: &World, full: &str, did: u64) -> GhResult<Deployment> {
    w.deployments.iter().find(|d| d.repo == full && d.id == did).cloned().ok_or_else(GhError::not_found)
}

async fn deployment(State(st): State<Arc<GhState>>, Extension(id): Extension<Identity>, Path((o, r, did)): Path<(String, String, u64)>) -> GhResult<Response> {
    let base = st.base();
    let mut w = st.world();
    let full = format!("{o}/{r}");
    visible_repo(&w, &id, &full)?;
    let d = find_deployment(&w, &full, did)?;
    Ok(ok(render::deployment(&base, &mut w, &d)))
}

async fn delete_deployment(State(st): State<Arc<GhState>>, Extension(id): Extension<Identity>, Path((o, r, did)): Path<(String, String, u64)>) -> GhResult<Response> {
    let mut w = st.world();
    let full = format!("{o}/{r}");
    visible_repo(&w, &id, &full)?;
    writer(&w, &id)?;
    find_deployment(&w, &full, did)?;
    let latest = w.statuses.iter().rev().find(|s| s.deployment_id == did).map(|s| s.state.clone());
    if latest.as_deref().is_some_and(|s| s != "inactive" && s != "error" && s != "failure") {
        return Err(GhError::unprocessable("We cannot delete an active deployment unless it is the only deployment in a given environment."));
    }
    w.deployments.retain(|d| d.id != did);
    w.statuses.retain(|s| s.deployment_id != did);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn statuses(State(st): State<Arc<GhState>>, Extension(id): Extension<Identity>, Path((o, r, did)): Path<(String, String, u64)>, OriginalUri(uri): OriginalUri, Query(q): Q) -> GhResult<Response> {
    let base = st.base();
    let mut w = st.world();
    let full = format!("{o}/{r}");
    visible_repo(&w, &id, &full)?;
    find_deployment(&w, &full, did)?;
    let list: Vec<DeploymentStatus> = w.statuses.iter().rev().filter(|s| s.deployment_id == did).cloned().collect();
    let items: Vec<Value> = list.iter().map(|s| render::deployment_status(&base, &mut w, s)).collect();
    drop(w);
    Ok(paginate(&st, &uri, &q, items))
}

const STATES: &[&str] = &["error", "failure", "inactive", "in_progress", "queued", "pending", "success"];

async fn create_status(State(st): State<Arc<GhState>>, Extension(id): Extension<Identity>, Path((o, r, did)): Path<(String, String, u64)>, Json(body): Json<Value>) -> GhResult<Response> {
    let base = st.base();
    let mut w = st.world();
    let full = format!("{o}/{r}");
    visible_repo(&w, &id, &full)?;
    let creator = writer(&w, &id)?;
    let d = find_deployment(&w, &full, did)?;
    let state = body["state"].as_str().unwrap_or("").to_string();
    if !STATES.contains(&state.as_str()) {
        let mut e = GhError::new(422, "Validation Failed");
        e.errors = Some(json!([{"resource": "DeploymentStatus", "code": "custom", "field": "state", "message": format!("state is not included in the list")}]));
        return Err(e);
    }
    let environment = body["environment"].as_str().unwrap_or(&d.environment).to_string();
    let s = DeploymentStatus {
        id: w.next_id(),
        deployment_id: did,
        repo: full.clone(),
        state: state.clone(),
        description: body["description"].as_str().map(str::to_string),
        environment: environment.clone(),
        environment_url: body["environment_url"].as_str().map(str::to_string),
        log_url: body["log_url"].as_str().or(body["target_url"].as_str()).map(str::to_string),
        creator: creator.clone(),
        created_at: Utc::now(),
    };
    w.statuses.push(s.clone());
    // auto_inactive: a success marks the environment's earlier successful deployments inactive.
    if state == "success" && body["auto_inactive"].as_bool() != Some(false) {
        let others: Vec<u64> = w.deployments.iter().filter(|o| o.repo == full && o.environment == environment && o.id != did).map(|o| o.id).collect();
        for other in others {
            let latest = w.statuses.iter().rev().find(|s| s.deployment_id == other).map(|s| s.state.clone());
            if latest.as_deref() == Some("success") {
                let sid = w.next_id();
                w.statuses.push(DeploymentStatus { id: sid, deployment_id: other, state: "inactive".into(), description: None, environment_url: None, log_url: None, created_at: Utc::now(), creator: creator.clone(), repo: full.clone(), environment: environment.clone() });
            }
        }
    }
    Ok(created(render::deployment_status(&base, &mut w, &s)))
}

async fn contents(State(st): State<Arc<GhState>>, Extension(id): Extension<Identity>, Path((o, r, path)): Path<(String, String, String)>, Query(q): Q) -> GhResult<Response> {
    let base = st.base();
    let w = st.world();
    let full = format!("{o}/{r}");
    visible_repo(&w, &id, &full)?;
    let repo = &w.repos[&full];
    let git_ref = q.get("ref").cloned().unwrap_or_else(|| repo.default_branch.clone());
    // A head SHA of a pull request resolves to its branch.
    let mut refs = vec![git_ref.clone()];
    if let Some(p) = w.pulls.values().find(|p| p.head_sha == git_ref) {
        refs.push(p.head_ref.clone());
    }
    for rf in &refs {
        if let Some(text) = repo.files.get(&(rf.clone(), path.clone())) {
            return Ok(ok(render::content(&base, &full, &path, &git_ref, text)));
        }
    }
    let prefix = format!("{path}/");
    let dir: Vec<Value> = repo
        .files
        .iter()
        .filter(|((rf, p), _)| refs.contains(rf) && p.starts_with(&prefix))
        .map(|((_, p), text)| {
            let mut c = render::content(&base, &full, p, &git_ref, text);
            if let Some(m) = c.as_object_mut() {
                m.remove("content");
                m.remove("encoding");
            }
            c
        })
        .collect();
    if dir.is_empty() {
        return Err(GhError::not_found());
    }
    Ok(ok(Value::Array(dir)))
}

async fn permission(State(st): State<Arc<GhState>>, Extension(id): Extension<Identity>, Path((o, r, user)): Path<(String, String, String)>) -> GhResult<Response> {
    let base = st.base();
    let mut w = st.world();
    let full = format!("{o}/{r}");
    visible_repo(&w, &id, &full)?;
    if id == Identity::Anonymous {
        return Err(GhError::requires_auth());
    }
    if !w.users.contains_key(&user) {
        return Err(GhError::new(404, format!("{user} is not a user")));
    }
    let role = w.repos[&full].collaborators.get(&user).cloned().unwrap_or_else(|| if w.repos[&full].private { "none".into() } else { "read".into() });
    let permission = match role.as_str() {
        "maintain" => "write",
        "triage" => "read",
        other => other,
    }
    .to_string();
    let u = render::user_of(&base, &mut w, &user);
    Ok(ok(json!({"permission": permission, "role_name": role, "user": u})))
}

/// Unknown paths: GitHub's JSON 404.
pub async fn not_found() -> GhError {
    GhError::not_found()
}

/// A random 40-hex SHA.
pub fn new_sha() -> String {
    random_hex(40)
}
