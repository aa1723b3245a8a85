//! The HTML document and the application root: router, header with the signed-in
//! person, and navigation.

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    SsrMode, StaticSegment,
    components::{Route, Router, Routes},
    path,
};

use crate::pages::{
    EnvironmentPage, EnvironmentsPage, NotFound, RepositoriesPage, SessionResource, UserMenu,
    current_session,
};

/// The whole HTML document rendered on the server around [`App`].
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// Root component, hydrated in the browser.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Set only once the WASM has taken over the page: end-to-end tests wait for it,
    // because clicks before hydration are lost.
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move |_| set_hydrated.set(true));
    let session: SessionResource = Resource::new(|| (), |_| current_session());
    provide_context(session);

    view! {
        <Stylesheet id="leptos" href="/pkg/catalyst.css" />
        <Title text="Catalyst Preview" />
        <Router>
            <div class="layout" data-hydrated=move || hydrated.get().to_string()>
                <a class="skip-link" href="#main">"Skip to content"</a>
                <header class="topbar">
                    <a class="brand" href="/">
                        <span class="brand-mark" aria-hidden="true">"◆"</span>
                        " Catalyst Preview"
                    </a>
                    <nav aria-label="Main">
                        <a href="/">"Environments"</a>
                        <a href="/repositories">"Repositories"</a>
                    </nav>
                    <UserMenu />
                </header>
                <main id="main">
                    <Routes fallback=|| view! { <NotFound /> }>
                        <Route path=StaticSegment("") view=EnvironmentsPage ssr=SsrMode::Async />
                        <Route
                            path=path!("/environments/:id")
                            view=EnvironmentPage
                            ssr=SsrMode::Async
                        />
                        <Route
                            path=path!("/repositories")
                            view=RepositoriesPage
                            ssr=SsrMode::Async
                        />
                    </Routes>
                </main>
            </div>
        </Router>
    }
}
