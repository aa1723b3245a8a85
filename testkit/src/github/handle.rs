//! `GitHub`: the handle tests use to set up and inspect the GitHub double, change pull
//! requests, and deliver the matching webhooks.

use std::sync::Arc;

use chrono::Utc;

use super::actions::{self, PrAction, PrSpec};
use super::errors::GhError;
use super::state::{Comment, Deployment, DeploymentStatus, PullRequest, Repo, World};
use super::webhook::{Delivery, DeliveryResult, WebhookError, WebhookSender};
use super::{GhState, TEST_APP_PRIVATE_KEY_PEM};
use crate::faults::Faults;
use crate::recorder::RecordedRequest;

/// Control over the GitHub double.
#[derive(Clone)]
pub struct GitHub {
    st: Arc<GhState>,
}

impl GitHub {
    pub(crate) fn new(st: Arc<GhState>) -> Self {
        Self { st }
    }

    /// The shared state, for anything this handle does not cover.
    pub fn state(&self) -> &Arc<GhState> {
        &self.st
    }

    /// `http://127.0.0.1:PORT` — the API base URL (`CATALYST_GITHUB_API_URL`).
    pub fn url(&self) -> String {
        self.st.base()
    }

    /// The app's id (`CATALYST_GITHUB_APP_ID`).
    pub fn app_id(&self) -> u64 {
        self.st.world().app.id
    }

