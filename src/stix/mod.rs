//! The STIX layer: reads posted objects without re-serialising them (the accepted bytes are what
//! is stored and served) and checks what every stored version needs.

pub mod identifier;
pub mod pattern;
pub mod problem;
pub mod refs;
pub mod regex;
pub mod rules;
pub mod schema;
pub mod sco_id;
mod strict;
pub mod timestamp;
pub mod tlp;
pub mod type_name;

use problem::Problem;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

/// What a POST body held: a TAXII envelope or a STIX bundle, objects kept as raw bytes.
#[derive(Debug)]
pub struct Upload<'a> {
    pub objects: Vec<&'a RawValue>,
}

/// The most objects one envelope or bundle may carry: each costs a status entry and memory
/// while it is checked, so the count is bounded whatever the body size allows.
pub const MAX_OBJECTS: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadError {
    #[error("the body is not valid JSON: {0}")]
    NotJson(String),
    #[error("{0}")]
    Shape(String),
    #[error("{0}")]
    TooMany(String),
}

#[derive(Deserialize)]
struct Top<'a> {
    #[serde(default, rename = "type")]
    kind: Option<&'a RawValue>,
    #[serde(default, borrow)]
    objects: Option<&'a RawValue>,
}

/// Splits a body into its objects. `{"objects": [...]}` is an envelope; `{"type": "bundle", ...}`
/// a bundle (whose `objects` may be absent).
pub fn parse_upload(body: &str) -> Result<Upload<'_>, UploadError> {
    // Syntax first, so that "not JSON" and "JSON of the wrong shape" get different answers.
    let value: &RawValue =
        serde_json::from_str(body).map_err(|e| UploadError::NotJson(e.to_string()))?;
    let top: Top<'_> = serde_json::from_str(value.get()).map_err(|_| {
        UploadError::Shape(
            "expected a JSON object: a TAXII envelope {\"objects\": [...]} or a STIX bundle".into(),
        )
    })?;
    let is_bundle = match top.kind {
        None => false,
        Some(k) => match serde_json::from_str::<&str>(k.get()) {
            Ok("bundle") => true,
            _ => {
                return Err(UploadError::Shape(
                    "the body has a \"type\" other than \"bundle\": post a TAXII envelope {\"objects\": [...]} or a STIX bundle".into(),
                ))
            }
        },
    };
    let objects = match top.objects {
        Some(raw) if raw.get().starts_with('[') => {
            let mut de = serde_json::Deserializer::from_str(raw.get());
            // The syntax was checked above: the one error left is the limit.
            serde::Deserializer::deserialize_seq(&mut de, Items).map_err(|_| {
                UploadError::TooMany(format!(
                    "at most {MAX_OBJECTS} objects in one envelope or bundle: split it into several POSTs"
                ))
            })?
        }
        Some(_) => return Err(UploadError::Shape("\"objects\" must be an array".into())),
        None if is_bundle => vec![],
        None => {
            return Err(UploadError::Shape(
                "no \"objects\" array: post a TAXII envelope {\"objects\": [...]} or a STIX bundle"
                    .into(),
            ))
        }
    };
    Ok(Upload { objects })
}

/// Reads the `objects` array item by item, stopping at the limit rather than after it.
struct Items;

impl<'de> serde::de::Visitor<'de> for Items {
    type Value = Vec<&'de RawValue>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("\"objects\" must be an array")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element::<&RawValue>()? {
            if out.len() == MAX_OBJECTS {
                return Err(serde::de::Error::custom("too many objects"));
            }
            out.push(item);
        }
        Ok(out)
    }
}

/// Validates posted objects against STIX 2.1: our JSON Schemas, the rules a schema cannot
/// express, and the patterning grammar. Built once at start (schemas compiled then), shared by
/// every request and by `cairn validate`.
#[derive(Debug)]
pub struct Validator {
    schemas: schema::Schemas,
}

impl Validator {
    /// Compiles every schema; a broken one stops the server at start.
    pub fn new() -> Result<Validator, schema::SchemaError> {
        Ok(Validator {
            schemas: schema::Schemas::load()?,
        })
    }

    /// Every problem of one object, in pointer order, each once.
    pub fn problems(&self, value: &Value) -> Vec<Problem> {
        let Value::Object(obj) = value else {
            return vec![Problem::new("", "must be a JSON object")];
        };
        let mut problems = self.schemas.check(value);
        problems.extend(rules::check(obj));
        problems.extend(sco_id::problem(obj));
        if obj.get("pattern_type").and_then(Value::as_str) == Some("stix") {
            if let Some(p) = obj
                .get("pattern")
                .and_then(Value::as_str)
                .and_then(|p| pattern::check(p, "/pattern"))
            {
                problems.push(p);
            }
        }
        problems.sort_by(|a, b| a.pointer.cmp(&b.pointer));
        let mut seen = std::collections::HashSet::new();
        problems.retain(|p| seen.insert((p.pointer.clone(), p.message.clone())));
        problems
    }

