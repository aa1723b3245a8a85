//! API tokens through the functions `catalyst token create|revoke` run.

use catalyst_server::cli;
use catalyst_server::core::domain::Role;
use catalyst_server::store::tokens::token_hash;

use crate::both_backends;
use crate::support::{Backend, start};

both_backends!(tokens_are_shown_once_stored_hashed_and_revocable);

async fn tokens_are_shown_once_stored_hashed_and_revocable(b: Backend) {
    let s = start(b).await;
    let token = cli::create_token(s.db(), "ci", Role::Operator)
        .await
        .unwrap();
    assert!(token.starts_with("cat_") && token.len() > 40, "{token}");
    let stored = s
        .count(&format!(
            "api_tokens WHERE token_sha256 = '{}'",
            token_hash(&token)
        ))
        .await;
    assert_eq!(stored, 1);
    let plain = s
        .count(&format!(
            "api_tokens WHERE token_sha256 = '{token}' OR name = '{token}'"
        ))
        .await;
    assert_eq!(plain, 0, "the plain token must not be stored");

    let (status, _) = s.get("/api/v1/environments", Some(&token)).await;
    assert_eq!(status, 200);

    let again = cli::create_token(s.db(), "ci", Role::Viewer).await;
    assert!(again.is_err(), "a name is unique while its token is active");

    cli::revoke_token(s.db(), "ci").await.unwrap();
    let (status, _) = s.get("/api/v1/environments", Some(&token)).await;
    assert_eq!(status, 401);
    assert!(cli::revoke_token(s.db(), "ci").await.is_err());
    assert!(cli::revoke_token(s.db(), "never-existed").await.is_err());

    // A revoked name can be used again, with a new token.
    let renewed = cli::create_token(s.db(), "ci", Role::Viewer).await.unwrap();
    assert_ne!(renewed, token);
    let (status, _) = s.get("/api/v1/repositories", Some(&renewed)).await;
    assert_eq!(status, 200);
    s.finish().await;
}
