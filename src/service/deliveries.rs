//! Keeps the `deliveries` table equal to what the delivery decision allows, reader by reader.
//! Every decision is `policy::delivery::decide`; this module only gathers the facts, asks, and
//! writes the difference. A version that becomes deliverable is given the reader's next
//! date_added (the moment it became deliverable to that reader), so pollers never miss it.

use crate::policy::classes::ClassKey;
use crate::policy::delivery::{
    self, Case, CommunityPolicy, ProducerRule, ReaderCaps, VersionFacts,
};
use crate::storage::models::{CommunityRow, MembershipRow, RuleRow, UserRow};
use crate::storage::objects::{self, StoredVersion};
use crate::storage::streams::{self, View};
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

    /// The ids with some version delivered to `reader` by rules 1-5 (what rule 6 looks at).
    pub fn visible_ids(
        &self,
        reader: &ReaderCaps,
        now: i64,
    ) -> Result<HashSet<&str>, StorageError> {
        self.visible_ids_under(reader, &self.rules, now)
    }

    /// `visible_ids` under these producer rules (a class's representative meets its own).
    fn visible_ids_under(
        &self,
        reader: &ReaderCaps,
        rules: &HashMap<String, ProducerRule>,
        now: i64,
    ) -> Result<HashSet<&str>, StorageError> {
        let mut visible = HashSet::new();
        for v in &self.versions {
            let case = self.case(v)?;
            let rule = v.producer_id.as_ref().and_then(|p| rules.get(p));
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
        self.decide_under(reader, &self.rules, v, visible, now)
    }

    fn decide_under(
        &self,
        reader: &ReaderCaps,
        rules: &HashMap<String, ProducerRule>,
        v: &StoredVersion,
        visible: &HashSet<&str>,
        now: i64,
    ) -> Result<delivery::Verdict, StorageError> {
        Ok(delivery::decide(
            reader,
            &self.community,
            v.producer_id.as_ref().and_then(|p| rules.get(p)),
            self.case(v)?,
            |id| visible.contains(id),
            now,
        ))
    }

    /// The versions among `ordered` that `reader` receives under `rules`: one copy per (id,
    /// version) (see `copy_rank`); `had` are those it has.
    fn chosen(
        &self,
        reader: &ReaderCaps,
        rules: &HashMap<String, ProducerRule>,
        ordered: &[&StoredVersion],
        had: &HashSet<i64>,
        now: i64,
    ) -> Result<HashSet<i64>, StorageError> {
        let visible = self.visible_ids_under(reader, rules, now)?;
        let mut chosen: BTreeMap<(&str, i64), (u8, i64)> = BTreeMap::new();
        for v in ordered {
            if !self
                .decide_under(reader, rules, v, &visible, now)?
                .delivered()
            {
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
        Ok(chosen.values().map(|(_, seq)| *seq).collect())
    }
}

fn rule_for<'a>(
    rules: &'a HashMap<String, ProducerRule>,
    f: &VersionFacts,
) -> Option<&'a ProducerRule> {
    f.producer.as_ref().and_then(|p| rules.get(p))
}

/// Brings what the readers of `community` receive of `scope` in line with the decision at `now`:
/// each class's stream, and the own rows of the readers whose views differ from their class's.
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
    let rules = producer_rules(&setup::rules_of(conn, community)?)?;
    let mut plan = Placement::of(conn, community, &readers, &rules)?;
    let all = matches!(scope, Scope::All);
    if !all && !plan.settled() {
        // A reader without a view, moved out of its class or gone is placed again against
        // everything the community holds.
        return refresh(conn, community, Scope::All, now);
    }
    let (targets, fresh, fresh_refs, nums) = targets_of(conn, community, scope)?;
    let facts = Facts::load(conn, &row, targets.clone(), &fresh, fresh_refs, &nums, now)?;
    // In the order versions were added, so a reader sees a POST's objects in posted order.
    let mut ordered: Vec<&StoredVersion> = targets.iter().collect();
    ordered.sort_by_key(|v| (v.added_at, v.seq));
    let stored: Vec<i64> = targets
        .iter()
        .map(|v| v.seq)
        .filter(|s| !fresh.contains(s))
        .collect();

    plan.open_classes(conn, community)?;
    let streams = Streams::decide(conn, &facts, &plan, &ordered, &stored, now)?;
    plan.split_off(conn, community, &facts, &streams, &ordered, &readers, now)?;
    streams.write(conn, &mut plan.classes, &ordered, now)?;
    plan.place_new(conn, community, row.backlog, now)?;
    if all {
        let own: Vec<String> = plan.own.iter().cloned().collect();
        objects::withdraw_all_except(conn, community, &own)?;
    }
    refresh_own(
        conn, community, &facts, &ordered, &stored, &readers, &plan.own, now,
    )?;
    if all {
        plan.finish(conn, community)?;
    }
    record_releases(conn, &facts, &targets, now)
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

