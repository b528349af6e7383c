//! One refresh of a community, planned without a database (docs/sharing.md section 7): from the
//! readers, their views, the classes and the facts of the reconsidered versions, the changes that
//! bring each class's stream and each reader's own rows in line with the decision. A reader that
//! would see something else than its class is given own rows before the streams change.

use super::classes::ClassKey;
use super::decision::ReaderCaps;
use super::facts::{Facts, Rules, Version};
use super::view::View;
use crate::ids::{PartnerId, UserName};
use crate::stix::timestamp::Timestamp;
use std::collections::{BTreeMap, HashMap, HashSet};

/// A class as stored: its key, its counters and its first position still held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    pub id: i64,
    pub key: String,
    pub last_ts: Timestamp,
    pub last_n: i64,
    pub first_n: Option<i64>,
}

/// A class that a change names: stored, or the i-th of those the plan opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClassRef {
    Stored(i64),
    Opened(usize),
}

/// Where each reader is served from, before any version is looked at.
#[derive(Debug)]
pub struct Placement {
    classes: HashMap<i64, Class>,
    by_key: HashMap<String, ClassRef>,
    /// Keys of the classes to open.
    opened: Vec<String>,
    /// The key of each class a reader is, or will be, served from.
    keys: HashMap<ClassRef, ClassKey>,
    /// Readers served from their class's stream, as they are.
    streamed: HashMap<UserName, View>,
    /// Readers with no view yet, with their class.
    new: Vec<(UserName, ClassRef)>,
    /// Readers whose caps moved them out of their class, with the view they had.
    moved: Vec<(UserName, View)>,
    /// Readers served from their own rows.
    own: HashSet<UserName>,
    /// Views of users that are no longer readers.
    gone: Vec<(UserName, View)>,
}

impl Placement {
    pub fn of(
        readers: &[ReaderCaps],
        mut views: HashMap<UserName, View>,
        classes: Vec<Class>,
        rules: &Rules,
    ) -> Placement {
        let by_key = classes
            .iter()
            .map(|c| (c.key.clone(), ClassRef::Stored(c.id)))
            .collect();
        let mut p = Placement {
            classes: classes.into_iter().map(|c| (c.id, c)).collect(),
            by_key,
            opened: vec![],
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
                None => p.add_new(&r.user, key),
                Some(View::Own) => {
                    p.own.insert(r.user.clone());
                }
                Some(view @ View::Streamed { class, .. }) => {
                    if p.classes.get(&class).is_some_and(|c| c.key == key.text()) {
                        p.streamed.insert(r.user.clone(), view);
                        p.keys.insert(ClassRef::Stored(class), key);
                    } else {
                        p.moved.push((r.user.clone(), view));
                    }
                }
            }
        }
        p.gone = views.into_iter().collect();
        p
    }

    fn add_new(&mut self, user: &UserName, key: ClassKey) {
        let text = key.text();
        let class = match self.by_key.get(&text) {
            Some(class) => *class,
            None => {
                let class = ClassRef::Opened(self.opened.len());
                self.opened.push(text.clone());
                self.by_key.insert(text, class);
                class
            }
        };
        self.keys.insert(class, key);
        self.new.push((user.clone(), class));
    }

    /// Nothing to place: a refresh of some versions keeps every view as it is. Otherwise the
    /// caller refreshes the whole community, which a new view needs.
    pub fn settled(&self) -> bool {
        self.new.is_empty() && self.moved.is_empty() && self.gone.is_empty()
    }

    /// The stored classes the plan needs the rows of.
    pub fn stored_in_use(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .keys
            .keys()
            .filter_map(|c| match c {
                ClassRef::Stored(id) => Some(*id),
                ClassRef::Opened(_) => None,
            })
            .collect();
        ids.extend(self.moved.iter().filter_map(|(_, v)| stream_class(v)));
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The readers the plan may place, whose marks it needs.
    pub fn new_readers(&self) -> Vec<UserName> {
        self.new.iter().map(|(u, _)| u.clone()).collect()
    }
}

