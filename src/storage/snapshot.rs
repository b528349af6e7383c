//! The sharing engine's reads and writes, each in one call: a refresh loads the community's
//! `Setting` and the `Targets` of its scope, `sharing::plan` turns them into `Changes` without
//! reading anything, and `apply` writes those (docs/architecture.md, sections 2 and 6).

use crate::ids::{PartnerId, UserName};
use crate::sharing::decision::{CommunityPolicy, ProducerRule, ReaderCaps, VersionFacts};
use crate::sharing::facts::{Facts, Rules, Version};
use crate::sharing::plan::{self, ClassRef, Placement};
use crate::stix::identifier::StixId;
use crate::stix::timestamp::Timestamp;
use crate::stix::type_name::TypeName;
use crate::storage::models::{CommunityRow, MembershipRow, RuleRow, UserRow};
use crate::storage::objects::{self, Nums, StoredVersion};
use crate::storage::streams::{self, View};
use crate::storage::{follows, settings, setup, Conn, StorageError};
use std::collections::{BTreeSet, HashMap, HashSet};

/// Which objects a refresh reconsiders.
#[derive(Debug, Clone)]
pub enum Scope {
    /// Everything in the community (after `cairn apply`).
    All,
    /// These ids, and the objects that reference them (their reference rule may change).
    Ids(Vec<String>),
    /// Versions the calling transaction stores, and the objects that reference their ids.
    Stored(Fresh),
    /// Everything stored, and versions the calling transaction stores: a POST whose readers
    /// must be placed again.
    AllWith(Fresh),
}

impl Scope {
    /// Every version of the community, with what the calling transaction stores.
    pub fn widened(self) -> Scope {
        match self {
            Scope::Stored(fresh) | Scope::AllWith(fresh) => Scope::AllWith(fresh),
            _ => Scope::All,
        }
    }

    pub fn is_whole(&self) -> bool {
        matches!(self, Scope::All | Scope::AllWith(_))
    }
}

/// Versions a POST stores, as `insert_numbered` writes them: the refresh that delivers them
/// need not read them, nor their references, nor deliveries (they have none yet). Most of an
/// envelope is new ids, whose versions are all here.
#[derive(Debug, Clone)]
pub struct Fresh {
    pub versions: Vec<StoredVersion>,
    pub refs: HashMap<i64, Vec<String>>,
    /// Ids among `versions` that had no version stored before this transaction.
    pub new_ids: HashSet<String>,
    /// The numbers of their ids and of every id they reference, as looked up before they are
    /// stored (see `objects::nums`): an id without one was never stored nor referenced.
    pub nums: Nums,
}

/// What a refresh of one community decides on besides its versions: the community's policy
/// and producer rules, its readers (none while it is disabled), their views and the classes.
#[derive(Debug, Clone)]
pub struct Setting {
    pub community: String,
    pub enabled: bool,
    pub policy: CommunityPolicy,
    pub rules: Rules,
    pub readers: Vec<ReaderCaps>,
    pub views: HashMap<UserName, View>,
    pub classes: Vec<plan::Class>,
}

const MICROS: i64 = 1_000_000;

// Each stored value is read by its one parser (`storage::settings`): one that cannot be read
// fails the caller with `StorageError::Setting`, never as a more permissive value.

fn community_policy(row: &CommunityRow) -> Result<CommunityPolicy, StorageError> {
    Ok(CommunityPolicy {
        unmarked: settings::community_unmarked(row)?,
        types: settings::community_types(row)?,
        delay: row.delay_secs.saturating_mul(MICROS),
        backlog: row.backlog,
        dangling_allowed: settings::community_dangling_allowed(row)?,
    })
}

fn producer_rules(rows: &[RuleRow]) -> Result<Rules, StorageError> {
    rows.iter()
        .map(|r| {
            let rule = ProducerRule {
                types: settings::rule_types(r)?,
                exclude: settings::rule_exclude(r)?,
                delay: r.delay_secs.saturating_mul(MICROS),
            };
            Ok((PartnerId::known(&r.producer_id), rule))
        })
        .collect()
}

