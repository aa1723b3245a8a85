//! The Catalyst benchmark of issue 8: starts the `catalyst` binary against the
//! catalyst-testkit doubles on loopback and measures webhook acknowledgement latency,
//! webhook → deploy Job and → first PR comment, the GitHub reconciliation sweep, the
//! dashboard's server-side rendering, the WASM bundle and resident memory. Every
//! `load` scenario (issue 9) keeps 500 pull requests changing for ten minutes while
//! dashboard users and log followers read, and checks that no event is lost. Every
//! scenario gets its own doubles, its own `catalyst` process and a fresh SQLite database,
//! so no figure carries another scenario's state.
//!
//! Used by the `bench` example (`scripts/bench`) and by the `bench_smoke` test, which runs
//! it with tiny sizes against the debug binary so that it cannot rot.

pub mod ack;
pub mod bundle;
pub mod catalyst;
pub mod doubles;
pub mod fleet;
pub mod floor;
pub mod load;
pub mod pipeline;
pub mod report;
pub mod stats;
pub mod webhooks;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};

use self::catalyst::Launch;
use self::doubles::Doubles;
use self::report::Report;

/// The scenarios, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    Ack,
    Pipeline,
    Floor,
    Fleet,
    Bundle,
    Load,
}

impl Scenario {
    pub const ALL: [Self; 6] = [
        Self::Ack,
        Self::Pipeline,
        Self::Floor,
        Self::Fleet,
        Self::Bundle,
        Self::Load,
    ];

    /// `ack`, `pipeline`, `floor`, `fleet`, `bundle` or `load`.
    pub fn parse(name: &str) -> anyhow::Result<Self> {
        Ok(match name {
            "ack" => Self::Ack,
            "pipeline" => Self::Pipeline,
            "floor" => Self::Floor,
            "fleet" => Self::Fleet,
            "bundle" => Self::Bundle,
            "load" => Self::Load,
            other => bail!("no scenario {other:?} (ack, pipeline, floor, fleet, bundle, load)"),
        })
    }
}

/// Sizes and paths of one run.
#[derive(Clone, Debug)]
pub struct Options {
    /// The `catalyst` binary under test.
    pub catalyst: PathBuf,
    /// The `bench` binary, which runs the wire floor as its own process (`bench floor
    /// …`); without it (the smoke test) the floor runs as a task of this process.
    pub floor_binary: Option<PathBuf>,
    /// The site (`target/site`): `LEPTOS_SITE_ROOT` and the WASM bundle to measure.
    pub site_root: Option<PathBuf>,
    /// Databases and logs of every scenario.
    pub work_dir: PathBuf,
    /// Offered webhook rates (deliveries per second); the target applies to the highest.
    pub ack_rates: Vec<u32>,
    /// Seconds of load at each rate.
    pub ack_seconds: u32,
    /// Pull requests opened at once, one scenario each; the ratio compares first and last.
    pub bursts: Vec<usize>,
    /// Repositories the burst's pull requests are spread over.
    pub burst_repos: usize,
    /// Repositories and open pull requests per repository of the sweep / fleet scenario.
    pub fleet_repos: usize,
    pub fleet_prs_per_repo: usize,
    /// Sequential `GET /` requests timed for the SSR figure.
    pub ssr_requests: usize,
    /// Longest wait for deployments to appear or settle.
    pub settle_timeout: Duration,
    /// Sizes of the sustained-load scenario (issue 9).
    pub load: load::LoadOptions,
    /// Which scenarios run (all by default).
    pub scenarios: Vec<Scenario>,
}

impl Options {
    /// The sizes of issue 8.
    pub fn full(catalyst: PathBuf, work_dir: PathBuf) -> Self {
        Self {
            catalyst,
            floor_binary: None,
            site_root: None,
            work_dir,
            ack_rates: vec![100, 500],
            ack_seconds: 10,
            bursts: vec![50, 500],
            burst_repos: 10,
            fleet_repos: 100,
            fleet_prs_per_repo: 10,
            ssr_requests: 20,
            settle_timeout: Duration::from_secs(600),
            load: load::LoadOptions::full(),
            scenarios: Scenario::ALL.to_vec(),
        }
    }

