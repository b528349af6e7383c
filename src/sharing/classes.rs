//! Readers that see the same thing share one stream (docs/sharing.md section 7). Apart from
//! what names it (its own partner's contributions, RED naming it, its private copies) and when
//! it joined, a reader's view of a community depends only on its effective cap, its types, its
//! `redistributes` flag and the producers whose rules exclude its partner: its class key. Each
//! class is decided once, as a representative reader that no version names.

use super::decision::{ProducerRule, ReaderCaps};
use super::facts::Rules;
use crate::ids::{PartnerId, UserName};
use crate::stix::timestamp::Timestamp;
use crate::stix::tlp::Tlp;
use crate::stix::type_name::TypeName;

/// Everything of a reader's caps that its class shares.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClassKey {
    /// The lower of the member's and the user's caps.
    pub cap: Tlp,
    /// Only these types (sorted); empty = all.
    pub types: Vec<TypeName>,
    pub redistributes: bool,
    /// The producers whose rules exclude the reader's partner (sorted).
    pub excluded_by: Vec<PartnerId>,
}

/// The partner id of a class's representative: no partner may have it (partner ids are
/// non-empty and printable), so no version is its own, names it or excludes it by name.
const NOBODY: &str = "";

impl ClassKey {
    pub fn of(reader: &ReaderCaps, rules: &Rules) -> ClassKey {
        let mut types = reader.user_types.clone();
        types.sort();
        types.dedup();
        let mut excluded_by: Vec<PartnerId> = rules
            .iter()
            .filter(|(_, r)| r.exclude.contains(&reader.partner))
            .map(|(p, _)| p.clone())
            .collect();
        excluded_by.sort();
        ClassKey {
            cap: reader.member_max_tlp.min(reader.user_max_tlp),
            types,
            redistributes: reader.redistributes,
            excluded_by,
        }
    }

    /// The key as stored: one text per key, equal texts for equal keys.
    pub fn text(&self) -> String {
        format!(
            "cap={};types={};redistributes={};excluded_by={}",
            self.cap.as_str(),
            self.types.join(","),
            self.redistributes,
            self.excluded_by.join(",")
        )
    }

    /// The representative reader: a member since always, named by nothing.
    pub fn representative(&self) -> ReaderCaps {
        ReaderCaps {
            partner: PartnerId::known(NOBODY),
            user: UserName::known(NOBODY),
            user_max_tlp: self.cap,
            user_types: self.types.clone(),
            redistributes: self.redistributes,
            member_max_tlp: self.cap,
            joined_at: Timestamp::MIN,
        }
    }

    /// The producers' rules as the representative meets them: excluded by exactly the
    /// producers that exclude the class's readers.
    pub fn rules(&self, rules: &Rules) -> Rules {
        rules
            .iter()
            .map(|(p, r)| {
                let exclude = if self.excluded_by.contains(p) {
                    vec![PartnerId::known(NOBODY)]
                } else {
                    vec![]
                };
                let rule = ProducerRule {
                    exclude,
                    ..r.clone()
                };
                (p.clone(), rule)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sharing::decision::{decide_version, CommunityPolicy, Unmarked, VersionFacts};
    use std::collections::HashMap;

    fn reader(partner: &str, member: Tlp, user: Tlp) -> ReaderCaps {
        ReaderCaps {
            partner: partner.into(),
            user: format!("{partner}-u").into(),
            user_max_tlp: user,
            user_types: vec!["malware".into(), "indicator".into(), "indicator".into()],
            redistributes: false,
            member_max_tlp: member,
            joined_at: Timestamp::EPOCH,
        }
    }

    fn rules() -> Rules {
        let mut rules = HashMap::new();
        let excluding = ProducerRule {
            exclude: vec!["a".into()],
            ..Default::default()
        };
        rules.insert(PartnerId::from("p"), excluding);
        rules.insert(PartnerId::from("q"), ProducerRule::default());
        rules
    }

    #[test]
    fn readers_with_the_same_effective_caps_share_a_key() {
        let rules = rules();
        let a = ClassKey::of(&reader("a", Tlp::Amber, Tlp::Green), &rules);
        let b = ClassKey::of(&reader("a", Tlp::Green, Tlp::Red), &rules);
        assert_eq!(a, b);
        assert_eq!(a.text(), b.text());
        assert_eq!(
            a.text(),
            "cap=green;types=indicator,malware;redistributes=false;excluded_by=p"
        );
        // Another partner, not excluded by p: another class.
        let c = ClassKey::of(&reader("c", Tlp::Green, Tlp::Green), &rules);
        assert_ne!(a.text(), c.text());
    }

    #[test]
    fn the_representative_decides_like_its_members_on_what_names_neither() {
        let rules = rules();
        let community = CommunityPolicy {
            unmarked: Unmarked::Level(Tlp::Green),
            types: vec![],
            delay: 0,
            backlog: true,
            dangling_allowed: true,
        };
        for (partner, cap) in [("a", Tlp::Green), ("c", Tlp::Amber)] {
            let member = reader(partner, cap, Tlp::Red);
            let key = ClassKey::of(&member, &rules);
            let (rep, rep_rules) = (key.representative(), key.rules(&rules));
            for producer in ["p", "q"] {
                for tlp in Tlp::ALL {
                    for t in ["indicator", "report"] {
                        let v = VersionFacts {
                            producer: Some(producer.into()),
                            stix_type: t.into(),
                            tlp: Some(tlp),
                            recipients: vec![],
                            added_at: Timestamp::from_micros(5),
                            private_copy: false,
                        };
                        let now = Timestamp::from_micros(9);
                        let mine =
                            decide_version(&member, &community, rules.get(producer), &v, now);
                        let class =
                            decide_version(&rep, &community, rep_rules.get(producer), &v, now);
                        assert_eq!(
                            mine.delivered(),
                            class.delivered(),
                            "{partner} {producer} {tlp:?} {t}"
                        );
                    }
                }
            }
        }
    }
}
