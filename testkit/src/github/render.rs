//! JSON shapes of GitHub objects, shared by REST answers and webhook payloads so the two
//! always agree. Field sets follow api.github.com (and the webhook fixtures).

use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::state::{Comment, Deployment, DeploymentStatus, PullRequest, Repo, User, World};

fn ts(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn node_id(prefix: &str, id: u64) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{prefix}{id}"))
}

/// A user as embedded everywhere (`user`, `sender`, `owner`, `creator`).
pub fn user(base: &str, u: &User) -> Value {
    let l = &u.login;
    json!({
        "login": l,
        "id": u.id,
        "node_id": node_id("04:User", u.id),
        "avatar_url": format!("{base}/avatars/u/{}", u.id),
        "gravatar_id": "",
        "url": format!("{base}/users/{l}"),
        "html_url": format!("{base}/{l}"),
        "followers_url": format!("{base}/users/{l}/followers"),
        "following_url": format!("{base}/users/{l}/following{{/other_user}}"),
        "gists_url": format!("{base}/users/{l}/gists{{/gist_id}}"),
        "starred_url": format!("{base}/users/{l}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{base}/users/{l}/subscriptions"),
        "organizations_url": format!("{base}/users/{l}/orgs"),
        "repos_url": format!("{base}/users/{l}/repos"),
        "events_url": format!("{base}/users/{l}/events{{/privacy}}"),
        "received_events_url": format!("{base}/users/{l}/received_events"),
        "type": u.kind,
        "user_view_type": "public",
        "site_admin": false
    })
}

/// An organization, as webhook payloads embed it.
pub fn organization(base: &str, u: &User) -> Value {
    let l = &u.login;
    json!({
        "login": l,
        "id": u.id,
        "node_id": node_id("012:Organization", u.id),
        "url": format!("{base}/orgs/{l}"),
        "repos_url": format!("{base}/orgs/{l}/repos"),
        "events_url": format!("{base}/orgs/{l}/events"),
        "hooks_url": format!("{base}/orgs/{l}/hooks"),
        "issues_url": format!("{base}/orgs/{l}/issues"),
        "members_url": format!("{base}/orgs/{l}/members{{/member}}"),
        "public_members_url": format!("{base}/orgs/{l}/public_members{{/member}}"),
        "avatar_url": format!("{base}/avatars/u/{}", u.id),
        "description": null
    })
}

/// A user by login (created on first mention).
pub fn user_of(base: &str, w: &mut World, login: &str) -> Value {
    let kind = if login.ends_with("[bot]") {
        "Bot"
    } else {
        "User"
    };
    let u = w.ensure_user(login, kind);
    user(base, &u)
}

/// A repository.
pub fn repo(base: &str, w: &mut World, r: &Repo) -> Value {
    let full = r.full_name();
    let api = format!("{base}/repos/{full}");
    let owner = user_of(base, w, &r.owner);
    json!({
        "id": r.id,
        "node_id": node_id("010:Repository", r.id),
        "name": r.name,
        "full_name": full,
        "private": r.private,
        "owner": owner,
        "html_url": format!("{base}/{full}"),
        "description": null,
        "fork": false,
        "url": api,
        "pulls_url": format!("{api}/pulls{{/number}}"),
        "issues_url": format!("{api}/issues{{/number}}"),
        "contents_url": format!("{api}/contents/{{+path}}"),
        "deployments_url": format!("{api}/deployments"),
        "statuses_url": format!("{api}/statuses/{{sha}}"),
        "hooks_url": format!("{api}/hooks"),
        "git_url": format!("git://127.0.0.1/{full}.git"),
        "ssh_url": format!("git@127.0.0.1:{full}.git"),
        "clone_url": format!("{base}/{full}.git"),
        "created_at": ts(&r.created_at),
        "updated_at": ts(&r.created_at),
        "pushed_at": ts(&r.pushed_at),
        "homepage": null,
        "size": 1,
        "stargazers_count": 0,
        "watchers_count": 0,
        "language": null,
        "has_issues": true,
        "has_projects": true,
        "has_downloads": true,
        "has_wiki": true,
        "has_pages": false,
        "forks_count": 0,
        "archived": false,
        "disabled": false,
        "open_issues_count": w.pulls.values().filter(|p| p.repo == full && p.state == "open").count(),
        "license": null,
        "forks": 0,
        "open_issues": 0,
        "watchers": 0,
        "default_branch": r.default_branch,
        "is_template": false,
        "topics": [],
        "visibility": if r.private { "private" } else { "public" },
        "web_commit_signoff_required": false
    })
}

