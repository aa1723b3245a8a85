//! GitHub App authentication: the app's RS256 JWT (which only mints tokens), and the
//! installation tokens that every other call uses — cached in memory, persisted sealed
//! through [`TokenStore`] so a restart does not mint a new one, and renewed a few
//! minutes before they expire. One refresh per installation at a time: concurrent
//! callers wait for it instead of each minting a token.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use super::secrets::EncryptionKey;
use super::{GithubError, InstallationId, Result};

/// GitHub refuses app JWTs that live longer than ten minutes.
const JWT_LIFETIME: i64 = 9 * 60;
/// Issued "a minute ago" so that a server clock slightly ahead of ours accepts it
/// (GitHub's own recommendation).
const JWT_BACKDATE: i64 = 60;

/// The app's identity: its id and RSA private key.
#[derive(Clone)]
pub struct AppCredentials {
    app_id: u64,
    key: EncodingKey,
}

impl std::fmt::Debug for AppCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppCredentials")
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Claims {
    iat: i64,
    exp: i64,
    iss: String,
}

impl AppCredentials {
    /// `origin` names the key in errors (its path and variable).
    pub fn from_pem(app_id: u64, pem: &[u8], origin: &str) -> Result<Self> {
        let key = EncodingKey::from_rsa_pem(pem).map_err(|e| GithubError::PrivateKey {
            origin: origin.to_owned(),
            reason: format!("not an RSA private key in PEM form ({e})"),
        })?;
        Ok(Self { app_id, key })
    }

    pub fn app_id(&self) -> u64 {
        self.app_id
    }

    /// A JWT for `Authorization: Bearer …` on `/app/…` endpoints.
    pub fn jwt(&self, now: DateTime<Utc>) -> Result<String> {
        let claims = Claims {
            iat: now.timestamp() - JWT_BACKDATE,
            exp: now.timestamp() + JWT_LIFETIME,
            iss: self.app_id.to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .map_err(GithubError::Jwt)
    }
}

/// An installation token as persisted: sealed with the encryption key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedToken {
    /// `base64(nonce || ciphertext)`, see [`super::secrets`].
    pub sealed: String,
    pub expires_at: DateTime<Utc>,
}

/// Where sealed installation tokens survive restarts. The store implements it over
/// its database; tests use [`MemoryTokenStore`].
#[async_trait]
pub trait TokenStore: Send + Sync {
    async fn load(&self, installation: InstallationId) -> Result<Option<SealedToken>, String>;
    async fn save(&self, installation: InstallationId, token: &SealedToken) -> Result<(), String>;
}

/// A [`TokenStore`] in memory.
#[derive(Debug, Default)]
pub struct MemoryTokenStore {
    tokens: Mutex<HashMap<InstallationId, SealedToken>>,
}

impl MemoryTokenStore {
    /// What is stored (sealed), for tests that check nothing is kept in clear.
    pub fn get(&self, installation: InstallationId) -> Option<SealedToken> {
        lock(&self.tokens).get(&installation).cloned()
    }
}

#[async_trait]
impl TokenStore for MemoryTokenStore {
    async fn load(&self, installation: InstallationId) -> Result<Option<SealedToken>, String> {
        Ok(self.get(installation))
    }

    async fn save(&self, installation: InstallationId, token: &SealedToken) -> Result<(), String> {
        lock(&self.tokens).insert(installation, token.clone());
        Ok(())
    }
}

/// Opens a persisted token with `key`: at start-up this tells an operator at once that
/// `CATALYST_ENCRYPTION_KEY` is not the key the stored tokens were sealed with.
pub fn open_sealed(
    key: &EncryptionKey,
    installation: InstallationId,
    sealed: &SealedToken,
) -> Result<String> {
    let plain = key.open(&sealed.sealed, &context(installation))?;
    String::from_utf8(plain)
        .map_err(|_| GithubError::Secrets(super::SecretsError::Corrupt("token is not UTF-8")))
}

/// A usable installation token.
#[derive(Clone)]
pub struct InstallationToken {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for InstallationToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstallationToken")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl InstallationToken {
    fn fresh(&self, now: DateTime<Utc>, margin: Duration) -> bool {
        let margin = TimeDelta::from_std(margin).unwrap_or(TimeDelta::MAX);
        now.checked_add_signed(margin)
            .is_some_and(|t| t < self.expires_at)
    }
}

type Slot = Arc<tokio::sync::Mutex<Option<InstallationToken>>>;

/// The cache of installation tokens.
pub(crate) struct TokenCache {
    slots: Mutex<HashMap<InstallationId, Slot>>,
    store: Arc<dyn TokenStore>,
    key: EncryptionKey,
    margin: Duration,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn context(installation: InstallationId) -> String {
    format!("installation-token:{installation}")
}

impl TokenCache {
    pub(crate) fn new(store: Arc<dyn TokenStore>, key: EncryptionKey, margin: Duration) -> Self {
        Self {
            slots: Mutex::new(HashMap::new()),
            store,
            key,
            margin,
        }
    }

    fn slot(&self, installation: InstallationId) -> Slot {
        lock(&self.slots).entry(installation).or_default().clone()
    }

