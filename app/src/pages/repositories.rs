//! The repositories page: every configured repository with its preview settings, and a
//! form to configure a new one or change one (operators), validated on the server with
//! the JSON API's rules; a wrong field is marked next to the field.

use leptos::prelude::*;

use super::common::{LoadError, Skeleton};
use super::session::{SessionResource, csrf_of};
use crate::dto::{RepositoryEntry, RepositoryForm};
use crate::error::AppError;

#[server(endpoint = "list_repositories")]
pub async fn list_repositories() -> Result<Vec<RepositoryEntry>, AppError> {
    crate::auth::require_reader()?;
    crate::service::dashboard()?.list_repositories().await
}

#[server(endpoint = "configure_repository")]
pub async fn configure_repository(
    form: RepositoryForm,
    #[server(default)] csrf: String,
) -> Result<RepositoryEntry, AppError> {
    let who = crate::auth::require_actor(&csrf)?;
    crate::service::dashboard()?
        .configure_repository(&who, form)
        .await
}

/// Forgets a repository's configuration (operators only); refused while it still has
/// environments.
#[server(endpoint = "delete_repository")]
pub async fn delete_repository(
    full_name: String,
    #[server(default)] csrf: String,
) -> Result<(), AppError> {
    let who = crate::auth::require_actor(&csrf)?;
    crate::service::dashboard()?
        .delete_repository(&who, &full_name)
        .await
}

#[component]
pub fn RepositoriesPage() -> impl IntoView {
    let configure = ServerAction::<ConfigureRepository>::new();
    let delete = ServerAction::<DeleteRepository>::new();
    let repos = Resource::new(
        move || (configure.version().get(), delete.version().get()),
        |_| list_repositories(),
    );
    let session = expect_context::<SessionResource>();
    let editing = RwSignal::new(None::<RepositoryForm>);
    let deleted = move || match delete.value().get() {
        Some(Err(e)) => {
            Some(view! { <p class="error-text" role="alert">{e.to_string()}</p> }.into_any())
        }
        Some(Ok(())) => {
            Some(view! { <p class="ok-text" role="status">"Repository deleted."</p> }.into_any())
        }
        None => None,
    };

    view! {
        <section class="page-head">
            <h1>"Repositories"</h1>
            <p class="lede">"Which repositories get preview environments, and how they are deployed."</p>
        </section>
        {deleted}
        <Suspense fallback=|| view! { <Skeleton label="Loading repositories" rows=3 /> }>
            {move || Suspend::new(async move {
                let s = session.await;
                let operator = is_operator(&s);
                let csrf = csrf_of(&s);
                match repos.await {
                    Ok(list) => view! { <RepositoryList list editing operator csrf delete /> }.into_any(),
                    Err(error) => view! { <LoadError what="repositories" error /> }.into_any(),
                }
            })}
        </Suspense>
        // Outside the list's Suspense, so a save (which reloads the list) keeps the form.
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let s = session.await;
                if is_operator(&s) {
                    let csrf = csrf_of(&s);
                    view! { <RepositoryEditor configure csrf editing /> }.into_any()
                } else {
                    view! { <p class="muted">"Only operators can configure repositories."</p> }.into_any()
                }
            })}
        </Suspense>
    }
}

fn is_operator(s: &Result<crate::dto::SessionInfo, AppError>) -> bool {
    s.as_ref()
        .ok()
        .and_then(|s| s.viewer.as_ref())
        .is_some_and(|v| v.operator)
}

