//! Data transfer objects shown by the dashboard. They are plain serde types so the same
//! values travel from the service layer to SSR, through server functions, to the browser.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Lifecycle state of a preview environment, as shown to people.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvironmentStatus {
    Pending,
    Deploying,
    Ready,
    Failed,
    Deleting,
    Deleted,
}

impl EnvironmentStatus {
    pub const ALL: [EnvironmentStatus; 6] = [
        Self::Pending,
        Self::Deploying,
        Self::Ready,
        Self::Failed,
        Self::Deleting,
        Self::Deleted,
    ];

    /// The wire and database spelling (`"pending"`, `"ready"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Deploying => "deploying",
            Self::Ready => "ready",
            Self::Failed => "failed",
            Self::Deleting => "deleting",
            Self::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl std::fmt::Display for EnvironmentStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of the environments list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentSummary {
    pub id: String,
    /// `owner/name`
    pub repository: String,
    pub pr_number: u64,
    pub pr_title: Option<String>,
    pub author: Option<String>,
    pub namespace: String,
    pub status: EnvironmentStatus,
    pub url: Option<String>,
    pub head_sha: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The most recent deployment attempt, when there has been one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_deployment: Option<DeploymentSummary>,
    /// Place in the capacity queue while waiting for a deployment slot (1 = next).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_position: Option<u32>,
    /// Why the environment is failed, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The namespace deletion has not finished in time; operators should look.
    #[serde(default)]
    pub deletion_stuck: bool,
}

/// One deployment attempt of an environment, with its phase timestamps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeploymentSummary {
    pub attempt: u32,
    pub head_sha: String,
    /// `queued | provisioning | deploying | verifying | succeeded | failed | superseded | cancelled`.
    pub phase: String,
    /// For failed attempts the stage (`job`, `health`, ...), else the final phase.
    pub outcome: Option<String>,
    pub error: Option<String>,
    pub failed_check: Option<String>,
    pub queued_at: DateTime<Utc>,
    pub provisioning_at: Option<DateTime<Utc>>,
    pub deploying_at: Option<DateTime<Utc>>,
    pub verifying_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// The environments page's data: the rows plus the instant they were read, so that SSR
/// and hydration compute the same relative ages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentList {
    pub items: Vec<EnvironmentSummary>,
    pub generated_at: DateTime<Utc>,
    /// Number of repositories configured; lets the empty state tell "nothing configured"
    /// apart from "configured, no open PRs".
    pub configured_repositories: u64,
}

/// Renders a duration in seconds the way people read ages: `42s`, `5m`, `3h`, `2d`.
pub fn human_age(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3_599 => format!("{}m", s / 60),
        3_600..=86_399 => format!("{}h", s / 3_600),
        _ => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_through_its_spelling() {
        for s in EnvironmentStatus::ALL {
            assert_eq!(EnvironmentStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(EnvironmentStatus::parse("running"), None);
    }

    #[test]
    fn ages_use_the_largest_whole_unit() {
        assert_eq!(human_age(-3), "0s");
        assert_eq!(human_age(59), "59s");
        assert_eq!(human_age(60), "1m");
        assert_eq!(human_age(7_199), "1h");
        assert_eq!(human_age(172_800), "2d");
    }
}
