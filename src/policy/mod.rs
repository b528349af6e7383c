//! Pure access decisions (docs/sharing.md). Storage functions that touch community data take a
//! grant that only this module can construct, so an unchecked read or write does not compile.

pub mod identity;

use crate::ids::{CommunityId, PartnerId, UserName};
use std::fmt;

/// An authenticated caller: one user of one partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user: UserName,
    pub partner: PartnerId,
    /// Authenticated with a read-only API token: never adds nor deletes.
    pub read_only: bool,
    /// The id of the API token it came with, if any: writes check it again as they commit.
    pub token: Option<String>,
}

const READ_ONLY: &str =
    "this request was authenticated with a read-only API token, which cannot add or delete objects";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Moderator,
    Contributor,
    Reader,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "moderator" => Some(Role::Moderator),
            "contributor" => Some(Role::Contributor),
            "reader" => Some(Role::Reader),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Moderator => "moderator",
            Role::Contributor => "contributor",
            Role::Reader => "reader",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A partner's enabled membership of an enabled community, as the policy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub community_id: CommunityId,
    pub partner: PartnerId,
    pub role: Role,
}

/// Why a request is refused. `Hidden` must be answered exactly like "does not exist".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    Hidden,
    Forbidden(&'static str),
}

/// Permission to read a community's objects as one principal.
#[derive(Debug, Clone)]
pub struct ReadGrant {
    community_id: CommunityId,
    reader: Principal,
}

impl ReadGrant {
    pub fn community_id(&self) -> &CommunityId {
        &self.community_id
    }
    pub fn reader(&self) -> &Principal {
        &self.reader
    }
}

/// Permission to add objects to a community; `producer` is the posting partner, never taken
/// from the objects themselves.
#[derive(Debug, Clone)]
pub struct WriteGrant {
    community_id: CommunityId,
    producer: PartnerId,
}

impl WriteGrant {
    pub fn community_id(&self) -> &CommunityId {
        &self.community_id
    }
    pub fn producer(&self) -> &PartnerId {
        &self.producer
    }
    /// Whether a stored version counts as already known to the poster when the same object is
    /// posted again: its own partner's, or one delivered to the posting user. Anything else
    /// must not be revealed by the answer to a POST.
    pub fn knows_stored(&self, producer: Option<&str>, delivered_to_poster: bool) -> bool {
        producer == Some(self.producer.as_str()) || delivered_to_poster
    }
}

/// Which of the delivered versions a caller may delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deletable {
    Any,
    ProducedBy(PartnerId),
}

#[derive(Debug, Clone)]
pub struct DeleteGrant {
    read: ReadGrant,
    deletable: Deletable,
}

impl DeleteGrant {
    pub fn read(&self) -> &ReadGrant {
        &self.read
    }
    pub fn may_delete(&self, producer: &str) -> bool {
        match &self.deletable {
            Deletable::Any => true,
            Deletable::ProducedBy(p) => p == producer,
        }
    }
}

fn own(principal: &Principal, m: &Membership) -> bool {
    principal.partner == m.partner
}

/// `can_read` and `can_write` of the collection resource.
pub fn collection_flags(principal: &Principal, m: &Membership) -> (bool, bool) {
    if !own(principal, m) {
        return (false, false);
    }
    (true, m.role != Role::Reader && !principal.read_only)
}

pub fn grant_read(principal: &Principal, m: &Membership) -> Result<ReadGrant, Denied> {
    if !own(principal, m) {
        return Err(Denied::Hidden);
    }
    Ok(ReadGrant {
        community_id: m.community_id.clone(),
        reader: principal.clone(),
    })
}

pub fn grant_write(principal: &Principal, m: &Membership) -> Result<WriteGrant, Denied> {
    grant_read(principal, m)?;
    if principal.read_only {
        return Err(Denied::Forbidden(READ_ONLY));
    }
    match m.role {
        Role::Moderator | Role::Contributor => Ok(WriteGrant {
            community_id: m.community_id.clone(),
            producer: principal.partner.clone(),
        }),
        Role::Reader => Err(Denied::Forbidden(
            "this partner's role in the community is reader, which cannot add objects",
        )),
    }
}

pub fn grant_delete(principal: &Principal, m: &Membership) -> Result<DeleteGrant, Denied> {
    let read = grant_read(principal, m)?;
    if principal.read_only {
        return Err(Denied::Forbidden(READ_ONLY));
    }
    let deletable = match m.role {
        Role::Moderator => Deletable::Any,
        Role::Contributor => Deletable::ProducedBy(principal.partner.clone()),
        Role::Reader => {
            return Err(Denied::Forbidden(
                "this partner's role in the community is reader, which cannot delete objects",
            ))
        }
    };
    Ok(DeleteGrant { read, deletable })
}

