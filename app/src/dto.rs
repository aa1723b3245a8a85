//! The dashboard's page data beyond the plain environment list: who is signed in, the
//! environments overview with gauges and totals, one environment's detail, repositories
//! and the log stream frames. Plain serde types, plus the pure logic the pages use
//! (quantities, gauge levels, percentiles, phase durations, filtering and sorting).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{DeploymentSummary, EnvironmentStatus, EnvironmentSummary};

/// The signed-in person as the browser may see them (never their GitHub token).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Viewer {
    pub login: String,
    pub name: Option<String>,
    pub avatar_url: Option<String>,
    /// Operators may act on every environment.
    pub operator: bool,
    /// Sent back with every mutation (double-submit check against the session).
    pub csrf_token: String,
}

/// What the page header needs: who is signed in, and whether signing in is possible.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub viewer: Option<Viewer>,
    /// `false` when no GitHub OAuth app is configured (a laptop): reading is open.
    pub sign_in_enabled: bool,
}

/// Whether Catalyst can talk to Kubernetes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClusterState {
    Connected,
    /// No kubeconfig or in-cluster account was found at start-up.
    NotConfigured,
    /// Configured, but the API server did not answer.
    Unreachable(String),
}

/// Used against allowed, in base units (CPU cores, memory bytes).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gauge {
    pub used: f64,
    pub limit: Option<f64>,
}

/// How worrying a gauge (or a whole row) is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Level {
    Ok,
    Warning,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

/// A gauge at or above this share of its quota is a warning.
pub const WARNING_RATIO: f64 = 0.9;

impl Gauge {
    /// Used / limit, when there is a limit.
    pub fn ratio(&self) -> Option<f64> {
        self.limit.filter(|l| *l > 0.0).map(|l| self.used / l)
    }

    pub fn level(&self) -> Level {
        match self.ratio() {
            Some(r) if r > 1.0 => Level::Error,
            Some(r) if r >= WARNING_RATIO => Level::Warning,
            _ => Level::Ok,
        }
    }

    /// Bar width in percent, clamped to 0..=100.
    pub fn percent(&self) -> u32 {
        self.ratio()
            .map(|r| (r * 100.0).clamp(0.0, 100.0).round() as u32)
            .unwrap_or(0)
    }
}

/// CPU and memory of one namespace (metrics.k8s.io usage against the ResourceQuota).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourceUsage {
    pub cpu: Gauge,
    pub memory: Gauge,
    /// The quota refused something (`status.used` above `hard`).
    pub quota_exceeded: bool,
}

/// One row of the environments page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentRow {
    pub env: EnvironmentSummary,
    pub usage: Option<ResourceUsage>,
    /// Queued → finished of the latest finished deployment.
    pub last_deployment_secs: Option<i64>,
}

impl EnvironmentRow {
    /// The row's indicator: error when the quota is exceeded or deletion is stuck,
    /// warning at ≥ 90 % of a quota.
    pub fn level(&self) -> Level {
        if self.env.deletion_stuck {
            return Level::Error;
        }
        match &self.usage {
            Some(u) if u.quota_exceeded => Level::Error,
            Some(u) => u.cpu.level().max(u.memory.level()),
            None => Level::Ok,
        }
    }

    /// Why [`Self::level`] is not ok, in words.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.env.deletion_stuck {
            out.push("namespace deletion is stuck".to_owned());
        }
        if let Some(u) = &self.usage {
            if u.quota_exceeded {
                out.push("quota exceeded".to_owned());
            }
            for (name, g) in [("CPU", u.cpu), ("memory", u.memory)] {
                match g.level() {
                    Level::Error => out.push(format!("{name} above quota")),
                    Level::Warning => out.push(format!("{name} at {}% of quota", g.percent())),
                    Level::Ok => {}
                }
            }
        }
        out
    }

    /// The larger of the CPU and memory shares, for sorting by usage.
    pub fn usage_ratio(&self) -> f64 {
        self.usage
            .as_ref()
            .map(|u| {
                u.cpu
                    .ratio()
                    .unwrap_or(0.0)
                    .max(u.memory.ratio().unwrap_or(0.0))
            })
            .unwrap_or(0.0)
    }
}

