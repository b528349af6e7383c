//! Status resources, stored whole as JSON with who posted them and where.

use super::schema::statuses::dsl as s;
use super::{Conn, StorageError};
use crate::ids::{CommunityId, PartnerId, UserName};
use diesel::prelude::*;

use crate::policy::StatusOwner;

pub fn insert(
    conn: &mut Conn,
    id: &str,
    owner: &StatusOwner,
    created_at: i64,
    body: &str,
) -> Result<(), StorageError> {
    diesel::insert_into(s::statuses)
        .values((
            s::id.eq(id),
            s::partner_id.eq(owner.partner.as_str()),
            s::user_name.eq(owner.user.as_str()),
            s::community_id.eq(owner.community_id.as_str()),
            s::created_at.eq(created_at),
            s::body.eq(body),
        ))
        .execute(conn)?;
    Ok(())
}

/// The status `id` with who posted it, when created at or after `not_before`. A row from
/// before statuses named their user has no owner.
pub fn get(
    conn: &mut Conn,
    id: &str,
    not_before: i64,
) -> Result<Option<(Option<StatusOwner>, String)>, StorageError> {
    let row: Option<(String, Option<String>, Option<String>, String)> = s::statuses
        .filter(s::id.eq(id))
        .filter(s::created_at.ge(not_before))
        .select((s::partner_id, s::user_name, s::community_id, s::body))
        .first(conn)
        .optional()?;
    Ok(row.map(|(partner, user, community, body)| {
        let owner = user.zip(community).map(|(user, community_id)| StatusOwner {
            partner: PartnerId::known(partner),
            user: UserName::known(user),
            community_id: CommunityId::known(community_id),
        });
        (owner, body)
    }))
}

/// The newest statuses of `partner`'s posts to `community` created at or after `not_before`,
/// at most `limit`: (user, created_at, body).
pub fn recent(
    conn: &mut Conn,
    (partner, community): (&str, &str),
    not_before: i64,
    limit: i64,
) -> Result<Vec<(Option<String>, i64, String)>, StorageError> {
    Ok(s::statuses
        .filter(s::created_at.ge(not_before))
        .filter(s::partner_id.eq(partner))
        .filter(s::community_id.eq(community))
        .order(s::created_at.desc())
        .limit(limit)
        .select((s::user_name, s::created_at, s::body))
        .load(conn)?)
}

/// Drops statuses older than the retention; returns how many.
pub fn purge(conn: &mut Conn, older_than: i64) -> Result<usize, StorageError> {
    Ok(diesel::delete(s::statuses.filter(s::created_at.lt(older_than))).execute(conn)?)
}
