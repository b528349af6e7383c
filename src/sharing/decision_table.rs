//! The decision table: one row per rule and edge case of docs/sharing.md, with markings given
//! by their canonical ids, TLP 1.0 and TLP 2.0 alike.

use super::*;

const T1_WHITE: &str = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9";
const T1_GREEN: &str = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da";
const T1_AMBER: &str = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82";
const T1_RED: &str = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed";
const T2_CLEAR: &str = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487";
const T2_GREEN: &str = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb";
const T2_AMBER: &str = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421";
const T2_STRICT: &str = "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003";
const T2_RED: &str = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1";
const STATEMENT: &str = "marking-definition--0a4b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

const H: i64 = 3_600_000_000; // one hour in microseconds
const NOW: Timestamp = Timestamp::from_micros(1_000 * H);

/// One row: a scenario built from the defaults by `setup`, and the expected verdict.
struct Row {
    name: &'static str,
    setup: fn(&mut Scenario),
    expect: Verdict,
}

struct Scenario {
    reader: ReaderCaps,
    community: CommunityPolicy,
    rule: Option<ProducerRule>,
    version: VersionFacts,
    markings: Vec<&'static str>,
    newest: Option<(VersionFacts, Vec<&'static str>)>,
    refs: Vec<String>,
    visible_refs: Vec<String>,
}

fn base() -> Scenario {
    Scenario {
        reader: ReaderCaps {
            partner: "globex".into(),
            user: "globex-soc".into(),
            user_max_tlp: Tlp::Red,
            user_types: vec![],
            redistributes: false,
            member_max_tlp: Tlp::AmberStrict,
            joined_at: Timestamp::EPOCH,
        },
        community: CommunityPolicy {
            unmarked: Unmarked::Level(Tlp::Amber),
            types: vec![],
            delay: 0,
            backlog: true,
            dangling_allowed: false,
        },
        rule: None,
        version: VersionFacts {
            producer: Some("acme".into()),
            stix_type: "indicator".into(),
            tlp: None,
            recipients: vec![],
            added_at: NOW.plus(-H),
            private_copy: false,
        },
        markings: vec![T2_GREEN],
        newest: None,
        refs: vec![],
        visible_refs: vec![],
    }
}

fn run(s: &Scenario) -> Verdict {
    let mut v = s.version.clone();
    v.tlp = marking_tlp(s.markings.iter().copied());
    let newest = s.newest.as_ref().map(|(n, m)| {
        let mut n = n.clone();
        n.tlp = marking_tlp(m.iter().copied());
        n
    });
    let case = Case {
        version: &v,
        newest_released: newest.as_ref(),
        refs: &s.refs,
    };
    decide(
        &s.reader,
        &s.community,
        s.rule.as_ref(),
        case,
        |id| s.visible_refs.iter().any(|r| r == id),
        NOW,
    )
}

use crate::ids::{PartnerId, UserName};
use Reason::*;
use Verdict::{Deliver, Withhold};

fn named(r: &str) -> Recipient {
    Recipient::parse(r).unwrap()
}

fn rows() -> Vec<Row> {
    vec![
        Row {
            name: "green 2.0 to a member",
            setup: |_| {},
            expect: Deliver(Shared),
        },
        Row {
            name: "a private copy is withheld from other partners",
            setup: |s| s.version.private_copy = true,
            expect: Withhold(PrivateCopy),
        },
        Row {
            name: "a private copy goes to the user who posted it",
            setup: |s| {
                s.version.private_copy = true;
                s.version.producer = Some("globex".into());
                s.version.recipients = vec![named("globex/globex-soc")];
            },
            expect: Deliver(OwnContribution),
        },
        Row {
            name: "a private copy is withheld from the other users of its partner",
            setup: |s| {
                s.version.private_copy = true;
                s.version.producer = Some("globex".into());
                s.version.recipients = vec![named("globex/globex-lead")];
            },
            expect: Withhold(PrivateCopy),
        },
        Row {
            name: "green 1.0 to a member",
            setup: |s| s.markings = vec![T1_GREEN],
            expect: Deliver(Shared),
        },
        Row {
            name: "clear 2.0",
            setup: |s| s.markings = vec![T2_CLEAR],
            expect: Deliver(Shared),
        },
        Row {
            name: "white 1.0 is clear",
            setup: |s| s.markings = vec![T1_WHITE],
            expect: Deliver(Shared),
        },
        Row {
            name: "amber 2.0 within default cap",
            setup: |s| s.markings = vec![T2_AMBER],
            expect: Deliver(Shared),
        },
        Row {
            name: "amber 1.0 equals amber 2.0",
            setup: |s| s.markings = vec![T1_AMBER],
            expect: Deliver(Shared),
        },
        Row {
            name: "amber+strict within default member cap",
            setup: |s| s.markings = vec![T2_STRICT],
            expect: Deliver(Shared),
        },
        Row {
            name: "member capped at green gets no amber",
            setup: |s| {
                s.reader.member_max_tlp = Tlp::Green;
                s.markings = vec![T2_AMBER];
            },
            expect: Withhold(AboveCap {
                level: Tlp::Amber,
                cap: Tlp::Green,
            }),
        },
        Row {
            name: "member capped at green gets no amber 1.0",
            setup: |s| {
                s.reader.member_max_tlp = Tlp::Green;
                s.markings = vec![T1_AMBER];
            },
            expect: Withhold(AboveCap {
                level: Tlp::Amber,
                cap: Tlp::Green,
            }),
        },
        Row {
            name: "user cap below member cap wins",
            setup: |s| {
                s.reader.user_max_tlp = Tlp::Clear;
                s.markings = vec![T2_GREEN];
            },
            expect: Withhold(AboveCap {
                level: Tlp::Green,
                cap: Tlp::Clear,
            }),
        },
        Row {
            name: "member cap below user cap wins",
            setup: |s| {
                s.reader.member_max_tlp = Tlp::Clear;
                s.markings = vec![T1_GREEN];
            },
            expect: Withhold(AboveCap {
                level: Tlp::Green,
                cap: Tlp::Clear,
            }),
        },
        Row {
            name: "most restrictive marking counts",
            setup: |s| {
                s.reader.member_max_tlp = Tlp::Green;
                s.markings = vec![T2_CLEAR, T1_AMBER];
            },
            expect: Withhold(AboveCap {
                level: Tlp::Amber,
                cap: Tlp::Green,
            }),
        },
        Row {
            name: "mixed 1.0 and 2.0, highest is strict",
            setup: |s| s.markings = vec![T1_GREEN, T2_STRICT],
            expect: Deliver(Shared),
        },
        Row {
            name: "unmarked uses community level amber",
            setup: |s| {
                s.markings = vec![];
                s.reader.member_max_tlp = Tlp::Green;
            },
            expect: Withhold(AboveCap {
                level: Tlp::Amber,
                cap: Tlp::Green,
            }),
        },
        Row {
            name: "unmarked with community level clear",
            setup: |s| {
                s.markings = vec![];
                s.community.unmarked = Unmarked::Level(Tlp::Clear);
                s.reader.member_max_tlp = Tlp::Clear;
            },
            expect: Deliver(Shared),
        },
        Row {
            name: "statement-only marking counts as unmarked",
            setup: |s| {
                s.markings = vec![STATEMENT];
                s.reader.member_max_tlp = Tlp::Green;
            },
            expect: Withhold(AboveCap {
                level: Tlp::Amber,
                cap: Tlp::Green,
            }),
        },
        Row {
            name: "statement beside green is green",
            setup: |s| s.markings = vec![STATEMENT, T2_GREEN],
            expect: Deliver(Shared),
        },
        Row {
            name: "amber+strict never to a redistributor",
            setup: |s| {
                s.reader.redistributes = true;
                s.markings = vec![T2_STRICT];
            },
            expect: Withhold(Redistributor(Tlp::AmberStrict)),
        },
        Row {
            name: "amber to a redistributor is fine",
            setup: |s| {
                s.reader.redistributes = true;
                s.markings = vec![T2_AMBER];
            },
            expect: Deliver(Shared),
        },
        Row {
            name: "red without being named",
            setup: |s| {
                s.reader.member_max_tlp = Tlp::Red;
                s.markings = vec![T2_RED];
            },
            expect: Withhold(RedNotNamed),
        },
        Row {
            name: "red 2.0 to a named partner",
            setup: |s| {
                s.reader.member_max_tlp = Tlp::Red;
                s.markings = vec![T2_RED];
                s.version.recipients = vec![named("globex")];
            },
            expect: Deliver(Shared),
        },
        Row {
            name: "red 1.0 to a named partner",
            setup: |s| {
                s.reader.member_max_tlp = Tlp::Red;
                s.markings = vec![T1_RED];
                s.version.recipients = vec![named("globex")];
            },
            expect: Deliver(Shared),
        },
        Row {
            name: "red to the named user",
            setup: |s| {
                s.reader.member_max_tlp = Tlp::Red;
                s.markings = vec![T2_RED];
                s.version.recipients = vec![named("globex/globex-soc")];
            },
            expect: Deliver(Shared),
        },
        Row {
            name: "red named for another user of the same partner",
            setup: |s| {
                s.reader.member_max_tlp = Tlp::Red;
                s.markings = vec![T2_RED];
                s.version.recipients = vec![named("globex/globex-lead")];
            },
            expect: Withhold(RedNotNamed),
        },
        Row {
            name: "red named but membership capped at amber+strict",
            setup: |s| {
                s.markings = vec![T2_RED];
                s.version.recipients = vec![named("globex")];
            },
            expect: Withhold(AboveCap {
                level: Tlp::Red,
                cap: Tlp::AmberStrict,
            }),
        },
        Row {
            name: "red named to a redistributor",
            setup: |s| {
                s.reader.member_max_tlp = Tlp::Red;
                s.reader.redistributes = true;
                s.markings = vec![T2_RED];
                s.version.recipients = vec![named("globex")];
            },
            expect: Withhold(Redistributor(Tlp::Red)),
        },
        Row {
            name: "producer sees its own red",
            setup: |s| {
                s.reader.partner = "acme".into();
                s.reader.member_max_tlp = Tlp::Green;
                s.markings = vec![T2_RED];
            },
            expect: Deliver(OwnContribution),
        },
        Row {
            name: "producer's user cap still applies",
            setup: |s| {
                s.reader.partner = "acme".into();
                s.reader.user_max_tlp = Tlp::Green;
                s.markings = vec![T1_AMBER];
            },
            expect: Withhold(AboveCap {
                level: Tlp::Amber,
                cap: Tlp::Green,
            }),
        },
        Row {
            name: "producer's redistributing feed gets no own strict",
            setup: |s| {
                s.reader.partner = "acme".into();
                s.reader.redistributes = true;
                s.markings = vec![T2_STRICT];
            },
            expect: Withhold(Redistributor(Tlp::AmberStrict)),
        },
        Row {
            name: "producer ignores its own delay",
            setup: |s| {
                s.reader.partner = "acme".into();
                s.rule = Some(ProducerRule {
                    delay: 24 * H,
                    ..Default::default()
                });
            },
            expect: Deliver(OwnContribution),
        },
        Row {
            name: "producer ignores its own exclusion list",
            setup: |s| {
                s.reader.partner = "acme".into();
                s.rule = Some(ProducerRule {
                    exclude: vec!["acme".into()],
                    ..Default::default()
                });
            },
            expect: Deliver(OwnContribution),
        },
        Row {
            name: "user types narrow what a user receives",
            setup: |s| s.reader.user_types = vec!["malware".into()],
            expect: Withhold(TypeNotForUser("indicator".into())),
        },
        Row {
            name: "user types apply to own contributions",
            setup: |s| {
                s.reader.partner = "acme".into();
                s.reader.user_types = vec!["malware".into()];
            },
            expect: Withhold(TypeNotForUser("indicator".into())),
        },
        Row {
            name: "user types that include it",
            setup: |s| s.reader.user_types = vec!["indicator".into()],
            expect: Deliver(Shared),
        },
        Row {
            name: "producer rule shares only some types",
            setup: |s| {
                s.rule = Some(ProducerRule {
                    types: vec!["malware".into()],
                    ..Default::default()
                })
            },
            expect: Withhold(TypeNotShared("indicator".into())),
        },
        Row {
            name: "producer rule excludes the reader",
            setup: |s| {
                s.rule = Some(ProducerRule {
                    exclude: vec!["globex".into()],
                    ..Default::default()
                })
            },
            expect: Withhold(Excluded),
        },
        Row {
            name: "producer rule excludes someone else",
            setup: |s| {
                s.rule = Some(ProducerRule {
                    exclude: vec!["initech".into()],
                    ..Default::default()
                })
            },
            expect: Deliver(Shared),
        },
        Row {
            name: "producer delay not over",
            setup: |s| {
                s.rule = Some(ProducerRule {
                    delay: 24 * H,
                    ..Default::default()
                })
            },
            expect: Withhold(Embargoed {
                until: NOW.plus(23 * H),
            }),
        },
        Row {
            name: "producer delay over",
            setup: |s| {
                s.rule = Some(ProducerRule {
                    delay: 24 * H,
                    ..Default::default()
                });
                s.version.added_at = NOW.plus(-(24 * H));
            },
            expect: Deliver(Shared),
        },
        Row {
            name: "community delay not over",
            setup: |s| s.community.delay = 2 * H,
            expect: Withhold(Embargoed { until: NOW.plus(H) }),
        },
        Row {
            name: "the longer of community and producer delay",
            setup: |s| {
                s.community.delay = 2 * H;
                s.rule = Some(ProducerRule {
                    delay: H / 2,
                    ..Default::default()
                });
            },
            expect: Withhold(Embargoed { until: NOW.plus(H) }),
        },
        Row {
            name: "backlog false hides what was added before joining",
            setup: |s| {
                s.community.backlog = false;
                s.reader.joined_at = NOW.plus(-(H / 2));
            },
            expect: Withhold(BeforeMembership),
        },
        Row {
            name: "backlog false delivers what was added after joining",
            setup: |s| {
                s.community.backlog = false;
                s.reader.joined_at = NOW.plus(-(2 * H));
            },
            expect: Deliver(Shared),
        },
        Row {
            name: "backlog false counts time added, not time released",
            setup: |s| {
                s.community.backlog = false;
                s.community.delay = 2 * H;
                s.version.added_at = NOW.plus(-(3 * H));
                s.reader.joined_at = NOW.plus(-(2 * H));
            },
            expect: Withhold(BeforeMembership),
        },
        Row {
            name: "backlog true delivers the past",
            setup: |s| s.reader.joined_at = NOW,
            expect: Deliver(Shared),
        },
        Row {
            name: "escalated newer version withdraws an older green one",
            setup: |s| {
                s.reader.member_max_tlp = Tlp::Green;
                s.newest = Some((s.version.clone(), vec![T2_AMBER]));
            },
            expect: Withhold(Superseded(Box::new(AboveCap {
                level: Tlp::Amber,
                cap: Tlp::Green,
            }))),
        },
        Row {
            name: "escalation to 1.0 red withdraws for the unnamed",
            setup: |s| {
                s.reader.member_max_tlp = Tlp::Red;
                s.newest = Some((s.version.clone(), vec![T1_RED]));
            },
            expect: Withhold(Superseded(Box::new(RedNotNamed))),
        },
        Row {
            name: "newer version within the cap keeps older ones",
            setup: |s| s.newest = Some((s.version.clone(), vec![T1_GREEN])),
            expect: Deliver(Shared),
        },
        Row {
            name: "escalation does not withdraw from the producer",
            setup: |s| {
                s.reader.partner = "acme".into();
                s.reader.member_max_tlp = Tlp::Green;
                s.newest = Some((s.version.clone(), vec![T2_RED]));
            },
            expect: Deliver(OwnContribution),
        },
        Row {
            name: "hidden reference withholds a relationship",
            setup: |s| {
                s.version.stix_type = "relationship".into();
                s.refs = vec!["malware--0a4b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d".into()];
            },
            expect: Withhold(HiddenReference(
                "malware--0a4b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d".into(),
            )),
        },
        Row {
            name: "visible references deliver",
            setup: |s| {
                s.refs = vec!["malware--0a4b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d".into()];
                s.visible_refs = s.refs.clone();
            },
            expect: Deliver(Shared),
        },
        Row {
            name: "dangling_refs allow switches the reference rule off",
            setup: |s| {
                s.community.dangling_allowed = true;
                s.refs = vec!["ipv4-addr--0a4b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d".into()];
            },
            expect: Deliver(Shared),
        },
        Row {
            name: "own contributions ignore hidden references",
            setup: |s| {
                s.reader.partner = "acme".into();
                s.refs = vec!["malware--0a4b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d".into()];
            },
            expect: Deliver(OwnContribution),
        },
        Row {
            name: "built-in TLP definitions go to everyone",
            setup: |s| {
                s.version.producer = None;
                s.reader.member_max_tlp = Tlp::Clear;
                s.community.backlog = false;
                s.reader.joined_at = NOW;
            },
            expect: Deliver(BuiltIn),
        },
        Row {
            name: "exclusion beats a red naming",
            setup: |s| {
                s.reader.member_max_tlp = Tlp::Red;
                s.markings = vec![T2_RED];
                s.version.recipients = vec![named("globex")];
                s.rule = Some(ProducerRule {
                    exclude: vec!["globex".into()],
                    ..Default::default()
                });
            },
            expect: Withhold(Excluded),
        },
        Row {
            name: "red under delay is not yet delivered to the named",
            setup: |s| {
                s.reader.member_max_tlp = Tlp::Red;
                s.markings = vec![T2_RED];
                s.version.recipients = vec![named("globex")];
                s.community.delay = 2 * H;
            },
            expect: Withhold(Embargoed { until: NOW.plus(H) }),
        },
    ]
}

#[test]
fn decision_table() {
    let rows = rows();
    assert!(rows.len() >= 40, "the table has {} rows", rows.len());
    let mut failures = vec![];
    for row in &rows {
        let mut s = base();
        (row.setup)(&mut s);
        let got = run(&s);
        if got != row.expect {
            failures.push(format!(
                "{}: expected {:?}, got {:?}",
                row.name, row.expect, got
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn recipients_parse() {
    assert_eq!(
        Recipient::parse(" acme "),
        Some(Recipient::Partner(PartnerId::known("acme")))
    );
    assert_eq!(
        Recipient::parse("acme/soc-lead"),
        Some(Recipient::User {
            partner: PartnerId::known("acme"),
            user: UserName::known("soc-lead")
        })
    );
    assert_eq!(Recipient::parse("acme/"), None);
    assert_eq!(Recipient::parse(""), None);
}
