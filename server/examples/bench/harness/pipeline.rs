//! Webhook → deploy Job created and webhook → first PR comment: `n` pull requests of
//! configured repositories opened at once (their webhooks sent concurrently), timed from
//! each delivery's send to the doubles' record of the Job's `POST` and the comment's
//! `POST`. Simulated pods finish at once, so the figures are Catalyst's own overhead.

use std::time::{Duration, Instant};

use anyhow::bail;
use chrono::{DateTime, Utc};

use super::catalyst::{Catalyst, Launch};
use super::doubles::OpenedPr;
use super::floor::{self, Work};
use super::report::{Report, Row};
use super::stats::{Summary, ms, summarize};
use super::webhooks::Sender;
use super::{Instance, Options};

const JOB_TARGET: Duration = Duration::from_millis(250);
const COMMENT_TARGET: Duration = Duration::from_millis(500);
/// p95 with the largest burst may be at most this many times p95 with the smallest.
const RATIO_TARGET: f64 = 1.5;

/// What a burst's webhooks are sent to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Subject {
    Catalyst,
    Floor(Work),
}

impl Subject {
    fn waits_for_jobs(self) -> bool {
        matches!(self, Self::Catalyst | Self::Floor(Work::Job))
    }

    fn waits_for_comments(self) -> bool {
        self != Self::Floor(Work::Job)
    }
}

/// The process (or, for the floor in the smoke test, the task) a burst is sent to.
enum Served {
    Process(Box<Catalyst>),
    Task {
        base: String,
        task: tokio::task::JoinHandle<()>,
    },
}

impl Served {
    async fn start(opts: &Options, inst: &Instance, subject: Subject) -> anyhow::Result<Self> {
        let work = match subject {
            Subject::Catalyst => {
                return Ok(Self::Process(Box::new(
                    inst.launch.serve("catalyst.log").await?,
                )));
            }
            Subject::Floor(work) => work,
        };
        Ok(match &opts.floor_binary {
            Some(binary) => {
                let launch = Launch {
                    binary: binary.clone(),
                    args: vec!["floor".to_owned(), work.name().to_owned()],
                    ..inst.launch.clone()
                };
                Self::Process(Box::new(launch.serve("floor.log").await?))
            }
            None => {
                let (addr, task) = floor::spawn_task(&inst.launch.env, work).await?;
                Self::Task {
                    base: format!("http://{addr}"),
                    task,
                }
            }
        })
    }

    fn base(&self) -> &str {
        match self {
            Self::Process(c) => &c.base,
            Self::Task { base, .. } => base,
        }
    }

    async fn stop(self) -> anyhow::Result<()> {
        match self {
            Self::Process(c) => c.stop().await,
            Self::Task { task, .. } => {
                task.abort();
                Ok(())
            }
        }
    }
}

