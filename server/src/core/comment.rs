//! The one sticky comment Catalyst keeps on each pull request, rendered from a plain
//! [`CommentView`]. The GitHub adapter finds its earlier comment by the hidden
//! [`MARKER`] and edits it in place, so the PR shows one current status instead of a
//! trail of notifications.
//!
//! Rendering is deterministic (the time shown comes from the view), so the same state
//! always gives the same body and the adapter can skip edits that change nothing.
//! Whatever the view holds, the body stays under GitHub's 65,536-character limit.

use chrono::{DateTime, Utc};

use super::markdown::{clip, code_block, code_span, inline, log_tail};

/// The hidden first line that identifies Catalyst's comment. The version lets a later
/// format change recognise (and rewrite) comments written by this one.
pub const MARKER: &str = "<!-- catalyst-preview:comment v1 -->";

/// GitHub rejects longer comment bodies (it counts characters; bytes are never fewer).
pub const MAX_BODY_BYTES: usize = 65_536;
/// Log tail limits: enough to see the error, small enough to scroll past.
pub const MAX_LOG_LINES: usize = 60;
pub const MAX_LOG_BYTES: usize = 20 * 1024;
const MAX_ERROR_BYTES: usize = 8 * 1024;
const MAX_INLINE_CHARS: usize = 300;
const MAX_PHASE_ROWS: usize = 20;

/// Whether a comment body is Catalyst's sticky comment (any format version). Only the
/// start counts, so a reply quoting the comment is not mistaken for it; the adapter
/// also checks that the author is the app.
pub fn is_catalyst_comment(body: &str) -> bool {
    body.trim_start()
        .starts_with("<!-- catalyst-preview:comment ")
}

