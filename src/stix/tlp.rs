//! Traffic Light Protocol marking-definitions.
//!
//! Only a fixed set of TLP marking-definitions may exist: the four TLP 1.0 ones that STIX 2.1
//! §7.2.1.4 defines, and the five of the OASIS TLP 2.0 extension (with that extension's
//! extension-definition). STIX 2.1 forbids creating any other TLP marking-definition, so a posted
//! object that claims a canonical id must be exactly the canonical object, and a TLP-shaped
//! marking-definition with any other id is refused. The canonical objects are embedded here: the
//! server never reads them from outside the repository.

use super::problem::{segment, Problem};
use serde_json::{Map, Value};
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

/// A TLP level. The order is restrictiveness: `Clear < Green < Amber < AmberStrict < Red`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tlp {
    Clear,
    Green,
    Amber,
    AmberStrict,
    Red,
}

impl Tlp {
    pub const ALL: [Tlp; 5] = [
        Tlp::Clear,
        Tlp::Green,
        Tlp::Amber,
        Tlp::AmberStrict,
        Tlp::Red,
    ];

    /// Reads a level name in any case: `clear` (or its TLP 1.0 name `white`), `green`, `amber`,
    /// `amber+strict`, `red`. A `TLP:` prefix is allowed, so marking names parse too.
    pub fn parse(name: &str) -> Option<Tlp> {
        let name = name.trim();
        let name = match name.get(..4) {
            Some(p) if p.eq_ignore_ascii_case("tlp:") => &name[4..],
            _ => name,
        };
        match name.to_ascii_lowercase().as_str() {
            "clear" | "white" => Some(Tlp::Clear),
            "green" => Some(Tlp::Green),
            "amber" => Some(Tlp::Amber),
            "amber+strict" => Some(Tlp::AmberStrict),
            "red" => Some(Tlp::Red),
            _ => None,
        }
    }

    /// The lowercase name, as `parse` reads it and as the TLP 2.0 extension writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Tlp::Clear => "clear",
            Tlp::Green => "green",
            Tlp::Amber => "amber",
            Tlp::AmberStrict => "amber+strict",
            Tlp::Red => "red",
        }
    }

    /// The marking's display name, e.g. `TLP:AMBER+STRICT`.
    pub fn label(self) -> &'static str {
        match self {
            Tlp::Clear => "TLP:CLEAR",
            Tlp::Green => "TLP:GREEN",
            Tlp::Amber => "TLP:AMBER",
            Tlp::AmberStrict => "TLP:AMBER+STRICT",
            Tlp::Red => "TLP:RED",
        }
    }

    /// The id of the TLP 2.0 marking-definition for this level.
    pub fn marking_id(self) -> &'static str {
        match self {
            Tlp::Clear => TLP2_CLEAR_ID,
            Tlp::Green => TLP2_GREEN_ID,
            Tlp::Amber => TLP2_AMBER_ID,
            Tlp::AmberStrict => TLP2_AMBER_STRICT_ID,
            Tlp::Red => TLP2_RED_ID,
        }
    }
}

impl fmt::Display for Tlp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Tlp {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Tlp::parse(s).ok_or_else(|| {
            format!("'{s}' is not a TLP level (clear, white, green, amber, amber+strict, red)")
        })
    }
}

pub const TLP1_WHITE_ID: &str = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9";
pub const TLP1_GREEN_ID: &str = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da";
pub const TLP1_AMBER_ID: &str = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82";
pub const TLP1_RED_ID: &str = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed";
pub const TLP2_CLEAR_ID: &str = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487";
pub const TLP2_GREEN_ID: &str = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb";
pub const TLP2_AMBER_ID: &str = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421";
pub const TLP2_AMBER_STRICT_ID: &str = "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003";
pub const TLP2_RED_ID: &str = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1";
/// The extension-definition the TLP 2.0 marking-definitions use.
pub const TLP2_EXTENSION_DEFINITION_ID: &str =
    "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d";

