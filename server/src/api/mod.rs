//! The JSON API under `/api/v1`: bearer-token auth, JSON errors, and thin handlers over
//! the service layer.

pub mod auth;
pub mod errors;
pub mod log_level;
pub mod model;
pub mod ops;
pub mod repositories;
pub mod v1;

use axum::Router;

use crate::state::AppState;
use errors::ApiError;

/// Routes relative to `/api/v1`.
pub fn router() -> Router<AppState> {
    // `/log-level` (log_level.rs) is routed in v1.rs so the OpenAPI document has it.
    v1::router()
        .fallback(|| async { ApiError::not_found("no such API endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this endpoint",
                serde_json::Value::Null,
            )
        })
}
