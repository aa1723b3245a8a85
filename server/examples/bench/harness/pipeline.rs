//! Webhook → deploy Job created and webhook → first PR comment: `n` pull requests of
//! configured repositories opened at once (their webhooks sent concurrently), timed from
//! each delivery's send to the doubles' record of the Job's `POST` and the comment's
//! `POST`. Simulated pods finish at once, so the figures are Catalyst's own overhead.

use std::time::{Duration, Instant};

use anyhow::bail;
use chrono::{DateTime, Utc};

use super::report::{Report, Row};
use super::stats::{Summary, ms, summarize};
use super::webhooks::Sender;
use super::{Instance, Options};

const JOB_TARGET: Duration = Duration::from_millis(250);
const COMMENT_TARGET: Duration = Duration::from_millis(500);
/// p95 with the largest burst may be at most this many times p95 with the smallest.
const RATIO_TARGET: f64 = 1.5;

struct Burst {
    size: usize,
    job: Summary,
    comment: Summary,
    /// Pull requests without a Job / comment when the wait ended (counted as `cutoff`).
    jobs_missing: usize,
    comments_missing: usize,
    cutoff: Duration,
    /// GitHub API requests Catalyst made by the time every Job and comment was seen.
    github_calls: u64,
}

impl Burst {
    fn missing(n: usize, cutoff: Duration) -> String {
        if n == 0 {
            String::new()
        } else {
            format!("; {n} not seen within {}, counted as that", ms(cutoff))
        }
    }
}

fn since(sent: DateTime<Utc>, at: DateTime<Utc>) -> Duration {
    (at - sent).to_std().unwrap_or(Duration::ZERO)
}

async fn burst(opts: &Options, size: usize) -> anyhow::Result<Burst> {
    let inst = Instance::new(opts, &format!("burst-{size}")).await?;
    // 500 pull requests of one installation at once need more than github.com's 5,000
    // requests per hour (the preview file, the comment and its edits, the deployment and
    // its statuses); the calls are reported.
    inst.doubles.lift_github_rate_limit();
    let catalyst = inst.launch.serve("catalyst.log").await?;
    let repos: Vec<String> = (0..opts.burst_repos.clamp(1, size.max(1)))
        .map(|i| format!("{}/svc-{i:03}", super::doubles::OWNER))
        .collect();
    for r in &repos {
        inst.configure(&catalyst.base, r).await?;
    }
    let prs = (0..size)
        .map(|k| inst.doubles.open(&repos[k % repos.len()]))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // Let start-up work (first sweep, configuration) finish before the burst.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let sender = Sender::new(&catalyst.base, inst.doubles.webhook_secret());
    let deliveries: Vec<_> = prs.iter().map(|p| p.delivery.clone()).collect();
    let sent = sender.burst(&deliveries).await?;

    let deadline = Instant::now() + opts.settle_timeout;
    let (jobs, comments) = loop {
        let jobs = inst.doubles.jobs_created();
        let comments = inst.doubles.first_comments();
        let done = prs.iter().all(|p| {
            jobs.contains_key(&p.namespace) && comments.contains_key(&(p.repo.clone(), p.number))
        });
        // Past the deadline, what is missing counts as the deadline (a lower bound).
        if done || Instant::now() > deadline {
            break (jobs, comments);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    inst.doubles.write_request_logs(&inst.launch.dir)?;
    let cutoff = opts.settle_timeout;
    let job: Vec<Duration> = prs
        .iter()
        .zip(&sent)
        .map(|(p, &t)| jobs.get(&p.namespace).map_or(cutoff, |&at| since(t, at)))
        .collect();
    let comment: Vec<Duration> = prs
        .iter()
        .zip(&sent)
        .map(|(p, &t)| {
            comments
                .get(&(p.repo.clone(), p.number))
                .map_or(cutoff, |&at| since(t, at))
        })
        .collect();
    let jobs_missing = prs
        .iter()
        .filter(|p| !jobs.contains_key(&p.namespace))
        .count();
    let comments_missing = prs
        .iter()
        .filter(|p| !comments.contains_key(&(p.repo.clone(), p.number)))
        .count();
    let github_calls = inst.doubles.github_calls();
    catalyst.stop().await?;
    let (Some(job), Some(comment)) = (summarize(job), summarize(comment)) else {
        bail!("an empty burst");
    };
    Ok(Burst {
        size,
        job,
        comment,
        jobs_missing,
        comments_missing,
        cutoff,
        github_calls,
    })
}

fn ratio(large: Duration, small: Duration) -> f64 {
    large.as_secs_f64() / small.as_secs_f64().max(1e-9)
}

pub async fn run(opts: &Options, report: &mut Report) -> anyhow::Result<()> {
    let mut results = Vec::new();
    for &size in &opts.bursts {
        let b = burst(opts, size).await?;
        report.push(Row::new(
            format!("webhook → pull request pod Job, {size} PRs at once"),
            format!(
                "p50 {}, p95 {} (max {}{})",
                ms(b.job.p50),
                ms(b.job.p95),
                ms(b.job.max),
                Burst::missing(b.jobs_missing, b.cutoff)
            ),
            "p95 ≤ 250 ms",
            Some(b.job.p95 <= JOB_TARGET && b.jobs_missing == 0),
        ));
        report.push(Row::new(
            format!("webhook → first PR comment, {size} PRs at once"),
            format!(
                "p50 {}, p95 {} (max {}{})",
                ms(b.comment.p50),
                ms(b.comment.p95),
                ms(b.comment.max),
                Burst::missing(b.comments_missing, b.cutoff)
            ),
            "p95 ≤ 500 ms",
            Some(b.comment.p95 <= COMMENT_TARGET && b.comments_missing == 0),
        ));
        #[allow(clippy::cast_precision_loss)]
        let per_pr = b.github_calls as f64 / size.max(1) as f64;
        report.push(Row::info(
            format!("GitHub API requests for {size} PRs, until every Job and comment was seen"),
            format!("{} ({per_pr:.1} per PR)", b.github_calls),
        ));
        results.push(b);
    }
    if let (Some(small), Some(large)) = (results.first(), results.last())
        && results.len() > 1
    {
        for (what, l, s) in [
            ("Job", large.job.p95, small.job.p95),
            ("comment", large.comment.p95, small.comment.p95),
        ] {
            let r = ratio(l, s);
            report.push(Row::new(
                format!("{what} p95 at {} PRs ÷ p95 at {}", large.size, small.size),
                format!("{r:.2}×"),
                "≤ 1.5×",
                Some(r <= RATIO_TARGET),
            ));
        }
    }
    Ok(())
}
