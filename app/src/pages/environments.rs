//! The environments page: every preview environment with its repository, pull request,
//! namespace, status and age, and an empty state that tells a new operator what to do.

use leptos::prelude::*;

use crate::error::AppError;
use crate::model::{EnvironmentList, EnvironmentSummary, human_age};

/// Reads the environments through the shared service layer (the same one the JSON API uses).
#[server(endpoint = "list_environments")]
pub async fn list_environments() -> Result<EnvironmentList, AppError> {
    crate::service::dashboard()?.list_environments().await
}

#[component]
pub fn EnvironmentsPage() -> impl IntoView {
    let environments = Resource::new(|| (), |_| list_environments());
    view! {
        <section class="page-head">
            <h1>"Preview environments"</h1>
            <p class="lede">"One environment per open pull request of every configured repository."</p>
        </section>
        <Suspense fallback=|| view! { <TableSkeleton /> }>
            {move || Suspend::new(async move {
                match environments.await {
                    Ok(list) => view! { <EnvironmentsView list /> }.into_any(),
                    Err(error) => view! { <LoadError error /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn EnvironmentsView(list: EnvironmentList) -> impl IntoView {
    if list.items.is_empty() {
        return view! { <EmptyState configured=list.configured_repositories /> }.into_any();
    }
    let now = list.generated_at;
    let rows = list
        .items
        .into_iter()
        .map(|env| {
            let age = human_age((now - env.created_at).num_seconds());
            view! { <EnvironmentRow env age /> }
        })
        .collect_view();
    view! {
        <div class="panel">
            <table class="environments" aria-label="Preview environments">
                <thead>
                    <tr>
                        <th scope="col">"Repository"</th>
                        <th scope="col">"Pull request"</th>
                        <th scope="col">"Namespace"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Age"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
fn EnvironmentRow(env: EnvironmentSummary, age: String) -> impl IntoView {
    let pr_link = format!("https://github.com/{}/pull/{}", env.repository, env.pr_number);
    let title = env.pr_title.clone().unwrap_or_default();
    let status = env.status.as_str();
    let short_sha: String = env.head_sha.chars().take(7).collect();
    view! {
        <tr data-namespace=env.namespace.clone()>
            <td class="repo">{env.repository.clone()}</td>
            <td>
                <a href=pr_link>{format!("#{}", env.pr_number)}</a>
                " "
                <span class="pr-title">{title}</span>
                <span class="sha" title=env.head_sha.clone()>{short_sha}</span>
            </td>
            <td>
                <code>{env.namespace.clone()}</code>
            </td>
            <td>
                <span class=format!("chip chip-{status}")>{status}</span>
            </td>
            <td>
                <time datetime=env.created_at.to_rfc3339()>{age}</time>
            </td>
        </tr>
    }
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
                    "Create an operator token: "
                    <code>"catalyst token create --name admin --role operator"</code>
                </li>
                <li>
                    "Configure a repository: "
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

#[component]
fn LoadError(error: AppError) -> impl IntoView {
    view! {
        <section class="panel error" role="alert">
            <h2>"Environments could not be loaded"</h2>
            <p>{error.to_string()}</p>
        </section>
    }
}

/// Placeholder rows with the table's final height, so the page does not jump while loading.
#[component]
fn TableSkeleton() -> impl IntoView {
    view! {
        <div class="panel skeleton" aria-busy="true" aria-label="Loading environments">
            {(0..3).map(|_| view! { <div class="skeleton-row"></div> }).collect_view()}
        </div>
    }
}
