//! [`Db`]: the database handle every layer shares. On PostgreSQL it is one pool. On a
//! SQLite file it is two: the one connection that writes (SQLite has one writer, and a
//! single connection serialises writes instead of failing them with `SQLITE_BUSY`) and
//! a small pool of read-only connections beside it. In WAL mode readers run while a
//! write is in progress, so the scans that run beside every webhook (the engine's wake
//! pass, the publisher's passes) no longer queue in front of a delivery's intake on the
//! writer (BENCHMARKS.md: the acknowledgement tail was deliveries waiting behind reads).
//! A reader drops its page cache whenever another connection committed, so everything
//! else (reconciles, the dashboard, the API) reads on the writer, whose cache stays warm.
//!
//! WAL files are checkpointed (copied back into the database file) by a task of their
//! own, on a connection of its own, once a second: a commit that crosses SQLite's
//! automatic checkpoint threshold would otherwise copy and sync the file on the
//! writer, stalling every webhook queued behind it for two disk flushes.
//!
//! Only handles made by [`Db::background_reads`] use the readers. Their routing is by
//! statement: outside a transaction a `SELECT` goes to the readers and everything else
//! to the writer; a transaction is always on the writer, reads included, so it sees
//! its own writes. A read that starts after a write committed sees
//! that write (WAL readers take the newest committed snapshot per statement), which is
//! the same guarantee the single connection gave: statements of different tasks
//! interleaved there too.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{
    AccessMode, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction,
    DbBackend, DbErr, ExecResult, IsolationLevel, QueryResult, Statement, TransactionError,
    TransactionOptions, TransactionTrait,
};

/// Read-only connections beside the SQLite writer: enough that the engine's wake pass
/// and the publisher's passes read side by side on a small machine, few enough that
/// their threads do not crowd it.
const SQLITE_READERS: u32 = 4;

/// Prepared statements each read-only connection keeps (sqlx's default is 100). The
/// publisher's passes ask for "these N environments" with a list of N parameters, a
/// new statement text for every N, of 100 kB and more with 1,000 previews: a hundred
/// of them kept each reader's SQLite heap near 10 MB, 40 MB of the server's RSS
/// (BENCHMARKS.md). The fixed statements (the engine's wake pass) stay among the
/// recently used.
const READER_STATEMENTS: usize = 16;

/// How often the WAL is checkpointed without blocking anyone.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// WAL frames (pages) left after a passive checkpoint above which the next one waits
/// for readers and restarts the file: constant reads can keep a passive checkpoint from
/// ever finishing, and the WAL would grow without end. 16,384 pages are 64 MiB.
const WAL_FRAMES_BEFORE_TRUNCATE: i64 = 16_384;

/// The database: a writer and, on a SQLite file, read-only connections beside it.
#[derive(Clone, Debug)]
pub struct Db {
    write: DatabaseConnection,
    read: Option<DatabaseConnection>,
    /// Whether this handle sends reads to `read` ([`Db::background_reads`]).
    route_reads: bool,
    /// Stops the checkpointer when the last clone is dropped.
    _checkpointer: Option<Arc<Checkpointer>>,
}

