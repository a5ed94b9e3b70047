//! The store: every SQL statement tlswatch runs, one set for SQLite and PostgreSQL.
//!
//! Statements are written once in the SQL both databases share (`$n` placeholders,
//! `on conflict … do update`, `returning`, `cast(… as bigint)` around aggregates) and run through
//! sqlx's `Any` driver. Only the migrations differ per backend (`migrations/sqlite`,
//! `migrations/postgres`), where the DDL must.

mod alert_changes;
pub mod alerts;
mod auth;
pub mod checks;
mod domains;
mod mailboxes;
mod maintenance;
pub mod orgs;
pub mod partitions;
pub mod policies;
mod quarantine;
mod rebuilds;
mod reports;
mod rows;
mod sealing;
mod stats;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, ConnectOptions, Executor, Transaction};
use tokio::sync::{Mutex, MutexGuard};

pub use auth::{AuditEntry, DbSessionStore, SessionWithUser, Token, TokenCaller, User};
pub use mailboxes::{Mailbox, MailboxOAuth, MailboxTotals, PollErrorKind};
pub use orgs::{Claim, Org, DEFAULT_ORG};
pub use quarantine::{NewRejected, QuarantineQuota, Rejected};
pub use reports::{DomainPolicy, NewReport, StoreOutcome};
pub use stats::{
    DailyTotals, DomainStats, DomainTotals, PolicySeen, ReportFilter, ReportSummary, WeekSplit,
};

/// Which database the store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file (the default).
    Sqlite,
    /// PostgreSQL server (several instances can share it).
    Postgres,
}

/// Handle to the database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    /// SQLite: one connection of its own for write transactions, so a writer never queues
    /// behind readers for a pooled connection (SQLite has one writer at a time anyway).
    /// PostgreSQL, and SQLite in memory: the same pool.
    writer: AnyPool,
    backend: Backend,
    // SQLite allows one writer at a time; taking this lock before a write transaction avoids
    // SQLITE_BUSY on lock upgrades. It holds the writer connection between transactions
    // ([`Writer`]). PostgreSQL writers do not take it.
    write_lock: Arc<Mutex<Writer>>,
    /// SQLite: the background checkpointer's connection ([`spawn_checkpointer`]).
    checkpointer: Option<AnyPool>,
    /// SQLite: tells the background checkpointer that the write-ahead log grew.
    wal_written: Option<tokio::sync::mpsc::Sender<()>>,
    /// SQLite on a file: makes the writer's commits durable ([`Store::durable`]).
    wal_sync: Option<Arc<WalSync>>,
    quarantine_quota: QuarantineQuota,
    sealer: Option<Arc<crate::secrets::Sealer>>,
    /// Months whose report partitions are known to exist (PostgreSQL).
    months: Arc<std::sync::Mutex<std::collections::HashSet<i64>>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish()
    }
}

/// The SQLite writer connection, kept checked out of its pool under the write lock. Returned to
/// the pool after each transaction, sqlx tests it on the way back (a spawned task, then a ping:
/// a hand-off to the connection's thread and back) before the next writer can have it; kept,
/// the next transaction begins at once.
#[derive(Default)]
pub(crate) struct Writer {
    conn: Option<sqlx::pool::PoolConnection<Any>>,
    /// The last `BEGIN` on `conn` failed: a fresh connection is taken for the next one.
    failed: bool,
}

impl Drop for Writer {
    fn drop(&mut self) {
        // sqlx takes a pooled connection back through a task, and outside a runtime (the last
        // handle of a store dropped after its runtime ended) that panics: the connection is
        // closed here instead.
        if tokio::runtime::Handle::try_current().is_err() {
            if let Some(conn) = self.conn.take() {
                drop(conn.detach());
            }
        }
    }
}

