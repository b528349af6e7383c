//! `cairn migrate-storage`: copies a whole Cairn database to another engine (typically the
//! embedded SQLite to PostgreSQL): setup, objects with their exact bytes, versions, deliveries
//! with each reader's date_added, statuses and the `next` key. Then it verifies row counts and
//! checksums table by table.

use super::schema::*;
use super::{Conn, Storage, StorageError};
use diesel::prelude::*;
use sha2::{Digest, Sha256};

const CHUNK: i64 = 500;

/// Reads a table `CHUNK` rows at a time, in key order, handing each chunk to `each`: the one
/// reader behind both the copy and the checksums, so both see the same rows in the same order.
fn each_chunk<T>(
    mut load: impl FnMut(i64) -> Result<Vec<T>, StorageError>,
    mut each: impl FnMut(Vec<T>) -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    let mut offset = 0i64;
    loop {
        let chunk = load(offset)?;
        if chunk.is_empty() {
            return Ok(());
        }
        each(chunk)?;
        offset += CHUNK;
    }
}

/// Row count and SHA-256 of one table, read in primary-key order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSum {
    pub table: &'static str,
    pub rows: u64,
    pub sha256: String,
}

/// For each table `$t` (columns, Rust row type, key order): a chunked copy, and a chunked
/// read that counts and hashes the rows, used on both sides to verify the copy.
macro_rules! tables {
    ($( $t:ident : $ty:ty = ($($col:ident),+) by ($($ord:ident),+) ; )+) => {
        /// Every table, parents before children (foreign keys).
        const TABLES: &[&str] = &[$(stringify!($t)),+];

        /// One chunk of each table, in key order: what both the copy and the checksums read.
        mod chunk_of {
            use super::*;
            $(
                pub fn $t(conn: &mut Conn, offset: i64) -> Result<Vec<$ty>, StorageError> {
                    Ok($t::table
                        .select(($($t::$col),+))
                        .order(($($t::$ord.asc()),+))
                        .limit(CHUNK)
                        .offset(offset)
                        .load::<$ty>(conn)?)
                }
            )+
        }

        fn copy_all(from: &mut Conn, to: &mut Conn) -> Result<(), StorageError> {
            $(
                each_chunk(
                    |offset| chunk_of::$t(from, offset),
                    |chunk| {
                        for ($($col),+) in chunk {
                            diesel::insert_into($t::table).values(($($t::$col.eq($col)),+)).execute(to)?;
                        }
                        Ok(())
                    },
                )?;
            )+
            Ok(())
        }

        fn sum_all(conn: &mut Conn) -> Result<Vec<TableSum>, StorageError> {
            let mut sums = vec![];
            $(
                let mut hasher = Sha256::new();
                let mut rows = 0u64;
                each_chunk(
                    |offset| chunk_of::$t(conn, offset),
                    |chunk| {
                        for row in chunk.iter() {
                            let ($($col),+) = row;
                            $( hasher.update(format!("{:?}\u{1f}", $col).as_bytes()); )+
                            hasher.update(b"\n");
                        }
                        rows += chunk.len() as u64;
                        Ok(())
                    },
                )?;
                sums.push(TableSum { table: stringify!($t), rows, sha256: hex(&hasher.finalize()) });
            )+
            Ok(sums)
        }

        fn count_all(conn: &mut Conn) -> Result<Vec<(&'static str, i64)>, StorageError> {
            Ok(vec![$((stringify!($t), $t::table.count().get_result::<i64>(conn)?)),+])
        }

        fn wipe_all(conn: &mut Conn) -> Result<(), StorageError> {
            // Children before parents.
            let mut steps: Vec<(&str, Box<dyn FnMut(&mut Conn) -> QueryResult<usize>>)> = vec![
                $((stringify!($t), Box::new(|c: &mut Conn| diesel::delete($t::table).execute(c)))),+
            ];
            steps.reverse();
            for (_, step) in steps.iter_mut() {
                step(conn)?;
            }
            Ok(())
        }
    };
}

type ObjectRow = (
    i64,
    String,
    String,
    String,
    i64,
    String,
    bool,
    String,
    i64,
    Option<String>,
    Option<String>,
    String,
    i64,
    bool,
    String,
    bool,
    i64,
    bool,
);

