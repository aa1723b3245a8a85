//! A fresh database per test, shared by the test binaries: a SQLite file in a temporary
//! folder, or a new `t_<uuid>` schema of the PostgreSQL at `CATALYST_TEST_POSTGRES_URL`
//! (default 127.0.0.1:5432/test) that [`DbGuard::drop_schema`] removes afterwards.

use catalyst_server::store;
use catalyst_server::store::Db;
use sea_orm::ConnectionTrait;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates `mod $name { sqlite, postgres }` test functions calling `$name(backend)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::test_db::Backend::Sqlite).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::test_db::Backend::Postgres).await;
                }
            }
        )*
    };
}

/// Keeps a test's database alive and removes it afterwards.
pub enum DbGuard {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin: Db, schema: String },
}

impl DbGuard {
    /// Closes `db` and drops the test's Postgres schema (a SQLite folder goes on drop).
    pub async fn drop_schema(self, db: &Db) {
        if let DbGuard::Postgres { admin, schema } = self {
            let _ = db.clone().close().await;
            let _ = admin
                .execute_unprepared(&format!("DROP SCHEMA {schema} CASCADE"))
                .await;
        }
    }
}

fn postgres_url() -> String {
    std::env::var("CATALYST_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A fresh database with a pool of at most `max_connections`, migrated when `migrate`.
pub async fn fresh_database(
    backend: Backend,
    migrate: bool,
    max_connections: u32,
) -> (Db, DbGuard) {
    let (db, guard) = match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("catalyst.db").display()
            );
            let db = store::connect(store::connect_options(&url)).await.unwrap();
            (db, DbGuard::Sqlite(dir))
        }
        Backend::Postgres => {
            let url = postgres_url();
            let mut admin_opts = store::connect_options(&url);
            admin_opts.max_connections(1).min_connections(0);
            let admin = store::connect(admin_opts).await.unwrap_or_else(|e| {
                panic!("PostgreSQL at {url} is needed for the postgres tests: {e}")
            });
            let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
            admin
                .execute_unprepared(&format!("CREATE SCHEMA {schema}"))
                .await
                .unwrap();
            let mut opts = store::connect_options(&url);
            opts.max_connections(max_connections)
                .min_connections(0)
                .set_schema_search_path(schema.clone());
            let db = store::connect(opts).await.unwrap();
            (db, DbGuard::Postgres { admin, schema })
        }
    };
    if migrate {
        store::migrate(&db).await.unwrap();
    }
    (db, guard)
}
