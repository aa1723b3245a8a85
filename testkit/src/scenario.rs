//! Timed scripts for demos: pull requests opened and pushed, Jobs and workloads that fail,
//! namespaces that hang, API outages — each step at an offset from the start.
//!
//! ```yaml
//! steps:
//!   - at: 0s
//!     job: { match: "*/catalyst-deploy-*", exit_code: 1, run_for: 2s, logs: ["Error: chart not found"] }
//!   - at: 1s
//!     pr: { repo: acme/web, action: open, number: 1 }
//!   - at: 10s
//!     pr: { repo: acme/web, action: push, number: 1 }
//! ```

use std::time::Duration;

use serde::Deserialize;

use crate::faults::Outage;
use crate::github::{GitHub, PrAction};
use crate::kube::{Cluster, JobBehaviour, Match, WorkloadBehaviour};

/// A scenario failed to load.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read the scenario file: {0}")]
    Read(#[from] std::io::Error),
    #[error("the scenario is not valid YAML for a scenario: {0}")]
    Parse(#[from] serde_yaml::Error),
    #[error("step {step}: invalid duration {value:?} (use e.g. 500ms, 2s, 1m)")]
    Duration { step: usize, value: String },
}

/// A whole script.
#[derive(Debug, Clone, Deserialize)]
pub struct Scenario {
    pub steps: Vec<Step>,
}

/// One timed step.
#[derive(Debug, Clone, Deserialize)]
pub struct Step {
    /// Offset from the start: `500ms`, `2s`, `1m`.
    pub at: String,
    #[serde(flatten)]
    pub action: StepAction,
}

/// What a step does.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepAction {
    /// Change a pull request and deliver its webhook.
    Pr(PrStep),
    /// Script Jobs matching a pattern.
    Job(JobStep),
    /// Script workloads matching a pattern.
    Workload(WorkloadStep),
    /// Make namespaces matching a pattern hang in Terminating (or release them).
    NamespaceStuck { pattern: String, stuck: bool },
    /// A Kubernetes API outage: `status` (e.g. 503), `hang` or `refuse`.
    KubeOutage {
        kind: String,
        status: Option<u16>,
        duration: String,
    },
}

/// A pull request step.
#[derive(Debug, Clone, Deserialize)]
pub struct PrStep {
    pub repo: String,
    #[serde(flatten)]
    pub action: PrAction,
}

/// A Job rule.
#[derive(Debug, Clone, Deserialize)]
pub struct JobStep {
    /// `ns/name` or `name` pattern.
    #[serde(rename = "match")]
    pub pattern: String,
    #[serde(default)]
    pub exit_code: i32,
    pub run_for: Option<String>,
    #[serde(default)]
    pub logs: Vec<String>,
}

/// A workload rule.
#[derive(Debug, Clone, Deserialize)]
pub struct WorkloadStep {
    #[serde(rename = "match")]
    pub pattern: String,
    /// Crash-loop with this exit code.
    pub crash_loop: Option<i32>,
    #[serde(default)]
    pub logs: Vec<String>,
}

/// Parses `500ms`, `2s`, `1m`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if let Some(v) = s.strip_suffix("ms") {
        return v.parse().ok().map(Duration::from_millis);
    }
    if let Some(v) = s.strip_suffix('s') {
        return v.parse::<f64>().ok().map(Duration::from_secs_f64);
    }
    if let Some(v) = s.strip_suffix('m') {
        return v.parse::<u64>().ok().map(|m| Duration::from_secs(m * 60));
    }
    None
}

impl Scenario {
    /// Loads a scenario file and checks its durations.
    pub fn load(path: &std::path::Path) -> Result<Self, ScenarioError> {
        Self::parse(&std::fs::read_to_string(path)?)
    }

    /// Parses scenario YAML and checks its durations.
    pub fn parse(text: &str) -> Result<Self, ScenarioError> {
        let s: Scenario = serde_yaml::from_str(text)?;
        for (i, step) in s.steps.iter().enumerate() {
            let mut durations = vec![step.at.clone()];
            match &step.action {
                StepAction::Job(j) => durations.extend(j.run_for.clone()),
                StepAction::KubeOutage { duration, .. } => durations.push(duration.clone()),
                _ => {}
            }
            for d in durations {
                if parse_duration(&d).is_none() {
                    return Err(ScenarioError::Duration { step: i, value: d });
                }
            }
        }
        Ok(s)
    }

    /// Plays the steps in time order; failures of single steps are reported and skipped.
    pub async fn play(self, cluster: Cluster, github: GitHub) {
        let start = tokio::time::Instant::now();
        let mut steps = self.steps;
        steps.sort_by_key(|s| parse_duration(&s.at).unwrap_or_default());
        for step in steps {
            tokio::time::sleep_until(start + parse_duration(&step.at).unwrap_or_default()).await;
            match step.action {
                StepAction::Pr(p) => {
                    if matches!(p.action, PrAction::Open(_)) {
                        github.add_repo(&p.repo);
                    }
                    match github.apply(&p.repo, p.action) {
                        Ok(d) => match github.deliver(&d).await {
                            Ok(r) => println!(
                                "scenario: {} {} delivered ({})",
                                d.event,
                                d.action().unwrap_or_default(),
                                r.status
                            ),
                            Err(e) => eprintln!("scenario: delivery {} failed: {e}", d.id),
                        },
                        Err(e) => eprintln!("scenario: pr step on {} failed: {e}", p.repo),
                    }
                }
                StepAction::Job(j) => {
                    let mut b = if j.exit_code == 0 {
                        JobBehaviour::succeed()
                    } else {
                        JobBehaviour::fail(j.exit_code)
                    };
                    if let Some(d) = j.run_for.as_deref().and_then(parse_duration) {
                        b = b.after(d);
                    }
                    cluster.on_job(Match::from(j.pattern.as_str()), b.logs(j.logs));
                }
                StepAction::Workload(w) => {
                    let b = match w.crash_loop {
                        Some(code) => WorkloadBehaviour::crash_loop(code, w.logs),
                        None => WorkloadBehaviour::ready().logs(w.logs),
                    };
                    cluster.on_workload(Match::from(w.pattern.as_str()), b);
                }
                StepAction::NamespaceStuck { pattern, stuck } => {
                    cluster.set_namespace_stuck(&pattern, stuck)
                }
                StepAction::KubeOutage {
                    kind,
                    status,
                    duration,
                } => {
                    let outage = match kind.as_str() {
                        "hang" => Outage::Hang,
                        "refuse" => Outage::Refuse,
                        _ => Outage::Status(status.unwrap_or(503)),
                    };
                    cluster
                        .faults()
                        .outage(outage, parse_duration(&duration).unwrap_or_default());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_scenario() {
        let s = Scenario::parse(
            "steps:\n  - at: 1s\n    pr: {repo: acme/web, action: open, number: 3}\n  - at: 500ms\n    job: {match: 'pr-*/helm-*', exit_code: 1, run_for: 2s, logs: [boom]}\n",
        )
        .unwrap();
        assert_eq!(s.steps.len(), 2);
        assert!(
            matches!(&s.steps[0].action, StepAction::Pr(p) if p.repo == "acme/web" && matches!(&p.action, PrAction::Open(spec) if spec.number == Some(3)))
        );
        assert!(
            Scenario::parse(
                "steps:\n  - at: soon\n    namespace_stuck: {pattern: x, stuck: true}\n"
            )
            .is_err()
        );
    }
}
