//! The `catalyst-testkit` binary: `serve` prints the environment, and `pr open` against it
//! changes the GitHub double and delivers a signed webhook.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::github_webhooks::receiver;

#[tokio::test]
async fn serve_then_pr_open_delivers_a_webhook() {
    let (hook, got) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let mut serve = tokio::process::Command::new(env!("CARGO_BIN_EXE_catalyst-testkit"))
        .args(["serve", "--webhook-url", &hook, "--state-dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(serve.stdout.take().unwrap()).lines();
    let mut env = std::collections::HashMap::new();
    while env.len() < 7 {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .expect("serve prints its environment");
        if let Some((k, v)) = line.split_once('=')
            && !line.starts_with('#')
        {
            env.insert(k.to_string(), v.to_string());
        }
    }
    let kubeconfig = std::fs::read_to_string(&env["KUBECONFIG"]).unwrap();
    assert!(
        kubeconfig.contains("server: http://127.0.0.1:"),
        "{kubeconfig}"
    );
    assert!(
        std::fs::read_to_string(&env["CATALYST_GITHUB_APP_PRIVATE_KEY_PATH"])
            .unwrap()
            .contains("PRIVATE KEY")
    );
    let github = env["CATALYST_GITHUB_API_URL"].clone();
    assert!(github.starts_with("http://127.0.0.1:"));

    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_catalyst-testkit"))
        .args([
            "pr",
            "open",
            "--repo",
            "acme/web",
            "--number",
            "12",
            "--github-url",
            &github,
        ])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (answer["action"].as_str(), answer["status"].as_u64()),
        (Some("opened"), Some(200))
    );
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let secret = &env["CATALYST_GITHUB_WEBHOOK_SECRET"];
    assert_eq!(
        got[0].0["x-hub-signature-256"].to_str().unwrap(),
        catalyst_testkit::github::signature(secret, &got[0].1)
    );
    let state: Value = reqwest::get(format!("{github}/_testkit/state"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["pulls"][0]["number"], 12);
    serve.kill().await.unwrap();
}