/// The fsync of the write-ahead log, off the write turn. The writer connection commits with
/// `synchronous = normal`: its transaction is in the log (every other connection sees it)
/// but not yet on disk. [`Store::durable`] then fsyncs the log, and no caller answers or acts
/// on a write before that: the durability of `synchronous = full` (a report answered 200
/// survives power loss), while the next transaction is already being written during the
/// fsync, and one fsync covers every commit made before it began (group fsync).
///
/// Checkpoints and restarts of the log are SQLite's with `synchronous = normal`: the log is
/// synced before a checkpoint copies it, the database file after, and the log's header when
/// it starts again from the beginning; a transaction no longer in the log is in the synced
/// database file.
pub(crate) struct WalSync {
    /// The write-ahead log, `<database>-wal`.
    path: std::path::PathBuf,
    /// Tickets taken, each after a commit ([`Store::durable`]).
    taken: std::sync::atomic::AtomicU64,
    /// Every ticket up to this one is durable.
    done: std::sync::atomic::AtomicU64,
    /// One fsync at a time; its holder syncs for every ticket taken before it began.
    turn: Mutex<()>,
}

/// This process's SQLite write turn ([`Store::write_guard`]); empty on PostgreSQL.
pub(crate) struct WriteTurn<'a>(Option<MutexGuard<'a, Writer>>);

/// Longest a writer waits for this process's SQLite write turn.
const WRITE_WAIT: Duration = Duration::from_secs(30);

/// How long after a write the background checkpointer moves the write-ahead log into the
/// database file: the writes of that time (about 20 group commits under load) are copied once.
const CHECKPOINT_DELAY: Duration = Duration::from_millis(100);

/// Frames (pages) of write-ahead log from which the background checkpointer finishes its copy
/// holding the write turn, so that the log starts again from the beginning (16 MiB).
const RESTART_FRAMES: i64 = 4_096;

/// Frames the background checkpointer leaves for its copy under the write turn.
const CATCH_UP_FRAMES: i64 = 256;

/// Pages of write-ahead log after which the writer checkpoints in its own commit, should the
/// background checkpointer fall behind (SQLite's default is 1,000 pages, about 4 MiB).
const WRITER_AUTOCHECKPOINT: u32 = 10_000;

/// SQLite's checkpoints, off the writer's path. With SQLite's own automatic checkpoint the
/// committing writer copies the log into the database file every 1,000 pages and fsyncs it,
/// and every report in that group commit waits for it (a third of the receiver's commit
/// time). Here a connection of its own copies the log in the background ("passive": beside
/// the writer, which keeps appending), then once more holding the process's write turn, so
/// the copy finishes (only what was appended meanwhile is left) and the next writer starts
/// the log from the beginning again: the log stays bounded under continuous writes. Ends
/// when every handle of the store is gone.
fn spawn_checkpointer(
    checkpointer: AnyPool,
    write_lock: std::sync::Weak<Mutex<Writer>>,
) -> tokio::sync::mpsc::Sender<()> {
    let (wal_written, mut rx) = tokio::sync::mpsc::channel::<()>(1);
    tokio::spawn(async move {
        // (busy, frames in the log, frames copied)
        let passive = || {
            sqlx::query_as::<_, (i64, i64, i64)>("pragma wal_checkpoint(passive)")
                .fetch_one(&checkpointer)
        };
        while rx.recv().await.is_some() {
            tokio::time::sleep(CHECKPOINT_DELAY).await;
            let _ = rx.try_recv();
            let Some(lock) = write_lock.upgrade() else {
                break;
            };
            let done = async {
                let (_, mut log, mut copied) = passive().await?;
                if log >= RESTART_FRAMES {
                    // Again while the writer appended more than a little during the copy, so
                    // that what is left for the write turn (writers wait) is short.
                    for _ in 0..3 {
                        if log - copied <= CATCH_UP_FRAMES {
                            break;
                        }
                        (_, log, copied) = passive().await?;
                    }
                    let _turn = lock.lock().await;
                    passive().await?;
                }
                Ok::<_, sqlx::Error>(())
            };
            if let Err(e) = done.await {
                if checkpointer.is_closed() {
                    break;
                }
                tracing::warn!(error = %e, "checkpointing the SQLite write-ahead log failed; the writer checkpoints instead");
            }
        }
        checkpointer.close().await;
    });
    wal_written
}

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

