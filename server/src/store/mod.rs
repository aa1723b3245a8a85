//! Persistence: the SeaORM connection, migrations and the queries the service layer uses.
//! Functions here take a connection or transaction and never call out to HTTP, Kubernetes
//! or GitHub.

mod database;
pub mod deployments;
pub mod engine;
pub mod entities;
pub mod environments;
pub mod github;
pub mod intake;
pub mod intake_batch;
pub mod intake_queue;
pub mod leases;
pub mod operator_requests;
pub mod pull_request_configs;
pub mod repositories;
pub mod tokens;
pub mod world;

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, DbErr};

pub use database::Db;

/// A database failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    #[error("stored value is corrupt: {0}")]
    Corrupt(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Connection options for `url` with Catalyst's pool settings. A PostgreSQL password is
/// handed to the driver apart from the URL: sea-orm records its options, URL included,
/// in a trace span, and a password must never reach the logs.
pub fn connect_options(url: &str) -> ConnectOptions {
    let (url, password) = split_password(url);
    let mut opts = ConnectOptions::new(url.clone());
    if let Some(password) = password {
        opts.map_sqlx_postgres_opts(move |o| o.password(&password));
    }
    opts.sqlx_logging(false)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(10));
    if url.starts_with("sqlite:") {
        // SQLite has one writer; a single connection serialises writes instead of
        // failing them with SQLITE_BUSY when transactions overlap.
        opts.max_connections(1).min_connections(1);
        // A file cannot hang up: sqlx's default ping before every checkout was one more
        // round trip to the connection's thread per statement, for nothing.
        opts.test_before_acquire(false);
        // A rollback journal waits for the disk twice per commit (7 ms each here, which
        // capped webhook intake near 140/s, see BENCHMARKS.md). WAL with `NORMAL`
        // sync commits in microseconds and stays consistent after a crash; a power cut
        // may lose the last commits, which GitHub's redelivery and the sweep heal.
        opts.map_sqlx_sqlite_opts(|o| {
            use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                // The writer never checkpoints: `Db` does, on a connection of its own
                // (a checkpoint inside a commit stalled every webhook behind it).
                .pragma("wal_autocheckpoint", "0")
        });
    } else {
        // PostgreSQL connections keep sqlx's ping before every checkout: after a server
        // restart or failover every pooled connection is dead, and without the ping each
        // would fail one request (a webhook answered 500) before being replaced
        // (`replicas` test `a_database_outage_refuses_webhooks_until_it_is_back`).
        opts.max_connections(10);
    }
    opts
}

/// A PostgreSQL URL without its password, and the password (percent-decoded). Other
/// URLs are returned as they are.
fn split_password(url: &str) -> (String, Option<String>) {
    let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    else {
        return (url.to_owned(), None);
    };
    let scheme = &url[..url.len() - rest.len()];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return (url.to_owned(), None);
    };
    let Some((user, password)) = authority[..at].split_once(':') else {
        return (url.to_owned(), None);
    };
    let without = format!("{scheme}{user}{}", &rest[at..]);
    (without, Some(percent_decode(password)))
}

fn percent_decode(text: &str) -> String {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.as_bytes().iter();
    while let Some(&b) = bytes.next() {
        let escaped = (b == b'%')
            .then(|| bytes.as_slice().get(..2))
            .flatten()
            .and_then(|pair| hex::decode(pair).ok());
        match escaped {
            Some(decoded) => {
                out.extend(decoded);
                bytes.nth(1);
            }
            None => out.push(b),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Opens the database (on a SQLite file, with read-only connections beside the writer:
/// see [`Db`]).
pub async fn connect(opts: ConnectOptions) -> Result<Db> {
    Ok(Db::connect(opts).await?)
}

/// Applies all pending migrations.
pub async fn migrate(db: &Db) -> Result<()> {
    Ok(Migrator::up(db.writer(), None).await?)
}

/// How many migrations are not applied yet.
pub async fn pending_migrations(db: &Db) -> Result<usize> {
    Ok(Migrator::get_pending_migrations(db.writer()).await?.len())
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

#[cfg(test)]
mod connect_options_tests {
    use super::*;

    #[test]
    fn postgres_passwords_travel_apart_from_the_url() {
        assert_eq!(
            split_password("postgres://catalyst:s%40cr%2Fet@db:5432/catalyst?sslmode=require"),
            (
                "postgres://catalyst@db:5432/catalyst?sslmode=require".to_owned(),
                Some("s@cr/et".to_owned())
            )
        );
        assert_eq!(
            split_password("postgresql://u:p@db"),
            ("postgresql://u@db".to_owned(), Some("p".to_owned()))
        );
        for plain in [
            "postgres://u@db/x",
            "sqlite://c.db?mode=rwc",
            "postgres://db/x",
        ] {
            assert_eq!(split_password(plain), (plain.to_owned(), None));
        }
        let opts = connect_options("postgres://u:s3cret@db/x");
        assert!(!format!("{opts:?}").contains("s3cret"));
    }

    #[test]
    fn connections_are_pinged_only_where_they_can_be_lost() {
        let sqlite = connect_options("sqlite://c.db?mode=rwc");
        assert!(!sqlite.get_test_before_acquire());
        assert_eq!(sqlite.get_test_before_acquire_if_idle_for(), None);
        let postgres = connect_options("postgres://u@db/x");
        assert!(postgres.get_test_before_acquire());
    }
}
