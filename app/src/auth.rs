//! Who is asking, for server functions: the server's session middleware puts a
//! [`SignedIn`] into the request's extensions; these helpers read it and apply the
//! dashboard's rules (reading needs a sign-in when sign-in is enabled; every mutation
//! needs a sign-in and the session's CSRF token).

use crate::dto::Viewer;
#[cfg(feature = "ssr")]
use crate::error::AppError;

/// The signed-in person of the current request, with the GitHub token used to check
/// their repository permissions. Server side only; never serialised.
#[derive(Clone)]
pub struct SignedIn {
    pub viewer: Viewer,
    pub github_token: String,
}

impl std::fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedIn")
            .field("login", &self.viewer.login)
            .field("operator", &self.viewer.operator)
            .finish_non_exhaustive()
    }
}

/// The signed-in person of the current request, if any.
#[cfg(feature = "ssr")]
pub fn signed_in() -> Option<SignedIn> {
    leptos::prelude::use_context::<http::request::Parts>()?
        .extensions
        .get::<SignedIn>()
        .cloned()
}

/// Reading: allowed to anyone when sign-in is not configured, else to signed-in people.
#[cfg(feature = "ssr")]
pub fn require_reader() -> Result<Option<SignedIn>, AppError> {
    let who = signed_in();
    if who.is_none() && crate::service::dashboard()?.sign_in_enabled() {
        return Err(AppError::Unauthorized);
    }
    Ok(who)
}

/// Mutations: a signed-in person whose form carried the session's CSRF token. Server
/// functions take `csrf` with `#[server(default)]`, so a call without one is refused
/// here (403) instead of failing to decode.
#[cfg(feature = "ssr")]
pub fn require_actor(csrf: &str) -> Result<SignedIn, AppError> {
    let who = signed_in().ok_or(AppError::Unauthorized)?;
    if !constant_time_eq(who.viewer.csrf_token.as_bytes(), csrf.as_bytes()) {
        return Err(AppError::Forbidden(
            "the form is out of date (CSRF check failed); reload the page and try again".into(),
        ));
    }
    Ok(who)
}

/// Compares without an early exit, so timing does not reveal how much of a token matched.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() || a.is_empty() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_exactly() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b""));
    }
}
