//! Upkeep beside the writer: SQLite checkpoints and PostgreSQL's planner statistics.

use super::open::open_sqlite;
use super::{stmt, Conn, Storage, StorageError};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use std::time::Duration;

/// Copies committed pages from SQLite's WAL into the database file on a blocking task of its
/// own, on a connection of its own: after a group commit, at most once every
/// `CHECKPOINT_EVERY`, and once more after the last commit, so that the WAL is drained soon
/// after writes stop (readers then skip it). A connection would otherwise do it inside the
/// commit that fills the WAL past its threshold, on the one writer's thread: the writer is the
/// bottleneck of an ingest, and the checkpoint was a fifth of its time at 1M objects. A PASSIVE
/// checkpoint takes no lock that writers or readers wait for.
pub(super) struct Checkpoints {
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
    pub(super) fn new(path: &str) -> std::sync::Arc<Self> {
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
    pub(super) fn after_commit(self: &std::sync::Arc<Self>) {
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

/// Objects stored by this process since the planner's statistics were last refreshed.
#[derive(Default)]
pub(super) struct Growth {
    /// Stored before the last refresh, and since.
    before: std::sync::atomic::AtomicU64,
    since: std::sync::atomic::AtomicU64,
    running: std::sync::atomic::AtomicBool,
}

/// The first refresh, after this many stored objects; then each time the count has doubled.
const FIRST_ANALYZE: u64 = 5_000;

impl Storage {
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
}

/// Versions whose delay has not been processed yet (a gauge for operators).
pub fn releases_pending(conn: &mut Conn) -> Result<i64, StorageError> {
    // `released = FALSE` written out so that the partial index answers it.
    let q: stmt::Stmt<diesel::sql_types::BigInt> =
        stmt::Stmt::new("SELECT COUNT(*) FROM objects WHERE released = FALSE");
    Ok(q.get_result(conn)?)
}
