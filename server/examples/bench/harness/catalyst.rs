//! One `catalyst` process under test: a fresh SQLite database in the scenario's
//! directory, migrated and given an operator token before `serve` starts, its log in a
//! file, its resident memory read from `/proc`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

/// How to start Catalyst: the binary and the environment every start gets.
#[derive(Clone, Debug)]
pub struct Launch {
    pub binary: PathBuf,
    /// Arguments before the subcommand (`floor job` for the wire floor; none for Catalyst).
    pub args: Vec<String>,
    /// `CATALYST_*`, `KUBECONFIG`, `LEPTOS_SITE_ROOT`, `RUST_LOG` …
    pub env: Vec<(String, String)>,
    /// Holds the database and the logs.
    pub dir: PathBuf,
}

impl Launch {
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.args(&self.args);
        // The harness's own CATALYST_* (a developer's shell) must not leak in.
        for (k, _) in std::env::vars() {
            if k.starts_with("CATALYST_") {
                cmd.env_remove(k);
            }
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd.current_dir(&self.dir);
        cmd.kill_on_drop(true);
        cmd
    }

    /// `catalyst migrate` then `catalyst token create`: the operator token's text.
    pub async fn prepare(&self) -> anyhow::Result<String> {
        let out = self.command().arg("migrate").output().await?;
        if !out.status.success() {
            bail!(
                "catalyst migrate failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let out = self
            .command()
            .args(["token", "create", "--name", "bench", "--role", "operator"])
            .output()
            .await?;
        if !out.status.success() {
            bail!(
                "catalyst token create failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .last()
            .map(|l| l.trim().to_owned())
            .filter(|t| !t.is_empty())
            .context("catalyst token create printed no token")
    }

    /// Starts `catalyst serve` (log in `log_name`) and waits until `/healthz` answers.
    pub async fn serve(&self, log_name: &str) -> anyhow::Result<Catalyst> {
        let log_path = self.dir.join(log_name);
        let log = std::fs::File::create(&log_path)?;
        let base = self
            .env
            .iter()
            .find(|(k, _)| k == "CATALYST_BIND")
            .map(|(_, v)| format!("http://{v}"))
            .context("CATALYST_BIND is not set")?;
        let mut child = self
            .command()
            .arg("serve")
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        let pid = child.id().context("catalyst exited at once")?;
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = http.get(format!("{base}/healthz")).send().await
                && r.status().is_success()
            {
                break;
            }
            if let Some(status) = child.try_wait()? {
                bail!("catalyst exited with {status}; log:\n{}", tail(&log_path));
            }
            if Instant::now() > deadline {
                bail!(
                    "catalyst did not answer /healthz within 60 s; log:\n{}",
                    tail(&log_path)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Catalyst {
            child,
            pid,
            base,
            log_path,
        })
    }
}

/// The last lines of a log, for error messages.
pub fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// A running `catalyst serve`.
pub struct Catalyst {
    child: Child,
    pid: u32,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    pub log_path: PathBuf,
}

impl Catalyst {
    /// `VmRSS` of the process, in bytes.
    pub fn rss_bytes(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))?;
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .context("no VmRSS line in /proc/PID/status")?;
        Ok(kib * 1024)
    }

    /// The process id (for `perf record -p`).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Stops the process: SIGTERM, then SIGKILL after five seconds.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await;
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            self.child.kill().await?;
        }
        Ok(())
    }
}
