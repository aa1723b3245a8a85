//! Sustained load (issue 9): `prs` pull requests over several configured repositories
//! are opened at once, then every pull request gets its own actor that keeps changing it
//! on the GitHub double — pushes with new SHAs, label changes, closes and reopens — and
//! delivers each change as a signed webhook, so that about `prs` events are in flight
//! at any time. Alongside, dashboard users load `/`, an environment page and the JSON
//! list, and log followers stream live container logs while a simulated kubelet writes
//! them. Catalyst's resident memory is sampled throughout and every failed request is
//! counted per client kind. When the time is up the actors stop, and the harness waits
//! until Catalyst's state matches GitHub's for every pull request: an open PR has a
//! ready environment at its latest head SHA and exactly one sticky comment, a closed PR
//! has no environment. Whatever still differs after the wait is a lost event.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use catalyst_testkit::{Cluster, GitHub, PrAction};
use serde_json::Value;
use tokio::task::JoinSet;

use super::catalyst::Catalyst;
use super::doubles::{OWNER, OpenedPr};
use super::report::{Report, Row, megabytes};
use super::stats::{ms, summarize};
use super::webhooks::Sender;
use super::{Instance, Options};

/// Catalyst's sticky-comment marker (server/src/core/comment.rs).
const STICKY_MARKER: &str = "<!-- catalyst-preview:comment v1 -->";
/// The label the actors add and remove; it means nothing to Catalyst's configuration.
const LABEL: &str = "bench-load";
/// The container every preview pod runs (doubles::app_objects).
const CONTAINER: &str = "web";

/// Resident memory may grow by at most this much over the second half of the run, as
/// read off a least-squares line through its samples. The first half is warm-up: the
/// 500 pull requests opened at once, their first deployments and every cache filling;
/// a leak keeps growing after that, a plateau does not.
pub const RSS_GROWTH_BOUND: u64 = 15_000_000;

/// Sizes of the load scenario.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    pub duration: Duration,
    pub prs: usize,
    pub repos: usize,
    pub dashboard_users: usize,
    pub log_followers: usize,
    /// Mean pause of one pull request's actor between two of its events.
    pub event_interval: Duration,
    /// How often resident memory is sampled.
    pub rss_every: Duration,
    /// Longest wait for Catalyst to converge after the load stops.
    pub converge_timeout: Duration,
}

impl LoadOptions {
    /// Issue 9: 500 PRs, 10 dashboard users, 5 log followers, 10 minutes.
    pub fn full() -> Self {
        Self {
            duration: Duration::from_secs(600),
            prs: 500,
            repos: 10,
            dashboard_users: 10,
            log_followers: 5,
            event_interval: Duration::from_secs(20),
            rss_every: Duration::from_secs(10),
            converge_timeout: Duration::from_secs(300),
        }
    }

    /// A few seconds with a handful of everything.
    pub fn smoke() -> Self {
        Self {
            duration: Duration::from_secs(5),
            prs: 6,
            repos: 2,
            dashboard_users: 2,
            log_followers: 1,
            event_interval: Duration::from_millis(500),
            rss_every: Duration::from_secs(1),
            converge_timeout: Duration::from_secs(40),
        }
    }

    /// Pull requests whose actors never close them: dashboard users open their pages and
    /// log followers stream their logs, which a close would turn into expected 404s.
    fn pinned(&self) -> usize {
        self.dashboard_users
            .max(self.log_followers)
            .max(1)
            .min(self.prs)
    }
}

/// A small deterministic generator (SplitMix64): think times and action choices vary
/// between actors without a dependency, and a run can be repeated exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, n)`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Uniform in `[mean / 2, 3 · mean / 2)`.
    fn around(&mut self, mean: Duration) -> Duration {
        let m = u64::try_from(mean.as_millis()).unwrap_or(u64::MAX).max(2);
        Duration::from_millis(m / 2 + self.below(m))
    }
}

/// Failed requests of one kind of client, with the first few messages.
#[derive(Default)]
struct Errors {
    count: AtomicU64,
    samples: Mutex<Vec<String>>,
}

impl Errors {
    fn record(&self, what: String) {
        self.count.fetch_add(1, Ordering::Relaxed);
        let mut s = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        if s.len() < 5 {
            s.push(what);
        }
    }

    fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn samples(&self) -> Vec<String> {
        self.samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// What every client counted.
#[derive(Default)]
struct Tally {
    webhook_errors: Errors,
    dashboard_errors: Errors,
    follower_errors: Errors,
    /// Events by action name (`opened`, `synchronize`, `labeled`, …).
    events: Mutex<BTreeMap<&'static str, u64>>,
    dashboard_latencies: Mutex<Vec<Duration>>,
    streams_opened: AtomicU64,
    log_bytes: AtomicU64,
}

impl Tally {
    fn event(&self, action: &'static str) {
        *self
            .events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(action)
            .or_default() += 1;
    }
}

/// Applies one change to the pull request on the GitHub double, chosen at random from
/// what its state allows; `None` when a closed pull request stays closed this turn.
fn next_action(gh: &GitHub, pr: &OpenedPr, pinned: bool, rng: &mut Rng) -> Option<PrAction> {
    let state = gh.pull(&pr.repo, pr.number)?;
    let number = pr.number;
    if state.state != "open" {
        return (rng.below(2) == 0).then_some(PrAction::Reopen { number });
    }
    let roll = rng.below(100);
    Some(match roll {
        0..55 => PrAction::Push { number, sha: None },
        55..80 if state.labels.iter().any(|l| l == LABEL) => PrAction::Unlabel {
            number,
            label: LABEL.to_owned(),
        },
        55..80 => PrAction::Label {
            number,
            label: LABEL.to_owned(),
        },
        _ if pinned => PrAction::Push { number, sha: None },
        _ => PrAction::Close {
            number,
            merged: false,
        },
    })
}

fn action_name(a: &PrAction) -> &'static str {
    match a {
        PrAction::Open(_) => "opened",
        PrAction::Push { .. } => "synchronize",
        PrAction::Close { .. } => "closed",
        PrAction::Reopen { .. } => "reopened",
        PrAction::Label { .. } => "labeled",
        PrAction::Unlabel { .. } => "unlabeled",
    }
}

/// One pull request's author: changes it on the GitHub double and delivers the webhook.
struct Actor {
    gh: GitHub,
    sender: Sender,
    pr: OpenedPr,
    /// Never closes the pull request.
    pinned: bool,
    rng: Rng,
}

impl Actor {
    /// Change, deliver, pause, until `until`.
    async fn run(mut self, interval: Duration, until: Instant, tally: Arc<Tally>) {
        // Spread the first events over one interval instead of starting in step.
        tokio::time::sleep(self.rng.around(interval) / 2).await;
        while Instant::now() < until {
            if let Some(action) = next_action(&self.gh, &self.pr, self.pinned, &mut self.rng) {
                let name = action_name(&action);
                match self.gh.apply(&self.pr.repo, action) {
                    Ok(delivery) => {
                        tally.event(name);
                        if let Err(e) = self.sender.send(&delivery).await {
                            tally.webhook_errors.record(format!("{name}: {e:#}"));
                        }
                    }
                    Err(e) => tally
                        .webhook_errors
                        .record(format!("the GitHub double refused {name}: {e:?}")),
                }
            }
            tokio::time::sleep(self.rng.around(interval)).await;
        }
    }
}

/// Every environment Catalyst lists, by `(repository, pr_number)`.
async fn environments(
    http: &reqwest::Client,
    base: &str,
    token: &str,
) -> anyhow::Result<HashMap<(String, u64), Value>> {
    let mut out = HashMap::new();
    let mut offset = 0;
    loop {
        let page: Value = http
            .get(format!(
                "{base}/api/v1/environments?limit=500&offset={offset}"
            ))
            .bearer_auth(token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        for env in page["items"].as_array().into_iter().flatten() {
            let repo = env["repository"].as_str().unwrap_or_default().to_owned();
            let number = env["pr_number"].as_u64().unwrap_or_default();
            out.insert((repo, number), env.clone());
        }
        match page["next_offset"].as_u64() {
            Some(next) => offset = next,
            None => return Ok(out),
        }
    }
}

/// A GET a dashboard user makes: latency when it answered 2xx with its whole body.
async fn timed_get(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
) -> Result<Duration, String> {
    let started = Instant::now();
    let mut req = http.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.map_err(|e| format!("GET {url}: {e}"))?;
    let status = resp.status();
    resp.bytes()
        .await
        .map_err(|e| format!("GET {url}: reading the body: {e}"))?;
    if !status.is_success() {
        return Err(format!("GET {url}: {status}"));
    }
    Ok(started.elapsed())
}

/// A dashboard user until `until`: the environments page, one environment, the JSON
/// list, with a short pause after each.
async fn dashboard_user(
    base: String,
    token: String,
    ids: Arc<Vec<String>>,
    seed: u64,
    until: Instant,
    tally: Arc<Tally>,
) {
    let http = reqwest::Client::new();
    let mut rng = Rng(seed);
    let think = Duration::from_millis(300);
    while Instant::now() < until {
        let id = &ids[usize::try_from(rng.below(ids.len() as u64)).unwrap_or(0)];
        for (url, token) in [
            (format!("{base}/"), None),
            (format!("{base}/environments/{id}"), None),
            (
                format!("{base}/api/v1/environments?limit=50"),
                Some(token.as_str()),
            ),
        ] {
            match timed_get(&http, &url, token).await {
                Ok(took) => tally
                    .dashboard_latencies
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(took),
                Err(e) => tally.dashboard_errors.record(e),
            }
            tokio::time::sleep(rng.around(think)).await;
        }
    }
}

/// Writes a line to every container `web` of the namespace's pods, about five times a
/// second, as a busy application would (the simulated kubelet's log).
async fn kubelet(cluster: Cluster, namespace: String, until: Instant) {
    let mut n = 0u64;
    while Instant::now() < until {
        for pod in cluster.list("v1", "Pod", Some(&namespace)) {
            if let Some(name) = pod["metadata"]["name"].as_str() {
                n += 1;
                let line = format!("GET /items/{n} 200 1.2ms");
                cluster.append_log(&namespace, name, CONTAINER, &[&line]);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A log follower until `until`: follows one environment's live log (the API's
/// `follow=true` stream, which the dashboard's log view also uses through the service's
/// `follow_logs`), and follows again whenever the stream ends (a replaced pod).
async fn log_follower(
    base: String,
    token: String,
    id: String,
    cluster: Cluster,
    namespace: String,
    until: Instant,
    tally: Arc<Tally>,
) {
    let http = reqwest::Client::new();
    let url = format!("{base}/api/v1/environments/{id}/logs?follow=true&container={CONTAINER}");
    while Instant::now() < until {
        // Like a person, open the log once the preview has a pod (before its first
        // deployment there is none, and the follow would rightly answer 404).
        if cluster.list("v1", "Pod", Some(&namespace)).is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        let resp = match http.get(&url).bearer_auth(&token).send().await {
            Ok(r) => r,
            Err(e) => {
                tally.follower_errors.record(format!("GET {url}: {e}"));
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        if !resp.status().is_success() {
            let status = resp.status();
            let body = resp.text().await.unwrap_or_default();
            tally
                .follower_errors
                .record(format!("GET {url}: {status}: {body}"));
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        tally.streams_opened.fetch_add(1, Ordering::Relaxed);
        let mut resp = resp;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, resp.chunk()).await {
                Err(_) => return,
                Ok(Ok(Some(bytes))) => {
                    tally
                        .log_bytes
                        .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                }
                // The container stopped or its pod was replaced: follow again.
                Ok(Ok(None)) => break,
                Ok(Err(e)) => {
                    tally.follower_errors.record(format!("reading {url}: {e}"));
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Samples `VmRSS` until `until`: `(seconds since the start, bytes)`.
async fn sample_rss(
    catalyst: &Catalyst,
    every: Duration,
    until: Instant,
    started: Instant,
) -> Vec<(Duration, u64)> {
    let mut out = Vec::new();
    loop {
        if let Ok(rss) = catalyst.rss_bytes() {
            out.push((started.elapsed(), rss));
        }
        if Instant::now() >= until {
            return out;
        }
        tokio::time::sleep(every.min(until.saturating_duration_since(Instant::now()))).await;
    }
}

/// How Catalyst's view of one pull request differs from GitHub's, if it does.
fn mismatch(gh: &GitHub, pr: &OpenedPr, env: Option<&Value>) -> Option<String> {
    let Some(state) = gh.pull(&pr.repo, pr.number) else {
        return Some("missing on the GitHub double".to_owned());
    };
    let stickies = gh
        .comments(&pr.repo, pr.number)
        .iter()
        .filter(|c| c.body.starts_with(STICKY_MARKER))
        .count();
    let who = format!("{}#{}", pr.repo, pr.number);
    if state.state == "open" {
        let Some(env) = env else {
            return Some(format!("{who} is open but has no environment"));
        };
        let status = env["status"].as_str().unwrap_or("?");
        let sha = env["head_sha"].as_str().unwrap_or("?");
        if status != "ready" || sha != state.head_sha {
            return Some(format!(
                "{who} is open at {} but its environment is {status} at {sha}",
                &state.head_sha
            ));
        }
        if stickies != 1 {
            return Some(format!("{who} is open with {stickies} sticky comments"));
        }
    } else {
        if let Some(env) = env {
            return Some(format!(
                "{who} is closed but its environment is {}",
                env["status"].as_str().unwrap_or("?")
            ));
        }
        if stickies > 1 {
            return Some(format!("{who} is closed with {stickies} sticky comments"));
        }
    }
    None
}

/// Mean of the samples taken in `[from, to)`.
/// Slope of the least-squares line through `samples` (bytes per second); `None` with
/// fewer than two distinct times.
fn trend(samples: &[(Duration, u64)]) -> Option<f64> {
    #[allow(clippy::cast_precision_loss)]
    let n = samples.len() as f64;
    let xs: Vec<f64> = samples.iter().map(|(t, _)| t.as_secs_f64()).collect();
    #[allow(clippy::cast_precision_loss)]
    let ys: Vec<f64> = samples.iter().map(|(_, b)| *b as f64).collect();
    let mx = xs.iter().sum::<f64>() / n;
    let my = ys.iter().sum::<f64>() / n;
    let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

fn mean_in(samples: &[(Duration, u64)], from: Duration, to: Duration) -> Option<u64> {
    let v: Vec<u64> = samples
        .iter()
        .filter(|(t, _)| *t >= from && *t < to)
        .map(|(_, b)| *b)
        .collect();
    (!v.is_empty()).then(|| v.iter().sum::<u64>() / v.len() as u64)
}

pub async fn run(opts: &Options, report: &mut Report) -> anyhow::Result<()> {
    let lo = &opts.load;
    if lo.prs == 0 {
        bail!("the load scenario needs at least one pull request");
    }
    let inst = Instance::new(opts, "load").await?;
    let catalyst = inst.launch.serve("catalyst.log").await?;
    let base = catalyst.base.clone();
    let repos: Vec<String> = (0..lo.repos.clamp(1, lo.prs))
        .map(|i| format!("{OWNER}/load-{i:02}"))
        .collect();
    for r in &repos {
        inst.configure(&base, r).await?;
    }
    let prs = (0..lo.prs)
        .map(|k| inst.doubles.open(&repos[k % repos.len()]))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let gh = inst.doubles.kit.github();
    // 500 busy pull requests need far more than github.com's 5,000 requests per hour and
    // installation (the first run hit it within a minute); what Catalyst spends is
    // reported below.
    inst.doubles.lift_github_rate_limit();
    let sender = Sender::new(&base, inst.doubles.webhook_secret());
    let tally = Arc::new(Tally::default());
    let load_avg_start = super::load_average();
    let started = Instant::now();
    let until = started + lo.duration;

    // Every pull request opened at once.
    let mut set = JoinSet::new();
    for pr in &prs {
        let (sender, d, tally) = (sender.clone(), pr.delivery.clone(), tally.clone());
        set.spawn(async move {
            tally.event("opened");
            if let Err(e) = sender.send(&d).await {
                tally.webhook_errors.record(format!("opened: {e:#}"));
            }
        });
    }
    // The actors take over from there.
    let mut actors = JoinSet::new();
    for (i, pr) in prs.iter().enumerate() {
        let actor = Actor {
            gh: gh.clone(),
            sender: sender.clone(),
            pr: pr.clone(),
            pinned: i < lo.pinned(),
            rng: Rng(i as u64 + 1),
        };
        actors.spawn(actor.run(lo.event_interval, until, tally.clone()));
    }
    set.join_all().await;

    // Dashboard users and log followers need the pinned environments' ids.
    let http = reqwest::Client::new();
    let pinned = &prs[..lo.pinned()];
    let ids = loop {
        let envs = environments(&http, &base, &inst.token).await?;
        let ids: Vec<String> = pinned
            .iter()
            .filter_map(|p| envs.get(&(p.repo.clone(), p.number)))
            .filter_map(|e| e["id"].as_str().map(str::to_owned))
            .collect();
        if ids.len() == pinned.len() {
            break ids;
        }
        if Instant::now() >= until {
            bail!(
                "only {} of {} pinned environments appeared during the load",
                ids.len(),
                pinned.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let clients_from = started.elapsed();
    let ids = Arc::new(ids);
    let mut clients = JoinSet::new();
    for u in 0..lo.dashboard_users {
        clients.spawn(dashboard_user(
            base.clone(),
            inst.token.clone(),
            ids.clone(),
            1000 + u as u64,
            until,
            tally.clone(),
        ));
    }
    let cluster = inst.doubles.kit.cluster();
    for (f, pr) in pinned.iter().enumerate().take(lo.log_followers) {
        clients.spawn(kubelet(cluster.clone(), pr.namespace.clone(), until));
        clients.spawn(log_follower(
            base.clone(),
            inst.token.clone(),
            ids[f].clone(),
            cluster.clone(),
            pr.namespace.clone(),
            until,
            tally.clone(),
        ));
    }

    let rss = sample_rss(&catalyst, lo.rss_every, until, started).await;
    actors.join_all().await;
    clients.join_all().await;
    let load_avg_end = super::load_average();
    let stopped = Instant::now();

    // Convergence: Catalyst's state matches GitHub's for every pull request.
    let deadline = stopped + lo.converge_timeout;
    let (lost, converged) = loop {
        let envs = environments(&http, &base, &inst.token)
            .await
            .context("listing environments")?;
        let lost: Vec<String> = prs
            .iter()
            .filter_map(|p| mismatch(&gh, p, envs.get(&(p.repo.clone(), p.number))))
            .collect();
        if lost.is_empty() || Instant::now() > deadline {
            break (lost, stopped.elapsed());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let final_rss = catalyst.rss_bytes().ok();
    let github_calls = inst.doubles.github_calls();
    let github_minutes = started.elapsed().as_secs_f64() / 60.0;
    catalyst.stop().await?;

    let events = tally
        .events
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let sent: u64 = events.values().sum();
    let open_now = prs
        .iter()
        .filter(|p| {
            gh.pull(&p.repo, p.number)
                .is_some_and(|s| s.state == "open")
        })
        .count();
    let minutes = lo.duration.as_secs_f64() / 60.0;
    let size = format!(
        "{} PRs in {} repositories, {} dashboard users, {} log followers, {minutes:.1} min",
        lo.prs,
        repos.len(),
        lo.dashboard_users,
        lo.log_followers
    );
    #[allow(clippy::cast_precision_loss)]
    let rate = sent as f64 / lo.duration.as_secs_f64();
    report.push(Row::info(
        format!("load: PR events delivered ({size})"),
        format!(
            "{sent} ({rate:.1}/s; {}; {open_now} PRs open at the end)",
            events
                .iter()
                .map(|(k, v)| format!("{v} {k}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ));
    #[allow(clippy::cast_precision_loss)]
    let per_event = github_calls as f64 / sent.max(1) as f64;
    report.push(Row::info(
        "load: GitHub API requests Catalyst made (one installation)",
        format!(
            "{github_calls} in {github_minutes:.1} min ({per_event:.1} per PR event, ≈ {:.0} per hour; github.com allows 5,000 per hour and installation, 15,000 on Enterprise Cloud)",
            github_calls as f64 / github_minutes * 60.0
        ),
    ));
    let kinds = [
        ("webhooks", &tally.webhook_errors),
        ("dashboard", &tally.dashboard_errors),
        ("log followers", &tally.follower_errors),
    ];
    let total_errors: u64 = kinds.iter().map(|(_, e)| e.count()).sum();
    report.push(Row::new(
        "load: failed requests (non-2xx or transport) by client",
        kinds
            .iter()
            .map(|(k, e)| format!("{k} {}", e.count()))
            .collect::<Vec<_>>()
            .join(", "),
        "0",
        Some(total_errors == 0),
    ));
    for (k, e) in kinds {
        for s in e.samples() {
            report.note(format!("load: {k} error: {s}"));
        }
    }
    let latencies = std::mem::take(
        &mut *tally
            .dashboard_latencies
            .lock()
            .unwrap_or_else(|e| e.into_inner()),
    );
    report.push(Row::info(
        "load: dashboard requests (`/`, an environment page, the JSON list)",
        match summarize(latencies) {
            Some(s) => format!(
                "p50 {}, p95 {}, max {} ({} requests from {:.0} s on)",
                ms(s.p50),
                ms(s.p95),
                ms(s.max),
                s.count,
                clients_from.as_secs_f64()
            ),
            None => "no request answered".to_owned(),
        },
    ));
    report.push(Row::info(
        "load: live log streams",
        format!(
            "{} streams opened, {} received",
            tally.streams_opened.load(Ordering::Relaxed),
            super::report::kilobytes(tally.log_bytes.load(Ordering::Relaxed))
        ),
    ));

    let window = (lo.duration / 10).clamp(lo.rss_every, Duration::from_secs(60));
    let end = rss.last().map_or(Duration::ZERO, |(t, _)| *t);
    let first = mean_in(&rss, Duration::ZERO, window).unwrap_or(0);
    let last = mean_in(
        &rss,
        end.saturating_sub(window),
        end + Duration::from_secs(1),
    )
    .unwrap_or(0);
    let min = rss.iter().map(|(_, b)| *b).min().unwrap_or(0);
    let max = rss.iter().map(|(_, b)| *b).max().unwrap_or(0);
    report.push(Row::info(
        "load: server RSS",
        format!(
            "min {}, max {}; mean of the first {} s {} → of the last {} s {}{} ({} samples every {} s)",
            megabytes(min),
            megabytes(max),
            window.as_secs(),
            megabytes(first),
            window.as_secs(),
            megabytes(last),
            final_rss.map_or(String::new(), |b| format!(
                "; {} after convergence",
                megabytes(b)
            )),
            rss.len(),
            lo.rss_every.as_secs(),
        ),
    ));
    let half = end / 2;
    let second_half: Vec<(Duration, u64)> =
        rss.iter().copied().filter(|(t, _)| *t >= half).collect();
    let slope = trend(&second_half);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let growth = slope.map(|b| (b * (end - half).as_secs_f64()).max(0.0) as u64);
    report.push(Row::new(
        "load: server RSS growth over the second half (least-squares trend)",
        match slope {
            Some(b) => format!(
                "{:+.2} MB per minute over {}–{} s ({} samples) → {:+.1} MB",
                b * 60.0 / 1_000_000.0,
                half.as_secs(),
                end.as_secs(),
                second_half.len(),
                b * (end - half).as_secs_f64() / 1_000_000.0
            ),
            None => "too few samples".to_owned(),
        },
        format!("≤ +{}", megabytes(RSS_GROWTH_BOUND)),
        Some(growth.is_some_and(|g| g <= RSS_GROWTH_BOUND)),
    ));
    report.note(format!(
        "load: RSS samples (s, MB): {}",
        rss.iter()
            .map(|(t, b)| format!("{:.0} {}", t.as_secs_f64(), b / 1_000_000))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    report.push(Row::info(
        "load: convergence after the load stopped",
        if lost.is_empty() {
            ms(converged)
        } else {
            format!("not converged after {}", ms(converged))
        },
    ));
    report.push(Row::new(
        "load: lost events (PRs whose final state Catalyst does not show)",
        if lost.is_empty() {
            "0".to_owned()
        } else {
            format!(
                "{}: {}",
                lost.len(),
                lost.iter().take(10).cloned().collect::<Vec<_>>().join("; ")
            )
        },
        "0",
        Some(lost.is_empty()),
    ));
    report.note(format!(
        "load: load average {load_avg_start} at the start, {load_avg_end} when the load stopped"
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(points: &[(u64, u64)]) -> Vec<(Duration, u64)> {
        points
            .iter()
            .map(|(s, mb)| (Duration::from_secs(*s), mb * 1_000_000))
            .collect()
    }

    #[test]
    fn a_plateau_has_no_trend_and_a_leak_has_its_slope() {
        let flat = samples(&[(300, 120), (310, 121), (320, 120), (330, 121)]);
        assert!(trend(&flat).unwrap().abs() < 50_000.0);
        // 1 MB every 10 s.
        let leak = samples(&[(300, 120), (310, 121), (320, 122), (330, 123)]);
        assert!((trend(&leak).unwrap() - 100_000.0).abs() < 1.0);
        assert_eq!(trend(&samples(&[(300, 120)])), None);
    }
}