/// The numbers at the top of the environments page.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricsSummary {
    pub active_environments: u64,
    pub deployments_in_flight: u64,
    pub queue_length: u64,
    /// Succeeded / (succeeded + failed), 0..=1; `None` before the first finished attempt.
    pub success_rate: Option<f64>,
    pub p50_deployment_secs: Option<f64>,
    pub p95_deployment_secs: Option<f64>,
}

/// The environments page's data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentsOverview {
    /// GitHub's web origin (`https://github.com`, or GitHub Enterprise) for PR links.
    pub github_web_url: String,
    pub rows: Vec<EnvironmentRow>,
    pub totals: MetricsSummary,
    pub cluster: ClusterState,
    pub configured_repositories: u64,
    pub generated_at: DateTime<Utc>,
}

/// One container of a pod.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContainerInfo {
    pub name: String,
    pub init: bool,
    pub state: String,
    pub ready: bool,
    pub restarts: i32,
    pub last_termination_reason: Option<String>,
}

/// One pod of an environment's namespace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PodInfo {
    pub name: String,
    pub phase: String,
    pub ready: bool,
    pub containers: Vec<ContainerInfo>,
    pub created_at: Option<DateTime<Utc>>,
}

/// A deployment attempt with what the timeline shows beyond the summary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeploymentRecord {
    pub summary: DeploymentSummary,
    pub log_excerpt: Option<String>,
}

/// One phase of an attempt on the timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhaseSpan {
    pub phase: &'static str,
    pub started_at: DateTime<Utc>,
    /// `None` while the phase is still running.
    pub seconds: Option<i64>,
}

impl DeploymentRecord {
    /// The phases the attempt went through, each with how long it took.
    pub fn phases(&self) -> Vec<PhaseSpan> {
        let s = &self.summary;
        let marks: Vec<(&'static str, DateTime<Utc>)> = [
            ("queued", Some(s.queued_at)),
            ("provisioning", s.provisioning_at),
            ("deploying", s.deploying_at),
            ("verifying", s.verifying_at),
        ]
        .into_iter()
        .filter_map(|(p, t)| t.map(|t| (p, t)))
        .collect();
        marks
            .iter()
            .enumerate()
            .map(|(i, (phase, start))| {
                let end = marks.get(i + 1).map(|m| m.1).or(s.finished_at);
                PhaseSpan {
                    phase,
                    started_at: *start,
                    seconds: end.map(|e| (e - *start).num_seconds().max(0)),
                }
            })
            .collect()
    }

    /// Queued → finished, when finished.
    pub fn total_seconds(&self) -> Option<i64> {
        self.summary
            .finished_at
            .map(|f| (f - self.summary.queued_at).num_seconds().max(0))
    }
}

/// Everything the environment page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentDetail {
    pub env: EnvironmentSummary,
    pub pr_url: String,
    /// Newest first.
    pub deployments: Vec<DeploymentRecord>,
    pub pods: Vec<PodInfo>,
    pub cluster: ClusterState,
    pub usage: Option<ResourceUsage>,
    pub redeploy_requested_at: Option<DateTime<Utc>>,
    pub delete_requested_at: Option<DateTime<Utc>>,
    /// Whether the viewer may redeploy or delete it.
    pub can_manage: bool,
    pub generated_at: DateTime<Utc>,
}