/// Where each reader of a community is served from during one refresh (docs/sharing.md
/// section 8).
struct Placement {
    /// Every class of the community, by id, and their ids by key.
    classes: HashMap<i64, streams::Class>,
    by_key: HashMap<String, i64>,
    /// The key of each class a reader is served from.
    keys: HashMap<i64, ClassKey>,
    /// Readers served from their class's stream.
    streamed: HashMap<String, View>,
    /// Readers with no view yet, and the key of their class.
    new: Vec<(String, ClassKey)>,
    /// Readers whose caps moved them out of their class, and the view they had.
    moved: Vec<(String, View)>,
    /// Readers served from their own rows.
    own: HashSet<String>,
    /// Views of users that are no longer readers.
    gone: Vec<(String, View)>,
}

impl Placement {
    fn of(
        conn: &mut Conn,
        community: &str,
        readers: &[ReaderCaps],
        rules: &HashMap<String, ProducerRule>,
    ) -> Result<Placement, StorageError> {
        let mut views = streams::views_of(conn, community)?;
        let classes: HashMap<i64, streams::Class> = streams::classes_of(conn, community)?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        let by_key = classes.values().map(|c| (c.key.clone(), c.id)).collect();
        let mut plan = Placement {
            classes,
            by_key,
            keys: HashMap::new(),
            streamed: HashMap::new(),
            new: vec![],
            moved: vec![],
            own: HashSet::new(),
            gone: vec![],
        };
        for r in readers {
            let key = ClassKey::of(r, rules);
            match views.remove(&r.user) {
                None => plan.new.push((r.user.clone(), key)),
                Some(View::Own) => {
                    plan.own.insert(r.user.clone());
                }
                Some(view @ View::Streamed { class, .. }) => {
                    let fits = plan.classes.get(&class).map(|c| c.key == key.text());
                    if fits == Some(true) {
                        plan.streamed.insert(r.user.clone(), view);
                        plan.keys.insert(class, key);
                    } else {
                        plan.moved.push((r.user.clone(), view));
                    }
                }
            }
        }
        plan.gone = views.into_iter().collect();
        Ok(plan)
    }

    /// Nothing to place: a refresh of some versions can keep every view as it is.
    fn settled(&self) -> bool {
        self.new.is_empty() && self.moved.is_empty() && self.gone.is_empty()
    }

    /// Finds or opens the class of every new reader. An opened class is empty; this refresh,
    /// which considers everything, fills it.
    fn open_classes(&mut self, conn: &mut Conn, community: &str) -> Result<(), StorageError> {
        for (_, key) in &self.new {
            let text = key.text();
            let id = match self.by_key.get(&text) {
                Some(id) => *id,
                None => {
                    let class = streams::create_class(conn, community, &text)?;
                    let id = class.id;
                    self.classes.insert(id, class);
                    self.by_key.insert(text, id);
                    id
                }
            };
            self.keys.insert(id, key.clone());
        }
        Ok(())
    }

    /// Gives their own rows to the readers whose view would differ from their class's: moved
    /// ones, and those a version names or that joined after a version was added. Before the
    /// streams change, so a copy holds exactly what the reader saw.
    #[allow(clippy::too_many_arguments)]
    fn split_off(
        &mut self,
        conn: &mut Conn,
        community: &str,
        facts: &Facts,
        streams: &Streams,
        ordered: &[&StoredVersion],
        readers: &[ReaderCaps],
        now: i64,
    ) -> Result<(), StorageError> {
        for (user, view) in std::mem::take(&mut self.moved) {
            self.make_own(conn, &user, community, view)?;
        }
        let named = Named::of(facts, ordered);
        for r in readers {
            let (differs, view) = match self.streamed.get(&r.user) {
                Some(view) if named.may_differ(r, facts.community.backlog) => {
                    (streams.differs(facts, r, *view, ordered, now)?, *view)
                }
                _ => continue,
            };
            if differs {
                self.streamed.remove(&r.user);
                self.make_own(conn, &r.user, community, view)?;
            }
        }
        let backlog = facts.community.backlog;
        for (user, key) in std::mem::take(&mut self.new) {
            let r = readers.iter().find(|r| r.user == user);
            let class = self.by_key[&key.text()];
            let expected = match backlog {
                true => streams.chosen[&class].clone(),
                false => HashSet::new(),
            };
            let mine = match r {
                Some(r) => facts.chosen(r, &facts.rules, ordered, &HashSet::new(), now)?,
                None => HashSet::new(),
            };
            if mine == expected {
                self.new.push((user, key));
            } else {
                streams::set_view(conn, &user, community, View::Own)?;
                self.own.insert(user);
            }
        }
        Ok(())
    }

