//! `catalyst-testkit`: run the Kubernetes and GitHub doubles (`serve`), or change a pull
//! request in a running double and deliver its webhook (`pr open|push|close|label|…`).

use std::path::PathBuf;

use anyhow::Context;
use catalyst_testkit::scenario::Scenario;
use catalyst_testkit::{TestKit, TestKitOptions};
use clap::{Parser, Subcommand};
use serde_json::{Value, json};

/// The allocator `catalyst` uses, so the doubles beside it cost the machine no more
/// than they must.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "catalyst-testkit",
    version,
    about = "Loopback Kubernetes and GitHub API doubles for Catalyst"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start both doubles, write a kubeconfig, print the environment, run until interrupted.
    Serve {
        #[arg(long, default_value_t = 0)]
        kube_port: u16,
        #[arg(long, default_value_t = 0)]
        github_port: u16,
        /// Where to write the kubeconfig and the app key (a temporary directory by default).
        #[arg(long)]
        state_dir: Option<PathBuf>,
        /// Where webhooks go (Catalyst's `/webhooks/github`).
        #[arg(
            long,
            env = "CATALYST_TESTKIT_WEBHOOK_URL",
            default_value = "http://127.0.0.1:3000/webhooks/github"
        )]
        webhook_url: String,
        /// A timed script to play (see the `scenario` module docs).
        #[arg(long)]
        scenario: Option<PathBuf>,
    },
    /// Change a pull request in a running `serve` and deliver the webhook.
    Pr {
        #[command(subcommand)]
        action: PrCommand,
        /// The GitHub double of the running `serve`.
        #[arg(
            long,
            global = true,
            env = "CATALYST_GITHUB_API_URL",
            default_value = "http://127.0.0.1:9080"
        )]
        github_url: String,
        /// Override where the webhook goes.
        #[arg(long, global = true)]
        webhook_url: Option<String>,
        /// Override the webhook secret.
        #[arg(long, global = true, env = "CATALYST_GITHUB_WEBHOOK_SECRET")]
        webhook_secret: Option<String>,
    },
}

#[derive(Subcommand)]
enum PrCommand {
    /// Open a pull request (`opened`).
    Open {
        #[arg(long)]
        repo: String,
        #[arg(long)]
        number: Option<u64>,
        #[arg(long)]
        title: Option<String>,
        #[arg(long)]
        author: Option<String>,
        #[arg(long)]
        sha: Option<String>,
        #[arg(long)]
        branch: Option<String>,
        /// The head comes from a fork.
        #[arg(long)]
        fork: bool,
        #[arg(long = "label")]
        labels: Vec<String>,
    },
    /// Push new commits (`synchronize`).
    Push {
        #[arg(long)]
        repo: String,
        #[arg(long)]
        number: u64,
        #[arg(long)]
        sha: Option<String>,
    },
    /// Close or merge (`closed`).
    Close {
        #[arg(long)]
        repo: String,
        #[arg(long)]
        number: u64,
        #[arg(long)]
        merged: bool,
    },
    /// Reopen (`reopened`).
    Reopen {
        #[arg(long)]
        repo: String,
        #[arg(long)]
        number: u64,
    },
    /// Add a label (`labeled`).
    Label {
        #[arg(long)]
        repo: String,
        #[arg(long)]
        number: u64,
        #[arg(long)]
        label: String,
    },
    /// Remove a label (`unlabeled`).
    Unlabel {
        #[arg(long)]
        repo: String,
        #[arg(long)]
        number: u64,
        #[arg(long)]
        label: String,
    },
}

fn pr_body(cmd: PrCommand) -> Value {
    match cmd {
        PrCommand::Open {
            repo,
            number,
            title,
            author,
            sha,
            branch,
            fork,
            labels,
        } => json!({
            "repo": repo, "action": "open", "number": number, "title": title, "author": author,
            "head_sha": sha, "head_ref": branch, "fork": fork, "labels": labels,
        }),
        PrCommand::Push { repo, number, sha } => {
            json!({"repo": repo, "action": "push", "number": number, "sha": sha})
        }
        PrCommand::Close {
            repo,
            number,
            merged,
        } => json!({"repo": repo, "action": "close", "number": number, "merged": merged}),
        PrCommand::Reopen { repo, number } => {
            json!({"repo": repo, "action": "reopen", "number": number})
        }
        PrCommand::Label {
            repo,
            number,
            label,
        } => json!({"repo": repo, "action": "label", "number": number, "label": label}),
        PrCommand::Unlabel {
            repo,
            number,
            label,
        } => json!({"repo": repo, "action": "unlabel", "number": number, "label": label}),
    }
}

async fn serve(
    kube_port: u16,
    github_port: u16,
    state_dir: Option<PathBuf>,
    webhook_url: String,
    scenario: Option<PathBuf>,
) -> anyhow::Result<()> {
    let scenario = scenario
        .map(|p| Scenario::load(&p).with_context(|| format!("loading {}", p.display())))
        .transpose()?;
    let kit = TestKit::start_with(TestKitOptions {
        kube_port,
        github_port,
        state_dir,
    })
    .await
    .context("starting the doubles")?;
    let gh = kit.github();
    gh.set_webhook_target(&webhook_url, catalyst_testkit::github::TEST_WEBHOOK_SECRET);
    println!(
        "# catalyst-testkit: Kubernetes API at {}, GitHub API at {}",
        kit.kube_url(),
        kit.github_url()
    );
    println!("# webhooks go to {webhook_url}");
    for (k, v) in kit.env() {
        println!("{k}={v}");
    }
    if let Some(s) = scenario {
        tokio::spawn(s.play(kit.cluster(), gh));
    }
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}

async fn pr(
    action: PrCommand,
    github_url: String,
    webhook_url: Option<String>,
    webhook_secret: Option<String>,
) -> anyhow::Result<()> {
    let mut body = pr_body(action);
    if let Some(u) = webhook_url {
        body["webhook_url"] = json!(u);
        body["webhook_secret"] = json!(webhook_secret);
    }
    let url = format!("{}/_testkit/pr", github_url.trim_end_matches('/'));
    let resp = reqwest::Client::new()
        .post(&url)
        .json(&body)
        .send()
        .await
        .with_context(|| format!("is `catalyst-testkit serve` running at {github_url}?"))?;
    let status = resp.status();
    let out: Value = resp.json().await.context("reading the answer")?;
    if !status.is_success() {
        anyhow::bail!(
            "the GitHub double refused: {}",
            out["message"].as_str().unwrap_or("unknown error")
        );
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve {
            kube_port,
            github_port,
            state_dir,
            webhook_url,
            scenario,
        } => serve(kube_port, github_port, state_dir, webhook_url, scenario).await,
        Command::Pr {
            action,
            github_url,
            webhook_url,
            webhook_secret,
        } => pr(action, github_url, webhook_url, webhook_secret).await,
    }
}
