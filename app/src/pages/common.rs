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