#[component]
fn RepositoryList(
    list: Vec<RepositoryEntry>,
    editing: RwSignal<Option<RepositoryForm>>,
    operator: bool,
    csrf: String,
    delete: ServerAction<DeleteRepository>,
) -> impl IntoView {
    // The repository whose deletion is being confirmed.
    let confirming = RwSignal::new(None::<String>);
    if list.is_empty() {
        return view! {
            <section class="panel empty">
                <h2>"No repositories configured"</h2>
                <p>"Configure one below; its open pull requests get environments at once."</p>
            </section>
        }
        .into_any();
    }
    view! {
        <div class="panel">
            <table class="repositories" aria-label="Configured repositories">
                <thead>
                    <tr>
                        <th scope="col">"Repository"</th>
                        <th scope="col">"Chart"</th>
                        <th scope="col">"Image"</th>
                        <th scope="col">"Health path"</th>
                        <th scope="col">"Quota"</th>
                        <th scope="col">"Label"</th>
                        <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody>
                    {list
                        .into_iter()
                        .map(|r| {
                            let f = r.form.clone();
                            let chart = [f.chart_repo.as_str(), f.chart_path.as_str()]
                                .into_iter()
                                .filter(|s| !s.is_empty())
                                .collect::<Vec<_>>()
                                .join(" ");
                            let image = if !f.image_pattern.is_empty() {
                                f.image_pattern.clone()
                            } else if !f.build_dockerfile.is_empty() || !f.build_context.is_empty() {
                                format!("build {} {}", f.build_dockerfile, f.build_context)
                            } else {
                                "–".into()
                            };
                            let quota = format!(
                                "{} CPU · {} memory",
                                or_dash(&f.quota_cpu),
                                or_dash(&f.quota_memory)
                            );
                            let form = f.clone();
                            let name = f.full_name.clone();
                            let csrf = csrf.clone();
                            view! {
                                <tr data-repository=f.full_name.clone()>
                                    <td class="repo">{f.full_name.clone()} <div class="muted small"><code>{format!("pr-{}-N", r.namespace_slug)}</code></div></td>
                                    <td>{or_dash(&chart)}</td>
                                    <td>{image}</td>
                                    <td><code>{f.health_path.clone()}</code></td>
                                    <td>{quota}</td>
                                    <td>{or_dash(&f.required_label)}</td>
                                    <td>
                                        {operator.then(|| view! {
                                            <button type="button" class="button" on:click=move |_| editing.set(Some(form.clone()))>
                                                "Edit"
                                            </button>
                                            " "
                                            <DeleteRepositoryButton name csrf confirming delete />
                                        })}
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// "Delete" with a confirmation; Escape or Cancel closes it.
#[component]
fn DeleteRepositoryButton(
    name: String,
    csrf: String,
    confirming: RwSignal<Option<String>>,
    delete: ServerAction<DeleteRepository>,
) -> impl IntoView {
    let open_name = name.clone();
    let is_open = {
        let name = name.clone();
        move || confirming.with(|c| c.as_deref() == Some(name.as_str()))
    };
    let label = format!("Confirm deleting {name}");
    view! {
        <button
            type="button"
            class="button danger"
            aria-expanded={
                let is_open = is_open.clone();
                move || is_open().to_string()
            }
            on:click=move |_| confirming.set(Some(open_name.clone()))
        >
            "Delete"
        </button>
        <div
            class="confirm"
            role="alertdialog"
            aria-label=label
            hidden=move || !is_open()
            on:keydown=move |ev| {
                if ev.key() == "Escape" {
                    confirming.set(None);
                }
            }
        >
            <p>{format!("Delete the configuration of {name}? It must have no environments left.")}</p>
            <ActionForm action=delete>
                <input type="hidden" name="full_name" value=name.clone() />
                <input type="hidden" name="csrf" value=csrf />
                <button type="submit" class="button danger" disabled=move || delete.pending().get()>
                    "Yes, delete repository"
                </button>
            </ActionForm>
            <button type="button" class="button" on:click=move |_| confirming.set(None)>"Cancel"</button>
        </div>
    }
}

fn or_dash(s: &str) -> String {
    if s.trim().is_empty() {
        "–".into()
    } else {
        s.to_owned()
    }
}

/// The field an error belongs to, in the form's names (`quota.cpu` → `quota_cpu`).
pub fn form_field(api_field: &str) -> String {
    api_field.replace('.', "_")
}

#[component]
fn RepositoryEditor(
    configure: ServerAction<ConfigureRepository>,
    csrf: String,
    editing: RwSignal<Option<RepositoryForm>>,
) -> impl IntoView {
    let error_for = move |name: &'static str| {
        move || match configure.value().get() {
            Some(Err(AppError::Invalid { field, message })) if form_field(&field) == name => Some(
                view! { <span class="field-error" id=format!("err-{name}") role="alert">{message}</span> },
            ),
            _ => None,
        }
    };
    let general = move || match configure.value().get() {
        Some(Err(AppError::Invalid { .. })) => Some(
            view! { <p class="error-text" role="alert">"Please correct the marked field."</p> }
                .into_any(),
        ),
        Some(Err(e)) => {
            Some(view! { <p class="error-text" role="alert">{e.to_string()}</p> }.into_any())
        }
        Some(Ok(r)) => Some(
            view! { <p class="ok-text" role="status">{format!("Saved {}.", r.form.full_name)}</p> }
                .into_any(),
        ),
        None => None,
    };
    let current = move || editing.get().unwrap_or_default();
    let text = move |name: &'static str,
                     label: &'static str,
                     hint: &'static str,
                     get: fn(&RepositoryForm) -> String| {
        view! {
            <label class="field">
                <span class="field-label">{label}</span>
                <input type="text" name=format!("form[{name}]") prop:value=move || get(&current())
                    aria-describedby=format!("err-{name}") />
                <span class="hint">{hint}</span>
                {error_for(name)}
            </label>
        }
    };
    view! {
        <h2>{move || if editing.get().is_some() { "Change a repository" } else { "Configure a repository" }}</h2>
        <ActionForm action=configure attr:class="panel repo-form">
            <input type="hidden" name="csrf" value=csrf />
            {text("full_name", "Repository", "owner/name", |f| f.full_name.clone())}
            <fieldset>
                <legend>"Chart"</legend>
                {text("chart_repo", "Chart repository", "Helm repo URL or OCI reference (empty: chart in the repository)", |f| f.chart_repo.clone())}
                {text("chart_path", "Chart path", "e.g. deploy/chart", |f| f.chart_path.clone())}
                {text("chart_version", "Chart version", "", |f| f.chart_version.clone())}
                <label class="field">
                    <span class="field-label">"Values (YAML)"</span>
                    <textarea name="form[values]" rows="4" prop:value=move || current().values>{move || current().values}</textarea>
                    {error_for("values")}
                </label>
                <label class="field">
                    <span class="field-label">"Values files"</span>
                    <textarea name="form[values_files]" rows="2" prop:value=move || current().values_files></textarea>
                    <span class="hint">"one path per line"</span>
                    {error_for("values_files")}
                </label>
            </fieldset>
            <fieldset>
                <legend>"Image"</legend>
                {text("build_dockerfile", "Dockerfile", "build from the PR's head (e.g. Dockerfile)", |f| f.build_dockerfile.clone())}
                {text("build_context", "Build context", "e.g. .", |f| f.build_context.clone())}
                {text("image_pattern", "Prebuilt image pattern", "or: ghcr.io/acme/web:{sha}", |f| f.image_pattern.clone())}
            </fieldset>
            <fieldset>
                <legend>"Runtime"</legend>
                {text("health_path", "Health path", "probed after deploy, e.g. /healthz", |f| f.health_path.clone())}
                {text("quota_cpu", "CPU quota", "e.g. 2 or 500m", |f| f.quota_cpu.clone())}
                {text("quota_memory", "Memory quota", "e.g. 4Gi", |f| f.quota_memory.clone())}
                {text("quota_pods", "Pod quota", "e.g. 20", |f| f.quota_pods.clone())}
            </fieldset>
            <fieldset>
                <legend>"Secrets and labels"</legend>
                {text("secrets", "Secrets to copy", "comma separated secret names", |f| f.secrets.clone())}
                {text("secret_store_namespace", "Secret store namespace", "where the secrets are copied from", |f| f.secret_store_namespace.clone())}
                {text("required_label", "Required label", "only PRs with this label get an environment", |f| f.required_label.clone())}
                {text("fork_opt_in_label", "Fork opt-in label", "default preview-fork", |f| f.fork_opt_in_label.clone())}
                <label class="check">
                    <input type="checkbox" name="form[deploy_drafts]" value="true" prop:checked=move || current().deploy_drafts />
                    " Deploy draft pull requests"
                </label>
            </fieldset>
            <div class="form-actions">
                <button type="submit" class="button primary" disabled=move || configure.pending().get()>"Save"</button>
                <button type="button" class="button" on:click=move |_| editing.set(None)>"New"</button>
            </div>
            {general}
        </ActionForm>
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn api_fields_map_to_form_fields() {
        assert_eq!(super::form_field("quota.cpu"), "quota_cpu");
        assert_eq!(super::form_field("full_name"), "full_name");
    }
}
