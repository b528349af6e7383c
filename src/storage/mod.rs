//! Storage: the only module that imports diesel. It executes what the policy decided; it never
//! decides who may see what. Every call runs on tokio's blocking pool. A read is one transaction;
//! a write is one transaction on PostgreSQL and part of a group transaction on SQLite (see
//! `Group`).

pub mod bulk;
pub mod follows;
pub mod mail;
pub mod migrate;
pub mod models;
pub mod objects;
pub mod receipts;
pub mod schema;
pub mod settings;
pub mod setup;
pub mod statuses;
pub mod stmt;
pub mod streams;
pub mod tokens;
pub mod webhooks;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use std::path::PathBuf;
use std::time::Duration;

/// One connection type over both engines; the backend is chosen by the `storage.url` scheme.
/// Queries are written once against it. Dialect-specific SQL stays in this module, commented.
#[derive(diesel::MultiConnection)]
pub enum Conn {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

pub type Backend = MultiBackend;

impl Conn {
    pub fn dialect(&self) -> stmt::Dialect {
        match self {
            Conn::Sqlite(_) => stmt::Dialect::Sqlite,
            Conn::Postgres(_) => stmt::Dialect::Postgres,
        }
    }
}

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error(
        "unsupported storage url '{0}': use sqlite://PATH or postgres://USER:PASS@HOST:PORT/DB"
    )]
    UnsupportedUrl(String),
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("blocking task failed: {0}")]
    Task(String),
    #[error("stored data is inconsistent: {0}")]
    Inconsistent(&'static str),
    /// A stored setting its parser (`settings`) cannot read: the request that needed it fails
    /// rather than read it as a more permissive value.
    #[error("unreadable stored setting: table {table}, key {key}, column {column}: {value:?}")]
    Setting {
        table: &'static str,
        key: String,
        column: &'static str,
        value: String,
    },
    /// The group transaction this write was part of failed (see `Group`); nothing of it was
    /// stored.
    #[error("the write was not stored: {message}")]
    Group {
        message: String,
        transient: bool,
        disk_full: bool,
    },
}

impl StorageError {
    /// Errors a client should retry (database busy or unreachable) rather than report as a bug.
    pub fn is_transient(&self) -> bool {
        match self {
            StorageError::Unavailable(_) => true,
            StorageError::Query(diesel::result::Error::DatabaseError(kind, info)) => {
                let m = info.message();
                // The engine is busy, restarting or unreachable: the client may retry.
                matches!(kind, diesel::result::DatabaseErrorKind::ClosedConnection)
                    || m.contains("locked")
                    || m.contains("busy")
                    || m.contains("terminating connection")
                    || m.contains("server closed the connection")
                    || m.contains("connection to server")
                    || m.contains("the database system is")
                    || m.contains("no connection to the server")
            }
            StorageError::Query(diesel::result::Error::BrokenTransactionManager) => true,
            StorageError::Group { transient, .. } => *transient,
            _ => false,
        }
    }

    /// The database could not grow: SQLite's SQLITE_FULL ("database or disk is full", also
    /// raised at `storage.max_size`) or PostgreSQL's disk_full (53100), whose message diesel
    /// passes on without its SQLSTATE.
    pub fn is_disk_full(&self) -> bool {
        match self {
            StorageError::Query(diesel::result::Error::DatabaseError(_, info)) => {
                let m = info.message();
                m.contains("database or disk is full") || m.contains("No space left on device")
            }
            StorageError::Group { disk_full, .. } => *disk_full,
            _ => false,
        }
    }
}

#[derive(Debug)]
struct SessionSettings {
    /// SQLite's `max_page_count` for `storage.max_size`; None leaves SQLite's own limit.
    max_pages: Option<u64>,
}

impl CustomizeConnection<Conn, diesel::r2d2::Error> for SessionSettings {
    fn on_acquire(&self, conn: &mut Conn) -> Result<(), diesel::r2d2::Error> {
        match conn {
            // WAL (set once in `open`) lets readers run beside the one writer. FULL syncs the
            // WAL at every commit: with NORMAL a commit acknowledged with 202 could be lost on
            // power loss (README, Durability). The busy timeout queues writers instead of
            // failing them. A 4 MiB page cache per connection keeps the hot index pages within
            // the memory budget of a pool; no spilling keeps an envelope's dirty pages in memory
            // until its one commit instead of writing them to the WAL midway (an envelope dirties
            // a few MiB at most). Checkpoints run beside the writer (see `Checkpoints`); a
            // connection checkpoints by itself only once 128 MiB of WAL has piled up, should
            // that task fall behind. Readers arriving all the time can keep the WAL from
            // starting over for a while (it reached 530 MB in a 100,000-object ingest); once it
            // does, it is cut back to 64 MiB.
            Conn::Sqlite(c) => {
                c.batch_execute(
                    "PRAGMA busy_timeout = 10000; PRAGMA synchronous = FULL; \
                     PRAGMA foreign_keys = ON; PRAGMA cache_size = -4096; PRAGMA cache_spill = OFF; \
                     PRAGMA wal_autocheckpoint = 32768; PRAGMA journal_size_limit = 67108864;",
                )
                .map_err(diesel::r2d2::Error::QueryError)?;
                match self.max_pages {
                    Some(n) => c
                        .batch_execute(&format!("PRAGMA max_page_count = {n};"))
                        .map_err(diesel::r2d2::Error::QueryError),
                    None => Ok(()),
                }
            }
            // A page query is short; PostgreSQL's JIT would spend milliseconds compiling it
            // whenever the planner's estimate for a large community crosses its threshold.
            // Every read here walks an index, on data that is mostly cached: at the default
            // random_page_cost of 4 the planner chose, for a page of 1,000 after `added_after`,
            // a hash join over every object of the community (100 ms at 100k objects) over the
            // index walk (5 ms). 1.1 is the usual setting for SSDs and cached data.
            Conn::Postgres(c) => c
                .batch_execute("SET jit = off; SET random_page_cost = 1.1;")
                .map_err(diesel::r2d2::Error::QueryError),
        }
    }
}