tables! {
    meta: (String, String) = (key, value) by (key);
    partners: (String, String, bool, Option<String>) = (id, title, enabled, identity) by (id);
    users: (String, String, String, String, String, bool, bool) =
        (name, partner_id, password_hash, max_tlp, types, redistributes, enabled) by (name);
    communities: (String, String, String, Option<String>, String, String, i64, bool, String, bool) =
        (id, collection_id, title, description, unmarked, types, delay_secs, backlog, dangling_refs, enabled) by (id);
    memberships: (String, String, String, String, i64, bool) =
        (community_id, partner_id, role, max_tlp, joined_at, enabled) by (community_id, partner_id);
    sharing_rules: (String, String, String, i64, String) =
        (community_id, producer_id, exclude, delay_secs, types) by (community_id, producer_id);
    objects: ObjectRow = (seq, community_id, stix_id, stix_type, version, version_text, versioned,
        spec_version, added_at, producer_id, tlp, recipients, release_at, released, body, several, num, private_copy) by (seq);
    object_refs: (i64, String, String, i64) = (seq, community_id, ref_id, target_num) by (seq, ref_id);
    object_ids: (String, String, i64) = (community_id, stix_id, num) by (community_id, stix_id);
    deliveries: (String, String, i64, i64) = (user_name, community_id, seq, date_added) by (user_name, community_id, seq);
    reader_marks: (String, String, i64) = (user_name, community_id, last_date_added) by (user_name, community_id);
    classes: (i64, String, String, i64, i64) = (id, community_id, key, last_ts, last_n) by (id);
    class_rows: (i64, i64, i64, i64) = (class_id, n, seq, ts) by (class_id, n);
    reader_views: (String, String, Option<i64>, i64, Option<i64>, i64) =
        (user_name, community_id, class_id, start_n, base_ts, base_n) by (user_name, community_id);
    follows: (String, String, String, String, i64) = (id, user_name, community_id, target, created_at) by (id);
    notifications: (String, i64, String, String, i64, String) =
        (user_name, at, id, community_id, seq, follow_target) by (user_name, at);
    webhooks: (String, String, String, String) = (id, owner, url, secret) by (id);
    webhook_outbox: (String, String, i64, i64, i64, Option<i64>, String) =
        (webhook_id, user_name, at, attempts, next_at, done_at, last_result) by (webhook_id, user_name, at);
    follow_holds: (String, String, String, String, i64) =
        (user_name, community_id, container, held, version) by (user_name, community_id, container, held);
    feed_marks: (String, i64) = (user_name, last_at) by (user_name);
    mailboxes: (String, String, String, String, i64, i64) =
        (id, owner, address, schedule, digest_minute, created_at) by (id);
    mail_cursors: (String, String, i64, i64, i64, String) =
        (mailbox_id, user_name, sent_through, next_at, attempts, last_result) by (mailbox_id, user_name);
    statuses: (String, String, i64, String, Option<String>, Option<String>) =
        (id, partner_id, created_at, body, user_name, community_id) by (id);
    api_tokens: (String, String, String, i64, Option<i64>, bool, String, Option<i64>, Option<i64>) =
        (id, user_name, secret_hash, created_at, expires_at, read_only, note, last_used_at, revoked_at) by (id);
    receipts: (i64, String, String, String, i64, String, i64) =
        (id, user_name, community_id, kind, at, seqs, refused) by (id);
}

/// The number of rows of every table Cairn keeps, in the order of `TABLES`.
pub fn row_counts(conn: &mut Conn) -> Result<Vec<(&'static str, i64)>, StorageError> {
    count_all(conn)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("the target is not empty ({0}); pass --force to replace its contents")]
    TargetNotEmpty(String),
    #[error("verification failed for table {table}: source {source_rows} rows {source_sum}, target {target_rows} rows {target_sum}")]
    Mismatch {
        table: &'static str,
        source_rows: u64,
        source_sum: String,
        target_rows: u64,
        target_sum: String,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// PostgreSQL's serials do not move when rows carry their own numbers: moves them past the
/// copied ones so new objects and receipts get fresh numbers. (SQLite's AUTOINCREMENT does.)
fn move_serials(t: &mut Conn) -> Result<(), StorageError> {
    if let Conn::Postgres(_) = t {
        for (table, column) in [("objects", "seq"), ("receipts", "id")] {
            diesel::sql_query(format!(
                "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), \
                 COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)"
            ))
            .execute(t)?;
        }
    }
    Ok(())
}

/// Copies everything from `from` to `to` in one target transaction, then verifies.
pub fn migrate(from: &Storage, to: &Storage, force: bool) -> Result<Vec<TableSum>, MigrateError> {
    let mut source_pooled = from.conn()?;
    let mut target_pooled = to.conn()?;
    let source: &mut Conn = &mut source_pooled;
    let target: &mut Conn = &mut target_pooled;
    let busy: Vec<String> = count_all(target)?
        .into_iter()
        .filter(|(t, n)| *n > 0 && *t != "meta")
        .map(|(t, n)| format!("{n} rows in {t}"))
        .collect();
    if !busy.is_empty() && !force {
        return Err(MigrateError::TargetNotEmpty(busy.join(", ")));
    }
    let source_sums = source.transaction(|s| {
        target.transaction(|t| {
            wipe_all(t)?;
            copy_all(s, t)?;
            let sums = sum_all(s)?;
            move_serials(t)?;
            Ok::<_, StorageError>(sums)
        })
    })?;
    let target_sums = sum_all(target)?;
    for (s, t) in source_sums.iter().zip(&target_sums) {
        if s != t {
            return Err(MigrateError::Mismatch {
                table: s.table,
                source_rows: s.rows,
                source_sum: s.sha256.clone(),
                target_rows: t.rows,
                target_sum: t.sha256.clone(),
            });
        }
    }
    debug_assert_eq!(TABLES.len(), source_sums.len());
    Ok(source_sums)
}
