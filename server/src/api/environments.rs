//! `GET /api/v1/environments`: the same `EnvironmentSummary` items the dashboard shows.

use axum::Json;
use axum::extract::State;

use super::auth::ApiCaller;
use super::errors::ApiError;
use crate::state::AppState;
use app::model::EnvironmentList;

/// `{"items": [...], "generated_at": ..., "configured_repositories": n}`.
pub async fn list(
    State(state): State<AppState>,
    _caller: ApiCaller,
) -> Result<Json<EnvironmentList>, ApiError> {
    Ok(Json(state.service.environments().await?))
}
