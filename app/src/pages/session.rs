//! Who is signed in: the header's sign-in link or the person with a sign-out button.
//! Signing in and out are plain links and forms to the server's `/auth/...` routes, so
//! they work before (and without) hydration.

use leptos::prelude::*;

use crate::dto::SessionInfo;
use crate::error::AppError;

/// The session as every page reads it (provided once by the app root).
pub type SessionResource = Resource<Result<SessionInfo, AppError>>;

#[server(endpoint = "current_session")]
pub async fn current_session() -> Result<SessionInfo, AppError> {
    Ok(SessionInfo {
        viewer: crate::auth::signed_in().map(|s| s.viewer),
        sign_in_enabled: crate::service::dashboard()?.sign_in_enabled(),
    })
}

/// The CSRF token of the signed-in person, for forms that change something.
pub fn csrf_of(session: &Result<SessionInfo, AppError>) -> String {
    session
        .as_ref()
        .ok()
        .and_then(|s| s.viewer.as_ref())
        .map(|v| v.csrf_token.clone())
        .unwrap_or_default()
}

#[component]
pub fn UserMenu() -> impl IntoView {
    let session = expect_context::<SessionResource>();
    view! {
        <div class="user-menu">
            <Suspense fallback=|| view! { <span class="user-placeholder"></span> }>
                {move || Suspend::new(async move {
                    match session.await {
                        Ok(SessionInfo { viewer: Some(v), .. }) => {
                            let role = if v.operator { "operator" } else { "member" };
                            view! {
                                <span class="user" data-login=v.login.clone()>
                                    <strong>{v.login.clone()}</strong>
                                    <span class="role">{role}</span>
                                </span>
                                <form method="post" action="/auth/logout" class="inline">
                                    <input type="hidden" name="csrf" value=v.csrf_token.clone() />
                                    <button type="submit" class="link-button">"Sign out"</button>
                                </form>
                            }
                                .into_any()
                        }
                        Ok(SessionInfo { sign_in_enabled: true, .. }) => {
                            view! { <SignInLink /> }.into_any()
                        }
                        _ => view! { <span class="muted">"Sign-in not configured"</span> }.into_any(),
                    }
                })}
            </Suspense>
        </div>
    }
}

#[component]
pub fn SignInLink() -> impl IntoView {
    view! {
        <a class="button" href="/auth/github/login" rel="external">
            "Sign in with GitHub"
        </a>
    }
}
