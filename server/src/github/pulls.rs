//! The GitHub half of the reconciliation sweep: a repository's open pull requests, asked
//! with a conditional request so an unchanged repository costs nothing (GitHub does not
//! count a `304 Not Modified` against the rate limit).
//!
//! The list is sorted by last update, newest first, and only the first page is asked
//! conditionally: any change to a PR (push, label, title, reopen) moves it to the top of
//! page one and so changes that page's `ETag`. A PR closed on a later page is the one
//! change this can miss until page one changes too; the `closed` webhook covers it.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::core::domain::{CommitSha, PullRequestNumber, RepositoryName};

use super::request::ApiRequest;
use super::{GithubClient, InstallationId, Result};

/// An open pull request, as the sweep needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenPullRequest {
    pub number: PullRequestNumber,
    pub head_sha: CommitSha,
    pub head_ref: String,
    pub base_ref: String,
    pub title: String,
    pub author: String,
    /// The head lives in another repository (or in a deleted fork).
    pub fork: bool,
    pub draft: bool,
    pub labels: Vec<String>,
    pub updated_at: DateTime<Utc>,
}

/// The answer of [`GithubClient::list_open_pulls`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpenPulls {
    /// Nothing changed since the `ETag` that was passed in.
    NotModified,
    /// The full list, and the `ETag` to pass next time.
    Changed {
        pulls: Vec<OpenPullRequest>,
        etag: Option<String>,
    },
}

#[derive(Deserialize)]
struct RawPull {
    number: u64,
    title: String,
    #[serde(default)]
    draft: bool,
    updated_at: DateTime<Utc>,
    user: Option<RawUser>,
    #[serde(default)]
    labels: Vec<RawLabel>,
    head: RawBranch,
    base: RawBranch,
}

#[derive(Deserialize)]
struct RawUser {
    login: String,
}

#[derive(Deserialize)]
struct RawLabel {
    name: String,
}

#[derive(Deserialize)]
struct RawBranch {
    #[serde(rename = "ref")]
    git_ref: String,
    sha: String,
    repo: Option<RawRepo>,
}

#[derive(Deserialize)]
struct RawRepo {
    full_name: String,
}

impl From<RawPull> for OpenPullRequest {
    fn from(p: RawPull) -> Self {
        let fork = match (&p.head.repo, &p.base.repo) {
            (Some(head), Some(base)) => !head.full_name.eq_ignore_ascii_case(&base.full_name),
            // GitHub drops `head.repo` when the fork was deleted: still not ours.
            _ => true,
        };
        Self {
            number: PullRequestNumber(p.number),
            head_sha: CommitSha(p.head.sha),
            head_ref: p.head.git_ref,
            base_ref: p.base.git_ref,
            title: p.title,
            author: p.user.map(|u| u.login).unwrap_or_default(),
            fork,
            draft: p.draft,
            labels: p.labels.into_iter().map(|l| l.name).collect(),
            updated_at: p.updated_at,
        }
    }
}

/// One pull request as [`GithubClient::pull_request`] reads it, open or not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullRequestState {
    pub pull: OpenPullRequest,
    pub open: bool,
    pub merged: bool,
}

#[derive(Deserialize)]
struct RawPullWithState {
    #[serde(flatten)]
    pull: RawPull,
    state: String,
    #[serde(default)]
    merged: bool,
}

impl GithubClient {
    /// One pull request (the sweep confirms that a PR missing from the open list was
    /// closed); `None` when GitHub does not know it (deleted, or the repository moved).
    pub async fn pull_request(
        &self,
        installation: InstallationId,
        repo: &RepositoryName,
        number: PullRequestNumber,
    ) -> Result<Option<PullRequestState>> {
        let request = ApiRequest::get(format!(
            "/repos/{}/{}/pulls/{}",
            repo.owner(),
            repo.name(),
            number.0
        ));
        let response = match self.send(installation, &request).await {
            Ok(response) => response,
            Err(e) if e.status() == Some(404) => return Ok(None),
            Err(e) => return Err(e),
        };
        let raw: RawPullWithState = response.json("a pull request")?;
        Ok(Some(PullRequestState {
            open: raw.state == "open",
            merged: raw.merged,
            pull: raw.pull.into(),
        }))
    }

    /// The open PRs of `repo`, or [`OpenPulls::NotModified`] when `etag` (from the
    /// previous sweep) still matches.
    pub async fn list_open_pulls(
        &self,
        installation: InstallationId,
        repo: &RepositoryName,
        etag: Option<&str>,
    ) -> Result<OpenPulls> {
        let first = format!(
            "/repos/{}/{}/pulls?state=open&sort=updated&direction=desc&per_page=100",
            repo.owner(),
            repo.name()
        );
        let mut request = ApiRequest::get(first);
        request.if_none_match = etag.map(str::to_owned);
        let response = self.send(installation, &request).await?;
        if response.status == http::StatusCode::NOT_MODIFIED {
            return Ok(OpenPulls::NotModified);
        }
        let new_etag = response.etag();
        let mut raw: Vec<RawPull> = response.json("open pull requests")?;
        if let Some(next) = response.next_page() {
            raw.extend(
                self.get_all_pages::<RawPull>(installation, next, "open pull requests")
                    .await?,
            );
        }
        let mut pulls: Vec<OpenPullRequest> = raw.into_iter().map(Into::into).collect();
        // A PR updated while we paged may show up twice.
        pulls.sort_by_key(|p| p.number);
        pulls.dedup_by_key(|p| p.number);
        Ok(OpenPulls::Changed {
            pulls,
            etag: new_etag,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(head_repo: Option<&str>) -> RawPull {
        let branch = |repo: Option<&str>| RawBranch {
            git_ref: "feature".into(),
            sha: "a".repeat(40),
            repo: repo.map(|r| RawRepo {
                full_name: r.into(),
            }),
        };
        RawPull {
            number: 7,
            title: "Add things".into(),
            draft: true,
            updated_at: DateTime::from_timestamp(0, 0).unwrap(),
            user: Some(RawUser {
                login: "octocat".into(),
            }),
            labels: vec![RawLabel {
                name: "preview".into(),
            }],
            head: branch(head_repo),
            base: branch(Some("acme/app")),
        }
    }

    #[test]
    fn forks_are_recognised_by_the_head_repository() {
        let own: OpenPullRequest = raw(Some("Acme/App")).into();
        assert!(!own.fork);
        assert!(own.draft);
        assert_eq!(own.labels, ["preview"]);
        assert_eq!(own.author, "octocat");
        assert!(OpenPullRequest::from(raw(Some("mallory/app"))).fork);
        assert!(OpenPullRequest::from(raw(None)).fork, "deleted fork");
    }
}
