//! Where reads and writes run: reader tasks, and the writer's group transactions.

use super::open::{set_cache, POOL_CACHE_KIB, WRITER_CACHE_KIB};
use super::{Conn, Storage, StorageError};
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, PooledConnection};

impl Storage {
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
pub(super) trait Job: Send {
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
pub(super) const GROUP: usize = 4;

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
pub(super) struct Group;

/// Jobs queued for at most `most` tasks on the blocking pool, each taking up to `batch` at a
/// time and running until the queue is empty. Under load a task goes from one job to the next
/// without a hand-off between threads: with a blocking task per read, waking threads and
/// switching between them was a fifth of the CPU a first page cost. First pages at 64
/// connections (wrk, 100k objects, builds alternated): 7,100 to 8,400 requests/s with a task
/// per read, 8,500 to 9,500 with a reader task per core; p99 13.5 to 15.6 ms, then 10.7 to 12.6.
pub(super) struct Drained<J> {
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
    pub(super) fn new(
        most: usize,
        batch: usize,
        run: fn(&Storage, Vec<J>),
    ) -> std::sync::Arc<Self> {
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

/// Runs a group's `f` with the writer's page cache (see `WRITER_CACHE_KIB`), then gives the
/// connection back the pool's, so the pool's connections stay small. Not for `write_now`: a
/// 1M-object `cairn import` was no faster with it (8,230 against 8,526 objects/s) and peaked
/// 25 MB higher. The cache is a speed-up: if it cannot be set, `f` runs all the same. A panic
/// drops the connection (diesel reports it broken), so only a failed reset returns it large.
fn with_writer_cache<T>(conn: &mut Conn, f: impl FnOnce(&mut Conn) -> T) -> T {
    if let Err(e) = set_cache(conn, WRITER_CACHE_KIB) {
        tracing::warn!(error = %e, "the writer runs with the pool's page cache");
    }
    let out = f(conn);
    if let Err(e) = set_cache(conn, POOL_CACHE_KIB) {
        tracing::warn!(error = %e, "the writer's page cache stays large");
    }
    out
}

/// A read waiting for a reader task.
pub(super) type ReadJob = Box<dyn FnOnce(&Storage) + Send>;

pub(super) fn run_reads(storage: &Storage, jobs: Vec<ReadJob>) {
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
    pub(super) fn run(storage: &Storage, batch: Vec<Box<dyn Job>>) {
        let mut pooled = match storage.gated() {
            Ok(pooled) => pooled,
            Err(e) => {
                batch.into_iter().for_each(|job| job.finish(Some(&e)));
                return;
            }
        };
        with_writer_cache(&mut pooled.1, |conn| Self::run_on(storage, conn, batch));
        if let Some(checkpoints) = &storage.checkpoints {
            checkpoints.after_commit();
        }
    }

    fn run_on(storage: &Storage, conn: &mut Conn, mut batch: Vec<Box<dyn Job>>) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{meta_put, schema};
    use std::time::Duration;

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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_group_writes_with_the_writers_cache_and_gives_the_pool_back_a_small_one() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("cache.db").display());
        // One connection: the write and the read after it use the same one.
        let storage = Storage::open(&url, 1).unwrap();
        let cache = |c: &mut Conn| -> Result<i64, StorageError> {
            Ok(
                diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                    "(SELECT cache_size FROM pragma_cache_size())",
                ))
                .get_result(c)?,
            )
        };
        let during = storage.write(move |c| cache(c)).await.unwrap();
        let after = storage.read(move |c| cache(c)).await.unwrap();
        assert_eq!(during, -i64::from(WRITER_CACHE_KIB));
        assert_eq!(after, -i64::from(POOL_CACHE_KIB));
    }
}
