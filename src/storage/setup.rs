//! Partners, users, communities, memberships and rules: read for requests, written by `apply`.

use super::models::*;
use super::schema::*;
use super::stmt::Stmt;
use super::{Conn, StorageError};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};

/// An enabled user of an enabled partner.
pub fn active_user(conn: &mut Conn, name: &str) -> Result<Option<UserRow>, StorageError> {
    // Asked on every request: a `Stmt` (see its module) rather than the DSL.
    let mut q: Stmt<(Text, Text, Text, Text, Text, Bool, Bool)> = Stmt::new(
        "SELECT users.name, users.partner_id, users.password_hash, users.max_tlp, users.types, \
         users.redistributes, users.enabled \
         FROM users INNER JOIN partners ON partners.id = users.partner_id \
         WHERE users.enabled = TRUE AND partners.enabled = TRUE AND users.name = ",
    );
    q.text(name);
    Ok(q.get_result(conn).optional()?)
}

/// The identity (`None`: derived) of every partner that is or was a member of `community`.
pub fn partner_identities(
    conn: &mut Conn,
    community: &str,
) -> Result<Vec<(String, Option<String>)>, StorageError> {
    Ok(partners::table
        .inner_join(memberships::table)
        .filter(memberships::community_id.eq(community))
        .select((partners::id, partners::identity))
        .load(conn)?)
}

