//! The STIX layer: reads posted objects without re-serialising them (the accepted bytes are what
//! is stored and served) and checks what every stored version needs.

pub mod pattern;
pub mod problem;
pub mod refs;
pub mod rules;
pub mod tlp;

use crate::taxii::query::is_stix_id;
use crate::taxii::timestamp::parse_stix;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

/// The 18 STIX Cyber-observable types of STIX 2.1 section 6; they carry no created/modified.
pub const SCO_TYPES: [&str; 18] = [
    "artifact",
    "autonomous-system",
    "directory",
    "domain-name",
    "email-addr",
    "email-message",
    "file",
    "ipv4-addr",
    "ipv6-addr",
    "mac-addr",
    "mutex",
    "network-traffic",
    "process",
    "software",
    "url",
    "user-account",
    "windows-registry-key",
    "x509-certificate",
];

/// What a POST body held: a TAXII envelope or a STIX bundle, objects kept as raw bytes.
#[derive(Debug)]
pub struct Upload<'a> {
    pub objects: Vec<&'a RawValue>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadError {
    #[error("the body is not valid JSON: {0}")]
    NotJson(String),
    #[error("{0}")]
    Shape(String),
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
    let objects: Vec<&RawValue> =
        match top.objects {
            Some(raw) => serde_json::from_str(raw.get())
                .map_err(|_| UploadError::Shape("\"objects\" must be an array".into()))?,
            None if is_bundle => vec![],
            None => return Err(UploadError::Shape(
                "no \"objects\" array: post a TAXII envelope {\"objects\": [...]} or a STIX bundle"
                    .into(),
            )),
        };
    Ok(Upload { objects })
}

/// Validates posted objects. Built once at start (schemas compiled then), shared by every request
/// and by `cairn validate`.
#[derive(Debug, Default)]
pub struct Validator {}

impl Validator {
    pub fn new() -> Result<Validator, String> {
        Ok(Validator {})
    }

    /// Checks one object: Ok with what storage needs, or every problem found.
    pub fn check(&self, raw: &RawValue, index: usize) -> Result<Checked, Refusal> {
        check_object(raw, index)
    }
}

/// An object that passed the checks, with what storage needs.
#[derive(Debug, Clone)]
pub struct Checked {
    pub id: String,
    pub stix_type: String,
    pub version: Option<(i64, String)>,
    pub spec_version: String,
    /// Marking-definition ids applied to it (object and granular markings).
    pub markings: Vec<String>,
    /// Ids it references that take part in the reference rule.
    pub refs: Vec<String>,
}

/// A refused object: its id (or a placeholder naming its position) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub id: String,
    pub version: String,
    pub problems: Vec<String>,
}

impl Refusal {
    pub fn message(&self) -> String {
        self.problems.join("; ")
    }
}

/// Checks what every stored version needs: a `type`, an `id` of that type, and the timestamps
/// that make up its version. `index` names the object when it has no usable id.
pub fn check_object(raw: &RawValue, index: usize) -> Result<Checked, Refusal> {
    let value: Value = match serde_json::from_str(raw.get()) {
        Ok(v) => v,
        Err(e) => {
            return Err(Refusal {
                id: format!("objects[{index}]"),
                version: String::new(),
                problems: vec![format!("not valid JSON: {e}")],
            })
        }
    };
    let Value::Object(obj) = value else {
        return Err(Refusal {
            id: format!("objects[{index}]"),
            version: String::new(),
            problems: vec!["must be a JSON object".into()],
        });
    };
    let mut problems = vec![];
    let stix_type = match obj.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(_) => {
            problems.push("/type: must be a string".into());
            String::new()
        }
        None => {
            problems.push("/type: required".into());
            String::new()
        }
    };
    let id = match obj.get("id") {
        Some(Value::String(id)) => {
            if !is_stix_id(id) {
                problems.push(format!("/id: '{id}' is not of the form type--UUID"));
            } else if !stix_type.is_empty()
                && id.split_once("--").map(|(t, _)| t) != Some(stix_type.as_str())
            {
                problems.push(format!("/id: the prefix must equal the type '{stix_type}'"));
            }
            id.clone()
        }
        Some(_) => {
            problems.push("/id: must be a string".into());
            format!("objects[{index}]")
        }
        None => {
            problems.push("/id: required".into());
            format!("objects[{index}]")
        }
    };
    let is_sco = SCO_TYPES.contains(&stix_type.as_str());
    let stamp = |key: &str, required: bool, problems: &mut Vec<String>| -> Option<(i64, String)> {
        match obj.get(key) {
            Some(Value::String(s)) => match parse_stix(s) {
                Some(m) => Some((m, s.clone())),
                None => {
                    problems.push(format!(
                        "/{key}: '{s}' is not a STIX timestamp (RFC 3339 in UTC ending in Z, e.g. 2026-01-01T00:00:00.000Z)"
                    ));
                    None
                }
            },
            Some(_) => {
                problems.push(format!("/{key}: must be a timestamp string"));
                None
            }
            None if required => {
                problems.push(format!("/{key}: required for a {stix_type}"));
                None
            }
            None => None,
        }
    };
    // SCOs carry no timestamps; a marking-definition has `created` only; every other type both.
    let created = stamp("created", !is_sco && !stix_type.is_empty(), &mut problems);
    let modified = stamp(
        "modified",
        !is_sco && stix_type != "marking-definition" && !stix_type.is_empty(),
        &mut problems,
    );
    if let (Some((c, cs)), Some((m, _))) = (&created, &modified) {
        if m < c {
            problems.push(format!(
                "/modified: must not be earlier than created ({cs})"
            ));
        }
    }
    let spec_version = match obj.get("spec_version") {
        Some(Value::String(s)) if s == "2.1" => s.clone(),
        Some(other) => {
            problems.push(format!("/spec_version: must be \"2.1\", found {other}"));
            String::new()
        }
        None if is_sco => "2.1".into(),
        None => {
            problems.push("/spec_version: required (\"2.1\")".into());
            String::new()
        }
    };
    let version = modified.or(created);
    let version_text = version.as_ref().map(|(_, t)| t.clone()).unwrap_or_default();
    if !problems.is_empty() {
        return Err(Refusal {
            id,
            version: version_text,
            problems,
        });
    }
    let value = Value::Object(obj);
    let markings = refs::marking_ids(&value)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let refs = refs::content_refs(&value);
    Ok(Checked {
        id,
        stix_type,
        version,
        spec_version,
        markings,
        refs,
    })
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
    fn minimal_checks() {
        let ok = raw(
            r#"{"type":"indicator","spec_version":"2.1","id":"indicator--6f3e8f40-2d8e-4b5c-9a4f-0e1c2d3b4a59","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-02T00:00:00.000Z"}"#,
        );
        let c = check_object(&ok, 0).unwrap();
        assert_eq!(c.version.unwrap().1, "2026-01-02T00:00:00.000Z");
        let sco = raw(
            r#"{"type":"ipv4-addr","id":"ipv4-addr--6f3e8f40-2d8e-4b5c-9a4f-0e1c2d3b4a59","value":"198.51.100.1"}"#,
        );
        assert!(check_object(&sco, 0).unwrap().version.is_none());
        let bad = raw(
            r#"{"type":"malware","spec_version":"2.1","id":"indicator--6f3e8f40-2d8e-4b5c-9a4f-0e1c2d3b4a59","created":"2026-01-02T00:00:00Z","modified":"2026-01-01T00:00:00Z"}"#,
        );
        let r = check_object(&bad, 3).unwrap_err();
        assert_eq!(r.problems.len(), 2, "{:?}", r.problems);
    }
}
