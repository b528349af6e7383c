//! Stored versions read by seq, number or id, outside any reader's listing: what the delivery
//! decision and receipts need of them, what they reference, and their release times.

use super::ids::nums_of;
use crate::stix::timestamp::Timestamp;
use crate::storage::schema::objects::dsl as o;
use crate::storage::stmt::{Dialect, Stmt};
use crate::storage::{Conn, StorageError};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

/// What the delivery decision needs about one stored version.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct StoredVersion {
    pub seq: i64,
    pub stix_id: String,
    pub stix_type: String,
    pub version: i64,
    pub producer_id: Option<String>,
    pub tlp: Option<String>,
    pub recipients: String,
    pub added_at: i64,
    pub release_at: i64,
    pub released: bool,
    pub private_copy: bool,
}

/// The columns of `StoredVersion`, in its order.
const STORED_COLUMNS: &str = "SELECT seq, stix_id, stix_type, version, producer_id, tlp, \
     recipients, added_at, release_at, released, private_copy FROM objects WHERE ";
pub(super) type StoredSql = (
    BigInt,
    Text,
    Text,
    BigInt,
    Nullable<Text>,
    Nullable<Text>,
    Text,
    BigInt,
    BigInt,
    diesel::sql_types::Bool,
    diesel::sql_types::Bool,
);

// The lookups below run on every envelope, with lists of up to 500 values: as `Stmt`s (see its
// module) they are not walked three times through the multi-backend's dynamic layer.

/// Every version of these ids in a community (all of them when `ids` is `None`), by seq.
pub fn versions_of(
    conn: &mut Conn,
    community: &str,
    ids: Option<&[String]>,
) -> Result<Vec<StoredVersion>, StorageError> {
    let mut q: Stmt<StoredSql> = Stmt::new(STORED_COLUMNS);
    match ids {
        Some([]) => return Ok(vec![]),
        Some(ids) => {
            q.sql("num IN ");
            nums_of(&mut q, conn.dialect(), community, ids);
        }
        None => {
            q.sql("community_id = ").text(community);
        }
    }
    q.sql(" ORDER BY seq");
    Ok(q.load(conn)?)
}

/// Every version of the ids numbered `nums`, by seq.
pub fn versions_numbered(
    conn: &mut Conn,
    nums: &[i64],
) -> Result<Vec<StoredVersion>, StorageError> {
    if nums.is_empty() {
        return Ok(vec![]);
    }
    Ok(numbered(conn.dialect(), nums).load(conn)?)
}

/// The statement of `versions_numbered`: answered from the index on number alone (see the
/// `decision_columns` migration).
pub(in crate::storage) fn numbered(dialect: Dialect, nums: &[i64]) -> Stmt<'static, StoredSql> {
    let mut q: Stmt<StoredSql> = Stmt::new(STORED_COLUMNS);
    q.sql("num").in_ints(dialect, nums).sql(" ORDER BY seq");
    q
}

/// A version's seq, with its id and version.
pub type Named = (i64, (String, i64));

/// The id and version of each of these versions still stored.
pub fn ids_of(conn: &mut Conn, seqs: &[i64]) -> Result<Vec<Named>, StorageError> {
    if seqs.is_empty() {
        return Ok(vec![]);
    }
    let mut q: Stmt<(BigInt, Text, BigInt)> =
        Stmt::new("SELECT seq, stix_id, version FROM objects WHERE seq");
    q.in_ints(conn.dialect(), seqs);
    let rows: Vec<(i64, String, i64)> = q.load(conn)?;
    Ok(rows.into_iter().map(|(s, id, v)| (s, (id, v))).collect())
}

/// The ids each of these versions references.
pub fn refs_of(conn: &mut Conn, seqs: &[i64]) -> Result<Vec<(i64, String)>, StorageError> {
    if seqs.is_empty() {
        return Ok(vec![]);
    }
    let mut q: Stmt<(BigInt, Text)> = Stmt::new("SELECT seq, ref_id FROM object_refs WHERE seq");
    q.in_ints(conn.dialect(), seqs);
    Ok(q.load(conn)?)
}

/// The ids of objects that reference an id numbered `nums`.
pub fn referencing(conn: &mut Conn, nums: &[i64]) -> Result<Vec<String>, StorageError> {
    if nums.is_empty() {
        return Ok(vec![]);
    }
    let mut q: Stmt<Text> = Stmt::new(
        "SELECT DISTINCT objects.stix_id FROM objects WHERE objects.seq IN \
         (SELECT object_refs.seq FROM object_refs WHERE object_refs.target_num",
    );
    q.in_ints(conn.dialect(), nums).sql(")");
    Ok(q.load(conn)?)
}

/// Ids with versions whose delay has ended but whose release has not been processed.
pub fn due_ids(
    conn: &mut Conn,
    community: &str,
    now: Timestamp,
) -> Result<Vec<String>, StorageError> {
    // `released = FALSE` written out (not bound) so that planners may use the partial index.
    let mut q: Stmt<Text> = Stmt::new(
        "SELECT DISTINCT stix_id FROM objects WHERE released = FALSE AND community_id = ",
    );
    q.text(community)
        .sql(" AND release_at <= ")
        .int(now.micros());
    Ok(q.load(conn)?)
}

/// True when some version of the community has a release time that has passed unprocessed.
pub fn releases_due(
    conn: &mut Conn,
    community: &str,
    now: Timestamp,
) -> Result<bool, StorageError> {
    // Asked on every read: a `Stmt` (see its module) rather than the DSL; `released = FALSE`
    // written out so that planners may use the partial index.
    let mut q: Stmt<diesel::sql_types::Bool> = Stmt::new(
        "SELECT EXISTS (SELECT 1 FROM objects WHERE released = FALSE AND community_id = ",
    );
    q.text(community)
        .sql(" AND release_at <= ")
        .int(now.micros())
        .sql(")");
    Ok(q.get_result(conn)?)
}

/// Records a version's release time (recomputed when rules change) and whether it has passed.
pub fn set_release(
    conn: &mut Conn,
    seq: i64,
    release_at: Timestamp,
    released: bool,
) -> Result<(), StorageError> {
    diesel::update(o::objects.filter(o::seq.eq(seq)))
        .set((
            o::release_at.eq(release_at.micros()),
            o::released.eq(released),
        ))
        .execute(conn)?;
    Ok(())
}

/// The ids a stored version names in `object_refs` (what a report or grouping holds; its
/// markings and creator are not among them), and its version.
pub fn held_by(conn: &mut Conn, seq: i64) -> Result<(Vec<String>, Timestamp), StorageError> {
    let row: Option<(String, i64)> = o::objects
        .filter(o::seq.eq(seq))
        .select((o::body, o::version))
        .first(conn)
        .optional()?;
    let Some((body, version)) = row else {
        return Ok((vec![], Timestamp::EPOCH));
    };
    let parsed: Option<serde_json::Value> = serde_json::from_str(&body).ok();
    let refs = parsed
        .as_ref()
        .and_then(|v| v.get("object_refs"))
        .and_then(|v| v.as_array());
    let held = refs
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_str().map(str::to_owned))
        .collect();
    Ok((held, Timestamp::from_micros(version)))
}