    /// Checks one object: Ok with what storage needs, or every problem found.
    pub fn check(&self, raw: &str, index: usize) -> Result<Checked, Refusal> {
        let value = strict::parse(raw).map_err(|e| Refusal {
            id: strict::id_of(raw).unwrap_or_else(|| format!("objects[{index}]")),
            version: String::new(),
            problems: vec![e],
        })?;
        let text = |k: &str| value.get(k).and_then(Value::as_str).map(str::to_owned);
        let stamp = text("modified").or_else(|| text("created"));
        let problems = self.problems(&value);
        if !problems.is_empty() {
            // The id as given (even malformed) tells the moderator which object it was.
            let id = text("id").unwrap_or_else(|| format!("objects[{index}]"));
            return Err(Refusal {
                id,
                version: stamp.unwrap_or_default(),
                problems: problems.iter().map(Problem::to_string).collect(),
            });
        }
        // Valid: the schema guarantees id, type and well-formed timestamps.
        let version = match stamp {
            Some(t) => Some((
                timestamp::Timestamp::parse_stix(&t).ok_or_else(|| Refusal {
                    id: text("id").unwrap_or_default(),
                    version: t.clone(),
                    problems: vec![format!("/modified: '{t}' is not a STIX timestamp")],
                })?,
                t,
            )),
            None => None,
        };
        Ok(Checked {
            id: identifier::StixId::known(text("id").unwrap_or_default()),
            stix_type: type_name::TypeName::known(text("type").unwrap_or_default()),
            version,
            spec_version: text("spec_version").unwrap_or_else(|| "2.1".into()),
            markings: refs::marking_ids(&value)
                .into_iter()
                .map(str::to_owned)
                .collect(),
            refs: refs::content_refs(&value),
            created_by: text("created_by_ref"),
        })
    }
}

/// An object that passed the checks, with what storage needs.
#[derive(Debug, Clone)]
pub struct Checked {
    pub id: identifier::StixId,
    pub stix_type: type_name::TypeName,
    /// `modified`, else `created`, with its text as posted; `None` for most SCOs.
    pub version: Option<(timestamp::Timestamp, String)>,
    pub spec_version: String,
    /// Marking-definition ids applied to it (object and granular markings).
    pub markings: Vec<String>,
    /// Ids it references that take part in the reference rule.
    pub refs: Vec<String>,
    /// Its top-level `created_by_ref`: who it says created it.
    pub created_by: Option<String>,
}

/// A refused object: its id (or a placeholder naming its position) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub id: String,
    pub version: String,
    pub problems: Vec<String>,
}

/// Problems spelled out in one refusal's message; the rest are counted, so that an object
/// with thousands of bad properties does not make a message thousands of lines long.
const MAX_PROBLEMS_LISTED: usize = 20;

impl Refusal {
    pub fn message(&self) -> String {
        let listed = self.problems.len().min(MAX_PROBLEMS_LISTED);
        let mut m = self.problems[..listed].join("; ");
        if self.problems.len() > listed {
            m.push_str(&format!(
                "; and {} more problems",
                self.problems.len() - listed
            ));
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn envelope_and_bundle() {
        assert_eq!(
            parse_upload(r#"{"objects":[{"a":1},{"b":2}]}"#)
                .unwrap()
                .objects
                .len(),
            2
        );
        let b = r#"{"type":"bundle","id":"bundle--6f3e8f40-2d8e-4b5c-9a4f-0e1c2d3b4a59","objects":[{"x":1}]}"#;
        assert_eq!(parse_upload(b).unwrap().objects[0].get(), r#"{"x":1}"#);
        assert!(matches!(parse_upload("nope"), Err(UploadError::NotJson(_))));
        assert!(matches!(parse_upload("[1]"), Err(UploadError::Shape(_))));
        assert!(matches!(
            parse_upload(r#"{"type":"indicator"}"#),
            Err(UploadError::Shape(_))
        ));
        assert!(matches!(
            parse_upload(r#"{"foo":1}"#),
            Err(UploadError::Shape(_))
        ));
    }

    #[test]
    fn validator_extracts_versions_and_reports_every_problem() {
        let v = Validator::new().unwrap();
        let ok = raw(
            r#"{"type":"indicator","spec_version":"2.1","id":"indicator--6f3e8f40-2d8e-4b5c-9a4f-0e1c2d3b4a59","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-02T00:00:00.000Z","pattern":"[ipv4-addr:value = '198.51.100.1']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"}"#,
        );
        let c = v.check(ok.get(), 0).unwrap();
        assert_eq!(c.version.unwrap().1, "2026-01-02T00:00:00.000Z");
        let sco = raw(
            r#"{"type":"ipv4-addr","id":"ipv4-addr--6f3e8f40-2d8e-4b5c-9a4f-0e1c2d3b4a59","value":"198.51.100.1"}"#,
        );
        assert!(v.check(sco.get(), 0).unwrap().version.is_none());
        let bad = raw(
            r#"{"type":"indicator","spec_version":"2.1","id":"indicator--6f3e8f40-2d8e-4b5c-9a4f-0e1c2d3b4a59","created":"2026-01-02T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern":"[ipv4-addr:value = ","pattern_type":"stix","valid_from":"2026-01-02T00:00:00Z","valid_until":"2026-01-01T00:00:00Z"}"#,
        );
        let r = v.check(bad.get(), 3).unwrap_err();
        let pointers: Vec<&str> = r
            .problems
            .iter()
            .map(|p| p.split(':').next().unwrap())
            .collect();
        assert_eq!(
            pointers,
            vec!["/modified", "/pattern", "/valid_until"],
            "{:?}",
            r.problems
        );
        assert!(
            r.problems.contains(
                &"/valid_until: must be later than valid_from (2026-01-02T00:00:00Z)".to_string()
            ),
            "{:?}",
            r.problems
        );
    }
}
