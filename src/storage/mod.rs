//! Storage: the only module that imports diesel. It executes what the policy decided; it never
//! decides who may see what. Every call runs on tokio's blocking pool, one closure per transaction.

pub mod models;
pub mod objects;
pub mod schema;
pub mod setup;
pub mod statuses;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use std::path::PathBuf;
use std::time::Duration;

pub type Backend = diesel::sqlite::Sqlite;
pub type Conn = SqliteConnection;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("unsupported storage url '{0}': use sqlite://PATH")]
    UnsupportedUrl(String),
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("blocking task failed: {0}")]
    Task(String),
}

impl StorageError {
    /// Errors a client should retry (database busy or unreachable) rather than report as a bug.
    pub fn is_transient(&self) -> bool {
        match self {
            StorageError::Unavailable(_) => true,
            StorageError::Query(diesel::result::Error::DatabaseError(_, info)) => {
                let m = info.message();
                m.contains("locked") || m.contains("busy")
            }
            _ => false,
        }
    }
}

#[derive(Debug)]
struct SqlitePragmas;

impl CustomizeConnection<Conn, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut Conn) -> Result<(), diesel::r2d2::Error> {
        // WAL (set once in `open`) lets readers run beside the one writer; NORMAL is safe with WAL
        // and much faster than FULL; the busy timeout queues writers instead of failing them.
        conn.batch_execute(
            "PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
        )
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

#[derive(Clone)]
pub struct Storage {
    pool: Pool<ConnectionManager<Conn>>,
}

/// What a `storage.url` names.
fn sqlite_target(url: &str) -> Result<String, StorageError> {
    if url == "sqlite::memory:" {
        return Ok(":memory:".into());
    }
    let path = url
        .strip_prefix("sqlite://")
        .ok_or_else(|| StorageError::UnsupportedUrl(url.into()))?;
    if path.is_empty() {
        return Err(StorageError::UnsupportedUrl(url.into()));
    }
    Ok(path.into())
}

impl Storage {
    /// Opens the database named by `url`, creating its directory and schema when missing.
    pub fn open(url: &str, pool_size: u32) -> Result<Storage, StorageError> {
        let target = sqlite_target(url)?;
        let memory = target == ":memory:";
        if !memory {
            if let Some(dir) = PathBuf::from(&target).parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir).map_err(|source| StorageError::DataDir {
                        path: dir.to_owned(),
                        source,
                    })?;
                }
            }
        }
        if !memory {
            // WAL is a property of the file: set it once, on one connection, before the pool
            // opens several at once (switching needs an exclusive lock). Migrate on it too.
            let mut first =
                Conn::establish(&target).map_err(|e| StorageError::Unavailable(e.to_string()))?;
            first.batch_execute("PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL;")?;
            first
                .run_pending_migrations(SQLITE_MIGRATIONS)
                .map_err(|e| StorageError::Migration(e.to_string()))?;
        }
        let manager = ConnectionManager::<Conn>::new(target);
        let pool = Pool::builder()
            // An in-memory database exists once per connection: keep exactly one.
            .max_size(if memory { 1 } else { pool_size })
            .connection_timeout(Duration::from_secs(10))
            .connection_customizer(Box::new(SqlitePragmas))
            .build(manager)
            .map_err(|e| StorageError::Unavailable(e.to_string()))?;
        let storage = Storage { pool };
        storage.migrate()?;
        Ok(storage)
    }

    fn conn(&self) -> Result<PooledConnection<ConnectionManager<Conn>>, StorageError> {
        self.pool
            .get()
            .map_err(|e| StorageError::Unavailable(e.to_string()))
    }

    fn migrate(&self) -> Result<(), StorageError> {
        let mut conn = self.conn()?;
        conn.run_pending_migrations(SQLITE_MIGRATIONS)
            .map_err(|e| StorageError::Migration(e.to_string()))?;
        Ok(())
    }

    /// Runs `f` in a read transaction on the blocking pool.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn) -> Result<T, StorageError> + Send + 'static,
    {
        let storage = self.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
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
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            storage.write_now(f)
        })
        .await
        .map_err(|e| StorageError::Task(e.to_string()))?
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
        conn.immediate_transaction(f)
    }
}

/// Reads a value of the `meta` table.
pub fn meta_get(conn: &mut Conn, key: &str) -> Result<Option<String>, StorageError> {
    use schema::meta::dsl as m;
    Ok(m::meta
        .filter(m::key.eq(key))
        .select(m::value)
        .first::<String>(conn)
        .optional()?)
}

/// Writes a value of the `meta` table.
pub fn meta_put(conn: &mut Conn, key: &str, value: &str) -> Result<(), StorageError> {
    use schema::meta::dsl as m;
    diesel::replace_into(m::meta)
        .values((m::key.eq(key), m::value.eq(value)))
        .execute(conn)?;
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