    /// Tiny sizes that finish in well under a minute on debug builds.
    pub fn smoke(catalyst: PathBuf, work_dir: PathBuf) -> Self {
        Self {
            ack_rates: vec![20, 50],
            ack_seconds: 1,
            bursts: vec![3, 6],
            burst_repos: 2,
            fleet_repos: 2,
            fleet_prs_per_repo: 5,
            ssr_requests: 3,
            settle_timeout: Duration::from_secs(40),
            load: load::LoadOptions::smoke(),
            ..Self::full(catalyst, work_dir)
        }
    }

    /// Environments the fleet scenario ends with.
    pub fn fleet_size(&self) -> usize {
        self.fleet_repos * self.fleet_prs_per_repo
    }

    /// Concurrency limits high enough that Catalyst's admission queue never holds a
    /// deployment back: the figures are Catalyst's own overhead, not its policy.
    fn limit(&self) -> usize {
        let largest_burst = self.bursts.iter().copied().max().unwrap_or(0);
        largest_burst
            .max(self.fleet_size())
            .max(self.load.prs)
            .max(10)
            * 2
    }
}

/// One scenario's doubles and Catalyst launch settings (fresh database, own port).
pub struct Instance {
    pub doubles: Doubles,
    pub launch: Launch,
    /// An operator API token.
    pub token: String,
    http: reqwest::Client,
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

impl Instance {
    /// A Catalyst scenario: its database migrated and an operator token made.
    pub async fn new(opts: &Options, name: &str) -> anyhow::Result<Self> {
        let mut inst = Self::unprepared(opts, name).await?;
        inst.token = inst.launch.prepare().await?;
        Ok(inst)
    }

    /// The doubles and the launch settings only (the wire floor has no database).
    pub async fn unprepared(opts: &Options, name: &str) -> anyhow::Result<Self> {
        let doubles = Doubles::start().await?;
        let dir = opts.work_dir.join(name);
        std::fs::create_dir_all(&dir)?;
        let limit = opts.limit().to_string();
        let mut env = doubles.catalyst_env();
        env.extend(
            [
                ("CATALYST_BIND", format!("127.0.0.1:{}", free_port()?)),
                (
                    "CATALYST_DATABASE_URL",
                    format!("sqlite://{}?mode=rwc", dir.join("catalyst.db").display()),
                ),
                ("CATALYST_PREVIEW_DOMAIN", "preview.bench.test".to_owned()),
                ("CATALYST_LOG_FORMAT", "json".to_owned()),
                ("CATALYST_MAX_CONCURRENT_DEPLOYMENTS", limit.clone()),
                (
                    "CATALYST_MAX_CONCURRENT_DEPLOYMENTS_PER_REPOSITORY",
                    limit.clone(),
                ),
                ("CATALYST_MAX_ACTIVE_ENVIRONMENTS", limit),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        );
        if let Some(site) = &opts.site_root {
            env.push(("LEPTOS_SITE_ROOT".to_owned(), site.display().to_string()));
        }
        let launch = Launch {
            binary: opts.catalyst.clone(),
            args: Vec::new(),
            env,
            dir,
        };
        Ok(Self {
            doubles,
            launch,
            token: String::new(),
            http: reqwest::Client::new(),
        })
    }

    /// Configures `repo` through the JSON API (defaults for everything but the name).
    pub async fn configure(&self, base: &str, repo: &str) -> anyhow::Result<()> {
        self.doubles.kit.github().add_repo(repo);
        let resp = self
            .http
            .post(format!("{base}/api/v1/repositories"))
            .bearer_auth(&self.token)
            .json(&serde_json::json!({ "full_name": repo }))
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!(
                "configuring {repo} answered {}: {}",
                resp.status(),
                resp.text().await.unwrap_or_default()
            );
        }
        Ok(())
    }