    /// The app's private key, PEM (test-only key).
    pub fn app_private_key_pem(&self) -> &'static str {
        TEST_APP_PRIVATE_KEY_PEM
    }

    /// The app's installation id.
    pub fn installation_id(&self) -> u64 {
        self.st.world().installation_id
    }

    /// The login the app writes as (`slug[bot]`).
    pub fn bot_login(&self) -> String {
        self.st.world().bot_login()
    }

    /// Runs `f` on the world (anything the other methods do not cover).
    pub fn with_world<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        f(&mut self.st.world())
    }

    /// Adds a repository (`owner/name`) that the app's installation can access.
    pub fn add_repo(&self, full_name: &str) -> Repo {
        let mut w = self.st.world();
        if let Some(r) = w.repos.get(full_name) {
            return r.clone();
        }
        let (owner, name) = full_name.split_once('/').unwrap_or(("acme", full_name));
        let id = w.next_id();
        w.ensure_user(owner, "Organization");
        let r = Repo {
            id,
            owner: owner.to_string(),
            name: name.to_string(),
            default_branch: "main".into(),
            private: false,
            files: Default::default(),
            collaborators: Default::default(),
            created_at: Utc::now(),
            pushed_at: Utc::now(),
        };
        w.repos.insert(full_name.to_string(), r.clone());
        r
    }

    /// Sets a file's content at a ref (a branch or a SHA), e.g. `.catalyst/preview.yaml`.
    pub fn set_file(&self, repo: &str, git_ref: &str, path: &str, content: &str) {
        if let Some(r) = self.st.world().repos.get_mut(repo) {
            r.files
                .insert((git_ref.to_string(), path.to_string()), content.to_string());
        }
    }

    /// Gives `login` a role on `repo` (`admin`, `maintain`, `write`, `triage`, `read`).
    pub fn set_collaborator(&self, repo: &str, login: &str, role: &str) {
        let mut w = self.st.world();
        w.ensure_user(login, "User");
        if let Some(r) = w.repos.get_mut(repo) {
            r.collaborators.insert(login.to_string(), role.to_string());
        }
    }

    /// Makes `login` an active member of the team `org/team` (for operator teams).
    pub fn add_team_member(&self, org: &str, team: &str, login: &str) {
        let mut w = self.st.world();
        w.ensure_user(login, "User");
        w.teams
            .entry((org.to_lowercase(), team.to_lowercase()))
            .or_default()
            .insert(login.to_string());
    }

    /// The OAuth app's client id and secret.
    pub fn oauth_client(&self) -> (String, String) {
        let w = self.st.world();
        (w.oauth.client_id.clone(), w.oauth.client_secret.clone())
    }

    /// Who signs in at the next `/login/oauth/authorize`.
    pub fn set_oauth_user(&self, login: &str) {
        self.st.world().oauth.next_login = login.to_string();
    }

    /// Applies a pull request change and returns the delivery (not sent yet).
    pub fn apply(&self, repo: &str, action: PrAction) -> Result<Delivery, GhError> {
        let base = self.st.base();
        actions::apply(&mut self.st.world(), &base, repo, action)
    }

    /// Opens a pull request (the repository is added if missing).
    pub fn open_pr(&self, repo: &str, spec: PrSpec) -> Result<Delivery, GhError> {
        self.add_repo(repo);
        self.apply(repo, PrAction::Open(spec))
    }

    /// Pushes to a pull request (`synchronize`); a random SHA when `sha` is `None`.
    pub fn push(&self, repo: &str, number: u64, sha: Option<&str>) -> Result<Delivery, GhError> {
        self.apply(
            repo,
            PrAction::Push {
                number,
                sha: sha.map(str::to_string),
            },
        )
    }

    /// Closes (or merges) a pull request.
    pub fn close(&self, repo: &str, number: u64, merged: bool) -> Result<Delivery, GhError> {
        self.apply(repo, PrAction::Close { number, merged })
    }

    /// Reopens a pull request.
    pub fn reopen(&self, repo: &str, number: u64) -> Result<Delivery, GhError> {
        self.apply(repo, PrAction::Reopen { number })
    }

    /// Adds a label.
    pub fn label(&self, repo: &str, number: u64, label: &str) -> Result<Delivery, GhError> {
        self.apply(
            repo,
            PrAction::Label {
                number,
                label: label.to_string(),
            },
        )
    }

    /// Removes a label.
    pub fn unlabel(&self, repo: &str, number: u64, label: &str) -> Result<Delivery, GhError> {
        self.apply(
            repo,
            PrAction::Unlabel {
                number,
                label: label.to_string(),
            },
        )
    }

    /// A pull request.
    pub fn pull(&self, repo: &str, number: u64) -> Option<PullRequest> {
        self.st
            .world()
            .pulls
            .get(&(repo.to_string(), number))
            .cloned()
    }

    /// The comments on a pull request, oldest first.
    pub fn comments(&self, repo: &str, number: u64) -> Vec<Comment> {
        self.st
            .world()
            .comments
            .iter()
            .filter(|c| c.repo == repo && c.issue_number == number)
            .cloned()
            .collect()
    }

    /// The deployments of a repository, oldest first.
    pub fn deployments(&self, repo: &str) -> Vec<Deployment> {
        self.st
            .world()
            .deployments
            .iter()
            .filter(|d| d.repo == repo)
            .cloned()
            .collect()
    }

    /// The statuses of a deployment, oldest first.
    pub fn deployment_statuses(&self, deployment_id: u64) -> Vec<DeploymentStatus> {
        self.st
            .world()
            .statuses
            .iter()
            .filter(|s| s.deployment_id == deployment_id)
            .cloned()
            .collect()
    }

    /// Sets every primary rate-limit budget to `limit` with `remaining` left.
    pub fn set_rate_limit(&self, limit: u64, remaining: u64) {
        self.st.limits().set_budget(limit, remaining);
    }

    /// Requests left in the installation's budget.
    pub fn installation_rate_remaining(&self) -> u64 {
        let id = super::auth::Identity::Installation(self.installation_id());
        self.st.limits().bucket(&id).remaining()
    }

    /// The next `hits` requests trip a secondary limit (403 or 429, with `Retry-After`).
    pub fn trigger_secondary_rate_limit(&self, hits: usize, status: u16, retry_after_secs: u64) {
        self.st
            .limits()
            .trigger_secondary(hits, status, retry_after_secs);
    }

    /// Where [`GitHub::deliver`] posts, and with which secret.
    pub fn set_webhook_target(&self, url: &str, secret: &str) {
        let mut sender = WebhookSender::new(url, secret);
        sender.installation_target_id = self.app_id();
        *self.st.webhook.lock().unwrap_or_else(|p| p.into_inner()) = Some(sender);
    }

    /// Sends a delivery to the webhook target (again, for a redelivery).
    pub async fn deliver(&self, d: &Delivery) -> Result<DeliveryResult, WebhookError> {
        let sender = self
            .st
            .webhook
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or(WebhookError::NoTarget)?;
        let result = sender.send(d).await;
        let status = result.as_ref().ok().map(|r| r.status);
        self.st
            .deliveries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((d.clone(), status));
        result
    }

    /// Every delivery sent so far, with the receiver's status.
    pub fn deliveries(&self) -> Vec<(Delivery, Option<u16>)> {
        self.st
            .deliveries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Fault injection for the API.
    pub fn faults(&self) -> &Faults {
        &self.st.faults
    }

    /// Every request the API received.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.st.recorder.all()
    }
}