    fn make_own(
        &mut self,
        conn: &mut Conn,
        user: &str,
        community: &str,
        view: View,
    ) -> Result<(), StorageError> {
        match view {
            View::Streamed { class, .. } if self.classes.contains_key(&class) => {
                streams::materialize(conn, user, community, view, &self.classes[&class])?
            }
            _ => streams::set_view(conn, user, community, View::Own)?,
        }
        self.own.insert(user.to_owned());
        Ok(())
    }

    /// Places the new readers on their class's stream, now that it holds this refresh's rows:
    /// with the backlog, from its first row, dated as new; without, from its next row.
    fn place_new(
        &mut self,
        conn: &mut Conn,
        community: &str,
        backlog: bool,
        now: i64,
    ) -> Result<(), StorageError> {
        for (user, key) in std::mem::take(&mut self.new) {
            let class = &self.classes[&self.by_key[&key.text()]];
            let after_mark = streams::mark(conn, &user, community)?
                .map_or(now, |m| now.max(m.saturating_add(1)));
            let view = if backlog {
                let start = streams::first_n(conn, class.id)?.unwrap_or(class.last_n + 1);
                View::Streamed {
                    class: class.id,
                    start,
                    base: Some((after_mark, start)),
                }
            } else {
                let start = class.last_n + 1;
                View::Streamed {
                    class: class.id,
                    start,
                    base: Some((after_mark, start)),
                }
            };
            streams::set_view(conn, &user, community, view)?;
            self.streamed.insert(user, view);
        }
        Ok(())
    }

    /// Forgets the views of users that are no longer readers (their mark keeps the last date
    /// they could have been given) and the classes nobody is served from.
    fn finish(&mut self, conn: &mut Conn, community: &str) -> Result<(), StorageError> {
        for (user, view) in std::mem::take(&mut self.gone) {
            if let View::Streamed { class, .. } = view {
                let last = self
                    .classes
                    .get(&class)
                    .and_then(|c| streams::last_date(view, c));
                if let Some(last) = last {
                    streams::raise_mark(conn, &user, community, last)?;
                }
            }
            streams::delete_view(conn, &user, community)?;
        }
        let used: HashSet<i64> = self
            .streamed
            .values()
            .filter_map(|v| match v {
                View::Streamed { class, .. } => Some(*class),
                View::Own => None,
            })
            .collect();
        for id in self.classes.keys() {
            if !used.contains(id) {
                streams::drop_class(conn, *id)?;
            }
        }
        Ok(())
    }
}

/// The partners the loaded versions name (producers and RED recipients), and the earliest
/// addition among the reconsidered ones: a reader outside both sees what its class sees.
struct Named<'a> {
    partners: HashSet<&'a str>,
    earliest: i64,
}

