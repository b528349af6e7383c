//! Opening storage: the URL, migrations, the connection pool and each connection's settings.

use super::executor::{run_reads, Drained, Group, GROUP};
use super::maintenance::Checkpoints;
use super::{Conn, Storage, StorageError};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use std::path::PathBuf;
use std::time::Duration;

pub(super) const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub(super) const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

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
                c.batch_execute(&format!(
                    "PRAGMA busy_timeout = 10000; PRAGMA synchronous = FULL; \
                     PRAGMA foreign_keys = ON; PRAGMA cache_size = -{POOL_CACHE_KIB}; \
                     PRAGMA cache_spill = OFF; PRAGMA wal_autocheckpoint = 32768; \
                     PRAGMA journal_size_limit = 67108864;"
                ))
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

/// A pooled SQLite connection's page cache, in KiB.
pub(super) const POOL_CACHE_KIB: u32 = 4096;

/// The writer's page cache while it runs a group, in KiB. A group's inserts touch index pages
/// all over `object_ids`, `object_refs` and the delivery indexes, and its dirty pages stay in
/// the cache until the commit; within 4 MiB, clean pages were evicted before their next use and
/// read back from the OS. 32 MiB: 25,633 against 24,751 objects/s and 52.4 against 53.9 µs of
/// CPU per object, peak RSS 124 against 112 MB (`cairn-bench ingest-ab`, three rounds; 64 MiB
/// was no better).
pub(super) const WRITER_CACHE_KIB: u32 = 32768;

/// Sets a SQLite connection's page cache (nothing on PostgreSQL); a smaller size frees the
/// clean pages over it.
pub(super) fn set_cache(conn: &mut Conn, kib: u32) -> Result<(), StorageError> {
    match conn {
        Conn::Sqlite(c) => Ok(c.batch_execute(&format!("PRAGMA cache_size = -{kib};"))?),
        Conn::Postgres(_) => Ok(()),
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
pub(super) fn open_sqlite(path: &str) -> Result<SqliteConnection, StorageError> {
    let mut conn =
        SqliteConnection::establish(path).map_err(|e| StorageError::Unavailable(e.to_string()))?;
    conn.batch_execute("PRAGMA busy_timeout = 10000;")?;
    Ok(conn)
}

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

/// Initialises OpenSSL, which libpq uses for TLS and password logins, without its exit-time
/// cleanup: that cleanup frees OpenSSL's state at `exit` while pool threads may still close or
/// open connections, which crashed a process on its way out. Must run before libpq's first use.
fn openssl_without_exit_cleanup() {
    // `init` passes OPENSSL_INIT_NO_ATEXIT; the first initialisation decides, and it is this one.
    openssl_sys::init();
}

/// PostgreSQL, migrated. Several instances may start together: one migrates, the others wait.
fn prepare_postgres(url: String) -> Result<Prepared, StorageError> {
    openssl_without_exit_cleanup();
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
    openssl_without_exit_cleanup();
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
