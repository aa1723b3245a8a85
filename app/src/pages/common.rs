//! Small pieces every page uses: error panels (with the sign-in prompt), skeletons, chips.

use leptos::prelude::*;

use crate::dto::ClusterState;
use crate::error::AppError;

use super::session::SignInLink;

#[component]
pub fn LoadError(what: &'static str, error: AppError) -> impl IntoView {
    if error == AppError::Unauthorized {
        return view! {
            <section class="panel empty" role="status">
                <h2>"Sign in to see " {what}</h2>
                <p>"Catalyst shows preview environments to people who sign in with GitHub."</p>
                <SignInLink />
            </section>
        }
        .into_any();
    }
    view! {
        <section class="panel error" role="alert">
            <h2>{format!("{} could not be loaded", capitalise(what))}</h2>
            <p>{error.to_string()}</p>
        </section>
    }
    .into_any()
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// Placeholder rows with the final height, so the page does not jump while loading.
#[component]
pub fn Skeleton(label: &'static str, rows: usize) -> impl IntoView {
    view! {
        <div class="panel skeleton" aria-busy="true" aria-label=label>
            {(0..rows).map(|_| view! { <div class="skeleton-row"></div> }).collect_view()}
        </div>
    }
}

/// A banner when Kubernetes is not reachable: pages still show what the database knows.
#[component]
pub fn ClusterBanner(state: ClusterState) -> impl IntoView {
    let text = match state {
        ClusterState::Connected => return ().into_any(),
        ClusterState::NotConfigured => "Cluster not connected: no kubeconfig or in-cluster service account was found. Usage, pods and logs are unavailable; set KUBECONFIG and restart Catalyst.".to_owned(),
        ClusterState::Unreachable(why) => format!("Cluster not connected: the Kubernetes API did not answer ({why}). Usage, pods and logs are unavailable until it does."),
    };
    view! {
        <div class="banner banner-error" role="status" data-cluster="disconnected">
            {text}
        </div>
    }
    .into_any()
}

#[component]
pub fn StatusChip(status: &'static str) -> impl IntoView {
    view! { <span class=format!("chip chip-{status}")>{status}</span> }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn html(view: impl FnOnce() -> AnyView) -> String {
        Owner::new().with(|| view().to_html())
    }

    #[test]
    fn the_banner_says_when_the_cluster_is_not_connected() {
        let missing =
            html(|| view! { <ClusterBanner state=ClusterState::NotConfigured /> }.into_any());
        assert!(missing.contains("Cluster not connected"));
        assert!(missing.contains("KUBECONFIG"));
        let down = html(|| {
            view! { <ClusterBanner state=ClusterState::Unreachable("connection refused".into()) /> }
                .into_any()
        });
        assert!(down.contains("connection refused"));
        let fine = html(|| view! { <ClusterBanner state=ClusterState::Connected /> }.into_any());
        assert!(!fine.contains("Cluster"));
    }

    #[test]
    fn a_missing_sign_in_offers_the_sign_in_link() {
        let page = html(|| {
            view! { <LoadError what="environments" error=AppError::Unauthorized /> }.into_any()
        });
        assert!(page.contains("Sign in to see"));
        assert!(page.contains("/auth/github/login"));
        let failed = html(|| {
            view! { <LoadError what="environments" error=AppError::Unavailable("db down".into()) /> }
                .into_any()
        });
        assert!(failed.contains("Environments could not be loaded"));
        assert!(failed.contains("role=\"alert\""));
    }
}
