//! The fleet: `repos × prs` open pull requests on GitHub that Catalyst has never heard
//! of. The repositories are configured through the API on a first start; the second
//! start's first reconciliation sweep (it runs at start-up) finds every pull request and
//! is timed from its own `github sweep` log line, with the rate-limited GitHub calls it
//! counted. Then every preview is deployed, and the dashboard's environments page and
//! resident memory are measured with that many environments.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

use super::catalyst::tail;
use super::report::{Report, Row, megabytes};
use super::stats::{ms, summarize};
use super::{Instance, Options, sample, sum_samples};

const SWEEP_TARGET: Duration = Duration::from_secs(10);
const RATE_LIMITED_TARGET: u64 = 100;
const SSR_TARGET: Duration = Duration::from_millis(200);

/// The `github sweep` log line's fields (JSON logs).
fn sweep_line(log: &str, repositories: usize) -> Option<Value> {
    log.lines().find_map(|l| {
        let v: Value = serde_json::from_str(l).ok()?;
        let fields = v.get("fields")?;
        (fields.get("message")?.as_str()? == "github sweep"
            && fields.get("repositories")?.as_u64()? == u64::try_from(repositories).ok()?)
        .then(|| fields.clone())
    })
}

/// `promtool check metrics` on the text, when promtool is installed.
fn promtool(text: &str) -> String {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        return "promtool is not installed; metrics not checked".to_owned();
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(text.as_bytes());
    }
    match child.wait_with_output() {
        Ok(out) => {
            let said = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let said = said.trim();
            format!(
                "`promtool check metrics` on /metrics with the fleet deployed: exit {}{}",
                out.status.code().unwrap_or(-1),
                if said.is_empty() {
                    ", no findings".to_owned()
                } else {
                    format!(": {said}")
                }
            )
        }
        Err(e) => format!("promtool failed to run: {e}"),
    }
}

/// Runs the scenario; returns Catalyst's resident memory with the fleet deployed.
pub async fn run(opts: &Options, report: &mut Report) -> anyhow::Result<u64> {
    let inst = Instance::new(opts, "fleet").await?;
    let repos: Vec<String> = (0..opts.fleet_repos)
        .map(|i| format!("{}/app-{i:03}", super::doubles::OWNER))
        .collect();
    for r in &repos {
        for _ in 0..opts.fleet_prs_per_repo {
            inst.doubles.open(r)?;
        }
    }
    let first = inst.launch.serve("catalyst-configure.log").await?;
    for r in &repos {
        inst.configure(&first.base, r).await?;
    }
    first.stop().await?;

    let catalyst = inst.launch.serve("catalyst.log").await?;
    // The sweep is waited for whatever it takes (up to ten minutes more): its wall time
    // is the figure. Settling afterwards gets `settle_timeout` of its own.
    let sweep_deadline = Instant::now() + opts.settle_timeout + Duration::from_secs(600);
    let sweep = loop {
        let log = std::fs::read_to_string(&catalyst.log_path).unwrap_or_default();
        if let Some(fields) = sweep_line(&log, repos.len()) {
            break fields;
        }
        if Instant::now() > sweep_deadline {
            bail!(
                "no sweep over {} repositories logged:\n{}",
                repos.len(),
                tail(&catalyst.log_path)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The sweep ran under github.com's 5,000 requests per hour and installation (its
    // rate-limited calls are a figure). Deploying 1,000 previews of one installation then
    // takes about five GitHub calls each (configuration file, comment, deployment and its
    // statuses): more than an hour's budget, after which Catalyst rightly waits for the
    // reset.
    inst.doubles.lift_github_rate_limit();
    let field = |k: &str| sweep.get(k).and_then(Value::as_u64).unwrap_or(0);
    let took = Duration::from_millis(field("duration_ms"));
    let limited = field("rate_limited_calls");
    let size = opts.fleet_size();
    report.push(Row::new(
        format!(
            "reconciliation sweep, {size} open PRs in {} repositories: wall time",
            repos.len()
        ),
        format!(
            "{} ({} GitHub calls; {} PRs opened, {} updated, {} repos not modified, {} errors)",
            ms(took),
            field("calls"),
            field("opened"),
            field("updated"),
            field("not_modified"),
            field("errors")
        ),
        "≤ 10 s",
        Some(took <= SWEEP_TARGET && field("errors") == 0),
    ));
    report.push(Row::new(
        "reconciliation sweep: rate-limited GitHub calls",
        limited.to_string(),
        "≤ 100",
        Some(limited <= RATE_LIMITED_TARGET),
    ));

    // Every preview deployed (a succeeded attempt each) and nothing left queued or in
    // flight, or the deadline. (Queued and in flight alone are both 0 before the engine
    // has started any attempt.)
    let settle_started = Instant::now();
    let deadline = settle_started + opts.settle_timeout;
    let (metrics, active) = loop {
        let text = inst.metrics(&catalyst.base).await?;
        let active = sample(&text, "catalyst_active_previews").unwrap_or(0.0);
        let deployed = sum_samples(&text, "catalyst_deployments_total", "outcome=\"succeeded\"");
        let queued = sample(&text, "catalyst_deployment_queue_depth").unwrap_or(0.0);
        let running = sample(&text, "catalyst_deployments_in_flight").unwrap_or(0.0);
        #[allow(clippy::cast_precision_loss)]
        let settled =
            active >= size as f64 && deployed >= size as f64 && queued == 0.0 && running == 0.0;
        if settled || Instant::now() > deadline {
            report.push(Row::info(
                format!("{size} previews after the sweep: time to settle"),
                if settled {
                    ms(settle_started.elapsed())
                } else {
                    format!(
                        "not settled after {}: {active} active, {deployed} deployed, {queued} queued, {running} in flight",
                        ms(settle_started.elapsed())
                    )
                },
            ));
            break (text, active);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    std::fs::write(inst.launch.dir.join("metrics.txt"), &metrics)?;
    report.note(promtool(&metrics));

    let http = reqwest::Client::new();
    let mut times = Vec::with_capacity(opts.ssr_requests);
    let mut listed = 0;
    for _ in 0..opts.ssr_requests.max(1) {
        let started = Instant::now();
        let resp = http.get(format!("{}/", catalyst.base)).send().await?;
        let status = resp.status();
        let body = resp.text().await?;
        times.push(started.elapsed());
        if !status.is_success() {
            bail!("GET / answered {status}");
        }
        listed = body.matches("pr-app-").count();
    }
    // The first view reads every namespace's usage from the cluster; later ones within
    // ten seconds share that read (service::usage::UsageCache). Shown on its own so the
    // percentiles do not hide what a view after a quiet spell costs.
    let cold = times.first().copied().context("no SSR sample")?;
    let ssr = summarize(times).context("no SSR sample")?;
    report.push(Row::new(
        format!("dashboard SSR of / with {size} environments"),
        format!(
            "p50 {}, p95 {} ({} requests; {active} previews active; page names `pr-app-` {listed} times)",
            ms(ssr.p50),
            ms(ssr.p95),
            ssr.count
        ),
        "p95 ≤ 200 ms",
        Some(ssr.p95 <= SSR_TARGET),
    ));
    report.push(Row::info(
        format!("dashboard SSR of / with {size} environments: first request"),
        format!("{} (usage read from the cluster)", ms(cold)),
    ));
    let rss = catalyst.rss_bytes()?;
    report.note(format!(
        "fleet catalyst pid {}: RSS {} after SSR",
        catalyst.pid(),
        megabytes(rss)
    ));
    catalyst.stop().await?;
    Ok(rss)
}
