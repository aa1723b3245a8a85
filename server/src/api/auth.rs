//! Bearer-token authentication for the API: `Authorization: Bearer <token>`, matched by
//! the token's SHA-256 against non-revoked tokens. Roles gate mutations.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::errors::ApiError;
use crate::core::domain::Role;
use crate::state::AppState;

/// The authenticated caller of an API request.
#[derive(Clone, Debug)]
pub struct ApiCaller {
    pub token_name: String,
    pub role: Role,
}

impl ApiCaller {
    /// Mutations need the operator role.
    pub fn require_operator(&self) -> Result<(), ApiError> {
        match self.role {
            Role::Operator => Ok(()),
            Role::Viewer => Err(ApiError::forbidden("this action needs an operator token")),
        }
    }
}

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <token>"))?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::unauthorized("expected Authorization: Bearer <token>"))?;
        let owner = state
            .service
            .authenticate_token(token)
            .await?
            .ok_or_else(|| ApiError::unauthorized("unknown or revoked token"))?;
        Ok(Self {
            token_name: owner.name,
            role: owner.role,
        })
    }
}
