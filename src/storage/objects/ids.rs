//! The numbering of STIX ids per community (`object_ids`): looking numbers up, handing new ones
//! out, and the subquery that turns ids into numbers.

use crate::storage::bulk::{self, Column, Value};
use crate::storage::stmt::{Dialect, Stmt};
use crate::storage::{meta_get, meta_put, Conn, StorageError};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use std::collections::{HashMap, HashSet};

const LAST_NUM: &str = "last_num";

/// Appends `(SELECT num FROM object_ids ...)`: the numbers of `ids` in `community` (see the
/// `object_ids` migration). The indexes that find versions and references are keyed by them.
pub(super) fn nums_of<'a, ST, S: AsRef<str>>(
    q: &mut Stmt<'a, ST>,
    dialect: Dialect,
    community: &'a str,
    ids: &'a [S],
) {
    q.sql("(SELECT object_ids.num FROM object_ids WHERE object_ids.community_id = ")
        .text(community)
        .sql(" AND object_ids.stix_id")
        .in_texts(dialect, ids)
        .sql(")");
}

/// Numbers of STIX ids in one community.
pub type Nums = HashMap<String, i64>;

/// Every id a write names, given `(id, referenced ids)` per object: the referenced ones before
/// the object's own, since they are mostly older; new ids are numbered in this order.
pub fn named<'a>(objects: impl Iterator<Item = (&'a str, &'a [String])>) -> Vec<&'a str> {
    let mut out = vec![];
    for (id, refs) in objects {
        out.extend(refs.iter().map(String::as_str));
        out.push(id);
    }
    out
}

/// The numbers of those of `ids` that have one in `community`. A write looks its ids up once
/// and passes the numbers on: each lookup of an id is a probe of `object_ids`, keyed by text.
pub fn nums(conn: &mut Conn, community: &str, ids: &[&str]) -> Result<Nums, StorageError> {
    let mut unique: Vec<&str> = ids.to_vec();
    unique.sort_unstable();
    unique.dedup();
    let mut q: Stmt<(Text, BigInt)> =
        Stmt::new("SELECT stix_id, num FROM object_ids WHERE community_id = ");
    q.text(community)
        .sql(" AND stix_id")
        .in_texts(conn.dialect(), &unique);
    Ok(q.load::<(String, i64)>(conn)?.into_iter().collect())
}

/// Hands the next numbers out, in the order of `ids`, to those of them `nums` (looked up in this
/// transaction) has no number for, and adds them. Under the write lock, like `seq`.
pub(super) fn assign_nums(
    conn: &mut Conn,
    community: &str,
    ids: &[&str],
    nums: &mut Nums,
) -> Result<(), StorageError> {
    let mut seen = HashSet::with_capacity(ids.len());
    let new: Vec<&str> = ids
        .iter()
        .copied()
        .filter(|id| !nums.contains_key(*id) && seen.insert(*id))
        .collect();
    if new.is_empty() {
        return Ok(());
    }
    let last: i64 = meta_get(conn, LAST_NUM)?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    bulk::insert_lists(
        conn,
        "object_ids",
        &[
            ("community_id", Column::Same(Value::Text(community))),
            ("stix_id", Column::Texts(&new)),
            ("num", Column::Counted(last + 1)),
        ],
    )?;
    meta_put(conn, LAST_NUM, &(last + new.len() as i64).to_string())?;
    nums.extend(
        new.iter()
            .zip(last + 1..)
            .map(|(id, n)| (id.to_string(), n)),
    );
    Ok(())
}

/// The number of `id`: `assign_nums` gave every id of the write one, so a missing number is
/// a broken invariant, answered as an error rather than a panic inside the transaction.
pub(super) fn num_of(nums: &Nums, id: &str) -> Result<i64, StorageError> {
    nums.get(id).copied().ok_or(StorageError::Inconsistent(
        "an id stored without its number",
    ))
}