fn stream_class(view: &View) -> Option<i64> {
    match view {
        View::Streamed { class, .. } => Some(*class),
        View::Own => None,
    }
}

/// What the plan reads besides the facts.
#[derive(Debug, Default)]
pub struct Rows {
    /// (class, seq, n): the reconsidered versions in the streams in use.
    pub stream: Vec<(i64, i64, i64)>,
    /// The reconsidered versions each user has in its own rows.
    pub own: HashMap<UserName, HashSet<i64>>,
    /// The last date given before to a new reader (one re-added).
    pub marks: HashMap<UserName, Timestamp>,
    /// (user, target) of the follows on the reconsidered versions, what they reference, or
    /// (target '') the whole community.
    pub follows: Vec<(UserName, String)>,
    /// (user, container, held) of the followed reports and groupings that hold the reconsidered
    /// versions' ids or what they reference.
    pub held: Vec<(UserName, String, String)>,
}

/// The changes of one refresh, in the order they are to be written.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Keys of the classes to open, in `ClassRef::Opened` order.
    pub open: Vec<String>,
    /// Readers given own rows: a copy of this streamed view, and the mark it raises to.
    pub materialize: Vec<(UserName, View, Option<Timestamp>)>,
    /// New readers given own rows, with nothing to copy.
    pub own_from_now: Vec<UserName>,
    /// Per class: the versions its stream drops, and those it appends, in order.
    pub streams: Vec<(ClassRef, Vec<i64>, Vec<i64>)>,
    /// New readers placed on a stream: (user, class, start, base date).
    pub place: Vec<(UserName, ClassRef, i64, Timestamp)>,
    /// Whole refreshes: the readers with own rows; every other user loses its rows.
    pub keep_own: Option<Vec<UserName>>,
    /// Per user: own rows withdrawn, and own rows delivered in this order.
    pub own: Vec<(UserName, Vec<i64>, Vec<i64>)>,
    /// Users no longer readers: their view goes, and their mark rises to the date given.
    pub gone: Vec<(UserName, Option<Timestamp>)>,
    /// Classes no reader is served from.
    pub drop: Vec<ClassRef>,
    /// Versions whose release time or state changed: (seq, release_at, released).
    pub releases: Vec<(i64, Timestamp, bool)>,
    /// (user, container, seq, version): a followed report or grouping holds what this version
    /// of it names in `object_refs` from now on (for later refreshes), unless a newer one of it
    /// reached the follower.
    pub holds: Vec<(UserName, String, i64, Timestamp)>,
    /// Per follower: the versions it newly receives that its follows match, in order, each
    /// with the target matched.
    pub notify: Vec<(UserName, Vec<(i64, String)>)>,
}

/// The classes' decisions on the reconsidered versions.
struct Streams {
    /// Per class: the reconsidered versions its stream holds, with their positions.
    had: HashMap<ClassRef, HashMap<i64, i64>>,
    /// Per class: the versions it receives.
    chosen: HashMap<ClassRef, HashSet<i64>>,
}

/// Plans the refresh of `targets` (versions held by `facts`). `whole`: they are every version of
/// the community.
pub fn plan(
    mut place: Placement,
    facts: &Facts,
    targets: &[&Version],
    readers: &[ReaderCaps],
    rows: Rows,
    whole: bool,
    now: Timestamp,
) -> Changes {
    let mut ordered: Vec<&Version> = targets.to_vec();
    // In the order versions were added, so a reader sees a POST's objects in posted order.
    ordered.sort_by_key(|v| (v.facts.added_at, v.seq));
    let streams = decide_streams(&place, facts, &ordered, &rows, now);
    let mut changes = Changes {
        open: place.opened.clone(),
        ..Changes::default()
    };
    split_off(
        &mut place,
        &mut changes,
        facts,
        &streams,
        &ordered,
        readers,
        now,
    );
    write_streams(&mut changes, &streams, &ordered);
    place_new(&mut place, &mut changes, facts, &rows, now);
    own_rows(
        &mut changes,
        &place,
        &streams,
        facts,
        &ordered,
        readers,
        &rows,
        now,
    );
    notify(&mut changes, &place, facts, &rows);
    if whole {
        finish(&mut place, &mut changes);
    }
    for v in &ordered {
        let at = facts.release_at(v);
        if at != v.release_at || (at <= now) != v.released {
            changes.releases.push((v.seq, at, at <= now));
        }
    }
    changes
}

