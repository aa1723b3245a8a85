//! The benchmark (`server/examples/bench`, `scripts/bench`) with tiny sizes against the
//! debug `catalyst` binary, so that it keeps working: every scenario must run end to end
//! and produce its figures. The figures themselves are not judged here (debug build,
//! shared machine); `scripts/bench` measures them in release.

#[allow(dead_code)]
#[path = "../examples/bench/harness/mod.rs"]
mod harness;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_benchmark_runs_end_to_end_with_tiny_sizes() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let opts = harness::Options::smoke(
        env!("CARGO_BIN_EXE_catalyst").into(),
        dir.path().to_path_buf(),
    );
    let started = std::time::Instant::now();
    let report = harness::run(&opts).await.expect("every scenario runs");
    let table = report.render();
    println!("{table}");
    let figures: Vec<&str> = report.rows.iter().map(|r| r.figure.as_str()).collect();
    for expected in [
        "webhook ack latency at 20/s",
        "webhook ack latency at 50/s",
        "webhook → pull request pod Job, 3 PRs at once",
        "webhook → first PR comment, 6 PRs at once",
        "Job p95 at 6 PRs ÷ p95 at 3",
        "wire floor: webhook → Job, 3 PRs at once",
        "wire floor: webhook → comment, 6 PRs at once",
        "Catalyst over the wire floor, 6 PRs: Job p95, comment p95",
        "wire floor: Job p95 at 6 PRs ÷ p95 at 3",
        "reconciliation sweep: rate-limited GitHub calls",
        "dashboard SSR of / with 10 environments",
        "server RSS, idle",
        "server RSS, 10 environments",
        "load: failed requests (non-2xx or transport) by client",
        "load: server RSS growth over the second half (least-squares trend)",
        "load: lost events (PRs whose final state Catalyst does not show)",
    ] {
        assert!(
            figures.contains(&expected),
            "no row {expected:?} in\n{table}"
        );
    }
    // Measured rows carry numbers, and the sweep found every pull request.
    assert!(table.contains("10 PRs opened"), "{table}");
    assert!(
        report.rows.iter().all(|r| !r.measured.is_empty()),
        "{table}"
    );
    // The load scenario delivered events, and every pull request converged.
    let lost = report
        .rows
        .iter()
        .find(|r| r.figure.starts_with("load: lost events"))
        .unwrap();
    assert_eq!(lost.measured, "0", "{table}");
    // Each ack rate's deliveries are written out in the order offered, each answered,
    // beside the doubles' request logs.
    let ack = dir.path().join("ack");
    for &rate in &opts.ack_rates {
        let path = ack.join(format!("acks-{rate}.jsonl"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), (rate * opts.ack_seconds) as usize, "{path:?}");
        assert!(
            lines
                .iter()
                .all(|l| l["acknowledged_ms"].as_f64().is_some() && l["sent"].as_str().is_some()),
            "{text}"
        );
    }
    assert!(ack.join("github-requests.jsonl").is_file());
    assert!(
        started.elapsed() < std::time::Duration::from_secs(120),
        "the smoke run took {:?}",
        started.elapsed()
    );
}