    /// A token with more than the margin left: from memory, else from the store, else
    /// minted by `mint` (and then persisted sealed).
    pub(crate) async fn get<F, Fut>(
        &self,
        installation: InstallationId,
        mint: F,
    ) -> Result<InstallationToken>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<InstallationToken>>,
    {
        let slot = self.slot(installation);
        // Held across the mint: concurrent callers wait here for the one refresh.
        let mut cached = slot.lock().await;
        let now = Utc::now();
        if let Some(token) = cached.as_ref().filter(|t| t.fresh(now, self.margin)) {
            return Ok(token.clone());
        }
        if let Some(token) = self.load_fresh(installation, now).await? {
            *cached = Some(token.clone());
            return Ok(token);
        }
        let token = mint().await?;
        let sealed = SealedToken {
            sealed: self
                .key
                .seal(token.token.as_bytes(), &context(installation))?,
            expires_at: token.expires_at,
        };
        self.store
            .save(installation, &sealed)
            .await
            .map_err(GithubError::TokenStore)?;
        *cached = Some(token.clone());
        Ok(token)
    }

    async fn load_fresh(
        &self,
        installation: InstallationId,
        now: DateTime<Utc>,
    ) -> Result<Option<InstallationToken>> {
        let Some(sealed) = self
            .store
            .load(installation)
            .await
            .map_err(GithubError::TokenStore)?
        else {
            return Ok(None);
        };
        let usable = InstallationToken {
            token: String::new(),
            expires_at: sealed.expires_at,
        };
        if !usable.fresh(now, self.margin) {
            return Ok(None);
        }
        // A stored token that no longer opens means the key changed: say so loudly, as
        // the brief for `CATALYST_ENCRYPTION_KEY` asks, rather than mint silently.
        let plain = self.key.open(&sealed.sealed, &context(installation))?;
        let token = String::from_utf8(plain).map_err(|_| {
            GithubError::Secrets(super::SecretsError::Corrupt("token is not UTF-8"))
        })?;
        Ok(Some(InstallationToken {
            token,
            expires_at: sealed.expires_at,
        }))
    }

    /// Forgets the token in memory (GitHub answered 401: it was revoked).
    pub(crate) async fn invalidate(&self, installation: InstallationId) {
        let slot = self.slot(installation);
        let mut cached = slot.lock().await;
        *cached = None;
        // Also make the stored one unusable, so a load does not bring it back.
        let expired = SealedToken {
            sealed: String::new(),
            expires_at: DateTime::<Utc>::MIN_UTC,
        };
        if let Err(e) = self.store.save(installation, &expired).await {
            tracing::warn!(%installation, error = %e, "cannot drop a revoked installation token");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn cache(store: Arc<MemoryTokenStore>) -> TokenCache {
        let key = EncryptionKey::from_bytes(&[9; 32]).unwrap();
        TokenCache::new(store, key, Duration::from_secs(300))
    }

    fn token(name: &str, minutes: i64) -> InstallationToken {
        InstallationToken {
            token: name.to_owned(),
            expires_at: Utc::now() + TimeDelta::minutes(minutes),
        }
    }

    #[tokio::test]
    async fn tokens_are_minted_once_and_stored_sealed() {
        let store = Arc::new(MemoryTokenStore::default());
        let cache = cache(store.clone());
        let mints = AtomicU32::new(0);
        for _ in 0..3 {
            let t = cache
                .get(InstallationId(5), || async {
                    mints.fetch_add(1, Ordering::SeqCst);
                    Ok(token("ghs_one", 60))
                })
                .await
                .unwrap();
            assert_eq!(t.token, "ghs_one");
        }
        assert_eq!(mints.load(Ordering::SeqCst), 1);
        let stored = store.get(InstallationId(5)).unwrap();
        assert!(!stored.sealed.contains("ghs_one"));

        // A restart: a new cache over the same store loads instead of minting.
        let again = super::tests::cache(store)
            .get(InstallationId(5), || async { Ok(token("ghs_two", 60)) })
            .await
            .unwrap();
        assert_eq!(again.token, "ghs_one");
    }

    #[tokio::test]
    async fn tokens_are_renewed_inside_the_margin() {
        let cache = cache(Arc::new(MemoryTokenStore::default()));
        let id = InstallationId(1);
        let first = cache.get(id, || async { Ok(token("old", 4)) }).await;
        assert_eq!(first.unwrap().token, "old");
        let second = cache.get(id, || async { Ok(token("new", 60)) }).await;
        assert_eq!(
            second.unwrap().token,
            "new",
            "4 minutes left < 5 minute margin"
        );
    }

    #[tokio::test]
    async fn a_token_sealed_with_another_key_is_a_clear_error() {
        let store = Arc::new(MemoryTokenStore::default());
        let id = InstallationId(1);
        cache(store.clone())
            .get(id, || async { Ok(token("t", 60)) })
            .await
            .unwrap();
        let other = TokenCache::new(
            store,
            EncryptionKey::from_bytes(&[1; 32]).unwrap(),
            Duration::from_secs(300),
        );
        let err = other
            .get(id, || async { Ok(token("u", 60)) })
            .await
            .unwrap_err();
        assert!(err.to_string().contains("CATALYST_ENCRYPTION_KEY"), "{err}");
    }

    #[tokio::test]
    async fn invalidated_tokens_are_minted_again() {
        let cache = cache(Arc::new(MemoryTokenStore::default()));
        let id = InstallationId(1);
        cache
            .get(id, || async { Ok(token("a", 60)) })
            .await
            .unwrap();
        cache.invalidate(id).await;
        let t = cache.get(id, || async { Ok(token("b", 60)) }).await;
        assert_eq!(t.unwrap().token, "b");
    }

    #[test]
    fn a_bad_pem_names_its_origin() {
        let err = AppCredentials::from_pem(1, b"nope", "/k.pem").unwrap_err();
        assert!(err.to_string().contains("/k.pem"), "{err}");
    }
}