/// A configured repository as the repositories page edits it: every field as text, the
/// way a form holds it. Lists are one entry per line.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RepositoryForm {
    pub full_name: String,
    #[serde(default)]
    pub chart_repo: String,
    #[serde(default)]
    pub chart_path: String,
    #[serde(default)]
    pub chart_version: String,
    #[serde(default)]
    pub values: String,
    #[serde(default)]
    pub values_files: String,
    #[serde(default)]
    pub build_dockerfile: String,
    #[serde(default)]
    pub build_context: String,
    #[serde(default)]
    pub image_pattern: String,
    #[serde(default)]
    pub health_path: String,
    #[serde(default)]
    pub quota_cpu: String,
    #[serde(default)]
    pub quota_memory: String,
    #[serde(default)]
    pub quota_pods: String,
    #[serde(default)]
    pub secrets: String,
    #[serde(default)]
    pub secret_store_namespace: String,
    #[serde(default)]
    pub required_label: String,
    #[serde(default)]
    pub fork_opt_in_label: String,
    #[serde(default)]
    pub deploy_drafts: bool,
}

/// Splits a form's list field (one per line or comma separated) into trimmed entries.
pub fn split_list(text: &str) -> Vec<String> {
    text.split(['\n', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The repositories page's data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RepositoryEntry {
    pub id: String,
    pub form: RepositoryForm,
    pub namespace_slug: String,
    pub updated_at: DateTime<Utc>,
}

/// One frame of the log WebSocket (server → browser), JSON text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LogFrame {
    /// Lines in order; `ts` is the API server's RFC 3339 timestamp.
    Lines { lines: Vec<LogLine> },
    /// Something the reader should know (container restarted, reconnecting, ...).
    Notice { message: String },
    /// The stream could not be opened or broke for good.
    Error { message: String },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    pub ts: Option<String>,
    pub text: String,
}

/// Splits a `timestamps=true` log line into its timestamp and text.
pub fn split_timestamp(line: &str) -> LogLine {
    match line.split_once(' ') {
        Some((ts, rest))
            if ts.len() >= 20 && ts.as_bytes().get(4) == Some(&b'-') && ts.contains('T') =>
        {
            LogLine {
                ts: Some(ts.to_owned()),
                text: rest.to_owned(),
            }
        }
        _ => LogLine {
            ts: None,
            text: line.to_owned(),
        },
    }
}

/// Parses a Kubernetes CPU quantity into cores (`250m` → 0.25, `2` → 2, `100n` → 1e-7).
pub fn parse_cpu(q: &str) -> Option<f64> {
    let q = q.trim();
    let (num, scale) = if let Some(n) = q.strip_suffix('n') {
        (n, 1e-9)
    } else if let Some(n) = q.strip_suffix('u') {
        (n, 1e-6)
    } else if let Some(n) = q.strip_suffix('m') {
        (n, 1e-3)
    } else {
        return parse_memory(q);
    };
    num.parse::<f64>().ok().map(|v| v * scale)
}

/// Parses a Kubernetes quantity into base units (`128Mi` → 134217728, `1G` → 1e9).
pub fn parse_memory(q: &str) -> Option<f64> {
    let q = q.trim();
    const SUFFIXES: [(&str, f64); 13] = [
        ("Ki", 1024.0),
        ("Mi", 1_048_576.0),
        ("Gi", 1_073_741_824.0),
        ("Ti", 1_099_511_627_776.0),
        ("Pi", 1_125_899_906_842_624.0),
        ("Ei", 1_152_921_504_606_846_976.0),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
        ("m", 1e-3),
    ];
    for (suffix, scale) in SUFFIXES {
        if let Some(n) = q.strip_suffix(suffix) {
            return n.parse::<f64>().ok().map(|v| v * scale);
        }
    }
    q.parse::<f64>().ok()
}

/// `0.25` cores → `250m`, `1.5` → `1.5`.
pub fn format_cpu(cores: f64) -> String {
    if cores < 1.0 {
        format!("{}m", (cores * 1000.0).round() as i64)
    } else {
        let s = format!("{cores:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// Bytes → `64Mi`, `1.5Gi`.
pub fn format_memory(bytes: f64) -> String {
    const GI: f64 = 1_073_741_824.0;
    const MI: f64 = 1_048_576.0;
    if bytes >= GI {
        let s = format!("{:.1}", bytes / GI);
        format!("{}Gi", s.trim_end_matches(".0"))
    } else if bytes >= MI {
        format!("{}Mi", (bytes / MI).round() as i64)
    } else if bytes >= 1024.0 {
        format!("{}Ki", (bytes / 1024.0).round() as i64)
    } else {
        format!("{}", bytes.round() as i64)
    }
}

/// The `p`-th percentile (0..=100) of `values` by nearest rank; `None` when empty.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    Some(v[rank.clamp(1, v.len()) - 1])
}

/// `75` → `1m 15s`, `8` → `8s`, `3700` → `1h 1m`.
pub fn human_duration(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3_599 => format!("{}m {}s", s / 60, s % 60),
        _ => format!("{}h {}m", s / 3_600, (s % 3_600) / 60),
    }
}

/// How the environments page orders rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    Newest,
    Oldest,
    Usage,
}

impl SortKey {
    pub fn parse(s: &str) -> Self {
        match s {
            "oldest" => Self::Oldest,
            "usage" => Self::Usage,
            _ => Self::Newest,
        }
    }

    /// The URL value [`Self::parse`] reads back.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Newest => "newest",
            Self::Oldest => "oldest",
            Self::Usage => "usage",
        }
    }
}