#[derive(Clone)]
pub struct Storage {
    pool: Pool<ConnectionManager<Conn>>,
    /// One permit per pooled connection, taken by the reader and writer tasks: reads and writes
    /// share the pool without waiting inside it.
    gate: std::sync::Arc<tokio::sync::Semaphore>,
    /// Writes queue here (see `Group`). On SQLite one task runs them, in groups: they queue here,
    /// not in SQLite, because a writer that found the lock taken would sleep in the busy handler
    /// for up to 100 ms at a stretch, however soon the lock freed. On PostgreSQL one task per
    /// pooled connection runs them one per transaction, and they queue on its advisory lock,
    /// which does not sleep: one writer at a time here as well cut its ingest from 7,000 to
    /// 1,500 objects/s (cairn-bench compare, 100k objects, 8 clients).
    writer: std::sync::Arc<Drained<Box<dyn Job>>>,
    /// Reads queue here for a few blocking tasks that run them back to back (see `Drained`).
    readers: std::sync::Arc<Drained<ReadJob>>,
    /// PostgreSQL only: when to refresh the planner's statistics (see `grew`).
    growth: Option<std::sync::Arc<Growth>>,
    /// SQLite database files only: checkpoints beside the writer.
    checkpoints: Option<std::sync::Arc<Checkpoints>>,
    /// Commit times and connection waits, with the server's other metrics.
    metrics: std::sync::Arc<crate::metrics::Metrics>,
}

/// Copies committed pages from SQLite's WAL into the database file on a blocking task of its
/// own, on a connection of its own: after a group commit, at most once every
/// `CHECKPOINT_EVERY`, and once more after the last commit, so that the WAL is drained soon
/// after writes stop (readers then skip it). A connection would otherwise do it inside the
/// commit that fills the WAL past its threshold, on the one writer's thread: the writer is the
/// bottleneck of an ingest, and the checkpoint was a fifth of its time at 1M objects. A PASSIVE
/// checkpoint takes no lock that writers or readers wait for.
struct Checkpoints {
    path: String,
    state: std::sync::Mutex<CheckpointState>,
}

struct CheckpointState {
    /// A checkpoint is waiting for its time or running.
    running: bool,
    /// A commit came while it was: another one follows.
    again: bool,
    last: std::time::Instant,
    /// Kept between checkpoints; opened on first use.
    conn: Option<SqliteConnection>,
}

/// Often enough that the WAL stays far below the 128 MiB a connection would checkpoint at by
/// itself; seldom enough that a page rewritten by several envelopes is copied once.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

impl Checkpoints {
    fn new(path: &str) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Checkpoints {
            path: path.to_owned(),
            state: std::sync::Mutex::new(CheckpointState {
                running: false,
                again: false,
                last: std::time::Instant::now(),
                conn: None,
            }),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, CheckpointState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// After a commit: a checkpoint once `CHECKPOINT_EVERY` has passed since the last, unless
    /// one is already due.
    fn after_commit(self: &std::sync::Arc<Self>) {
        let wait = {
            let mut state = self.state();
            if state.running {
                state.again = true;
                return;
            }
            state.running = true;
            CHECKPOINT_EVERY.saturating_sub(state.last.elapsed())
        };
        self.after(wait);
    }

    fn after(self: &std::sync::Arc<Self>, wait: Duration) {
        let checkpoints = std::sync::Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let _ = tokio::task::spawn_blocking(move || checkpoints.run()).await;
        });
    }

    fn run(self: &std::sync::Arc<Self>) {
        let kept = self.state().conn.take();
        // On failure the pages stay in the WAL, where readers find them; the next commit tries
        // again on a new connection.
        let conn = self
            .checkpoint(kept)
            .map_err(|e| tracing::warn!(error = %e, "checkpoint failed"))
            .ok();
        let again = {
            let mut state = self.state();
            state.conn = conn;
            state.last = std::time::Instant::now();
            state.running = std::mem::take(&mut state.again);
            state.running
        };
        if again {
            self.after(CHECKPOINT_EVERY);
        }
    }

    fn checkpoint(&self, kept: Option<SqliteConnection>) -> Result<SqliteConnection, StorageError> {
        let mut conn = match kept {
            Some(conn) => conn,
            None => open_sqlite(&self.path)?,
        };
        conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE);")?;
        Ok(conn)
    }
}

/// The page size of a SQLite file (4096 unless it was created otherwise).
fn page_size(conn: &mut SqliteConnection) -> Result<u64, StorageError> {
    let size: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "(SELECT page_size FROM pragma_page_size())",
    ))
    .get_result(conn)?;
    Ok(size.max(512) as u64)
}

/// A connection to a SQLite file outside the pool, waiting (like the pool's) when the file is
/// locked.
fn open_sqlite(path: &str) -> Result<SqliteConnection, StorageError> {
    let mut conn =
        SqliteConnection::establish(path).map_err(|e| StorageError::Unavailable(e.to_string()))?;
    conn.batch_execute("PRAGMA busy_timeout = 10000;")?;
    Ok(conn)
}

/// Objects stored by this process since the planner's statistics were last refreshed.
#[derive(Default)]
struct Growth {
    /// Stored before the last refresh, and since.
    before: std::sync::atomic::AtomicU64,
    since: std::sync::atomic::AtomicU64,
    running: std::sync::atomic::AtomicBool,
}

/// The first refresh, after this many stored objects; then each time the count has doubled.
const FIRST_ANALYZE: u64 = 5_000;

/// What a `storage.url` names.
enum Target {
    Sqlite(String),
    Postgres(String),
}

fn target(url: &str) -> Result<Target, StorageError> {
    if url == "sqlite::memory:" {
        return Ok(Target::Sqlite(":memory:".into()));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Target::Postgres(url.into()));
    }
    match url.strip_prefix("sqlite://") {
        Some(path) if !path.is_empty() => Ok(Target::Sqlite(path.into())),
        _ => Err(StorageError::UnsupportedUrl(url.into())),
    }
}

/// Versions whose delay has not been processed yet (a gauge for operators).
pub fn releases_pending(conn: &mut Conn) -> Result<i64, StorageError> {
    // `released = FALSE` written out so that the partial index answers it.
    let q: stmt::Stmt<diesel::sql_types::BigInt> =
        stmt::Stmt::new("SELECT COUNT(*) FROM objects WHERE released = FALSE");
    Ok(q.get_result(conn)?)
}

