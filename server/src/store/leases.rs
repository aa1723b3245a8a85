//! Work leases in the database: a named piece of work (one environment's reconcile, the
//! admission lock) belongs to one replica at a time, until the lease's expiry. Holders
//! renew while they work; a replica that dies simply stops renewing, and once the expiry
//! has passed any other replica may take the lease over and continue from what is
//! recorded.
//!
//! On PostgreSQL a claim reads the row with `SELECT … FOR UPDATE SKIP LOCKED` inside a
//! transaction, so replicas racing for the same row never wait on each other: the loser
//! sees no row and counts the lease as busy. SQLite serves a single process (one
//! connection), where a conditional `UPDATE … WHERE holder = me OR expired` is enough.
//!
//! Expiry times come from the claiming replica's clock; the lease duration must exceed
//! the clock skew between replicas (seconds against a default of 15 s).

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter,
    QuerySelect, Set, TransactionTrait, TryInsertResult,
};

use super::{Db, Result};

/// The `work_leases` table.
pub mod work_lease {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "work_leases")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        /// The replica holding the lease; `None` once released.
        pub holder: Option<String>,
        /// The lease is free for others from this moment on.
        pub expires_at: DateTimeUtc,
        /// When the current holder took it (kept across renewals).
        pub acquired_at: Option<DateTimeUtc>,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use work_lease::{ActiveModel, Column, Entity};

/// The lease name of one environment's reconcile.
pub fn environment(environment_id: &str) -> String {
    format!("environment/{environment_id}")
}

/// The answer to a claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The caller holds the lease until `expires_at`.
    Held { expires_at: DateTime<Utc> },
    /// Someone else holds it (`None`: another replica is claiming it this instant).
    Busy { holder: Option<String> },
}

impl Claim {
    pub fn is_held(&self) -> bool {
        matches!(self, Self::Held { .. })
    }
}

fn expiry(now: DateTime<Utc>, ttl: Duration) -> DateTime<Utc> {
    now + TimeDelta::from_std(ttl).unwrap_or(TimeDelta::seconds(15))
}

fn claimable(row: &work_lease::Model, holder: &str, now: DateTime<Utc>) -> bool {
    row.holder.is_none() || row.holder.as_deref() == Some(holder) || row.expires_at <= now
}

/// Takes (or renews) lease `name` for `holder` for `ttl`, unless another holder's lease
/// is still running.
pub async fn claim(db: &Db, name: &str, holder: &str, ttl: Duration) -> Result<Claim> {
    let now = Utc::now();
    let expires_at = expiry(now, ttl);
    let fresh = ActiveModel {
        name: Set(name.to_owned()),
        holder: Set(Some(holder.to_owned())),
        expires_at: Set(expires_at),
        acquired_at: Set(Some(now)),
        updated_at: Set(now),
    };
    // The first claim of a name creates its row; afterwards the row is only updated.
    if let TryInsertResult::Inserted(n) = Entity::insert(fresh)
        .on_conflict_do_nothing()
        .exec_without_returning(db)
        .await?
        && n > 0
    {
        return Ok(Claim::Held { expires_at });
    }
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return claim_conditionally(db, name, holder, now, expires_at).await;
    }
    let txn = db.begin().await?;
    let row = Entity::find_by_id(name.to_owned())
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .one(&txn)
        .await?;
    let claim = match row {
        // Locked by a replica claiming it right now (or deleted meanwhile): busy.
        None => Claim::Busy { holder: None },
        Some(row) if !claimable(&row, holder, now) => Claim::Busy { holder: row.holder },
        Some(row) => {
            let acquired_at = if row.holder.as_deref() == Some(holder) && row.expires_at > now {
                row.acquired_at
            } else {
                Some(now)
            };
            Entity::update_many()
                .col_expr(Column::Holder, Expr::value(holder))
                .col_expr(Column::ExpiresAt, Expr::value(expires_at))
                .col_expr(Column::AcquiredAt, Expr::value(acquired_at))
                .col_expr(Column::UpdatedAt, Expr::value(now))
                .filter(Column::Name.eq(name))
                .exec(&txn)
                .await?;
            Claim::Held { expires_at }
        }
    };
    txn.commit().await?;
    Ok(claim)
}

/// SQLite: one process, so a single conditional update decides.
async fn claim_conditionally(
    db: &impl ConnectionTrait,
    name: &str,
    holder: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<Claim> {
    let updated = Entity::update_many()
        .col_expr(Column::Holder, Expr::value(holder))
        .col_expr(Column::ExpiresAt, Expr::value(expires_at))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Name.eq(name))
        .filter(
            Condition::any()
                .add(Column::Holder.is_null())
                .add(Column::Holder.eq(holder))
                .add(Column::ExpiresAt.lte(now)),
        )
        .exec(db)
        .await?;
    if updated.rows_affected > 0 {
        return Ok(Claim::Held { expires_at });
    }
    let holder = Entity::find_by_id(name.to_owned())
        .one(db)
        .await?
        .and_then(|r| r.holder);
    Ok(Claim::Busy { holder })
}

/// Extends `holder`'s lease; `false` when it is not (or no longer) theirs.
pub async fn renew(
    db: &impl ConnectionTrait,
    name: &str,
    holder: &str,
    ttl: Duration,
) -> Result<bool> {
    let now = Utc::now();
    let updated = Entity::update_many()
        .col_expr(Column::ExpiresAt, Expr::value(expiry(now, ttl)))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Name.eq(name))
        .filter(Column::Holder.eq(holder))
        .exec(db)
        .await?;
    Ok(updated.rows_affected > 0)
}

/// Gives the lease up at once, if `holder` still has it.
pub async fn release(db: &impl ConnectionTrait, name: &str, holder: &str) -> Result<()> {
    let now = Utc::now();
    Entity::update_many()
        .col_expr(Column::Holder, Expr::value(Option::<String>::None))
        .col_expr(Column::ExpiresAt, Expr::value(now))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Name.eq(name))
        .filter(Column::Holder.eq(holder))
        .exec(db)
        .await?;
    Ok(())
}

/// Names whose lease `holder` has and that have not expired.
pub async fn held_by(db: &impl ConnectionTrait, holder: &str) -> Result<Vec<String>> {
    Ok(Entity::find()
        .filter(Column::Holder.eq(holder))
        .filter(Column::ExpiresAt.gt(Utc::now()))
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.name)
        .collect())
}

/// Every lease row (for operators and tests).
pub async fn all(db: &impl ConnectionTrait) -> Result<Vec<work_lease::Model>> {
    Ok(Entity::find().all(db).await?)
}
