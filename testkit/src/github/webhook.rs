//! Webhook deliveries: `pull_request` payloads built from the double's state, signed with
//! HMAC-SHA256 and posted with GitHub's headers. Deliveries are values, so tests can send
//! them late, out of order, twice (a redelivery keeps its `X-GitHub-Delivery`) or never.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::render;
use super::state::{PullRequest, World};

/// A delivery failure.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("no webhook target is configured; call set_webhook_target first")]
    NoTarget,
    #[error("posting the webhook failed: {0}")]
    Http(#[from] reqwest::Error),
}

/// One webhook delivery: event name, GUID and the exact body bytes that get signed.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// `X-GitHub-Delivery`.
    pub id: String,
    /// `X-GitHub-Event` (e.g. `pull_request`).
    pub event: String,
    pub body: Vec<u8>,
}

impl Delivery {
    /// A new delivery with a fresh GUID.
    pub fn new(event: &str, payload: &Value) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            event: event.to_string(),
            body: serde_json::to_vec_pretty(payload).unwrap_or_default(),
        }
    }

    /// The payload as JSON.
    pub fn payload(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The payload's `action`.
    pub fn action(&self) -> Option<String> {
        self.payload()["action"].as_str().map(str::to_string)
    }
}

/// The receiver's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryResult {
    pub status: u16,
    pub body: String,
}

/// `sha256=<hex>` of the body under `secret`, as in `X-Hub-Signature-256`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Posts deliveries to one URL with one secret.
#[derive(Debug, Clone)]
pub struct WebhookSender {
    pub url: String,
    pub secret: String,
    pub hook_id: u64,
    pub installation_target_id: u64,
    client: reqwest::Client,
}

impl WebhookSender {
    /// A sender for `url`, signing with `secret`.
    pub fn new(url: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            secret: secret.into(),
            hook_id: 123_456_789,
            installation_target_id: 1001,
            client: reqwest::Client::new(),
        }
    }

    /// Posts one delivery exactly as GitHub would.
    pub async fn send(&self, d: &Delivery) -> Result<DeliveryResult, WebhookError> {
        let resp = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("user-agent", "GitHub-Hookshot/7f3c2a1")
            .header("x-github-event", &d.event)
            .header("x-github-delivery", &d.id)
            .header("x-github-hook-id", self.hook_id.to_string())
            .header("x-github-hook-installation-target-type", "integration")
            .header(
                "x-github-hook-installation-target-id",
                self.installation_target_id.to_string(),
            )
            .header("x-hub-signature-256", signature(&self.secret, &d.body))
            .body(d.body.clone())
            .send()
            .await?;
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        Ok(DeliveryResult { status, body })
    }
}

/// The `pull_request` payload for `action` on `pr`, shaped like GitHub's.
pub fn pull_request_payload(
    base: &str,
    w: &mut World,
    action: &str,
    pr: &PullRequest,
    extra: Value,
) -> Value {
    let repo = w.repos.get(&pr.repo).cloned();
    let repo_json = repo
        .map(|r| render::repo(base, w, &r))
        .unwrap_or(Value::Null);
    let sender = render::user_of(base, w, &pr.author);
    let installation_id = w.installation_id;
    let mut p = json!({
        "action": action,
        "number": pr.number,
        "pull_request": render::pull(base, w, pr),
        "repository": repo_json,
        "installation": {"id": installation_id, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ=="},
        "sender": sender,
    });
    // Repositories owned by an organization carry it in the payload, as GitHub does.
    let owner = pr.repo.split('/').next().unwrap_or("");
    if let Some(org) = w.users.get(owner).filter(|u| u.kind == "Organization") {
        p["organization"] = render::organization(base, org);
    }
    if let Some(m) = extra.as_object() {
        for (k, v) in m {
            p[k] = v.clone();
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_githubs_documented_example() {
        // From GitHub's "Validating webhook deliveries" documentation.
        assert_eq!(
            signature("It's a Secret to Everybody", b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }
}