const TLP1_WHITE: &str = r#"{"type":"marking-definition","spec_version":"2.1","id":"marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9","created":"2017-01-20T00:00:00.000Z","definition_type":"tlp","name":"TLP:WHITE","definition":{"tlp":"white"}}"#;
const TLP1_GREEN: &str = r#"{"type":"marking-definition","spec_version":"2.1","id":"marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da","created":"2017-01-20T00:00:00.000Z","definition_type":"tlp","name":"TLP:GREEN","definition":{"tlp":"green"}}"#;
const TLP1_AMBER: &str = r#"{"type":"marking-definition","spec_version":"2.1","id":"marking-definition--f88d31f6-486f-44da-b317-01333bde0b82","created":"2017-01-20T00:00:00.000Z","definition_type":"tlp","name":"TLP:AMBER","definition":{"tlp":"amber"}}"#;
const TLP1_RED: &str = r#"{"type":"marking-definition","spec_version":"2.1","id":"marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed","created":"2017-01-20T00:00:00.000Z","definition_type":"tlp","name":"TLP:RED","definition":{"tlp":"red"}}"#;
const TLP2_CLEAR: &str = r#"{"type":"marking-definition","spec_version":"2.1","id":"marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487","created":"2022-10-01T00:00:00.000Z","name":"TLP:CLEAR","extensions":{"extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d":{"extension_type":"property-extension","tlp_2_0":"clear"}}}"#;
const TLP2_GREEN: &str = r#"{"type":"marking-definition","spec_version":"2.1","id":"marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb","created":"2022-10-01T00:00:00.000Z","name":"TLP:GREEN","extensions":{"extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d":{"extension_type":"property-extension","tlp_2_0":"green"}}}"#;
const TLP2_AMBER: &str = r#"{"type":"marking-definition","spec_version":"2.1","id":"marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421","created":"2022-10-01T00:00:00.000Z","name":"TLP:AMBER","extensions":{"extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d":{"extension_type":"property-extension","tlp_2_0":"amber"}}}"#;
const TLP2_AMBER_STRICT: &str = r#"{"type":"marking-definition","spec_version":"2.1","id":"marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003","created":"2022-10-01T00:00:00.000Z","name":"TLP:AMBER+STRICT","extensions":{"extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d":{"extension_type":"property-extension","tlp_2_0":"amber+strict"}}}"#;
const TLP2_RED: &str = r#"{"type":"marking-definition","spec_version":"2.1","id":"marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1","created":"2022-10-01T00:00:00.000Z","name":"TLP:RED","extensions":{"extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d":{"extension_type":"property-extension","tlp_2_0":"red"}}}"#;
const TLP2_EXTENSION_DEFINITION: &str = r#"{"id":"extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d","type":"extension-definition","spec_version":"2.1","name":"TLP 2.0","description":"This defines TLP 2.0 as a STIX extension","created":"2022-10-01T00:00:00.000Z","modified":"2022-10-01T00:00:00.000Z","created_by_ref":"identity--b3bca3c2-1f3d-4b54-b44f-dac42c3a8f01","schema":"https://github.com/oasis-open/cti-stix-common-objects/tree/master/extension-definition-specifications/tlp-2.0","version":"1.0.0","extension_types":["property-extension"]}"#;

struct Canonical {
    id: &'static str,
    tlp: Option<Tlp>,
    /// How messages name the object.
    what: &'static str,
    json: &'static str,
}

const CANONICAL: [Canonical; 10] = [
    Canonical {
        id: TLP1_WHITE_ID,
        tlp: Some(Tlp::Clear),
        what: "the canonical TLP 1.0 marking-definition for TLP:WHITE",
        json: TLP1_WHITE,
    },
    Canonical {
        id: TLP1_GREEN_ID,
        tlp: Some(Tlp::Green),
        what: "the canonical TLP 1.0 marking-definition for TLP:GREEN",
        json: TLP1_GREEN,
    },
    Canonical {
        id: TLP1_AMBER_ID,
        tlp: Some(Tlp::Amber),
        what: "the canonical TLP 1.0 marking-definition for TLP:AMBER",
        json: TLP1_AMBER,
    },
    Canonical {
        id: TLP1_RED_ID,
        tlp: Some(Tlp::Red),
        what: "the canonical TLP 1.0 marking-definition for TLP:RED",
        json: TLP1_RED,
    },
    Canonical {
        id: TLP2_CLEAR_ID,
        tlp: Some(Tlp::Clear),
        what: "the canonical TLP 2.0 marking-definition for TLP:CLEAR",
        json: TLP2_CLEAR,
    },
    Canonical {
        id: TLP2_GREEN_ID,
        tlp: Some(Tlp::Green),
        what: "the canonical TLP 2.0 marking-definition for TLP:GREEN",
        json: TLP2_GREEN,
    },
    Canonical {
        id: TLP2_AMBER_ID,
        tlp: Some(Tlp::Amber),
        what: "the canonical TLP 2.0 marking-definition for TLP:AMBER",
        json: TLP2_AMBER,
    },
    Canonical {
        id: TLP2_AMBER_STRICT_ID,
        tlp: Some(Tlp::AmberStrict),
        what: "the canonical TLP 2.0 marking-definition for TLP:AMBER+STRICT",
        json: TLP2_AMBER_STRICT,
    },
    Canonical {
        id: TLP2_RED_ID,
        tlp: Some(Tlp::Red),
        what: "the canonical TLP 2.0 marking-definition for TLP:RED",
        json: TLP2_RED,
    },
    Canonical {
        id: TLP2_EXTENSION_DEFINITION_ID,
        tlp: None,
        what: "the canonical TLP 2.0 extension-definition",
        json: TLP2_EXTENSION_DEFINITION,
    },
];