/// The environments page's filter (from the URL query, so it works without JavaScript).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RowFilter {
    pub repository: Option<String>,
    pub status: Option<EnvironmentStatus>,
    /// Case-insensitive text in repository, title, author, namespace, number or SHA.
    pub search: String,
}

impl RowFilter {
    pub fn matches(&self, row: &EnvironmentRow) -> bool {
        let e = &row.env;
        if self.repository.as_ref().is_some_and(|r| r != &e.repository) {
            return false;
        }
        if self.status.is_some_and(|s| s != e.status) {
            return false;
        }
        let needle = self.search.trim().to_lowercase();
        if needle.is_empty() {
            return true;
        }
        let number = format!("#{}", e.pr_number);
        [
            Some(e.repository.as_str()),
            e.pr_title.as_deref(),
            e.author.as_deref(),
            Some(e.namespace.as_str()),
            Some(number.as_str()),
            Some(e.head_sha.as_str()),
        ]
        .into_iter()
        .flatten()
        .any(|h| h.to_lowercase().contains(&needle))
    }
}

/// Filters and sorts rows for display.
pub fn arrange(rows: &[EnvironmentRow], filter: &RowFilter, sort: SortKey) -> Vec<EnvironmentRow> {
    arranged(rows, filter, sort).into_iter().cloned().collect()
}

/// [`arrange`] by reference, so paging clones only the rows of one page.
fn arranged<'a>(
    rows: &'a [EnvironmentRow],
    filter: &RowFilter,
    sort: SortKey,
) -> Vec<&'a EnvironmentRow> {
    let mut out: Vec<&EnvironmentRow> = rows.iter().filter(|r| filter.matches(r)).collect();
    // Stable sorts: rows that tie keep the overview's order (newest first, then id).
    match sort {
        SortKey::Newest => out.sort_by_key(|r| std::cmp::Reverse(r.env.created_at)),
        SortKey::Oldest => out.sort_by_key(|r| r.env.created_at),
        SortKey::Usage => out.sort_by(|a, b| b.usage_ratio().total_cmp(&a.usage_ratio())),
    }
    out
}

/// Rows per page of the environments page.
pub const PAGE_SIZE: usize = 50;

/// What the environments page shows, from its URL query (`repo`, `status`, `q`, `sort`,
/// `page`): the same query drives the server function, the pager links and the live feed.
#[derive(Clone, Debug, PartialEq)]
pub struct OverviewQuery {
    pub filter: RowFilter,
    pub sort: SortKey,
    /// 1-based; anything unreadable or 0 is page 1.
    pub page: usize,
}