/// Everything the comment shows. Plain data: the engine fills it from the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommentView {
    pub status: CommentStatus,
    /// The repository's web URL (`https://github.com/owner/name`), for commit links.
    pub repository_url: String,
    /// Catalyst's own public URL, for the environment page link.
    pub catalyst_url: String,
    pub environment_id: Option<String>,
    pub preview_url: Option<String>,
    pub head_sha: Option<String>,
    pub namespace: Option<String>,
    /// The current attempt's phases, oldest first.
    pub phases: Vec<PhaseTiming>,
    pub updated_at: DateTime<Utc>,
    /// Set while GitHub's rate limit delays comment updates.
    pub github_rate_limited_until: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhaseTiming {
    /// The phase's name as stored (`queued`, `provisioning`, …).
    pub phase: String,
    pub started_at: DateTime<Utc>,
    /// `None` while the phase runs.
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommentStatus {
    Pending {
        queue_position: Option<u32>,
    },
    Deploying,
    Verifying,
    Ready,
    Failed(FailureDetails),
    Deleting,
    CleanedUp,
    /// Removed after `idle_hours` without activity (the TTL); `keep_label` exempts.
    Expired {
        idle_hours: u64,
        keep_label: String,
    },
    ForkAwaitingLabel {
        label: String,
    },
    ConfigurationMissing {
        setup_guide_url: String,
    },
    ConfigurationError(ConfigurationProblem),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailureDetails {
    pub error: String,
    /// The health check that failed, e.g. `GET /healthz returned 503`.
    pub failed_check: Option<String>,
    /// The failing containers' last log lines, oldest first.
    pub log_lines: Vec<String>,
    pub retry: RetryNote,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryNote {
    /// Retry number `retry` of `max_retries` is due at `at`.
    Scheduled {
        retry: u32,
        max_retries: u32,
        at: DateTime<Utc>,
    },
    /// The cluster had no room; the attempt is tried again at `at` (no budget spent).
    Requeued { at: DateTime<Utc> },
    /// No retry is coming: the next push or a manual retry starts over.
    GivenUp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigurationProblem {
    pub file: String,
    pub line: Option<u32>,
    pub message: String,
    pub expected: String,
}

/// Renders the comment body (Markdown) for `view`.
pub fn render(view: &CommentView) -> String {
    let body = render_with(view, true);
    if body.len() <= MAX_BODY_BYTES {
        return body;
    }
    // Only the logs can be large; without them the body is a few kilobytes.
    let body = render_with(view, false);
    if body.len() <= MAX_BODY_BYTES {
        return body;
    }
    // Unreachable with the per-field caps above; a guarantee all the same.
    let mut end = MAX_BODY_BYTES - 3;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &body[..end])
}

fn render_with(view: &CommentView, with_logs: bool) -> String {
    let mut out = format!("{MARKER}\n### Catalyst Preview\n\n");
    out.push_str(&status_line(view));
    out.push_str("\n\n");
    if let Some(until) = view.github_rate_limited_until {
        out.push_str(&format!(
            "> github: rate limited until {} UTC. This comment may lag behind; the \
             environment page is current.\n\n",
            until.format("%H:%M")
        ));
    }
    match &view.status {
        CommentStatus::Failed(failure) => push_failure(&mut out, view, failure, with_logs),
        CommentStatus::ConfigurationError(problem) => push_configuration_error(&mut out, problem),
        _ => {}
    }
    push_facts(&mut out, view);
    push_phases(&mut out, &view.phases);
    out.push_str(&format!(
        "<sub>Updated {}.</sub>\n",
        timestamp(view.updated_at)
    ));
    out
}

fn status_line(view: &CommentView) -> String {
    match &view.status {
        CommentStatus::Pending {
            queue_position: Some(position),
        } => format!(
            "**Status: pending**, position {position} in queue. The deployment starts \
             when the cluster has room."
        ),
        CommentStatus::Pending {
            queue_position: None,
        } => "**Status: pending.** The deployment starts shortly.".to_owned(),
        CommentStatus::Deploying => {
            "**Status: deploying.** Building and installing this commit.".to_owned()
        }
        CommentStatus::Verifying => {
            "**Status: verifying.** Installed; waiting for the health checks to pass.".to_owned()
        }
        CommentStatus::Ready => match &view.preview_url {
            Some(url) => format!("**Status: ready.** {}", link("Open the preview", url)),
            None => "**Status: ready.**".to_owned(),
        },
        CommentStatus::Failed(failure) => match failure.retry {
            RetryNote::Scheduled {
                retry,
                max_retries,
                at,
            } => format!(
                "**Status: failed.** Retry {retry} of {max_retries} starts at {} UTC.",
                at.format("%H:%M")
            ),
            RetryNote::Requeued { at } => format!(
                "**Status: failed.** The cluster had no room; the next attempt starts at {} UTC.",
                at.format("%H:%M")
            ),
            RetryNote::GivenUp => "**Status: failed.** Push a new commit or retry it from the \
                                   environment page."
                .to_owned(),
        },
        CommentStatus::Deleting => "**Status: deleting.** The pull request was closed; its \
                                    preview environment is being removed."
            .to_owned(),
        CommentStatus::CleanedUp => "**Status: cleaned up.** The pull request was closed and \
                                     its preview environment has been deleted."
            .to_owned(),
        CommentStatus::Expired {
            idle_hours,
            keep_label,
        } => format!(
            "**Status: expired.** Nothing happened on this pull request for {idle_hours} \
             hours, so its preview environment was removed. Push a commit to deploy it \
             again; the {} label keeps an environment from expiring.",
            code_span(keep_label, MAX_INLINE_CHARS)
        ),
        CommentStatus::ForkAwaitingLabel { label } => format!(
            "**Status: not deployed.** This pull request comes from a fork, so its preview \
             would run untrusted code. A maintainer can deploy it by adding the {} label.",
            code_span(label, MAX_INLINE_CHARS)
        ),
        CommentStatus::ConfigurationMissing { setup_guide_url } => format!(
            "**Status: configuration missing.** This repository has no preview \
             configuration: none in Catalyst and no `.catalyst/preview.yaml` at this \
             commit. See the {}.",
            link("setup guide", setup_guide_url)
        ),
        CommentStatus::ConfigurationError(_) => {
            "**Status: configuration error.** The preview configuration cannot be used.".to_owned()
        }
    }
}

fn push_failure(out: &mut String, view: &CommentView, failure: &FailureDetails, with_logs: bool) {
    out.push_str("**Error:**\n\n");
    out.push_str(&code_block(&clip_bytes(&failure.error, MAX_ERROR_BYTES)));
    out.push_str("\n\n");
    if let Some(check) = &failure.failed_check {
        out.push_str(&format!(
            "**Failed check:** {}\n\n",
            inline(check, MAX_INLINE_CHARS)
        ));
    }
    if failure.log_lines.is_empty() {
        return;
    }
    if !with_logs {
        out.push_str(&format!(
            "The logs did not fit into this comment; {} has them.\n\n",
            environment_link(view).unwrap_or_else(|| "the environment page".to_owned())
        ));
        return;
    }
    let (tail, truncated) = log_tail(&failure.log_lines, MAX_LOG_LINES, MAX_LOG_BYTES);
    let shown = tail.lines().count();
    let summary = if truncated {
        format!("Last {shown} log lines (earlier lines omitted)")
    } else {
        format!("Log ({shown} lines)")
    };
    out.push_str(&format!(
        "<details>\n<summary>{summary}</summary>\n\n{}\n\n</details>\n\n",
        code_block(&tail)
    ));
}

fn push_configuration_error(out: &mut String, problem: &ConfigurationProblem) {
    let place = match problem.line {
        Some(line) => format!(
            "{}, line {line}",
            code_span(&problem.file, MAX_INLINE_CHARS)
        ),
        None => code_span(&problem.file, MAX_INLINE_CHARS),
    };
    out.push_str(&format!(
        "In {place}: {}\n\nExpected: {}\n\n",
        inline(&problem.message, MAX_INLINE_CHARS),
        inline(&problem.expected, MAX_INLINE_CHARS)
    ));
}

fn push_facts(out: &mut String, view: &CommentView) {
    let mut facts = Vec::new();
    // After the namespace is gone the URL leads nowhere; don't offer it.
    let removed = matches!(
        view.status,
        CommentStatus::Deleting | CommentStatus::CleanedUp | CommentStatus::Expired { .. }
    );
    if let Some(url) = view.preview_url.as_ref().filter(|_| !removed) {
        facts.push(format!("- **Preview:** {}", link(url, url)));
    }
    if let Some(sha) = &view.head_sha {
        let sha: String = sha
            .chars()
            .filter(char::is_ascii_hexdigit)
            .take(40)
            .collect();
        let short: String = sha.chars().take(7).collect();
        let commit_url = format!("{}/commit/{sha}", view.repository_url.trim_end_matches('/'));
        facts.push(format!(
            "- **Commit:** [`{short}`]({})",
            url_destination(&commit_url)
        ));
    }
    if let Some(namespace) = &view.namespace {
        facts.push(format!(
            "- **Namespace:** {}",
            code_span(namespace, MAX_INLINE_CHARS)
        ));
    }
    if let Some(page) = environment_link(view) {
        facts.push(format!("- **Details:** {page}"));
    }
    if !facts.is_empty() {
        out.push_str(&facts.join("\n"));
        out.push_str("\n\n");
    }
}

fn push_phases(out: &mut String, phases: &[PhaseTiming]) {
    if phases.is_empty() {
        return;
    }
    out.push_str("| Phase | Started | Finished | Duration |\n|---|---|---|---|\n");
    let skip = phases.len().saturating_sub(MAX_PHASE_ROWS);
    for phase in &phases[skip..] {
        let (finished, took) = match phase.finished_at {
            Some(end) => (timestamp(end), duration(end - phase.started_at)),
            None => ("running".to_owned(), "running".to_owned()),
        };
        out.push_str(&format!(
            "| {} | {} | {finished} | {took} |\n",
            inline(&phase.phase, 40),
            timestamp(phase.started_at)
        ));
    }
    out.push('\n');
}

/// `[Catalyst environment page](…/environments/{id})`, when the environment exists.
fn environment_link(view: &CommentView) -> Option<String> {
    let id = view.environment_id.as_deref()?;
    let url = format!(
        "{}/environments/{}",
        view.catalyst_url.trim_end_matches('/'),
        id
    );
    Some(link("Catalyst environment page", &url))
}

fn link(text: &str, url: &str) -> String {
    format!(
        "[{}]({})",
        inline(text, MAX_INLINE_CHARS),
        url_destination(url)
    )
}

/// A link destination that cannot end the link early: spaces, parentheses and angle
/// brackets are percent-encoded.
fn url_destination(url: &str) -> String {
    let mut out = String::new();
    for c in clip(url, 2 * MAX_INLINE_CHARS).chars() {
        match c {
            ' ' => out.push_str("%20"),
            '(' => out.push_str("%28"),
            ')' => out.push_str("%29"),
            '<' => out.push_str("%3C"),
            '>' => out.push_str("%3E"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// `2026-11-27 14:03:05 UTC`.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// `45s`, `3m 05s`, `1h 02m`.
fn duration(delta: chrono::TimeDelta) -> String {
    let secs = delta.num_seconds().max(0);
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m {:02}s", secs / 60, secs % 60),
        _ => format!("{}h {:02}m", secs / 3600, secs % 3600 / 60),
    }
}

/// At most `max` bytes of `text`, cut at a line or character boundary.
fn clip_bytes(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}\n… (truncated)", &text[..end])
}

#[cfg(test)]
mod tests;
