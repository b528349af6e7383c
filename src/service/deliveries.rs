//! Keeps what every reader receives equal to what the delivery decision allows: loads a snapshot
//! of the community (`storage`), asks the sharing engine for the changes (`sharing::plan`, which
//! decides everything and reads nothing), and has storage write them. A version that becomes
//! deliverable gets the reader's next date_added (the moment it became deliverable to that
//! reader), so pollers never miss it.

use crate::sharing::decision::{self, CommunityPolicy, ProducerRule, ReaderCaps, VersionFacts};
use crate::sharing::facts::{Facts, Version};
use crate::sharing::plan::{self, ClassRef};
use crate::storage::models::{CommunityRow, MembershipRow, RuleRow, UserRow};
use crate::storage::objects::{self, StoredVersion};
use crate::storage::streams::{self, View};
use crate::storage::{follows, settings, setup, Conn, StorageError};
use std::collections::{BTreeSet, HashMap, HashSet};

/// Which objects to reconsider.
#[derive(Debug, Clone)]
pub enum Scope {
    /// Everything in the community (after `cairn apply`).
    All,
    /// These ids, and the objects that reference them (their reference rule may change).
    Ids(Vec<String>),
    /// The ids of versions this transaction just stored, and the objects that reference them.
    Stored(Fresh),
}

/// Versions the calling transaction has just stored, as `insert_versions` wrote them: the
/// refresh after an envelope need not read them back, nor their references, nor deliveries
/// (they have none yet). Most of an envelope is new ids, whose versions are all here.
#[derive(Debug, Clone)]
pub struct Fresh {
    pub versions: Vec<StoredVersion>,
    pub refs: HashMap<i64, Vec<String>>,
    /// Ids among `versions` that had no version stored before this transaction.
    pub new_ids: HashSet<String>,
    /// The numbers of their ids and of every id they reference (see `objects::nums`).
    pub nums: objects::Nums,
    /// The community's row and producer rules, as the calling transaction read them.
    pub community: Option<Box<Setting>>,
}

/// A community's row and its producer rules.
pub type Setting = (CommunityRow, HashMap<String, ProducerRule>);

const MICROS: i64 = 1_000_000;

// Each stored value is read by its one parser (`storage::settings`): one that cannot be read
// fails the caller with `StorageError::Setting`, never as a more permissive value.

pub fn community_policy(row: &CommunityRow) -> Result<CommunityPolicy, StorageError> {
    Ok(CommunityPolicy {
        unmarked: settings::community_unmarked(row)?,
        types: settings::community_types(row)?,
        delay: row.delay_secs.saturating_mul(MICROS),
        backlog: row.backlog,
        dangling_allowed: settings::community_dangling_allowed(row)?,
    })
}

pub fn producer_rules(rows: &[RuleRow]) -> Result<HashMap<String, ProducerRule>, StorageError> {
    rows.iter()
        .map(|r| {
            let rule = ProducerRule {
                types: settings::rule_types(r)?,
                exclude: settings::rule_exclude(r)?,
                delay: r.delay_secs.saturating_mul(MICROS),
            };
            Ok((r.producer_id.clone(), rule))
        })
        .collect()
}

pub fn reader_caps(user: &UserRow, m: &MembershipRow) -> Result<ReaderCaps, StorageError> {
    Ok(ReaderCaps {
        partner: user.partner_id.clone(),
        user: user.name.clone(),
        user_max_tlp: settings::user_max_tlp(user)?,
        user_types: settings::user_types(user)?,
        redistributes: user.redistributes,
        member_max_tlp: settings::member_max_tlp(m)?,
        joined_at: m.joined_at,
    })
}

pub fn facts(v: &StoredVersion) -> Result<VersionFacts, StorageError> {
    Ok(VersionFacts {
        producer: v.producer_id.clone(),
        stix_type: v.stix_type.clone(),
        tlp: settings::version_tlp(v)?,
        recipients: settings::version_recipients(v)?,
        added_at: v.added_at,
        private_copy: v.private_copy,
    })
}

/// The engine's view of one stored version.
fn version_of(v: &StoredVersion) -> Result<Version, StorageError> {
    Ok(Version {
        seq: v.seq,
        id: v.stix_id.clone(),
        version: v.version,
        release_at: v.release_at,
        released: v.released,
        facts: facts(v)?,
    })
}

