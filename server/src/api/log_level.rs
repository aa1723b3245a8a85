//! `GET|PUT /api/v1/log-level`: read or replace the running process's log filter
//! (`{"filter": "info,catalyst_server=debug"}`, `RUST_LOG` syntax). Changing it needs an
//! operator token; a filter that does not parse is refused with 422 and changes nothing.

use axum::Json;
use axum::body::Bytes;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::ApiCaller;
use super::errors::{ApiError, parse_json};
use crate::telemetry::{self, TelemetryError};

/// Body of `PUT /api/v1/log-level`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogLevelRequest {
    pub filter: String,
}

fn not_reloadable() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "the log level cannot be changed in this process",
        Value::Null,
    )
}

/// The filter in force.
pub async fn show(_caller: ApiCaller) -> Result<Json<Value>, ApiError> {
    let filter = telemetry::current_filter().ok_or_else(not_reloadable)?;
    Ok(Json(json!({ "filter": filter })))
}

/// Replaces the filter.
pub async fn update(caller: ApiCaller, body: Bytes) -> Result<Json<Value>, ApiError> {
    caller.require_operator()?;
    let request: LogLevelRequest = parse_json(&body)?;
    match telemetry::set_filter(&request.filter) {
        Ok(()) => {
            tracing::info!(filter = request.filter.trim(), by = %caller.token_name, "log filter changed");
            Ok(Json(json!({ "filter": request.filter.trim() })))
        }
        Err(TelemetryError::InvalidFilter(message)) => {
            Err(ApiError::invalid_field("filter", message))
        }
        Err(TelemetryError::NotReloadable) => Err(not_reloadable()),
        Err(e) => {
            tracing::error!(error = %e, "cannot change the log filter");
            Err(ApiError::internal())
        }
    }
}