fn reader_caps(user: &UserRow, m: &MembershipRow) -> Result<ReaderCaps, StorageError> {
    Ok(ReaderCaps {
        partner: PartnerId::known(&user.partner_id),
        user: UserName::known(&user.name),
        user_max_tlp: settings::user_max_tlp(user)?,
        user_types: settings::user_types(user)?,
        redistributes: user.redistributes,
        member_max_tlp: settings::member_max_tlp(m)?,
        joined_at: Timestamp::from_micros(m.joined_at),
    })
}

fn facts(v: &StoredVersion) -> Result<VersionFacts, StorageError> {
    Ok(VersionFacts {
        producer: v.producer_id.as_ref().map(PartnerId::known),
        stix_type: TypeName::known(&v.stix_type),
        tlp: settings::version_tlp(v)?,
        recipients: settings::version_recipients(v)?,
        added_at: Timestamp::from_micros(v.added_at),
        private_copy: v.private_copy,
    })
}

/// The engine's view of one stored version.
fn version_of(v: &StoredVersion) -> Result<Version, StorageError> {
    Ok(Version {
        seq: v.seq,
        id: StixId::known(&v.stix_id),
        version: Timestamp::from_micros(v.version),
        release_at: Timestamp::from_micros(v.release_at),
        released: v.released,
        facts: facts(v)?,
    })
}

/// The setting of `community` (none when there is no such community).
pub fn setting(conn: &mut Conn, community: &str) -> Result<Option<Setting>, StorageError> {
    let Some(row) = setup::community(conn, community)? else {
        return Ok(None);
    };
    let readers = if row.enabled {
        setup::readers_of(conn, community)?
    } else {
        vec![]
    };
    setting_of(conn, &row, &readers).map(Some)
}

/// The setting of the community `row`, whose readers are `readers`.
pub(super) fn setting_of(
    conn: &mut Conn,
    row: &CommunityRow,
    readers: &[(UserRow, MembershipRow)],
) -> Result<Setting, StorageError> {
    Ok(Setting {
        community: row.id.clone(),
        enabled: row.enabled,
        policy: community_policy(row)?,
        rules: producer_rules(&setup::rules_of(conn, &row.id)?)?,
        readers: readers
            .iter()
            .map(|(u, m)| reader_caps(u, m))
            .collect::<Result<_, _>>()?,
        views: streams::views_of(conn, &row.id)?
            .into_iter()
            .map(|(user, view)| (UserName::known(user), view))
            .collect(),
        classes: streams::classes_of(conn, &row.id)?,
    })
}

/// The versions a refresh reconsiders, with the facts of every version they reference and the
/// rows the plan reads.
pub struct Targets {
    pub facts: Facts,
    /// The seqs of the reconsidered versions, among `facts.versions`.
    pub chosen: HashSet<i64>,
    pub rows: plan::Rows,
}

/// Loads what `scope` reconsiders in `setting`'s community, with its readers placed as in
/// `placement`, for a decision at `now`.
pub fn targets(
    conn: &mut Conn,
    setting: &Setting,
    placement: &Placement,
    scope: Scope,
    now: Timestamp,
) -> Result<Targets, StorageError> {
    let community = setting.community.as_str();
    let (versions, fresh, fresh_refs, nums) = versions_of(conn, community, scope)?;
    let stored: Vec<i64> = versions
        .iter()
        .map(|v| v.seq)
        .filter(|s| !fresh.contains(s))
        .collect();
    let chosen: HashSet<i64> = versions.iter().map(|v| v.seq).collect();
    let facts = load_facts(conn, setting, versions, (&fresh, fresh_refs), &nums, now)?;
    let mut rows = load_rows(conn, community, placement, &stored)?;
    let picked: Vec<&Version> = facts
        .versions
        .iter()
        .filter(|v| chosen.contains(&v.seq))
        .collect();
    (rows.follows, rows.held) = follows_on(conn, community, &facts, &picked)?;
    Ok(Targets {
        facts,
        chosen,
        rows,
    })
}

