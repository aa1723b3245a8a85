//! One environment (the link in the PR comment lands here): status, URL, PR, SHA,
//! usage, the deployment history as a timeline with per-phase durations and errors,
//! pods and containers, Redeploy and Delete (with confirmation), and the log viewer.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use super::common::{ClusterBanner, LoadError, Skeleton, StatusChip};
use super::environments::GaugeView;
use super::logs::LogViewer;
use super::session::{SessionResource, csrf_of};
use crate::dto::{DeploymentRecord, EnvironmentDetail, PodInfo, human_duration};
use crate::error::AppError;
use crate::model::{EnvironmentStatus, human_age};

#[server(endpoint = "get_environment")]
pub async fn get_environment(id: String) -> Result<EnvironmentDetail, AppError> {
    let who = crate::auth::require_reader()?;
    crate::service::dashboard()?
        .get_environment(who.as_ref(), &id)
        .await
}

#[server(endpoint = "redeploy_environment")]
pub async fn redeploy_environment(
    id: String,
    #[server(default)] csrf: String,
) -> Result<(), AppError> {
    let who = crate::auth::require_actor(&csrf)?;
    crate::service::dashboard()?
        .redeploy_environment(&who, &id)
        .await
}

#[server(endpoint = "delete_environment")]
pub async fn delete_environment(
    id: String,
    #[server(default)] csrf: String,
) -> Result<(), AppError> {
    let who = crate::auth::require_actor(&csrf)?;
    crate::service::dashboard()?
        .delete_environment(&who, &id)
        .await?;
    // Without JavaScript the browser follows this to the list, where the row shows
    // `deleting` until the engine has removed the namespace.
    #[cfg(feature = "ssr")]
    leptos_axum::redirect("/");
    Ok(())
}

