//! A POST's reads and writes, each in one call, inside the transaction that stores it: `load`
//! reads everything its objects are decided on, `store` writes what was decided (the versions,
//! their deliveries, the status and the receipt). The decisions are `service::ingest`'s.

use crate::policy::StatusOwner;
use crate::sharing::plan;
use crate::stix::timestamp::Timestamp;
use crate::storage::objects::{self, AddedClock, Known, Nums, Placed};
use crate::storage::receipts::{self, Kind, Receipt};
use crate::storage::setup::{self, Caller};
use crate::storage::snapshot::{self, Setting};
use crate::storage::{statuses, Conn, StorageError};
use std::collections::HashSet;

/// Who posts to which community, and the ids the POST names.
pub struct PostKeys<'a> {
    /// (user, partner, token id) of the caller.
    pub caller: (&'a str, &'a str, Option<&'a str>),
    pub community: &'a str,
    /// Every id posted or referenced (see `objects::named`).
    pub named: &'a [&'a str],
    /// The ids posted.
    pub posted: &'a [&'a str],
    pub now: Timestamp,
}

/// What a POST to a community it is a member of decides on.
pub struct PostState {
    pub setting: Setting,
    /// Ids with a delay that has ended: released before anything else is decided.
    pub due: Vec<String>,
    /// The identity (`None`: derived) of every partner that is or was a member.
    pub identities: Vec<(String, Option<String>)>,
    pub nums: Nums,
    /// Every stored version of the posted ids, oldest first, with whether the poster has it.
    pub stored: Vec<Known>,
    pub clock: AddedClock,
    /// The sequence number the first version stored gets.
    pub next_seq: i64,
}

/// The caller as of this transaction and, when it is a member, what its POST decides on.
pub fn load(conn: &mut Conn, keys: &PostKeys) -> Result<(Caller, Option<PostState>), StorageError> {
    let caller = setup::caller(conn, keys.caller, keys.community)?;
    let Some((row, _)) = &caller.membership else {
        return Ok((caller, None));
    };
    let readers = setup::readers_of(conn, &row.id)?;
    let setting = snapshot::setting_of(conn, row, &readers)?;
    let nums = objects::nums(conn, &row.id, keys.named)?;
    let mut posted: Vec<i64> = keys
        .posted
        .iter()
        .filter_map(|id| nums.get(*id))
        .copied()
        .collect();
    posted.sort_unstable();
    posted.dedup();
    let state = PostState {
        due: objects::due_ids(conn, &row.id, keys.now)?,
        identities: setup::partner_identities(conn, &row.id)?,
        stored: objects::stored_versions(conn, &row.id, keys.caller.0, &posted)?,
        clock: AddedClock::load(conn)?,
        next_seq: objects::next_seq(conn)?,
        setting,
        nums,
    };
    Ok((caller, Some(state)))
}

/// The versions a POST stores, under the sequence numbers it handed out from `next_seq`.
pub struct Versions<'a> {
    pub producer: &'a str,
    pub placed: &'a [Placed],
    pub seqs: &'a [i64],
    /// The posted ids that had a version before.
    pub had: &'a HashSet<String>,
    pub nums: Nums,
    pub clock: AddedClock,
}

/// A POST's status resource and its owner.
pub struct StatusRecord<'a> {
    pub id: &'a str,
    pub owner: &'a StatusOwner,
    pub at: i64,
    pub json: &'a str,
    /// Objects refused.
    pub refused: u64,
}

/// Statuses and receipts from before these times are purged (statuses, receipts).
pub type Purge = (i64, i64);

/// The refresh a POST decided: its changes, the community's classes as loaded, and when.
pub type Refresh = (plan::Changes, Vec<plan::Class>, Timestamp);

/// Writes what a POST decided: its versions, their deliveries, its status and its receipt,
/// and purges what is past keeping.
pub fn store(
    conn: &mut Conn,
    community: &str,
    mut versions: Versions,
    status: StatusRecord,
    (refresh, purge): (Option<Refresh>, Purge),
) -> Result<(), StorageError> {
    let place = (community, Some(versions.producer));
    let had = versions.had;
    objects::insert_numbered(
        conn,
        place,
        versions.placed,
        versions.seqs,
        had,
        &mut versions.nums,
    )?;
    versions.clock.save(conn)?;
    if let Some((changes, classes, at)) = refresh {
        snapshot::apply(conn, community, changes, classes, at)?;
    }
    statuses::insert(conn, status.id, status.owner, status.at, status.json)?;
    statuses::purge(conn, purge.0)?;
    let receipt = Receipt {
        user: status.owner.user.to_string(),
        community: community.to_owned(),
        kind: Kind::Push,
        at: status.at,
        seqs: versions.seqs.to_vec(),
        refused: i64::try_from(status.refused).unwrap_or(i64::MAX),
    };
    receipts::insert(conn, &[receipt])?;
    receipts::purge(conn, purge.1)?;
    Ok(())
}