const MODERATORS_ONLY: &str =
    "only the community's moderators see its members, explain its deliveries, its receipts and \
     its refusals";

/// The moderator pages of a community (members, explain, receipts, refusals): for its
/// moderators; hidden from anyone not in it.
pub fn grant_moderate(principal: &Principal, m: &Membership) -> Result<(), Denied> {
    grant_read(principal, m)?;
    match m.role {
        Role::Moderator => Ok(()),
        _ => Err(Denied::Forbidden(MODERATORS_ONLY)),
    }
}

/// Who posted a status, and to which community.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusOwner {
    pub partner: PartnerId,
    pub user: UserName,
    pub community_id: CommunityId,
}

/// A status lists what was refused and why, which may name objects above another user's caps:
/// it is for the user who posted, and the posting partner's moderators of that community
/// (`role` is the caller's partner's role there, if a member).
pub fn may_read_status(principal: &Principal, owner: &StatusOwner, role: Option<Role>) -> bool {
    principal.partner == owner.partner
        && (principal.user == owner.user || role == Some(Role::Moderator))
}

/// The API root `/{p}/` is served to the users of partner `p` only.
pub fn may_use_api_root(principal: &Principal, api_root: &str) -> bool {
    principal.partner == api_root
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(partner: &str) -> Principal {
        Principal {
            user: UserName::known(format!("{partner}-u")),
            partner: PartnerId::known(partner),
            read_only: false,
            token: None,
        }
    }

    #[test]
    fn a_read_only_token_reads_but_never_writes() {
        let ro = Principal {
            read_only: true,
            ..p("a")
        };
        let moderator = m("a", Role::Moderator);
        assert!(grant_read(&ro, &moderator).is_ok());
        assert!(matches!(
            grant_write(&ro, &moderator),
            Err(Denied::Forbidden(READ_ONLY))
        ));
        assert!(matches!(
            grant_delete(&ro, &moderator),
            Err(Denied::Forbidden(READ_ONLY))
        ));
        assert_eq!(collection_flags(&ro, &moderator), (true, false));
        // A stranger still learns nothing.
        assert!(matches!(
            grant_write(&ro, &m("b", Role::Moderator)),
            Err(Denied::Hidden)
        ));
    }

    fn m(partner: &str, role: Role) -> Membership {
        Membership {
            community_id: CommunityId::known("c"),
            partner: PartnerId::known(partner),
            role,
        }
    }

    #[test]
    fn only_a_communitys_moderators_moderate_it_and_strangers_see_nothing() {
        assert_eq!(grant_moderate(&p("a"), &m("a", Role::Moderator)), Ok(()));
        for role in [Role::Contributor, Role::Reader] {
            let denied = grant_moderate(&p("a"), &m("a", role));
            assert!(matches!(denied, Err(Denied::Forbidden(_))), "{role:?}");
        }
        let stranger = grant_moderate(&p("b"), &m("a", Role::Moderator));
        assert!(matches!(stranger, Err(Denied::Hidden)));
    }

    #[test]
    fn roles_decide_write_and_delete() {
        assert!(grant_write(&p("a"), &m("a", Role::Contributor)).is_ok());
        assert!(matches!(
            grant_write(&p("a"), &m("a", Role::Reader)),
            Err(Denied::Forbidden(_))
        ));
        let d = grant_delete(&p("a"), &m("a", Role::Contributor)).unwrap();
        assert!(d.may_delete("a") && !d.may_delete("b"));
        let d = grant_delete(&p("a"), &m("a", Role::Moderator)).unwrap();
        assert!(d.may_delete("b"));
        assert!(matches!(
            grant_delete(&p("a"), &m("a", Role::Reader)),
            Err(Denied::Forbidden(_))
        ));
    }

    #[test]
    fn another_partners_membership_is_hidden() {
        assert_eq!(
            grant_read(&p("a"), &m("b", Role::Moderator)).unwrap_err(),
            Denied::Hidden
        );
        assert_eq!(
            collection_flags(&p("a"), &m("b", Role::Moderator)),
            (false, false)
        );
        assert_eq!(
            collection_flags(&p("a"), &m("a", Role::Reader)),
            (true, false)
        );
    }
}