/// Whether every migration this build knows has been applied to the database: a newer
/// instance may have migrated past it (fine), an older database not yet (not ready).
pub fn migrated(conn: &mut Conn) -> Result<bool, StorageError> {
    let pending = match conn {
        Conn::Sqlite(c) => c.has_pending_migration(SQLITE_MIGRATIONS),
        Conn::Postgres(c) => c.has_pending_migration(POSTGRES_MIGRATIONS),
    };
    Ok(!pending.map_err(|e| StorageError::Migration(e.to_string()))?)
}

/// A database made ready for its pool: migrated, and how the pool reaches it.
struct Prepared {
    conn_url: String,
    memory: bool,
    checkpoints: Option<std::sync::Arc<Checkpoints>>,
    /// SQLite's `max_page_count` for every connection, when the file is capped.
    max_pages: Option<u64>,
}

fn migration(e: Box<dyn std::error::Error + Send + Sync>) -> StorageError {
    StorageError::Migration(e.to_string())
}

/// A SQLite file: its directory made, WAL set and migrations run on one connection.
fn prepare_sqlite_file(path: &str, max_bytes: u64) -> Result<Prepared, StorageError> {
    if let Some(dir) = PathBuf::from(path).parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir).map_err(|source| StorageError::DataDir {
                path: dir.to_owned(),
                source,
            })?;
        }
    }
    // WAL is a property of the file: set it once, on one connection, before the pool opens
    // several at once (switching needs an exclusive lock).
    let mut first = open_sqlite(path)?;
    first.batch_execute("PRAGMA journal_mode = WAL;")?;
    first
        .run_pending_migrations(SQLITE_MIGRATIONS)
        .map_err(migration)?;
    let max_pages = match max_bytes {
        0 => None,
        _ => Some(max_bytes / page_size(&mut first)?),
    };
    // MultiConnection picks SQLite for sqlite:// URLs and files it cannot parse otherwise;
    // hand it the form it expects.
    Ok(Prepared {
        conn_url: format!("sqlite://{path}"),
        memory: false,
        checkpoints: Some(Checkpoints::new(path)),
        max_pages,
    })
}

/// PostgreSQL, migrated. Several instances may start together: one migrates, the others wait.
fn prepare_postgres(url: String) -> Result<Prepared, StorageError> {
    let mut first =
        PgConnection::establish(&url).map_err(|e| StorageError::Unavailable(e.to_string()))?;
    first.batch_execute("SELECT pg_advisory_lock(727274)")?;
    let ran = first
        .run_pending_migrations(POSTGRES_MIGRATIONS)
        .map(|_| ())
        .map_err(migration);
    first.batch_execute("SELECT pg_advisory_unlock(727274)")?;
    ran?;
    Ok(Prepared {
        conn_url: url,
        memory: false,
        checkpoints: None,
        max_pages: None,
    })
}

fn pool(
    prepared: &Prepared,
    pool_size: u32,
) -> Result<Pool<ConnectionManager<Conn>>, StorageError> {
    let memory = prepared.memory;
    let manager = ConnectionManager::<Conn>::new(prepared.conn_url.clone());
    Pool::builder()
        // An in-memory database exists once per connection: keep exactly one.
        .max_size(if memory { 1 } else { pool_size })
        .min_idle(Some(if memory { 1 } else { 0 }))
        // Long enough for a busy SQLite writer, short enough that an unreachable PostgreSQL
        // answers 503 instead of hanging the client.
        .connection_timeout(Duration::from_secs(5))
        .connection_customizer(Box::new(SessionSettings {
            max_pages: prepared.max_pages,
        }))
        .build(manager)
        .map_err(|e| StorageError::Unavailable(e.to_string()))
}

impl Storage {
    /// Opens the database named by `url`, creating (for SQLite) its directory, and the schema
    /// when missing.
    pub fn open(url: &str, pool_size: u32) -> Result<Storage, StorageError> {
        Self::open_capped(url, pool_size, 0)
    }

    /// `open`, with a SQLite file kept below `max_bytes` (0: no cap); writes past it fail as on
    /// a full disk.
    pub fn open_capped(url: &str, pool_size: u32, max_bytes: u64) -> Result<Storage, StorageError> {
        let target = target(url)?;
        let sqlite = matches!(target, Target::Sqlite(_));
        let prepared = match target {
            Target::Sqlite(path) if path == ":memory:" => Prepared {
                conn_url: path,
                memory: true,
                checkpoints: None,
                max_pages: None,
            },
            Target::Sqlite(path) => prepare_sqlite_file(&path, max_bytes)?,
            Target::Postgres(url) => prepare_postgres(url)?,
        };
        let memory = prepared.memory;
        let pool = pool(&prepared, pool_size)?;
        let permits = if memory { 1 } else { pool_size as usize };
        // SQLite reads use the CPU only: more tasks than cores would just preempt one another
        // (p99 at 64 connections doubled with 8). PostgreSQL reads mostly wait on the network.
        let readers = if sqlite {
            permits.min(std::thread::available_parallelism().map_or(1, |n| n.get()))
        } else {
            permits
        };
        let storage = Storage {
            pool,
            gate: std::sync::Arc::new(tokio::sync::Semaphore::new(permits)),
            writer: if sqlite {
                Drained::new(1, GROUP, Group::run)
            } else {
                Drained::new(permits, 1, Group::run)
            },
            readers: Drained::new(readers, 1, run_reads),
            growth: (!sqlite).then(std::sync::Arc::default),
            checkpoints: prepared.checkpoints,
            metrics: std::sync::Arc::default(),
        };
        if memory {
            let mut conn = storage.conn()?;
            if let Conn::Sqlite(c) = &mut *conn {
                c.run_pending_migrations(SQLITE_MIGRATIONS)
                    .map_err(migration)?;
            }
        }
        Ok(storage)
    }

    pub(crate) fn conn(&self) -> Result<PooledConnection<ConnectionManager<Conn>>, StorageError> {
        self.pool
            .get()
            .map_err(|e| StorageError::Unavailable(e.to_string()))
    }