/// Every stored version of `object_id` in `setting`'s community, oldest first, as the first
/// versions of their facts (with those of what they reference), for `cairn explain`.
pub fn facts_of_object(
    conn: &mut Conn,
    setting: &Setting,
    object_id: &str,
    now: Timestamp,
) -> Result<Facts, StorageError> {
    let stored = objects::versions_of(conn, &setting.community, Some(&[object_id.to_owned()]))?;
    let none = (&HashSet::new(), HashMap::new());
    load_facts(conn, setting, stored, none, &Nums::new(), now)
}

type Loaded = (
    Vec<StoredVersion>,
    HashSet<i64>,
    HashMap<i64, Vec<String>>,
    Nums,
);

/// The versions `scope` reconsiders, which of them the transaction stores, their references
/// as given, and the numbers of their ids.
fn versions_of(conn: &mut Conn, community: &str, scope: Scope) -> Result<Loaded, StorageError> {
    Ok(match scope {
        Scope::All => {
            let all = objects::versions_of(conn, community, None)?;
            (all, HashSet::new(), HashMap::new(), Nums::new())
        }
        Scope::Ids(ids) => {
            let named: Vec<&str> = ids.iter().map(String::as_str).collect();
            let nums = objects::nums(conn, community, &named)?;
            let targets = with_referencing(conn, community, ids, &nums, &HashSet::new())?;
            (targets, HashSet::new(), HashMap::new(), nums)
        }
        Scope::Stored(given) => {
            let ids: Vec<String> = given.versions.iter().map(|v| v.stix_id.clone()).collect();
            let targets = with_referencing(conn, community, ids, &given.nums, &given.new_ids)?;
            with_fresh(targets, given)
        }
        Scope::AllWith(given) => {
            let all = objects::versions_of(conn, community, None)?;
            with_fresh(all, given)
        }
    })
}

/// `stored` and the `given` versions the transaction stores (a version of both counts once).
fn with_fresh(mut stored: Vec<StoredVersion>, given: Fresh) -> Loaded {
    let fresh: HashSet<i64> = given.versions.iter().map(|v| v.seq).collect();
    stored.retain(|v| !fresh.contains(&v.seq));
    stored.extend(given.versions);
    (stored, fresh, given.refs, given.nums)
}

/// Every version of `ids` and of the objects that reference them, except the versions of `skip`
/// ids (the caller has them all). `nums` numbers `ids` (an id without a number was never stored
/// nor referenced).
fn with_referencing(
    conn: &mut Conn,
    community: &str,
    ids: Vec<String>,
    nums: &Nums,
    skip: &HashSet<String>,
) -> Result<Vec<StoredVersion>, StorageError> {
    let mut all: BTreeSet<String> = ids.iter().cloned().collect();
    let numbered: BTreeSet<i64> = ids.iter().filter_map(|id| nums.get(id).copied()).collect();
    let numbered: Vec<i64> = numbered.into_iter().collect();
    for chunk in numbered.chunks(500) {
        all.extend(objects::referencing(conn, chunk)?);
    }
    let load: Vec<String> = all.into_iter().filter(|id| !skip.contains(id)).collect();
    let mut out = vec![];
    for chunk in load.chunks(500) {
        out.extend(objects::versions_of(conn, community, Some(chunk))?);
    }
    Ok(out)
}

