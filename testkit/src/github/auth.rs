//! Who is calling: the app (a JWT signed with the app's key), an installation (a token the
//! app obtained), a user (an OAuth token) or nobody. JWT checks follow GitHub's rules and
//! messages: RS256, `iss` = app id, not expired, at most ten minutes long.

use axum::http::HeaderMap;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::errors::{GhError, GhResult};
use super::state::World;

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// The GitHub App itself (JWT).
    App,
    /// An installation access token.
    Installation(u64),
    /// A user's OAuth token.
    User(String),
    Anonymous,
}

impl Identity {
    /// The rate-limit bucket this identity draws from.
    pub fn bucket(&self) -> String {
        match self {
            Self::App => "app".into(),
            Self::Installation(id) => format!("installation:{id}"),
            Self::User(l) => format!("user:{l}"),
            Self::Anonymous => "anonymous".into(),
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = v.split_once(' ')?;
    matches!(scheme.to_ascii_lowercase().as_str(), "bearer" | "token")
        .then(|| token.trim().to_string())
}

/// Resolves the caller from the `Authorization` header.
pub fn identify(w: &World, headers: &HeaderMap) -> GhResult<Identity> {
    let Some(token) = bearer(headers) else {
        return Ok(Identity::Anonymous);
    };
    if token.matches('.').count() == 2 {
        verify_app_jwt(w, &token)?;
        return Ok(Identity::App);
    }
    if let Some(t) = w.tokens.get(&token) {
        if t.expires_at <= chrono::Utc::now() {
            return Err(GhError::bad_credentials());
        }
        return Ok(Identity::Installation(t.installation_id));
    }
    if let Some(login) = w.user_tokens.get(&token) {
        return Ok(Identity::User(login.clone()));
    }
    Err(GhError::bad_credentials())
}

/// Checks an app JWT the way GitHub does.
pub fn verify_app_jwt(w: &World, token: &str) -> GhResult<()> {
    let key = DecodingKey::from_rsa_pem(w.app.public_key_pem.as_bytes())
        .map_err(|_| GhError::new(500, "testkit: the app public key does not parse"))?;
    let mut v = Validation::new(Algorithm::RS256);
    // `iss` is checked below: GitHub accepts it as a number (octocrab's form) or a string,
    // which jsonwebtoken's own issuer check does not.
    v.set_required_spec_claims(&["exp", "iat"]);
    v.leeway = 0;
    v.validate_exp = false;
    let data = jsonwebtoken::decode::<Value>(token, &key, &v)
        .map_err(|_| GhError::new(401, "A JSON web token could not be decoded"))?;
    let claims = data.claims;
    let now = chrono::Utc::now().timestamp();
    let exp = claims["exp"].as_i64().unwrap_or(0);
    let iat = claims["iat"].as_i64().unwrap_or(0);
    if exp <= now {
        return Err(GhError::new(
            401,
            "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
        ));
    }
    if iat > now + 60 {
        return Err(GhError::new(
            401,
            "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
        ));
    }
    if exp - iat > 600 + 60 {
        return Err(GhError::new(
            401,
            "'Expiration time' claim ('exp') is too far in the future",
        ));
    }
    let iss = match &claims["iss"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if iss != w.app.id.to_string() {
        return Err(GhError::new(
            401,
            format!("Integration not found for the given 'iss' claim ({iss})"),
        ));
    }
    Ok(())
}

/// `ghs_…`: an installation token, `gho_…`: a user token.
pub fn new_token(prefix: &str) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let body: String = (0..36)
        .map(|_| CHARS[rand::random_range(0..CHARS.len())] as char)
        .collect();
    format!("{prefix}_{body}")
}
