//! Follows and the notifications they produce (docs/sharing.md section 8).

use super::bulk::{self, Column, Value};
use super::schema::follows::dsl as f;
use super::stmt::Stmt;
use super::{Conn, StorageError};
use crate::stix::timestamp::Timestamp;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::follows)]
pub struct FollowRow {
    pub id: String,
    pub user_name: String,
    pub community_id: String,
    /// A STIX id, or '' for the whole community.
    pub target: String,
    pub created_at: i64,
}

/// Adds a follow unless the user already has the same one; returns the one that holds, or
/// None when the user has `max` follows already.
pub fn insert(
    conn: &mut Conn,
    row: &FollowRow,
    max: i64,
) -> Result<Option<FollowRow>, StorageError> {
    let same = f::follows
        .filter(f::community_id.eq(&row.community_id))
        .filter(f::target.eq(&row.target))
        .filter(f::user_name.eq(&row.user_name))
        .select(FollowRow::as_select())
        .first(conn)
        .optional()?;
    if let Some(same) = same {
        return Ok(Some(same));
    }
    let held: i64 = f::follows
        .filter(f::user_name.eq(&row.user_name))
        .count()
        .get_result(conn)?;
    if held >= max {
        return Ok(None);
    }
    diesel::insert_into(f::follows).values(row).execute(conn)?;
    Ok(Some(row.clone()))
}

/// The user's follows, oldest first.
pub fn of_user(conn: &mut Conn, user: &str) -> Result<Vec<FollowRow>, StorageError> {
    Ok(f::follows
        .filter(f::user_name.eq(user))
        .order((f::created_at, f::id))
        .select(FollowRow::as_select())
        .load(conn)?)
}

/// Removes the user's follow `id`, and what its container held; false when it has none of that
/// id.
pub fn delete(conn: &mut Conn, user: &str, id: &str) -> Result<bool, StorageError> {
    let row: Option<FollowRow> = f::follows
        .filter(f::id.eq(id))
        .filter(f::user_name.eq(user))
        .select(FollowRow::as_select())
        .first(conn)
        .optional()?;
    if let Some(r) = &row {
        set_holds(
            conn,
            (user, &r.community_id, &r.target),
            Holds::Again(&[], Timestamp::EPOCH),
        )?;
    }
    let gone = diesel::delete(
        f::follows
            .filter(f::id.eq(id))
            .filter(f::user_name.eq(user)),
    )
    .execute(conn)?;
    Ok(gone > 0)
}

/// True when someone follows something in `community` (a refresh looks no further otherwise).
pub fn any_in(conn: &mut Conn, community: &str) -> Result<bool, StorageError> {
    let one: Option<String> = f::follows
        .filter(f::community_id.eq(community))
        .select(f::id)
        .first(conn)
        .optional()?;
    Ok(one.is_some())
}

/// (user, target) of the follows in `community` on these targets ('' is the community).
pub fn on(
    conn: &mut Conn,
    community: &str,
    targets: &[&str],
) -> Result<Vec<(String, String)>, StorageError> {
    let mut out = vec![];
    for chunk in targets.chunks(500) {
        let mut q: Stmt<(Text, Text)> =
            Stmt::new("SELECT user_name, target FROM follows WHERE community_id = ");
        q.text(community)
            .sql(" AND target")
            .in_texts(conn.dialect(), chunk);
        out.extend(q.load::<(String, String)>(conn)?);
    }
    Ok(out)
}

/// Records that `user` was told of these versions (seq, matched target), in this order, each at
/// its next feed position (later than all before it and no earlier than `now`), and queues them
/// for the user's webhooks when the setup has any (`hooks`).
pub fn notify(
    conn: &mut Conn,
    (user, community): (&str, &str),
    items: &[(i64, String)],
    now: Timestamp,
    hooks: bool,
) -> Result<(), StorageError> {
    if items.is_empty() {
        return Ok(());
    }
    use super::schema::feed_marks::dsl as m;
    let last: Option<i64> = m::feed_marks
        .filter(m::user_name.eq(user))
        .select(m::last_at)
        .first(conn)
        .optional()?;
    let start = now
        .micros()
        .max(last.map_or(i64::MIN, |l| l.saturating_add(1)));
    let ats: Vec<i64> = (0..items.len() as i64).map(|i| start + i).collect();
    let mut mark: Stmt<()> = Stmt::new("INSERT INTO feed_marks (user_name, last_at) VALUES (");
    mark.text(user)
        .sql(", ")
        .int(start + items.len() as i64 - 1)
        .sql(") ON CONFLICT (user_name) DO UPDATE SET last_at = excluded.last_at");
    mark.execute(conn)?;
    // One statement for all of them: one per row was most of what notifying cost.
    let ids: Vec<String> = ats.iter().map(|at| event_id(user, *at)).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let seqs: Vec<i64> = items.iter().map(|(seq, _)| *seq).collect();
    let targets: Vec<&str> = items.iter().map(|(_, t)| t.as_str()).collect();
    bulk::insert_lists(
        conn,
        "notifications",
        &[
            ("user_name", Column::Same(Value::Text(user))),
            ("at", Column::Counted(start)),
            ("id", Column::Texts(&ids)),
            ("community_id", Column::Same(Value::Text(community))),
            ("seq", Column::Ints(&seqs)),
            ("follow_target", Column::Texts(&targets)),
        ],
    )?;
    if hooks {
        super::webhooks::enqueue(conn, user, &ats, now)?;
    }
    Ok(())
}

