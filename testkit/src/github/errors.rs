//! GitHub's error bodies: `{"message", "documentation_url", "status"}`, and `errors[]` for
//! validation failures.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

const DOCS: &str = "https://docs.github.com/rest";

/// An error answer of the GitHub double.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{status} {message}")]
pub struct GhError {
    pub status: u16,
    pub message: String,
    pub documentation_url: String,
    pub errors: Option<Value>,
    pub headers: Vec<(String, String)>,
}

impl GhError {
    /// An error with GitHub's generic documentation link.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            documentation_url: DOCS.into(),
            errors: None,
            headers: Vec::new(),
        }
    }

    /// 404 `Not Found`.
    pub fn not_found() -> Self {
        Self::new(404, "Not Found")
    }

    /// 401 `Bad credentials`.
    pub fn bad_credentials() -> Self {
        Self::new(401, "Bad credentials")
    }

    /// 401 `Requires authentication`.
    pub fn requires_auth() -> Self {
        Self::new(401, "Requires authentication")
    }

    /// 403 for an identity that may not call this endpoint.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, message)
    }

    /// 422 `Validation Failed` with one error entry.
    pub fn validation(resource: &str, field: &str, code: &str) -> Self {
        let mut e = Self::new(422, "Validation Failed");
        e.errors = Some(json!([{"resource": resource, "field": field, "code": code}]));
        e
    }

    /// 422 with a custom message (e.g. a required parameter missing).
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(422, message)
    }

    /// Adds a response header (e.g. `Retry-After`).
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// Changes the documentation link.
    pub fn with_docs(mut self, url: &str) -> Self {
        self.documentation_url = url.to_string();
        self
    }
}

impl IntoResponse for GhError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "message": self.message,
            "documentation_url": self.documentation_url,
            "status": self.status.to_string(),
        });
        if let Some(e) = self.errors {
            body["errors"] = e;
        }
        let code = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (
            code,
            [(
                axum::http::header::CONTENT_TYPE,
                "application/json; charset=utf-8",
            )],
            body.to_string(),
        )
            .into_response();
        for (k, v) in self.headers {
            if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) {
                resp.headers_mut().insert(k, v);
            }
        }
        resp
    }
}

/// Result alias for GitHub handlers.
pub type GhResult<T> = Result<T, GhError>;
