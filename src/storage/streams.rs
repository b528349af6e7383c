//! Class streams and reader views (docs/sharing.md section 7). A class's stream holds one row per
//! version its readers receive, each with a position `n` and a stamp `ts` (`max(now, last + 1)`,
//! the rule every reader's date_added follows). A streamed reader sees the rows from its start,
//! each dated `max(ts, base_ts + n - base_n)`: the base lets a reader that joined late receive
//! what came before as new, after anything it was given earlier. A reader whose view differs
//! from its class's keeps its own rows in `deliveries` instead.

use super::bulk::{self, Column, Value};
use super::schema::class_rows::dsl as r;
use super::schema::classes::dsl as k;
use super::schema::reader_marks::dsl as m;
use super::schema::reader_views::dsl as v;
use super::stmt::Stmt;
use super::{Conn, StorageError};
pub use crate::sharing::plan::Class;
pub use crate::sharing::view::View;
use crate::stix::timestamp::Timestamp;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use std::collections::HashMap;

type ViewRow = (String, Option<i64>, i64, Option<i64>, i64);

fn view_of_row(class: Option<i64>, start: i64, base_ts: Option<i64>, base_n: i64) -> View {
    match class {
        None => View::Own,
        Some(class) => View::Streamed {
            class,
            start,
            base: base_ts.map(|t| (Timestamp::from_micros(t), base_n)),
        },
    }
}

/// The view of every reader of `community` that has one.
pub fn views_of(conn: &mut Conn, community: &str) -> Result<HashMap<String, View>, StorageError> {
    let rows: Vec<ViewRow> = v::reader_views
        .filter(v::community_id.eq(community))
        .select((v::user_name, v::class_id, v::start_n, v::base_ts, v::base_n))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(u, c, s, bt, bn)| (u, view_of_row(c, s, bt, bn)))
        .collect())
}

/// The view of one reader; `None` before it was first placed (it then receives nothing).
pub fn view(conn: &mut Conn, user: &str, community: &str) -> Result<Option<View>, StorageError> {
    let row: Option<(Option<i64>, i64, Option<i64>, i64)> = v::reader_views
        .filter(v::user_name.eq(user))
        .filter(v::community_id.eq(community))
        .select((v::class_id, v::start_n, v::base_ts, v::base_n))
        .first(conn)
        .optional()?;
    Ok(row.map(|(c, s, bt, bn)| view_of_row(c, s, bt, bn)))
}

