//! What the engine tells subscribers (GitHub comments and statuses, dashboard live
//! updates): one event whenever an environment's status, latest attempt phase, queue
//! position or stuck flag changes.

use app::model::EnvironmentStatus;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A status change of one environment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EnvironmentEvent {
    pub environment_id: String,
    /// `owner/name`.
    pub repository: String,
    pub pr_number: u64,
    pub namespace: String,
    pub status: EnvironmentStatus,
    /// The latest attempt's phase (`queued`, `deploying`, `failed`, ...).
    pub phase: Option<String>,
    pub attempt: Option<u32>,
    pub head_sha: Option<String>,
    pub url: Option<String>,
    pub queue_position: Option<u32>,
    /// The failure of the latest attempt, when it failed.
    pub error: Option<String>,
    pub failed_check: Option<String>,
    pub log_excerpt: Option<String>,
    pub deletion_stuck: bool,
    pub at: DateTime<Utc>,
}

impl EnvironmentEvent {
    /// The fields whose change makes a new event.
    pub(crate) fn key(&self) -> EventKey {
        (
            self.status,
            self.phase.clone(),
            self.attempt,
            self.queue_position,
            self.deletion_stuck,
        )
    }
}

pub(crate) type EventKey = (
    EnvironmentStatus,
    Option<String>,
    Option<u32>,
    Option<u32>,
    bool,
);
