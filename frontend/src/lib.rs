//! Browser entry point: hydrates the server-rendered dashboard so it becomes interactive.

// Hydrating a page's view is one nested type per element; the environments table is
// deeper than rustc's default query depth of 128 allows.
#![recursion_limit = "256"]

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
