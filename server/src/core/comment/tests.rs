use super::*;
use chrono::TimeZone;

fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, h, m, s).unwrap()
}

fn phase(name: &str, start: DateTime<Utc>, end: Option<DateTime<Utc>>) -> PhaseTiming {
    PhaseTiming {
        phase: name.to_owned(),
        started_at: start,
        finished_at: end,
    }
}

fn view(status: CommentStatus) -> CommentView {
    CommentView {
        status,
        repository_url: "https://github.com/acme/shop".to_owned(),
        catalyst_url: "https://catalyst.example.com/".to_owned(),
        environment_id: Some("42".to_owned()),
        preview_url: Some("https://pr-shop-7.preview.example.com".to_owned()),
        head_sha: Some("0123456789abcdef0123456789abcdef01234567".to_owned()),
        namespace: Some("pr-shop-7".to_owned()),
        phases: vec![
            phase("queued", at(14, 3, 5), Some(at(14, 3, 7))),
            phase("provisioning", at(14, 3, 7), Some(at(14, 3, 12))),
            phase("deploying", at(14, 3, 12), Some(at(14, 5, 40))),
            phase("verifying", at(14, 5, 40), Some(at(14, 6, 1))),
        ],
        updated_at: at(14, 6, 2),
        github_rate_limited_until: None,
    }
}