#[component]
pub fn EnvironmentPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let redeploy = ServerAction::<RedeployEnvironment>::new();
    let delete = ServerAction::<DeleteEnvironment>::new();
    let detail = Resource::new(
        move || (id(), redeploy.version().get(), delete.version().get()),
        |(id, _, _)| get_environment(id),
    );
    let session = expect_context::<SessionResource>();

    view! {
        <Suspense fallback=|| view! { <Skeleton label="Loading the environment" rows=6 /> }>
            {move || Suspend::new(async move {
                let csrf = csrf_of(&session.await);
                match detail.await {
                    Ok(d) => view! { <DetailView d csrf redeploy delete /> }.into_any(),
                    Err(error) => view! { <LoadError what="this environment" error /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn DetailView(
    d: EnvironmentDetail,
    csrf: String,
    redeploy: ServerAction<RedeployEnvironment>,
    delete: ServerAction<DeleteEnvironment>,
) -> impl IntoView {
    let env = d.env.clone();
    let age = human_age((d.generated_at - env.created_at).num_seconds());
    let gone = matches!(
        env.status,
        EnvironmentStatus::Deleting | EnvironmentStatus::Deleted
    );
    let title = format!("{} #{}", env.repository, env.pr_number);
    let (cpu, memory) = match d.usage.clone() {
        Some(u) => (Some(u.cpu), Some(u.memory)),
        None => (None, None),
    };
    // Live parts: status, timeline and pods follow the server every few seconds once
    // hydrated; the rest (and the log viewer's state) stays as rendered.
    let live = RwSignal::new(d.clone());
    #[cfg(feature = "hydrate")]
    {
        let id = env.id.clone();
        let tick = set_interval_with_handle(
            move || {
                let id = id.clone();
                leptos::task::spawn_local(async move {
                    // Only real changes re-render (an open "Last log lines" stays open).
                    if let Ok(fresh) = get_environment(id).await
                        && live.with_untracked(|d| {
                            (&d.env.status, d.env.deletion_stuck, &d.deployments, &d.pods)
                                != (
                                    &fresh.env.status,
                                    fresh.env.deletion_stuck,
                                    &fresh.deployments,
                                    &fresh.pods,
                                )
                        })
                    {
                        live.set(fresh);
                    }
                });
            },
            std::time::Duration::from_secs(4),
        );
        if let Ok(handle) = tick {
            on_cleanup(move || handle.clear());
        }
    }
    view! {
        <leptos_meta::Title text=format!("{title} · Catalyst Preview") />
        <nav class="crumbs" aria-label="Breadcrumb"><a href="/">"Environments"</a> " / " {title.clone()}</nav>
        <section class="page-head env-head">
            <h1>
                {title.clone()} " "
                <span class="pr-title">{env.pr_title.clone().unwrap_or_default()}</span>
            </h1>
            <div class="env-status" data-status=move || live.with(|d| d.env.status.as_str()) aria-live="polite">
                {move || view! { <StatusChip status=live.with(|d| d.env.status.as_str()) /> }}
                {move || live.with(|d| d.env.deletion_stuck).then(|| view! { <span class="indicator indicator-error">" ⛔ deletion stuck"</span> })}
            </div>
        </section>
        <ClusterBanner state=d.cluster.clone() />
        <div class="panel facts">
            <dl>
                <div><dt>"URL"</dt><dd>{match env.url.clone() {
                    Some(u) => view! { <a href=u.clone() rel="external">{u.clone()}</a> }.into_any(),
                    None => view! { <span class="muted">"not assigned"</span> }.into_any(),
                }}</dd></div>
                <div><dt>"Pull request"</dt><dd><a href=d.pr_url.clone() rel="external">{format!("#{}", env.pr_number)}</a>
                    {env.author.clone().map(|a| view! { " by " {a} })}</dd></div>
                <div><dt>"Head SHA"</dt><dd><code>{env.head_sha.clone()}</code></dd></div>
                <div><dt>"Namespace"</dt><dd><code>{env.namespace.clone()}</code></dd></div>
                <div><dt>"Age"</dt><dd><time datetime=env.created_at.to_rfc3339()>{age}</time></dd></div>
                <div><dt>"CPU"</dt><dd><GaugeView gauge=cpu kind="cpu" /></dd></div>
                <div><dt>"Memory"</dt><dd><GaugeView gauge=memory kind="memory" /></dd></div>
            </dl>
            {env.last_error.clone().map(|e| view! { <p class="error-text" role="alert">{e}</p> })}
            {d.redeploy_requested_at.map(|_| view! { <p class="muted">"A redeploy was requested; the engine picks it up shortly."</p> })}
            {d.delete_requested_at.map(|_| view! { <p class="muted">"Deletion was requested; the namespace is being removed."</p> })}
        </div>
        <Actions id=env.id.clone() csrf can_manage=d.can_manage && !gone redeploy delete />
        <h2>"Deployment history"</h2>
        {move || view! { <Timeline deployments=live.with(|d| d.deployments.clone()) /> }}
        <h2>"Pods"</h2>
        {move || view! { <Pods pods=live.with(|d| d.pods.clone()) /> }}
        <h2 id="logs">"Logs"</h2>
        <LogViewer environment_id=env.id.clone() pods=d.pods.clone() />
    }
}

#[component]
fn Actions(
    id: String,
    csrf: String,
    can_manage: bool,
    redeploy: ServerAction<RedeployEnvironment>,
    delete: ServerAction<DeleteEnvironment>,
) -> impl IntoView {
    if !can_manage {
        return view! {
            <p class="muted actions-note">
                "Redeploy and delete need an operator, or push access to this repository."
            </p>
        }
        .into_any();
    }
    let confirming = RwSignal::new(false);
    // Keyboard: opening the confirmation focuses "Yes, delete"; Escape or Cancel closes
    // it and returns focus to "Delete environment".
    let yes = NodeRef::<leptos::html::Button>::new();
    let opener = NodeRef::<leptos::html::Button>::new();
    let open = move |_| {
        confirming.set(true);
        request_animation_frame(move || {
            if let Some(b) = yes.get_untracked() {
                let _ = b.focus();
            }
        });
    };
    let close = move || {
        confirming.set(false);
        if let Some(b) = opener.get_untracked() {
            let _ = b.focus();
        }
    };
    let result = move || {
        let r = redeploy.value().get().or_else(|| delete.value().get());
        match r {
            Some(Err(e)) => {
                view! { <p class="error-text" role="alert">{e.to_string()}</p> }.into_any()
            }
            Some(Ok(())) => view! { <p class="ok-text" role="status">"Done."</p> }.into_any(),
            None => ().into_any(),
        }
    };
    let id2 = id.clone();
    let csrf2 = csrf.clone();
    let id3 = id.clone();
    let csrf3 = csrf.clone();
    view! {
        <div class="actions">
            <ActionForm action=redeploy>
                <input type="hidden" name="id" value=id.clone() />
                <input type="hidden" name="csrf" value=csrf.clone() />
                <button type="submit" class="button" disabled=move || redeploy.pending().get()>
                    "Redeploy"
                </button>
            </ActionForm>
            <button
                type="button"
                class="button danger"
                aria-expanded=move || confirming.get().to_string()
                aria-controls="confirm-delete"
                node_ref=opener
                on:click=open
            >
                "Delete environment"
            </button>
            <div
                id="confirm-delete"
                class="confirm"
                role="alertdialog"
                aria-label="Confirm deletion"
                hidden=move || !confirming.get()
                on:keydown=move |ev| {
                    if ev.key() == "Escape" {
                        close();
                    }
                }
            >
                <p>"Delete this environment? Its namespace and everything in it is removed."</p>
                <ActionForm action=delete>
                    <input type="hidden" name="id" value=id2.clone() />
                    <input type="hidden" name="csrf" value=csrf2.clone() />
                    <button type="submit" class="button danger" node_ref=yes>"Yes, delete"</button>
                </ActionForm>
                <button type="button" class="button" on:click=move |_| close()>"Cancel"</button>
            </div>
            <noscript>
                <form method="post" action="/api/delete_environment">
                    <input type="hidden" name="id" value=id3 />
                    <input type="hidden" name="csrf" value=csrf3 />
                    <label><input type="checkbox" required /> " I am sure"</label>
                    <button type="submit" class="button danger">"Delete (no JavaScript)"</button>
                </form>
            </noscript>
            {result}
        </div>
    }
    .into_any()
}

#[component]
fn Timeline(deployments: Vec<DeploymentRecord>) -> impl IntoView {
    if deployments.is_empty() {
        return view! { <div class="panel empty"><p>"No deployment yet."</p></div> }.into_any();
    }
    view! {
        <ol class="timeline">
            {deployments
                .into_iter()
                .map(|d| {
                    let s = d.summary.clone();
                    let short: String = s.head_sha.chars().take(7).collect();
                    let total = d.total_seconds().map(human_duration);
                    let phases = d.phases();
                    view! {
                        <li class=format!("attempt attempt-{}", s.phase) data-attempt=s.attempt>
                            <div class="attempt-head">
                                <strong>{format!("Attempt {}", s.attempt)}</strong>
                                " "
                                <span class=format!("chip chip-{}", s.phase)>{s.phase.clone()}</span>
                                " " <code>{short}</code>
                                " " <time datetime=s.queued_at.to_rfc3339()>{s.queued_at.format("%Y-%m-%d %H:%M:%S UTC").to_string()}</time>
                                {total.map(|t| view! { <span class="muted">" · total " {t}</span> })}
                            </div>
                            <ul class="phases">
                                {phases
                                    .into_iter()
                                    .map(|p| {
                                        let dur = p.seconds.map(human_duration).unwrap_or_else(|| "running…".into());
                                        view! { <li><span class="phase-name">{p.phase}</span> " " <span class="phase-dur">{dur}</span></li> }
                                    })
                                    .collect_view()}
                            </ul>
                            {s.error.clone().map(|e| view! {
                                <p class="error-text">
                                    {s.failed_check.clone().map(|c| format!("{c}: ")).unwrap_or_default()}
                                    {e}
                                </p>
                            })}
                            {d.log_excerpt.clone().map(|l| view! {
                                <details><summary>"Last log lines"</summary><pre class="excerpt">{l}</pre></details>
                            })}
                        </li>
                    }
                })
                .collect_view()}
        </ol>
    }
    .into_any()
}

#[component]
fn Pods(pods: Vec<PodInfo>) -> impl IntoView {
    if pods.is_empty() {
        return view! { <div class="panel empty"><p>"No pods in this namespace."</p></div> }
            .into_any();
    }
    view! {
        <div class="panel">
            <table class="pods" aria-label="Pods and containers">
                <thead>
                    <tr>
                        <th scope="col">"Pod"</th>
                        <th scope="col">"Container"</th>
                        <th scope="col">"State"</th>
                        <th scope="col">"Ready"</th>
                        <th scope="col">"Restarts"</th>
                        <th scope="col">"Last termination"</th>
                    </tr>
                </thead>
                <tbody>
                    {pods
                        .into_iter()
                        .flat_map(|p| {
                            let pod_name = p.name.clone();
                            let phase = p.phase.clone();
                            p.containers.into_iter().map(move |c| {
                                view! {
                                    <tr data-pod=pod_name.clone() data-container=c.name.clone()>
                                        <td><code>{pod_name.clone()}</code> <span class="muted small">" " {phase.clone()}</span></td>
                                        <td>{c.name.clone()} {c.init.then_some(" (init)")}</td>
                                        <td>{c.state.clone()}</td>
                                        <td>{if c.ready { "yes" } else { "no" }}</td>
                                        <td>{c.restarts}</td>
                                        <td>{c.last_termination_reason.clone().unwrap_or_else(|| "–".into())}</td>
                                    </tr>
                                }
                            })
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}
