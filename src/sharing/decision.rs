//! The delivery decision of docs/sharing.md section 3: whether one object version goes to one
//! reader, and which rule decides. Pure: every endpoint, the delivery bookkeeping and
//! `cairn explain` call these functions and nothing else decides who sees what.

use crate::ids::{PartnerId, UserName};
use crate::stix::timestamp::Timestamp;
use crate::stix::tlp::Tlp;
use crate::stix::type_name::TypeName;

/// Who is reading: one user of one partner, with the caps that narrow what it receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderCaps {
    pub partner: PartnerId,
    pub user: UserName,
    /// The user's own cap (`[[user]] max_tlp`, default red).
    pub user_max_tlp: Tlp,
    /// Only these STIX types are delivered to the user; empty = all.
    pub user_types: Vec<TypeName>,
    /// A feed that passes data on: never receives AMBER+STRICT or RED.
    pub redistributes: bool,
    /// The membership's cap in this community (default amber+strict).
    pub member_max_tlp: Tlp,
    /// When the membership began, for `backlog = false`.
    pub joined_at: Timestamp,
}

/// The TLP assumed for objects without a TLP marking, or refusing them at POST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unmarked {
    Level(Tlp),
    Reject,
}

/// The community-wide settings that take part in delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommunityPolicy {
    pub unmarked: Unmarked,
    /// Only these STIX types are accepted at POST; empty = all.
    pub types: Vec<TypeName>,
    /// Every contribution is released to others this long (microseconds) after it was added.
    pub delay: i64,
    /// Whether a new member receives what was added before it joined.
    pub backlog: bool,
    /// `dangling_refs = "allow"` switches the reference rule off.
    pub dangling_allowed: bool,
}

/// A producer's rule for its own contributions in one community.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerRule {
    /// Only these of its types are shared; empty = all.
    pub types: Vec<TypeName>,
    /// Never delivered to these partners.
    pub exclude: Vec<PartnerId>,
    /// Released to others this long (microseconds) after it was added.
    pub delay: i64,
}

/// A RED recipient named in `Cairn-Recipients`: a whole partner or one of its users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    Partner(PartnerId),
    User { partner: PartnerId, user: UserName },
}

impl Recipient {
    /// Parses `acme` or `acme/soc-lead`.
    pub fn parse(text: &str) -> Option<Recipient> {
        let text = text.trim();
        match text.split_once('/') {
            Some((p, u)) => Some(Recipient::User {
                partner: PartnerId::parse(p).ok()?,
                user: UserName::parse(u).ok()?,
            }),
            None => PartnerId::parse(text).ok().map(Recipient::Partner),
        }
    }

    pub fn partner(&self) -> &PartnerId {
        match self {
            Recipient::Partner(p) | Recipient::User { partner: p, .. } => p,
        }
    }

    fn names(&self, reader: &ReaderCaps) -> bool {
        match self {
            Recipient::Partner(p) => *p == reader.partner,
            Recipient::User { partner, user } => *partner == reader.partner && *user == reader.user,
        }
    }
}

impl std::fmt::Display for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Recipient::Partner(p) => f.write_str(p),
            Recipient::User { partner, user } => write!(f, "{partner}/{user}"),
        }
    }
}

/// What the decision needs to know about one stored object version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionFacts {
    /// The posting partner; `None` for the built-in TLP 2.0 definitions every collection serves.
    pub producer: Option<PartnerId>,
    pub stix_type: TypeName,
    /// The most restrictive TLP among its object and granular markings; `None` when unmarked.
    pub tlp: Option<Tlp>,
    /// RED recipients named when it was posted.
    pub recipients: Vec<Recipient>,
    /// When it was added.
    pub added_at: Timestamp,
    /// A version of an id another partner owns, hidden from its producer (section 6); its
    /// `recipients` name the one user who posted it.
    pub private_copy: bool,
}

/// Why a version is or is not delivered; what `cairn explain` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Delivered: the built-in TLP definitions go to every member.
    BuiltIn,
    /// Delivered: the reader's own partner produced it (rule 2).
    OwnContribution,
    /// Delivered: shared by the producer's rules, within the caps (rules 3-6).
    Shared,
    /// The user only receives some types (`[[user]] types`).
    TypeNotForUser(String),
    /// The producer's rule does not share this type.
    TypeNotShared(String),
    /// The producer's rule excludes the reader's partner.
    Excluded,
    /// Still under delay: released at this time.
    Embargoed { until: Timestamp },
    /// Added before the membership began, and the community has `backlog = false`.
    BeforeMembership,
    /// The effective TLP is above the reader's cap.
    AboveCap { level: Tlp, cap: Tlp },
    /// AMBER+STRICT or RED never go to a user that redistributes.
    Redistributor(Tlp),
    /// RED goes only to the producer and the recipients it named.
    RedNotNamed,
    /// A newer released version from the same producer is not delivered to this reader (rule 5).
    Superseded(Box<Reason>),
    /// A referenced object is absent or hidden from this reader (rule 6).
    HiddenReference(String),
    /// Its producer's private copy of another partner's object (section 6).
    PrivateCopy,
}

