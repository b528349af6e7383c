//! The webhook outbox (docs/sharing.md section 8): one row per notification and webhook that
//! must receive it, claimed by a sender with a lease so several instances never send one twice
//! at once.

use super::bulk::{self, Column, Value};
use super::follows::FeedRow;
use super::schema::webhook_outbox::dsl as o;
use super::stmt::Stmt;
use super::{Conn, StorageError};
use crate::stix::timestamp::Timestamp;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

/// Queues the user's notifications at these feed positions for each webhook of the user or
/// of its partner.
pub fn enqueue(
    conn: &mut Conn,
    user: &str,
    ats: &[i64],
    now: Timestamp,
) -> Result<(), StorageError> {
    let mut q: Stmt<Text> =
        Stmt::new("SELECT h.id AS id FROM webhooks h INNER JOIN users u ON u.name = ");
    q.text(user).sql(
        " WHERE h.owner = 'user:' || u.name OR h.owner = 'partner:' || u.partner_id ORDER BY h.id",
    );
    let hooks: Vec<String> = q.load::<String>(conn)?;
    for hook in &hooks {
        bulk::insert_lists(
            conn,
            "webhook_outbox",
            &[
                ("webhook_id", Column::Same(Value::Text(hook))),
                ("user_name", Column::Same(Value::Text(user))),
                ("at", Column::Ints(ats)),
                ("attempts", Column::Same(Value::Int(0))),
                ("next_at", Column::Same(Value::Int(now.micros()))),
                ("last_result", Column::Same(Value::Text("queued"))),
            ],
        )?;
    }
    Ok(())
}

/// True when the setup file names at least one webhook.
pub fn any(conn: &mut Conn) -> Result<bool, StorageError> {
    use super::schema::webhooks::dsl as w;
    let one: Option<String> = w::webhooks.select(w::id).first(conn).optional()?;
    Ok(one.is_some())
}

/// Which outbox row: webhook, user and feed position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub webhook: String,
    pub user: String,
    pub at: i64,
}

/// A delivery that came due: where it goes, with what key, and what it tells.
#[derive(Debug, Clone)]
pub struct Due {
    pub key: Key,
    /// Attempts made before this one.
    pub attempts: i64,
    /// When it came due (to lease it only if no other sender did).
    pub next_at: i64,
    pub url: String,
    pub secret: String,
    pub event: FeedRow,
}

#[derive(Queryable)]
struct DueRow {
    webhook_id: String,
    user_name: String,
    at: i64,
    attempts: i64,
    next_at: i64,
    url: String,
    secret: String,
    id: String,
    collection_id: String,
    stix_id: String,
    stix_type: String,
    version_text: String,
    producer_id: Option<String>,
    follow_target: String,
}

type DueSql = (
    Text,
    Text,
    BigInt,
    BigInt,
    BigInt,
    Text,
    Text,
    Text,
    Text,
    Text,
    Text,
    Text,
    Nullable<Text>,
    Text,
);

const DUE_SQL: &str = "SELECT w.webhook_id AS webhook_id, w.user_name AS user_name, w.at AS at, \
     w.attempts AS attempts, w.next_at AS next_at, h.url AS url, h.secret AS secret, \
     n.id AS id, c.collection_id AS collection_id, ob.stix_id AS stix_id, \
     ob.stix_type AS stix_type, ob.version_text AS version_text, ob.producer_id AS producer_id, \
     n.follow_target AS follow_target \
     FROM webhook_outbox w INNER JOIN webhooks h ON h.id = w.webhook_id \
     INNER JOIN notifications n ON n.user_name = w.user_name AND n.at = w.at \
     INNER JOIN objects ob ON ob.seq = n.seq \
     INNER JOIN communities c ON c.id = n.community_id \
     WHERE w.done_at IS NULL AND w.next_at <= ";