    /// Runs `f` in a read transaction on the blocking pool.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn) -> Result<T, StorageError> + Send + 'static,
    {
        let span = tracing::Span::current();
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.readers.submit(
            self,
            Box::new(move |storage: &Storage| {
                let _entered = span.enter();
                let _ = tx.send(storage.read_gated(f));
            }),
        );
        rx.await
            .map_err(|_| StorageError::Task("a reader stopped".into()))?
    }

    /// `read_now` from a task on the blocking pool, counted against the gate.
    fn read_gated<T>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let (_permit, mut pooled) = self.gated()?;
        let conn: &mut Conn = &mut pooled;
        conn.transaction(f)
    }

    /// A pooled connection and the gate's permit for it, from a task on the blocking pool.
    fn gated(
        &self,
    ) -> Result<
        (
            tokio::sync::OwnedSemaphorePermit,
            PooledConnection<ConnectionManager<Conn>>,
        ),
        StorageError,
    > {
        let started = std::time::Instant::now();
        let gate = std::sync::Arc::clone(&self.gate);
        let permit = tokio::runtime::Handle::current()
            .block_on(gate.acquire_owned())
            .map_err(|e| StorageError::Task(e.to_string()))?;
        let conn = self.conn()?;
        self.metrics.pool_wait.observe(&[], started.elapsed());
        Ok((permit, conn))
    }

    /// The metrics this storage and the server around it record.
    pub fn metrics(&self) -> &std::sync::Arc<crate::metrics::Metrics> {
        &self.metrics
    }

    /// Writes waiting for the writer task(s).
    pub fn writes_queued(&self) -> usize {
        self.writer.lane().jobs.len()
    }

    /// Runs `f` in a write transaction on the blocking pool (see `Group`): on SQLite, as part of
    /// the next group transaction, which may run it a second time, alone, if another write of
    /// the group fails. The caller hears of its result only once it is committed or known lost.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnMut(&mut Conn) -> Result<T, StorageError> + Send + 'static,
    {
        let span = tracing::Span::current();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job = Pending {
            f,
            out: None,
            tx,
            span,
        };
        self.writer.submit(self, Box::new(job));
        rx.await
            .map_err(|_| StorageError::Task("the writer stopped".into()))?
    }

    /// Notes that `objects` versions were stored. On PostgreSQL, once this process has stored as
    /// many as there were at the last refresh (5,000 at first), the planner's statistics are
    /// refreshed in the background. Autovacuum notices a bulk import only after a minute or
    /// more, and until then the planner takes a 100,000-object community for an empty one: by-id
    /// reads took 216 ms instead of 1.8 ms, and pages chose nested scans of a reader's whole
    /// delivery index (cairn-bench compare). ANALYZE samples, and blocks neither readers nor
    /// writers.
    pub fn grew(&self, objects: u64) {
        use std::sync::atomic::Ordering;
        let Some(growth) = &self.growth else {
            return;
        };
        let since = growth.since.fetch_add(objects, Ordering::Relaxed) + objects;
        let before = growth.before.load(Ordering::Relaxed);
        if since < before.max(FIRST_ANALYZE) || growth.running.swap(true, Ordering::AcqRel) {
            return;
        }
        growth.since.fetch_sub(since, Ordering::Relaxed);
        growth.before.fetch_add(since, Ordering::Relaxed);
        let (storage, growth) = (self.clone(), std::sync::Arc::clone(growth));
        tokio::task::spawn_blocking(move || {
            let analyzed = storage.conn().and_then(|mut c| {
                c.batch_execute("ANALYZE objects, object_refs, deliveries, class_rows")
                    .map_err(StorageError::from)
            });
            if let Err(e) = analyzed {
                tracing::warn!(error = %e, "refreshing the planner's statistics failed");
            }
            growth.running.store(false, Ordering::Release);
        });
    }

    /// The same as `read`, for callers already off the async executor (commands).
    pub fn read_now<T>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let mut pooled = self.conn()?;
        let conn: &mut Conn = &mut pooled;
        conn.transaction(f)
    }

    /// The same as `write`, for callers already off the async executor (commands).
    pub fn write_now<T>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let mut pooled = self.conn()?;
        let conn: &mut Conn = &mut pooled;
        conn.transaction(|c| {
            take_write_lock(c)?;
            f(c)
        })
    }
}

/// One write waiting for, or running in, a group transaction.
trait Job: Send {
    /// Runs the write, keeping its result; true when it succeeded.
    fn run(&mut self, conn: &mut Conn) -> bool;
    /// Hands the caller its result once the transaction it last ran in is over. `lost` is what
    /// undid the write when that was not the write itself (a failed commit, no connection).
    fn finish(self: Box<Self>, lost: Option<&StorageError>);
}

struct Pending<T, F> {
    f: F,
    out: Option<Result<T, StorageError>>,
    tx: tokio::sync::oneshot::Sender<Result<T, StorageError>>,
    span: tracing::Span,
}

impl<T, F> Job for Pending<T, F>
where
    T: Send,
    F: FnMut(&mut Conn) -> Result<T, StorageError> + Send,
{
    fn run(&mut self, conn: &mut Conn) -> bool {
        let _entered = self.span.enter();
        let out = (self.f)(conn);
        let ok = out.is_ok();
        self.out = Some(out);
        ok
    }

    fn finish(self: Box<Self>, lost: Option<&StorageError>) {
        let result = match (self.out, lost) {
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(v)), None) => Ok(v),
            (_, Some(e)) => Err(StorageError::Group {
                message: e.to_string(),
                transient: e.is_transient(),
                disk_full: e.is_disk_full(),
            }),
            (None, None) => Err(StorageError::Task("write skipped".into())),
        };
        // The caller may have gone away (client disconnected): its write stands.
        let _ = self.tx.send(result);
    }
}

/// Most writes in one SQLite transaction. SQLite has one writer at a time, and much of a write's
/// cost is per transaction, not per row: committing writes every page it dirtied to the WAL
/// (and later, by checkpoint, to the database), and the one random-keyed index (`object_ids`,
/// by STIX id) dirties about one page per new id. Writes queued behind one another share
/// those pages when they commit together. More than 4 envelopes of 1,000 would keep tens of MiB
/// of dirty pages in memory until the commit.
const GROUP: usize = 4;