impl Reason {
    pub fn describe(&self) -> String {
        match self {
            Reason::BuiltIn => "built-in TLP definition, served to every member".into(),
            Reason::OwnContribution => {
                "posted by the reader's own partner; only the user's caps apply".into()
            }
            Reason::Shared => "shared by the producer's rules and within the reader's caps".into(),
            Reason::TypeNotForUser(t) => {
                format!("the user receives only some types, not {t} ([[user]] types)")
            }
            Reason::TypeNotShared(t) => {
                format!("the producer's rule does not share {t} ([[community.rule]] types)")
            }
            Reason::Excluded => {
                "the producer's rule excludes the reader's partner ([[community.rule]] exclude)"
                    .into()
            }
            Reason::Embargoed { until } => format!("under delay until {until}"),
            Reason::BeforeMembership => {
                "added before the membership began and the community has backlog = false".into()
            }
            Reason::AboveCap { level, cap } => {
                format!(
                    "TLP:{} is above the reader's cap TLP:{}",
                    level.as_str().to_uppercase(),
                    cap.as_str().to_uppercase()
                )
            }
            Reason::Redistributor(level) => format!(
                "TLP:{} never goes to a user with redistributes = true",
                level.as_str().to_uppercase()
            ),
            Reason::RedNotNamed => {
                "TLP:RED goes only to the producer and the recipients it named".into()
            }
            Reason::Superseded(inner) => format!(
                "a newer version from the same producer is withheld: {}",
                inner.describe()
            ),
            Reason::HiddenReference(id) => format!(
                "it references {id}, which this reader cannot see (dangling_refs = \"hide\")"
            ),
            Reason::PrivateCopy => "a private copy: its producer posted a version of an id \
                 another partner owns, which was hidden from it; only the producer receives it"
                .into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Deliver(Reason),
    Withhold(Reason),
}

impl Verdict {
    pub fn delivered(&self) -> bool {
        matches!(self, Verdict::Deliver(_))
    }
}

/// The TLP used for delivery: the version's own, else the community's `unmarked` level.
/// (`unmarked = "reject"` objects are refused at POST; were one stored, it counts as RED.)
pub fn effective_tlp(community: &CommunityPolicy, v: &VersionFacts) -> Tlp {
    match (v.tlp, community.unmarked) {
        (Some(t), _) => t,
        (None, Unmarked::Level(t)) => t,
        (None, Unmarked::Reject) => Tlp::Red,
    }
}

/// When a version is released to readers other than its producer.
pub fn release_at(
    community: &CommunityPolicy,
    rule: Option<&ProducerRule>,
    v: &VersionFacts,
) -> Timestamp {
    let delay = community.delay.max(rule.map_or(0, |r| r.delay));
    v.added_at.plus(delay)
}

fn type_allowed(list: &[TypeName], t: &str) -> bool {
    list.is_empty() || list.iter().any(|x| x == t)
}

/// The user's own caps, which apply to everything it receives.
fn user_caps(reader: &ReaderCaps, level: Tlp, stix_type: &str) -> Option<Reason> {
    if !type_allowed(&reader.user_types, stix_type) {
        return Some(Reason::TypeNotForUser(stix_type.into()));
    }
    if reader.redistributes && level >= Tlp::AmberStrict {
        return Some(Reason::Redistributor(level));
    }
    if level > reader.user_max_tlp {
        return Some(Reason::AboveCap {
            level,
            cap: reader.user_max_tlp,
        });
    }
    None
}

/// Rules 1-4: one version on its own, at time `now`. Rule 1 (membership) is the caller's: a
/// `ReaderCaps` exists only for an enabled member.
pub fn decide_version(
    reader: &ReaderCaps,
    community: &CommunityPolicy,
    rule: Option<&ProducerRule>,
    v: &VersionFacts,
    now: Timestamp,
) -> Verdict {
    let level = effective_tlp(community, v);
    let Some(producer) = &v.producer else {
        return Verdict::Deliver(Reason::BuiltIn);
    };
    // A private copy goes to the user who posted it, named as its one recipient: another user
    // of its partner may see the owner's object, which the copy must not stand in for.
    if v.private_copy && !v.recipients.iter().any(|r| r.names(reader)) {
        return Verdict::Withhold(Reason::PrivateCopy);
    }
    if *producer == reader.partner {
        // Rule 2: the producer always sees its own contributions, narrowed only by user caps.
        return match user_caps(reader, level, &v.stix_type) {
            Some(why) => Verdict::Withhold(why),
            None => Verdict::Deliver(Reason::OwnContribution),
        };
    }
    // Rule 3: the producer's sharing rule and the delays.
    if let Some(r) = rule {
        if !type_allowed(&r.types, &v.stix_type) {
            return Verdict::Withhold(Reason::TypeNotShared(v.stix_type.to_string()));
        }
        if r.exclude.contains(&reader.partner) {
            return Verdict::Withhold(Reason::Excluded);
        }
    }
    if !community.backlog && v.added_at < reader.joined_at {
        return Verdict::Withhold(Reason::BeforeMembership);
    }
    let until = release_at(community, rule, v);
    if now < until {
        return Verdict::Withhold(Reason::Embargoed { until });
    }
    // Rule 4: TLP within the caps.
    if let Some(why) = user_caps(reader, level, &v.stix_type) {
        return Verdict::Withhold(why);
    }
    let cap = reader.member_max_tlp.min(reader.user_max_tlp);
    if level > cap {
        return Verdict::Withhold(Reason::AboveCap { level, cap });
    }
    if level == Tlp::Red && !v.recipients.iter().any(|r| r.names(reader)) {
        return Verdict::Withhold(Reason::RedNotNamed);
    }
    Verdict::Deliver(Reason::Shared)
}

/// Rules 1-5: `newest_released` is the newest version of the same object from the same producer
/// whose delay has passed (if any, possibly `v` itself).
pub fn decide_core(
    reader: &ReaderCaps,
    community: &CommunityPolicy,
    rule: Option<&ProducerRule>,
    v: &VersionFacts,
    newest_released: Option<&VersionFacts>,
    now: Timestamp,
) -> Verdict {
    let verdict = decide_version(reader, community, rule, v, now);
    let Verdict::Deliver(Reason::Shared) = &verdict else {
        return verdict;
    };
    if let Some(n) = newest_released {
        if let Verdict::Withhold(why) = decide_version(reader, community, rule, n, now) {
            return Verdict::Withhold(Reason::Superseded(Box::new(why)));
        }
    }
    verdict
}

/// One version in context: the newest released version of the same object from the same
/// producer (rule 5) and the ids it references (rule 6).
#[derive(Debug, Clone, Copy)]
pub struct Case<'a> {
    pub version: &'a VersionFacts,
    pub newest_released: Option<&'a VersionFacts>,
    /// Every `*_ref`/`*_refs` value except created_by_ref and the marking references.
    pub refs: &'a [String],
}

/// Rules 1-6. `reference_visible(id)` says whether `id` exists in the community and some version
/// of it is delivered to this reader by rules 1-5; it is asked only for shared (not own or
/// built-in) versions and only when the community hides dangling references.
pub fn decide(
    reader: &ReaderCaps,
    community: &CommunityPolicy,
    rule: Option<&ProducerRule>,
    case: Case<'_>,
    mut reference_visible: impl FnMut(&str) -> bool,
    now: Timestamp,
) -> Verdict {
    let verdict = decide_core(
        reader,
        community,
        rule,
        case.version,
        case.newest_released,
        now,
    );
    if verdict == Verdict::Deliver(Reason::Shared) && !community.dangling_allowed {
        if let Some(hidden) = case.refs.iter().find(|r| !reference_visible(r)) {
            return Verdict::Withhold(Reason::HiddenReference(hidden.clone()));
        }
    }
    verdict
}

/// What a POST may store in a community (its acceptance rules): `Ok` with the RED recipients to
/// record, or the reason to refuse that object. `named` is the checked `Cairn-Recipients`
/// header (an error names the bad entry); `builtin` marks the canonical TLP definitions.
pub fn accept(
    community: &CommunityPolicy,
    stix_type: &str,
    tlp: Option<Tlp>,
    builtin: bool,
    named: &Result<Vec<Recipient>, String>,
) -> Result<Vec<Recipient>, String> {
    if builtin {
        return Ok(vec![]);
    }
    if !type_allowed(&community.types, stix_type) {
        return Err(format!(
            "this community accepts only these types: {}",
            community.types.join(", ")
        ));
    }
    if tlp.is_none() && community.unmarked == Unmarked::Reject {
        return Err(
            "/object_marking_refs: this community refuses objects without a TLP marking; \
                    add a TLP marking-definition reference"
                .into(),
        );
    }
    if tlp != Some(Tlp::Red) {
        return Ok(vec![]);
    }
    match named {
        Err(e) => Err(e.clone()),
        Ok(list) if list.is_empty() => Err(
            "TLP:RED needs its recipients: send the header Cairn-Recipients: partner, partner/user"
                .into(),
        ),
        Ok(list) => Ok(list.clone()),
    }
}

/// Which of several allowed copies of one (id, version) a reader gets: the higher rank wins, the
/// earliest added among equals. Its own partner's copy first (the producer always sees what it
/// contributed, even once another partner's earlier copy becomes visible to it); then the copy
/// it already has, so that it never gets the same version twice (say when an earlier copy under
/// delay is released).
pub fn copy_rank(reader: &ReaderCaps, producer: Option<&str>, already_delivered: bool) -> u8 {
    let own = producer == Some(reader.partner.as_str());
    2 * u8::from(own) + u8::from(already_delivered)
}

/// The most restrictive TLP among these marking-definition ids (object and granular markings);
/// `None` when none is a TLP marking (statement and custom markings do not restrict delivery).
pub fn marking_tlp<'a>(marking_ids: impl IntoIterator<Item = &'a str>) -> Option<Tlp> {
    marking_ids
        .into_iter()
        .filter_map(crate::stix::tlp::tlp_of_marking_id)
        .max()
}

#[cfg(test)]
#[path = "decision_table.rs"]
mod decision_table;
