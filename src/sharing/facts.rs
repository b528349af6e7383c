//! The facts the decision reads about a set of versions of one community: each version's own
//! facts, what it references, and the newest released version of the same object from the same
//! producer (rule 5). Built once per refresh; each reader's decision is then lookups.

use super::decision::{
    self, Case, CommunityPolicy, ProducerRule, ReaderCaps, Verdict, VersionFacts,
};
use crate::ids::PartnerId;
use crate::stix::identifier::StixId;
use crate::stix::timestamp::Timestamp;
use std::collections::{BTreeMap, HashMap, HashSet};

/// One stored version as the engine sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub seq: i64,
    pub id: StixId,
    /// `modified`, else `created`, else when it was added.
    pub version: Timestamp,
    /// Its release time and state as recorded, to tell whether they changed.
    pub release_at: Timestamp,
    pub released: bool,
    pub facts: VersionFacts,
}

pub type Rules = HashMap<PartnerId, ProducerRule>;

pub struct Facts {
    pub community: CommunityPolicy,
    pub rules: Rules,
    pub versions: Vec<Version>,
    by_seq: HashMap<i64, usize>,
    refs: HashMap<i64, Vec<String>>,
    /// For each version: the newest version of the same id and producer released by `now`.
    newest_released: HashMap<i64, usize>,
}

fn rule_of<'a>(rules: &'a Rules, f: &VersionFacts) -> Option<&'a ProducerRule> {
    f.producer.as_ref().and_then(|p| rules.get(p))
}

impl Facts {
    /// `versions` holds the reconsidered versions and every version of the ids they reference;
    /// `refs` what each of them references.
    pub fn new(
        community: CommunityPolicy,
        rules: Rules,
        versions: Vec<Version>,
        refs: HashMap<i64, Vec<String>>,
        now: Timestamp,
    ) -> Facts {
        let mut newest: HashMap<(&str, Option<&str>), (Timestamp, i64, usize)> = HashMap::new();
        for (i, v) in versions.iter().enumerate() {
            if decision::release_at(&community, rule_of(&rules, &v.facts), &v.facts) <= now {
                let key = (v.id.as_str(), v.facts.producer.as_deref());
                let entry = newest.entry(key).or_insert((v.version, v.seq, i));
                if (v.version, v.seq) > (entry.0, entry.1) {
                    *entry = (v.version, v.seq, i);
                }
            }
        }
        let newest_released = versions
            .iter()
            .filter_map(|v| {
                let key = (v.id.as_str(), v.facts.producer.as_deref());
                newest.get(&key).map(|n| (v.seq, n.2))
            })
            .collect();
        let by_seq = versions
            .iter()
            .enumerate()
            .map(|(i, v)| (v.seq, i))
            .collect();
        Facts {
            community,
            rules,
            versions,
            by_seq,
            refs,
            newest_released,
        }
    }

    pub fn get(&self, seq: i64) -> Option<&Version> {
        self.by_seq.get(&seq).map(|i| &self.versions[*i])
    }

    /// What version `seq` references.
    pub fn refs_of(&self, seq: i64) -> &[String] {
        self.refs.get(&seq).map(Vec::as_slice).unwrap_or(&[])
    }

    /// When `v` is released to readers other than its producer, under the current rules.
    pub fn release_at(&self, v: &Version) -> Timestamp {
        decision::release_at(&self.community, rule_of(&self.rules, &v.facts), &v.facts)
    }

    fn case<'a>(&'a self, v: &'a Version) -> Case<'a> {
        Case {
            version: &v.facts,
            newest_released: self
                .newest_released
                .get(&v.seq)
                .map(|i| &self.versions[*i].facts),
            refs: self.refs.get(&v.seq).map(Vec::as_slice).unwrap_or(&[]),
        }
    }

    /// The ids with some version delivered to `reader` by rules 1-5 (what rule 6 looks at),
    /// under `rules` (a class's representative meets its own).
    pub fn visible_ids(&self, reader: &ReaderCaps, rules: &Rules, now: Timestamp) -> HashSet<&str> {
        let mut visible = HashSet::new();
        for v in &self.versions {
            let case = self.case(v);
            let rule = rule_of(rules, &v.facts);
            let verdict = decision::decide_core(
                reader,
                &self.community,
                rule,
                case.version,
                case.newest_released,
                now,
            );
            if verdict.delivered() {
                visible.insert(v.id.as_str());
            }
        }
        visible
    }

    /// The full decision (rules 1-6) for one version.
    pub fn decide(
        &self,
        reader: &ReaderCaps,
        rules: &Rules,
        v: &Version,
        visible: &HashSet<&str>,
        now: Timestamp,
    ) -> Verdict {
        decision::decide(
            reader,
            &self.community,
            rule_of(rules, &v.facts),
            self.case(v),
            |id| visible.contains(id),
            now,
        )
    }

    /// The versions among `ordered` that `reader` receives under `rules`: one copy per (id,
    /// version) (see `copy_rank`); `had` are those it has.
    pub fn chosen(
        &self,
        reader: &ReaderCaps,
        rules: &Rules,
        ordered: &[&Version],
        had: &HashSet<i64>,
        now: Timestamp,
    ) -> HashSet<i64> {
        let visible = self.visible_ids(reader, rules, now);
        let mut chosen: BTreeMap<(&str, Timestamp), (u8, i64)> = BTreeMap::new();
        for v in ordered {
            if !self.decide(reader, rules, v, &visible, now).delivered() {
                continue;
            }
            let producer = v.facts.producer.as_deref();
            let rank = decision::copy_rank(reader, producer, had.contains(&v.seq));
            let pick = chosen
                .entry((v.id.as_str(), v.version))
                .or_insert((rank, v.seq));
            if rank > pick.0 {
                *pick = (rank, v.seq);
            }
        }
        chosen.values().map(|(_, seq)| *seq).collect()
    }
}