    /// `/metrics` in the Prometheus text format.
    pub async fn metrics(&self, base: &str) -> anyhow::Result<String> {
        Ok(self
            .http
            .get(format!("{base}/metrics"))
            .header("accept", "text/plain; version=0.0.4")
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?)
    }
}

/// The value of an unlabelled sample in Prometheus text (`name value`).
pub fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?.strip_prefix(' ')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// The sum of a family's samples whose labels include `label` (`outcome="succeeded"`).
pub fn sum_samples(metrics: &str, name: &str, label: &str) -> f64 {
    metrics
        .lines()
        .filter_map(|l| {
            let (labels, value) = l.strip_prefix(name)?.strip_prefix('{')?.split_once("} ")?;
            if !labels.split(',').any(|l| l == label) {
                return None;
            }
            value.split_whitespace().next()?.parse::<f64>().ok()
        })
        .sum()
}

/// Writes `lines` to `path`, one JSON object a line: the logs a run leaves beside
/// `catalyst.log` to lay its figures beside, request by request.
pub fn write_jsonl(
    path: &std::path::Path,
    lines: impl IntoIterator<Item = serde_json::Value>,
) -> anyhow::Result<()> {
    use std::io::Write as _;
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    for line in lines {
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(())
}

/// The machine load while the benchmark ran, for the notes.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| {
            let v: Vec<&str> = l.split_whitespace().take(3).collect();
            (v.len() == 3).then(|| v.join(" "))
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Runs every scenario and returns the table.
pub async fn run(opts: &Options) -> anyhow::Result<Report> {
    if !opts.catalyst.is_file() {
        bail!("no catalyst binary at {}", opts.catalyst.display());
    }
    std::fs::create_dir_all(&opts.work_dir)
        .with_context(|| format!("creating {}", opts.work_dir.display()))?;
    let mut report = Report::default();
    report.note(format!(
        "catalyst binary: {}; load average at start: {}",
        opts.catalyst.display(),
        load_average()
    ));
    let runs = |s: Scenario| opts.scenarios.contains(&s);
    let idle_rss = if runs(Scenario::Ack) {
        Some(
            ack::run(opts, &mut report)
                .await
                .context("webhook acknowledgement")?,
        )
    } else {
        None
    };
    let bursts = if runs(Scenario::Pipeline) {
        Some(
            pipeline::run(opts, &mut report)
                .await
                .context("webhook → Job / comment")?,
        )
    } else {
        None
    };
    if runs(Scenario::Floor) {
        pipeline::run_floor(opts, bursts.as_deref(), &mut report)
            .await
            .context("the wire floor")?;
    }
    let fleet_rss = if runs(Scenario::Fleet) {
        Some(
            fleet::run(opts, &mut report)
                .await
                .context("sweep and fleet")?,
        )
    } else {
        None
    };
    if runs(Scenario::Bundle) {
        bundle::run(opts.site_root.as_deref(), &mut report).context("WASM bundle")?;
    }
    if runs(Scenario::Load) {
        load::run(opts, &mut report)
            .await
            .context("sustained load")?;
    }
    const RSS_TARGET: u64 = 150_000_000;
    for (label, rss) in [
        ("server RSS, idle".to_owned(), idle_rss),
        (
            format!("server RSS, {} environments", opts.fleet_size()),
            fleet_rss,
        ),
    ] {
        let Some(rss) = rss else { continue };
        report.push(report::Row::new(
            label,
            report::megabytes(rss),
            "≤ 150 MB",
            Some(rss <= RSS_TARGET),
        ));
    }
    report.note(format!("load average at end: {}", load_average()));
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_of_a_family_are_summed_by_label() {
        let text = "\
# TYPE catalyst_deployments_total counter
catalyst_deployments_total{repository=\"acme/a\",outcome=\"succeeded\"} 3
catalyst_deployments_total{repository=\"acme/b\",outcome=\"succeeded\"} 4
catalyst_deployments_total{repository=\"acme/b\",outcome=\"failed\"} 9
catalyst_deployments_total_other{outcome=\"succeeded\"} 100
catalyst_active_previews 7
";
        let ok = "outcome=\"succeeded\"";
        assert!((sum_samples(text, "catalyst_deployments_total", ok) - 7.0).abs() < f64::EPSILON);
        assert!(sum_samples(text, "catalyst_missing_total", ok).abs() < f64::EPSILON);
        assert_eq!(sample(text, "catalyst_active_previews"), Some(7.0));
    }
}
