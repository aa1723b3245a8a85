//! API tokens: created and revoked by `catalyst token …`, checked on every API request.
//! A token is shown once; only its SHA-256 is stored and requests are matched by hash.

use chrono::Utc;
use rand::RngCore;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use sha2::{Digest, Sha256};

use super::entities::api_token;
use super::{Result, StoreError, new_id};
use crate::core::domain::Role;

/// Why a token could not be created or revoked.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("a token named {0:?} already exists; revoke it first")]
    NameTaken(String),
    #[error("no active token named {0:?}")]
    NotFound(String),
    #[error("token name must be 1-64 characters of letters, digits, '.', '_' or '-'")]
    InvalidName,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sea_orm::DbErr> for TokenError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Store(e.into())
    }
}

/// Hex SHA-256 of a presented token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("cat_{}", hex::encode(bytes))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Creates a token and returns its plain text (the only time it exists outside the
/// caller's hands). A revoked token's name may be reused.
pub async fn create(
    db: &impl ConnectionTrait,
    name: &str,
    role: Role,
) -> Result<String, TokenError> {
    if !valid_name(name) {
        return Err(TokenError::InvalidName);
    }
    if let Some(existing) = api_token::Entity::find()
        .filter(api_token::Column::Name.eq(name))
        .one(db)
        .await?
    {
        if existing.revoked_at.is_none() {
            return Err(TokenError::NameTaken(name.to_owned()));
        }
        api_token::Entity::delete_by_id(existing.id)
            .exec(db)
            .await?;
    }
    let token = generate_token();
    api_token::ActiveModel {
        id: Set(new_id()),
        name: Set(name.to_owned()),
        role: Set(role.as_str().to_owned()),
        token_sha256: Set(token_hash(&token)),
        created_at: Set(Utc::now()),
        last_used_at: Set(None),
        revoked_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(token)
}

/// Revokes the active token called `name`.
pub async fn revoke(db: &impl ConnectionTrait, name: &str) -> Result<(), TokenError> {
    let token = api_token::Entity::find()
        .filter(api_token::Column::Name.eq(name))
        .filter(api_token::Column::RevokedAt.is_null())
        .one(db)
        .await?
        .ok_or_else(|| TokenError::NotFound(name.to_owned()))?;
    let mut active: api_token::ActiveModel = token.into();
    active.revoked_at = Set(Some(Utc::now()));
    active.update(db).await?;
    Ok(())
}

/// The caller a presented token belongs to, if it is known and not revoked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenOwner {
    pub name: String,
    pub role: Role,
}

/// Looks a presented token up by hash and records its use.
pub async fn authenticate(db: &impl ConnectionTrait, token: &str) -> Result<Option<TokenOwner>> {
    let Some(row) = api_token::Entity::find()
        .filter(api_token::Column::TokenSha256.eq(token_hash(token)))
        .filter(api_token::Column::RevokedAt.is_null())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let role = Role::parse(&row.role)
        .ok_or_else(|| StoreError::Corrupt(format!("token role {:?}", row.role)))?;
    let owner = TokenOwner {
        name: row.name.clone(),
        role,
    };
    // Recorded at minute precision: a write per request would serialise reads behind
    // SQLite's single writer for no useful information.
    let now = Utc::now();
    let stale = row
        .last_used_at
        .is_none_or(|t| now - t > chrono::TimeDelta::minutes(1));
    if stale {
        let mut active: api_token::ActiveModel = row.into();
        active.last_used_at = Set(Some(now));
        active.update(db).await?;
    }
    Ok(Some(owner))
}