impl Default for OverviewQuery {
    fn default() -> Self {
        Self {
            filter: RowFilter::default(),
            sort: SortKey::Newest,
            page: 1,
        }
    }
}

impl OverviewQuery {
    /// Reads the query from its URL parameters; empty values mean "no filter".
    pub fn from_params(get: impl Fn(&str) -> Option<String>) -> Self {
        let nonempty = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        Self {
            filter: RowFilter {
                repository: nonempty("repo"),
                status: nonempty("status").and_then(|s| EnvironmentStatus::parse(&s)),
                search: get("q").unwrap_or_default(),
            },
            sort: SortKey::parse(&get("sort").unwrap_or_default()),
            page: parse_page(get("page").as_deref()),
        }
    }

    /// The URL query (without `?`) of page `page` with the same filter and sort; the
    /// defaults are left out so the first page of everything is plain `/`.
    pub fn to_query_string(&self, page: usize) -> String {
        form_urlencoded_pairs(&[
            ("repo", self.filter.repository.clone().unwrap_or_default()),
            (
                "status",
                self.filter
                    .status
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
            ),
            ("q", self.filter.search.clone()),
            (
                "sort",
                match self.sort {
                    SortKey::Newest => String::new(),
                    other => other.as_str().to_owned(),
                },
            ),
            (
                "page",
                if page > 1 {
                    page.to_string()
                } else {
                    String::new()
                },
            ),
        ])
    }
}

/// `?page=` as a page number: missing, garbage and 0 are page 1.
pub fn parse_page(raw: Option<&str>) -> usize {
    raw.and_then(|p| p.trim().parse::<usize>().ok())
        .filter(|p| *p >= 1)
        .unwrap_or(1)
}

