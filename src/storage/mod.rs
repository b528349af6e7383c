//! Storage: the only module that imports diesel. It executes what the policy decided; it never
//! decides who may see what. Every call runs on tokio's blocking pool. A read is one transaction;
//! a write is one transaction on PostgreSQL and part of a group transaction on SQLite (see
//! `Group`). Opening is in `open`, where reads and writes run in `executor`, upkeep beside the
//! writer in `maintenance`, the `meta` table in `meta`; each table's queries in a module of its own.

pub mod bulk;
mod error;
mod executor;
pub mod follows;
pub mod mail;
mod maintenance;
mod meta;
pub mod migrate;
pub mod models;
pub mod objects;
mod open;
pub mod posting;
pub mod receipts;
pub mod schema;
pub mod settings;
pub mod setup;
pub mod snapshot;
pub mod statuses;
pub mod stmt;
pub mod streams;
pub mod tokens;
pub mod webhooks;

pub use error::StorageError;
use executor::{Drained, Job, ReadJob};
pub use maintenance::releases_pending;
use maintenance::{Checkpoints, Growth};
pub use meta::{meta_get, meta_get_or_init, meta_put};
pub use open::{create_postgres_database, migrated};

use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, Pool, PooledConnection};

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

impl Storage {
    pub(crate) fn conn(&self) -> Result<PooledConnection<ConnectionManager<Conn>>, StorageError> {
        self.pool
            .get()
            .map_err(|e| StorageError::Unavailable(e.to_string()))
    }
    /// The metrics this storage and the server around it record.
    pub fn metrics(&self) -> &std::sync::Arc<crate::metrics::Metrics> {
        &self.metrics
    }
}

#[cfg(test)]
mod tests {
    use super::open::SQLITE_MIGRATIONS;
    use super::*;
    use diesel::connection::SimpleConnection;
    use diesel_migrations::MigrationHarness;

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
