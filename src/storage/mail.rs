//! Mail cursors (docs/sharing.md section 8): per mailbox and user, the feed position mailed
//! through and when the next mail may go, taken by a sender with a lease like webhooks.

use super::schema::mail_cursors::dsl as c;
use super::stmt::Stmt;
use super::{Conn, StorageError};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

/// A mailbox and user whose next mail may go now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueMail {
    pub mailbox: String,
    pub address: String,
    pub schedule: String,
    pub user: String,
    pub partner: String,
    /// The feed position mailed through: the next mail starts after it.
    pub sent_through: i64,
    /// Failed attempts since the last mail that went.
    pub attempts: i64,
    /// When its cursor came due (none before its first mail): to lease it only if no other
    /// sender did.
    pub next_at: Option<i64>,
    /// The last feed position this mail may cover (see `BOUND_SQL`).
    pub bound: i64,
}

type DueSql = (
    Text,
    Text,
    Text,
    BigInt,
    BigInt,
    Text,
    Text,
    Nullable<BigInt>,
    Nullable<BigInt>,
    Nullable<BigInt>,
);
type DueRow = (
    String,
    String,
    String,
    i64,
    i64,
    String,
    String,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

const DUE_SQL: &str = "SELECT mb.id, mb.address, mb.schedule, mb.digest_minute, mb.created_at, \
     u.name, u.partner_id, cur.sent_through, cur.next_at, cur.attempts \
     FROM mailboxes mb INNER JOIN users u \
       ON mb.owner = 'user:' || u.name OR mb.owner = 'partner:' || u.partner_id \
     INNER JOIN partners p ON p.id = u.partner_id \
     LEFT JOIN mail_cursors cur ON cur.mailbox_id = mb.id AND cur.user_name = u.name \
     WHERE u.enabled AND p.enabled AND (cur.next_at IS NULL OR cur.next_at <= ";

/// The last feed position a mail of this mailbox may cover now: any for `immediate` (positions
/// may run ahead of the clock by a few microseconds), the last digest time for `daily`
/// (entries after it wait for the next one).
const BOUND_SQL: &str = "(CASE WHEN mb.schedule = 'immediate' THEN ";

/// The mailboxes and users with something to mail at `now`: an entry after what was mailed,
/// up to the mailbox's bound. A user seen for the first time starts with what came from the
/// moment the mailbox was set up. `day_start` is midnight UTC before `now`. Read only: the
/// sender takes what it will send with `take`.
pub fn due(conn: &mut Conn, now: i64, day_start: i64) -> Result<Vec<DueMail>, StorageError> {
    let mut q: Stmt<DueSql> = Stmt::new(DUE_SQL);
    q.int(now)
        .sql(
            ") AND EXISTS (SELECT 1 FROM notifications n WHERE n.user_name = u.name \
              AND n.at > COALESCE(cur.sent_through, mb.created_at - 1) AND n.at <= ",
        )
        .sql(BOUND_SQL)
        .int(i64::MAX)
        .sql(" ELSE ");
    bound_of_daily(&mut q, now, day_start);
    q.sql(" END)) ORDER BY mb.id, u.name");
    let rows: Vec<DueRow> = q.load::<DueRow>(conn)?;
    let due = |(mailbox, address, schedule, minute, created, user, partner, sent, next, tries): DueRow| {
        let bound = match schedule.as_str() {
            "immediate" => i64::MAX,
            _ => last_digest(now, day_start, minute),
        };
        DueMail {
            mailbox,
            address,
            schedule,
            user,
            partner,
            sent_through: sent.unwrap_or(created - 1),
            attempts: tries.unwrap_or(0),
            next_at: next,
            bound,
        }
    };
    Ok(rows.into_iter().map(due).collect())
}

/// Leases these until `lease_until`; returns those taken (another sender may have taken one
/// meanwhile).
pub fn take(
    conn: &mut Conn,
    due: Vec<DueMail>,
    lease_until: i64,
) -> Result<Vec<DueMail>, StorageError> {
    let mut out = vec![];
    for d in due {
        let key = (d.mailbox.as_str(), d.user.as_str());
        let taken = match d.next_at {
            Some(next) => lease(conn, key, next, lease_until)?,
            None => start(conn, key, d.sent_through, lease_until)?,
        };
        if taken {
            out.push(d);
        }
    }
    Ok(out)
}

const DAY: i64 = 86_400_000_000;

/// The last digest time at or before `now`.
pub fn last_digest(now: i64, day_start: i64, minute: i64) -> i64 {
    let today = day_start + minute * 60_000_000;
    if today > now {
        today - DAY
    } else {
        today
    }
}

/// `last_digest` in SQL, over `mb.digest_minute`.
fn bound_of_daily(q: &mut Stmt<'_, DueSql>, now: i64, day_start: i64) {
    q.sql("(")
        .int(day_start)
        .sql(" + mb.digest_minute * 60000000 - CASE WHEN ")
        .int(day_start)
        .sql(" + mb.digest_minute * 60000000 > ")
        .int(now)
        .sql(" THEN 86400000000 ELSE 0 END)");
}

/// The user's last feed position at or before `bound` (entries the feed no longer serves,
/// from a community left, are passed over with it).
pub fn last_at(conn: &mut Conn, user: &str, bound: i64) -> Result<Option<i64>, StorageError> {
    use super::schema::notifications::dsl as n;
    Ok(n::notifications
        .filter(n::user_name.eq(user))
        .filter(n::at.le(bound))
        .select(diesel::dsl::max(n::at))
        .first(conn)?)
}

/// Leases a cursor unless another sender moved it meanwhile.
fn lease(
    conn: &mut Conn,
    (mailbox, user): (&str, &str),
    next_at: i64,
    lease_until: i64,
) -> Result<bool, StorageError> {
    let taken = diesel::update(
        c::mail_cursors
            .filter(c::mailbox_id.eq(mailbox))
            .filter(c::user_name.eq(user))
            .filter(c::next_at.eq(next_at)),
    )
    .set(c::next_at.eq(lease_until))
    .execute(conn)?;
    Ok(taken == 1)
}

/// Creates a leased cursor unless another sender created it meanwhile.
fn start(
    conn: &mut Conn,
    (mailbox, user): (&str, &str),
    sent_through: i64,
    lease_until: i64,
) -> Result<bool, StorageError> {
    let mut q: Stmt<()> = Stmt::new(
        "INSERT INTO mail_cursors (mailbox_id, user_name, sent_through, next_at, attempts, \
         last_result) VALUES (",
    );
    q.text(mailbox)
        .sql(", ")
        .text(user)
        .sql(", ")
        .int(sent_through)
        .sql(", ")
        .int(lease_until)
        .sql(", 0, 'started') ON CONFLICT DO NOTHING");
    Ok(q.execute(conn)? == 1)
}

/// Records an attempt: where the mailing stands, when the next mail may go, and how it went.
pub fn record(
    conn: &mut Conn,
    due: &DueMail,
    sent_through: i64,
    next_at: i64,
    attempts: i64,
    result: &str,
) -> Result<(), StorageError> {
    diesel::update(
        c::mail_cursors
            .filter(c::mailbox_id.eq(&due.mailbox))
            .filter(c::user_name.eq(&due.user)),
    )
    .set((
        c::sent_through.eq(sent_through),
        c::next_at.eq(next_at),
        c::attempts.eq(attempts),
        c::last_result.eq(result),
    ))
    .execute(conn)?;
    Ok(())
}

/// True when the setup file names at least one mailbox.
pub fn any(conn: &mut Conn) -> Result<bool, StorageError> {
    use super::schema::mailboxes::dsl as m;
    let one: Option<String> = m::mailboxes.select(m::id).first(conn).optional()?;
    Ok(one.is_some())
}
