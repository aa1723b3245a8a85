//! Pull request life-cycle changes (open, push, close, reopen, label, unlabel): each changes
//! the world and yields the matching `pull_request` webhook delivery.

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::errors::{GhError, GhResult};
use super::render;
use super::state::{PullRequest, Repo, World, random_hex};
use super::webhook::{Delivery, pull_request_payload};

/// What a new pull request looks like; unset fields get sensible defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PrSpec {
    pub number: Option<u64>,
    pub title: Option<String>,
    pub body: Option<String>,
    pub author: Option<String>,
    pub head_ref: Option<String>,
    pub head_sha: Option<String>,
    pub base_ref: Option<String>,
    /// The head lives in the author's fork.
    #[serde(default)]
    pub fork: bool,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub draft: bool,
}

impl PrSpec {
    /// A pull request with the next free number.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the number.
    pub fn number(mut self, n: u64) -> Self {
        self.number = Some(n);
        self
    }

    /// Sets the title.
    pub fn title(mut self, t: impl Into<String>) -> Self {
        self.title = Some(t.into());
        self
    }

    /// Sets the author's login.
    pub fn author(mut self, a: impl Into<String>) -> Self {
        self.author = Some(a.into());
        self
    }

    /// Sets the head SHA.
    pub fn head_sha(mut self, s: impl Into<String>) -> Self {
        self.head_sha = Some(s.into());
        self
    }

    /// Sets the head branch.
    pub fn head_ref(mut self, r: impl Into<String>) -> Self {
        self.head_ref = Some(r.into());
        self
    }

    /// Makes the head come from a fork.
    pub fn fork(mut self) -> Self {
        self.fork = true;
        self
    }

    /// Adds a label.
    pub fn label(mut self, l: impl Into<String>) -> Self {
        self.labels.push(l.into());
        self
    }
}

/// One change to a pull request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum PrAction {
    Open(PrSpec),
    /// New commits: `synchronize`. A random SHA when none is given.
    Push {
        number: u64,
        sha: Option<String>,
    },
    Close {
        number: u64,
        #[serde(default)]
        merged: bool,
    },
    Reopen {
        number: u64,
    },
    Label {
        number: u64,
        label: String,
    },
    Unlabel {
        number: u64,
        label: String,
    },
}

fn pr_mut<'a>(w: &'a mut World, repo: &str, number: u64) -> GhResult<&'a mut PullRequest> {
    w.pulls
        .get_mut(&(repo.to_string(), number))
        .ok_or_else(GhError::not_found)
}

/// Applies a change to `repo` and returns the delivery GitHub would send for it.
pub fn apply(w: &mut World, base: &str, repo: &str, action: PrAction) -> GhResult<Delivery> {
    if !w.repos.contains_key(repo) {
        return Err(GhError::not_found());
    }
    let (name, extra, number) = match action {
        PrAction::Open(spec) => {
            let number = spec.number.unwrap_or_else(|| {
                w.pulls
                    .keys()
                    .filter(|(r, _)| r == repo)
                    .map(|(_, n)| *n)
                    .max()
                    .unwrap_or(0)
                    + 1
            });
            if w.pulls.contains_key(&(repo.to_string(), number)) {
                return Err(GhError::unprocessable(format!(
                    "pull request #{number} already exists"
                )));
            }
            let author = spec.author.unwrap_or_else(|| "octocat".into());
            w.ensure_user(&author, "User");
            let repo_name = repo.split('/').nth(1).unwrap_or(repo).to_string();
            let head_repo = if spec.fork {
                let fork = format!("{author}/{repo_name}");
                if !w.repos.contains_key(&fork) {
                    let id = w.next_id();
                    w.repos.insert(
                        fork.clone(),
                        Repo {
                            id,
                            owner: author.clone(),
                            name: repo_name,
                            default_branch: "main".into(),
                            private: false,
                            files: Default::default(),
                            collaborators: Default::default(),
                            created_at: Utc::now(),
                            pushed_at: Utc::now(),
                        },
                    );
                }
                fork
            } else {
                repo.to_string()
            };
            let id = w.next_id();
            let default_branch = w.repos[repo].default_branch.clone();
            let pr = PullRequest {
                id,
                number,
                repo: repo.to_string(),
                title: spec.title.unwrap_or_else(|| format!("Change #{number}")),
                body: spec.body,
                author,
                state: "open".into(),
                merged: false,
                draft: spec.draft,
                head_ref: spec.head_ref.unwrap_or_else(|| format!("feature-{number}")),
                head_sha: spec.head_sha.unwrap_or_else(|| random_hex(40)),
                base_ref: spec.base_ref.unwrap_or(default_branch),
                base_sha: random_hex(40),
                head_repo,
                labels: spec.labels,
                created_at: Utc::now(),
                updated_at: Utc::now(),
                closed_at: None,
            };
            w.pulls.insert((repo.to_string(), number), pr);
            if let Some(r) = w.repos.get_mut(repo) {
                r.pushed_at = Utc::now();
            }
            ("opened", json!({}), number)
        }
        PrAction::Push { number, sha } => {
            let pr = pr_mut(w, repo, number)?;
            let before = pr.head_sha.clone();
            pr.head_sha = sha.unwrap_or_else(|| random_hex(40));
            pr.updated_at = Utc::now();
            let after = pr.head_sha.clone();
            if let Some(r) = w.repos.get_mut(repo) {
                r.pushed_at = Utc::now();
            }
            (
                "synchronize",
                json!({"before": before, "after": after}),
                number,
            )
        }
        PrAction::Close { number, merged } => {
            let pr = pr_mut(w, repo, number)?;
            pr.state = "closed".into();
            pr.merged = merged;
            pr.closed_at = Some(Utc::now());
            pr.updated_at = Utc::now();
            ("closed", json!({}), number)
        }
        PrAction::Reopen { number } => {
            let pr = pr_mut(w, repo, number)?;
            pr.state = "open".into();
            pr.merged = false;
            pr.closed_at = None;
            pr.updated_at = Utc::now();
            ("reopened", json!({}), number)
        }
        PrAction::Label { number, label } => {
            let pr = pr_mut(w, repo, number)?;
            if !pr.labels.contains(&label) {
                pr.labels.push(label.clone());
            }
            pr.updated_at = Utc::now();
            (
                "labeled",
                json!({"label": render::label_json(base, repo, &label)}),
                number,
            )
        }
        PrAction::Unlabel { number, label } => {
            let pr = pr_mut(w, repo, number)?;
            pr.labels.retain(|l| *l != label);
            pr.updated_at = Utc::now();
            (
                "unlabeled",
                json!({"label": render::label_json(base, repo, &label)}),
                number,
            )
        }
    };
    let pr = w.pulls[&(repo.to_string(), number)].clone();
    let payload: Value = pull_request_payload(base, w, name, &pr, extra);
    Ok(Delivery::new("pull_request", &payload))
}
