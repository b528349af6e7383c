//! `cairn token create | list | revoke`: API tokens for SIEMs and TIPs, each acting as one user
//! (docs/setup-file.md, "API tokens"). Only a hash of a token is kept; the token is shown once.

use super::auth::token::{self, Minted, Request};
use crate::stix::timestamp::Timestamp;
use crate::storage::tokens::{self, TokenRow};
use crate::storage::{setup, Conn, StorageError};

/// Why a token was not created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("there is no enabled user '{0}' (of an enabled partner); tokens act as a user")]
    NoSuchUser(String),
    #[error("there is no token '{0}' that is not revoked already")]
    NoSuchToken(String),
}

/// Stores a new token for an enabled user; the caller shows `token` once.
pub fn create(
    c: &mut Conn,
    req: Request,
    now: i64,
) -> Result<Result<Minted, TokenError>, StorageError> {
    if setup::active_user(c, &req.user)?.is_none() {
        return Ok(Err(TokenError::NoSuchUser(req.user)));
    }
    let minted = token::mint(req, now);
    tokens::insert(c, &minted.row)?;
    Ok(Ok(minted))
}

pub fn revoke(c: &mut Conn, id: &str, now: i64) -> Result<Result<(), TokenError>, StorageError> {
    Ok(match tokens::revoke(c, id, now)? {
        true => Ok(()),
        false => Err(TokenError::NoSuchToken(id.to_owned())),
    })
}

/// One line per token (of `user` when given): id, user, created, expires, last used, state and
/// note; never a secret.
pub fn list(c: &mut Conn, user: Option<&str>, now: i64) -> Result<Vec<String>, StorageError> {
    let rows = tokens::list(c, user)?;
    let mut out = vec!["id\tuser\tcreated\texpires\tlast used\tstate\tnote".to_owned()];
    out.extend(rows.iter().map(|r| line(r, now)));
    Ok(out)
}

/// What a token is now: revoked, expired, read-only or active.
pub fn state(r: &TokenRow, now: i64) -> &'static str {
    match (r.revoked_at, r.expires_at) {
        (Some(_), _) => "revoked",
        (None, Some(t)) if t <= now => "expired",
        _ if r.read_only => "read-only",
        _ => "active",
    }
}

fn line(r: &TokenRow, now: i64) -> String {
    let when = |t: Option<i64>| {
        t.map_or_else(|| "-".to_owned(), |t| Timestamp::from_micros(t).to_string())
    };
    let state = state(r, now);
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}\t{}",
        r.id,
        r.user_name,
        Timestamp::from_micros(r.created_at),
        when(r.expires_at),
        when(r.last_used_at),
        state,
        r.note
    )
}
