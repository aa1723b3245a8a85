//! The environments page: totals at the top, a filter (repository, status, search, sort)
//! and a pager that live in the URL so they work without JavaScript, and one page of
//! environments with status, URL, age, last deployment time and CPU/memory gauges
//! against the namespace quota. Filtering, sorting and paging happen on the server, so
//! the page costs the same with a thousand environments as with fifty. Once hydrated,
//! the page follows `/ws/environments` (same query) and updates its rows in place.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::common::{ClusterBanner, LoadError, Skeleton, StatusChip};
use super::environment_create::CreateEnvironmentPanel;
use crate::dto::{
    EnvironmentRow, Gauge, Level, MetricsSummary, OverviewPage, OverviewQuery, format_cpu,
    format_memory, human_duration,
};
use crate::error::AppError;
use crate::model::{EnvironmentList, EnvironmentStatus, human_age};

/// Reads the environments through the shared service layer (the same one the JSON API uses).
#[server(endpoint = "list_environments")]
pub async fn list_environments() -> Result<EnvironmentList, AppError> {
    crate::auth::require_reader()?;
    crate::service::dashboard()?.list_environments().await
}

/// One page of the environments page: the rows the URL query asks for (filtered, sorted,
/// [`crate::dto::PAGE_SIZE`] of them), how many match, the repositories for the filter,
/// totals and the cluster's state. Every parameter may be missing.
#[server(endpoint = "get_overview")]
pub async fn get_overview(
    repo: Option<String>,
    status: Option<String>,
    q: Option<String>,
    sort: Option<String>,
    page: Option<String>,
) -> Result<OverviewPage, AppError> {
    crate::auth::require_reader()?;
    let query = OverviewQuery::from_params(|k| match k {
        "repo" => repo.clone(),
        "status" => status.clone(),
        "q" => q.clone(),
        "sort" => sort.clone(),
        "page" => page.clone(),
        _ => None,
    });
    let overview = crate::service::dashboard()?.environments_overview().await?;
    Ok(crate::dto::page_of(&overview, &query))
}

/// The query parameters the page reads, in [`get_overview`]'s order.
const PARAMS: [&str; 5] = ["repo", "status", "q", "sort", "page"];

