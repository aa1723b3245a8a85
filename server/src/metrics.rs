//! Prometheus metrics: `GET /metrics` in OpenMetrics text, one registry prefixed
//! `catalyst`, typed label sets.
//!
//! Counters and histograms are recorded where their event happens (the webhook intake,
//! the engine's deployment transitions and reconciles). Gauges that describe a level
//! (active previews, queue depth, in-flight deployments, stuck deletions, namespace
//! usage and quota, GitHub budgets and breakers) are recomputed at every scrape from the
//! database, the cluster and the GitHub client's read-outs, so they cannot drift from
//! the truth; the cluster figures are cached for [`USAGE_REFRESH`] to keep scrapes cheap.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use crate::cluster::usage::{self, NamespaceUsage};
use crate::core::breaker::BreakerState;
use crate::github::client::GithubClient;
use crate::state::AppState;
use crate::store::Db;
use crate::store::entities::{deployment, preview_environment};

/// The `Content-Type` of the OpenMetrics text format.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The `Content-Type` of the older Prometheus text format (0.0.4), served to clients that
/// ask for `text/plain` only (`promtool check metrics`, older scrapers).
pub const PROMETHEUS_TEXT_CONTENT_TYPE: &str =
    prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The two text formats `/metrics` speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    OpenMetrics,
    PrometheusText,
}

impl Format {
    /// OpenMetrics unless the `Accept` header asks for `text/plain` and not OpenMetrics
    /// (Prometheus itself asks for OpenMetrics first).
    pub fn negotiate(accept: Option<&str>) -> Self {
        match accept {
            Some(a) if !a.contains("application/openmetrics-text") && a.contains("text/plain") => {
                Self::PrometheusText
            }
            _ => Self::OpenMetrics,
        }
    }

    pub const fn content_type(self) -> &'static str {
        match self {
            Self::OpenMetrics => CONTENT_TYPE,
            Self::PrometheusText => PROMETHEUS_TEXT_CONTENT_TYPE,
        }
    }
}

/// Namespace usage and quota are read from the cluster at most this often.
pub const USAGE_REFRESH: Duration = Duration::from_secs(15);

/// How long a scrape waits for the cluster before serving the previous figures.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(5);

/// Whole deployments take seconds to half an hour: p50 and p95 resolve over 5 s–30 min.
const DEPLOYMENT_BUCKETS: [f64; 17] = [
    5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 240.0, 300.0, 420.0, 600.0, 900.0,
    1200.0, 1800.0,
];

/// One phase (queue wait, provisioning, the deploy Job, health checks).
const PHASE_BUCKETS: [f64; 14] = [
    0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1200.0, 1800.0,
];