/// One burst's figures; a figure the subject does not produce (the floor's other
/// work) is `None`.
pub struct Burst {
    size: usize,
    /// Each delivery's send → its whole acknowledgement read (for Catalyst: recorded).
    acknowledged: Option<Summary>,
    job: Option<Summary>,
    comment: Option<Summary>,
    /// Pull requests without a Job / comment when the wait ended (counted as `cutoff`).
    jobs_missing: usize,
    comments_missing: usize,
    cutoff: Duration,
    /// GitHub API requests made by the time every Job and comment was seen.
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

async fn burst(opts: &Options, size: usize, subject: Subject) -> anyhow::Result<Burst> {
    let inst = match subject {
        Subject::Catalyst => Instance::new(opts, &format!("burst-{size}")).await?,
        Subject::Floor(work) => {
            Instance::unprepared(opts, &format!("floor-{}-{size}", work.name())).await?
        }
    };
    // 500 pull requests of one installation at once need more than github.com's 5,000
    // requests per hour (the preview file, the comment and its edits, the deployment and
    // its statuses); the calls are reported.
    inst.doubles.lift_github_rate_limit();
    let served = Served::start(opts, &inst, subject).await?;
    let repos: Vec<String> = (0..opts.burst_repos.clamp(1, size.max(1)))
        .map(|i| format!("{}/svc-{i:03}", super::doubles::OWNER))
        .collect();
    for r in &repos {
        inst.configure(served.base(), r).await?;
    }
    let prs = (0..size)
        .map(|k| inst.doubles.open(&repos[k % repos.len()]))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // Let start-up work (first sweep, configuration) finish before the burst.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let sender = Sender::new(served.base(), inst.doubles.webhook_secret());
    let deliveries: Vec<_> = prs.iter().map(|p| p.delivery.clone()).collect();
    let answered = sender.burst(&deliveries).await?;
    let sent: Vec<DateTime<Utc>> = answered.iter().map(|&(at, _)| at).collect();
    let acknowledged = summarize(answered.iter().map(|&(_, took)| took).collect());

    let deadline = Instant::now() + opts.settle_timeout;
    let (jobs, comments) = loop {
        let jobs = inst.doubles.jobs_created();
        let comments = inst.doubles.first_comments();
        let done = prs.iter().all(|p| {
            (!subject.waits_for_jobs() || jobs.contains_key(&p.namespace))
                && (!subject.waits_for_comments()
                    || comments.contains_key(&(p.repo.clone(), p.number)))
        });
        // Past the deadline, what is missing counts as the deadline (a lower bound).
        if done || Instant::now() > deadline {
            break (jobs, comments);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    inst.doubles.write_request_logs(&inst.launch.dir)?;
    write_deliveries(&inst.launch.dir, &prs, &answered)?;
    let cutoff = opts.settle_timeout;
    let (job, jobs_missing) = figure(subject.waits_for_jobs(), &prs, &sent, cutoff, |p| {
        jobs.get(&p.namespace).copied()
    });
    let (comment, comments_missing) =
        figure(subject.waits_for_comments(), &prs, &sent, cutoff, |p| {
            comments.get(&(p.repo.clone(), p.number)).copied()
        });
    let github_calls = inst.doubles.github_calls();
    served.stop().await?;
    if size == 0 {
        bail!("an empty burst");
    }
    Ok(Burst {
        size,
        acknowledged,
        job,
        comment,
        jobs_missing,
        comments_missing,
        cutoff,
        github_calls,
    })
}

/// `deliveries.jsonl` beside the request logs: each pull request's delivery, when it was
/// sent and how long its acknowledgement took, to lay beside the doubles' logs.
fn write_deliveries(
    dir: &std::path::Path,
    prs: &[OpenedPr],
    answered: &[(DateTime<Utc>, Duration)],
) -> anyhow::Result<()> {
    super::write_jsonl(
        &dir.join("deliveries.jsonl"),
        prs.iter().zip(answered).map(|(pr, (sent, took))| {
            serde_json::json!({
                "repository": pr.repo, "number": pr.number, "sent": sent,
                "acknowledged_ms": took.as_secs_f64() * 1e3,
            })
        }),
    )
}

/// One kind of record's latencies (`at`: when the doubles recorded a pull request's Job
/// or comment) and how many pull requests had none by the end of the wait, each counted
/// as `cutoff`; `None` and 0 for a kind the subject does not make.
fn figure(
    wanted: bool,
    prs: &[OpenedPr],
    sent: &[DateTime<Utc>],
    cutoff: Duration,
    at: impl Fn(&OpenedPr) -> Option<DateTime<Utc>>,
) -> (Option<Summary>, usize) {
    if !wanted {
        return (None, 0);
    }
    let found: Vec<Option<DateTime<Utc>>> = prs.iter().map(at).collect();
    let missing = found.iter().filter(|f| f.is_none()).count();
    let sample = found
        .iter()
        .zip(sent)
        .map(|(f, &t)| f.map_or(cutoff, |at| since(t, at)))
        .collect();
    (summarize(sample), missing)
}

fn ratio(large: Duration, small: Duration) -> f64 {
    large.as_secs_f64() / small.as_secs_f64().max(1e-9)
}

fn latency(s: &Summary, missing: usize, cutoff: Duration) -> String {
    format!(
        "p50 {}, p95 {} (max {}{})",
        ms(s.p50),
        ms(s.p95),
        ms(s.max),
        Burst::missing(missing, cutoff)
    )
}

/// Catalyst's bursts, one per size; returned for the floor's comparison.
pub async fn run(opts: &Options, report: &mut Report) -> anyhow::Result<Vec<Burst>> {
    let mut results = Vec::new();
    for &size in &opts.bursts {
        let b = burst(opts, size, Subject::Catalyst).await?;
        let (Some(job), Some(comment)) = (&b.job, &b.comment) else {
            bail!("a Catalyst burst without both figures");
        };
        if let Some(ack) = &b.acknowledged {
            // The first comments wait for their deliveries to be recorded.
            report.push(Row::info(
                format!("webhook acknowledged (recorded), {size} PRs at once"),
                latency(ack, 0, b.cutoff),
            ));
        }
        report.push(Row::new(
            format!("webhook → pull request pod Job, {size} PRs at once"),
            latency(job, b.jobs_missing, b.cutoff),
            "p95 ≤ 250 ms",
            Some(job.p95 <= JOB_TARGET && b.jobs_missing == 0),
        ));
        report.push(Row::new(
            format!("webhook → first PR comment, {size} PRs at once"),
            latency(comment, b.comments_missing, b.cutoff),
            "p95 ≤ 500 ms",
            Some(comment.p95 <= COMMENT_TARGET && b.comments_missing == 0),
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
            ("Job", large.job, small.job),
            ("comment", large.comment, small.comment),
        ] {
            let (Some(l), Some(s)) = (l, s) else { continue };
            let r = ratio(l.p95, s.p95);
            report.push(Row::new(
                format!("{what} p95 at {} PRs ÷ p95 at {}", large.size, small.size),
                format!("{r:.2}×"),
                "≤ 1.5×",
                Some(r <= RATIO_TARGET),
            ));
        }
    }
    Ok(results)
}

/// The wire floor's bursts (see `floor`): for each size, one run that only creates the
/// Jobs and one that only posts the comments. Shown for context, with Catalyst's
/// figures over the floor's when `catalyst` holds a burst of the same size.
pub async fn run_floor(
    opts: &Options,
    catalyst: Option<&[Burst]>,
    report: &mut Report,
) -> anyhow::Result<()> {
    let mut floors: Vec<(usize, Summary, Summary, Summary)> = Vec::new();
    for &size in &opts.bursts {
        let jobs = burst(opts, size, Subject::Floor(Work::Job)).await?;
        let comments = burst(opts, size, Subject::Floor(Work::Comment)).await?;
        let recorded = burst(opts, size, Subject::Floor(Work::RecordedComment)).await?;
        let (Some(job), Some(comment), Some(recorded_comment), Some(recorded_ack)) = (
            jobs.job,
            comments.comment,
            recorded.comment,
            recorded.acknowledged,
        ) else {
            bail!("a floor burst without its figure");
        };
        report.push(Row::info(
            format!("wire floor: webhook → Job, {size} PRs at once"),
            latency(&job, jobs.jobs_missing, jobs.cutoff),
        ));
        report.push(Row::info(
            format!("wire floor: webhook → comment, {size} PRs at once"),
            latency(&comment, comments.comments_missing, comments.cutoff),
        ));
        report.push(Row::info(
            format!("wire floor, each delivery recorded first: acknowledged, {size} PRs"),
            latency(&recorded_ack, 0, recorded.cutoff),
        ));
        report.push(Row::info(
            format!("wire floor, each delivery recorded first: webhook → comment, {size} PRs"),
            latency(
                &recorded_comment,
                recorded.comments_missing,
                recorded.cutoff,
            ),
        ));
        if let Some(c) = catalyst.and_then(|c| c.iter().find(|b| b.size == size))
            && let (Some(cj), Some(cc)) = (c.job, c.comment)
        {
            let over = |catalyst: Duration, floor: Duration| {
                let sign = if catalyst >= floor { "+" } else { "−" };
                format!("{sign}{}", ms(catalyst.abs_diff(floor)))
            };
            report.push(Row::info(
                format!("Catalyst over the wire floor, {size} PRs: Job p95, comment p95"),
                format!("{}, {}", over(cj.p95, job.p95), over(cc.p95, comment.p95)),
            ));
        }
        floors.push((size, job, comment, recorded_comment));
    }
    if let (Some(small), Some(large)) = (floors.first(), floors.last())
        && floors.len() > 1
    {
        for (what, l, s) in [
            ("Job", large.1, small.1),
            ("comment", large.2, small.2),
            ("comment (each delivery recorded first)", large.3, small.3),
        ] {
            report.push(Row::info(
                format!(
                    "wire floor: {what} p95 at {} PRs ÷ p95 at {}",
                    large.0, small.0
                ),
                format!("{:.2}×", ratio(l.p95, s.p95)),
            ));
        }
        // With the small burst within its target, the ratio allows the large one at
        // most 1.5 × that target; the floor alone above it rules out meeting both.
        for (what, floor_large, target) in [
            ("Job", large.1.p95, JOB_TARGET),
            ("comment", large.2.p95, COMMENT_TARGET),
        ] {
            let ceiling = target.mul_f64(RATIO_TARGET);
            if floor_large > ceiling {
                report.note(format!(
                    "the wire floor alone has a {what} p95 of {} at {} PRs, above {} (1.5 × \
                     the {} target at {} PRs): on this machine no implementation meets both \
                     the {what} target at {} PRs and the {what} ratio",
                    ms(floor_large),
                    large.0,
                    ms(ceiling),
                    ms(target),
                    small.0,
                    small.0,
                ));
            }
        }
    }
    Ok(())
}