/// The canonical objects as JSON values, parsed once (same order as `CANONICAL`).
fn parsed() -> &'static [Map<String, Value>] {
    static PARSED: OnceLock<Vec<Map<String, Value>>> = OnceLock::new();
    PARSED.get_or_init(|| {
        CANONICAL
            .iter()
            .map(|c| match serde_json::from_str(c.json) {
                Ok(Value::Object(m)) => m,
                _ => unreachable!("embedded canonical TLP object {} is a JSON object", c.id),
            })
            .collect()
    })
}

/// The TLP level of a canonical TLP marking-definition id (1.0 WHITE is `Clear`, 1.0 AMBER is
/// `Amber`); `None` for any other id.
pub fn tlp_of_marking_id(id: &str) -> Option<Tlp> {
    CANONICAL.iter().find(|c| c.id == id).and_then(|c| c.tlp)
}

/// The canonical id that `id` spells with other letter case, if it does. Such a spelling names
/// the same UUID (RFC 4122 reads hex digits in either case), yet consumers that match marking
/// ids exactly would take it for an unknown marking and the object for unmarked.
pub fn miscased_canonical_id(id: &str) -> Option<&'static str> {
    CANONICAL
        .iter()
        .find(|c| c.id != id && c.id.eq_ignore_ascii_case(id))
        .map(|c| c.id)
}

/// Whether `id` is one of the ten canonical objects (nine marking-definitions and the TLP 2.0
/// extension-definition).
pub fn is_canonical_id(id: &str) -> bool {
    CANONICAL.iter().any(|c| c.id == id)
}

/// What every collection serves so that references resolve: the five TLP 2.0
/// marking-definitions (CLEAR, GREEN, AMBER, AMBER+STRICT, RED) and the TLP 2.0
/// extension-definition, as JSON text.
pub fn canonical_objects() -> [&'static str; 6] {
    [
        TLP2_CLEAR,
        TLP2_GREEN,
        TLP2_AMBER,
        TLP2_AMBER_STRICT,
        TLP2_RED,
        TLP2_EXTENSION_DEFINITION,
    ]
}

/// The JSON text of the canonical object with this id (any of the ten).
pub fn canonical_object(id: &str) -> Option<&'static str> {
    CANONICAL.iter().find(|c| c.id == id).map(|c| c.json)
}

/// An object that claims a canonical id (a TLP marking-definition or the TLP 2.0
/// extension-definition) must equal the canonical object as a JSON value. Reports every
/// difference, at the deepest pointer that differs; nothing for other ids.
pub fn check_canonical(obj: &Map<String, Value>) -> Vec<Problem> {
    let Some(id) = obj.get("id").and_then(Value::as_str) else {
        return vec![];
    };
    let Some(i) = CANONICAL.iter().position(|c| c.id == id) else {
        return vec![];
    };
    let mut problems = vec![];
    diff_object("", &parsed()[i], obj, CANONICAL[i].what, &mut problems);
    problems
}

