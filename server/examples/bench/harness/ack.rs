//! Webhook acknowledgement latency: signed `pull_request` `opened` deliveries offered at
//! fixed rates to one Catalyst. The repository is not configured, so every delivery is
//! verified, parsed and recorded in the database (the full intake path) without
//! starting deployments that would compete with the intake for the two cores.

use std::time::Duration;

use super::report::{Report, Row};
use super::stats::{ms, summarize};
use super::webhooks::Sender;
use super::{Instance, Options};

const REPO: &str = "acme/ack-load";
const TARGET: Duration = Duration::from_millis(5);
const WARM_UP: usize = 50;

/// Runs the load steps; returns Catalyst's resident memory before any load (idle).
pub async fn run(opts: &Options, report: &mut Report) -> anyhow::Result<u64> {
    let inst = Instance::new(opts, "ack").await?;
    // Every delivery is a new pull request of an unconfigured repository, which gets a
    // "configuration missing" comment: 6,000 comments are more than github.com's 5,000
    // requests per hour and installation, and a limit reached in the middle of a rate
    // would change what is measured.
    inst.doubles.lift_github_rate_limit();
    let catalyst = inst.launch.serve("catalyst.log").await?;
    // Idle: started, migrated, background loops running, nothing received yet.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_rss = catalyst.rss_bytes()?;

    let sender = Sender::new(&catalyst.base, inst.doubles.webhook_secret());
    let warm: Vec<_> = (0..WARM_UP)
        .map(|_| inst.doubles.open(REPO).map(|p| p.delivery))
        .collect::<anyhow::Result<_>>()?;
    sender.offer(warm, 100).await?;

    let highest = opts.ack_rates.iter().copied().max().unwrap_or(0);
    for &rate in &opts.ack_rates {
        let n = usize::try_from(rate * opts.ack_seconds)?;
        let deliveries: Vec<_> = (0..n)
            .map(|_| inst.doubles.open(REPO).map(|p| p.delivery))
            .collect::<anyhow::Result<_>>()?;
        let load = sender.offer(deliveries, rate).await?;
        load.write(&inst.launch.dir, &format!("acks-{rate}.jsonl"))?;
        let Some(s) = summarize(load.latencies()) else {
            anyhow::bail!("no delivery at {rate}/s was acknowledged");
        };
        #[allow(clippy::cast_precision_loss)]
        let achieved = n as f64 / load.offered_for.as_secs_f64().max(1e-9);
        let measured = format!(
            "p50 {}, p99 {} ({} deliveries offered at {achieved:.0}/s, {} errors, max {})",
            ms(s.p50),
            ms(s.p99),
            s.count,
            load.errors,
            ms(s.max)
        );
        let figure = format!("webhook ack latency at {rate}/s");
        if rate == highest {
            report.push(Row::new(
                figure,
                measured,
                "p99 ≤ 5 ms",
                Some(s.p99 <= TARGET && load.errors == 0),
            ));
        } else {
            report.push(Row::info(figure, measured));
        }
        if load.max_lateness > Duration::from_millis(20) {
            report.note(format!(
                "at {rate}/s the load generator fell up to {} behind schedule (shared CPU)",
                ms(load.max_lateness)
            ));
        }
    }
    catalyst.stop().await?;
    inst.doubles.write_request_logs(&inst.launch.dir)?;
    Ok(idle_rss)
}
