//! Status resources, stored whole as JSON and owned by the posting partner.

use super::schema::statuses::dsl as s;
use super::{Conn, StorageError};
use diesel::prelude::*;

pub fn insert(
    conn: &mut Conn,
    id: &str,
    partner: &str,
    created_at: i64,
    body: &str,
) -> Result<(), StorageError> {
    diesel::insert_into(s::statuses)
        .values((
            s::id.eq(id),
            s::partner_id.eq(partner),
            s::created_at.eq(created_at),
            s::body.eq(body),
        ))
        .execute(conn)?;
    Ok(())
}

/// The status `id` with its owning partner, when created at or after `not_before`.
pub fn get(
    conn: &mut Conn,
    id: &str,
    not_before: i64,
) -> Result<Option<(String, String)>, StorageError> {
    Ok(s::statuses
        .filter(s::id.eq(id))
        .filter(s::created_at.ge(not_before))
        .select((s::partner_id, s::body))
        .first(conn)
        .optional()?)
}

/// Drops statuses older than the retention; returns how many.
pub fn purge(conn: &mut Conn, older_than: i64) -> Result<usize, StorageError> {
    Ok(diesel::delete(s::statuses.filter(s::created_at.lt(older_than))).execute(conn)?)
}