#[component]
pub fn EnvironmentsPage() -> impl IntoView {
    let query = use_query_map();
    // Refetched whenever the URL query changes (a filter applied, a pager link followed).
    let overview = Resource::new(
        move || {
            let q = query.get();
            PARAMS.map(|k| q.get(k))
        },
        |[repo, status, q, sort, page]| get_overview(repo, status, q, sort, page),
    );
    view! {
        <section class="page-head">
            <h1>"Preview environments"</h1>
            <p class="lede">
                "One environment per open pull request of every configured repository."
            </p>
        </section>
        <CreateEnvironmentPanel />
        <Transition fallback=|| view! { <Skeleton label="Loading environments" rows=4 /> }>
            {move || Suspend::new(async move {
                let result = overview.await;
                let q = query.get_untracked();
                let shown = OverviewQuery::from_params(|k| q.get(k));
                match result {
                    Ok(initial) => view! { <LiveOverview initial query=shown /> }.into_any(),
                    Err(error) => view! { <LoadError what="environments" error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// Shows `initial` and then whatever `/ws/environments` sends for the same query.
#[component]
fn LiveOverview(initial: OverviewPage, query: OverviewQuery) -> impl IntoView {
    let current = RwSignal::new(initial);
    let live = RwSignal::new(false);
    #[cfg(feature = "hydrate")]
    {
        use crate::live::{LinkState, subscribe};
        let qs = query.to_query_string(query.page);
        let url = if qs.is_empty() {
            "/ws/environments".to_owned()
        } else {
            format!("/ws/environments?{qs}")
        };
        let handle = subscribe(
            url,
            move |text| {
                // Never back in time: an overview older than the one shown (read before
                // this page was rendered) is dropped, the next change brings a newer one.
                if let Ok(p) = serde_json::from_str::<OverviewPage>(&text)
                    && p.generated_at >= current.with_untracked(|c| c.generated_at)
                {
                    current.set(p);
                }
            },
            move |state| live.set(state == LinkState::Open),
        );
        on_cleanup(move || handle.abort());
    }
    let repositories = Memo::new(move |_| current.with(|c| c.repositories.clone()));
    let pager_query = query.clone();

    view! {
        {move || view! { <ClusterBanner state=current.with(|c| c.cluster.clone()) /> }}
        {move || view! { <Totals totals=current.with(|c| c.totals.clone()) /> }}
        <FilterBar query repositories />
        <p class="live-state" aria-live="polite">
            {move || if live.get() { "Live: updates appear as they happen." } else { "" }}
        </p>
        {move || {
            let o = current.get();
            if o.total == 0 {
                return view! { <EmptyState configured=o.configured_repositories /> }.into_any();
            }
            if o.matching == 0 {
                return view! {
                    <section class="panel empty">
                        <h2>"No environment matches the filter"</h2>
                        <p><a href="/">"Clear the filter"</a></p>
                    </section>
                }
                    .into_any();
            }
            let now = o.generated_at;
            let pager = view! {
                <Pager query=pager_query.clone() page=o.page pages=o.pages matching=o.matching />
            };
            let github = o.github_web_url.clone();
            view! {
                <div class="panel">
                    <table class="environments" aria-label="Preview environments">
                        <thead>
                            <tr>
                                <th scope="col">"Repository"</th>
                                <th scope="col">"Pull request"</th>
                                <th scope="col">"Namespace"</th>
                                <th scope="col">"Status"</th>
                                <th scope="col">"CPU"</th>
                                <th scope="col">"Memory"</th>
                                <th scope="col">"Age"</th>
                                <th scope="col">"Last deploy"</th>
                            </tr>
                        </thead>
                        <tbody>
                            {o
                                .rows
                                .into_iter()
                                .map(|row| {
                                    let age = human_age((now - row.env.created_at).num_seconds());
                                    let github = github.clone();
                                    view! { <EnvironmentRowView row age github /> }
                                })
                                .collect_view()}
                        </tbody>
                    </table>
                </div>
                {pager}
            }
                .into_any()
        }}
    }
}

/// The href of page `page` of `query` (plain `/` for the first page of everything).
fn page_href(query: &OverviewQuery, page: usize) -> String {
    let qs = query.to_query_string(page);
    if qs.is_empty() {
        "/".to_owned()
    } else {
        format!("/?{qs}")
    }
}

/// "Page 2 of 20" with previous/next links that keep the filter and sort (plain links,
/// so paging works without JavaScript); nothing when everything fits on one page.
#[component]
fn Pager(query: OverviewQuery, page: usize, pages: usize, matching: usize) -> impl IntoView {
    if pages <= 1 {
        return ().into_any();
    }
    let previous = (page > 1).then(|| page_href(&query, page - 1));
    let next = (page < pages).then(|| page_href(&query, page + 1));
    view! {
        <nav class="pager" aria-label="Pages">
            {match previous {
                Some(href) => view! { <a class="pager-previous" rel="prev" href=href>"← Previous"</a> }.into_any(),
                None => view! { <span class="pager-previous disabled" aria-disabled="true">"← Previous"</span> }.into_any(),
            }}
            <span class="pager-position">
                {format!("Page {page} of {pages}")}
                <span class="muted">{format!(" · {matching} environments")}</span>
            </span>
            {match next {
                Some(href) => view! { <a class="pager-next" rel="next" href=href>"Next →"</a> }.into_any(),
                None => view! { <span class="pager-next disabled" aria-disabled="true">"Next →"</span> }.into_any(),
            }}
        </nav>
    }
    .into_any()
}

#[component]
fn Totals(totals: MetricsSummary) -> impl IntoView {
    let pct = totals
        .success_rate
        .map(|r| format!("{:.0}%", r * 100.0))
        .unwrap_or_else(|| "–".into());
    let secs = |s: Option<f64>| {
        s.map(|s| human_duration(s.round() as i64))
            .unwrap_or_else(|| "–".into())
    };
    let items = [
        (
            "Active environments",
            totals.active_environments.to_string(),
        ),
        (
            "Deployments in flight",
            totals.deployments_in_flight.to_string(),
        ),
        ("Queue length", totals.queue_length.to_string()),
        ("Success rate", pct),
        (
            "p50 deployment (last 1,000)",
            secs(totals.p50_deployment_secs),
        ),
        (
            "p95 deployment (last 1,000)",
            secs(totals.p95_deployment_secs),
        ),
    ];
    view! {
        <dl class="totals" aria-label="Totals">
            {items
                .into_iter()
                .map(|(label, value)| {
                    view! {
                        <div class="total">
                            <dt>{label}</dt>
                            <dd>{value}</dd>
                        </div>
                    }
                })
                .collect_view()}
        </dl>
    }
}

/// A GET form: filtering is a URL, so it can be bookmarked and works without JavaScript.
/// Applying a filter starts again at page 1 (the form has no `page` field).
#[component]
fn FilterBar(query: OverviewQuery, repositories: Memo<Vec<String>>) -> impl IntoView {
    let f = query.filter;
    let selected_repo = f.repository.clone().unwrap_or_default();
    let selected_status = f.status.map(|s| s.as_str()).unwrap_or("");
    let sort_value = query.sort.as_str();
    view! {
        <leptos_router::components::Form method="GET" action="/" attr:class="filters">
            <label>
                "Repository "
                <select name="repo">
                    <option value="">"All"</option>
                    {move || {
                        repositories
                            .get()
                            .into_iter()
                            .map(|r| {
                                let sel = r == selected_repo;
                                view! { <option value=r.clone() selected=sel>{r.clone()}</option> }
                            })
                            .collect_view()
                    }}
                </select>
            </label>
            <label>
                "Status "
                <select name="status">
                    <option value="">"All"</option>
                    {EnvironmentStatus::ALL
                        .into_iter()
                        .map(|s| {
                            view! {
                                <option value=s.as_str() selected=s.as_str() == selected_status>
                                    {s.as_str()}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
            </label>
            <label>
                "Search "
                <input type="search" name="q" value=f.search.clone() placeholder="title, author, #PR, SHA" />
            </label>
            <label>
                "Sort "
                <select name="sort">
                    <option value="newest" selected=sort_value == "newest">"Newest"</option>
                    <option value="oldest" selected=sort_value == "oldest">"Oldest"</option>
                    <option value="usage" selected=sort_value == "usage">"Usage"</option>
                </select>
            </label>
            <button type="submit">"Apply"</button>
        </leptos_router::components::Form>
    }
}

#[component]
fn EnvironmentRowView(row: EnvironmentRow, age: String, github: String) -> impl IntoView {
    let level = row.level();
    let warnings = row.warnings().join("; ");
    let env = row.env;
    let pr_link = format!("{github}/{}/pull/{}", env.repository, env.pr_number);
    let title = env.pr_title.clone().unwrap_or_default();
    let short_sha: String = env.head_sha.chars().take(7).collect();
    let detail = format!("/environments/{}", env.id);
    let last = row
        .last_deployment_secs
        .map(human_duration)
        .unwrap_or_else(|| "–".into());
    let (cpu, memory) = match row.usage {
        Some(u) => (Some(u.cpu), Some(u.memory)),
        None => (None, None),
    };
    let indicator = match level {
        Level::Ok => ().into_any(),
        l => view! {
            <span class=format!("indicator indicator-{}", l.as_str()) title=warnings.clone() role="img" aria-label=warnings.clone()>
                {if l == Level::Error { "⛔" } else { "⚠" }}
            </span>
        }
            .into_any(),
    };
    view! {
        <tr data-namespace=env.namespace.clone() data-level=level.as_str()>
            <td class="repo">{env.repository.clone()}</td>
            <td>
                <a href=detail class="env-link">{format!("#{}", env.pr_number)}</a>
                " "
                <span class="pr-title">{title}</span>
                <span class="sha" title=env.head_sha.clone()>{short_sha}</span>
                <div class="sub">
                    {env.author.clone().map(|a| view! { <span class="author">"by " {a}</span> })}
                    {env.url.clone().map(|u| view! { <a class="env-url" href=u.clone() rel="external">{u.clone()}</a> })}
                    <a class="pr-link" href=pr_link rel="external">"PR"</a>
                </div>
            </td>
            <td>
                <code>{env.namespace.clone()}</code>
            </td>
            <td>
                <StatusChip status=env.status.as_str() />
                {indicator}
                {env.queue_position.map(|p| view! { <span class="muted small">" queue #" {p}</span> })}
            </td>
            <td><GaugeView gauge=cpu kind="cpu" /></td>
            <td><GaugeView gauge=memory kind="memory" /></td>
            <td>
                <time datetime=env.created_at.to_rfc3339()>{age}</time>
            </td>
            <td>{last}</td>
        </tr>
    }
}

/// A bar: used against the quota, coloured by level, with the numbers as text.
#[component]
pub fn GaugeView(gauge: Option<Gauge>, kind: &'static str) -> impl IntoView {
    let Some(g) = gauge else {
        return view! { <span class="muted">"–"</span> }.into_any();
    };
    let fmt = |v: f64| {
        if kind == "cpu" {
            format_cpu(v)
        } else {
            format_memory(v)
        }
    };
    let text = match g.limit {
        Some(l) => format!("{} / {}", fmt(g.used), fmt(l)),
        None => format!("{} (no quota)", fmt(g.used)),
    };
    let level = g.level();
    view! {
        <div class=format!("gauge gauge-{}", level.as_str()) data-gauge=kind>
            <div
                class="gauge-track"
                role="meter"
                aria-valuemin="0"
                aria-valuemax="100"
                aria-valuenow=g.percent().to_string()
                aria-label=format!("{kind} usage {text}")
            >
                <div class="gauge-fill" style=format!("width: {}%", g.percent())></div>
            </div>
            <span class="gauge-text">{text}</span>
        </div>
    }
    .into_any()
}

#[component]
fn EmptyState(configured: u64) -> impl IntoView {
    if configured > 0 {
        return view! {
            <section class="panel empty">
                <h2>"No open pull requests yet"</h2>
                <p>
                    {format!(
                        "{configured} repositor{} configured. An environment appears here as soon as GitHub delivers a pull request webhook for one of them.",
                        if configured == 1 { "y is" } else { "ies are" },
                    )}
                </p>
            </section>
        }
        .into_any();
    }
    view! {
        <section class="panel empty">
            <h2>"No repositories configured"</h2>
            <p>"Catalyst creates a preview environment for every pull request of a configured repository. To start:"</p>
            <ol class="steps">
                <li>
                    "Configure a repository on the " <a href="/repositories">"Repositories"</a>
                    " page, or with an operator token: "
                    <code>"catalyst token create --name admin --role operator"</code>
                    " and "
                    <code>
                        "curl -X POST -H 'Authorization: Bearer <token>' -H 'Content-Type: application/json' -d '{\"full_name\":\"owner/name\"}' <catalyst-url>/api/v1/repositories"
                    </code>
                </li>
                <li>
                    "In the repository's GitHub settings, add a webhook: payload URL "
                    <code>"<catalyst-url>/webhooks/github"</code> ", content type "
                    <code>"application/json"</code> ", the secret from "
                    <code>"CATALYST_GITHUB_WEBHOOK_SECRET"</code> ", event “Pull requests”."
                </li>
            </ol>
        </section>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn html(view: impl FnOnce() -> AnyView) -> String {
        Owner::new().with(|| view().to_html())
    }

    #[test]
    fn gauges_show_their_level_and_numbers() {
        let warn = html(|| {
            view! { <GaugeView gauge=Some(Gauge { used: 0.95, limit: Some(1.0) }) kind="cpu" /> }
                .into_any()
        });
        assert!(warn.contains("gauge-warning"));
        assert!(warn.contains("950m / 1"));
        assert!(warn.contains("aria-valuenow=\"95\""));
        let over = html(|| {
            view! { <GaugeView gauge=Some(Gauge { used: 2.0 * 1_073_741_824.0, limit: Some(1_073_741_824.0) }) kind="memory" /> }
                .into_any()
        });
        assert!(over.contains("gauge-error"));
        let none = html(|| view! { <GaugeView gauge=None kind="cpu" /> }.into_any());
        assert!(none.contains("–"));
    }

    #[test]
    fn the_pager_keeps_the_filter_and_appears_only_with_more_than_one_page() {
        let query = OverviewQuery::from_params(|k| match k {
            "repo" => Some("acme/web".into()),
            "sort" => Some("oldest".into()),
            "page" => Some("2".into()),
            _ => None,
        });
        let middle = {
            let query = query.clone();
            html(move || view! { <Pager query page=2 pages=3 matching=120 /> }.into_any())
        };
        assert!(middle.contains("Page 2 of 3"), "{middle}");
        assert!(
            middle.contains("href=\"/?repo=acme%2Fweb&amp;sort=oldest\""),
            "{middle}"
        );
        assert!(
            middle.contains("href=\"/?repo=acme%2Fweb&amp;sort=oldest&amp;page=3\""),
            "{middle}"
        );
        let last = {
            let query = query.clone();
            html(move || view! { <Pager query page=3 pages=3 matching=120 /> }.into_any())
        };
        assert!(last.contains("pager-next disabled"), "{last}");
        let single = html(move || view! { <Pager query page=1 pages=1 matching=3 /> }.into_any());
        assert!(!single.contains("pager"), "{single}");
    }

    #[test]
    fn the_empty_states_tell_what_to_do() {
        let none = html(|| view! { <EmptyState configured=0 /> }.into_any());
        assert!(none.contains("No repositories configured"));
        assert!(none.contains("/webhooks/github"));
        let waiting = html(|| view! { <EmptyState configured=2 /> }.into_any());
        assert!(waiting.contains("2 repositories are configured"));
    }
}
