//! The GitHub double's world: the app and its installation, repositories with files and
//! collaborators, pull requests, issue comments, deployments and their statuses, users and
//! OAuth grants. Tests read and change it through [`super::GitHub`].

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A user or bot account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub login: String,
    pub id: u64,
    /// `User`, `Bot` or `Organization`.
    pub kind: String,
    pub name: Option<String>,
    pub email: Option<String>,
}

/// A repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Repo {
    pub id: u64,
    pub owner: String,
    pub name: String,
    pub default_branch: String,
    pub private: bool,
    /// (ref, path) → file content. A ref is a branch name or a commit SHA.
    pub files: BTreeMap<(String, String), String>,
    /// login → `admin`, `maintain`, `write`, `triage`, `read`.
    pub collaborators: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
    /// Last push to any branch; stored (not "now") so that an unchanged repository
    /// renders the same bytes and keeps its ETag.
    pub pushed_at: DateTime<Utc>,
}

impl Repo {
    /// `owner/name`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }
}

/// A pull request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullRequest {
    pub id: u64,
    pub number: u64,
    pub repo: String,
    pub title: String,
    pub body: Option<String>,
    pub author: String,
    /// `open` or `closed`.
    pub state: String,
    pub merged: bool,
    pub draft: bool,
    pub head_ref: String,
    pub head_sha: String,
    pub base_ref: String,
    pub base_sha: String,
    /// The head repository's `owner/name` (differs from `repo` for forks).
    pub head_repo: String,
    pub labels: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

impl PullRequest {
    /// Whether the head lives in another repository.
    pub fn is_fork(&self) -> bool {
        self.head_repo != self.repo
    }
}

/// An issue (or pull request) comment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comment {
    pub id: u64,
    pub repo: String,
    pub issue_number: u64,
    pub body: String,
    pub author: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    pub id: u64,
    pub repo: String,
    pub sha: String,
    pub git_ref: String,
    pub task: String,
    pub environment: String,
    pub description: Option<String>,
    pub payload: Value,
    pub transient_environment: bool,
    pub production_environment: bool,
    pub creator: String,
    pub created_at: DateTime<Utc>,
}

/// A deployment status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentStatus {
    pub id: u64,
    pub deployment_id: u64,
    pub repo: String,
    /// `error`, `failure`, `inactive`, `in_progress`, `queued`, `pending`, `success`.
    pub state: String,
    pub description: Option<String>,
    pub environment: String,
    pub environment_url: Option<String>,
    pub log_url: Option<String>,
    pub creator: String,
    pub created_at: DateTime<Utc>,
}

/// An installation access token that was issued.
#[derive(Debug, Clone, PartialEq)]
pub struct IssuedToken {
    pub installation_id: u64,
    pub expires_at: DateTime<Utc>,
}

/// The GitHub App the double knows.
#[derive(Debug, Clone, PartialEq)]
pub struct App {
    pub id: u64,
    pub slug: String,
    pub name: String,
    /// PEM of the public half of the app's key; JWTs must verify against it.
    pub public_key_pem: String,
    pub owner: String,
}

/// The OAuth app used by the dashboard's sign-in.
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthApp {
    pub client_id: String,
    pub client_secret: String,
    /// Who signs in at the next `/login/oauth/authorize`.
    pub next_login: String,
}

/// The whole world.
#[derive(Debug)]
pub struct World {
    pub app: App,
    pub installation_id: u64,
    pub installation_account: String,
    pub users: BTreeMap<String, User>,
    pub repos: BTreeMap<String, Repo>,
    pub pulls: BTreeMap<(String, u64), PullRequest>,
    pub comments: Vec<Comment>,
    pub deployments: Vec<Deployment>,
    pub statuses: Vec<DeploymentStatus>,
    pub tokens: HashMap<String, IssuedToken>,
    pub oauth: OAuthApp,
    /// OAuth codes: code → (login, redirect_uri).
    pub oauth_codes: HashMap<String, (String, String)>,
    /// OAuth user tokens: token → login.
    pub user_tokens: HashMap<String, String>,
    /// Team memberships: (org, team slug) → logins (all active members).
    pub teams: BTreeMap<(String, String), std::collections::BTreeSet<String>>,
    next_id: u64,
}

impl World {
    /// A world with the app, its bot user and one installation on `installation_account`.
    pub fn new(app: App, installation_id: u64, installation_account: &str) -> Self {
        let mut w = Self {
            app,
            installation_id,
            installation_account: installation_account.to_string(),
            users: BTreeMap::new(),
            repos: BTreeMap::new(),
            pulls: BTreeMap::new(),
            comments: Vec::new(),
            deployments: Vec::new(),
            statuses: Vec::new(),
            tokens: HashMap::new(),
            oauth: OAuthApp {
                client_id: "Iv1.catalysttestkit0".into(),
                client_secret: "catalyst-testkit-oauth-secret".into(),
                next_login: "octocat".into(),
            },
            oauth_codes: HashMap::new(),
            user_tokens: HashMap::new(),
            teams: BTreeMap::new(),
            next_id: 1000,
        };
        let bot = format!("{}[bot]", w.app.slug);
        w.ensure_user(&bot, "Bot");
        w.ensure_user(installation_account, "Organization");
        w.ensure_user("octocat", "User");
        w
    }

    /// A fresh id (ids are unique across every kind, like GitHub's database ids).
    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// The user, created on first mention.
    pub fn ensure_user(&mut self, login: &str, kind: &str) -> User {
        if let Some(u) = self.users.get(login) {
            return u.clone();
        }
        let u = User {
            login: login.to_string(),
            id: self.next_id(),
            kind: kind.to_string(),
            name: None,
            email: None,
        };
        self.users.insert(login.to_string(), u.clone());
        u
    }

    /// The app's bot login (`slug[bot]`), the author of everything the app writes.
    pub fn bot_login(&self) -> String {
        format!("{}[bot]", self.app.slug)
    }
}

/// A random hex string (SHAs, ids in tokens).
pub fn random_hex(n: usize) -> String {
    (0..n)
        .map(|_| format!("{:x}", rand::random_range(0..16u8)))
        .collect()
}
