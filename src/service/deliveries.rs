//! Keeps the `deliveries` table equal to what the delivery decision allows, reader by reader.
//! Every decision is `policy::delivery::decide`; this module only gathers the facts, asks, and
//! writes the difference. A version that becomes deliverable is given the reader's next
//! date_added (the moment it became deliverable to that reader), so pollers never miss it.

use crate::policy::delivery::{
    self, Case, CommunityPolicy, ProducerRule, ReaderCaps, VersionFacts,
};
use crate::storage::models::{CommunityRow, MembershipRow, RuleRow, UserRow};
use crate::storage::objects::{self, StoredVersion};
use crate::storage::{settings, setup, Conn, StorageError};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

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
}

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

/// Everything the decision needs for a set of versions of one community.
pub struct Facts {
    pub community: CommunityPolicy,
    pub rules: HashMap<String, ProducerRule>,
    pub versions: Vec<StoredVersion>,
    pub facts: HashMap<i64, VersionFacts>,
    pub refs: HashMap<i64, Vec<String>>,
    /// Newest version (seq) per (id, producer) among those released by `now`.
    /// For each version (seq): the newest version (seq) of the same id and producer among those
    /// released by `now`, if any.
    pub newest_released: HashMap<i64, i64>,
}

impl Facts {
    /// Loads `versions` and every version of the ids they reference. The references of the
    /// `fresh` ones are given in `refs`, the others are read.
    pub fn load(
        conn: &mut Conn,
        row: &CommunityRow,
        mut versions: Vec<StoredVersion>,
        fresh: &HashSet<i64>,
        mut refs: HashMap<i64, Vec<String>>,
        nums: &objects::Nums,
        now: i64,
    ) -> Result<Facts, StorageError> {
        let community = community_policy(row)?;
        let rules = producer_rules(&setup::rules_of(conn, &row.id)?)?;
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
        // Keyed by borrowed id and producer: this runs for every version of every envelope.
        let mut newest: HashMap<(&str, Option<&str>), (i64, i64)> = HashMap::new();
        let mut by_seq = HashMap::new();
        for v in &versions {
            let f = facts(v)?;
            if delivery::release_at(&community, rule_for(&rules, &f), &f) <= now {
                let key = (v.stix_id.as_str(), v.producer_id.as_deref());
                let entry = newest.entry(key).or_insert((v.version, v.seq));
                if (v.version, v.seq) > *entry {
                    *entry = (v.version, v.seq);
                }
            }
            by_seq.insert(v.seq, f);
        }
        let newest_released = versions
            .iter()
            .filter_map(|v| {
                let key = (v.stix_id.as_str(), v.producer_id.as_deref());
                newest.get(&key).map(|(_, seq)| (v.seq, *seq))
            })
            .collect();
        Ok(Facts {
            community,
            rules,
            versions,
            facts: by_seq,
            refs,
            newest_released,
        })
    }

    /// The facts of version `seq`: `load` keeps them for every version it holds.
    pub fn facts_of(&self, seq: i64) -> Result<&VersionFacts, StorageError> {
        self.facts
            .get(&seq)
            .ok_or(StorageError::Inconsistent("a version without its facts"))
    }

    fn case(&self, v: &StoredVersion) -> Result<Case<'_>, StorageError> {
        let newest = self
            .newest_released
            .get(&v.seq)
            .and_then(|seq| self.facts.get(seq));
        Ok(Case {
            version: self.facts_of(v.seq)?,
            newest_released: newest,
            refs: self.refs.get(&v.seq).map(Vec::as_slice).unwrap_or(&[]),
        })
    }

    fn rule(&self, v: &StoredVersion) -> Option<&ProducerRule> {
        v.producer_id.as_ref().and_then(|p| self.rules.get(p))
    }

    /// The ids with some version delivered to `reader` by rules 1-5 (what rule 6 looks at).
    pub fn visible_ids(
        &self,
        reader: &ReaderCaps,
        now: i64,
    ) -> Result<HashSet<&str>, StorageError> {
        let mut visible = HashSet::new();
        for v in &self.versions {
            let case = self.case(v)?;
            let rule = self.rule(v);
            let (version, newest) = (case.version, case.newest_released);
            if delivery::decide_core(reader, &self.community, rule, version, newest, now)
                .delivered()
            {
                visible.insert(v.stix_id.as_str());
            }
        }
        Ok(visible)
    }

    /// The full decision (rules 1-6) for one version.
    pub fn decide(
        &self,
        reader: &ReaderCaps,
        v: &StoredVersion,
        visible: &HashSet<&str>,
        now: i64,
    ) -> Result<delivery::Verdict, StorageError> {
        Ok(delivery::decide(
            reader,
            &self.community,
            self.rule(v),
            self.case(v)?,
            |id| visible.contains(id),
            now,
        ))
    }
}

fn rule_for<'a>(
    rules: &'a HashMap<String, ProducerRule>,
    f: &VersionFacts,
) -> Option<&'a ProducerRule> {
    f.producer.as_ref().and_then(|p| rules.get(p))
}