/// True when `id` is an enabled partner.
pub fn partner_active(conn: &mut Conn, id: &str) -> Result<bool, StorageError> {
    let n: i64 = partners::table
        .filter(partners::id.eq(id))
        .filter(partners::enabled.eq(true))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// The enabled communities `partner` is an enabled member of, in community id order.
pub fn memberships_of(
    conn: &mut Conn,
    partner: &str,
) -> Result<Vec<(CommunityRow, MembershipRow)>, StorageError> {
    Ok(memberships::table
        .inner_join(communities::table)
        .filter(memberships::partner_id.eq(partner))
        .filter(memberships::enabled.eq(true))
        .filter(communities::enabled.eq(true))
        .order(communities::id.asc())
        .select((CommunityRow::as_select(), MembershipRow::as_select()))
        .load(conn)?)
}

/// `partner`'s membership of the community whose collection id or alias is `key`.
pub fn membership_by_collection(
    conn: &mut Conn,
    partner: &str,
    key: &str,
) -> Result<Option<(CommunityRow, MembershipRow)>, StorageError> {
    // Asked on every request: a `Stmt` (see its module) rather than the DSL.
    type Community = (
        Text,
        Text,
        Text,
        Nullable<Text>,
        Text,
        Text,
        BigInt,
        Bool,
        Text,
        Bool,
    );
    type Member = (Text, Text, Text, Text, BigInt, Bool);
    let mut q: Stmt<(Community, Member)> = Stmt::new(
        "SELECT c.id, c.collection_id, c.title, c.description, c.unmarked, c.types, \
         c.delay_secs, c.backlog, c.dangling_refs, c.enabled, \
         m.community_id, m.partner_id, m.role, m.max_tlp, m.joined_at, m.enabled \
         FROM memberships m INNER JOIN communities c ON c.id = m.community_id \
         WHERE m.enabled = TRUE AND c.enabled = TRUE AND m.partner_id = ",
    );
    q.text(partner)
        .sql(" AND (c.collection_id = ")
        .text(key)
        .sql(" OR c.id = ")
        .text(key)
        .sql(") LIMIT 1");
    Ok(q.get_result(conn).optional()?)
}

/// What a writing transaction reads again of its caller: the user (when enabled, of an enabled
/// partner), whether its token is still live, and its membership of the community.
pub struct Caller {
    pub user: Option<UserRow>,
    /// `None` when the caller used no token.
    pub token_live: Option<bool>,
    pub membership: Option<(CommunityRow, MembershipRow)>,
}

/// The `Caller` rows of `user` of `partner`, signed in with `token`, in `community` (its id or
/// collection id).
pub fn caller(
    conn: &mut Conn,
    (user, partner, token): (&str, &str, Option<&str>),
    community: &str,
) -> Result<Caller, StorageError> {
    let token_live = match token {
        Some(id) => Some(super::tokens::find(conn, id)?.is_some_and(|t| t.revoked_at.is_none())),
        None => None,
    };
    Ok(Caller {
        user: active_user(conn, user)?,
        token_live,
        membership: membership_by_collection(conn, partner, community)?,
    })
}

/// Everything the setup file manages, as stored.
#[derive(Debug, Default, Clone)]
pub struct SetupRows {
    pub partners: Vec<PartnerRow>,
    pub users: Vec<UserRow>,
    pub communities: Vec<CommunityRow>,
    pub memberships: Vec<MembershipRow>,
    pub rules: Vec<RuleRow>,
    pub webhooks: Vec<WebhookRow>,
    pub mailboxes: Vec<MailboxRow>,
}

pub fn load_all(conn: &mut Conn) -> Result<SetupRows, StorageError> {
    Ok(SetupRows {
        partners: partners::table.order(partners::id).load(conn)?,
        users: users::table.order(users::name).load(conn)?,
        communities: communities::table.order(communities::id).load(conn)?,
        memberships: memberships::table
            .order((memberships::community_id, memberships::partner_id))
            .load(conn)?,
        rules: sharing_rules::table
            .order((sharing_rules::community_id, sharing_rules::producer_id))
            .load(conn)?,
        webhooks: super::schema::webhooks::table
            .order(super::schema::webhooks::id)
            .load(conn)?,
        mailboxes: super::schema::mailboxes::table
            .order(super::schema::mailboxes::id)
            .load(conn)?,
    })
}

/// Update, else insert: the same statements on both engines (no dialect-specific upsert).
macro_rules! upsert {
    ($conn:expr, $table:expr, $key:expr, $row:expr) => {{
        let updated = diesel::update($table.filter($key))
            .set($row)
            .execute($conn)?;
        if updated == 0 {
            diesel::insert_into($table).values($row).execute($conn)?;
        }
        Ok(())
    }};
}

pub fn upsert_partner(conn: &mut Conn, row: &PartnerRow) -> Result<(), StorageError> {
    upsert!(conn, partners::table, partners::id.eq(&row.id), row)
}

pub fn upsert_user(conn: &mut Conn, row: &UserRow) -> Result<(), StorageError> {
    upsert!(conn, users::table, users::name.eq(&row.name), row)
}

pub fn upsert_community(conn: &mut Conn, row: &CommunityRow) -> Result<(), StorageError> {
    upsert!(conn, communities::table, communities::id.eq(&row.id), row)
}

pub fn upsert_membership(conn: &mut Conn, row: &MembershipRow) -> Result<(), StorageError> {
    let key = memberships::community_id
        .eq(&row.community_id)
        .and(memberships::partner_id.eq(&row.partner_id));
    upsert!(conn, memberships::table, key, row)
}

pub fn replace_rules(conn: &mut Conn, rows: &[RuleRow]) -> Result<(), StorageError> {
    diesel::delete(sharing_rules::table).execute(conn)?;
    for row in rows {
        diesel::insert_into(sharing_rules::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}

/// Replaces every webhook with `rows`; the deliveries still owed to a removed one go too.
pub fn replace_webhooks(conn: &mut Conn, rows: &[WebhookRow]) -> Result<(), StorageError> {
    use super::schema::{webhook_outbox as o, webhooks as w};
    let keep: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    diesel::delete(o::table.filter(o::webhook_id.ne_all(&keep))).execute(conn)?;
    diesel::delete(w::table).execute(conn)?;
    for row in rows {
        diesel::insert_into(w::table).values(row).execute(conn)?;
    }
    Ok(())
}

/// Removes what a user followed and was told (its feed mark stays: positions are never given
/// twice), and where its mail stood.
pub fn forget_activity(conn: &mut Conn, user: &str) -> Result<(), StorageError> {
    diesel::delete(follows::table.filter(follows::user_name.eq(user))).execute(conn)?;
    diesel::delete(follow_holds::table.filter(follow_holds::user_name.eq(user))).execute(conn)?;
    diesel::delete(webhook_outbox::table.filter(webhook_outbox::user_name.eq(user)))
        .execute(conn)?;
    diesel::delete(notifications::table.filter(notifications::user_name.eq(user))).execute(conn)?;
    diesel::delete(mail_cursors::table.filter(mail_cursors::user_name.eq(user))).execute(conn)?;
    Ok(())
}

/// Replaces every mailbox with `rows`; the cursors of a removed one go too.
pub fn replace_mailboxes(conn: &mut Conn, rows: &[MailboxRow]) -> Result<(), StorageError> {
    use super::schema::{mail_cursors as c, mailboxes as m};
    let keep: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    diesel::delete(c::table.filter(c::mailbox_id.ne_all(&keep))).execute(conn)?;
    diesel::delete(m::table).execute(conn)?;
    for row in rows {
        diesel::insert_into(m::table).values(row).execute(conn)?;
    }
    Ok(())
}

/// The enabled users of enabled partners with an enabled membership of `community`.
pub fn readers_of(
    conn: &mut Conn,
    community: &str,
) -> Result<Vec<(UserRow, MembershipRow)>, StorageError> {
    Ok(users::table
        .inner_join(partners::table)
        .inner_join(memberships::table.on(memberships::partner_id.eq(users::partner_id)))
        .filter(memberships::community_id.eq(community))
        .filter(memberships::enabled.eq(true))
        .filter(users::enabled.eq(true))
        .filter(partners::enabled.eq(true))
        .order(users::name.asc())
        .select((UserRow::as_select(), MembershipRow::as_select()))
        .load(conn)?)
}

pub fn community(conn: &mut Conn, id: &str) -> Result<Option<CommunityRow>, StorageError> {
    Ok(communities::table
        .filter(communities::id.eq(id))
        .first(conn)
        .optional()?)
}

pub fn rules_of(conn: &mut Conn, community: &str) -> Result<Vec<RuleRow>, StorageError> {
    Ok(sharing_rules::table
        .filter(sharing_rules::community_id.eq(community))
        .load(conn)?)
}

/// The collection id of every community, by community id.
pub fn collection_ids(
    conn: &mut Conn,
) -> Result<std::collections::HashMap<String, String>, StorageError> {
    Ok(communities::table
        .select((communities::id, communities::collection_id))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect())
}

/// Ids of every community, enabled or not.
pub fn community_ids(conn: &mut Conn) -> Result<Vec<String>, StorageError> {
    Ok(communities::table
        .select(communities::id)
        .order(communities::id)
        .load(conn)?)
}
