//! The dashboard's error type: what a server function may report to the browser. It is
//! serialisable and carries only user-safe text; details stay in the server log.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum AppError {
    /// The database or another backing service could not answer.
    #[error("the service is unavailable: {0}")]
    Unavailable(String),
    /// The request itself was wrong.
    #[error("{0}")]
    BadRequest(String),
    /// Transport or framework failure between browser and server.
    #[error("request failed: {0}")]
    Transport(String),
    /// Signing in is required for this.
    #[error("sign in to continue")]
    Unauthorized,
    /// Signed in, but not allowed (wrong role, missing push access, bad CSRF token).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// A form field is wrong; `field` is the form's field name.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
}

impl AppError {
    /// The HTTP status a server function answers with when it fails this way (the
    /// server sets it; server_fn's default is 500 for every error).
    pub fn status(&self) -> u16 {
        match self {
            Self::Unavailable(_) => 503,
            Self::BadRequest(_) => 400,
            Self::Transport(_) => 500,
            Self::Unauthorized => 401,
            Self::Forbidden(_) => 403,
            Self::NotFound(_) => 404,
            Self::Conflict(_) => 409,
            Self::Invalid { .. } => 422,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AppError::Transport(value.to_string())
    }
}