/// The facts of `versions` and of every version of the ids they reference. The references of
/// the `fresh` ones are given in `refs`, the others are read.
/// `rules` are the community's producer rules, read once by the caller.
fn load_facts(
    conn: &mut Conn,
    (row, rules): (&CommunityRow, HashMap<String, ProducerRule>),
    mut versions: Vec<StoredVersion>,
    fresh: &HashSet<i64>,
    mut refs: HashMap<i64, Vec<String>>,
    nums: &objects::Nums,
    now: i64,
) -> Result<Facts, StorageError> {
    let community = community_policy(row)?;
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
        versions.extend(objects::versions_of(conn, &row.id, Some(chunk))?);
    }
    let versions = versions.iter().map(version_of).collect::<Result<_, _>>()?;
    Ok(Facts::new(community, rules, versions, refs, now))
}

/// Brings what the readers of `community` receive of `scope` in line with the decision at
/// `now`: load, plan (`sharing::plan`), write.
pub fn refresh(
    conn: &mut Conn,
    community: &str,
    mut scope: Scope,
    now: i64,
) -> Result<(), StorageError> {
    let known = match &mut scope {
        Scope::Stored(fresh) => fresh.community.take().map(|known| *known),
        _ => None,
    };
    let Some((row, rules)) = community_and_rules(conn, community, known)? else {
        return Ok(());
    };
    let readers: Vec<ReaderCaps> = if row.enabled {
        setup::readers_of(conn, community)?
            .iter()
            .map(|(u, m)| reader_caps(u, m))
            .collect::<Result<_, _>>()?
    } else {
        vec![]
    };
    let views = streams::views_of(conn, community)?;
    let classes = streams::classes_of(conn, community)?;
    let placement = plan::Placement::of(&readers, views, classes.clone(), &rules);
    let whole = matches!(scope, Scope::All);
    if !whole && !placement.settled() {
        // A reader without a view, moved out of its class or gone is placed again against
        // everything the community holds.
        return refresh(conn, community, Scope::All, now);
    }
    let (targets, fresh, fresh_refs, nums) = targets_of(conn, community, scope)?;
    let stored: Vec<i64> = targets
        .iter()
        .map(|v| v.seq)
        .filter(|s| !fresh.contains(s))
        .collect();
    let target_seqs: HashSet<i64> = targets.iter().map(|v| v.seq).collect();
    let facts = load_facts(conn, (&row, rules), targets, &fresh, fresh_refs, &nums, now)?;
    let chosen: Vec<&Version> = facts
        .versions
        .iter()
        .filter(|v| target_seqs.contains(&v.seq))
        .collect();
    let mut rows = load_rows(conn, community, &placement, &stored)?;
    (rows.follows, rows.held) = follows_on(conn, community, &facts, &chosen)?;
    let changes = plan::plan(placement, &facts, &chosen, &readers, rows, whole, now);
    write(conn, community, changes, classes, now)
}

/// The community's row and producer rules: those the caller read, else from storage (none
/// when the community is gone).
fn community_and_rules(
    conn: &mut Conn,
    community: &str,
    known: Option<Setting>,
) -> Result<Option<Setting>, StorageError> {
    if known.is_some() {
        return Ok(known);
    }
    let Some(row) = setup::community(conn, community)? else {
        return Ok(None);
    };
    let rules = producer_rules(&setup::rules_of(conn, community)?)?;
    Ok(Some((row, rules)))
}

