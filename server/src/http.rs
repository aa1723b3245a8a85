//! The HTTP router: health, webhook (with its own body limit), JSON API, and the Leptos
//! dashboard with its static files, under one tracing layer.

use app::service::SharedDashboard;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, file_and_error_handler_with_context, generate_route_list};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::state::AppState;
use crate::{api, health, web, webhook};

/// Every route Catalyst serves.
pub fn build_router(state: AppState) -> Router {
    let backend = std::sync::Arc::new(web::DashboardBackend::new(&state));
    let dashboard: SharedDashboard = backend.clone();
    let context = move || provide_context(dashboard.clone());
    let routes = generate_route_list(app::App);
    let leptos = state.leptos.clone();

    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(crate::metrics::serve))
        .merge(webhook_routes())
        .nest("/api/v1", api::router())
        // MCP (streamable HTTP, bearer tokens): the same actions as the API.
        .merge(crate::mcp::router(&state))
        .merge(web::router(backend.clone()))
        .leptos_routes_with_context(&state, routes, context.clone(), move || {
            app::shell(leptos.clone())
        })
        .fallback(file_and_error_handler_with_context::<AppState, _>(
            context,
            app::shell,
        ))
        // Server functions that fail answer 401/403/404/... rather than a blanket 500.
        .layer(axum::middleware::from_fn(web::server_fn_status))
        // Sessions for the dashboard: the viewer middleware runs inside the session layer.
        .layer(axum::middleware::from_fn_with_state(
            backend,
            web::resolve_viewer,
        ))
        .layer(web::session_layer(&state))
        // Request ids: taken from `x-request-id` or made up, echoed on the answer and
        // carried by the request's span, so every log line of a request names it.
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// The span of one HTTP request; `request_id` is what `SetRequestIdLayer` put in (or
/// the client sent as) `x-request-id`.
fn request_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        method = %request.method(),
        uri = %request.uri().path(),
        request_id,
    )
}

fn webhook_routes() -> Router<AppState> {
    Router::new()
        .route("/webhooks/github", post(webhook::receive))
        // Replace axum's 2 MB default with GitHub's 25 MB cap; a larger Content-Length
        // is refused with 413 before the body is read.
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(webhook::MAX_BODY_BYTES))
}
