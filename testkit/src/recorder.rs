//! A record of every request a double received, so tests can assert on what was sent.

use std::sync::Mutex;

/// One request as received, with its answer's status.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    /// The path without the query string.
    pub path: String,
    /// The raw query string (`""` when absent).
    pub query: String,
    pub content_type: Option<String>,
    pub user_agent: Option<String>,
    /// The `fieldManager` query parameter, when given.
    pub field_manager: Option<String>,
    /// The body as text (lossy UTF-8).
    pub body: String,
    pub status: u16,
    /// When the request's body had been read and handling began.
    pub received: chrono::DateTime<chrono::Utc>,
    /// When the answer was ready (`at - received` is the double's own time, lock waits
    /// included).
    pub at: chrono::DateTime<chrono::Utc>,
}

impl RecordedRequest {
    /// The body parsed as JSON (or YAML, for apply patches), if it parses.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.body)
            .ok()
            .or_else(|| serde_yaml::from_str(&self.body).ok())
    }

    /// The value of one query parameter (percent-decoded).
    pub fn query_param(&self, name: &str) -> Option<String> {
        crate::http_util::parse_query(&self.query).remove(name)
    }
}

/// The request log of one double.
#[derive(Debug, Default)]
pub struct Recorder {
    requests: Mutex<Vec<RecordedRequest>>,
}

impl Recorder {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<RecordedRequest>> {
        self.requests.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds one request.
    pub fn push(&self, r: RecordedRequest) {
        self.lock().push(r);
    }

    /// Every request so far, oldest first.
    pub fn all(&self) -> Vec<RecordedRequest> {
        self.lock().clone()
    }

    /// Requests with this method whose path contains `fragment`.
    pub fn matching(&self, method: &str, fragment: &str) -> Vec<RecordedRequest> {
        self.lock()
            .iter()
            .filter(|r| r.method == method && r.path.contains(fragment))
            .cloned()
            .collect()
    }

    /// Forgets everything recorded so far.
    pub fn clear(&self) {
        self.lock().clear();
    }
}
