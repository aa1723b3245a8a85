//! Signed webhook deliveries to Catalyst, as GitHub sends them (HMAC-SHA256 of the exact
//! body in `X-Hub-Signature-256`), and the acknowledgement-latency load: an open-loop
//! generator that starts one delivery every `1/rate` seconds whether or not earlier ones
//! were answered, so a slow server cannot slow the offered load down.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use catalyst_testkit::Delivery;
use catalyst_testkit::github::signature;
use chrono::{DateTime, Utc};
use tokio::task::JoinSet;

/// Posts deliveries to one Catalyst.
#[derive(Clone)]
pub struct Sender {
    http: reqwest::Client,
    url: String,
    secret: String,
}

impl Sender {
    pub fn new(base: &str, secret: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            url: format!("{base}/webhooks/github"),
            secret: secret.to_owned(),
        }
    }

    /// Signs `d` and shares its body: done for a whole burst or load before its clock
    /// starts, because GitHub signs its deliveries on its own machines, not on the two
    /// cores Catalyst is measured on (signing each body and copying it twice ran beside
    /// Catalyst's intake of a burst).
    fn prepare(&self, d: Delivery) -> Prepared {
        Prepared {
            signature: signature(&self.secret, &d.body),
            id: d.id,
            event: d.event,
            body: Bytes::from(d.body),
        }
    }

    /// Sends one delivery; the time it was sent and how long the answer took.
    pub async fn send(&self, d: &Delivery) -> anyhow::Result<(DateTime<Utc>, Duration)> {
        self.send_prepared(&self.prepare(d.clone())).await
    }

    async fn send_prepared(&self, d: &Prepared) -> anyhow::Result<(DateTime<Utc>, Duration)> {
        let req = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("user-agent", "GitHub-Hookshot/bench")
            .header("x-github-event", &d.event)
            .header("x-github-delivery", &d.id)
            .header("x-hub-signature-256", &d.signature)
            .body(d.body.clone());
        let sent_at = Utc::now();
        let started = Instant::now();
        let resp = req.send().await.context("sending a webhook")?;
        let status = resp.status();
        // Acknowledged = the whole answer read.
        let body = resp.bytes().await.context("reading a webhook answer")?;
        let took = started.elapsed();
        if !status.is_success() {
            bail!(
                "webhook answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        Ok((sent_at, took))
    }

    /// Sends every delivery at once (each on its own task); in input order, when each
    /// was sent and how long its acknowledgement took.
    pub async fn burst(
        &self,
        deliveries: &[Delivery],
    ) -> anyhow::Result<Vec<(DateTime<Utc>, Duration)>> {
        let prepared: Vec<Prepared> = deliveries.iter().map(|d| self.prepare(d.clone())).collect();
        let mut set = JoinSet::new();
        for (i, d) in prepared.into_iter().enumerate() {
            let sender = self.clone();
            set.spawn(async move { (i, sender.send_prepared(&d).await) });
        }
        let mut out = vec![(Utc::now(), Duration::ZERO); deliveries.len()];
        while let Some(done) = set.join_next().await {
            let (i, r) = done?;
            out[i] = r?;
        }
        Ok(out)
    }

    /// Offers `deliveries` at `rate` per second, open loop; how each was answered.
    pub async fn offer(&self, deliveries: Vec<Delivery>, rate: u32) -> anyhow::Result<Load> {
        let prepared: Vec<Prepared> = deliveries.into_iter().map(|d| self.prepare(d)).collect();
        let count = prepared.len();
        let start = tokio::time::Instant::now();
        let interval = Duration::from_secs(1) / rate.max(1);
        let mut set = JoinSet::new();
        let mut late = Duration::ZERO;
        for (i, d) in prepared.into_iter().enumerate() {
            let due = start + interval * u32::try_from(i).unwrap_or(u32::MAX);
            tokio::time::sleep_until(due).await;
            late = late.max(tokio::time::Instant::now().saturating_duration_since(due));
            let sender = self.clone();
            set.spawn(async move { (i, sender.send_prepared(&d).await) });
        }
        let offered_for = start.elapsed();
        let mut answered = vec![None; count];
        let mut errors = 0;
        while let Some(done) = set.join_next().await {
            match done? {
                (i, Ok(answer)) => answered[i] = Some(answer),
                (_, Err(_)) => errors += 1,
            }
        }
        Ok(Load {
            answered,
            errors,
            offered_for,
            max_lateness: late,
        })
    }
}

/// A delivery as sent: signed, its body shared with the request.
struct Prepared {
    id: String,
    event: String,
    body: Bytes,
    signature: String,
}

/// The outcome of one load step.
pub struct Load {
    /// In the order offered: when each delivery was sent and how long its
    /// acknowledgement took; `None` for one not acknowledged with 2xx.
    pub answered: Vec<Option<(DateTime<Utc>, Duration)>>,
    /// Deliveries not acknowledged with 2xx.
    pub errors: usize,
    /// How long offering them took (≈ count / rate when the generator kept up).
    pub offered_for: Duration,
    /// How far behind schedule the generator ever was.
    pub max_lateness: Duration,
}

impl Load {
    /// Every acknowledgement latency.
    pub fn latencies(&self) -> Vec<Duration> {
        self.answered
            .iter()
            .flatten()
            .map(|&(_, took)| took)
            .collect()
    }

    /// `name` in `dir`: one line per delivery offered, when it was sent and how long its
    /// acknowledgement took (`null` when it was not acknowledged), to lay beside
    /// Catalyst's log when the tail is looked into.
    pub fn write(&self, dir: &std::path::Path, name: &str) -> anyhow::Result<()> {
        super::write_jsonl(
            &dir.join(name),
            self.answered.iter().map(|answer| match answer {
                Some((sent, took)) => serde_json::json!({
                    "sent": sent, "acknowledged_ms": took.as_secs_f64() * 1e3,
                }),
                None => serde_json::json!({ "sent": null, "acknowledged_ms": null }),
            }),
        )
    }
}