/// The facts of `versions` and of every version of the ids they reference. The references of
/// the `fresh` ones are given, the others are read.
fn load_facts(
    conn: &mut Conn,
    setting: &Setting,
    mut versions: Vec<StoredVersion>,
    (fresh, mut refs): (&HashSet<i64>, HashMap<i64, Vec<String>>),
    nums: &Nums,
    now: Timestamp,
) -> Result<Facts, StorageError> {
    let seqs: Vec<i64> = versions
        .iter()
        .map(|v| v.seq)
        .filter(|s| !fresh.contains(s))
        .collect();
    for chunk in seqs.chunks(500) {
        for (seq, id) in objects::refs_of(conn, chunk)? {
            refs.entry(seq).or_default().push(id);
        }
    }
    let loaded: HashSet<&str> = versions.iter().map(|v| v.stix_id.as_str()).collect();
    let missing: BTreeSet<String> = refs
        .values()
        .flatten()
        .filter(|id| !loaded.contains(id.as_str()))
        .cloned()
        .collect();
    // By number where the caller has it, else by id.
    let (mut numbered, mut unnumbered) = (vec![], vec![]);
    for id in missing {
        match nums.get(&id) {
            Some(num) => numbered.push(*num),
            None => unnumbered.push(id),
        }
    }
    for chunk in numbered.chunks(500) {
        versions.extend(objects::versions_numbered(conn, chunk)?);
    }
    for chunk in unnumbered.chunks(500) {
        versions.extend(objects::versions_of(conn, &setting.community, Some(chunk))?);
    }
    let versions = versions.iter().map(version_of).collect::<Result<_, _>>()?;
    let (policy, rules) = (setting.policy.clone(), setting.rules.clone());
    Ok(Facts::new(policy, rules, versions, refs, now))
}

/// What the plan reads besides the facts: the stream and own rows of the reconsidered versions
/// that are already stored, and the marks of new readers.
fn load_rows(
    conn: &mut Conn,
    community: &str,
    placement: &Placement,
    stored: &[i64],
) -> Result<plan::Rows, StorageError> {
    let mut rows = plan::Rows::default();
    for row in streams::rows_among(conn, &placement.stored_in_use(), stored)? {
        rows.stream.push((row.class, row.seq, row.n));
    }
    for chunk in stored.chunks(500) {
        for (user, seq) in objects::delivered_among(conn, community, chunk)? {
            let user = UserName::known(user);
            rows.own.entry(user).or_default().insert(seq);
        }
    }
    for user in placement.new_readers() {
        if let Some(mark) = streams::mark(conn, &user, community)? {
            rows.marks.insert(user, mark);
        }
    }
    Ok(rows)
}

/// (user, target) of the follows, and (user, container, held) of what followed containers hold.
type Following = (Vec<(UserName, String)>, Vec<(UserName, String, String)>);

/// The follows that the reconsidered versions may match: on their ids, on what they reference,
/// and on the whole community, and the followed containers that hold them. Nothing is read past
/// one probe when nobody follows anything.
fn follows_on(
    conn: &mut Conn,
    community: &str,
    facts: &Facts,
    targets: &[&Version],
) -> Result<Following, StorageError> {
    if targets.is_empty() || !follows::any_in(conn, community)? {
        return Ok((vec![], vec![]));
    }
    let mut ids: BTreeSet<&str> = BTreeSet::from([""]);
    for v in targets {
        ids.insert(&v.id);
        ids.extend(facts.refs_of(v.seq).iter().map(String::as_str));
    }
    let ids: Vec<&str> = ids.into_iter().collect();
    let named: Vec<&str> = ids.iter().copied().filter(|i| !i.is_empty()).collect();
    let user = |u: String| UserName::known(u);
    let held = follows::holds_on(conn, community, &named)?;
    let held = held.into_iter().map(|(u, c, h)| (user(u), c, h)).collect();
    let on = follows::on(conn, community, &ids)?;
    Ok((on.into_iter().map(|(u, t)| (user(u), t)).collect(), held))
}

/// Writes a refresh's changes, in their order (see `plan::Changes`); `classes` are the
/// community's classes as its setting was read.
pub fn apply(
    conn: &mut Conn,
    community: &str,
    changes: plan::Changes,
    classes: Vec<plan::Class>,
    now: Timestamp,
) -> Result<(), StorageError> {
    let (mut classes, opened) = open_classes(conn, community, &changes.open, classes)?;
    write_views(conn, community, &changes, &mut classes, &opened, now)?;
    write_own(conn, community, &changes, now)?;
    for class in &changes.drop {
        streams::drop_class(conn, opened.id(*class)?)?;
    }
    for (seq, at, released) in &changes.releases {
        objects::set_release(conn, *seq, *at, *released)?;
    }
    write_holds(conn, community, &changes.holds)?;
    let hooks = !changes.notify.is_empty() && crate::storage::webhooks::any(conn)?;
    for (user, items) in &changes.notify {
        follows::notify(conn, (user, community), items, now, hooks)?;
    }
    Ok(())
}