fn decide_streams(
    place: &Placement,
    facts: &Facts,
    ordered: &[&Version],
    rows: &Rows,
    now: Timestamp,
) -> Streams {
    let mut had: HashMap<ClassRef, HashMap<i64, i64>> = HashMap::new();
    for (class, seq, n) in &rows.stream {
        had.entry(ClassRef::Stored(*class))
            .or_default()
            .insert(*seq, *n);
    }
    let mut chosen = HashMap::new();
    for (class, key) in &place.keys {
        let held = had.entry(*class).or_default();
        let has: HashSet<i64> = held.keys().copied().collect();
        let rules = key.rules(&facts.rules);
        chosen.insert(
            *class,
            facts.chosen(&key.representative(), &rules, ordered, &has, now),
        );
    }
    Streams { had, chosen }
}

/// The partners the loaded versions name (producers and RED recipients) and the earliest
/// addition among the reconsidered ones: a reader outside both sees what its class sees.
fn may_differ<'a>(facts: &'a Facts, ordered: &[&Version]) -> impl Fn(&ReaderCaps) -> bool + 'a {
    let mut partners: HashSet<&str> = HashSet::new();
    for v in &facts.versions {
        partners.extend(v.facts.producer.as_ref().map(PartnerId::as_str));
        partners.extend(v.facts.recipients.iter().map(|r| r.partner().as_str()));
    }
    let earliest = ordered.iter().map(|v| v.facts.added_at).min();
    let backlog = facts.community.backlog;
    move |r: &ReaderCaps| {
        partners.contains(r.partner.as_str())
            || (!backlog && earliest.is_some_and(|e| r.joined_at > e))
    }
}

/// Readers whose view would differ from their class's get own rows: moved ones, those the
/// versions name, and new readers.
fn split_off(
    place: &mut Placement,
    changes: &mut Changes,
    facts: &Facts,
    streams: &Streams,
    ordered: &[&Version],
    readers: &[ReaderCaps],
    now: Timestamp,
) {
    for (user, view) in std::mem::take(&mut place.moved) {
        materialize(place, changes, user, view);
    }
    let check = may_differ(facts, ordered);
    for r in readers.iter().filter(|r| check(r)) {
        let Some(view) = place.streamed.get(&r.user).copied() else {
            continue;
        };
        if differs(streams, facts, r, view, ordered, now) {
            place.streamed.remove(&r.user);
            materialize(place, changes, r.user.clone(), view);
        }
    }
    let backlog = facts.community.backlog;
    for (user, class) in std::mem::take(&mut place.new) {
        let expected = match backlog {
            true => streams.chosen[&class].clone(),
            false => HashSet::new(),
        };
        let mine = readers
            .iter()
            .find(|r| r.user == user)
            .map(|r| facts.chosen(r, &facts.rules, ordered, &HashSet::new(), now))
            .unwrap_or_default();
        if mine == expected {
            place.new.push((user, class));
        } else {
            place.own.insert(user.clone());
            changes.own_from_now.push(user);
        }
    }
}

fn materialize(place: &mut Placement, changes: &mut Changes, user: UserName, view: View) {
    let mark = stream_class(&view)
        .and_then(|id| place.classes.get(&id))
        .and_then(|c| view.last_date(c.last_n, c.last_ts));
    place.own.insert(user.clone());
    changes.materialize.push((user, view, mark));
}