/// Write transactions. On SQLite, writes queue in a `Drained` with one task, which runs them up
/// to `GROUP` per transaction; on PostgreSQL each write is a group of one. A write's caller
/// hears of its result only after the commit, so an acknowledged write is stored.
///
/// The writes of a group run one after the other in the transaction, without a savepoint each:
/// a savepoint (like the statement journal of a multi-row INSERT that could fail halfway) makes
/// SQLite copy every page the write touches before it changes it, in case it must be undone
/// alone; that copying was 13% of the writer's time. If a write or the commit fails, the whole
/// group is rolled back and each of its writes runs again, alone, in a transaction of its own: a
/// failed write never costs the others more than time, and nothing runs in a transaction whose
/// state is in doubt.
struct Group;

/// Jobs queued for at most `most` tasks on the blocking pool, each taking up to `batch` at a
/// time and running until the queue is empty. Under load a task goes from one job to the next
/// without a hand-off between threads: with a blocking task per read, waking threads and
/// switching between them was a fifth of the CPU a first page cost. First pages at 64
/// connections (wrk, 100k objects, builds alternated): 7,100 to 8,400 requests/s with a task
/// per read, 8,500 to 9,500 with a reader task per core; p99 13.5 to 15.6 ms, then 10.7 to 12.6.
struct Drained<J> {
    queue: std::sync::Mutex<Lane<J>>,
    most: usize,
    batch: usize,
    run: fn(&Storage, Vec<J>),
}

struct Lane<J> {
    jobs: std::collections::VecDeque<J>,
    /// Tasks draining `jobs`.
    tasks: usize,
}

impl<J: Send + 'static> Drained<J> {
    fn new(most: usize, batch: usize, run: fn(&Storage, Vec<J>)) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Drained {
            queue: std::sync::Mutex::new(Lane {
                jobs: Default::default(),
                tasks: 0,
            }),
            most: most.max(1),
            batch,
            run,
        })
    }

    fn lane(&self) -> std::sync::MutexGuard<'_, Lane<J>> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn submit(self: &std::sync::Arc<Self>, storage: &Storage, job: J) {
        let mut lane = self.lane();
        lane.jobs.push_back(job);
        if lane.tasks < self.most {
            lane.tasks += 1;
            self.spawn(storage.clone());
        }
    }

    fn spawn(self: &std::sync::Arc<Self>, storage: Storage) {
        let drained = std::sync::Arc::clone(self);
        tokio::task::spawn_blocking(move || drained.drain(&storage));
    }

    fn drain(self: &std::sync::Arc<Self>, storage: &Storage) {
        // However the task ends (a job that panics included), queued jobs keep a task.
        struct Release<'a, J: Send + 'static>(&'a std::sync::Arc<Drained<J>>, &'a Storage);
        impl<J: Send + 'static> Drop for Release<'_, J> {
            fn drop(&mut self) {
                let mut lane = self.0.lane();
                if lane.jobs.is_empty() {
                    lane.tasks -= 1;
                } else {
                    self.0.spawn(self.1.clone());
                }
            }
        }
        let _release = Release(self, storage);
        loop {
            let jobs: Vec<J> = {
                let mut lane = self.lane();
                let n = lane.jobs.len().min(self.batch);
                if n == 0 {
                    return;
                }
                lane.jobs.drain(..n).collect()
            };
            (self.run)(storage, jobs);
        }
    }
}

/// A read waiting for a reader task.
type ReadJob = Box<dyn FnOnce(&Storage) + Send>;

fn run_reads(storage: &Storage, jobs: Vec<ReadJob>) {
    jobs.into_iter().for_each(|job| job(storage));
}

/// Why a group transaction did not commit.
enum Failure {
    /// One of its writes failed (and keeps its own error).
    Write,
    Storage(StorageError),
}

impl From<diesel::result::Error> for Failure {
    fn from(e: diesel::result::Error) -> Self {
        Failure::Storage(e.into())
    }
}

/// What undid the writes of a transaction, other than a write's own error (which it keeps).
fn lost(outcome: &Result<(), Failure>) -> Option<&StorageError> {
    match outcome {
        Err(Failure::Storage(e)) => Some(e),
        Ok(()) | Err(Failure::Write) => None,
    }
}

impl Group {
    fn run(storage: &Storage, mut batch: Vec<Box<dyn Job>>) {
        let mut pooled = match storage.gated() {
            Ok(pooled) => pooled,
            Err(e) => {
                batch.into_iter().for_each(|job| job.finish(Some(&e)));
                return;
            }
        };
        let conn: &mut Conn = &mut pooled.1;
        let started = std::time::Instant::now();
        let outcome = Self::commit(conn, &mut batch);
        let label = if outcome.is_ok() {
            "committed"
        } else {
            "failed"
        };
        storage.metrics.commits.observe(&[label], started.elapsed());
        match outcome {
            // Whatever failed (a write, or the commit: the foreign keys are checked then),
            // each write runs again alone and reports what happened to it.
            Err(_) if batch.len() > 1 => {
                for mut job in batch {
                    let alone = Self::commit(conn, std::slice::from_mut(&mut job));
                    job.finish(lost(&alone));
                }
            }
            outcome => batch.into_iter().for_each(|job| job.finish(lost(&outcome))),
        }
        if let Some(checkpoints) = &storage.checkpoints {
            checkpoints.after_commit();
        }
    }

    /// Runs `jobs` in one transaction and commits it, or rolls it all back at the first write
    /// that fails.
    fn commit(conn: &mut Conn, jobs: &mut [Box<dyn Job>]) -> Result<(), Failure> {
        conn.transaction(|c| {
            take_write_lock(c).map_err(Failure::Storage)?;
            for job in jobs.iter_mut() {
                if !job.run(c) {
                    return Err(Failure::Write);
                }
            }
            Ok(())
        })
    }
}