impl<'a> Named<'a> {
    fn of(facts: &'a Facts, ordered: &[&StoredVersion]) -> Named<'a> {
        let mut partners = HashSet::new();
        for f in facts.facts.values() {
            partners.extend(f.producer.as_deref());
            partners.extend(f.recipients.iter().map(|r| r.partner()));
        }
        let earliest = ordered.iter().map(|v| v.added_at).min().unwrap_or(i64::MAX);
        Named { partners, earliest }
    }

    fn may_differ(&self, r: &ReaderCaps, backlog: bool) -> bool {
        self.partners.contains(r.partner.as_str()) || (!backlog && r.joined_at > self.earliest)
    }
}

/// What each class in use receives of the reconsidered versions.
struct Streams {
    /// Per class, the reconsidered versions its stream holds, with their positions.
    had: HashMap<i64, HashMap<i64, i64>>,
    /// Per class, the versions it receives.
    chosen: HashMap<i64, HashSet<i64>>,
}

impl Streams {
    fn decide(
        conn: &mut Conn,
        facts: &Facts,
        plan: &Placement,
        ordered: &[&StoredVersion],
        stored: &[i64],
        now: i64,
    ) -> Result<Streams, StorageError> {
        let ids: Vec<i64> = plan.keys.keys().copied().collect();
        let mut had: HashMap<i64, HashMap<i64, i64>> =
            ids.iter().map(|id| (*id, HashMap::new())).collect();
        for row in streams::rows_among(conn, &ids, stored)? {
            had.entry(row.class).or_default().insert(row.seq, row.n);
        }
        let mut chosen = HashMap::new();
        for (id, key) in &plan.keys {
            let has: HashSet<i64> = had[id].keys().copied().collect();
            let rules = key.rules(&facts.rules);
            let picked = facts.chosen(&key.representative(), &rules, ordered, &has, now)?;
            chosen.insert(*id, picked);
        }
        Ok(Streams { had, chosen })
    }

    /// Whether `r`, streamed with `view`, would receive other versions than its class's rows
    /// from its start show it.
    fn differs(
        &self,
        facts: &Facts,
        r: &ReaderCaps,
        view: View,
        ordered: &[&StoredVersion],
        now: i64,
    ) -> Result<bool, StorageError> {
        let View::Streamed { class, start, .. } = view else {
            return Ok(false);
        };
        let had = &self.had[&class];
        let before_start = |seq: &i64| had.get(seq).is_some_and(|n| *n < start);
        let has: HashSet<i64> = had.keys().filter(|s| !before_start(s)).copied().collect();
        let mine = facts.chosen(r, &facts.rules, ordered, &has, now)?;
        let shown: HashSet<i64> = self.chosen[&class]
            .iter()
            .filter(|s| !before_start(s))
            .copied()
            .collect();
        Ok(mine != shown)
    }

    /// Appends what each class newly receives, in order, and removes what it no longer does.
    fn write(
        &self,
        conn: &mut Conn,
        classes: &mut HashMap<i64, streams::Class>,
        ordered: &[&StoredVersion],
        now: i64,
    ) -> Result<(), StorageError> {
        for (id, chosen) in &self.chosen {
            let had = &self.had[id];
            let gone: Vec<i64> = had
                .keys()
                .filter(|s| !chosen.contains(s))
                .copied()
                .collect();
            streams::remove(conn, *id, &gone)?;
            let add: Vec<i64> = ordered
                .iter()
                .map(|v| v.seq)
                .filter(|s| chosen.contains(s) && !had.contains_key(s))
                .collect();
            if let Some(class) = classes.get_mut(id) {
                streams::append(conn, class, &add, now)?;
            }
        }
        Ok(())
    }
}

/// Brings the own rows of the readers in `own` in line with the decision.
#[allow(clippy::too_many_arguments)]
fn refresh_own(
    conn: &mut Conn,
    community: &str,
    facts: &Facts,
    ordered: &[&StoredVersion],
    stored: &[i64],
    readers: &[ReaderCaps],
    own: &HashSet<String>,
    now: i64,
) -> Result<(), StorageError> {
    let mut current: HashMap<String, HashSet<i64>> = HashMap::new();
    for chunk in stored.chunks(500) {
        for (user, seq) in objects::delivered_among(conn, community, chunk)? {
            current.entry(user).or_default().insert(seq);
        }
    }
    for reader in readers.iter().filter(|r| own.contains(&r.user)) {
        let had = current.remove(&reader.user).unwrap_or_default();
        let chosen = facts.chosen(reader, &facts.rules, ordered, &had, now)?;
        let add: Vec<i64> = ordered
            .iter()
            .map(|v| v.seq)
            .filter(|s| chosen.contains(s) && !had.contains(s))
            .collect();
        let remove: Vec<i64> = had
            .iter()
            .copied()
            .filter(|s| !chosen.contains(s))
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
    Ok(())
}

/// Records release times under the current rules, and which have passed.
fn record_releases(
    conn: &mut Conn,
    facts: &Facts,
    targets: &[StoredVersion],
    now: i64,
) -> Result<(), StorageError> {
    for v in targets {
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
    let delivered = match streams::view(conn, user, community)? {
        Some(view) => streams::dates_among(conn, user, community, view, &seqs)?,
        None => HashMap::new(),
    };
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