/// The earliest deliveries due at `now` of each webhook named, at most its count of them.
pub fn due(conn: &mut Conn, now: i64, wanted: &[(String, i64)]) -> Result<Vec<Due>, StorageError> {
    let mut out = vec![];
    for (hook, count) in wanted {
        let mut q: Stmt<DueSql> = Stmt::new(DUE_SQL);
        q.int(now)
            .sql(" AND w.webhook_id = ")
            .text(hook)
            .sql(" ORDER BY w.next_at, w.at LIMIT ")
            .int(*count);
        out.extend(q.load::<DueRow>(conn)?.into_iter().map(due_of));
    }
    Ok(out)
}

/// Leases these deliveries until `lease_until`; returns those taken (a row another sender took
/// meanwhile has a `next_at` of its own and is left to it).
pub fn take(conn: &mut Conn, due: Vec<Due>, lease_until: i64) -> Result<Vec<Due>, StorageError> {
    let mut out = Vec::with_capacity(due.len());
    for d in due {
        let taken = diesel::update(
            o::webhook_outbox
                .filter(o::webhook_id.eq(&d.key.webhook))
                .filter(o::user_name.eq(&d.key.user))
                .filter(o::at.eq(d.key.at))
                .filter(o::next_at.eq(d.next_at))
                .filter(o::done_at.is_null()),
        )
        .set(o::next_at.eq(lease_until))
        .execute(conn)?;
        if taken == 1 {
            out.push(d);
        }
    }
    Ok(out)
}

/// The webhooks' ids.
pub fn ids(conn: &mut Conn) -> Result<Vec<String>, StorageError> {
    use super::schema::webhooks::dsl as w;
    Ok(w::webhooks.select(w::id).order(w::id).load(conn)?)
}

fn due_of(r: DueRow) -> Due {
    Due {
        key: Key {
            webhook: r.webhook_id,
            user: r.user_name,
            at: r.at,
        },
        attempts: r.attempts,
        next_at: r.next_at,
        url: r.url,
        secret: r.secret,
        event: FeedRow {
            at: r.at,
            id: r.id,
            collection_id: r.collection_id,
            stix_id: r.stix_id,
            stix_type: r.stix_type,
            version_text: r.version_text,
            producer_id: r.producer_id,
            follow_target: r.follow_target,
        },
    }
}

/// What became of one attempt: done (received or given up), or to be tried again at `next_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done { at: i64 },
    Retry { next_at: i64 },
}

/// Records an attempt: its count, its result in words, and what comes next.
pub fn record(
    conn: &mut Conn,
    key: &Key,
    attempts: i64,
    result: &str,
    outcome: Outcome,
) -> Result<(), StorageError> {
    let row = o::webhook_outbox
        .filter(o::webhook_id.eq(&key.webhook))
        .filter(o::user_name.eq(&key.user))
        .filter(o::at.eq(key.at));
    let (next_at, done_at) = match outcome {
        Outcome::Done { at } => (at, Some(at)),
        Outcome::Retry { next_at } => (next_at, None),
    };
    diesel::update(row)
        .set((
            o::attempts.eq(attempts),
            o::last_result.eq(result),
            o::next_at.eq(next_at),
            o::done_at.eq(done_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// One line of the delivery log.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct LogRow {
    pub webhook_id: String,
    pub user_name: String,
    pub event_id: String,
    pub at: i64,
    pub attempts: i64,
    pub next_at: i64,
    pub done_at: Option<i64>,
    pub last_result: String,
}

/// The latest `limit` deliveries, newest notification first.
pub fn log(conn: &mut Conn, limit: i64) -> Result<Vec<LogRow>, StorageError> {
    type Sql = (
        Text,
        Text,
        Text,
        BigInt,
        BigInt,
        BigInt,
        Nullable<BigInt>,
        Text,
    );
    let mut q: Stmt<Sql> = Stmt::new(
        "SELECT w.webhook_id, w.user_name, n.id, w.at, w.attempts, w.next_at, w.done_at, \
         w.last_result FROM webhook_outbox w \
         INNER JOIN notifications n ON n.user_name = w.user_name AND n.at = w.at \
         ORDER BY w.at DESC, w.webhook_id LIMIT ",
    );
    q.int(limit);
    Ok(q.load::<LogRow>(conn)?)
}