/// Whether `r`, streamed with `view`, would receive other versions than its class's rows from
/// its start show it.
fn differs(
    streams: &Streams,
    facts: &Facts,
    r: &ReaderCaps,
    view: View,
    ordered: &[&Version],
    now: Timestamp,
) -> bool {
    let View::Streamed { class, start, .. } = view else {
        return false;
    };
    let class = ClassRef::Stored(class);
    let empty = HashMap::new();
    let had = streams.had.get(&class).unwrap_or(&empty);
    let before_start = |seq: &i64| had.get(seq).is_some_and(|n| *n < start);
    let has: HashSet<i64> = had.keys().filter(|s| !before_start(s)).copied().collect();
    let mine = facts.chosen(r, &facts.rules, ordered, &has, now);
    let shown: HashSet<i64> = streams
        .chosen
        .get(&class)
        .into_iter()
        .flatten()
        .filter(|s| !before_start(s))
        .copied()
        .collect();
    mine != shown
}

fn write_streams(changes: &mut Changes, streams: &Streams, ordered: &[&Version]) {
    let mut classes: Vec<&ClassRef> = streams.chosen.keys().collect();
    classes.sort_by_key(|c| match c {
        ClassRef::Stored(id) => (0, *id),
        ClassRef::Opened(i) => (1, *i as i64),
    });
    for class in classes {
        let chosen = &streams.chosen[class];
        let had = &streams.had[class];
        let mut gone: Vec<i64> = had
            .keys()
            .filter(|s| !chosen.contains(s))
            .copied()
            .collect();
        gone.sort_unstable();
        let add: Vec<i64> = ordered
            .iter()
            .map(|v| v.seq)
            .filter(|s| chosen.contains(s) && !had.contains_key(s))
            .collect();
        if !gone.is_empty() || !add.is_empty() {
            changes.streams.push((*class, gone, add));
        }
    }
}

/// Places the new readers on their class's stream: with the backlog, from its first row, dated
/// as new from now (or past a date given before); without, from its next row.
fn place_new(
    place: &mut Placement,
    changes: &mut Changes,
    facts: &Facts,
    rows: &Rows,
    now: Timestamp,
) {
    for (user, class) in std::mem::take(&mut place.new) {
        let (last_n, first_n) = match class {
            ClassRef::Stored(id) => place
                .classes
                .get(&id)
                .map_or((0, None), |c| (c.last_n, c.first_n)),
            ClassRef::Opened(_) => (0, None),
        };
        let appended = changes
            .streams
            .iter()
            .find(|(c, _, _)| *c == class)
            .map_or(0, |(_, _, add)| add.len() as i64);
        let start = match facts.community.backlog {
            true => first_n.unwrap_or(last_n + 1),
            false => last_n + appended + 1,
        };
        let base = rows.marks.get(&user).map_or(now, |m| now.max(m.plus(1)));
        changes.place.push((user, class, start, base));
    }
}

/// The own rows of the readers that have them: what each newly receives and no longer does.
#[allow(clippy::too_many_arguments)]
fn own_rows(
    changes: &mut Changes,
    place: &Placement,
    streams: &Streams,
    facts: &Facts,
    ordered: &[&Version],
    readers: &[ReaderCaps],
    rows: &Rows,
    now: Timestamp,
) {
    let copied: HashMap<&str, HashSet<i64>> = changes
        .materialize
        .iter()
        .map(|(user, view, _)| (user.as_str(), visible_rows(streams, view)))
        .collect();
    for r in readers.iter().filter(|r| place.own.contains(&r.user)) {
        let had = match copied.get(r.user.as_str()) {
            Some(rows) => rows.clone(),
            None => rows.own.get(&r.user).cloned().unwrap_or_default(),
        };
        let chosen = facts.chosen(r, &facts.rules, ordered, &had, now);
        let add: Vec<i64> = ordered
            .iter()
            .map(|v| v.seq)
            .filter(|s| chosen.contains(s) && !had.contains(s))
            .collect();
        let mut remove: Vec<i64> = had
            .iter()
            .copied()
            .filter(|s| !chosen.contains(s))
            .collect();
        remove.sort_unstable();
        if !add.is_empty() || !remove.is_empty() {
            changes.own.push((r.user.clone(), remove, add));
        }
    }
    // Users that are no longer readers keep nothing of what was reconsidered.
    let mut others: Vec<(&UserName, &HashSet<i64>)> = rows
        .own
        .iter()
        .filter(|(u, _)| !place.own.contains(*u))
        .collect();
    others.sort_by(|a, b| a.0.cmp(b.0));
    for (user, seqs) in others {
        let mut seqs: Vec<i64> = seqs.iter().copied().collect();
        seqs.sort_unstable();
        changes.own.push((user.clone(), seqs, vec![]));
    }
}

