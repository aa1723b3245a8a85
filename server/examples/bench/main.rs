//! `bench`: the benchmark of issues 8 and 9 (see `harness`). `scripts/bench` builds everything
//! in release and runs it; `--smoke` runs tiny sizes.
//!
//! `cargo run --release -p catalyst-server --example bench -- --catalyst PATH [--site-root DIR]`

mod harness;

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// The doubles run in this process on the same two cores as `catalyst`: with glibc's
/// malloc they spent a third of their CPU in it (`perf`), time taken from the process
/// being measured.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "bench",
    about = "Catalyst benchmark: webhooks, deployments, sweep, dashboard, memory"
)]
struct Cli {
    /// The `catalyst` binary to measure.
    #[arg(long)]
    catalyst: PathBuf,
    /// The built site (`target/site`): served by Catalyst, and its WASM is measured.
    #[arg(long)]
    site_root: Option<PathBuf>,
    /// Keep databases and logs here (a temporary directory, removed at the end, if unset).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Tiny sizes (seconds instead of minutes); flags below still override them.
    #[arg(long)]
    smoke: bool,
    /// Webhook rates, deliveries per second (comma-separated).
    #[arg(long, value_delimiter = ',')]
    ack_rates: Option<Vec<u32>>,
    /// Seconds of load per rate.
    #[arg(long)]
    ack_seconds: Option<u32>,
    /// Pull requests opened at once, one run each (comma-separated).
    #[arg(long, value_delimiter = ',')]
    bursts: Option<Vec<usize>>,
    /// Repositories the bursts are spread over.
    #[arg(long)]
    burst_repos: Option<usize>,
    /// Repositories of the sweep / fleet scenario.
    #[arg(long)]
    fleet_repos: Option<usize>,
    /// Open pull requests per fleet repository.
    #[arg(long)]
    fleet_prs_per_repo: Option<usize>,
    /// Timed `GET /` requests.
    #[arg(long)]
    ssr_requests: Option<usize>,
    /// Longest wait for deployments, in seconds.
    #[arg(long)]
    settle_timeout_secs: Option<u64>,
    /// Run only these scenarios: ack, pipeline, floor, fleet, bundle, load (comma-separated).
    #[arg(long, value_delimiter = ',')]
    only: Option<Vec<String>>,
    /// Minutes of sustained load (issue 9).
    #[arg(long)]
    load_minutes: Option<f64>,
    /// Pull requests kept changing during the load.
    #[arg(long)]
    load_prs: Option<usize>,
    /// Repositories the load's pull requests are spread over.
    #[arg(long)]
    load_repos: Option<usize>,
    /// Dashboard users during the load.
    #[arg(long)]
    load_dashboard_users: Option<usize>,
    /// Live log followers during the load.
    #[arg(long)]
    load_log_followers: Option<usize>,
    /// Mean seconds between two events of one pull request during the load.
    #[arg(long)]
    load_event_interval_secs: Option<f64>,
    /// Longest wait for Catalyst to converge after the load, in seconds.
    #[arg(long)]
    load_converge_timeout_secs: Option<u64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // `bench floor {job|comment} serve`: the harness starting the wire floor as its own
    // process, the way it starts `catalyst serve`.
    let args: Vec<String> = std::env::args().collect();
    if let [_, floor, work, serve] = args.as_slice()
        && floor == "floor"
        && serve == "serve"
    {
        return harness::floor::serve_process(harness::floor::Work::parse(work)?).await;
    }
    let cli = Cli::parse();
    let temp = tempfile::tempdir()?;
    let work_dir = cli
        .work_dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    let mut opts = if cli.smoke {
        harness::Options::smoke(cli.catalyst, work_dir)
    } else {
        harness::Options::full(cli.catalyst, work_dir)
    };
    opts.site_root = cli.site_root;
    opts.floor_binary = Some(std::env::current_exe()?);
    if let Some(v) = cli.ack_rates {
        opts.ack_rates = v;
    }
    if let Some(v) = cli.ack_seconds {
        opts.ack_seconds = v;
    }
    if let Some(v) = cli.bursts {
        opts.bursts = v;
    }
    if let Some(v) = cli.burst_repos {
        opts.burst_repos = v;
    }
    if let Some(v) = cli.fleet_repos {
        opts.fleet_repos = v;
    }
    if let Some(v) = cli.fleet_prs_per_repo {
        opts.fleet_prs_per_repo = v;
    }
    if let Some(v) = cli.ssr_requests {
        opts.ssr_requests = v;
    }
    if let Some(v) = cli.settle_timeout_secs {
        opts.settle_timeout = Duration::from_secs(v);
    }
    if let Some(names) = cli.only {
        opts.scenarios = names
            .iter()
            .map(|n| harness::Scenario::parse(n))
            .collect::<anyhow::Result<_>>()?;
    }
    if let Some(v) = cli.load_minutes {
        opts.load.duration = Duration::from_secs_f64(v * 60.0);
    }
    if let Some(v) = cli.load_prs {
        opts.load.prs = v;
    }
    if let Some(v) = cli.load_repos {
        opts.load.repos = v;
    }
    if let Some(v) = cli.load_dashboard_users {
        opts.load.dashboard_users = v;
    }
    if let Some(v) = cli.load_log_followers {
        opts.load.log_followers = v;
    }
    if let Some(v) = cli.load_event_interval_secs {
        opts.load.event_interval = Duration::from_secs_f64(v);
    }
    if let Some(v) = cli.load_converge_timeout_secs {
        opts.load.converge_timeout = Duration::from_secs(v);
    }
    let report = harness::run(&opts).await?;
    println!("{}", report.render());
    let misses = report.misses().len();
    if misses > 0 {
        eprintln!("{misses} target(s) missed");
    }
    Ok(())
}
