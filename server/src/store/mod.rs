//! Persistence: the SeaORM connection, migrations and the queries the service layer uses.
//! Functions here take a connection or transaction and never call out to HTTP, Kubernetes
//! or GitHub.

pub mod deployments;
pub mod engine;
pub mod entities;
pub mod environments;
pub mod github;
pub mod intake;
pub mod operator_requests;
pub mod repositories;
pub mod tokens;

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

/// A database failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    #[error("stored value is corrupt: {0}")]
    Corrupt(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Connection options for `url` with Catalyst's pool settings.
pub fn connect_options(url: &str) -> ConnectOptions {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.sqlx_logging(false)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(10));
    if url.starts_with("sqlite:") {
        // SQLite has one writer; a single connection serialises writes instead of
        // failing them with SQLITE_BUSY when transactions overlap.
        opts.max_connections(1).min_connections(1);
    } else {
        opts.max_connections(10);
    }
    opts
}

/// Opens the database.
pub async fn connect(opts: ConnectOptions) -> Result<DatabaseConnection> {
    Ok(Database::connect(opts).await?)
}

/// Applies all pending migrations.
pub async fn migrate(db: &DatabaseConnection) -> Result<()> {
    Ok(Migrator::up(db, None).await?)
}

/// How many migrations are not applied yet.
pub async fn pending_migrations(db: &DatabaseConnection) -> Result<usize> {
    Ok(Migrator::get_pending_migrations(db).await?.len())
}

/// New row id.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// JSON text of a string list (labels, values files, secrets).
pub fn encode_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".to_owned())
}

/// The string list stored by [`encode_list`].
pub fn decode_list(text: &str) -> Result<Vec<String>> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("string list: {e}")))
}
