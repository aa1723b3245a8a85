//! "Create environment" on the environments page: asks for the environment of a known
//! open pull request, the dashboard's entrance to the same service action as the JSON
//! API's `POST /api/v1/environments` and the MCP tool `create_environment`.

use leptos::prelude::*;

use super::session::{SessionResource, csrf_of};
use crate::error::AppError;

/// Operators, or people with push access to `repository` (checked on the server).
#[server(endpoint = "create_environment")]
pub async fn create_environment(
    repository: String,
    pr_number: u64,
    #[server(default)] csrf: String,
) -> Result<String, AppError> {
    let who = crate::auth::require_actor(&csrf)?;
    crate::service::dashboard()?
        .create_environment(&who, &repository, pr_number)
        .await
}

/// The form, for signed-in people; whether they may act on the repository they name
/// (operator, or push access) is decided on the server, as for Redeploy and Delete.
#[component]
pub fn CreateEnvironmentPanel() -> impl IntoView {
    let session = expect_context::<SessionResource>();
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let s = session.await;
                let signed_in = s.as_ref().ok().is_some_and(|s| s.viewer.is_some());
                signed_in.then(|| {
                    let csrf = csrf_of(&s);
                    view! { <CreateEnvironmentForm csrf /> }
                })
            })}
        </Suspense>
    }
}

#[component]
fn CreateEnvironmentForm(csrf: String) -> impl IntoView {
    let create = ServerAction::<CreateEnvironment>::new();
    let error_for = move |name: &'static str| {
        move || match create.value().get() {
            Some(Err(AppError::Invalid { field, message })) if field == name => Some(
                view! { <span class="field-error" id=format!("err-create-{name}") role="alert">{message}</span> },
            ),
            _ => None,
        }
    };
    let result = move || match create.value().get() {
        Some(Err(AppError::Invalid { .. })) => Some(
            view! { <p class="error-text" role="alert">"Please correct the marked field."</p> }
                .into_any(),
        ),
        Some(Err(e)) => {
            Some(view! { <p class="error-text" role="alert">{e.to_string()}</p> }.into_any())
        }
        Some(Ok(id)) => Some(
            view! {
                <p class="ok-text" role="status">
                    "The environment is wanted; it is deployed shortly. "
                    <a href=format!("/environments/{id}")>"Open it"</a>
                </p>
            }
            .into_any(),
        ),
        None => None,
    };
    view! {
        <section class="panel create-environment" aria-labelledby="create-environment-title">
            <h2 id="create-environment-title">"Create environment"</h2>
            <p class="muted">
                "For an open pull request Catalyst knows. Needs an operator, or push access to the repository."
            </p>
            <ActionForm action=create attr:class="create-environment-form">
                <input type="hidden" name="csrf" value=csrf />
                <label class="field">
                    <span class="field-label">"Repository"</span>
                    <input type="text" name="repository" required placeholder="owner/name"
                        aria-describedby="err-create-repository" />
                    {error_for("repository")}
                </label>
                <label class="field">
                    <span class="field-label">"Pull request number"</span>
                    <input type="number" name="pr_number" required min="1" step="1"
                        aria-describedby="err-create-pr_number" />
                    {error_for("pr_number")}
                </label>
                <div class="form-actions">
                    <button type="submit" class="button primary" disabled=move || create.pending().get()>
                        "Create environment"
                    </button>
                </div>
                {result}
            </ActionForm>
        </section>
    }
}