pub fn set_view(
    conn: &mut Conn,
    user: &str,
    community: &str,
    view: View,
) -> Result<(), StorageError> {
    let (class, start, base_ts, base_n) = match view {
        View::Own => (None, 0, None, 0),
        View::Streamed { class, start, base } => (
            Some(class),
            start,
            base.map(|b| b.0.micros()),
            base.map_or(0, |b| b.1),
        ),
    };
    delete_view(conn, user, community)?;
    diesel::insert_into(v::reader_views)
        .values((
            v::user_name.eq(user),
            v::community_id.eq(community),
            v::class_id.eq(class),
            v::start_n.eq(start),
            v::base_ts.eq(base_ts),
            v::base_n.eq(base_n),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn delete_view(conn: &mut Conn, user: &str, community: &str) -> Result<(), StorageError> {
    diesel::delete(
        v::reader_views
            .filter(v::user_name.eq(user))
            .filter(v::community_id.eq(community)),
    )
    .execute(conn)?;
    Ok(())
}

/// The classes of a community, with the first position each still holds.
pub fn classes_of(conn: &mut Conn, community: &str) -> Result<Vec<Class>, StorageError> {
    let rows: Vec<(i64, String, i64, i64)> = k::classes
        .filter(k::community_id.eq(community))
        .select((k::id, k::key, k::last_ts, k::last_n))
        .load(conn)?;
    rows.into_iter()
        .map(|(id, key, last_ts, last_n)| {
            Ok(Class {
                id,
                key,
                last_ts: Timestamp::from_micros(last_ts),
                last_n,
                first_n: first_n(conn, id)?,
            })
        })
        .collect()
}

/// A new, empty class. Writes are serialised, so the next number is free.
pub fn create_class(conn: &mut Conn, community: &str, key: &str) -> Result<Class, StorageError> {
    let last: Option<i64> = k::classes.select(diesel::dsl::max(k::id)).first(conn)?;
    let class = Class {
        id: last.unwrap_or(0) + 1,
        key: key.to_owned(),
        last_ts: Timestamp::MIN,
        last_n: 0,
        first_n: None,
    };
    diesel::insert_into(k::classes)
        .values((
            k::id.eq(class.id),
            k::community_id.eq(community),
            k::key.eq(key),
            k::last_ts.eq(class.last_ts.micros()),
            k::last_n.eq(class.last_n),
        ))
        .execute(conn)?;
    Ok(class)
}

/// Removes a class that no reader streams any more, with its rows.
pub fn drop_class(conn: &mut Conn, class: i64) -> Result<(), StorageError> {
    diesel::delete(r::class_rows.filter(r::class_id.eq(class))).execute(conn)?;
    diesel::delete(k::classes.filter(k::id.eq(class))).execute(conn)?;
    Ok(())
}

/// Appends `seqs` to the class's stream in this order, each at the next position and stamp.
pub fn append(
    conn: &mut Conn,
    class: &mut Class,
    seqs: &[i64],
    now: Timestamp,
) -> Result<(), StorageError> {
    if seqs.is_empty() {
        return Ok(());
    }
    let ts = now.max(class.last_ts.plus(1));
    let n = class.last_n + 1;
    bulk::insert_lists(
        conn,
        "class_rows",
        &[
            ("class_id", Column::Same(Value::Int(class.id))),
            ("n", Column::Counted(n)),
            ("seq", Column::Ints(seqs)),
            ("ts", Column::Counted(ts.micros())),
        ],
    )?;
    let count = seqs.len() as i64;
    class.last_ts = ts.plus(count - 1);
    class.last_n = n + count - 1;
    diesel::update(k::classes.filter(k::id.eq(class.id)))
        .set((
            k::last_ts.eq(class.last_ts.micros()),
            k::last_n.eq(class.last_n),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn remove(conn: &mut Conn, class: i64, seqs: &[i64]) -> Result<(), StorageError> {
    for chunk in seqs.chunks(500) {
        diesel::delete(
            r::class_rows
                .filter(r::class_id.eq(class))
                .filter(r::seq.eq_any(chunk)),
        )
        .execute(conn)?;
    }
    Ok(())
}

/// One row of a class's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamRow {
    pub class: i64,
    pub seq: i64,
    pub n: i64,
    pub ts: Timestamp,
}

/// The rows of these versions in these classes' streams.
pub fn rows_among(
    conn: &mut Conn,
    classes: &[i64],
    seqs: &[i64],
) -> Result<Vec<StreamRow>, StorageError> {
    let mut out = vec![];
    if classes.is_empty() {
        return Ok(out);
    }
    for chunk in seqs.chunks(500) {
        let mut q: Stmt<(BigInt, BigInt, BigInt, BigInt)> =
            Stmt::new("SELECT class_id, seq, n, ts FROM class_rows WHERE seq");
        q.in_ints(conn.dialect(), chunk)
            .sql(" AND class_id")
            .in_ints(conn.dialect(), classes);
        let rows = q.load::<(i64, i64, i64, i64)>(conn)?;
        out.extend(rows.into_iter().map(|(class, seq, n, ts)| StreamRow {
            class,
            seq,
            n,
            ts: Timestamp::from_micros(ts),
        }));
    }
    Ok(out)
}

/// The first position still in the class's stream.
pub fn first_n(conn: &mut Conn, class: i64) -> Result<Option<i64>, StorageError> {
    Ok(r::class_rows
        .filter(r::class_id.eq(class))
        .select(diesel::dsl::min(r::n))
        .first(conn)?)
}

/// The last position stamped at most `t` (0 when none).
pub fn last_stamped_by(conn: &mut Conn, class: i64, t: Timestamp) -> Result<i64, StorageError> {
    Ok(r::class_rows
        .filter(r::class_id.eq(class))
        .filter(r::ts.le(t.micros()))
        .order(r::ts.desc())
        .select(r::n)
        .first(conn)
        .optional()?
        .unwrap_or(0))
}

/// The date of each of these versions in the reader's view, for those it has.
pub fn dates_among(
    conn: &mut Conn,
    user: &str,
    community: &str,
    view: View,
    seqs: &[i64],
) -> Result<HashMap<i64, Timestamp>, StorageError> {
    let View::Streamed { class, start, .. } = view else {
        return super::objects::delivery_dates(conn, user, community, seqs);
    };
    Ok(rows_among(conn, &[class], seqs)?
        .into_iter()
        .filter(|row| row.n >= start)
        .map(|row| (row.seq, view.date(row.n, row.ts)))
        .collect())
}

/// The last date_added given to a reader in a community, if any.
pub fn mark(
    conn: &mut Conn,
    user: &str,
    community: &str,
) -> Result<Option<Timestamp>, StorageError> {
    let last: Option<i64> = m::reader_marks
        .filter(m::user_name.eq(user))
        .filter(m::community_id.eq(community))
        .select(m::last_date_added)
        .first(conn)
        .optional()?;
    Ok(last.map(Timestamp::from_micros))
}

/// Raises a reader's mark to `last` (never lowers it).
pub fn raise_mark(
    conn: &mut Conn,
    user: &str,
    community: &str,
    last: Timestamp,
) -> Result<(), StorageError> {
    match mark(conn, user, community)? {
        Some(old) if old >= last => {}
        Some(_) => {
            diesel::update(
                m::reader_marks
                    .filter(m::user_name.eq(user))
                    .filter(m::community_id.eq(community)),
            )
            .set(m::last_date_added.eq(last.micros()))
            .execute(conn)?;
        }
        None => {
            diesel::insert_into(m::reader_marks)
                .values((
                    m::user_name.eq(user),
                    m::community_id.eq(community),
                    m::last_date_added.eq(last.micros()),
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}

/// Gives a streamed reader its own rows: a copy of its view, dated as it saw them, and its mark
/// raised to `mark`, the last date it could have been given. From then on it is served from `deliveries`.
pub fn materialize(
    conn: &mut Conn,
    user: &str,
    community: &str,
    view: View,
    mark: Option<Timestamp>,
) -> Result<(), StorageError> {
    let View::Streamed { class, start, .. } = view else {
        return Ok(());
    };
    let mut q: Stmt<()> =
        Stmt::new("INSERT INTO deliveries (user_name, community_id, seq, date_added) SELECT ");
    q.text(user)
        .sql(", ")
        .text(community)
        .sql(", class_rows.seq, ")
        .sql(&view.date_sql("class_rows"))
        .sql(" FROM class_rows WHERE class_rows.class_id = ")
        .int(class)
        .sql(" AND class_rows.n >= ")
        .int(start);
    q.one_off();
    q.execute(conn)?;
    if let Some(last) = mark {
        raise_mark(conn, user, community, last)?;
    }
    set_view(conn, user, community, View::Own)
}
