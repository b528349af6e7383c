//! The operator's use cases, as the `cairn` commands run them: each is one transaction, called
//! off the async executor (a command blocks on it). Commands reach storage only through these.

use super::auth::token::{Minted, Request};
use super::tokens::TokenError;
use super::{deliveries, receipts, tokens, webhooks};
use crate::stix::timestamp::Timestamp;
use crate::storage::{Storage, StorageError};

/// `cairn token create`: a new token for an enabled user, shown once by the caller.
pub fn create_token(
    storage: &Storage,
    req: Request,
    now: i64,
) -> Result<Result<Minted, TokenError>, StorageError> {
    storage.write_now(|c| tokens::create(c, req, now))
}

/// `cairn token list`: every token, or one user's, one line each.
pub fn list_tokens(
    storage: &Storage,
    user: Option<&str>,
    now: i64,
) -> Result<Vec<String>, StorageError> {
    storage.read_now(|c| tokens::list(c, user, now))
}

/// `cairn token revoke`.
pub fn revoke_token(
    storage: &Storage,
    id: &str,
    now: i64,
) -> Result<Result<(), TokenError>, StorageError> {
    storage.write_now(|c| tokens::revoke(c, id, now))
}

/// `cairn receipts OBJECT_ID`: who pulled or posted its versions.
pub fn receipts_of_object(
    storage: &Storage,
    object: &str,
    community: Option<&str>,
) -> Result<Vec<String>, StorageError> {
    storage.read_now(|c| receipts::for_object(c, object, community))
}

/// `cairn receipts --user USER`: what the user pulled and posted since `since`.
pub fn receipts_of_user(
    storage: &Storage,
    user: &str,
    since: i64,
) -> Result<Vec<String>, StorageError> {
    storage.read_now(|c| receipts::for_user(c, user, since))
}

/// `cairn explain`: releases that came due first, as a request would process them, then why
/// each version of the object is or is not delivered to `user`.
pub fn explain(
    storage: &Storage,
    user: &str,
    community: &str,
    object_id: &str,
    now: Timestamp,
) -> Result<Vec<String>, StorageError> {
    storage.write_now(|c| {
        deliveries::release_due(c, community, now)?;
        deliveries::explain(c, (user, None), community, object_id, now)
    })
}

/// `cairn webhooks`: the newest `limit` deliveries, one line each.
pub fn webhook_log(storage: &Storage, limit: i64) -> Result<Vec<String>, StorageError> {
    storage.read_now(|c| webhooks::log_lines(c, limit))
}
