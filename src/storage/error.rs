//! What storage calls fail with, and which failures a client may retry.

use std::path::PathBuf;

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

impl From<diesel::r2d2::PoolError> for StorageError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        StorageError::Unavailable(e.to_string())
    }
}