/// The background WAL checkpointer's task.
#[derive(Debug)]
struct Checkpointer(tokio::task::JoinHandle<()>);

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Db {
    /// Opens the database `opts` names; on a SQLite file also its read-only pool.
    pub async fn connect(opts: ConnectOptions) -> Result<Self, DbErr> {
        let readers = sqlite_reader_options(&opts);
        let write = Database::connect(opts).await?;
        // After the writer: it creates the file and switches it to WAL, which read-only
        // connections cannot do.
        let Some((readers, checkpointer)) = readers else {
            return Ok(Self::from(write));
        };
        let read = Database::connect(readers).await?;
        let checkpointer = Database::connect(checkpointer).await?;
        let task = tokio::spawn(checkpoint_loop(checkpointer));
        Ok(Self {
            write,
            read: Some(read),
            route_reads: false,
            _checkpointer: Some(Arc::new(Checkpointer(task))),
        })
    }

    /// This database for scans that run beside the webhook intake (the engine's wake
    /// pass, the publisher's passes): their reads go to the read-only connections, so a
    /// delivery never waits behind them on the writer. Other work reads on the writer,
    /// whose page cache stays warm: a read-only connection drops its cache whenever
    /// another connection committed, which made the dashboard's page 50 % slower with
    /// 1,000 deployed previews (BENCHMARKS.md).
    pub fn background_reads(&self) -> Self {
        Self {
            route_reads: self.read.is_some(),
            ..self.clone()
        }
    }

    /// The writing connection, for what needs a `DatabaseConnection` itself (migrations).
    pub fn writer(&self) -> &DatabaseConnection {
        &self.write
    }

    /// Checks both sides answer.
    pub async fn ping(&self) -> Result<(), DbErr> {
        self.write.ping().await?;
        if let Some(read) = &self.read {
            read.ping().await?;
        }
        Ok(())
    }

    /// Closes every connection.
    pub async fn close(self) -> Result<(), DbErr> {
        if let Some(read) = self.read {
            read.close().await?;
        }
        self.write.close().await
    }

    fn for_query(&self, stmt: &Statement) -> &DatabaseConnection {
        match &self.read {
            Some(read) if self.route_reads && is_read_only(&stmt.sql) => read,
            _ => &self.write,
        }
    }
}

impl From<DatabaseConnection> for Db {
    /// One connection (pool) for everything, and no checkpointer: for PostgreSQL and
    /// in-memory SQLite ([`Db::connect`] sets up a SQLite file).
    fn from(write: DatabaseConnection) -> Self {
        Self {
            write,
            read: None,
            route_reads: false,
            _checkpointer: None,
        }
    }
}

/// For the SQLite file `opts` opens: options of its read-only pool and of its
/// checkpointer's connection. `None` for other databases and for in-memory SQLite, whose
/// every connection is a database of its own.
fn sqlite_reader_options(opts: &ConnectOptions) -> Option<(ConnectOptions, ConnectOptions)> {
    let url = opts.get_url();
    if !url.starts_with("sqlite:") || url.contains(":memory:") || url.contains("mode=memory") {
        return None;
    }
    let side = |connections: u32| {
        let mut o = ConnectOptions::new(url.to_owned());
        o.sqlx_logging(false)
            .connect_timeout(Duration::from_secs(5))
            .acquire_timeout(Duration::from_secs(10))
            .max_connections(connections)
            .min_connections(1)
            // No ping before each checkout: a file cannot hang up (as the writer).
            .test_before_acquire(false);
        o
    };
    let mut read = side(SQLITE_READERS);
    read.map_sqlx_sqlite_opts(|o| {
        // No journal mode: the writer set WAL on the file, and a read-only connection
        // may not change it.
        o.read_only(true)
            .create_if_missing(false)
            .busy_timeout(Duration::from_secs(5))
            .statement_cache_capacity(READER_STATEMENTS)
    });
    let mut checkpoint = side(1);
    checkpoint.map_sqlx_sqlite_opts(|o| {
        o.create_if_missing(false)
            .busy_timeout(Duration::from_secs(5))
    });
    Some((read, checkpoint))
}

