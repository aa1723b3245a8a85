//! Operator notifications: a Slack-compatible incoming webhook (`{"text": "…"}`), for
//! stuck namespace deletions and permanently failed deployments. Best effort: a failed
//! notification is logged and never stops the reconciler.

use std::time::Duration;

use serde_json::json;

/// Posts to the configured webhook, when there is one.
#[derive(Clone, Debug)]
pub struct OperatorNotifier {
    url: Option<String>,
    http: reqwest::Client,
}

impl OperatorNotifier {
    pub fn new(url: Option<String>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self { url, http }
    }

    /// Sends `text` (Slack mrkdwn). Runs in the background; returns at once.
    pub fn send(&self, text: String) {
        let Some(url) = self.url.clone() else {
            return;
        };
        let http = self.http.clone();
        tokio::spawn(async move {
            let body = json!({ "text": text });
            match http.post(&url).json(&body).send().await {
                Ok(r) if r.status().is_success() => {
                    tracing::debug!("operator notification sent");
                }
                Ok(r) => {
                    tracing::warn!(
                        status = r.status().as_u16(),
                        "operator notification refused"
                    );
                }
                Err(e) => tracing::warn!(error = %e, "operator notification failed"),
            }
        });
    }
}
