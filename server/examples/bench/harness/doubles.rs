//! The Kubernetes and GitHub doubles (catalyst-testkit), started inside the harness so
//! that their request recorders — which time-stamp every request when it is answered —
//! can be read directly: that is how Job creation and PR comments are observed.

use std::collections::HashMap;
use std::time::Duration;

use catalyst_testkit::github::TEST_WEBHOOK_SECRET;
use catalyst_testkit::{Delivery, JobBehaviour, Match, PrAction, PrSpec, TestKit};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// Owner of every benchmark repository (the test app is installed on `acme`).
pub const OWNER: &str = "acme";

/// A pull request the harness opened, and the namespace Catalyst gives it.
#[derive(Clone, Debug)]
pub struct OpenedPr {
    pub repo: String,
    pub number: u64,
    pub namespace: String,
    pub delivery: Delivery,
}

/// Both doubles, configured so that simulated work finishes at once.
pub struct Doubles {
    pub kit: TestKit,
}

/// What a preview's chart installs: a ready Deployment and its Service (health probe).
fn app_objects() -> Vec<Value> {
    vec![
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "web:1",
                        "ports": [{"containerPort": 8080, "protocol": "TCP"}]}]}}}}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"},
                "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]}}),
    ]
}

/// Requests per hour and installation the GitHub double allows once
/// [`Doubles::lift_github_rate_limit`] ran: a GitHub Enterprise Server's budget, where rate
/// limiting is off unless an admin sets it.
const GITHUB_BUDGET: u64 = 10_000_000;

impl Doubles {
    /// Gives every installation [`GITHUB_BUDGET`], for scenarios whose pull requests need
    /// more than github.com's 5,000 requests per hour: at that limit Catalyst rightly
    /// waits for the reset, an hour away, and the figure would be GitHub's budget, not
    /// Catalyst's work. Catalyst's behaviour at the limit is tested elsewhere.
    pub fn lift_github_rate_limit(&self) {
        self.kit
            .github()
            .set_rate_limit(GITHUB_BUDGET, GITHUB_BUDGET);
    }

    /// GitHub API requests Catalyst made since [`Doubles::lift_github_rate_limit`].
    pub fn github_calls(&self) -> u64 {
        GITHUB_BUDGET.saturating_sub(self.kit.github().installation_rate_remaining())
    }

    pub async fn start() -> anyhow::Result<Self> {
        let kit = TestKit::start().await?;
        let cluster = kit.cluster();
        // A node big enough that capacity never holds a preview back.
        cluster.set_node_capacity("100000", "100000Gi", 1_000_000);
        cluster.on_job(
            Match::namespace("pr-*"),
            JobBehaviour::succeed()
                .pending(Duration::ZERO)
                .after(Duration::ZERO)
                .creates(app_objects()),
        );
        Ok(Self { kit })
    }

    /// The environment that points Catalyst at the doubles. Without the OAuth client the
    /// dashboard is open read-only, which is what the SSR figure measures.
    pub fn catalyst_env(&self) -> Vec<(String, String)> {
        self.kit
            .env()
            .into_iter()
            .filter(|(k, _)| !k.starts_with("CATALYST_GITHUB_OAUTH_"))
            .collect()
    }

    pub fn webhook_secret(&self) -> &'static str {
        TEST_WEBHOOK_SECRET
    }

    /// Opens a pull request in the GitHub double without delivering its webhook.
    pub fn open(&self, repo: &str) -> anyhow::Result<OpenedPr> {
        let gh = self.kit.github();
        gh.add_repo(repo);
        let delivery = gh
            .apply(repo, PrAction::Open(PrSpec::new()))
            .map_err(|e| anyhow::anyhow!("the GitHub double refused to open a PR: {e:?}"))?;
        let number = delivery.payload()["number"]
            .as_u64()
            .ok_or_else(|| anyhow::anyhow!("a pull_request payload without a number"))?;
        let name = repo.split_once('/').map_or(repo, |(_, n)| n);
        Ok(OpenedPr {
            repo: repo.to_owned(),
            number,
            namespace: format!("pr-{}-{number}", name.to_lowercase()),
            delivery,
        })
    }

    /// When each namespace's first deploy Job was created (`POST …/jobs` answered 201).
    pub fn jobs_created(&self) -> HashMap<String, DateTime<Utc>> {
        let mut out = HashMap::new();
        for r in self
            .kit
            .cluster()
            .state()
            .recorder
            .matching("POST", "/jobs")
        {
            let ns = r
                .path
                .strip_prefix("/apis/batch/v1/namespaces/")
                .and_then(|p| p.strip_suffix("/jobs"));
            if let (Some(ns), 201) = (ns, r.status) {
                out.entry(ns.to_owned()).or_insert(r.at);
            }
        }
        out
    }

    /// Writes every request both doubles answered, one JSON object a line (method, path,
    /// status, when received and when answered; no bodies) to `kube-requests.jsonl` and
    /// `github-requests.jsonl` in `dir`: where a figure's time went, request by request.
    pub fn write_request_logs(&self, dir: &std::path::Path) -> anyhow::Result<()> {
        let logs = [
            (
                "kube-requests.jsonl",
                self.kit.cluster().state().recorder.all(),
            ),
            (
                "github-requests.jsonl",
                self.kit.github().state().recorder.all(),
            ),
        ];
        for (file, requests) in logs {
            super::write_jsonl(
                &dir.join(file),
                requests.into_iter().map(|r| {
                    json!({
                        "method": r.method, "path": r.path, "status": r.status,
                        "received": r.received, "at": r.at,
                    })
                }),
            )?;
        }
        Ok(())
    }

    /// When each pull request's first comment was created, by `(owner/name, number)`.
    pub fn first_comments(&self) -> HashMap<(String, u64), DateTime<Utc>> {
        let mut out = HashMap::new();
        for r in self
            .kit
            .github()
            .state()
            .recorder
            .matching("POST", "/comments")
        {
            if r.status != 201 {
                continue;
            }
            // /repos/{owner}/{name}/issues/{number}/comments
            let parts: Vec<&str> = r.path.trim_start_matches('/').split('/').collect();
            if let ["repos", owner, name, "issues", n, "comments"] = parts.as_slice()
                && let Ok(n) = n.parse::<u64>()
            {
                out.entry((format!("{owner}/{name}"), n)).or_insert(r.at);
            }
        }
        out
    }
}