/// Brings the deliveries of `scope` in `community` in line with the decision at `now`.
pub fn refresh(
    conn: &mut Conn,
    community: &str,
    scope: Scope,
    now: i64,
) -> Result<(), StorageError> {
    let Some(row) = setup::community(conn, community)? else {
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
    let (targets, fresh, fresh_refs, nums) = match scope {
        Scope::All => {
            let names: Vec<String> = readers.iter().map(|r| r.user.clone()).collect();
            objects::withdraw_all_except(conn, community, &names)?;
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
    };
    let target_seqs: Vec<i64> = targets
        .iter()
        .map(|v| v.seq)
        .filter(|s| !fresh.contains(s))
        .collect();
    let facts = Facts::load(conn, &row, targets.clone(), &fresh, fresh_refs, &nums, now)?;

    let mut current: HashMap<String, HashSet<i64>> = HashMap::new();
    for chunk in target_seqs.chunks(500) {
        for (user, seq) in objects::delivered_among(conn, community, chunk)? {
            current.entry(user).or_default().insert(seq);
        }
    }
    // Insert in the order versions were added, so a reader sees a POST's objects in posted order.
    let mut ordered: Vec<&StoredVersion> = targets.iter().collect();
    ordered.sort_by_key(|v| (v.added_at, v.seq));

    for reader in &readers {
        let visible = facts.visible_ids(reader, now)?;
        let had = current.remove(&reader.user).unwrap_or_default();
        // One copy per (id, version) for each reader (see `copy_rank`).
        let mut chosen: BTreeMap<(&str, i64), (u8, i64)> = BTreeMap::new();
        for v in &ordered {
            if !facts.decide(reader, v, &visible, now)?.delivered() {
                continue;
            }
            let rank = delivery::copy_rank(reader, v.producer_id.as_deref(), had.contains(&v.seq));
            let pick = chosen
                .entry((v.stix_id.as_str(), v.version))
                .or_insert((rank, v.seq));
            if rank > pick.0 {
                *pick = (rank, v.seq);
            }
        }
        let wanted_set: HashSet<i64> = chosen.values().map(|(_, seq)| *seq).collect();
        let wanted: Vec<i64> = ordered
            .iter()
            .map(|v| v.seq)
            .filter(|seq| wanted_set.contains(seq))
            .collect();
        let add: Vec<i64> = wanted
            .iter()
            .copied()
            .filter(|s| !had.contains(s))
            .collect();
        let remove: Vec<i64> = had
            .iter()
            .copied()
            .filter(|s| !wanted_set.contains(s))
            .collect();
        for chunk in remove.chunks(500) {
            objects::withdraw(conn, &reader.user, community, chunk)?;
        }
        objects::deliver(conn, &reader.user, community, &add, now)?;
    }
    // Users that are no longer readers keep nothing of what was reconsidered.
    for (user, seqs) in current {
        let seqs: Vec<i64> = seqs.into_iter().collect();
        objects::withdraw(conn, &user, community, &seqs)?;
    }
    // Record release times under the current rules, and which have passed.
    for v in &targets {
        let f = facts.facts_of(v.seq)?;
        let at = delivery::release_at(&facts.community, rule_for(&facts.rules, f), f);
        let released = at <= now;
        if at != v.release_at || released != v.released {
            objects::set_release(conn, v.seq, at, released)?;
        }
    }
    Ok(())
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

/// `cairn explain`: for each stored version of `object_id` in `community`, whether it is
/// delivered to `user`, since when, and which rule decides.
pub fn explain(
    conn: &mut Conn,
    user: &str,
    community: &str,
    object_id: &str,
    now: i64,
) -> Result<Vec<String>, StorageError> {
    use crate::taxii::timestamp::format_micros;
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
    let versions = objects::versions_of(conn, community, Some(&[object_id.to_owned()]))?;
    if versions.is_empty() {
        return Ok(vec![format!("{object_id} is not stored in {community}")]);
    }
    let seqs: Vec<i64> = versions.iter().map(|v| v.seq).collect();
    let delivered = objects::delivery_dates(conn, user, community, &seqs)?;
    let facts = Facts::load(
        conn,
        &row,
        versions.clone(),
        &HashSet::new(),
        HashMap::new(),
        &objects::Nums::new(),
        now,
    )?;
    let visible = facts.visible_ids(&reader, now)?;
    let mut out = vec![format!(
        "{object_id} in {community} for {user} (partner {}, cap TLP:{}{}):",
        reader.partner,
        reader
            .member_max_tlp
            .min(reader.user_max_tlp)
            .as_str()
            .to_uppercase(),
        if reader.redistributes {
            ", redistributes"
        } else {
            ""
        }
    )];
    for v in &versions {
        let producer = v.producer_id.as_deref().unwrap_or("the server (built-in)");
        let level = facts
            .facts_of(v.seq)?
            .tlp
            .map(|t| t.as_str().to_uppercase())
            .unwrap_or_else(|| "unmarked".into());
        let what = format!(
            "  version {} from {producer} (TLP:{level})",
            format_micros(v.version)
        );
        let line = match (
            facts.decide(&reader, v, &visible, now)?,
            delivered.get(&v.seq),
        ) {
            (delivery::Verdict::Deliver(why), Some(at)) => {
                format!(
                    "{what}: delivered since {}: {}",
                    format_micros(*at),
                    why.describe()
                )
            }
            (delivery::Verdict::Deliver(_), None) => {
                format!(
                    "{what}: allowed, but another copy of the same version is delivered instead"
                )
            }
            (delivery::Verdict::Withhold(why), _) => {
                format!("{what}: not delivered: {}", why.describe())
            }
        };
        out.push(line);
    }
    Ok(out)
}