/// What the plan reads besides the facts: the stream and own rows of the reconsidered versions
/// that are already stored, and the marks of new readers.
fn load_rows(
    conn: &mut Conn,
    community: &str,
    placement: &plan::Placement,
    stored: &[i64],
) -> Result<plan::Rows, StorageError> {
    let mut rows = plan::Rows::default();
    for row in streams::rows_among(conn, &placement.stored_in_use(), stored)? {
        rows.stream.push((row.class, row.seq, row.n));
    }
    for chunk in stored.chunks(500) {
        for (user, seq) in objects::delivered_among(conn, community, chunk)? {
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
type Following = (Vec<(String, String)>, Vec<(String, String, String)>);

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
    let held = follows::holds_on(conn, community, &named)?;
    Ok((follows::on(conn, community, &ids)?, held))
}

/// Writes a refresh's changes, in their order (see `plan::Changes`).
fn write(
    conn: &mut Conn,
    community: &str,
    changes: plan::Changes,
    classes: Vec<plan::Class>,
    now: i64,
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
    now: i64,
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
    now: i64,
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
    holds: &[(String, String, i64, i64)],
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

type Targets = (
    Vec<StoredVersion>,
    HashSet<i64>,
    HashMap<i64, Vec<String>>,
    objects::Nums,
);

/// The versions `scope` reconsiders, which of them this transaction stored, their references
/// as stored, and the numbers of their ids.
fn targets_of(conn: &mut Conn, community: &str, scope: Scope) -> Result<Targets, StorageError> {
    Ok(match scope {
        Scope::All => {
            let all = objects::versions_of(conn, community, None)?;
            (all, HashSet::new(), HashMap::new(), objects::Nums::new())
        }
        Scope::Ids(ids) => {
            let named: Vec<&str> = ids.iter().map(String::as_str).collect();
            let nums = objects::nums(conn, community, &named)?;
            let targets = with_referencing(conn, community, ids, &nums, &HashSet::new())?;
            (targets, HashSet::new(), HashMap::new(), nums)
        }
        Scope::Stored(given) => {
            let ids: Vec<String> = given.versions.iter().map(|v| v.stix_id.clone()).collect();
            let mut targets = with_referencing(conn, community, ids, &given.nums, &given.new_ids)?;
            let fresh: HashSet<i64> = given.versions.iter().map(|v| v.seq).collect();
            // Older versions of the ids were read, and with them the fresh ones again.
            targets.retain(|v| !fresh.contains(&v.seq));
            targets.extend(given.versions);
            (targets, fresh, given.refs, given.nums)
        }
    })
}

/// Every version of `ids` and of the objects that reference them, except the versions of `skip`
/// ids (the caller has them all). `nums` numbers `ids` (an id without a number was never stored
/// nor referenced).
fn with_referencing(
    conn: &mut Conn,
    community: &str,
    ids: Vec<String>,
    nums: &objects::Nums,
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

/// Processes the releases that have come due in `community` (delays that ended).
pub fn release_due(conn: &mut Conn, community: &str, now: i64) -> Result<(), StorageError> {
    let due = objects::due_ids(conn, community, now)?;
    if !due.is_empty() {
        refresh(conn, community, Scope::Ids(due), now)?;
    }
    Ok(())
}

/// After `cairn apply`: every community's built-ins and deliveries under the new setup.
pub fn refresh_all(conn: &mut Conn, now: i64) -> Result<(), StorageError> {
    for id in setup::community_ids(conn)? {
        for builtin in builtin_versions() {
            objects::ensure_builtin(conn, &id, &builtin, now)?;
        }
        refresh(conn, &id, Scope::All, now)?;
    }
    Ok(())
}

/// The TLP 2.0 marking-definitions and extension-definition every collection serves.
pub fn builtin_versions() -> Vec<objects::NewVersion> {
    crate::stix::tlp::canonical_objects()
        .iter()
        .map(|raw| {
            let v: serde_json::Value =
                serde_json::from_str(raw).expect("canonical TLP objects are JSON");
            let text = |k: &str| {
                v.get(k)
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_owned)
            };
            let stamp = text("modified")
                .or_else(|| text("created"))
                .expect("canonical objects carry created");
            let micros = crate::taxii::timestamp::parse_stix(&stamp)
                .expect("canonical timestamps are valid");
            objects::NewVersion {
                stix_id: text("id").expect("id"),
                stix_type: text("type").expect("type"),
                version: Some((micros, stamp)),
                spec_version: text("spec_version").unwrap_or_else(|| "2.1".into()),
                tlp: None,
                recipients: "[]".into(),
                refs: vec![],
                body: raw.to_string(),
            }
        })
        .collect()
}

/// When each of these versions became deliverable to `user`, for those it has.
pub(crate) fn delivered_to(
    conn: &mut Conn,
    user: &str,
    community: &str,
    seqs: &[i64],
) -> Result<HashMap<i64, i64>, StorageError> {
    match streams::view(conn, user, community)? {
        Some(view) => streams::dates_among(conn, user, community, view, seqs),
        None => Ok(HashMap::new()),
    }
}

/// `cairn explain`: for each stored version of `object_id` in `community`, whether it is
/// delivered to `user`, since when, and which rule decides. With `asker` (a moderator on the
/// web pages), only the versions delivered to the asker: it learns nothing it may not read.
pub fn explain(
    conn: &mut Conn,
    (user, asker): (&str, Option<&str>),
    community: &str,
    object_id: &str,
    now: i64,
) -> Result<Vec<String>, StorageError> {
    let Some(row) = setup::community(conn, community)? else {
        return Ok(vec![format!("there is no community '{community}'")]);
    };
    let readers = setup::readers_of(conn, community)?;
    let Some((u, m)) = readers.iter().find(|(u, _)| u.name == user) else {
        return Ok(vec![format!(
            "{user} receives nothing from {community}: not an enabled user of an enabled member partner{}",
            if row.enabled { "" } else { " (the community is disabled)" }
        )]);
    };
    let reader = reader_caps(u, m)?;
    let stored = objects::versions_of(conn, community, Some(&[object_id.to_owned()]))?;
    if stored.is_empty() {
        return Ok(vec![format!("{object_id} is not stored in {community}")]);
    }
    let seqs: Vec<i64> = stored.iter().map(|v| v.seq).collect();
    let delivered = delivered_to(conn, user, community, &seqs)?;
    let shown = match asker {
        Some(a) => Some(delivered_to(conn, a, community, &seqs)?),
        None => None,
    };
    let (none, no_refs) = (HashSet::new(), HashMap::new());
    let nums = objects::Nums::new();
    let rules = producer_rules(&setup::rules_of(conn, community)?)?;
    let facts = load_facts(conn, (&row, rules), stored, &none, no_refs, &nums, now)?;
    let visible = facts.visible_ids(&reader, &facts.rules, now);
    let mut out = vec![explain_heading(object_id, community, user, &reader)];
    // The object's own versions come first in the facts, in stored order.
    for v in facts.versions.iter().take(seqs.len()) {
        if shown.as_ref().is_some_and(|s| !s.contains_key(&v.seq)) {
            continue;
        }
        let verdict = facts.decide(&reader, &facts.rules, v, &visible, now);
        let since = delivered.get(&v.seq);
        out.push(version_line(v, verdict, asker.is_some(), since));
    }
    Ok(out)
}

/// The first line of `explain`: the object, the community, and the reader with its cap.
fn explain_heading(object_id: &str, community: &str, user: &str, reader: &ReaderCaps) -> String {
    let cap = reader.member_max_tlp.min(reader.user_max_tlp);
    format!(
        "{object_id} in {community} for {user} (partner {}, cap TLP:{}{}):",
        reader.partner,
        cap.as_str().to_uppercase(),
        if reader.redistributes {
            ", redistributes"
        } else {
            ""
        }
    )
}

/// A version's line of `explain`; `by_asker`: for a moderator, who learns only what it may read.
fn version_line(
    v: &Version,
    verdict: decision::Verdict,
    by_asker: bool,
    since: Option<&i64>,
) -> String {
    match (by_asker, verdict) {
        // The newer version is not the asker's to know about: only that one is withheld.
        (true, decision::Verdict::Withhold(decision::Reason::Superseded(_))) => format!(
            "  version {}: not delivered: a newer version from the same producer is \
             withheld from this reader",
            crate::taxii::timestamp::format_micros(v.version)
        ),
        (_, verdict) => explain_line(v, verdict, since),
    }
}

/// One version's line of `explain`: who produced it, at which TLP, and what decides.
fn explain_line(v: &Version, verdict: decision::Verdict, since: Option<&i64>) -> String {
    use crate::taxii::timestamp::format_micros;
    let producer = v
        .facts
        .producer
        .as_deref()
        .unwrap_or("the server (built-in)");
    let level = v
        .facts
        .tlp
        .map_or("unmarked".into(), |t| t.as_str().to_uppercase());
    let what = format!(
        "  version {} from {producer} (TLP:{level})",
        format_micros(v.version)
    );
    match (verdict, since) {
        (decision::Verdict::Deliver(why), Some(at)) => format!(
            "{what}: delivered since {}: {}",
            format_micros(*at),
            why.describe()
        ),
        (decision::Verdict::Deliver(_), None) => {
            format!("{what}: allowed, but another copy of the same version is delivered instead")
        }
        (decision::Verdict::Withhold(why), _) => {
            format!("{what}: not delivered: {}", why.describe())
        }
    }
}
