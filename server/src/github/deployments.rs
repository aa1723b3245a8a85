//! GitHub Deployments, so the PR's "View deployment" button leads to the preview: one
//! deployment per attempt (environment `preview/pr-{n}`, transient, not production, ref
//! = the head SHA) and its statuses queued → in_progress → success (with
//! `environment_url` and `log_url`) / failure, and inactive when the PR is cleaned up.

use serde::Deserialize;
use serde_json::json;

use crate::core::domain::{CommitSha, PullRequestNumber};

use super::request::ApiRequest;
use super::{GithubClient, PullRequestRef, Result};

/// A deployment's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeploymentId(pub u64);

/// The deployment status states Catalyst posts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeploymentState {
    Queued,
    InProgress,
    Success,
    Failure,
    Error,
    Inactive,
}

impl DeploymentState {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::InProgress => "in_progress",
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Error => "error",
            Self::Inactive => "inactive",
        }
    }
}

/// One status to post.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeploymentStatusUpdate {
    pub state: DeploymentState,
    /// The preview's public URL (shown as "View deployment").
    pub environment_url: Option<String>,
    /// Catalyst's environment page.
    pub log_url: Option<String>,
    /// At most 140 characters are kept (GitHub's limit).
    pub description: Option<String>,
}

/// The GitHub environment name for a PR's previews.
pub fn environment_name(number: PullRequestNumber) -> String {
    format!("preview/pr-{number}")
}

#[derive(Deserialize)]
struct Created {
    id: u64,
}

#[derive(Deserialize)]
struct Listed {
    id: u64,
    #[serde(default)]
    payload: serde_json::Value,
}

fn deployments_path(pr: &PullRequestRef) -> String {
    format!("/repos/{}/{}/deployments", pr.repo.owner(), pr.repo.name())
}

fn clip(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

impl GithubClient {
    /// The deployment of `attempt`, created unless GitHub already has it: a publisher
    /// that died between creating it and recording its id (or a leader that changed
    /// meanwhile) must not leave two deployments for one attempt. The attempt is kept
    /// in the deployment's payload and looked up among the deployments of `sha`.
    pub async fn find_or_create_deployment(
        &self,
        pr: &PullRequestRef,
        sha: &CommitSha,
        attempt: &str,
        description: &str,
    ) -> Result<DeploymentId> {
        let query = format!(
            "{}?sha={}&environment={}&per_page=100",
            deployments_path(pr),
            sha.as_str(),
            environment_name(pr.number).replace('/', "%2F"),
        );
        let listed = self
            .send(pr.installation, &ApiRequest::get(query))
            .await?
            .json::<Vec<Listed>>("deployments")?;
        if let Some(d) = listed
            .iter()
            .find(|d| d.payload["catalyst_attempt"].as_str() == Some(attempt))
        {
            return Ok(DeploymentId(d.id));
        }
        self.create_deployment(pr, sha, Some(attempt), description)
            .await
    }

    /// Creates the deployment for one attempt at `sha` (its id in the payload, when
    /// given, for [`GithubClient::find_or_create_deployment`]).
    pub async fn create_deployment(
        &self,
        pr: &PullRequestRef,
        sha: &CommitSha,
        attempt: Option<&str>,
        description: &str,
    ) -> Result<DeploymentId> {
        let body = json!({
            "ref": sha.as_str(),
            "task": "deploy",
            "environment": environment_name(pr.number),
            "description": clip(description, 140),
            "transient_environment": true,
            "production_environment": false,
            // Previews deploy whatever the PR holds; GitHub must not block on checks.
            "auto_merge": false,
            "required_contexts": [],
            "payload": { "pull_request": pr.number.0, "catalyst_attempt": attempt },
        });
        let request = ApiRequest::post(deployments_path(pr), body);
        let response = self.send(pr.installation, &request).await?;
        Ok(DeploymentId(response.json::<Created>("a deployment")?.id))
    }

    /// Posts a status for `deployment`.
    pub async fn create_deployment_status(
        &self,
        pr: &PullRequestRef,
        deployment: DeploymentId,
        update: &DeploymentStatusUpdate,
    ) -> Result<()> {
        let mut body = json!({
            "state": update.state.as_str(),
            "environment": environment_name(pr.number),
            "auto_inactive": true,
        });
        if let Some(url) = &update.environment_url {
            body["environment_url"] = json!(url);
        }
        if let Some(url) = &update.log_url {
            body["log_url"] = json!(url);
        }
        if let Some(text) = &update.description {
            body["description"] = json!(clip(text, 140));
        }
        let request = ApiRequest::post(
            format!("{}/{}/statuses", deployments_path(pr), deployment.0),
            body,
        );
        self.send(pr.installation, &request).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environments_are_named_per_pull_request() {
        assert_eq!(environment_name(PullRequestNumber(42)), "preview/pr-42");
        assert_eq!(DeploymentState::InProgress.as_str(), "in_progress");
        assert_eq!(clip("äöü", 2), "äö");
    }
}
