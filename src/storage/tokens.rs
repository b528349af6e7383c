//! API tokens: a hash of each secret, never the secret, with its user, lifetime and last use.

use super::schema::api_tokens::dsl as t;
use super::{Conn, StorageError};
use diesel::prelude::*;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::api_tokens)]
pub struct TokenRow {
    pub id: String,
    pub user_name: String,
    /// Hex SHA-256 of the secret part.
    pub secret_hash: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub read_only: bool,
    pub note: String,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

pub fn insert(conn: &mut Conn, row: &TokenRow) -> Result<(), StorageError> {
    diesel::insert_into(t::api_tokens)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn find(conn: &mut Conn, id: &str) -> Result<Option<TokenRow>, StorageError> {
    Ok(t::api_tokens
        .filter(t::id.eq(id))
        .select(TokenRow::as_select())
        .first(conn)
        .optional()?)
}

/// Every token (of `user` when given), oldest first.
pub fn list(conn: &mut Conn, user: Option<&str>) -> Result<Vec<TokenRow>, StorageError> {
    let mut q = t::api_tokens.select(TokenRow::as_select()).into_boxed();
    if let Some(user) = user {
        q = q.filter(t::user_name.eq(user.to_owned()));
    }
    Ok(q.order((t::created_at, t::id)).load(conn)?)
}

/// Marks `id` revoked at `now`; false when there is no such token (or it was revoked already).
pub fn revoke(conn: &mut Conn, id: &str, now: i64) -> Result<bool, StorageError> {
    let n = diesel::update(
        t::api_tokens
            .filter(t::id.eq(id))
            .filter(t::revoked_at.is_null()),
    )
    .set(t::revoked_at.eq(now))
    .execute(conn)?;
    Ok(n > 0)
}

/// Deletes `user`'s tokens with this note that expired before `now` (ended web sessions).
pub fn purge_expired(
    conn: &mut Conn,
    user: &str,
    note: &str,
    now: i64,
) -> Result<(), StorageError> {
    diesel::delete(
        t::api_tokens
            .filter(t::user_name.eq(user))
            .filter(t::note.eq(note))
            .filter(t::expires_at.lt(now)),
    )
    .execute(conn)?;
    Ok(())
}

/// Records that these tokens were used at `now` (never moving a later mark back).
pub fn touch(conn: &mut Conn, ids: &[String], now: i64) -> Result<(), StorageError> {
    diesel::update(
        t::api_tokens
            .filter(t::id.eq_any(ids))
            .filter(t::last_used_at.is_null().or(t::last_used_at.lt(now))),
    )
    .set(t::last_used_at.eq(now))
    .execute(conn)?;
    Ok(())
}