/// One reconcile pass: milliseconds to a few tens of seconds.
const RECONCILE_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeploymentLabels {
    pub repository: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    pub phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookLabels {
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NamespaceLabels {
    pub namespace: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InstallationLabels {
    pub installation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BreakerLabels {
    pub installation: String,
    pub state: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// Level gauges, rewritten at every scrape.
#[derive(Default)]
struct Levels {
    active_previews: Gauge,
    queue_depth: Gauge,
    in_flight: Gauge,
    deletions_stuck: Gauge,
    cpu_usage: Family<NamespaceLabels, FloatGauge>,
    memory_usage: Family<NamespaceLabels, FloatGauge>,
    cpu_quota: Family<NamespaceLabels, FloatGauge>,
    memory_quota: Family<NamespaceLabels, FloatGauge>,
    rate_limit_remaining: Family<InstallationLabels, Gauge>,
    breaker_state: Family<BreakerLabels, Gauge>,
}

/// The cluster figures of the last refresh.
#[derive(Default)]
struct ClusterCache {
    refreshed_at: Option<Instant>,
    usage: BTreeMap<String, NamespaceUsage>,
}

/// Every metric Catalyst exports. Shared as `Arc<Metrics>` by the HTTP layer and the
/// engine.
pub struct Metrics {
    registry: Registry,
    deployments: Family<DeploymentLabels, Counter>,
    deployment_duration: Histogram,
    phase_duration: Family<PhaseLabels, Histogram>,
    webhook_deliveries: Family<WebhookLabels, Counter>,
    reconcile_duration: Histogram,
    reconcile_errors: Family<ErrorLabels, Counter>,
    namespace_deletion_failures: Counter,
    levels: Levels,
    github: Mutex<Option<GithubClient>>,
    /// Serialises scrapes (they rewrite the level gauges) and holds the cluster cache.
    scrape: tokio::sync::Mutex<ClusterCache>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("catalyst");
        let deployments = Family::<DeploymentLabels, Counter>::default();
        r.register(
            "deployments",
            "Finished deployment attempts by repository and outcome",
            deployments.clone(),
        );
        let deployment_duration = Histogram::new(DEPLOYMENT_BUCKETS);
        r.register_with_unit(
            "deployment_duration",
            "Time from queueing to the end of succeeded and failed deployment attempts",
            Unit::Seconds,
            deployment_duration.clone(),
        );
        let phase_duration = Family::<PhaseLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(PHASE_BUCKETS)
        });
        r.register_with_unit(
            "deployment_phase_duration",
            "Time deployment attempts spent in each phase",
            Unit::Seconds,
            phase_duration.clone(),
        );
        let webhook_deliveries = Family::<WebhookLabels, Counter>::default();
        r.register(
            "webhook_deliveries",
            "GitHub webhook deliveries by result",
            webhook_deliveries.clone(),
        );
        let reconcile_duration = Histogram::new(RECONCILE_BUCKETS);
        r.register_with_unit(
            "reconcile_duration",
            "Duration of one environment reconcile",
            Unit::Seconds,
            reconcile_duration.clone(),
        );
        let reconcile_errors = Family::<ErrorLabels, Counter>::default();
        r.register(
            "reconcile_errors",
            "Failed reconciles (and background sweeps) by kind",
            reconcile_errors.clone(),
        );
        let namespace_deletion_failures = Counter::default();
        r.register(
            "namespace_deletion_failures",
            "Namespace deletions the Kubernetes API refused or did not answer",
            namespace_deletion_failures.clone(),
        );
        let levels = Levels::default();
        r.register(
            "active_previews",
            "Preview environments that exist and are not being deleted",
            levels.active_previews.clone(),
        );
        r.register(
            "deployment_queue_depth",
            "Deployment attempts waiting for a slot",
            levels.queue_depth.clone(),
        );
        r.register(
            "deployments_in_flight",
            "Deployment attempts provisioning, deploying or verifying",
            levels.in_flight.clone(),
        );
        r.register(
            "namespace_deletions_stuck",
            "Namespaces still terminating after the deletion timeout",
            levels.deletions_stuck.clone(),
        );
        let cores = || Unit::Other("cores".to_owned());
        r.register_with_unit(
            "namespace_cpu_usage",
            "CPU used by the pods of a preview namespace (metrics.k8s.io)",
            cores(),
            levels.cpu_usage.clone(),
        );
        r.register_with_unit(
            "namespace_memory_usage",
            "Memory used by the pods of a preview namespace (metrics.k8s.io)",
            Unit::Bytes,
            levels.memory_usage.clone(),
        );
        r.register_with_unit(
            "namespace_cpu_quota",
            "CPU limit of a preview namespace's ResourceQuota",
            cores(),
            levels.cpu_quota.clone(),
        );
        r.register_with_unit(
            "namespace_memory_quota",
            "Memory limit of a preview namespace's ResourceQuota",
            Unit::Bytes,
            levels.memory_quota.clone(),
        );
        r.register(
            "github_rate_limit_remaining",
            "Requests left in the GitHub rate-limit window, per installation",
            levels.rate_limit_remaining.clone(),
        );
        r.register(
            "github_circuit_breaker_state",
            "1 for the current state of the GitHub circuit breaker of an installation",
            levels.breaker_state.clone(),
        );
        Self {
            registry: r,
            deployments,
            deployment_duration,
            phase_duration,
            webhook_deliveries,
            reconcile_duration,
            reconcile_errors,
            namespace_deletion_failures,
            levels,
            github: Mutex::new(None),
            scrape: tokio::sync::Mutex::new(ClusterCache::default()),
        }
    }

    /// A webhook delivery was answered with `result` (`applied`, `duplicate`,
    /// `bad_signature`, ...).
    pub fn webhook_received(&self, result: &str) {
        self.webhook_deliveries
            .get_or_create(&WebhookLabels {
                result: result.to_owned(),
            })
            .inc();
    }

    /// A deployment attempt of `repository` ended with `outcome` after `duration`.
    /// Superseded and cancelled attempts are counted but stay out of the duration
    /// histogram: they were interrupted, not slow.
    pub fn deployment_finished(&self, repository: &str, outcome: &str, duration: Duration) {
        self.deployments
            .get_or_create(&DeploymentLabels {
                repository: repository.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
        if !matches!(outcome, "superseded" | "cancelled") {
            self.deployment_duration.observe(duration.as_secs_f64());
        }
    }

    /// An attempt spent `duration` in `phase`.
    pub fn phase_finished(&self, phase: &str, duration: Duration) {
        self.phase_duration
            .get_or_create(&PhaseLabels {
                phase: phase.to_owned(),
            })
            .observe(duration.as_secs_f64());
    }

    /// Records a finished attempt row: outcome, total duration and each phase.
    pub fn attempt_finished(&self, repository: &str, row: &deployment::Model) {
        let Some(finished) = row.finished_at else {
            return;
        };
        let outcome = row.outcome.as_deref().unwrap_or(row.phase.as_str());
        let total = (finished - row.queued_at).to_std().unwrap_or_default();
        self.deployment_finished(repository, outcome, total);
        for (phase, duration) in phase_durations(row) {
            self.phase_finished(phase, duration);
        }
    }

    /// Times a reconcile: the sample is recorded when the guard is dropped, however the
    /// reconcile ends (`?`, panic, cancellation).
    pub fn reconcile_timer(&self) -> DropTimer {
        DropTimer {
            histogram: self.reconcile_duration.clone(),
            started: Instant::now(),
        }
    }

    /// A reconcile (or background sweep) failed; `kind` is the error's metric label.
    pub fn reconcile_error(&self, kind: &str) {
        self.reconcile_errors
            .get_or_create(&ErrorLabels {
                kind: kind.to_owned(),
            })
            .inc();
    }

    /// Deleting a namespace failed (the reconcile retries it).
    pub fn namespace_deletion_failed(&self) {
        self.namespace_deletion_failures.inc();
    }

    /// Reads rate limits and breaker states from `client` at every scrape.
    pub fn observe_github(&self, client: GithubClient) {
        *self.github.lock().unwrap_or_else(|p| p.into_inner()) = Some(client);
    }

    /// The registry in OpenMetrics text, as it stands.
    pub fn encode(&self) -> String {
        self.encode_as(Format::OpenMetrics)
    }

    /// The registry in `format`, as it stands.
    pub fn encode_as(&self, format: Format) -> String {
        let mut out = String::new();
        let encoded = match format {
            Format::OpenMetrics => {
                prometheus_client::encoding::text::encode(&mut out, &self.registry)
            }
            Format::PrometheusText => {
                prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
            }
        };
        if let Err(e) = encoded {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        out
    }

    /// Refreshes every level gauge, then encodes in `format`. Sources that fail keep
    /// their last values (and log why).
    pub async fn scrape(&self, db: &Db, cluster: Option<&kube::Client>, format: Format) -> String {
        let mut cache = self.scrape.lock().await;
        if let Err(e) = self.refresh_store_levels(db).await {
            tracing::warn!(error = %e, "metrics: cannot read levels from the store");
        }
        self.refresh_github();
        if let Some(client) = cluster {
            let due = cache
                .refreshed_at
                .is_none_or(|t| t.elapsed() >= USAGE_REFRESH);
            if due {
                cache.refreshed_at = Some(Instant::now());
                match tokio::time::timeout(CLUSTER_TIMEOUT, usage::managed_usage(client)).await {
                    Ok(Ok(usage)) => cache.usage = usage,
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "metrics: cannot read namespace usage");
                    }
                    Err(_) => tracing::warn!("metrics: namespace usage timed out"),
                }
            }
        }
        self.set_namespace_levels(&cache.usage);
        drop(cache);
        self.encode_as(format)
    }

    async fn refresh_store_levels(&self, db: &Db) -> Result<(), sea_orm::DbErr> {
        use deployment::Column as D;
        use preview_environment::Column as E;
        let active = preview_environment::Entity::find()
            .filter(E::Status.is_not_in(["deleting", "deleted"]))
            .count(db)
            .await?;
        let stuck = preview_environment::Entity::find()
            .filter(E::DeletionStuck.eq(true))
            .filter(E::Status.ne("deleted"))
            .count(db)
            .await?;
        let queued = deployment::Entity::find()
            .filter(D::Phase.eq("queued"))
            .count(db)
            .await?;
        let in_flight = deployment::Entity::find()
            .filter(D::Phase.is_in(["provisioning", "deploying", "verifying"]))
            .count(db)
            .await?;
        let level = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        self.levels.active_previews.set(level(active));
        self.levels.deletions_stuck.set(level(stuck));
        self.levels.queue_depth.set(level(queued));
        self.levels.in_flight.set(level(in_flight));
        Ok(())
    }

    fn refresh_github(&self) {
        let Some(client) = self
            .github
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        else {
            return;
        };
        let remaining = &self.levels.rate_limit_remaining;
        let breakers = &self.levels.breaker_state;
        remaining.clear();
        breakers.clear();
        for installation in client.installations() {
            let id = installation.to_string();
            if let Some(left) = client.rate_limit(installation).and_then(|r| r.remaining) {
                remaining
                    .get_or_create(&InstallationLabels {
                        installation: id.clone(),
                    })
                    .set(i64::try_from(left).unwrap_or(i64::MAX));
            }
            let current = client.breaker_state(installation);
            for state in [
                BreakerState::Closed,
                BreakerState::HalfOpen,
                BreakerState::Open,
            ] {
                breakers
                    .get_or_create(&BreakerLabels {
                        installation: id.clone(),
                        state: state.as_str().to_owned(),
                    })
                    .set(i64::from(state == current));
            }
        }
    }

    fn set_namespace_levels(&self, usage: &BTreeMap<String, NamespaceUsage>) {
        let l = &self.levels;
        for family in [&l.cpu_usage, &l.memory_usage, &l.cpu_quota, &l.memory_quota] {
            family.clear();
        }
        for (namespace, u) in usage {
            let labels = NamespaceLabels {
                namespace: namespace.clone(),
            };
            for (family, value) in [
                (&l.cpu_usage, u.cpu_cores),
                (&l.memory_usage, u.memory_bytes),
                (&l.cpu_quota, u.cpu_quota_cores),
                (&l.memory_quota, u.memory_quota_bytes),
            ] {
                if let Some(v) = value {
                    family.get_or_create(&labels).set(v);
                }
            }
        }
    }
}

/// Records the time since it was made into a histogram when dropped.
#[must_use = "the sample is recorded when the timer is dropped"]
pub struct DropTimer {
    histogram: Histogram,
    started: Instant,
}

impl Drop for DropTimer {
    fn drop(&mut self) {
        self.histogram.observe(self.started.elapsed().as_secs_f64());
    }
}

/// How long a finished attempt spent in each phase it went through, from its
/// timestamps (`queued` is the wait for a slot).
pub fn phase_durations(row: &deployment::Model) -> Vec<(&'static str, Duration)> {
    let Some(finished) = row.finished_at else {
        return Vec::new();
    };
    let marks = [
        ("queued", Some(row.queued_at)),
        ("provisioning", row.provisioning_at),
        ("deploying", row.deploying_at),
        ("verifying", row.verifying_at),
    ];
    let started: Vec<_> = marks
        .iter()
        .filter_map(|(phase, at)| at.map(|t| (*phase, t)))
        .collect();
    started
        .iter()
        .enumerate()
        .map(|(i, (phase, from))| {
            let to = started.get(i + 1).map_or(finished, |(_, t)| *t);
            (*phase, (to - *from).to_std().unwrap_or_default())
        })
        .collect()
}

/// `GET /metrics`: OpenMetrics text, or Prometheus text 0.0.4 for `Accept: text/plain`.
pub async fn serve(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = Format::negotiate(accept);
    let body = state
        .metrics
        .scrape(&state.db, state.cluster.as_ref(), format)
        .await;
    ([(header::CONTENT_TYPE, format.content_type())], body).into_response()
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, Utc};

    use super::*;

    fn row(phases: &[&str], outcome: &str) -> deployment::Model {
        let t0 = Utc::now();
        let at = |name: &str, secs: i64| {
            phases
                .contains(&name)
                .then(|| t0 + TimeDelta::seconds(secs))
        };
        deployment::Model {
            id: "d1".to_owned(),
            environment_id: "e1".to_owned(),
            attempt: 1,
            head_sha: "abc".to_owned(),
            phase: outcome.to_owned(),
            queued_at: t0,
            provisioning_at: at("provisioning", 2),
            deploying_at: at("deploying", 5),
            verifying_at: at("verifying", 65),
            finished_at: Some(t0 + TimeDelta::seconds(75)),
            outcome: Some(outcome.to_owned()),
            error: None,
            failed_check: None,
            log_excerpt: None,
            created_at: t0,
            updated_at: t0,
        }
    }

    #[test]
    fn phase_durations_follow_the_timestamps() {
        let full = row(&["provisioning", "deploying", "verifying"], "succeeded");
        let secs: Vec<(&str, u64)> = phase_durations(&full)
            .into_iter()
            .map(|(p, d)| (p, d.as_secs()))
            .collect();
        assert_eq!(
            secs,
            vec![
                ("queued", 2),
                ("provisioning", 3),
                ("deploying", 60),
                ("verifying", 10)
            ]
        );
        let early = row(&["provisioning"], "provisioning");
        let secs: Vec<(&str, u64)> = phase_durations(&early)
            .into_iter()
            .map(|(p, d)| (p, d.as_secs()))
            .collect();
        assert_eq!(secs, vec![("queued", 2), ("provisioning", 73)]);
        let mut unfinished = full;
        unfinished.finished_at = None;
        assert!(phase_durations(&unfinished).is_empty());
    }

    #[test]
    fn recorded_events_appear_in_the_encoding() {
        let m = Metrics::new();
        m.webhook_received("applied");
        m.webhook_received("applied");
        m.webhook_received("bad_signature");
        m.attempt_finished(
            "acme/web",
            &row(&["provisioning", "deploying", "verifying"], "succeeded"),
        );
        m.deployment_finished("acme/web", "superseded", Duration::from_secs(3));
        m.reconcile_error("api");
        m.namespace_deletion_failed();
        drop(m.reconcile_timer());
        let text = m.encode();
        for expected in [
            "catalyst_webhook_deliveries_total{result=\"applied\"} 2",
            "catalyst_webhook_deliveries_total{result=\"bad_signature\"} 1",
            "catalyst_deployments_total{repository=\"acme/web\",outcome=\"succeeded\"} 1",
            "catalyst_deployments_total{repository=\"acme/web\",outcome=\"superseded\"} 1",
            // Only the succeeded attempt is in the duration histogram (75 s).
            "catalyst_deployment_duration_seconds_count 1",
            "catalyst_deployment_duration_seconds_bucket{le=\"90.0\"} 1",
            "catalyst_deployment_duration_seconds_bucket{le=\"60.0\"} 0",
            "catalyst_deployment_phase_duration_seconds_count{phase=\"deploying\"} 1",
            "catalyst_reconcile_errors_total{kind=\"api\"} 1",
            "catalyst_namespace_deletion_failures_total 1",
            "catalyst_reconcile_duration_seconds_count 1",
            "# TYPE catalyst_deployment_duration_seconds histogram",
            "# UNIT catalyst_deployment_duration_seconds seconds",
            "# EOF",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
    }

    #[test]
    fn openmetrics_is_the_default_format() {
        assert_eq!(Format::negotiate(None), Format::OpenMetrics);
        assert_eq!(Format::negotiate(Some("*/*")), Format::OpenMetrics);
        assert_eq!(
            Format::negotiate(Some(
                "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
            )),
            Format::OpenMetrics
        );
        assert_eq!(
            Format::negotiate(Some("text/plain;version=0.0.4")),
            Format::PrometheusText
        );
        let m = Metrics::new();
        m.webhook_received("applied");
        let text = m.encode_as(Format::PrometheusText);
        assert!(
            text.contains("# TYPE catalyst_webhook_deliveries_total counter"),
            "{text}"
        );
        assert!(!text.contains("# EOF"), "{text}");
    }

    #[test]
    fn namespace_levels_replace_the_previous_ones() {
        let m = Metrics::new();
        let one = |ns: &str| {
            BTreeMap::from([(
                ns.to_owned(),
                NamespaceUsage {
                    cpu_cores: Some(0.25),
                    memory_bytes: None,
                    cpu_quota_cores: Some(2.0),
                    memory_quota_bytes: Some(1024.0),
                },
            )])
        };
        m.set_namespace_levels(&one("pr-a-1"));
        m.set_namespace_levels(&one("pr-b-2"));
        let text = m.encode();
        assert!(text.contains("catalyst_namespace_cpu_usage_cores{namespace=\"pr-b-2\"} 0.25"));
        assert!(text.contains("catalyst_namespace_cpu_quota_cores{namespace=\"pr-b-2\"} 2.0"));
        assert!(!text.contains("pr-a-1"), "{text}");
        assert!(
            !text.contains("catalyst_namespace_memory_usage_bytes{"),
            "{text}"
        );
    }
}