fn label(base: &str, repo: &str, name: &str) -> Value {
    let id = name
        .bytes()
        .fold(7_u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
        % 1_000_000_000;
    json!({
        "id": id,
        "node_id": node_id("05:Label", id),
        "url": format!("{base}/repos/{repo}/labels/{name}"),
        "name": name,
        "color": "ededed",
        "default": false,
        "description": null
    })
}

/// A label as embedded in payloads (`label` of a `labeled` event).
pub fn label_json(base: &str, repo: &str, name: &str) -> Value {
    label(base, repo, name)
}

fn branch(base: &str, w: &mut World, repo_name: &str, git_ref: &str, sha: &str) -> Value {
    let r = w.repos.get(repo_name).cloned();
    let owner = repo_name.split('/').next().unwrap_or("");
    let repo_json = r.map(|r| repo(base, w, &r)).unwrap_or(Value::Null);
    json!({
        "label": format!("{owner}:{git_ref}"),
        "ref": git_ref,
        "sha": sha,
        "user": user_of(base, w, owner),
        "repo": repo_json
    })
}

/// A pull request (the full form, as `GET /pulls/{n}` and webhooks give it).
pub fn pull(base: &str, w: &mut World, p: &PullRequest) -> Value {
    let api = format!("{base}/repos/{}", p.repo);
    let html = format!("{base}/{}/pull/{}", p.repo, p.number);
    let author = user_of(base, w, &p.author);
    let head = branch(base, w, &p.head_repo, &p.head_ref, &p.head_sha);
    let base_b = branch(base, w, &p.repo, &p.base_ref, &p.base_sha);
    let comments = w
        .comments
        .iter()
        .filter(|c| c.repo == p.repo && c.issue_number == p.number)
        .count();
    json!({
        "url": format!("{api}/pulls/{}", p.number),
        "id": p.id,
        "node_id": node_id("011:PullRequest", p.id),
        "html_url": html,
        "diff_url": format!("{html}.diff"),
        "patch_url": format!("{html}.patch"),
        "issue_url": format!("{api}/issues/{}", p.number),
        "number": p.number,
        "state": p.state,
        "locked": false,
        "title": p.title,
        "user": author,
        "body": p.body,
        "created_at": ts(&p.created_at),
        "updated_at": ts(&p.updated_at),
        "closed_at": p.closed_at.as_ref().map(ts),
        "merged_at": if p.merged { p.closed_at.as_ref().map(ts) } else { None },
        "merge_commit_sha": null,
        "assignee": null,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "labels": p.labels.iter().map(|l| label(base, &p.repo, l)).collect::<Vec<_>>(),
        "milestone": null,
        "draft": p.draft,
        "commits_url": format!("{api}/pulls/{}/commits", p.number),
        "review_comments_url": format!("{api}/pulls/{}/comments", p.number),
        "review_comment_url": format!("{api}/pulls/comments{{/number}}"),
        "comments_url": format!("{api}/issues/{}/comments", p.number),
        "statuses_url": format!("{api}/statuses/{}", p.head_sha),
        "head": head,
        "base": base_b,
        "_links": {
            "self": {"href": format!("{api}/pulls/{}", p.number)},
            "html": {"href": html},
            "issue": {"href": format!("{api}/issues/{}", p.number)},
            "comments": {"href": format!("{api}/issues/{}/comments", p.number)},
            "review_comments": {"href": format!("{api}/pulls/{}/comments", p.number)},
            "review_comment": {"href": format!("{api}/pulls/comments{{/number}}")},
            "commits": {"href": format!("{api}/pulls/{}/commits", p.number)},
            "statuses": {"href": format!("{api}/statuses/{}", p.head_sha)}
        },
        "author_association": if p.is_fork() { "CONTRIBUTOR" } else { "MEMBER" },
        "auto_merge": null,
        "active_lock_reason": null,
        "merged": p.merged,
        "mergeable": null,
        "rebaseable": null,
        "mergeable_state": "unknown",
        "merged_by": null,
        "comments": comments,
        "review_comments": 0,
        "maintainer_can_modify": false,
        "commits": 1,
        "additions": 1,
        "deletions": 0,
        "changed_files": 1
    })
}

/// An issue comment.
pub fn comment(base: &str, w: &mut World, c: &Comment) -> Value {
    let api = format!("{base}/repos/{}", c.repo);
    let author = user_of(base, w, &c.author);
    json!({
        "url": format!("{api}/issues/comments/{}", c.id),
        "html_url": format!("{base}/{}/pull/{}#issuecomment-{}", c.repo, c.issue_number, c.id),
        "issue_url": format!("{api}/issues/{}", c.issue_number),
        "id": c.id,
        "node_id": node_id("012:IssueComment", c.id),
        "user": author,
        "created_at": ts(&c.created_at),
        "updated_at": ts(&c.updated_at),
        "author_association": if c.author.ends_with("[bot]") { "NONE" } else { "MEMBER" },
        "body": c.body,
        "reactions": {"url": format!("{api}/issues/comments/{}/reactions", c.id), "total_count": 0, "+1": 0, "-1": 0, "laugh": 0, "hooray": 0, "confused": 0, "heart": 0, "rocket": 0, "eyes": 0},
        "performed_via_github_app": null
    })
}

/// A deployment.
pub fn deployment(base: &str, w: &mut World, d: &Deployment) -> Value {
    let api = format!("{base}/repos/{}", d.repo);
    let creator = user_of(base, w, &d.creator);
    json!({
        "url": format!("{api}/deployments/{}", d.id),
        "id": d.id,
        "node_id": node_id("010:Deployment", d.id),
        "sha": d.sha,
        "ref": d.git_ref,
        "task": d.task,
        "payload": d.payload,
        "original_environment": d.environment,
        "environment": d.environment,
        "description": d.description,
        "creator": creator,
        "created_at": ts(&d.created_at),
        "updated_at": ts(&d.created_at),
        "statuses_url": format!("{api}/deployments/{}/statuses", d.id),
        "repository_url": api,
        "transient_environment": d.transient_environment,
        "production_environment": d.production_environment,
        "performed_via_github_app": null
    })
}

/// A deployment status.
pub fn deployment_status(base: &str, w: &mut World, s: &DeploymentStatus) -> Value {
    let api = format!("{base}/repos/{}", s.repo);
    let creator = user_of(base, w, &s.creator);
    json!({
        "url": format!("{api}/deployments/{}/statuses/{}", s.deployment_id, s.id),
        "id": s.id,
        "node_id": node_id("016:DeploymentStatus", s.id),
        "state": s.state,
        "creator": creator,
        "description": s.description.clone().unwrap_or_default(),
        "environment": s.environment,
        "target_url": s.log_url.clone().unwrap_or_default(),
        "log_url": s.log_url.clone().unwrap_or_default(),
        "environment_url": s.environment_url.clone().unwrap_or_default(),
        "created_at": ts(&s.created_at),
        "updated_at": ts(&s.created_at),
        "deployment_url": format!("{api}/deployments/{}", s.deployment_id),
        "repository_url": api,
        "performed_via_github_app": null
    })
}

/// The app's installation.
pub fn installation(base: &str, w: &mut World) -> Value {
    let account = w.installation_account.clone();
    let id = w.installation_id;
    let app_id = w.app.id;
    let slug = w.app.slug.clone();
    json!({
        "id": id,
        "account": user_of(base, w, &account),
        "repository_selection": "selected",
        "access_tokens_url": format!("{base}/app/installations/{id}/access_tokens"),
        "repositories_url": format!("{base}/installation/repositories"),
        "html_url": format!("{base}/organizations/{account}/settings/installations/{id}"),
        "app_id": app_id,
        "app_slug": slug,
        "target_id": 1,
        "target_type": "Organization",
        "permissions": permissions(),
        "events": ["pull_request", "push"],
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "single_file_name": null,
        "has_multiple_single_files": false,
        "single_file_paths": [],
        "suspended_by": null,
        "suspended_at": null
    })
}

/// The permissions the app asks for.
pub fn permissions() -> Value {
    json!({"contents": "read", "deployments": "write", "issues": "write", "metadata": "read", "pull_requests": "write"})
}

/// A file at a ref (`GET /repos/{o}/{r}/contents/{path}`).
pub fn content(base: &str, repo: &str, path: &str, git_ref: &str, text: &str) -> Value {
    let b64 = base64::engine::general_purpose::STANDARD.encode(text);
    // GitHub wraps the base64 at 60 characters.
    let wrapped: Vec<String> = b64
        .as_bytes()
        .chunks(60)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    let sha = git_blob_sha(text);
    let name = path.rsplit('/').next().unwrap_or(path);
    let url = format!("{base}/repos/{repo}/contents/{path}?ref={git_ref}");
    let html = format!("{base}/{repo}/blob/{git_ref}/{path}");
    let git = format!("{base}/repos/{repo}/git/blobs/{sha}");
    json!({
        "type": "file",
        "encoding": "base64",
        "size": text.len(),
        "name": name,
        "path": path,
        "content": wrapped.join("\n") + "\n",
        "sha": sha,
        "url": url,
        "git_url": git,
        "html_url": html,
        "download_url": format!("{base}/raw/{repo}/{git_ref}/{path}"),
        "_links": {"self": url, "git": git, "html": html}
    })
}

fn git_blob_sha(text: &str) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(format!("blob {}\0{text}", text.len()));
    hex::encode(h.finalize())[..40].to_string()
}