fn diff_object(
    pointer: &str,
    expected: &Map<String, Value>,
    found: &Map<String, Value>,
    what: &str,
    problems: &mut Vec<Problem>,
) {
    for (key, want) in expected {
        let p = format!("{pointer}/{}", segment(key));
        match (want, found.get(key)) {
            (_, None) => problems.push(Problem::new(
                p,
                format!("missing: must be {want} as in {what}"),
            )),
            (Value::Object(w), Some(Value::Object(f))) => diff_object(&p, w, f, what, problems),
            (_, Some(got)) if got != want => problems.push(Problem::new(
                p,
                format!("must be {want} as in {what} (found {got})"),
            )),
            _ => {}
        }
    }
    for key in found.keys().filter(|k| !expected.contains_key(*k)) {
        problems.push(Problem::new(
            format!("{pointer}/{}", segment(key)),
            format!("must not be present: {what} has no such property"),
        ));
    }
}

/// Why a marking-definition looks like a TLP marking, if it does.
fn tlp_shape(obj: &Map<String, Value>) -> Option<String> {
    if let Some(Value::String(t)) = obj.get("definition_type") {
        if t.eq_ignore_ascii_case("tlp") {
            return Some(format!("definition_type \"{t}\""));
        }
    }
    if let Some(Value::Object(d)) = obj.get("definition") {
        if d.contains_key("tlp") {
            return Some("a definition with a tlp property".into());
        }
    }
    if let Some(Value::Object(e)) = obj.get("extensions") {
        if e.contains_key(TLP2_EXTENSION_DEFINITION_ID) {
            return Some(format!(
                "the TLP 2.0 extension {TLP2_EXTENSION_DEFINITION_ID}"
            ));
        }
    }
    if let Some(Value::String(n)) = obj.get("name") {
        if n.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("tlp:")) {
            return Some(format!("the name \"{n}\""));
        }
    }
    None
}

/// The level a TLP-shaped marking-definition claims, if it names one.
fn claimed_level(obj: &Map<String, Value>) -> Option<Tlp> {
    let from_extension = obj
        .get("extensions")
        .and_then(|e| e.get(TLP2_EXTENSION_DEFINITION_ID))
        .and_then(|e| e.get("tlp_2_0"))
        .and_then(Value::as_str);
    let from_definition = obj
        .get("definition")
        .and_then(|d| d.get("tlp"))
        .and_then(Value::as_str);
    let from_name = obj.get("name").and_then(Value::as_str);
    [from_extension, from_definition, from_name]
        .into_iter()
        .flatten()
        .find_map(Tlp::parse)
}