/// Checkpoints the WAL every [`CHECKPOINT_EVERY`]: passively (it copies what no reader
/// still needs and waits for nobody), and with a restart of the file when a passive one
/// left more than [`WAL_FRAMES_BEFORE_TRUNCATE`] frames behind.
async fn checkpoint_loop(conn: DatabaseConnection) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let backend = conn.get_database_backend();
    let checkpoint = |mode: &'static str| {
        let conn = &conn;
        async move {
            let sql = format!("PRAGMA wal_checkpoint({mode})");
            let row = conn
                .query_one_raw(Statement::from_string(backend, sql))
                .await?;
            // (busy, log, checkpointed): frames in the WAL and frames copied back.
            let left = row
                .map(|r| -> Result<i64, DbErr> {
                    Ok(r.try_get_by_index::<i64>(1)? - r.try_get_by_index::<i64>(2)?)
                })
                .transpose()?
                .unwrap_or(0);
            Ok::<i64, DbErr>(left)
        }
    };
    loop {
        tick.tick().await;
        match checkpoint("PASSIVE").await {
            Ok(left) if left > WAL_FRAMES_BEFORE_TRUNCATE => {
                tracing::info!(
                    frames = left,
                    "WAL checkpoint falls behind; restarting the WAL"
                );
                if let Err(e) = checkpoint("TRUNCATE").await {
                    tracing::warn!(error = %e, "WAL checkpoint (truncate) failed");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
        }
    }
}

/// Whether `sql` only reads: a plain `SELECT` (a locking `SELECT … FOR UPDATE` is a
/// write's first step and stays on the writer).
fn is_read_only(sql: &str) -> bool {
    let sql = sql.trim_start();
    sql.get(..6)
        .is_some_and(|k| k.eq_ignore_ascii_case("select"))
        && !sql.to_ascii_uppercase().contains(" FOR UPDATE")
}

#[async_trait::async_trait]
impl ConnectionTrait for Db {
    fn get_database_backend(&self) -> DbBackend {
        self.write.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.write.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.write.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.for_query(&stmt).query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.for_query(&stmt).query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.write.support_returning()
    }
}

#[async_trait::async_trait]
impl TransactionTrait for Db {
    type Transaction = DatabaseTransaction;

    async fn begin(&self) -> Result<DatabaseTransaction, DbErr> {
        self.write.begin().await
    }

    async fn begin_with_config(
        &self,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<DatabaseTransaction, DbErr> {
        self.write
            .begin_with_config(isolation_level, access_mode)
            .await
    }

    async fn begin_with_options(
        &self,
        options: TransactionOptions,
    ) -> Result<DatabaseTransaction, DbErr> {
        self.write.begin_with_options(options).await
    }

    async fn transaction<F, T, E>(&self, callback: F) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(
                &'c DatabaseTransaction,
            )
                -> std::pin::Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
            + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        self.write.transaction(callback).await
    }

    async fn transaction_with_config<F, T, E>(
        &self,
        callback: F,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(
                &'c DatabaseTransaction,
            )
                -> std::pin::Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
            + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        self.write
            .transaction_with_config(callback, isolation_level, access_mode)
            .await
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, Statement, TransactionTrait};

    use super::*;

    #[test]
    fn only_plain_selects_are_reads() {
        for read in [
            "SELECT 1",
            "  select \"id\" FROM \"t\"",
            "SELECT COUNT(*) FROM (SELECT 1) AS x",
        ] {
            assert!(is_read_only(read), "{read}");
        }
        for write in [
            "INSERT INTO t VALUES (1) RETURNING id",
            "UPDATE t SET a = 1 RETURNING *",
            "DELETE FROM t",
            "SELECT * FROM t WHERE id = 1 FOR UPDATE",
            "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x",
            "SEL",
            "",
        ] {
            assert!(!is_read_only(write), "{write}");
        }
    }

    #[test]
    fn only_sqlite_files_get_readers() {
        let readers = |url: &str| sqlite_reader_options(&ConnectOptions::new(url)).is_some();
        assert!(readers("sqlite://catalyst.db?mode=rwc"));
        assert!(readers("sqlite:/var/lib/catalyst/c.db"));
        assert!(!readers("sqlite::memory:"));
        assert!(!readers("sqlite://file.db?mode=memory&cache=shared"));
        assert!(!readers("postgres://u@db/catalyst"));
    }

    /// The readers see what the writer committed, and nothing of a transaction until it
    /// commits; a write sent through the router never reaches a read-only connection.
    #[tokio::test]
    async fn reads_beside_the_writer_see_committed_state() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("c.db").display());
        let db = Db::connect(crate::store::connect_options(&url))
            .await
            .unwrap()
            .background_reads();
        assert!(db.read.is_some() && db.route_reads);
        let backend = db.get_database_backend();
        db.execute_unprepared("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
            .await
            .unwrap();
        let count = |db: Db| async move {
            let row = db
                .query_one_raw(Statement::from_string(
                    backend,
                    "SELECT COUNT(*) AS n FROM t",
                ))
                .await
                .unwrap()
                .unwrap();
            row.try_get::<i64>("", "n").unwrap()
        };
        db.execute_raw(Statement::from_string(
            backend,
            "INSERT INTO t (v) VALUES ('a')",
        ))
        .await
        .unwrap();
        assert_eq!(count(db.clone()).await, 1);

        let txn = db.begin().await.unwrap();
        txn.execute_unprepared("INSERT INTO t (v) VALUES ('b')")
            .await
            .unwrap();
        // Inside the transaction its own write is visible; outside it is not yet.
        let inside = txn
            .query_one_raw(Statement::from_string(
                backend,
                "SELECT COUNT(*) AS n FROM t",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap();
        assert_eq!(inside, 2);
        assert_eq!(count(db.clone()).await, 1, "a reader saw uncommitted data");
        txn.commit().await.unwrap();
        assert_eq!(count(db.clone()).await, 2);

        // A RETURNING insert is a query, and must still go to the writer.
        let returned = db
            .query_one_raw(Statement::from_string(
                backend,
                "INSERT INTO t (v) VALUES ('c') RETURNING id",
            ))
            .await
            .unwrap();
        assert!(returned.is_some());
        assert_eq!(count(db.clone()).await, 3);
        db.close().await.unwrap();
    }

    /// The bundled SQLite is built as `.cargo/config.toml` asks: with the query planner
    /// stability guarantee (without it every `.one()`, a bound `LIMIT`, is re-prepared
    /// on each execution), and without the memory statistics and shared page cache that
    /// put every connection's allocations and page fetches behind global locks.
    #[tokio::test]
    async fn sqlite_is_built_with_the_options_catalyst_asks_for() {
        let db = Db::connect(crate::store::connect_options("sqlite::memory:"))
            .await
            .unwrap();
        let options: Vec<String> = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT compile_options FROM pragma_compile_options",
            ))
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get_by_index::<String>(0).unwrap())
            .collect();
        let has = |o: &str| options.iter().any(|x| x == o);
        assert!(has("ENABLE_QPSG"), "{options:?}");
        assert!(has("DEFAULT_MEMSTATUS=0"), "{options:?}");
        assert!(!has("ENABLE_MEMORY_MANAGEMENT"), "{options:?}");
    }

    /// The writer leaves its pages in the WAL (it never checkpoints itself); the
    /// checkpointer copies them into the database file within about a second.
    ///
    /// The file is judged by an absolute size, not by its growth since some earlier
    /// reading: the checkpointer runs at any moment, and a reading taken after it had
    /// copied the table's creation (two pages) once made the blob's 97 pages look like
    /// too little growth, failing the test with the WAL checkpointed.
    #[tokio::test]
    async fn the_wal_is_checkpointed_off_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let db = Db::connect(crate::store::connect_options(&url))
            .await
            .unwrap();
        let backend = db.get_database_backend();
        let autocheckpoint = db
            .query_one_raw(Statement::from_string(backend, "PRAGMA wal_autocheckpoint"))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index::<i64>(0)
            .unwrap();
        assert_eq!(autocheckpoint, 0, "the writer checkpoints on commit");
        db.execute_unprepared("CREATE TABLE t (v BLOB NOT NULL)")
            .await
            .unwrap();
        // Schema and table root: two pages, far below the blob's size.
        let in_file = || std::fs::metadata(&path).unwrap().len();
        assert!(in_file() < 100_000, "{} bytes before the blob", in_file());
        db.execute_unprepared("INSERT INTO t (v) VALUES (zeroblob(400000))")
            .await
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while in_file() < 400_000 {
            assert!(
                std::time::Instant::now() < deadline,
                "the WAL was not checkpointed within 10 s ({} bytes in the file)",
                in_file()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        db.close().await.unwrap();
    }
}
