//! Storage: the only module that imports diesel. It executes what the policy decided; it never
//! decides who may see what. Every call runs on tokio's blocking pool, one closure per transaction.

pub mod bulk;
pub mod migrate;
pub mod models;
pub mod objects;
pub mod schema;
pub mod setup;
pub mod statuses;
pub mod stmt;

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
            _ => false,
        }
    }
}

#[derive(Debug)]
struct SessionSettings;

impl CustomizeConnection<Conn, diesel::r2d2::Error> for SessionSettings {
    fn on_acquire(&self, conn: &mut Conn) -> Result<(), diesel::r2d2::Error> {
        match conn {
            // WAL (set once in `open`) lets readers run beside the one writer; NORMAL is safe
            // with WAL and much faster than FULL; the busy timeout queues writers instead of
            // failing them. A 4 MiB page cache per connection keeps the hot index pages within
            // the memory budget of a pool; no spilling keeps an envelope's dirty pages in memory
            // until its one commit instead of writing them to the WAL midway (an envelope dirties
            // a few MiB at most); checkpoints every 32 MiB of WAL write a page rewritten by
            // several envelopes once. Readers arriving all the time can keep the WAL from
            // starting over for a while (it reached 530 MB in a 100,000-object ingest); once it
            // does, it is cut back to 64 MiB.
            Conn::Sqlite(c) => c
                .batch_execute(
                    "PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL; \
                     PRAGMA foreign_keys = ON; PRAGMA cache_size = -4096; PRAGMA cache_spill = OFF; \
                     PRAGMA wal_autocheckpoint = 8192; PRAGMA journal_size_limit = 67108864;",
                )
                .map_err(diesel::r2d2::Error::QueryError),
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
    /// One permit per pooled connection: requests beyond that wait here, on the executor,
    /// rather than each holding a blocking thread (and its memory) while waiting for the pool.
    gate: std::sync::Arc<tokio::sync::Semaphore>,
    /// SQLite writers run one at a time; they queue here, on the executor, because a writer
    /// that found the lock taken would sleep in the busy handler for up to 100 ms at a stretch,
    /// however soon the lock freed. Not on PostgreSQL, which queues writers on its advisory
    /// lock without sleeping: queueing them here as well cut its ingest from 7,000 to 1,500
    /// objects/s (cairn-bench compare, 100k objects, 8 clients).
    writer: Option<std::sync::Arc<tokio::sync::Semaphore>>,
    /// PostgreSQL only: when to refresh the planner's statistics (see `grew`).
    growth: Option<std::sync::Arc<Growth>>,
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

impl Storage {
    /// Opens the database named by `url`, creating (for SQLite) its directory, and the schema
    /// when missing.
    pub fn open(url: &str, pool_size: u32) -> Result<Storage, StorageError> {
        let unavailable = |e: diesel::ConnectionError| StorageError::Unavailable(e.to_string());
        let migration =
            |e: Box<dyn std::error::Error + Send + Sync>| StorageError::Migration(e.to_string());
        let target = target(url)?;
        let sqlite = matches!(target, Target::Sqlite(_));
        let (conn_url, memory) = match target {
            Target::Sqlite(path) => {
                let memory = path == ":memory:";
                if !memory {
                    if let Some(dir) = PathBuf::from(&path).parent() {
                        if !dir.as_os_str().is_empty() {
                            std::fs::create_dir_all(dir).map_err(|source| {
                                StorageError::DataDir {
                                    path: dir.to_owned(),
                                    source,
                                }
                            })?;
                        }
                    }
                    // WAL is a property of the file: set it once, on one connection, before the
                    // pool opens several at once (switching needs an exclusive lock).
                    let mut first = SqliteConnection::establish(&path).map_err(unavailable)?;
                    first
                        .batch_execute("PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL;")?;
                    first
                        .run_pending_migrations(SQLITE_MIGRATIONS)
                        .map_err(migration)?;
                }
                // MultiConnection picks SQLite for sqlite:// URLs and files it cannot parse
                // otherwise; hand it the form it expects.
                (
                    if memory {
                        ":memory:".to_string()
                    } else {
                        format!("sqlite://{path}")
                    },
                    memory,
                )
            }
            Target::Postgres(u) => {
                let mut first = PgConnection::establish(&u).map_err(unavailable)?;
                // Several instances may start together: one migrates, the others wait.
                first.batch_execute("SELECT pg_advisory_lock(727274)")?;
                let ran = first
                    .run_pending_migrations(POSTGRES_MIGRATIONS)
                    .map(|_| ())
                    .map_err(migration);
                first.batch_execute("SELECT pg_advisory_unlock(727274)")?;
                ran?;
                (u, false)
            }
        };
        let manager = ConnectionManager::<Conn>::new(conn_url);
        let pool = Pool::builder()
            // An in-memory database exists once per connection: keep exactly one.
            .max_size(if memory { 1 } else { pool_size })
            .min_idle(Some(if memory { 1 } else { 0 }))
            // Long enough for a busy SQLite writer, short enough that an unreachable PostgreSQL
            // answers 503 instead of hanging the client.
            .connection_timeout(Duration::from_secs(5))
            .connection_customizer(Box::new(SessionSettings))
            .build(manager)
            .map_err(|e| StorageError::Unavailable(e.to_string()))?;
        let permits = if memory { 1 } else { pool_size as usize };
        let storage = Storage {
            pool,
            gate: std::sync::Arc::new(tokio::sync::Semaphore::new(permits)),
            writer: sqlite.then(|| std::sync::Arc::new(tokio::sync::Semaphore::new(1))),
            growth: (!sqlite).then(std::sync::Arc::default),
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
        let storage = self.clone();
        let span = tracing::Span::current();
        let permit = std::sync::Arc::clone(&self.gate)
            .acquire_owned()
            .await
            .map_err(|e| StorageError::Task(e.to_string()))?;
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let _permit = permit;
            storage.read_now(f)
        })
        .await
        .map_err(|e| StorageError::Task(e.to_string()))?
    }

    /// Runs `f` in a write transaction on the blocking pool. SQLite takes the write lock up front
    /// (BEGIN IMMEDIATE) so two writers never deadlock upgrading a read lock.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn) -> Result<T, StorageError> + Send + 'static,
    {
        let storage = self.clone();
        let span = tracing::Span::current();
        let turn = match &self.writer {
            Some(w) => Some(
                std::sync::Arc::clone(w)
                    .acquire_owned()
                    .await
                    .map_err(|e| StorageError::Task(e.to_string()))?,
            ),
            None => None,
        };
        let permit = std::sync::Arc::clone(&self.gate)
            .acquire_owned()
            .await
            .map_err(|e| StorageError::Task(e.to_string()))?;
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let _held = (turn, permit);
            storage.write_now(f)
        })
        .await
        .map_err(|e| StorageError::Task(e.to_string()))?
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
                c.batch_execute("ANALYZE objects, object_refs, deliveries")
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

    /// A database made before `objects.several` existed gets it right for its stored versions.
    #[test]
    fn the_several_migration_marks_ids_stored_in_more_than_one_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let mut c = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
        c.run_next_migration(SQLITE_MIGRATIONS).unwrap();
        c.batch_execute(
            "INSERT INTO communities VALUES ('k', 'coll', 'K', NULL, 'allow', '[]', 0, 0, 'allow', 1);
             INSERT INTO objects (seq, community_id, stix_id, stix_type, version, version_text,
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