/// The TLP rules for a posted marking-definition: one that claims a canonical TLP id must be the
/// canonical object; a TLP-shaped one (definition_type "tlp", a definition with a `tlp`
/// property, the TLP 2.0 extension, or a name starting with "TLP:") with any other id is refused,
/// because STIX 2.1 §7.2.1.4 permits no TLP marking-definitions but the canonical ones.
pub fn check_marking_definition(obj: &Map<String, Value>) -> Vec<Problem> {
    let id = obj.get("id").and_then(Value::as_str).unwrap_or("");
    if is_canonical_id(id) {
        return check_canonical(obj);
    }
    if let Some(canonical) = miscased_canonical_id(id) {
        return vec![Problem::new(
            "/id",
            format!(
                "'{id}' is the canonical TLP id {canonical} in other letter case: only the \
                 canonical objects may use it, spelled exactly so"
            ),
        )];
    }
    let Some(shape) = tlp_shape(obj) else {
        return vec![];
    };
    let advice = match claimed_level(obj) {
        Some(t) => format!(
            "reference the canonical {} marking-definition {} instead",
            t.label(),
            t.marking_id()
        ),
        None => format!(
            "reference one of the canonical TLP marking-definitions instead (e.g. TLP:GREEN is {TLP2_GREEN_ID})"
        ),
    };
    vec![Problem::new(
        "/id",
        format!(
            "'{id}' is not a canonical TLP marking-definition, yet this marking-definition has {shape}; \
             STIX 2.1 permits no TLP marking-definitions but the canonical ones: {advice}"
        ),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(json: &str) -> Map<String, Value> {
        match serde_json::from_str(json).unwrap() {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    fn shown(problems: &[Problem]) -> Vec<String> {
        problems.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn parse_accepts_every_name_and_its_tlp1_alias() {
        assert_eq!(Tlp::parse("clear"), Some(Tlp::Clear));
        assert_eq!(Tlp::parse("white"), Some(Tlp::Clear));
        assert_eq!(Tlp::parse("GREEN"), Some(Tlp::Green));
        assert_eq!(Tlp::parse("Amber"), Some(Tlp::Amber));
        assert_eq!(Tlp::parse("amber+strict"), Some(Tlp::AmberStrict));
        assert_eq!(Tlp::parse("red"), Some(Tlp::Red));
        assert_eq!(Tlp::parse("TLP:AMBER+STRICT"), Some(Tlp::AmberStrict));
        assert_eq!(Tlp::parse("tlp:white"), Some(Tlp::Clear));
        assert_eq!(Tlp::parse("amber strict"), None);
        assert_eq!(Tlp::parse("purple"), None);
        assert_eq!(Tlp::parse(""), None);
        assert_eq!("red".parse::<Tlp>(), Ok(Tlp::Red));
        assert!("pink".parse::<Tlp>().is_err());
    }

    #[test]
    fn levels_are_ordered_by_restrictiveness() {
        assert!(Tlp::Clear < Tlp::Green);
        assert!(Tlp::Green < Tlp::Amber);
        assert!(Tlp::Amber < Tlp::AmberStrict);
        assert!(Tlp::AmberStrict < Tlp::Red);
        assert_eq!(Tlp::ALL.iter().max(), Some(&Tlp::Red));
        let mut shuffled = [
            Tlp::Red,
            Tlp::Clear,
            Tlp::AmberStrict,
            Tlp::Green,
            Tlp::Amber,
        ];
        shuffled.sort();
        assert_eq!(shuffled, Tlp::ALL);
    }

    #[test]
    fn names_round_trip() {
        for t in Tlp::ALL {
            assert_eq!(Tlp::parse(t.as_str()), Some(t));
            assert_eq!(Tlp::parse(t.label()), Some(t));
            assert_eq!(t.to_string(), t.as_str());
            assert_eq!(tlp_of_marking_id(t.marking_id()), Some(t));
        }
        assert_eq!(Tlp::AmberStrict.as_str(), "amber+strict");
    }

    #[test]
    fn tlp_of_marking_id_knows_all_nine_ids() {
        let expected = [
            (TLP1_WHITE_ID, Tlp::Clear),
            (TLP1_GREEN_ID, Tlp::Green),
            (TLP1_AMBER_ID, Tlp::Amber),
            (TLP1_RED_ID, Tlp::Red),
            (TLP2_CLEAR_ID, Tlp::Clear),
            (TLP2_GREEN_ID, Tlp::Green),
            (TLP2_AMBER_ID, Tlp::Amber),
            (TLP2_AMBER_STRICT_ID, Tlp::AmberStrict),
            (TLP2_RED_ID, Tlp::Red),
        ];
        for (id, tlp) in expected {
            assert_eq!(tlp_of_marking_id(id), Some(tlp), "{id}");
        }
        assert_eq!(tlp_of_marking_id(TLP2_EXTENSION_DEFINITION_ID), None);
        assert_eq!(
            tlp_of_marking_id("marking-definition--6f3e8f40-2d8e-4b5c-9a4f-0e1c2d3b4a59"),
            None
        );
        assert_eq!(tlp_of_marking_id(""), None);
    }

    #[test]
    fn embedded_objects_carry_the_ids_they_are_filed_under() {
        for (c, m) in CANONICAL.iter().zip(parsed()) {
            assert_eq!(m.get("id").and_then(Value::as_str), Some(c.id));
        }
        for (i, t) in (4..9).zip(Tlp::ALL) {
            let m = &parsed()[i];
            assert_eq!(CANONICAL[i].tlp, Some(t));
            assert_eq!(m["name"], t.label());
            assert_eq!(
                m["extensions"][TLP2_EXTENSION_DEFINITION_ID]["tlp_2_0"],
                t.as_str()
            );
        }
    }

    #[test]
    fn every_canonical_object_passes() {
        for c in &CANONICAL {
            let o = obj(c.json);
            assert_eq!(shown(&check_marking_definition(&o)), Vec::<String>::new());
            assert_eq!(shown(&check_canonical(&o)), Vec::<String>::new());
        }
    }

    #[test]
    fn canonical_objects_serves_the_tlp2_markings_and_extension_definition() {
        let served = canonical_objects();
        let ids: Vec<String> = served
            .iter()
            .map(|j| obj(j)["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            ids,
            [
                TLP2_CLEAR_ID,
                TLP2_GREEN_ID,
                TLP2_AMBER_ID,
                TLP2_AMBER_STRICT_ID,
                TLP2_RED_ID,
                TLP2_EXTENSION_DEFINITION_ID
            ]
        );
        assert_eq!(canonical_object(TLP1_AMBER_ID), Some(TLP1_AMBER));
        assert_eq!(
            canonical_object("identity--b3bca3c2-1f3d-4b54-b44f-dac42c3a8f01"),
            None
        );
    }

    /// The embedded copies are byte for byte the objects OASIS publishes (STIX 2.1 section
    /// 7.2.1.4 and the TLP 2.0 extension); their digests were taken after comparing them with
    /// the published files, so that an accidental edit of one fails here.
    #[test]
    fn embedded_copies_keep_the_published_bytes() {
        use sha2::{Digest, Sha256};
        let pinned = [
            (
                TLP1_WHITE,
                "6e9b541b7788325d22cebbccbbb8e4b6b39d929c5666dfb031042ce48dd38a96",
            ),
            (
                TLP1_GREEN,
                "595de1c1b4d40219c3bc748ee62e3821c3e3442bdc467ae97cc8edaa2bd3fc3f",
            ),
            (
                TLP1_AMBER,
                "334d03869fa0776c55305fe26f3b9bad75cc4ba6d055cad504d75e55bed3498e",
            ),
            (
                TLP1_RED,
                "7269830cb345997a7dbb565027d36de76a271d52ee92a9a23c236996e15bbc64",
            ),
            (
                TLP2_CLEAR,
                "6701abe2ffaf05ab1ac35f1bde9dd93b9b5a84d1a8347667d2674744a2994267",
            ),
            (
                TLP2_GREEN,
                "869bf2a33e1793438d7097817d252e7c8681c58eab91d7f22ee1e56855d8ccc0",
            ),
            (
                TLP2_AMBER,
                "5bf3ff1db6d4758670ac7ef75297981c128e502a309a148b23ed19a5d2fd8902",
            ),
            (
                TLP2_AMBER_STRICT,
                "a54ddf9d7272148853add39da7efe28bfe8c17951e786093d929da10a6789175",
            ),
            (
                TLP2_RED,
                "6760194b477e2cebc6f7e8477fcfa412c82868fce88b9ea6496a210fed00c3cd",
            ),
            (
                TLP2_EXTENSION_DEFINITION,
                "5c1005573238ed6665e285351a178c464d84705dac808502b99a52b0f39ce89d",
            ),
        ];
        for (embedded, digest) in pinned {
            let got: String = Sha256::digest(embedded.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(got, digest, "{embedded}");
        }
    }

    #[test]
    fn altered_canonical_name_is_refused() {
        let mut o = obj(TLP2_GREEN);
        o.insert("name".into(), Value::String("TLP:GREEN!".into()));
        assert_eq!(
            shown(&check_marking_definition(&o)),
            ["/name: must be \"TLP:GREEN\" as in the canonical TLP 2.0 marking-definition for TLP:GREEN (found \"TLP:GREEN!\")"]
        );
    }

    #[test]
    fn altered_canonical_level_names_the_nested_pointer() {
        let o = obj(&TLP2_GREEN.replace("\"tlp_2_0\":\"green\"", "\"tlp_2_0\":\"clear\""));
        assert_eq!(
            shown(&check_marking_definition(&o)),
            ["/extensions/extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d/tlp_2_0: must be \"green\" as in the canonical TLP 2.0 marking-definition for TLP:GREEN (found \"clear\")"]
        );
    }

    #[test]
    fn canonical_with_a_missing_or_extra_property_is_refused() {
        let mut o = obj(TLP1_WHITE);
        o.remove("created");
        o.insert("x_acme_note".into(), Value::String("hi".into()));
        let mut got = shown(&check_marking_definition(&o));
        got.sort();
        assert_eq!(
            got,
            [
                "/created: missing: must be \"2017-01-20T00:00:00.000Z\" as in the canonical TLP 1.0 marking-definition for TLP:WHITE",
                "/x_acme_note: must not be present: the canonical TLP 1.0 marking-definition for TLP:WHITE has no such property",
            ]
        );
    }

    #[test]
    fn altered_extension_definition_is_refused() {
        let o = obj(&TLP2_EXTENSION_DEFINITION.replace("\"1.0.0\"", "\"1.0.1\""));
        assert_eq!(
            shown(&check_canonical(&o)),
            ["/version: must be \"1.0.0\" as in the canonical TLP 2.0 extension-definition (found \"1.0.1\")"]
        );
    }

    #[test]
    fn tlp1_shaped_copy_with_a_fresh_id_is_refused() {
        let o = obj(&TLP1_AMBER.replace(
            TLP1_AMBER_ID,
            "marking-definition--6f3e8f40-2d8e-4b5c-9a4f-0e1c2d3b4a59",
        ));
        assert_eq!(
            shown(&check_marking_definition(&o)),
            ["/id: 'marking-definition--6f3e8f40-2d8e-4b5c-9a4f-0e1c2d3b4a59' is not a canonical TLP marking-definition, yet this marking-definition has definition_type \"tlp\"; STIX 2.1 permits no TLP marking-definitions but the canonical ones: reference the canonical TLP:AMBER marking-definition marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421 instead"]
        );
    }

    #[test]
    fn tlp2_shaped_copy_with_a_fresh_id_is_refused() {
        let o = obj(&TLP2_AMBER_STRICT.replace(
            TLP2_AMBER_STRICT_ID,
            "marking-definition--6f3e8f40-2d8e-4b5c-9a4f-0e1c2d3b4a59",
        ));
        let got = shown(&check_marking_definition(&o));
        assert_eq!(got.len(), 1);
        assert!(got[0].starts_with("/id: 'marking-definition--6f3e8f40-2d8e-4b5c-9a4f-0e1c2d3b4a59' is not a canonical TLP marking-definition, yet this marking-definition has the TLP 2.0 extension extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d;"), "{got:?}");
        assert!(got[0].ends_with(
            "reference the canonical TLP:AMBER+STRICT marking-definition marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003 instead"
        ));
    }

    #[test]
    fn tlp_named_or_defined_markings_are_tlp_shaped() {
        let named = obj(
            r#"{"type":"marking-definition","spec_version":"2.1","id":"marking-definition--6f3e8f40-2d8e-4b5c-9a4f-0e1c2d3b4a59","created":"2024-01-01T00:00:00.000Z","name":"tlp:red","definition_type":"statement","definition":{"statement":"Do not share"}}"#,
        );
        let got = shown(&check_marking_definition(&named));
        assert_eq!(got.len(), 1);
        assert!(got[0].contains("has the name \"tlp:red\""), "{got:?}");
        assert!(got[0].contains(TLP2_RED_ID), "{got:?}");

        let defined = obj(
            r#"{"type":"marking-definition","id":"marking-definition--6f3e8f40-2d8e-4b5c-9a4f-0e1c2d3b4a59","definition":{"tlp":"chartreuse"}}"#,
        );
        let got = shown(&check_marking_definition(&defined));
        assert_eq!(got.len(), 1);
        assert!(
            got[0].contains("has a definition with a tlp property"),
            "{got:?}"
        );
        assert!(got[0].ends_with(&format!(
            "reference one of the canonical TLP marking-definitions instead (e.g. TLP:GREEN is {TLP2_GREEN_ID})"
        )));
    }

    #[test]
    fn other_marking_definitions_are_not_tlp_business() {
        let statement = obj(
            r#"{"type":"marking-definition","spec_version":"2.1","id":"marking-definition--6f3e8f40-2d8e-4b5c-9a4f-0e1c2d3b4a59","created":"2024-01-01T00:00:00.000Z","name":"Copyright ACME","definition_type":"statement","definition":{"statement":"Copyright 2024 ACME"}}"#,
        );
        assert!(check_marking_definition(&statement).is_empty());
        assert!(check_canonical(&statement).is_empty());
    }

    #[test]
    fn a_canonical_id_in_other_letter_case_is_no_one_elses() {
        let upper = TLP2_RED_ID
            .to_ascii_uppercase()
            .replace("MARKING-DEFINITION", "marking-definition");
        assert_eq!(miscased_canonical_id(&upper), Some(TLP2_RED_ID));
        assert_eq!(miscased_canonical_id(TLP2_RED_ID), None);
        let statement = obj(&format!(
            r#"{{"type":"marking-definition","spec_version":"2.1","id":"{upper}","created":"2024-01-01T00:00:00.000Z","name":"Ours","definition_type":"statement","definition":{{"statement":"ours"}}}}"#
        ));
        assert_eq!(
            shown(&check_marking_definition(&statement)),
            [format!(
                "/id: '{upper}' is the canonical TLP id {TLP2_RED_ID} in other letter case: only \
                 the canonical objects may use it, spelled exactly so"
            )]
        );
    }
}