/// True for the types a follow of which also covers what they hold (their `object_refs`).
pub fn holds_objects(id: &str) -> bool {
    id.starts_with("report--") || id.starts_with("grouping--")
}

/// One follower's follows: its targets, and what its followed containers hold.
#[derive(Default)]
struct Following<'a> {
    targets: Vec<&'a str>,
    /// (container, held id).
    held: Vec<(&'a str, &'a str)>,
}

/// Matches what each follower newly receives (its own rows, or its class's appended rows)
/// against its follows: the version's own id, an id it references, the whole community, or
/// (for a followed report or grouping) an id the container holds or that a version references.
/// A followed container's version that the follower receives sets what it holds for later
/// refreshes.
fn notify(changes: &mut Changes, place: &Placement, facts: &Facts, rows: &Rows) {
    let mut by_user: BTreeMap<&UserName, Following> = BTreeMap::new();
    for (user, target) in &rows.follows {
        by_user.entry(user).or_default().targets.push(target);
    }
    for (user, container, held) in &rows.held {
        by_user
            .entry(user)
            .or_default()
            .held
            .push((container, held));
    }
    for (user, follows) in by_user {
        let received = received(changes, place, user).to_vec();
        let mut newest: BTreeMap<&str, &Version> = BTreeMap::new();
        for v in received.iter().filter_map(|seq| facts.get(*seq)) {
            if holds_objects(&v.id) && follows.targets.contains(&v.id.as_str()) {
                let kept = newest.entry(&v.id).or_insert(v);
                if v.version > kept.version {
                    *kept = v;
                }
            }
        }
        for (id, v) in newest {
            changes
                .holds
                .push((user.to_owned(), id.to_owned(), v.seq, v.version));
        }
        let told: Vec<(i64, String)> = received
            .iter()
            .filter_map(|seq| {
                Some((
                    *seq,
                    matched(&follows, facts.get(*seq)?, facts.refs_of(*seq))?,
                ))
            })
            .collect();
        if !told.is_empty() {
            changes.notify.push((user.to_owned(), told));
        }
    }
}

/// What a version matched of a user's follows, if anything.
fn matched(follows: &Following, v: &Version, refs: &[String]) -> Option<String> {
    let named = |id: &str| v.id == id || refs.iter().any(|r| r == id);
    if let Some(t) = follows.targets.iter().find(|t| t.is_empty() || named(t)) {
        return Some(t.to_string());
    }
    let (container, _) = follows.held.iter().find(|(_, held)| named(held))?;
    Some(container.to_string())
}

/// What `user` newly receives in this refresh: its own rows added, or its class's rows appended
/// (a reader placed in this refresh is told nothing of its backlog).
fn received<'c>(changes: &'c Changes, place: &Placement, user: &str) -> &'c [i64] {
    if changes.own_from_now.iter().any(|u| u == user) {
        return &[];
    }
    let class = match place.streamed.get(user) {
        _ if place.own.contains(user) => {
            return changes
                .own
                .iter()
                .find(|(u, _, _)| u == user)
                .map_or(&[], |(_, _, add)| add);
        }
        Some(View::Streamed { class, .. }) => ClassRef::Stored(*class),
        _ => return &[],
    };
    changes
        .streams
        .iter()
        .find(|(c, _, _)| *c == class)
        .map_or(&[], |(_, _, add)| add)
}