const FACTS: &str = "\
- **Preview:** [https://pr-shop-7.preview.example.com](https://pr-shop-7.preview.example.com)
- **Commit:** [`0123456`](https://github.com/acme/shop/commit/0123456789abcdef0123456789abcdef01234567)
- **Namespace:** `pr-shop-7`
- **Details:** [Catalyst environment page](https://catalyst.example.com/environments/42)
";

#[test]
fn ready() {
    let expected = format!(
        "\
<!-- catalyst-preview:comment v1 -->
### Catalyst Preview

**Status: ready.** [Open the preview](https://pr-shop-7.preview.example.com)

{FACTS}
| Phase | Started | Finished | Duration |
|---|---|---|---|
| queued | 2026-11-27 14:03:05 UTC | 2026-11-27 14:03:07 UTC | 2s |
| provisioning | 2026-11-27 14:03:07 UTC | 2026-11-27 14:03:12 UTC | 5s |
| deploying | 2026-11-27 14:03:12 UTC | 2026-11-27 14:05:40 UTC | 2m 28s |
| verifying | 2026-11-27 14:05:40 UTC | 2026-11-27 14:06:01 UTC | 21s |

<sub>Updated 2026-11-27 14:06:02 UTC.</sub>
"
    );
    assert_eq!(render(&view(CommentStatus::Ready)), expected);
}

#[test]
fn failed_with_logs_and_a_rate_limit_note() {
    let mut v = view(CommentStatus::Failed(FailureDetails {
        error: "deployment/web did not become ready within 300s".into(),
        failed_check: Some("GET /healthz returned 503".into()),
        log_lines: vec![
            "listening on :8080".into(),
            "\u{1b}[31mpanic\u{1b}[0m: ``` oops".into(),
        ],
        retry: RetryNote::Scheduled {
            retry: 2,
            max_retries: 3,
            at: at(14, 7, 0),
        },
    }));
    v.phases.truncate(1);
    v.github_rate_limited_until = Some(at(14, 30, 0));
    let expected = format!(
        "\
<!-- catalyst-preview:comment v1 -->
### Catalyst Preview

**Status: failed.** Retry 2 of 3 starts at 14:07 UTC.

> github: rate limited until 14:30 UTC. This comment may lag behind; the environment page is current.

**Error:**

```text
deployment/web did not become ready within 300s
```

**Failed check:** GET /healthz returned 503

<details>
<summary>Log (2 lines)</summary>

```text
listening on :8080
panic: ``\u{200B}` oops
```

</details>

{FACTS}
| Phase | Started | Finished | Duration |
|---|---|---|---|
| queued | 2026-11-27 14:03:05 UTC | 2026-11-27 14:03:07 UTC | 2s |

<sub>Updated 2026-11-27 14:06:02 UTC.</sub>
"
    );
    assert_eq!(render(&v), expected);
}

#[test]
fn pending_with_queue_position() {
    let mut v = view(CommentStatus::Pending {
        queue_position: Some(4),
    });
    v.phases = vec![phase("queued", at(14, 3, 5), None)];
    let expected = format!(
        "\
<!-- catalyst-preview:comment v1 -->
### Catalyst Preview

**Status: pending**, position 4 in queue. The deployment starts when the cluster has room.

{FACTS}
| Phase | Started | Finished | Duration |
|---|---|---|---|
| queued | 2026-11-27 14:03:05 UTC | running | running |

<sub>Updated 2026-11-27 14:06:02 UTC.</sub>
"
    );
    assert_eq!(render(&v), expected);
}

#[test]
fn cleaned_up() {
    let mut v = view(CommentStatus::CleanedUp);
    v.phases.clear();
    v.updated_at = at(15, 0, 0);
    let expected = "\
<!-- catalyst-preview:comment v1 -->
### Catalyst Preview

**Status: cleaned up.** The pull request was closed and its preview environment has been deleted.

- **Commit:** [`0123456`](https://github.com/acme/shop/commit/0123456789abcdef0123456789abcdef01234567)
- **Namespace:** `pr-shop-7`
- **Details:** [Catalyst environment page](https://catalyst.example.com/environments/42)

<sub>Updated 2026-11-27 15:00:00 UTC.</sub>
";
    assert_eq!(render(&v), expected);
}

#[test]
fn expired_after_the_ttl() {
    let mut v = view(CommentStatus::Expired {
        idle_hours: 72,
        keep_label: "keep".to_owned(),
    });
    v.phases.clear();
    v.preview_url = Some("https://pr-shop-7.preview.example.com".to_owned());
    v.updated_at = at(15, 0, 0);
    let expected = "\
<!-- catalyst-preview:comment v1 -->
### Catalyst Preview

**Status: expired.** Nothing happened on this pull request for 72 hours, so its preview environment was removed. Push a commit to deploy it again; the `keep` label keeps an environment from expiring.

- **Commit:** [`0123456`](https://github.com/acme/shop/commit/0123456789abcdef0123456789abcdef01234567)
- **Namespace:** `pr-shop-7`
- **Details:** [Catalyst environment page](https://catalyst.example.com/environments/42)

<sub>Updated 2026-11-27 15:00:00 UTC.</sub>
";
    assert_eq!(render(&v), expected);
}

#[test]
fn failed_with_a_retry_or_a_capacity_requeue_says_when_the_next_attempt_starts() {
    let failure = |retry| {
        CommentStatus::Failed(FailureDetails {
            error: "helm: timed out".to_owned(),
            failed_check: None,
            log_lines: Vec::new(),
            retry,
        })
    };
    let scheduled = render(&bare(failure(RetryNote::Scheduled {
        retry: 2,
        max_retries: 3,
        at: at(14, 7, 30),
    })));
    assert!(
        scheduled.contains("**Status: failed.** Retry 2 of 3 starts at 14:07 UTC."),
        "{scheduled}"
    );
    let requeued = render(&bare(failure(RetryNote::Requeued { at: at(9, 5, 0) })));
    assert!(
        requeued.contains(
            "**Status: failed.** The cluster had no room; the next attempt starts at 09:05 UTC."
        ),
        "{requeued}"
    );
}

fn bare(status: CommentStatus) -> CommentView {
    CommentView {
        environment_id: None,
        preview_url: None,
        namespace: None,
        phases: Vec::new(),
        ..view(status)
    }
}

#[test]
fn status_lines_for_the_remaining_states() {
    let cases = [
        (
            CommentStatus::Pending {
                queue_position: None,
            },
            "**Status: pending.** The deployment starts shortly.",
        ),
        (
            CommentStatus::Deploying,
            "**Status: deploying.** Building and installing this commit.",
        ),
        (
            CommentStatus::Verifying,
            "**Status: verifying.** Installed; waiting for the health checks to pass.",
        ),
        (
            CommentStatus::Deleting,
            "**Status: deleting.** The pull request was closed; its preview environment is being removed.",
        ),
        (
            CommentStatus::ForkAwaitingLabel {
                label: "preview ok".into(),
            },
            "**Status: not deployed.** This pull request comes from a fork, so its preview would run untrusted code. A maintainer can deploy it by adding the `preview ok` label.",
        ),
        (
            CommentStatus::ConfigurationMissing {
                setup_guide_url: "https://catalyst.example.com/docs/setup".into(),
            },
            "**Status: configuration missing.** This repository has no preview configuration: none in Catalyst and no `.catalyst/preview.yaml` at this commit. See the [setup guide](https://catalyst.example.com/docs/setup).",
        ),
    ];
    for (status, line) in cases {
        let body = render(&bare(status));
        assert!(body.contains(&format!("\n\n{line}\n\n")), "{body}");
    }
}

#[test]
fn configuration_errors_name_file_line_and_expectation() {
    let problem = ConfigurationProblem {
        file: ".catalyst/preview.yaml".into(),
        line: Some(12),
        message: "unknown field chartt".into(),
        expected: "one of chart, values, image, health_path".into(),
    };
    let body = render(&bare(CommentStatus::ConfigurationError(problem.clone())));
    assert!(
        body.contains(
            "**Status: configuration error.** The preview configuration cannot be used.\n\n\
         In `.catalyst/preview.yaml`, line 12: unknown field chartt\n\n\
         Expected: one of chart, values, image, health\\_path\n\n"
        ),
        "{body}"
    );
    let no_line = ConfigurationProblem {
        line: None,
        ..problem
    };
    let body = render(&bare(CommentStatus::ConfigurationError(no_line)));
    assert!(
        body.contains("In `.catalyst/preview.yaml`: unknown field chartt"),
        "{body}"
    );
}

#[test]
fn exhausted_retries_point_to_a_push_or_manual_retry() {
    let body = render(&view(CommentStatus::Failed(FailureDetails {
        error: "helm: exit status 1".into(),
        failed_check: None,
        log_lines: Vec::new(),
        retry: RetryNote::GivenUp,
    })));
    assert!(
        body.contains(
            "**Status: failed.** Push a new commit or retry it from the environment page."
        )
    );
    assert!(!body.contains("<details>"), "no logs, no log block");
    assert!(!body.contains("Failed check"));
}

fn failed_with(error: String, log_lines: Vec<String>) -> CommentView {
    view(CommentStatus::Failed(FailureDetails {
        error,
        failed_check: Some("x".repeat(10_000)),
        log_lines,
        retry: RetryNote::GivenUp,
    }))
}

/// Counts fence lines the way CommonMark does (up to three spaces of indentation).
fn fence_lines(body: &str) -> usize {
    body.lines()
        .filter(|line| {
            let trimmed = line.trim_start_matches(' ');
            line.len() - trimmed.len() <= 3 && trimmed.starts_with("```")
        })
        .count()
}

#[test]
fn hostile_logs_cannot_break_out_of_their_fence() {
    let logs = vec![
        "```".to_owned(),
        "</details>".to_owned(),
        "   ````` markdown".to_owned(),
        MARKER.to_owned(),
        "@octocat `````".to_owned(),
    ];
    let body = render(&failed_with("```\n# not a heading".into(), logs));
    // The error block and the log block: two openings, two closings, nothing else.
    assert_eq!(fence_lines(&body), 4, "{body}");
    assert_eq!(
        body.matches(MARKER).count(),
        2,
        "the real marker plus the quoted one"
    );
    assert!(body.starts_with(MARKER));
    assert_eq!(body.matches("</details>").count(), 2);
}

#[test]
fn logs_are_capped_to_the_last_sixty_lines() {
    let logs: Vec<String> = (1..=500).map(|i| format!("log line {i}")).collect();
    let body = render(&failed_with("boom".into(), logs));
    assert!(body.contains("<summary>Last 60 log lines (earlier lines omitted)</summary>"));
    assert!(body.contains("\nlog line 441\n") && body.contains("\nlog line 500\n"));
    assert!(!body.contains("log line 440\n"));
}

#[test]
fn the_body_never_exceeds_githubs_limit() {
    let huge_line = "`".repeat(200_000);
    let inputs = [
        (huge_line.clone(), vec![huge_line.clone(); 100]),
        ("é".repeat(100_000), vec!["ü".repeat(50_000); 61]),
        ("\n".repeat(100_000), vec![String::new(); 10_000]),
    ];
    for (error, logs) in inputs {
        let mut v = failed_with(error, logs);
        v.phases = (0..1000)
            .map(|_| phase(&"p".repeat(500), at(14, 0, 0), None))
            .collect();
        v.namespace = Some("n".repeat(100_000));
        v.preview_url = Some("u".repeat(100_000));
        let body = render(&v);
        assert!(body.len() <= MAX_BODY_BYTES, "{} bytes", body.len());
        assert!(body.starts_with(MARKER));
        assert_eq!(fence_lines(&body) % 2, 0, "fences stay balanced");
    }
}

#[test]
fn short_sha_links_to_the_full_commit() {
    let mut v = bare(CommentStatus::Deploying);
    v.head_sha = Some("ABCDEF1234567890".into());
    v.repository_url = "https://github.example.com/acme/shop/".into();
    let body = render(&v);
    assert!(
        body.contains("[`ABCDEF1`](https://github.example.com/acme/shop/commit/ABCDEF1234567890)")
    );
}

#[test]
fn the_marker_finder_matches_only_our_comments() {
    assert!(is_catalyst_comment(&render(&bare(
        CommentStatus::Deploying
    ))));
    assert!(is_catalyst_comment(
        "\n<!-- catalyst-preview:comment v2 -->\nfuture"
    ));
    assert!(!is_catalyst_comment(
        "> <!-- catalyst-preview:comment v1 -->\n> quoted"
    ));
    assert!(!is_catalyst_comment("LGTM"));
}

#[test]
fn without_room_for_logs_the_comment_points_to_the_environment_page() {
    let body = render_with(&failed_with("boom".into(), vec!["log".into()]), false);
    assert!(body.contains(
        "The logs did not fit into this comment; [Catalyst environment page]\
         (https://catalyst.example.com/environments/42) has them."
    ));
    assert!(!body.contains("<details>"));
}