/// `k=v&k=v` of the non-empty values, percent-encoded for a URL query.
fn form_urlencoded_pairs(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", encode_query_value(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes everything but unreserved characters (RFC 3986), so `/`, `#`, `&`,
/// `+` and spaces in a search survive the round trip.
fn encode_query_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One page out of `len` items: the (clamped) page number, the number of pages (at least
/// one, so an empty list is "page 1 of 1") and the index range of its items. A page
/// beyond the end is the last page.
pub fn page_bounds(len: usize, page: usize, size: usize) -> (usize, usize, std::ops::Range<usize>) {
    let size = size.max(1);
    let pages = len.div_ceil(size).max(1);
    let page = page.clamp(1, pages);
    let start = (page - 1) * size;
    (page, pages, start..(start + size).min(len))
}

/// One page of the environments page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OverviewPage {
    pub github_web_url: String,
    /// The rows of this page, in the query's order.
    pub rows: Vec<EnvironmentRow>,
    /// 1-based, clamped to the pages there are.
    pub page: usize,
    pub pages: usize,
    /// Rows that match the filter, on all pages.
    pub matching: usize,
    /// Environments listed at all (to tell "none yet" from "none match").
    pub total: usize,
    /// Every repository with an environment, for the filter's select.
    pub repositories: Vec<String>,
    pub totals: MetricsSummary,
    pub cluster: ClusterState,
    pub configured_repositories: u64,
    pub generated_at: DateTime<Utc>,
}

/// Filters, sorts and slices the overview to the page `query` asks for.
pub fn page_of(overview: &EnvironmentsOverview, query: &OverviewQuery) -> OverviewPage {
    let matching = arranged(&overview.rows, &query.filter, query.sort);
    let (page, pages, range) = page_bounds(matching.len(), query.page, PAGE_SIZE);
    let mut repositories: Vec<String> = overview
        .rows
        .iter()
        .map(|r| r.env.repository.clone())
        .collect();
    repositories.sort();
    repositories.dedup();
    OverviewPage {
        github_web_url: overview.github_web_url.clone(),
        rows: matching[range].iter().map(|r| (*r).clone()).collect(),
        page,
        pages,
        matching: matching.len(),
        total: overview.rows.len(),
        repositories,
        totals: overview.totals.clone(),
        cluster: overview.cluster.clone(),
        configured_repositories: overview.configured_repositories,
        generated_at: overview.generated_at,
    }
}

/// Splits `text` into (segment, is_match) pieces for highlighting `needle`
/// (case-insensitive, ASCII folding so byte offsets stay valid).
pub fn highlight(text: &str, needle: &str) -> Vec<(String, bool)> {
    if needle.is_empty() {
        return vec![(text.to_owned(), false)];
    }
    let hay = text.to_ascii_lowercase();
    let pat = needle.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(found) = hay[pos..].find(&pat) {
        let start = pos + found;
        let end = start + pat.len();
        if !text.is_char_boundary(start) || !text.is_char_boundary(end) {
            break;
        }
        if start > pos {
            out.push((text[pos..start].to_owned(), false));
        }
        out.push((text[start..end].to_owned(), true));
        pos = end;
    }
    if pos < text.len() {
        out.push((text[pos..].to_owned(), false));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0)
            .single()
            .unwrap_or_default()
    }

    fn row(repo: &str, number: u64, created: i64, usage: Option<ResourceUsage>) -> EnvironmentRow {
        EnvironmentRow {
            env: EnvironmentSummary {
                id: format!("id-{number}"),
                repository: repo.to_owned(),
                pr_number: number,
                pr_title: Some(format!("Title {number}")),
                author: Some("octocat".to_owned()),
                namespace: format!("pr-x-{number}"),
                status: EnvironmentStatus::Ready,
                url: None,
                head_sha: "abcdef1".to_owned(),
                created_at: at(created),
                updated_at: at(created),
                latest_deployment: None,
                queue_position: None,
                last_error: None,
                deletion_stuck: false,
            },
            usage,
            last_deployment_secs: None,
        }
    }

    fn usage(cpu: f64, mem: f64) -> ResourceUsage {
        ResourceUsage {
            cpu: Gauge {
                used: cpu,
                limit: Some(1.0),
            },
            memory: Gauge {
                used: mem,
                limit: Some(1.0),
            },
            quota_exceeded: false,
        }
    }

    #[test]
    fn quantities_parse_into_base_units() {
        assert_eq!(parse_cpu("250m"), Some(0.25));
        assert_eq!(parse_cpu("2"), Some(2.0));
        assert_eq!(parse_cpu("1500000n"), Some(0.0015));
        assert_eq!(parse_memory("128Mi"), Some(134_217_728.0));
        assert_eq!(parse_memory("1G"), Some(1e9));
        assert_eq!(parse_memory("x"), None);
        assert_eq!(format_cpu(0.25), "250m");
        assert_eq!(format_cpu(1.5), "1.5");
        assert_eq!(format_memory(64.0 * 1_048_576.0), "64Mi");
        assert_eq!(format_memory(1.5 * 1_073_741_824.0), "1.5Gi");
        assert_eq!(format_memory(0.0), "0");
    }

    #[test]
    fn gauges_warn_at_ninety_percent_and_err_above_quota() {
        let g = |used| Gauge {
            used,
            limit: Some(100.0),
        };
        assert_eq!(g(89.0).level(), Level::Ok);
        assert_eq!(g(90.0).level(), Level::Warning);
        assert_eq!(g(100.0).level(), Level::Warning);
        assert_eq!(g(101.0).level(), Level::Error);
        assert_eq!(g(150.0).percent(), 100);
        let unlimited = Gauge {
            used: 5.0,
            limit: None,
        };
        assert_eq!(unlimited.level(), Level::Ok);
        assert_eq!(unlimited.percent(), 0);
    }

    #[test]
    fn rows_are_flagged_for_stuck_deletion_and_exceeded_quota() {
        let mut r = row("a/b", 1, 0, Some(usage(0.95, 0.1)));
        assert_eq!(r.level(), Level::Warning);
        assert_eq!(r.warnings(), vec!["CPU at 95% of quota".to_owned()]);
        r.env.deletion_stuck = true;
        assert_eq!(r.level(), Level::Error);
        let mut q = row("a/b", 2, 0, Some(usage(0.1, 0.1)));
        if let Some(u) = q.usage.as_mut() {
            u.quota_exceeded = true;
        }
        assert_eq!(q.level(), Level::Error);
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 95.0), Some(95.0));
        assert_eq!(percentile(&[7.0], 95.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn phases_take_until_the_next_mark() {
        let d = DeploymentRecord {
            summary: DeploymentSummary {
                attempt: 1,
                head_sha: "abc".into(),
                phase: "succeeded".into(),
                outcome: None,
                error: None,
                failed_check: None,
                queued_at: at(0),
                provisioning_at: Some(at(2)),
                deploying_at: Some(at(5)),
                verifying_at: None,
                finished_at: Some(at(30)),
            },
            log_excerpt: None,
        };
        let p = d.phases();
        assert_eq!(p.len(), 3);
        assert_eq!((p[0].phase, p[0].seconds), ("queued", Some(2)));
        assert_eq!((p[2].phase, p[2].seconds), ("deploying", Some(25)));
        assert_eq!(d.total_seconds(), Some(30));
        assert_eq!(human_duration(75), "1m 15s");
    }

    #[test]
    fn filter_search_and_sort() {
        let rows = vec![
            row("acme/web", 1, 10, Some(usage(0.2, 0.1))),
            row("acme/api", 2, 20, Some(usage(0.5, 0.9))),
            row("acme/web", 3, 30, None),
        ];
        let f = RowFilter {
            repository: Some("acme/web".into()),
            ..RowFilter::default()
        };
        let ids: Vec<u64> = arrange(&rows, &f, SortKey::Oldest)
            .iter()
            .map(|r| r.env.pr_number)
            .collect();
        assert_eq!(ids, vec![1, 3]);
        let by_usage: Vec<u64> = arrange(&rows, &RowFilter::default(), SortKey::Usage)
            .iter()
            .map(|r| r.env.pr_number)
            .collect();
        assert_eq!(by_usage, vec![2, 1, 3]);
        let search = RowFilter {
            search: "#3".into(),
            ..RowFilter::default()
        };
        assert_eq!(arrange(&rows, &search, SortKey::Newest).len(), 1);
    }

    fn overview(rows: Vec<EnvironmentRow>) -> EnvironmentsOverview {
        EnvironmentsOverview {
            github_web_url: "https://github.com".into(),
            rows,
            totals: MetricsSummary::default(),
            cluster: ClusterState::Connected,
            configured_repositories: 2,
            generated_at: at(0),
        }
    }

    fn numbers(p: &OverviewPage) -> Vec<u64> {
        p.rows.iter().map(|r| r.env.pr_number).collect()
    }

    #[test]
    fn page_bounds_cover_empty_partial_and_out_of_range_pages() {
        assert_eq!(page_bounds(0, 1, 50), (1, 1, 0..0), "empty is page 1 of 1");
        assert_eq!(page_bounds(0, 7, 50), (1, 1, 0..0));
        assert_eq!(page_bounds(50, 1, 50), (1, 1, 0..50), "exactly one page");
        assert_eq!(page_bounds(51, 2, 50), (2, 2, 50..51), "last partial page");
        assert_eq!(
            page_bounds(120, 99, 50),
            (3, 3, 100..120),
            "beyond the end: last"
        );
        assert_eq!(
            page_bounds(120, 0, 50),
            (1, 3, 0..50),
            "0 is the first page"
        );
    }

    #[test]
    fn unreadable_page_numbers_are_page_one() {
        assert_eq!(parse_page(None), 1);
        assert_eq!(parse_page(Some("")), 1);
        assert_eq!(parse_page(Some("0")), 1);
        assert_eq!(parse_page(Some("-3")), 1);
        assert_eq!(parse_page(Some("two")), 1);
        assert_eq!(parse_page(Some(" 4 ")), 4);
    }

    #[test]
    fn a_page_holds_the_next_rows_of_the_arranged_list() {
        // 120 environments, PR n created at n: newest first is 120, 119, ...
        let rows: Vec<EnvironmentRow> = (1..=120)
            .map(|n| {
                row(
                    if n % 2 == 0 { "acme/web" } else { "acme/api" },
                    n,
                    n as i64,
                    None,
                )
            })
            .collect();
        let o = overview(rows);
        let first = page_of(&o, &OverviewQuery::default());
        assert_eq!(
            (first.page, first.pages, first.matching, first.total),
            (1, 3, 120, 120)
        );
        assert_eq!(numbers(&first)[..3], [120, 119, 118]);
        assert_eq!(first.rows.len(), PAGE_SIZE);
        assert_eq!(first.repositories, vec!["acme/api", "acme/web"]);
        let second = page_of(
            &o,
            &OverviewQuery {
                page: 2,
                ..OverviewQuery::default()
            },
        );
        assert_eq!(
            numbers(&second)[0],
            70,
            "page 2 starts after page 1's last row"
        );
        let last = page_of(
            &o,
            &OverviewQuery {
                page: 9,
                ..OverviewQuery::default()
            },
        );
        assert_eq!((last.page, last.rows.len()), (3, 20));
        assert_eq!(numbers(&last).last(), Some(&1));

        let web = OverviewQuery::from_params(|k| match k {
            "repo" => Some("acme/web".into()),
            "sort" => Some("oldest".into()),
            "page" => Some("2".into()),
            _ => None,
        });
        let p = page_of(&o, &web);
        assert_eq!((p.page, p.pages, p.matching, p.total), (2, 2, 60, 120));
        assert_eq!(numbers(&p)[..2], [102, 104], "the filter holds on page 2");

        let none = page_of(&overview(Vec::new()), &OverviewQuery::default());
        assert_eq!(
            (none.page, none.pages, none.matching, none.rows.len()),
            (1, 1, 0, 0)
        );
    }

    #[test]
    fn pager_links_keep_the_filter_and_drop_defaults() {
        let q = OverviewQuery::from_params(|k| match k {
            "repo" => Some("acme/web".into()),
            "status" => Some("ready".into()),
            "q" => Some("fix #3&more".into()),
            "sort" => Some("usage".into()),
            "page" => Some("3".into()),
            _ => None,
        });
        assert_eq!(q.page, 3);
        assert_eq!(
            q.to_query_string(2),
            "repo=acme%2Fweb&status=ready&q=fix%20%233%26more&sort=usage&page=2"
        );
        assert_eq!(OverviewQuery::default().to_query_string(1), "");
        let empty = OverviewQuery::from_params(|k| (k != "page").then(String::new));
        assert_eq!(
            empty,
            OverviewQuery::default(),
            "empty values are no filter"
        );
    }

    #[test]
    fn highlighting_marks_every_match() {
        assert_eq!(
            highlight("Error: boom error", "error"),
            vec![
                ("Error".to_owned(), true),
                (": boom ".to_owned(), false),
                ("error".to_owned(), true)
            ]
        );
        assert_eq!(highlight("abc", ""), vec![("abc".to_owned(), false)]);
    }

    #[test]
    fn timestamps_are_split_off() {
        let l = split_timestamp("2026-11-27T10:00:00.123456789Z hello world");
        assert_eq!(l.ts.as_deref(), Some("2026-11-27T10:00:00.123456789Z"));
        assert_eq!(l.text, "hello world");
        assert_eq!(split_timestamp("plain line").ts, None);
        assert_eq!(split_list("a, b\n\nc"), vec!["a", "b", "c"]);
    }
}