/// Serialises writers from the start of their transaction, so that sequence numbers and
/// date_added values are handed out in commit order and no reader can see a later one before
/// an earlier one commits (also across several instances on one PostgreSQL).
fn take_write_lock(conn: &mut Conn) -> Result<(), StorageError> {
    let statement = match conn {
        // A write as the first statement takes SQLite's write lock up front (like BEGIN
        // IMMEDIATE), waiting under busy_timeout, so no transaction upgrades a read lock.
        Conn::Sqlite(_) => "UPDATE meta SET value = value WHERE key = ''",
        // A transaction-scoped advisory lock: released by COMMIT or ROLLBACK.
        Conn::Postgres(_) => "SELECT pg_advisory_xact_lock(727275)",
    };
    diesel::sql_query(statement).execute(conn)?;
    Ok(())
}

/// Reads a value of the `meta` table.
pub fn meta_get(conn: &mut Conn, key: &str) -> Result<Option<String>, StorageError> {
    // Asked on every page (spec versions) and every POST: a `Stmt` rather than the DSL.
    let mut q: stmt::Stmt<diesel::sql_types::Text> =
        stmt::Stmt::new("SELECT value FROM meta WHERE key = ");
    q.text(key);
    Ok(q.get_result::<String>(conn).optional()?)
}

/// Writes a value of the `meta` table.
pub fn meta_put(conn: &mut Conn, key: &str, value: &str) -> Result<(), StorageError> {
    use schema::meta::dsl as m;
    let updated = diesel::update(m::meta.filter(m::key.eq(key)))
        .set(m::value.eq(value))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(m::meta)
            .values((m::key.eq(key), m::value.eq(value)))
            .execute(conn)?;
    }
    Ok(())
}

/// Returns the value under `key`, storing `make()` first if there is none (one transaction).
pub fn meta_get_or_init(
    conn: &mut Conn,
    key: &str,
    make: impl FnOnce() -> String,
) -> Result<String, StorageError> {
    if let Some(v) = meta_get(conn, key)? {
        return Ok(v);
    }
    let v = make();
    meta_put(conn, key, &v)?;
    Ok(v)
}

impl From<diesel::r2d2::PoolError> for StorageError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        StorageError::Unavailable(e.to_string())
    }
}