impl Store {
    /// Connects to `url` (`sqlite://…` or `postgres://…`), creating a SQLite file (and its
    /// directory) when missing, and applies the migrations.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        Self::connect_within(url, max_connections, Duration::from_secs(30)).await
    }

    /// [`Store::connect`], giving up on a connection after `timeout` (the doctor, restore).
    pub async fn connect_within(
        url: &str,
        max_connections: u32,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            anyhow::bail!(
                "unsupported database URL (use sqlite://PATH or postgres://…): {}",
                redact(url)
            );
        };
        let url = match backend {
            Backend::Sqlite => prepare_sqlite_url(url)?,
            Backend::Postgres => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url)
            .with_context(|| format!("invalid database URL {}", redact(&url)))?
            .log_statements(tracing::log::LevelFilter::Trace)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500));
        // SQLite page cache per connection, in KiB (filled as pages are read, so an idle
        // server stays small). The writer's is larger: inserting reports updates
        // indexes at random places (the dedup key, domains), and with SQLite's default of
        // 2 MiB every batch re-read most of their pages from the OS.
        let pool_options = |max: u32, cache_kib: u32, writer: bool| {
            AnyPoolOptions::new()
                .max_connections(max)
                .acquire_timeout(timeout)
                // A SQLite connection is a file handle in this process, not a socket that can
                // be dropped under it: a ping before every use is one more hand-off to its
                // thread and back for nothing. PostgreSQL's connections are checked.
                .test_before_acquire(backend == Backend::Postgres)
                .after_connect(move |conn, _meta| {
                    Box::pin(async move {
                        if backend == Backend::Sqlite {
                            // WAL: readers never block the writer. synchronous=FULL: a committed
                            // report survives power loss, so "200 OK" from the receiver means
                            // stored. The writer's own connection commits with NORMAL and its
                            // callers wait for the log's fsync instead ([`WalSync`]).
                            let sync = if writer { "normal" } else { "full" };
                            conn.execute(format!("pragma journal_mode = wal; pragma synchronous = {sync}; pragma foreign_keys = on; pragma busy_timeout = 10000; pragma cache_size = -{cache_kib};").as_str())
                                .await?;
                            if writer {
                                // The statement journal (each multi-row insert or upsert keeps
                                // the pages it changes, to undo the statement alone) stays in
                                // memory instead of spilling to a temporary file past 64 KiB:
                                // with small group commits that was a file created, written
                                // and deleted per transaction, 15 % of the writer's time.
                                // Bounded by one statement's pages; readers keep temporary
                                // files for their large sorts.
                                conn.execute(
                                    format!("pragma temp_store = memory; pragma wal_autocheckpoint = {WRITER_AUTOCHECKPOINT}").as_str(),
                                )
                                .await?;
                            }
                        } else {
                            // Short dashboard queries over large partitioned tables: PostgreSQL's
                            // JIT compiles them for 0.3–0.6 s each and saves nothing.
                            conn.execute("set jit = off").await?;
                        }
                        Ok(())
                    })
                })
        };
        let pool = pool_options(max_connections, 16 * 1024, false)
            .connect_with(options.clone())
            .await
            .with_context(|| format!("connecting to {}", redact(&url)))?;
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let write_lock = Arc::new(Mutex::new(Writer::default()));
        let (writer, checkpointer, wal_written, wal_sync) = if backend == Backend::Sqlite
            && !in_memory
        {
            // Lazily opened: tools that only read never open them.
            let checkpointer = pool_options(1, 1024, false).connect_lazy_with(options.clone());
            let wal_written = spawn_checkpointer(checkpointer.clone(), Arc::downgrade(&write_lock));
            let (file,): (String,) =
                sqlx::query_as("select file from pragma_database_list where name = 'main'")
                    .fetch_one(&pool)
                    .await
                    .context("finding the database file")?;
            (
                pool_options(1, 128 * 1024, true).connect_lazy_with(options),
                Some(checkpointer),
                Some(wal_written),
                Some(Arc::new(WalSync {
                    path: format!("{file}-wal").into(),
                    taken: 0.into(),
                    done: 0.into(),
                    turn: Mutex::new(()),
                })),
            )
        } else {
            (pool.clone(), None, None, None)
        };
        let store = Self {
            pool,
            writer,
            backend,
            write_lock,
            checkpointer,
            wal_written,
            wal_sync,
            quarantine_quota: QuarantineQuota::default(),
            sealer: None,
            months: Arc::default(),
        };
        store.migrate().await?;
        Ok(store)
    }

    fn migrator(&self) -> &'static sqlx::migrate::Migrator {
        match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATOR,
            Backend::Postgres => &POSTGRES_MIGRATOR,
        }
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        self.migrator()
            .run(&self.pool)
            .await
            .context("applying database migrations")?;
        if self.backend == Backend::Sqlite {
            rebuilds::apply(&self.pool).await?;
        }
        Ok(())
    }

    /// `sql` (a query selecting `columns`) as one row: a JSON array of the rows as arrays, for
    /// [`unpack_rows`]. sqlx hands every row from a SQLite connection's thread to the task on
    /// its own (a wake-up each); a list of a thousand domains is one hand-off this way.
    /// The rows' order is not kept: sort after unpacking.
    pub(crate) fn packed_rows(&self, sql: &str, columns: &str) -> String {
        packed_rows(self.backend, sql, columns)
    }

    /// The database in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Round-trips a trivial query; used by `/healthz`.
    pub async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query("select 1")
            .execute(&self.pool)
            .await
            .context("database ping")?;
        Ok(())
    }

    /// Closes the pool, waiting for connections to finish (graceful shutdown).
    pub async fn close(&self) {
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.close().await;
        }
        // The pool waits for its connections: the held writer goes back first.
        drop(self.write_lock.lock().await.conn.take());
        self.writer.close().await;
        self.pool.close().await;
    }

    /// Serializes this process's SQLite writers (PostgreSQL writers do not wait). Bounded: a
    /// writer that cannot get its turn within [`WRITE_WAIT`] fails with "database busy" instead
    /// of waiting forever.
    pub(crate) async fn write_guard(&self) -> anyhow::Result<WriteTurn<'_>> {
        match self.backend {
            Backend::Sqlite => tokio::time::timeout(WRITE_WAIT, self.write_lock.lock())
                .await
                .map(|g| WriteTurn(Some(g)))
                .map_err(|_| {
                    anyhow::anyhow!(
                        "the database is busy (waited {}s for a write); try again",
                        WRITE_WAIT.as_secs()
                    )
                }),
            Backend::Postgres => Ok(WriteTurn(None)),
        }
    }

    /// Starts a write transaction in `turn`. On SQLite it starts as a writer (`BEGIN
    /// IMMEDIATE`), so it waits for other processes' writers (busy timeout) instead of failing
    /// with "database is locked" when it would upgrade from reading to writing.
    pub(crate) async fn begin_write<'t>(
        &self,
        turn: &'t mut WriteTurn<'_>,
    ) -> anyhow::Result<Transaction<'t, Any>> {
        if let Some(wal) = &self.wal_written {
            // Full means a checkpoint is already due.
            let _ = wal.try_send(());
        }
        let tx = match (self.backend, turn.0.as_deref_mut()) {
            // On a file (where the writer has a pool of its own, as the checkpointer has).
            (Backend::Sqlite, Some(w)) if self.checkpointer.is_some() => {
                if w.conn.is_none() || w.failed {
                    // Back to its pool of one first, so that the pool can open another.
                    w.conn = None;
                    w.conn = Some(
                        self.writer
                            .acquire()
                            .await
                            .context("opening the database for writing")?,
                    );
                    w.failed = false;
                }
                let conn = w.conn.as_mut().expect("set above");
                match sqlx::Connection::begin_with(&mut **conn, "BEGIN IMMEDIATE").await {
                    Ok(tx) => Ok(tx),
                    Err(e) => {
                        w.failed = true;
                        Err(e)
                    }
                }
            }
            (Backend::Sqlite, _) => self.writer.begin_with("BEGIN IMMEDIATE").await,
            (Backend::Postgres, _) => self.pool.begin().await,
        };
        tx.context("starting a write transaction")
    }

    /// Makes every transaction committed on this store so far durable: on SQLite the writer's
    /// commits are in the write-ahead log but not yet synced ([`WalSync`]); call this after a
    /// commit and before answering or acting on it (as [`Store::commit`] does). Calls that
    /// come together share one fsync. Nothing to do on PostgreSQL or SQLite in memory.
    pub async fn durable(&self) -> anyhow::Result<()> {
        use std::sync::atomic::Ordering;
        let Some(sync) = &self.wal_sync else {
            return Ok(());
        };
        // Taken after the caller's commit: a fsync that begins after this covers it.
        let ticket = sync.taken.fetch_add(1, Ordering::SeqCst) + 1;
        let _turn = sync.turn.lock().await;
        if sync.done.load(Ordering::SeqCst) >= ticket {
            return Ok(());
        }
        let covers = sync.taken.load(Ordering::SeqCst);
        let (path, started) = (sync.path.clone(), std::time::Instant::now());
        tokio::task::spawn_blocking(move || match std::fs::File::open(&path) {
            Ok(log) => log.sync_data(),
            // No log: the last connection closed, after copying it into the database file
            // and syncing that.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        })
        .await
        .context("syncing the write-ahead log")?
        .context("syncing the write-ahead log")?;
        crate::telemetry::commits::SYNC.observe(started.elapsed().as_secs_f64());
        sync.done.fetch_max(covers, Ordering::SeqCst);
        Ok(())
    }

    /// Commits a write transaction and makes it durable ([`Store::durable`]).
    pub(crate) async fn commit(&self, tx: Transaction<'_, Any>) -> anyhow::Result<()> {
        tx.commit().await?;
        self.durable().await
    }

    /// Holds back every fsync of the write-ahead log while the guard lives (tests: nothing
    /// written on SQLite is answered before it is durable).
    #[doc(hidden)]
    pub async fn hold_durability(&self) -> Option<MutexGuard<'_, ()>> {
        match &self.wal_sync {
            Some(sync) => Some(sync.turn.lock().await),
            None => None,
        }
    }

    /// The same store with another quarantine quota.
    pub fn with_quarantine_quota(mut self, quota: QuarantineQuota) -> Self {
        self.quarantine_quota = quota;
        self
    }

    /// The quarantine quota in effect.
    pub fn quarantine_quota(&self) -> QuarantineQuota {
        self.quarantine_quota
    }

    /// The same store, sealing secrets (passwords, tokens, webhook URLs) with `sealer`.
    pub fn with_sealer(mut self, sealer: crate::secrets::Sealer) -> Self {
        self.sealer = Some(Arc::new(sealer));
        self
    }

    /// The secret sealer; an error when none was configured.
    pub fn sealer(&self) -> anyhow::Result<&crate::secrets::Sealer> {
        self.sealer
            .as_deref()
            .context("no secret key is configured (TLSWATCH_SECRET_KEY or the key file in the data directory)")
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

fn prepare_sqlite_url(url: &str) -> anyhow::Result<String> {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path != ":memory:" {
        if let Some(dir) = Path::new(path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating data directory {}", dir.display()))?;
        }
    }
    let mut query = query.to_owned();
    if !query.contains("mode=") {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str("mode=rwc");
    }
    Ok(format!("sqlite://{path}?{query}"))
}

/// `url` with any password replaced, for logs and errors.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_logs() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("sqlite://data/x.db"), "sqlite://data/x.db");
    }
}