/// The reconsidered versions a streamed view shows (what a copy of it holds among them).
fn visible_rows(streams: &Streams, view: &View) -> HashSet<i64> {
    let View::Streamed { class, start, .. } = view else {
        return HashSet::new();
    };
    streams
        .had
        .get(&ClassRef::Stored(*class))
        .map(|had| {
            had.iter()
                .filter(|(_, n)| **n >= *start)
                .map(|(s, _)| *s)
                .collect()
        })
        .unwrap_or_default()
}

/// A whole refresh also forgets the views of users that are no longer readers and the classes
/// nobody is served from.
fn finish(place: &mut Placement, changes: &mut Changes) {
    let mut own: Vec<UserName> = place.own.iter().cloned().collect();
    own.sort();
    changes.keep_own = Some(own);
    let mut gone = std::mem::take(&mut place.gone);
    gone.sort_by(|a, b| a.0.cmp(&b.0));
    for (user, view) in gone {
        let mark = stream_class(&view)
            .and_then(|id| place.classes.get(&id))
            .and_then(|c| view.last_date(c.last_n, c.last_ts));
        changes.gone.push((user, mark));
    }
    let mut used: HashSet<ClassRef> = place
        .streamed
        .values()
        .filter_map(|v| stream_class(v).map(ClassRef::Stored))
        .collect();
    used.extend(changes.place.iter().map(|p| p.1));
    let mut all: Vec<ClassRef> = place
        .classes
        .keys()
        .map(|id| ClassRef::Stored(*id))
        .collect();
    all.extend((0..place.opened.len()).map(ClassRef::Opened));
    changes.drop = all.into_iter().filter(|c| !used.contains(c)).collect();
    changes.drop.sort_by_key(|c| match c {
        ClassRef::Stored(id) => (0, *id),
        ClassRef::Opened(i) => (1, *i as i64),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sharing::decision::{CommunityPolicy, Recipient, Unmarked, VersionFacts};
    use crate::stix::identifier::StixId;
    use crate::stix::tlp::Tlp;

    fn reader(partner: &str, cap: Tlp) -> ReaderCaps {
        ReaderCaps {
            partner: partner.into(),
            user: format!("{partner}-u").into(),
            user_max_tlp: Tlp::Red,
            user_types: vec![],
            redistributes: false,
            member_max_tlp: cap,
            joined_at: Timestamp::EPOCH,
        }
    }

    fn t(micros: i64) -> Timestamp {
        Timestamp::from_micros(micros)
    }

    fn version(seq: i64, producer: &str, tlp: Tlp, recipients: &[&str]) -> Version {
        Version {
            seq,
            id: StixId::known(format!("indicator--{seq}")),
            version: t(1),
            release_at: t(10),
            released: true,
            facts: VersionFacts {
                producer: Some(producer.into()),
                stix_type: "indicator".into(),
                tlp: Some(tlp),
                recipients: recipients
                    .iter()
                    .map(|r| Recipient::Partner((*r).into()))
                    .collect(),
                added_at: t(10),
                private_copy: false,
            },
        }
    }

    fn facts(versions: Vec<Version>, backlog: bool) -> Facts {
        let community = CommunityPolicy {
            unmarked: Unmarked::Level(Tlp::Green),
            types: vec![],
            delay: 0,
            backlog,
            dangling_allowed: true,
        };
        Facts::new(community, Rules::new(), versions, HashMap::new(), t(100))
    }

    fn run(
        readers: &[ReaderCaps],
        views: HashMap<UserName, View>,
        classes: Vec<Class>,
        facts: &Facts,
        rows: Rows,
    ) -> Changes {
        let place = Placement::of(readers, views, classes, &facts.rules);
        let targets: Vec<&Version> = facts.versions.iter().collect();
        plan(place, facts, &targets, readers, rows, true, t(100))
    }

    #[test]
    fn readers_with_the_same_caps_share_one_new_stream() {
        let readers = [
            reader("a", Tlp::Amber),
            reader("b", Tlp::Amber),
            reader("p", Tlp::Amber),
        ];
        let f = facts(
            vec![
                version(1, "p", Tlp::Green, &[]),
                version(2, "p", Tlp::AmberStrict, &[]),
            ],
            true,
        );
        let changes = run(&readers, HashMap::new(), vec![], &f, Rows::default());
        assert_eq!(changes.open.len(), 1);
        assert_eq!(
            changes.streams,
            vec![(ClassRef::Opened(0), vec![], vec![1])]
        );
        // The producer sees its AMBER+STRICT version, its class does not: rows of its own.
        assert_eq!(changes.own_from_now, vec![UserName::from("p-u")]);
        assert_eq!(
            changes.own,
            vec![(UserName::from("p-u"), vec![], vec![1, 2])]
        );
        let placed: Vec<(&str, i64, Timestamp)> = changes
            .place
            .iter()
            .map(|(u, _, start, base)| (u.as_str(), *start, *base))
            .collect();
        assert_eq!(placed, vec![("a-u", 1, t(100)), ("b-u", 1, t(100))]);
        assert!(changes.materialize.is_empty() && changes.drop.is_empty());
    }

    #[test]
    fn a_streamed_reader_named_by_red_gets_its_own_rows_first() {
        let readers = [reader("a", Tlp::Red), reader("b", Tlp::Red)];
        let key = ClassKey::of(&readers[0], &Rules::new()).text();
        let class = Class {
            id: 7,
            key,
            last_ts: t(500),
            last_n: 3,
            first_n: Some(1),
        };
        let streamed = |_: &str| View::Streamed {
            class: 7,
            start: 2,
            base: None,
        };
        let views: HashMap<UserName, View> = ["a-u", "b-u"]
            .iter()
            .map(|u| (UserName::from(*u), streamed(u)))
            .collect();
        let f = facts(
            vec![
                version(4, "c", Tlp::Green, &[]),
                version(5, "c", Tlp::Red, &["a"]),
            ],
            true,
        );
        let rows = Rows {
            stream: vec![(7, 4, 3)],
            ..Rows::default()
        };
        let changes = run(&readers, views, vec![class], &f, rows);
        // a's copy holds what it saw, up to the class's last date; then it gets the RED one.
        assert_eq!(
            changes.materialize,
            vec![(UserName::from("a-u"), streamed("a-u"), Some(t(500)))]
        );
        assert_eq!(changes.own, vec![(UserName::from("a-u"), vec![], vec![5])]);
        // The stream keeps what it had; b stays on it.
        assert!(changes.streams.is_empty());
        assert!(changes.drop.is_empty());
    }

    #[test]
    fn a_reader_whose_cap_changed_leaves_its_class_and_a_late_one_starts_after_it() {
        let old_key = ClassKey::of(&reader("a", Tlp::Green), &Rules::new()).text();
        let class = Class {
            id: 3,
            key: old_key,
            last_ts: t(900),
            last_n: 8,
            first_n: Some(2),
        };
        let view = View::Streamed {
            class: 3,
            start: 2,
            base: Some((t(50), 2)),
        };
        let readers = [reader("a", Tlp::Amber), reader("n", Tlp::Green)];
        let views = HashMap::from([(UserName::from("a-u"), view)]);
        let f = facts(vec![version(9, "c", Tlp::Amber, &[])], false);
        let rows = Rows {
            marks: HashMap::from([(UserName::from("n-u"), t(2_000))]),
            ..Rows::default()
        };
        let place = Placement::of(&readers, views.clone(), vec![class.clone()], &f.rules);
        assert!(!place.settled(), "a moved and n is new: a whole refresh");
        let changes = run(&readers, views, vec![class], &f, rows);
        assert_eq!(
            changes.materialize,
            vec![(UserName::from("a-u"), view, Some(t(900)))]
        );
        assert_eq!(changes.own, vec![(UserName::from("a-u"), vec![], vec![9])]);
        // Without a backlog, n starts at the class's next row, dated past its earlier mark.
        assert_eq!(
            changes.place,
            vec![(UserName::from("n-u"), ClassRef::Stored(3), 9, t(2_001))]
        );
        assert_eq!(changes.keep_own, Some(vec![UserName::from("a-u")]));
    }
}
