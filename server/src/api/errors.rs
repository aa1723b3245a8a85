//! API errors: always `{"error": "...", "detail": ...}` with the right status. Internal
//! failures are logged in full and answered with a short, safe text.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::service::ServiceError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: String,
    pub detail: Value,
}

impl ApiError {
    pub fn new(status: StatusCode, error: impl Into<String>, detail: Value) -> Self {
        Self {
            status,
            error: error.into(),
            detail,
        }
    }

    pub fn unauthorized(message: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message, Value::Null)
    }

    pub fn forbidden(message: &str) -> Self {
        Self::new(StatusCode::FORBIDDEN, message, Value::Null)
    }

    pub fn not_found(message: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, message, Value::Null)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message, Value::Null)
    }

    /// 422 naming the offending field.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("invalid {field}"),
            json!({ "field": field, "message": message.into() }),
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error; see the server log",
            Value::Null,
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            axum::Json(json!({ "error": self.error, "detail": self.detail })),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Conflict(message) => Self::conflict(message),
            ServiceError::Store(e) => {
                tracing::error!(error = %e, "API request failed in the store");
                Self::internal()
            }
        }
    }
}

/// Reads a JSON body: syntax errors are 400; a body that is not an object, unknown
/// fields, missing fields and wrong types are 422 naming the field (its dotted path).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    // Syntax first, so "bad JSON" is never reported as a wrong field.
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid JSON",
            json!({ "message": e.to_string() }),
        )
    })?;
    if !value.is_object() {
        return Err(ApiError::invalid_field("body", "expected a JSON object"));
    }
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let message = err.into_inner().to_string();
        // serde names unknown/missing fields in backticks. For unknown fields the path
        // already ends with the field; for missing ones it is the parent object.
        let named = message
            .strip_prefix("unknown field `")
            .or_else(|| message.strip_prefix("missing field `"))
            .and_then(|rest| rest.split('`').next());
        let field = match named {
            Some(name) if path == name || path.ends_with(&format!(".{name}")) => path,
            Some(name) if path == "." || path.is_empty() => name.to_owned(),
            Some(name) => format!("{path}.{name}"),
            None => path,
        };
        let error = if message.starts_with("unknown field") {
            format!("unknown field {field}")
        } else {
            format!("invalid {field}")
        };
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            error,
            json!({ "field": field, "message": message }),
        )
    })
}
