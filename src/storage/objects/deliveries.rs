//! A reader's own delivery rows: which versions it was given and when, delivering them, and
//! taking them away.

use crate::ids::UserName;
use crate::stix::timestamp::Timestamp;
use crate::storage::bulk::{self, Column, Value};
use crate::storage::schema::deliveries::dsl as d;
use crate::storage::schema::reader_marks::dsl as m;
use crate::storage::stmt::Stmt;
use crate::storage::streams;
use crate::storage::{Conn, StorageError};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

/// Which of these versions are delivered to which user.
pub fn delivered_among(
    conn: &mut Conn,
    community: &str,
    seqs: &[i64],
) -> Result<Vec<(String, i64)>, StorageError> {
    if seqs.is_empty() {
        return Ok(vec![]);
    }
    let mut q: Stmt<(Text, BigInt)> =
        Stmt::new("SELECT user_name, seq FROM deliveries WHERE community_id = ");
    q.text(community)
        .sql(" AND seq")
        .in_ints(conn.dialect(), seqs);
    Ok(q.load(conn)?)
}

/// The date_added `user` was given for each of these versions that it has.
pub fn delivery_dates(
    conn: &mut Conn,
    user: &str,
    community: &str,
    seqs: &[i64],
) -> Result<std::collections::HashMap<i64, Timestamp>, StorageError> {
    if seqs.is_empty() {
        return Ok(Default::default());
    }
    let mut q: Stmt<(BigInt, BigInt)> =
        Stmt::new("SELECT seq, date_added FROM deliveries WHERE user_name = ");
    q.text(user)
        .sql(" AND community_id = ")
        .text(community)
        .sql(" AND seq")
        .in_ints(conn.dialect(), seqs);
    let rows = q.load::<(i64, i64)>(conn)?;
    Ok(rows
        .into_iter()
        .map(|(seq, at)| (seq, Timestamp::from_micros(at)))
        .collect())
}

/// Delivers `seqs` to `user` in this order, each with the next date_added of that reader: later
/// than everything it was given before and no earlier than `now`.
pub fn deliver(
    conn: &mut Conn,
    user: &str,
    community: &str,
    seqs: &[i64],
    now: Timestamp,
) -> Result<(), StorageError> {
    if seqs.is_empty() {
        return Ok(());
    }
    let last = streams::mark(conn, user, community)?;
    // Each next date is `now` or one past the one before, whichever is later: past the first,
    // that is always one past the one before.
    let start = now.max(last.unwrap_or(Timestamp::MIN).plus(1));
    let t = start.plus(seqs.len() as i64 - 1).micros();
    bulk::insert_lists(
        conn,
        "deliveries",
        &[
            ("user_name", Column::Same(Value::Text(user))),
            ("community_id", Column::Same(Value::Text(community))),
            ("seq", Column::Ints(seqs)),
            ("date_added", Column::Counted(start.micros())),
        ],
    )?;
    if last.is_some() {
        diesel::update(
            m::reader_marks
                .filter(m::user_name.eq(user))
                .filter(m::community_id.eq(community)),
        )
        .set(m::last_date_added.eq(t))
        .execute(conn)?;
    } else {
        diesel::insert_into(m::reader_marks)
            .values((
                m::user_name.eq(user),
                m::community_id.eq(community),
                m::last_date_added.eq(t),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Takes these versions away from `user`.
pub fn withdraw(
    conn: &mut Conn,
    user: &str,
    community: &str,
    seqs: &[i64],
) -> Result<(), StorageError> {
    diesel::delete(
        d::deliveries
            .filter(d::user_name.eq(user))
            .filter(d::community_id.eq(community))
            .filter(d::seq.eq_any(seqs)),
    )
    .execute(conn)?;
    Ok(())
}

/// Takes everything away from users that are no longer readers of `community`.
pub fn withdraw_all_except(
    conn: &mut Conn,
    community: &str,
    readers: &[UserName],
) -> Result<(), StorageError> {
    let readers: Vec<&str> = readers.iter().map(UserName::as_str).collect();
    diesel::delete(
        d::deliveries
            .filter(d::community_id.eq(community))
            .filter(d::user_name.ne_all(readers)),
    )
    .execute(conn)?;
    Ok(())
}
