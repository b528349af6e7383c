//! The `meta` table: counters and flags kept as text under a key.

use super::{schema, stmt, Conn, StorageError};
use diesel::prelude::*;

/// Reads a value of the `meta` table.
pub fn meta_get(conn: &mut Conn, key: &str) -> Result<Option<String>, StorageError> {
    // Asked on every page (spec versions) and every POST: a `Stmt` rather than the DSL.
    let mut q: stmt::Stmt<diesel::sql_types::Text> =
        stmt::Stmt::new("SELECT value FROM meta WHERE key = ");
    q.text(key);
    Ok(q.get_result::<String>(conn).optional()?)
}

/// Writes a value of the `meta` table.
pub fn meta_put(conn: &mut Conn, key: &str, value: &str) -> Result<(), StorageError> {
    use schema::meta::dsl as m;
    let updated = diesel::update(m::meta.filter(m::key.eq(key)))
        .set(m::value.eq(value))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(m::meta)
            .values((m::key.eq(key), m::value.eq(value)))
            .execute(conn)?;
    }
    Ok(())
}

/// Returns the value under `key`, storing `make()` first if there is none (one transaction).
pub fn meta_get_or_init(
    conn: &mut Conn,
    key: &str,
    make: impl FnOnce() -> String,
) -> Result<String, StorageError> {
    if let Some(v) = meta_get(conn, key)? {
        return Ok(v);
    }
    let v = make();
    meta_put(conn, key, &v)?;
    Ok(v)
}