/// A notification's id: the same for the same user and position, so a receiver can drop a
/// repeat, and nothing in it but what the user already knows.
fn event_id(user: &str, at: i64) -> String {
    const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6c1f_2a7e_93d4_4b0a_8e51_0f3b_c2d9_7a64);
    uuid::Uuid::new_v5(&NAMESPACE, format!("{user}\0{at}").as_bytes()).to_string()
}

/// One entry of a user's feed.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct FeedRow {
    pub at: i64,
    pub id: String,
    pub collection_id: String,
    pub stix_id: String,
    pub stix_type: String,
    pub version_text: String,
    pub producer_id: Option<String>,
    pub follow_target: String,
}

/// The user's notifications after position `after` and up to `through`, in order, at most
/// `limit`, from the communities its partner is still an enabled member of.
pub fn feed(
    conn: &mut Conn,
    (user, partner): (&str, &str),
    (after, through): (Option<Timestamp>, Timestamp),
    limit: usize,
) -> Result<Vec<FeedRow>, StorageError> {
    feed_in_order(conn, (user, partner), (after, through), (limit, ""))
}

/// The feed's rows in `at` order (`order` is "" or " DESC").
fn feed_in_order(
    conn: &mut Conn,
    (user, partner): (&str, &str),
    (after, through): (Option<Timestamp>, Timestamp),
    (limit, order): (usize, &'static str),
) -> Result<Vec<FeedRow>, StorageError> {
    type Sql = (BigInt, Text, Text, Text, Text, Text, Nullable<Text>, Text);
    let mut q: Stmt<Sql> = Stmt::new(
        "SELECT n.at AS at, n.id AS id, c.collection_id AS collection_id, \
         o.stix_id AS stix_id, o.stix_type AS stix_type, o.version_text AS version_text, \
         o.producer_id AS producer_id, n.follow_target AS follow_target \
         FROM notifications n INNER JOIN objects o ON o.seq = n.seq \
         INNER JOIN communities c ON c.id = n.community_id \
         INNER JOIN memberships m ON m.community_id = n.community_id \
         WHERE n.user_name = ",
    );
    q.text(user)
        .sql(" AND m.partner_id = ")
        .text(partner)
        .sql(" AND m.enabled = TRUE AND c.enabled = TRUE AND n.at > ")
        .int(after.unwrap_or(Timestamp::MIN).micros())
        .sql(" AND n.at <= ")
        .int(through.micros())
        .sql(" ORDER BY n.at")
        .sql(order)
        .sql(" LIMIT ")
        .int(limit as i64);
    Ok(q.load::<FeedRow>(conn)?)
}

/// The user's newest notifications first, at most `limit`, in communities its partner is
/// still an enabled member of.
pub fn newest(
    conn: &mut Conn,
    (user, partner): (&str, &str),
    limit: usize,
) -> Result<Vec<FeedRow>, StorageError> {
    let mut rows = feed_in_order(
        conn,
        (user, partner),
        (None, Timestamp::MAX),
        (limit, " DESC"),
    )?;
    rows.truncate(limit);
    Ok(rows)
}

/// What a followed container holds, from which of its versions.
#[derive(Debug, Clone, Copy)]
pub enum Holds<'a> {
    /// From this version, unless what is stored came from a newer one.
    Version(&'a [String], Timestamp),
    /// From this version (or nothing), whatever is stored: the newest was deleted.
    Again(&'a [String], Timestamp),
}

/// Sets what the user's followed `container` holds (the object_refs of a version of it).
pub fn set_holds(
    conn: &mut Conn,
    (user, community, container): (&str, &str, &str),
    holds: Holds<'_>,
) -> Result<(), StorageError> {
    use super::schema::follow_holds::dsl as h;
    let mine = h::follow_holds
        .filter(h::user_name.eq(user))
        .filter(h::community_id.eq(community))
        .filter(h::container.eq(container));
    let (held, version) = match holds {
        Holds::Version(held, version) => {
            let stored: Option<i64> = mine.select(diesel::dsl::max(h::version)).first(conn)?;
            if stored.is_some_and(|s| s > version.micros()) {
                return Ok(());
            }
            (held, version)
        }
        Holds::Again(held, version) => (held, version),
    };
    diesel::delete(mine).execute(conn)?;
    let mut held: Vec<&str> = held.iter().map(String::as_str).collect();
    held.sort_unstable();
    held.dedup();
    bulk::insert_lists(
        conn,
        "follow_holds",
        &[
            ("user_name", Column::Same(Value::Text(user))),
            ("community_id", Column::Same(Value::Text(community))),
            ("container", Column::Same(Value::Text(container))),
            ("held", Column::Texts(&held)),
            ("version", Column::Same(Value::Int(version.micros()))),
        ],
    )
}

/// (user, container, held) of the followed containers in `community` that hold these ids.
pub fn holds_on(
    conn: &mut Conn,
    community: &str,
    ids: &[&str],
) -> Result<Vec<(String, String, String)>, StorageError> {
    let mut out = vec![];
    for chunk in ids.chunks(500) {
        let mut q: Stmt<(Text, Text, Text)> =
            Stmt::new("SELECT user_name, container, held FROM follow_holds WHERE community_id = ");
        q.text(community)
            .sql(" AND held")
            .in_texts(conn.dialect(), chunk);
        out.extend(q.load::<(String, String, String)>(conn)?);
    }
    Ok(out)
}