/// The ids of the classes a refresh opened, in `ClassRef::Opened` order.
struct Opened(Vec<i64>);

impl Opened {
    /// The stored id of a class, opened by this refresh or not. A plan naming a class it did
    /// not open is a broken invariant, answered as an error, not a panic in the transaction.
    fn id(&self, c: ClassRef) -> Result<i64, StorageError> {
        match c {
            ClassRef::Stored(id) => Ok(id),
            ClassRef::Opened(i) => self.0.get(i).copied().ok_or(StorageError::Inconsistent(
                "a refresh names a class it did not open",
            )),
        }
    }
}

/// Creates the classes of `keys`, and returns every class by id with the ids of the new ones.
fn open_classes(
    conn: &mut Conn,
    community: &str,
    keys: &[String],
    classes: Vec<plan::Class>,
) -> Result<(HashMap<i64, plan::Class>, Opened), StorageError> {
    let mut classes: HashMap<i64, plan::Class> = classes.into_iter().map(|c| (c.id, c)).collect();
    let mut opened = vec![];
    for key in keys {
        let class = streams::create_class(conn, community, key)?;
        opened.push(class.id);
        classes.insert(class.id, class);
    }
    Ok((classes, Opened(opened)))
}

/// Writes the readers' views and the classes' streams: materialized, own, streamed, placed.
fn write_views(
    conn: &mut Conn,
    community: &str,
    changes: &plan::Changes,
    classes: &mut HashMap<i64, plan::Class>,
    opened: &Opened,
    now: Timestamp,
) -> Result<(), StorageError> {
    for (user, view, mark) in &changes.materialize {
        streams::materialize(conn, user, community, *view, *mark)?;
    }
    for user in &changes.own_from_now {
        streams::set_view(conn, user, community, View::Own)?;
    }
    for (class, gone, add) in &changes.streams {
        let id = opened.id(*class)?;
        streams::remove(conn, id, gone)?;
        if let Some(class) = classes.get_mut(&id) {
            streams::append(conn, class, add, now)?;
        }
    }
    for (user, class, start, base) in &changes.place {
        let view = View::Streamed {
            class: opened.id(*class)?,
            start: *start,
            base: Some((*base, *start)),
        };
        streams::set_view(conn, user, community, view)?;
    }
    Ok(())
}

/// Writes the own rows withdrawn and delivered, and the views of users no longer readers.
fn write_own(
    conn: &mut Conn,
    community: &str,
    changes: &plan::Changes,
    now: Timestamp,
) -> Result<(), StorageError> {
    if let Some(keep) = &changes.keep_own {
        objects::withdraw_all_except(conn, community, keep)?;
    }
    for (user, gone, add) in &changes.own {
        for chunk in gone.chunks(500) {
            objects::withdraw(conn, user, community, chunk)?;
        }
        objects::deliver(conn, user, community, add, now)?;
    }
    for (user, mark) in &changes.gone {
        if let Some(mark) = mark {
            streams::raise_mark(conn, user, community, *mark)?;
        }
        streams::delete_view(conn, user, community)?;
    }
    Ok(())
}

/// Writes what followed containers hold from now on (see `plan::Changes::holds`).
fn write_holds(
    conn: &mut Conn,
    community: &str,
    holds: &[(UserName, String, i64, Timestamp)],
) -> Result<(), StorageError> {
    // Every follower of a container holds what the same version names: read it once.
    let mut held: HashMap<i64, Vec<String>> = HashMap::new();
    for (user, container, seq, version) in holds {
        if !held.contains_key(seq) {
            held.insert(*seq, objects::held_by(conn, *seq)?.0);
        }
        let holds = follows::Holds::Version(&held[seq], *version);
        follows::set_holds(conn, (user, community, container), holds)?;
    }
    Ok(())
}