/// A write refused because it would duplicate something unique (a name, an e-mail). Adapters
/// answer it with 409 and its message; every other store error is a fixed "internal error".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Conflict(pub String);

/// Maps a unique-constraint violation to [`Conflict`] with `message`; any other database
/// error keeps its detail for the log only.
pub(crate) fn unique_violation(e: sqlx::Error, message: &str) -> anyhow::Error {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            anyhow::Error::new(Conflict(message.to_owned()))
        }
        _ => anyhow::Error::new(e).context("database write failed"),
    }
}

/// The conflict inside `e`, if that is what it is.
pub fn conflict_of(e: &anyhow::Error) -> Option<&Conflict> {
    e.chain().find_map(|c| c.downcast_ref::<Conflict>())
}

/// [`Store::packed_rows`] for `backend`.
pub(crate) fn packed_rows(backend: Backend, sql: &str, columns: &str) -> String {
    match backend {
        Backend::Sqlite => {
            format!("select json_group_array(json_array({columns})) from ({sql}) packed")
        }
        Backend::Postgres => format!(
            "select coalesce(json_agg(json_build_array({columns})), '[]')::text from ({sql}) packed"
        ),
    }
}

/// The rows [`Store::packed_rows`] packed into column `i` of `row`.
pub(crate) fn unpack_rows<T: serde::de::DeserializeOwned>(
    row: &sqlx::any::AnyRow,
    i: usize,
) -> anyhow::Result<Vec<T>> {
    use sqlx::Row;
    let text: String = row.try_get(i)?;
    serde_json::from_str(&text).context("unpacking rows")
}