/// Creates an empty PostgreSQL database `name` through `admin_url` (a database the role can
/// connect to) and returns the URL of the new one. For tests and first-time set-up.
pub fn create_postgres_database(admin_url: &str, name: &str) -> Result<String, StorageError> {
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(StorageError::UnsupportedUrl(format!(
            "database name '{name}'"
        )));
    }
    let mut admin =
        PgConnection::establish(admin_url).map_err(|e| StorageError::Unavailable(e.to_string()))?;
    // CREATE DATABASE takes no bind parameters; the name is checked above.
    diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin)?;
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin_url, String::new()),
    };
    let prefix = base.rsplit_once('/').map(|(p, _)| p).unwrap_or(base);
    Ok(format!("{prefix}/{name}{query}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db_error(message: &str) -> StorageError {
        StorageError::Query(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::Unknown,
            Box::new(message.to_owned()),
        ))
    }

    #[test]
    fn full_disks_are_told_apart_on_both_engines() {
        let sqlite = db_error("database or disk is full");
        let postgres =
            db_error("could not extend file \"base/16384/16390\": No space left on device");
        for e in [&sqlite, &postgres] {
            assert!(e.is_disk_full() && !e.is_transient(), "{e}");
        }
        let grouped = StorageError::Group {
            message: postgres.to_string(),
            transient: false,
            disk_full: postgres.is_disk_full(),
        };
        assert!(grouped.is_disk_full());
        assert!(!db_error("UNIQUE constraint failed: objects.id").is_disk_full());
        assert!(!db_error("database is locked").is_disk_full());
    }

    /// A database file as an older Cairn left it: only the first `applied` migrations, with
    /// partner 'p' and community 'k'. The directory must outlive the connection.
    fn old_database(applied: usize) -> (tempfile::TempDir, SqliteConnection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let mut c = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
        for _ in 0..applied {
            c.run_next_migration(SQLITE_MIGRATIONS).unwrap();
        }
        c.batch_execute(
            "INSERT INTO partners (id, title, enabled) VALUES ('p', 'P', 1);
             INSERT INTO communities VALUES ('k', 'coll', 'K', NULL, 'allow', '[]', 0, 0, 'allow', 1);",
        )
        .unwrap();
        (dir, c)
    }

    /// A database made before `objects.several` existed gets it right for its stored versions.
    #[test]
    fn the_several_migration_marks_ids_stored_in_more_than_one_version() {
        let (_dir, mut c) = old_database(1);
        c.batch_execute(
            "INSERT INTO objects (seq, community_id, stix_id, stix_type, version, version_text,
                 versioned, spec_version, added_at, producer_id, tlp, recipients, release_at,
                 released, body)
             VALUES (1, 'k', 'malware--a', 'malware', 1, 't1', 1, '2.1', 1, NULL, NULL, '[]', 1, 1, '{}'),
                    (2, 'k', 'malware--a', 'malware', 2, 't2', 1, '2.1', 2, NULL, NULL, '[]', 2, 1, '{}'),
                    (3, 'k', 'malware--b', 'malware', 1, 't1', 1, '2.1', 3, NULL, NULL, '[]', 3, 1, '{}');",
        )
        .unwrap();
        c.run_pending_migrations(SQLITE_MIGRATIONS).unwrap();
        let flags: Vec<(i64, bool)> = schema::objects::table
            .select((schema::objects::seq, schema::objects::several))
            .order(schema::objects::seq)
            .load(&mut c)
            .unwrap();
        assert_eq!(flags, vec![(1, true), (2, true), (3, false)]);
    }

    /// Reads queue for a few tasks that run them back to back. A read that panics fails alone
    /// (its caller gets an error), and the reads queued behind it still run.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_that_panics_fails_alone_and_the_queue_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("reads.db").display());
        let storage = Storage::open(&url, 4).unwrap();
        let read = |n: i64| {
            let storage = storage.clone();
            tokio::spawn(async move {
                storage
                    .read(move |c| {
                        assert!(n != 7, "read 7 panics");
                        let one: i64 = diesel::dsl::sql::<diesel::sql_types::BigInt>("SELECT 1")
                            .get_result(c)?;
                        Ok(n + one)
                    })
                    .await
            })
        };
        let reads: Vec<_> = (0..40).map(read).collect();
        let mut outcomes = vec![];
        for r in reads {
            outcomes.push(r.await.unwrap().map_err(|e| e.to_string()));
        }
        let expected: Vec<Result<i64, String>> = (0..40)
            .map(|n| match n {
                7 => Err("blocking task failed: a reader stopped".to_string()),
                n => Ok(n + 1),
            })
            .collect();
        assert_eq!(outcomes, expected);
        // A task ends just after it answers its last read.
        let mut tasks = usize::MAX;
        for _ in 0..100 {
            tasks = storage.readers.lane().tasks;
            if tasks == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(tasks, 0, "no reader task is left behind");
        assert_eq!(read(100).await.unwrap().unwrap(), 101);
    }

    /// What the writer commits reaches the database file by a checkpoint beside it, long
    /// before the 128 MiB of WAL at which a connection would checkpoint by itself, and without
    /// waiting for a later commit.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn commits_are_checkpointed_beside_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("checkpoints.db");
        let storage = Storage::open(&format!("sqlite://{}", db.display()), 4).unwrap();
        let size = || std::fs::metadata(&db).unwrap().len();
        let before = size();
        // About 4 MB of rows, in the WAL once committed.
        for round in 0..4 {
            storage
                .write(move |c| {
                    for i in 0..1000 {
                        meta_put(c, &format!("k{round}-{i}"), &"x".repeat(1000))?;
                    }
                    Ok(())
                })
                .await
                .unwrap();
        }
        // No later commit is needed: the last one is checkpointed too.
        let mut after = before;
        for _ in 0..100 {
            after = size();
            if after > before + 4_000_000 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            after > before + 4_000_000,
            "the database file grew from {before} to {after} bytes only"
        );
    }

    /// Writes queued behind a busy writer commit together. When one of them fails, the group is
    /// rolled back and each write runs again alone: the failed one loses its own changes and
    /// nothing else. Each caller hears of its own result.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_write_in_a_group_loses_only_its_own_changes() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("group.db").display());
        let storage = Storage::open(&url, 4).unwrap();
        let put = |key: &'static str, fail: bool| {
            let storage = storage.clone();
            tokio::spawn(async move {
                storage
                    .write(move |c| {
                        meta_put(c, key, "1")?;
                        if fail {
                            return Err(StorageError::Task(format!("{key} refused")));
                        }
                        Ok(key)
                    })
                    .await
            })
        };
        // Holds the writer while the next four queue up behind it.
        let (held, release) = std::sync::mpsc::channel::<()>();
        let first = {
            let storage = storage.clone();
            tokio::spawn(async move {
                storage
                    .write(move |c| {
                        meta_put(c, "first", "1")?;
                        release.recv().ok();
                        Ok("first")
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let queued = [
            put("a", false),
            put("b", true),
            put("c", false),
            put("d", false),
        ];
        tokio::time::sleep(Duration::from_millis(100)).await;
        {
            let q = storage.writer.lane();
            assert_eq!(q.jobs.len(), 4, "the four writes wait behind the first");
        }
        held.send(()).unwrap();
        assert_eq!(first.await.unwrap().unwrap(), "first");
        let mut outcomes = vec![];
        for q in queued {
            outcomes.push(q.await.unwrap().map_err(|e| e.to_string()));
        }
        assert_eq!(
            outcomes,
            vec![
                Ok("a"),
                Err("blocking task failed: b refused".to_string()),
                Ok("c"),
                Ok("d")
            ]
        );
        let stored: Vec<String> = storage
            .read_now(|c| {
                Ok(schema::meta::table
                    .select(schema::meta::key)
                    .filter(schema::meta::key.eq_any(["first", "a", "b", "c", "d"]))
                    .order(schema::meta::key)
                    .load(c)?)
            })
            .unwrap();
        assert_eq!(stored, vec!["a", "c", "d", "first"]);
    }

    /// The migration that makes the written tables' foreign keys deferred rebuilds them with
    /// every row (foreign keys are on while it runs, so dropping `objects` first would have
    /// emptied its children), and its down migration does too.
    #[test]
    fn the_deferred_keys_migration_keeps_every_row_both_ways() {
        let (_dir, mut c) = old_database(4);
        c.batch_execute(
            "INSERT INTO objects (seq, community_id, stix_id, stix_type, version, version_text,
                 versioned, spec_version, added_at, producer_id, tlp, recipients, release_at,
                 released, body, several)
             VALUES (1, 'k', 'malware--a', 'malware', 1, 't1', 1, '2.1', 1, 'p', NULL, '[]', 1, 1, '{}', 1),
                    (2, 'k', 'malware--a', 'malware', 2, 't2', 1, '2.1', 2, 'p', NULL, '[]', 2, 1, '{}', 1),
                    (3, 'k', 'relationship--r', 'relationship', 1, 't1', 1, '2.1', 3, 'p', NULL, '[]', 3, 1, '{}', 0);
             INSERT INTO object_refs VALUES (3, 'k', 'malware--a');
             INSERT INTO deliveries VALUES ('u', 'k', 1, 10), ('u', 'k', 3, 11), ('v', 'k', 2, 12);",
        )
        .unwrap();
        let rows = |c: &mut SqliteConnection| {
            let objects: Vec<(i64, bool)> = schema::objects::table
                .select((schema::objects::seq, schema::objects::several))
                .order(schema::objects::seq)
                .load(c)
                .unwrap();
            let refs: i64 = schema::object_refs::table.count().get_result(c).unwrap();
            let deliveries: Vec<(String, i64, i64)> = schema::deliveries::table
                .select((
                    schema::deliveries::user_name,
                    schema::deliveries::seq,
                    schema::deliveries::date_added,
                ))
                .order(schema::deliveries::date_added)
                .load(c)
                .unwrap();
            (objects, refs, deliveries)
        };
        let before = rows(&mut c);
        assert_eq!(before.0.len(), 3);
        assert_eq!(before.2.len(), 3);
        let deferred = |c: &mut SqliteConnection| -> i64 {
            diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "SELECT COUNT(*) FROM sqlite_schema WHERE name IN \
                 ('objects', 'object_refs', 'deliveries') AND sql LIKE '%DEFERRABLE%'",
            )
            .get_result(c)
            .unwrap()
        };
        c.run_next_migration(SQLITE_MIGRATIONS).unwrap();
        assert_eq!(rows(&mut c), before);
        assert_eq!(deferred(&mut c), 3);
        // The cascade still acts at once.
        c.batch_execute("DELETE FROM objects WHERE seq = 3")
            .unwrap();
        let after_delete = rows(&mut c);
        assert_eq!((after_delete.1, after_delete.2.len()), (0, 2));
        c.revert_last_migration(SQLITE_MIGRATIONS).unwrap();
        assert_eq!(rows(&mut c), after_delete);
        assert_eq!(deferred(&mut c), 0);
    }

    /// A database made before ids had numbers: stored ids are numbered in the order they were
    /// first stored, then ids only referenced; versions and references carry the numbers; new
    /// numbers continue after them; and the migration reverts.
    #[test]
    fn the_object_ids_migration_numbers_stored_then_referenced_ids() {
        let (_dir, mut c) = old_database(5);
        c.batch_execute(
            "INSERT INTO communities VALUES ('j', 'coll2', 'J', NULL, 'allow', '[]', 0, 0, 'allow', 1);
             INSERT INTO objects (seq, community_id, stix_id, stix_type, version, version_text,
                 versioned, spec_version, added_at, producer_id, tlp, recipients, release_at,
                 released, body, several)
             VALUES (1, 'k', 'malware--b', 'malware', 1, 't1', 1, '2.1', 1, 'p', NULL, '[]', 1, 1, '{}', 1),
                    (2, 'k', 'malware--a', 'malware', 1, 't1', 1, '2.1', 2, 'p', NULL, '[]', 2, 1, '{}', 0),
                    (3, 'k', 'malware--b', 'malware', 2, 't2', 1, '2.1', 3, 'p', NULL, '[]', 3, 1, '{}', 1),
                    (4, 'j', 'malware--a', 'malware', 1, 't1', 1, '2.1', 4, 'p', NULL, '[]', 4, 1, '{}', 0),
                    (5, 'k', 'relationship--r', 'relationship', 1, 't1', 1, '2.1', 5, 'p', NULL, '[]', 5, 1, '{}', 0);
             INSERT INTO object_refs VALUES (5, 'k', 'malware--a'), (5, 'k', 'tool--gone');",
        )
        .unwrap();
        c.run_next_migration(SQLITE_MIGRATIONS).unwrap();
        let ids: Vec<(String, String, i64)> = schema::object_ids::table
            .select((
                schema::object_ids::community_id,
                schema::object_ids::stix_id,
                schema::object_ids::num,
            ))
            .order(schema::object_ids::num)
            .load(&mut c)
            .unwrap();
        let named = |k: &str, id: &str, n: i64| (k.to_owned(), id.to_owned(), n);
        assert_eq!(
            ids,
            vec![
                named("k", "malware--b", 1),
                named("k", "malware--a", 2),
                named("j", "malware--a", 3),
                named("k", "relationship--r", 4),
                named("k", "tool--gone", 5),
            ]
        );
        let nums: Vec<i64> = schema::objects::table
            .select(schema::objects::num)
            .order(schema::objects::seq)
            .load(&mut c)
            .unwrap();
        assert_eq!(nums, vec![1, 2, 1, 3, 4]);
        let targets: Vec<(String, i64)> = schema::object_refs::table
            .select((schema::object_refs::ref_id, schema::object_refs::target_num))
            .order(schema::object_refs::ref_id)
            .load(&mut c)
            .unwrap();
        assert_eq!(
            targets,
            vec![("malware--a".to_owned(), 2), ("tool--gone".to_owned(), 5)]
        );
        let last: String = schema::meta::table
            .filter(schema::meta::key.eq("last_num"))
            .select(schema::meta::value)
            .first(&mut c)
            .unwrap();
        assert_eq!(last, "5");
        c.revert_last_migration(SQLITE_MIGRATIONS).unwrap();
        let refs: i64 = diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "SELECT COUNT(*) FROM object_refs WHERE ref_id IN ('malware--a', 'tool--gone')",
        )
        .get_result(&mut c)
        .unwrap();
        assert_eq!(refs, 2);
    }

    /// What the delivery decision reads of a referenced id's versions comes from the index on
    /// number, without a lookup of each version's row (which holds its body).
    #[test]
    fn the_decision_reads_versions_from_the_index_alone() {
        #[derive(diesel::QueryableByName)]
        struct Step {
            #[diesel(sql_type = diesel::sql_types::Text)]
            detail: String,
        }
        use diesel::migration::MigrationSource;
        let all =
            MigrationSource::<diesel::sqlite::Sqlite>::migrations(&SQLITE_MIGRATIONS).unwrap();
        let (_dir, mut c) = old_database(all.len());
        let nums: Vec<i64> = (1..=20).collect();
        let q = objects::numbered(stmt::Dialect::Sqlite, &nums);
        let list = format!("'{}'", stmt::encode_ints(stmt::Dialect::Sqlite, &nums));
        let sql = q.sql_text().replace('?', &list);
        let plan: Vec<String> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
            .load::<Step>(&mut c)
            .unwrap()
            .into_iter()
            .map(|s| s.detail)
            .collect();
        assert!(
            plan.iter().any(
                |d| d.starts_with("SEARCH objects USING COVERING INDEX objects_by_num (num=?)")
            ),
            "{plan:?}"
        );
    }

    /// The two migration folders hold the same migrations, by name and in order.
    #[test]
    fn migrations_of_both_engines_stay_in_step() {
        let names = |dir: &str| {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(dir);
            let mut v: Vec<String> = std::fs::read_dir(path)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        let (sqlite, postgres) = (names("sqlite"), names("postgres"));
        assert!(!sqlite.is_empty());
        assert_eq!(sqlite, postgres);
    }
}
