//! The JSON Schemas of STIX 2.1 under `schemas/`, embedded in the binary and compiled once.
//!
//! Every file is compiled into the binary with `include_str!`, registered under its `$id`
//! (`https://cairn.invalid/schemas/<path>`, a base that never resolves) so that relative `$ref`s
//! resolve offline, and compiled into one validator per object type and one per predefined
//! extension. Nothing is read from disk or fetched at run time.
//!
//! The schemas carry the failure messages: a `description` in a schema node is the text shown
//! when a keyword of that node fails (e.g. "must be an identity identifier (identity--<UUID>)").
//! Nodes without one get a message made from the keyword (ranges, enumerations, types...).
//!
//! Pointers follow RFC 6901 from the object's root: a missing property is reported where it
//! belongs (`/name: required`), a bad property name at that name, a predefined extension under
//! `/extensions/<name>`, and "at least one of a, b or c" on an object itself at the first
//! property the specification names.

use super::problem::{segment, Problem};
use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{Draft, JsonType, PatternOptions, Registry, Resource, ValidationError, Validator};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;

/// The base of every schema `$id`; `.invalid` guarantees it is never looked up.
pub const BASE: &str = "https://cairn.invalid/schemas/";

const DRAFT_2020_12: &str = "https://json-schema.org/draft/2020-12/schema";

macro_rules! schema_files {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/", $path)))),*]
    };
}

/// Every schema file, by its path under `schemas/`.
const FILES: &[(&str, &str)] = schema_files![
    "common/core-sco.json",
    "common/core-sdo-sro.json",
    "common/core.json",
    "common/custom-object.json",
    "common/dictionary.json",
    "common/extensions.json",
    "common/external-reference.json",
    "common/granular-marking.json",
    "common/hashes.json",
    "common/identifier.json",
    "common/kill-chain-phase.json",
    "common/refs.json",
    "common/timestamp.json",
    "common/types.json",
    "sdo/attack-pattern.json",
    "sdo/campaign.json",
    "sdo/course-of-action.json",
    "sdo/grouping.json",
    "sdo/identity.json",
    "sdo/incident.json",
    "sdo/indicator.json",
    "sdo/infrastructure.json",
    "sdo/intrusion-set.json",
    "sdo/location.json",
    "sdo/malware-analysis.json",
    "sdo/malware.json",
    "sdo/note.json",
    "sdo/observed-data.json",
    "sdo/opinion.json",
    "sdo/report.json",
    "sdo/threat-actor.json",
    "sdo/tool.json",
    "sdo/vulnerability.json",
    "sro/relationship.json",
    "sro/sighting.json",
    "sco/artifact.json",
    "sco/autonomous-system.json",
    "sco/directory.json",
    "sco/domain-name.json",
    "sco/email-addr.json",
    "sco/email-message.json",
    "sco/file.json",
    "sco/ipv4-addr.json",
    "sco/ipv6-addr.json",
    "sco/mac-addr.json",
    "sco/mutex.json",
    "sco/network-traffic.json",
    "sco/process.json",
    "sco/software.json",
    "sco/url.json",
    "sco/user-account.json",
    "sco/windows-registry-key.json",
    "sco/x509-certificate.json",
    "sco/extensions/archive-ext.json",
    "sco/extensions/http-request-ext.json",
    "sco/extensions/icmp-ext.json",
    "sco/extensions/ntfs-ext.json",
    "sco/extensions/pdf-ext.json",
    "sco/extensions/raster-image-ext.json",
    "sco/extensions/socket-ext.json",
    "sco/extensions/tcp-ext.json",
    "sco/extensions/unix-account-ext.json",
    "sco/extensions/windows-pebinary-ext.json",
    "sco/extensions/windows-process-ext.json",
    "sco/extensions/windows-service-ext.json",
    "meta/extension-definition.json",
    "meta/language-content.json",
    "meta/marking-definition.json",
];

/// The schema of objects whose type has no schema of its own (custom objects): the common core.
const CUSTOM: &str = "common/custom-object.json";

/// A schema file that cannot be used; the server must not start with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("schemas/{file}: {problem}")]
pub struct SchemaError {
    /// Path under `schemas/`, or `*` when no single file is to blame.
    pub file: String,
    pub problem: String,
}

impl SchemaError {
    fn new(file: &str, problem: impl Into<String>) -> Self {
        Self {
            file: file.to_string(),
            problem: problem.into(),
        }
    }
}

/// The compiled schemas: one validator per STIX object type and per predefined extension.
pub struct Schemas {
    objects: HashMap<String, Validator>,
    extensions: HashMap<String, Validator>,
    /// For types without a schema of their own.
    custom: Validator,
    /// Each document by `$id`, to find the `description` of a failing schema node.
    documents: HashMap<String, Value>,
}

impl fmt::Debug for Schemas {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut objects: Vec<&str> = self.objects.keys().map(String::as_str).collect();
        objects.sort_unstable();
        let mut extensions: Vec<&str> = self.extensions.keys().map(String::as_str).collect();
        extensions.sort_unstable();
        f.debug_struct("Schemas")
            .field("objects", &objects)
            .field("extensions", &extensions)
            .finish_non_exhaustive()
    }
}

/// What a schema file defines, from where it sits under `schemas/`.
enum Role {
    Object(String),
    Extension(String),
    Shared,
}

fn role(path: &str) -> Role {
    let stem = |p: &str| p.trim_end_matches(".json").to_string();
    if let Some(name) = path.strip_prefix("sco/extensions/") {
        return Role::Extension(stem(name));
    }
    for dir in ["sdo/", "sro/", "sco/", "meta/"] {
        if let Some(name) = path.strip_prefix(dir) {
            return Role::Object(stem(name));
        }
    }
    Role::Shared
}

fn parse(path: &str, text: &str) -> Result<Value, SchemaError> {
    let doc: Value = serde_json::from_str(text)
        .map_err(|e| SchemaError::new(path, format!("not valid JSON: {e}")))?;
    let expected = format!("{BASE}{path}");
    match doc.get("$id").and_then(Value::as_str) {
        Some(id) if id == expected => {}
        Some(id) => {
            return Err(SchemaError::new(
                path,
                format!("$id is {id}, must be {expected}"),
            ))
        }
        None => {
            return Err(SchemaError::new(
                path,
                format!("$id missing, must be {expected}"),
            ))
        }
    }
    if doc.get("$schema").and_then(Value::as_str) != Some(DRAFT_2020_12) {
        return Err(SchemaError::new(
            path,
            format!("$schema must be {DRAFT_2020_12}"),
        ));
    }
    jsonschema::draft202012::meta::validate(&doc).map_err(|e| {
        SchemaError::new(
            path,
            format!(
                "not a valid draft 2020-12 schema at {}: {}",
                pointer_or_root(e.instance_path().as_str()),
                e.masked()
            ),
        )
    })?;
    Ok(doc)
}

fn pointer_or_root(p: &str) -> &str {
    if p.is_empty() {
        "the root"
    } else {
        p
    }
}

/// The file an error message names by its `$id`, if any.
fn blame<'f>(files: &[(&'f str, &str)], message: &str) -> Option<&'f str> {
    files
        .iter()
        .map(|(path, _)| *path)
        .filter(|path| message.contains(&format!("{BASE}{path}")))
        .max_by_key(|path| path.len())
}

/// The file holding a `$ref` to a URI that an error message names, if any.
fn referrer<'f>(parsed: &[(&'f str, Value)], message: &str) -> Option<&'f str> {
    parsed.iter().find_map(|(path, doc)| {
        let mut found = vec![];
        refs(doc, &mut found);
        found
            .iter()
            .any(|r| {
                let target = resolve(path, r);
                !target.is_empty() && message.contains(&format!("'{target}'"))
            })
            .then_some(*path)
    })
}

/// Every `$ref` value in `node`, at any depth.
fn refs<'v>(node: &'v Value, out: &mut Vec<&'v str>) {
    match node {
        Value::Object(map) => map
            .iter()
            .for_each(|(key, value)| match (key.as_str(), value) {
                ("$ref", Value::String(r)) => out.push(r),
                _ => refs(value, out),
            }),
        Value::Array(items) => items.iter().for_each(|item| refs(item, out)),
        _ => {}
    }
}

/// The absolute URI, without fragment, that `reference` in the file at `path` points to.
fn resolve(path: &str, reference: &str) -> String {
    let reference = reference.split('#').next().unwrap_or_default();
    if reference.is_empty() {
        return String::new();
    }
    if reference.contains("://") {
        return reference.to_string();
    }
    let mut parts: Vec<&str> = path.split('/').collect();
    parts.pop();
    for part in reference.split('/') {
        match part {
            ".." => {
                parts.pop();
            }
            "." => {}
            other => parts.push(other),
        }
    }
    format!("{BASE}{}", parts.join("/"))
}

/// Every document registered under its URL, so that references between them resolve.
fn registry<'a>(
    files: &[(&str, &str)],
    parsed: &'a [(&str, Value)],
) -> Result<Registry<'a>, SchemaError> {
    Registry::new()
        .draft(Draft::Draft202012)
        .extend(parsed.iter().map(|(path, doc)| {
            (
                format!("{BASE}{path}"),
                Resource::from_contents(doc.clone()),
            )
        }))
        .and_then(|builder| builder.prepare())
        .map_err(|e| {
            let message = e.to_string();
            let file = referrer(parsed, &message)
                .or_else(|| blame(files, &message))
                .unwrap_or("*");
            SchemaError::new(file, format!("cannot be registered: {message}"))
        })
}

impl Schemas {
    /// Parses, checks and compiles every embedded schema. Fails on the first broken file.
    pub fn load() -> Result<Schemas, SchemaError> {
        Self::load_files(FILES)
    }

    fn load_files(files: &[(&str, &str)]) -> Result<Schemas, SchemaError> {
        let mut documents = HashMap::new();
        let mut parsed = Vec::with_capacity(files.len());
        for (path, text) in files {
            let doc = parse(path, text)?;
            documents.insert(format!("{BASE}{path}"), doc.clone());
            parsed.push((*path, doc));
        }
        let registry = registry(files, &parsed)?;
        let compile = |path: &str, doc: &Value| -> Result<Validator, SchemaError> {
            jsonschema::options()
                .with_draft(Draft::Draft202012)
                .with_registry(&registry)
                .with_pattern_options(PatternOptions::regex())
                .should_validate_formats(true)
                .offline()
                .build(doc)
                .map_err(|e| {
                    let message = e.to_string();
                    let file = blame(files, &message).unwrap_or(path);
                    SchemaError::new(file, format!("does not compile: {message}"))
                })
        };
        let mut objects = HashMap::new();
        let mut extensions = HashMap::new();
        let mut custom = None;
        for (path, doc) in &parsed {
            match role(path) {
                Role::Object(name) => {
                    objects.insert(name, compile(path, doc)?);
                }
                Role::Extension(name) => {
                    extensions.insert(name, compile(path, doc)?);
                }
                Role::Shared if *path == CUSTOM => custom = Some(compile(path, doc)?),
                Role::Shared => {}
            }
        }
        let custom = custom.ok_or_else(|| SchemaError::new(CUSTOM, "missing"))?;
        Ok(Schemas {
            objects,
            extensions,
            custom,
            documents,
        })
    }

    /// The object types with a schema of their own.
    pub fn object_types(&self) -> impl Iterator<Item = &str> {
        self.objects.keys().map(String::as_str)
    }

    /// The predefined extensions with a schema of their own.
    pub fn extension_names(&self) -> impl Iterator<Item = &str> {
        self.extensions.keys().map(String::as_str)
    }

    /// Every schema problem of `object`: against the schema of its `type` (only the common core
    /// for types without one), and of each predefined extension under `extensions`.
    pub fn check(&self, object: &Value) -> Vec<Problem> {
        let validator = object
            .get("type")
            .and_then(Value::as_str)
            .and_then(|t| self.objects.get(t))
            .unwrap_or(&self.custom);
        let mut found = Found::default();
        for error in validator.iter_errors(object).take(MAX_PROBLEMS) {
            found.push(self.problem("", &error));
        }
        if let Some(Value::Object(extensions)) = object.get("extensions") {
            for (name, value) in extensions {
                if let Some(validator) = self.extensions.get(name) {
                    let prefix = format!("/extensions/{}", segment(name));
                    for error in validator.iter_errors(value).take(MAX_PROBLEMS) {
                        found.push(self.problem(&prefix, &error));
                    }
                }
            }
        }
        let mut problems = found.list;
        // By place in the object; the order within one place is the schema's.
        problems.sort_by(|a, b| a.pointer.cmp(&b.pointer));
        problems
    }

    fn problem(&self, prefix: &str, error: &ValidationError<'_>) -> Problem {
        let pointer = format!("{prefix}{}", error.instance_path().as_str());
        match error.kind() {
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                let message = self.node(error).and_then(description).unwrap_or("required");
                Problem::new(format!("{pointer}/{}", segment(name)), message)
            }
            ValidationErrorKind::PropertyNames { error: inner } => {
                let name = inner.instance().as_str().unwrap_or_default().to_string();
                Problem::new(
                    format!("{pointer}/{}", segment(&name)),
                    format!("the name {}", self.message(inner)),
                )
            }
            ValidationErrorKind::AnyOf { .. } if pointer.is_empty() => {
                // "At least one of a, b or c" on an object itself: point where the first one the
                // specification names belongs.
                let first = self
                    .node(error)
                    .and_then(|node| node.pointer("/anyOf/0/required/0"))
                    .and_then(Value::as_str);
                match first {
                    Some(name) => Problem::new(format!("/{}", segment(name)), self.message(error)),
                    None => Problem::new(pointer, self.message(error)),
                }
            }
            _ => Problem::new(pointer, self.message(error)),
        }
    }

    /// The `description` of the failing node, or a message made from the keyword.
    fn message(&self, error: &ValidationError<'_>) -> String {
        let node = self.node(error);
        if let Some(text) = node.and_then(description) {
            return text.to_string();
        }
        generated(error.kind(), node)
    }

    /// The schema node holding the keyword that failed.
    fn node(&self, error: &ValidationError<'_>) -> Option<&Value> {
        let location = error.absolute_keyword_location()?;
        let (base, fragment) = location.as_str().split_once('#')?;
        let pointer = percent_decode(fragment);
        let parent = pointer.rsplit_once('/').map_or("", |(parent, _)| parent);
        self.documents.get(base)?.pointer(parent)
    }
}

fn description(node: &Value) -> Option<&str> {
    node.get("description").and_then(Value::as_str)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn type_words(t: JsonType) -> &'static str {
    match t {
        JsonType::Array => "a list",
        JsonType::Boolean => "true or false",
        JsonType::Integer => "an integer",
        JsonType::Null => "null",
        JsonType::Number => "a number",
        JsonType::Object => "an object",
        JsonType::String => "a string",
    }
}

/// The largest integer STIX allows (section 2.10: integers fit in a signed 54-bit value).
const MAX_INTEGER: f64 = 9_007_199_254_740_991.0;

/// What the node's declared `type` and bounds ask for, e.g. "an integer from 0 to 100".
fn number_words(node: Option<&Value>) -> String {
    let kind = match node.and_then(|n| n.get("type")).and_then(Value::as_str) {
        Some("integer") => "an integer",
        _ => "a number",
    };
    let bound = |key: &str| node.and_then(|n| n.get(key));
    match (bound("minimum"), bound("maximum")) {
        (Some(min), Some(max)) if max.as_f64() == Some(MAX_INTEGER) => {
            if min.as_f64() == Some(0.0) {
                format!("{kind} of 0 or more")
            } else {
                format!("{kind} (STIX integers fit in 54 bits: -{max} to {max})")
            }
        }
        (Some(min), Some(max)) => format!("{kind} from {min} to {max}"),
        (Some(min), None) => format!("{kind} of at least {min}"),
        (None, Some(max)) => format!("{kind} of at most {max}"),
        (None, None) => kind.to_string(),
    }
}

/// "a list of strings" and the like, from the node's declared `items`.
fn list_words(node: Option<&Value>) -> &'static str {
    let items = node.and_then(|n| n.get("items"));
    match items.and_then(|i| i.get("type")).and_then(Value::as_str) {
        Some("string") => "a list of strings",
        Some("object") => "a list of objects",
        _ => match items.and_then(|i| i.get("$ref")).and_then(Value::as_str) {
            Some(r) if r.contains("refs.json") || r.contains("identifier.json") => {
                "a list of identifiers"
            }
            Some(r) if r.contains("kill-chain-phase") => "a list of kill chain phases",
            Some(r) if r.contains("external-reference") => "a list of external references",
            Some(r) if r.contains("granular-marking") => "a list of granular markings",
            _ => "a list",
        },
    }
}

fn generated(kind: &ValidationErrorKind, node: Option<&Value>) -> String {
    use ValidationErrorKind as K;
    match kind {
        K::Type { kind } => {
            let words = |t: JsonType| match t {
                JsonType::Integer | JsonType::Number => number_words(node),
                JsonType::Array => list_words(node).to_string(),
                other => type_words(other).to_string(),
            };
            let words = match kind {
                TypeKind::Single(t) => words(*t),
                TypeKind::Multiple(set) => set.iter().map(words).collect::<Vec<_>>().join(" or "),
            };
            format!("must be {words}")
        }
        K::Minimum { .. } | K::Maximum { .. } => format!("must be {}", number_words(node)),
        K::ExclusiveMinimum { limit } => format!("must be greater than {limit}"),
        K::ExclusiveMaximum { limit } => format!("must be less than {limit}"),
        K::Enum { options } => {
            let options = match options.as_ref() {
                Value::Array(items) => items
                    .iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                    .collect::<Vec<_>>()
                    .join(", "),
                other => other.to_string(),
            };
            format!("must be one of: {options}")
        }
        K::Constant { expected_value } => format!("must be {expected_value}"),
        K::MinItems { limit: 1 } => "must not be an empty list: omit the property instead".into(),
        K::MinItems { limit } => format!("must have at least {limit} items"),
        K::MaxItems { limit } => format!("must have at most {limit} items"),
        K::MinProperties { limit: 1 } => "must not be empty: omit the property instead".into(),
        K::MinProperties { limit } => format!("must have at least {limit} entries"),
        K::MaxProperties { limit } => format!("must have at most {limit} entries"),
        K::MinLength { limit } => format!("must be at least {limit} characters long"),
        K::MaxLength { limit } => format!("must be at most {limit} characters long"),
        K::Pattern { pattern } => format!("must match the pattern {pattern}"),
        K::Format { format } => format!("must be a valid {format}"),
        K::AnyOf { .. } | K::OneOfNotValid { .. } => {
            "must match one of the forms the specification allows".into()
        }
        K::OneOfMultipleValid { .. } => {
            "must match exactly one of the forms the specification allows, not several".into()
        }
        K::Not { .. } | K::FalseSchema => "is not allowed here".into(),
        K::Contains => "must contain a matching item".into(),
        K::UniqueItems => "must not contain the same item twice".into(),
        K::AdditionalProperties { unexpected } => {
            format!("unexpected properties: {}", unexpected.join(", "))
        }
        K::Referencing(e) => format!("cannot be checked: the schema is broken ({e})"),
        other => format!("is not valid (schema keyword {})", other.keyword()),
    }
}

/// Schema errors reported for one object (the rest are not collected: a list of a million
/// bad items would otherwise make as many problems), each once.
const MAX_PROBLEMS: usize = 1000;

#[derive(Default)]
struct Found {
    list: Vec<Problem>,
    seen: std::collections::HashSet<(String, String)>,
}

impl Found {
    fn push(&mut self, p: Problem) {
        if self.seen.insert((p.pointer.clone(), p.message.clone())) {
            self.list.push(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeSet;
    use std::sync::OnceLock;

    const T: &str = "2016-04-06T20:03:00.000Z";
    const UUID4: &str = "8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f";
    const UUID5: &str = "28bb3599-77cd-5a82-a950-b5bc3caf07c4";

    fn schemas() -> &'static Schemas {
        static SCHEMAS: OnceLock<Schemas> = OnceLock::new();
        SCHEMAS.get_or_init(|| Schemas::load().expect("the embedded schemas load"))
    }

    fn with(mut base: Value, extra: Value) -> Value {
        if let (Value::Object(b), Value::Object(e)) = (&mut base, extra) {
            b.extend(e);
        }
        base
    }

    fn id(t: &str) -> String {
        format!("{t}--{UUID4}")
    }

    /// An SDO, SRO or meta object with the common properties filled in.
    fn sdo(t: &str, extra: Value) -> Value {
        with(
            json!({"type": t, "spec_version": "2.1", "id": id(t), "created": T, "modified": T}),
            extra,
        )
    }

    fn sco(t: &str, extra: Value) -> Value {
        with(
            json!({"type": t, "spec_version": "2.1", "id": format!("{t}--{UUID5}")}),
            extra,
        )
    }

    fn problems(object: &Value) -> Vec<String> {
        schemas()
            .check(object)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn assert_valid(object: Value) {
        let found = problems(&object);
        assert!(
            found.is_empty(),
            "{} should be valid: {found:#?}",
            object["type"]
        );
    }

    /// Asserts that `object` has exactly the problems `expected` ("pointer: message").
    fn assert_problems(object: Value, expected: &[&str]) {
        let found = problems(&object);
        assert_eq!(found, expected, "problems of {object}");
    }

    /// Asserts that one of the problems of `object` is at `pointer` and its message starts with
    /// `start`.
    fn assert_problem(object: Value, pointer: &str, start: &str) {
        let found = schemas().check(&object);
        assert!(
            found
                .iter()
                .any(|p| p.pointer == pointer && p.message.starts_with(start)),
            "expected {pointer}: {start}... in {found:#?}"
        );
    }

    fn valid_objects() -> Vec<Value> {
        let identity = id("identity");
        vec![
            sdo("attack-pattern", json!({"name": "Spear Phishing", "external_references": [{"source_name": "capec", "external_id": "CAPEC-163"}]})),
            sdo("campaign", json!({"name": "Green Group Attacks Against Finance", "created_by_ref": identity, "first_seen": "2016-04-06T20:03:00Z"})),
            sdo("course-of-action", json!({"name": "Add TCP port 80 Filter Rule"})),
            sdo("grouping", json!({"context": "suspicious-activity", "object_refs": [id("indicator"), id("campaign")]})),
            sdo("identity", json!({"name": "ACME Widget, Inc.", "identity_class": "organization", "sectors": ["technology"]})),
            sdo("incident", json!({"name": "Incident 43"})),
            sdo("indicator", json!({"name": "Poison Ivy Malware", "indicator_types": ["malicious-activity"], "pattern": "[ file:hashes.'SHA-256' = '4bac27393bdd9777ce02453256c5577cd02275510b2227f473d03f533924f877' ]", "pattern_type": "stix", "valid_from": "2016-01-01T00:00:00Z", "kill_chain_phases": [{"kill_chain_name": "lockheed-martin-cyber-kill-chain", "phase_name": "reconnaissance"}]})),
            sdo("infrastructure", json!({"name": "Poison Ivy C2", "infrastructure_types": ["command-and-control"]})),
            sdo("intrusion-set", json!({"name": "Bobcat Breakin", "aliases": ["Zookeeper"], "goals": ["acquisition-theft"]})),
            sdo("location", json!({"region": "south-eastern-asia", "country": "th", "latitude": 48.8566, "longitude": 2.3522, "precision": 1000.0})),
            sdo("malware", json!({"name": "Cryptolocker", "malware_types": ["ransomware"], "is_family": false, "sample_refs": [format!("file--{UUID5}")]})),
            sdo("malware-analysis", json!({"product": "microsoft", "analysis_engine_version": "5.1.0", "analysis_started": "2012-02-11T08:36:14Z", "result": "malicious"})),
            sdo("note", json!({"abstract": "Tracking Team Note#1", "content": "This note indicates the various steps taken.", "authors": ["John Doe"], "object_refs": [id("campaign")]})),
            sdo("observed-data", json!({"first_observed": "2015-12-21T19:00:00Z", "last_observed": "2015-12-21T19:00:00Z", "number_observed": 50, "object_refs": [format!("ipv4-addr--{UUID5}")]})),
            sdo("opinion", json!({"object_refs": [id("relationship")], "opinion": "strongly-disagree", "explanation": "Not feasible."})),
            sdo("report", json!({"name": "The Black Vine Cyberespionage Group", "published": "2016-01-20T17:00:00.000Z", "report_types": ["campaign"], "object_refs": [id("indicator")]})),
            sdo("threat-actor", json!({"name": "Evil Org", "threat_actor_types": ["crime-syndicate"], "sophistication": "advanced", "primary_motivation": "organizational-gain"})),
            sdo("tool", json!({"name": "VNC", "tool_types": ["remote-access"]})),
            sdo("vulnerability", json!({"name": "CVE-2016-1234", "external_references": [{"source_name": "cve", "external_id": "CVE-2016-1234"}]})),
            sdo("relationship", json!({"relationship_type": "indicates", "source_ref": id("indicator"), "target_ref": id("malware")})),
            sdo("sighting", json!({"sighting_of_ref": id("indicator"), "count": 50, "observed_data_refs": [id("observed-data")], "where_sighted_refs": [id("identity")], "summary": false})),
            sco("artifact", json!({"mime_type": "image/jpeg", "payload_bin": "iVBORw0KGgoAAAANSUhEUgAAADI="})),
            sco("autonomous-system", json!({"number": 15139, "name": "Slime Industries", "rir": "ARIN"})),
            sco("directory", json!({"path": "C:\\Windows\\System32"})),
            sco("domain-name", json!({"value": "example.com", "resolves_to_refs": [format!("ipv4-addr--{UUID5}")]})),
            sco("email-addr", json!({"value": "john@example.com", "display_name": "John Doe"})),
            sco("email-message", json!({"is_multipart": false, "from_ref": format!("email-addr--{UUID5}"), "date": "1997-11-21T15:55:06.000Z", "subject": "Saying Hello", "additional_header_fields": {"Reply-To": ["steve@example.com"]}})),
            sco("file", json!({"hashes": {"SHA-256": "fe90a7e910cb3a4739bed9180e807e93fa70c90f25a8915476f5e4bfbac681db"}, "size": 25536, "name": "foo.dll"})),
            sco("ipv4-addr", json!({"value": "198.51.100.0/24"})),
            sco("ipv6-addr", json!({"value": "2001:0db8:85a3:0000:0000:8a2e:0370:7334"})),
            sco("mac-addr", json!({"value": "d2:fb:49:24:37:18"})),
            sco("mutex", json!({"name": "__CLEANSWEEP__"})),
            sco("network-traffic", json!({"src_ref": format!("ipv4-addr--{UUID5}"), "dst_port": 80, "protocols": ["ipv4", "tcp", "http"], "src_byte_count": 147600, "ipfix": {"minimumIpTotalLength": 32}})),
            sco("process", json!({"pid": 1221, "created_time": "2016-01-20T14:11:25.55Z", "command_line": "./gedit-bin --new-window"})),
            sco("software", json!({"name": "Word", "cpe": "cpe:2.3:a:microsoft:word:2000:*:*:*:*:*:*:*", "version": "2002", "vendor": "Microsoft"})),
            sco("url", json!({"value": "https://example.com/research/index.html"})),
            sco("user-account", json!({"user_id": "1001", "account_login": "jdoe", "account_type": "unix", "is_privileged": false})),
            sco("windows-registry-key", json!({"key": "hkey_local_machine\\system\\bar\\foo", "values": [{"name": "Foo", "data": "qwerty", "data_type": "REG_SZ"}]})),
            sco("x509-certificate", json!({"issuer": "C=ZA, O=Thawte Consulting cc", "validity_not_before": "2016-03-12T12:00:00Z", "serial_number": "36:f7:d4:32", "x509_v3_extensions": {"basic_constraints": "critical,CA:TRUE, pathlen:0"}})),
            with(
                sdo("marking-definition", json!({"definition_type": "statement", "definition": {"statement": "Copyright 2019, Example Corp"}})),
                json!({"modified": null}),
            ),
            sdo("language-content", json!({"object_ref": id("campaign"), "object_modified": T, "contents": {"de": {"name": "Bank Angriff"}, "fr": {"name": "Attaque Bank"}}})),
            sdo("extension-definition", json!({"created_by_ref": identity, "name": "New SDO 1", "schema": "https://www.example.com/schema-my-favorite-sdo-1/v1/", "version": "1.2.1", "extension_types": ["new-sdo"]})),
        ]
        .into_iter()
        .map(|mut v| {
            // marking-definition has no modified: the null above marks it for removal.
            if v["modified"].is_null() {
                v.as_object_mut().unwrap().remove("modified");
            }
            v
        })
        .collect()
    }

    #[test]
    fn every_schema_loads_and_compiles() {
        let s = Schemas::load().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.object_types().count(), 19 + 2 + 18 + 3);
        assert_eq!(s.extension_names().count(), 12);
        assert_eq!(s.documents.len(), FILES.len());
        for (path, _) in FILES {
            assert!(s.documents.contains_key(&format!("{BASE}{path}")), "{path}");
        }
    }

    #[test]
    fn the_embedded_list_is_every_schema_file() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
        let mut on_disk = BTreeSet::new();
        for dir in ["common", "sdo", "sro", "sco", "sco/extensions", "meta"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let name = entry.unwrap().file_name().into_string().unwrap();
                if name.ends_with(".json") {
                    on_disk.insert(format!("{dir}/{name}"));
                }
            }
        }
        let embedded: BTreeSet<String> = FILES.iter().map(|(p, _)| p.to_string()).collect();
        assert_eq!(embedded, on_disk);
    }

    /// Every node whose failure cannot be phrased from the keyword alone carries its message.
    #[test]
    fn failure_messages_are_written_in_the_schemas() {
        fn walk(path: &str, node: &Value, missing: &mut Vec<String>) {
            match node {
                Value::Object(map) => {
                    let needs = map.get("pattern").is_some_and(Value::is_string)
                        || map.get("format").is_some_and(Value::is_string)
                        || map.get("anyOf").is_some_and(Value::is_array)
                        || map.get("oneOf").is_some_and(Value::is_array)
                        || map.get("not").is_some_and(Value::is_object)
                        || map.get("contains").is_some_and(Value::is_object);
                    if needs && !map.get("description").is_some_and(Value::is_string) {
                        missing.push(path.to_string());
                    }
                    for (key, value) in map {
                        // what is under `if` or `not` never reports.
                        if key == "if" || key == "not" || key == "description" || key == "title" {
                            continue;
                        }
                        walk(&format!("{path}/{key}"), value, missing);
                    }
                }
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        walk(&format!("{path}/{i}"), item, missing);
                    }
                }
                _ => {}
            }
        }
        let mut missing = vec![];
        for (id, doc) in &schemas().documents {
            walk(id, doc, &mut missing);
        }
        assert!(
            missing.is_empty(),
            "nodes without a description: {missing:#?}"
        );
    }

    #[test]
    fn a_minimal_object_of_every_type_is_valid() {
        let objects = valid_objects();
        let covered: BTreeSet<&str> = objects
            .iter()
            .map(|o| o["type"].as_str().unwrap())
            .collect();
        let all: BTreeSet<&str> = schemas().object_types().collect();
        assert_eq!(covered, all);
        for object in objects {
            assert_valid(object);
        }
    }

    #[test]
    fn predefined_extensions_are_valid() {
        let file = |ext: Value| sco("file", json!({"name": "example.exe", "extensions": ext}));
        assert_valid(file(
            json!({"archive-ext": {"contains_refs": [format!("file--{UUID5}")], "comment": "zip"}}),
        ));
        assert_valid(file(
            json!({"ntfs-ext": {"sid": "1234567", "alternate_data_streams": [{"name": "second.stream", "size": 25536}]}}),
        ));
        assert_valid(file(
            json!({"pdf-ext": {"version": "1.7", "document_info_dict": {"Title": "Sample document"}, "pdfid0": "DFCE52BD827ECF765649852119D"}}),
        ));
        assert_valid(file(
            json!({"raster-image-ext": {"exif_tags": {"Make": "Nikon", "XResolution": 4928}}}),
        ));
        assert_valid(file(
            json!({"windows-pebinary-ext": {"pe_type": "exe", "machine_hex": "014c", "number_of_sections": 4, "time_date_stamp": "2016-01-22T12:31:12Z", "optional_header": {"magic_hex": "010b", "size_of_code": 512}, "sections": [{"name": "CODE", "entropy": 0.061089}]}}),
        ));
        let traffic = |ext: Value| {
            sco(
                "network-traffic",
                json!({"dst_ref": format!("ipv4-addr--{UUID5}"), "protocols": ["tcp"], "extensions": ext}),
            )
        };
        assert_valid(traffic(
            json!({"http-request-ext": {"request_method": "get", "request_value": "/download.html", "request_version": "http/1.1", "request_header": {"Host": ["www.example.com"]}}}),
        ));
        assert_valid(traffic(
            json!({"icmp-ext": {"icmp_type_hex": "08", "icmp_code_hex": "00"}}),
        ));
        assert_valid(traffic(
            json!({"socket-ext": {"is_listening": true, "address_family": "AF_INET", "socket_type": "SOCK_STREAM", "options": {"SO_ACCEPTCONN": 1}}}),
        ));
        assert_valid(traffic(json!({"tcp-ext": {"src_flags_hex": "00000002"}})));
        assert_valid(sco(
            "process",
            json!({"pid": 314, "extensions": {"windows-process-ext": {"aslr_enabled": true, "priority": "HIGH_PRIORITY_CLASS", "integrity_level": "high"}}}),
        ));
        assert_valid(sco(
            "process",
            json!({"extensions": {"windows-service-ext": {"service_name": "sirvizio", "start_type": "SERVICE_AUTO_START", "service_type": "SERVICE_WIN32_OWN_PROCESS", "service_status": "SERVICE_RUNNING"}}}),
        ));
        assert_valid(sco(
            "user-account",
            json!({"user_id": "1001", "extensions": {"unix-account-ext": {"gid": 1001, "groups": ["wheel"], "home_dir": "/home/jdoe", "shell": "/bin/bash"}}}),
        ));
        // An extension defined by an extension-definition, and a deprecated custom one.
        assert_valid(sdo(
            "indicator",
            json!({"pattern": "[ipv4-addr:value = '198.51.100.1']", "pattern_type": "stix", "valid_from": T, "extensions": {format!("extension-definition--{UUID4}"): {"extension_type": "property-extension", "rank": 5}}}),
        ));
        assert_valid(file(json!({"x-example-com-foo-ext": {"foo_val": "foo"}})));
    }

    #[test]
    fn custom_objects_are_checked_against_the_core_only() {
        assert_valid(
            json!({"type": "x-example-com-customobject", "id": format!("x-example-com-customobject--{UUID4}"), "created": T, "modified": T, "some_custom_stuff": 14}),
        );
        assert_problems(
            json!({"type": "x-custom", "id": format!("x-custom--{UUID4}"), "created_by_ref": id("malware"), "Other": 1}),
            &[
                "/Other: the name must be a property name of 3 to 250 characters from a-z, 0-9 and _, starting with a letter",
                "/created_by_ref: must be an identity identifier (identity--<UUID>)",
            ],
        );
        assert_problems(json!({"id": id("indicator")}), &["/type: required"]);
        assert_problem(
            json!({"type": "x--bad", "id": "x--bad--1"}),
            "/type",
            "must be a type name",
        );
    }

    #[test]
    fn missing_required_properties_are_named() {
        let mut indicator = sdo(
            "indicator",
            json!({"pattern_type": "stix", "valid_from": T}),
        );
        assert_problems(indicator.clone(), &["/pattern: required"]);
        indicator.as_object_mut().unwrap().remove("created");
        assert_problems(indicator, &["/created: required", "/pattern: required"]);
        assert_problems(
            sdo("malware", json!({"name": "x"})),
            &["/is_family: required"],
        );
        assert_problems(
            sdo("malware", json!({"is_family": true})),
            &["/name: required when is_family is true: a malware family must have a name"],
        );
        assert_problems(
            sco("network-traffic", json!({"dst_port": 53})),
            &[
                "/protocols: required",
                "/src_ref: at least one of src_ref or dst_ref is required",
            ],
        );
    }

    #[test]
    fn types_ranges_and_closed_enumerations() {
        let attack = |extra: Value| sdo("attack-pattern", with(json!({"name": "x"}), extra));
        assert_problems(
            attack(json!({"confidence": 101})),
            &["/confidence: must be an integer from 0 to 100"],
        );
        assert_problems(
            attack(json!({"confidence": "high"})),
            &["/confidence: must be an integer from 0 to 100"],
        );
        assert_problems(
            attack(json!({"spec_version": "2.0"})),
            &["/spec_version: must be \"2.1\""],
        );
        assert_problems(
            attack(json!({"labels": []})),
            &["/labels: must not be an empty list: omit the property instead"],
        );
        assert_problem(
            attack(json!({"created": "2016-04-06T20:03:00Z"})),
            "/created",
            "must be an RFC 3339 timestamp in UTC with at least millisecond precision",
        );
        assert_problems(
            attack(json!({"created_by_ref": id("malware")})),
            &["/created_by_ref: must be an identity identifier (identity--<UUID>)"],
        );
        assert_problems(attack(json!({"object_marking_refs": ["marking-definition--bad"]})), &["/object_marking_refs/0: must be a marking-definition identifier (marking-definition--<UUID>)"]);
        assert_problems(
            attack(json!({"severity": "high"})),
            &["/severity: must be absent: the name is reserved by STIX 2.1"],
        );
        assert_problems(
            attack(json!({"defanged": true})),
            &["/defanged: must be absent: defanged is only used on cyber-observable objects"],
        );
        assert_problems(
            sdo("malware", json!({"is_family": "yes", "name": "x"})),
            &["/is_family: must be true or false"],
        );
        assert_problem(
            sdo(
                "opinion",
                json!({"opinion": "maybe", "object_refs": [id("report")]}),
            ),
            "/opinion",
            "must be one of: strongly-disagree, disagree, neutral, agree, strongly-agree",
        );
        assert_problems(
            sco("artifact", json!({"payload_bin": "AAAA", "encryption_algorithm": "AES"})),
            &["/encryption_algorithm: must be one of: AES-256-GCM, ChaCha20-Poly1305, mime-type-indicated"],
        );
        assert_problem(
            sco(
                "windows-registry-key",
                json!({"values": [{"name": "Foo", "data_type": "REG_FOO"}]}),
            ),
            "/values/0/data_type",
            "must be one of: REG_NONE, REG_SZ",
        );
        assert_problems(
            sco("process", json!({"extensions": {"windows-service-ext": {"start_type": "AUTO"}}})),
            &["/extensions/windows-service-ext/start_type: must be one of: SERVICE_AUTO_START, SERVICE_BOOT_START, SERVICE_DEMAND_START, SERVICE_DISABLED, SERVICE_SYSTEM_ALERT"],
        );
        assert_problems(
            sco(
                "network-traffic",
                json!({"dst_ref": format!("domain-name--{UUID5}"), "protocols": ["udp"], "dst_port": 70000}),
            ),
            &["/dst_port: must be an integer from 0 to 65535"],
        );
        assert_problems(
            sdo(
                "sighting",
                json!({"sighting_of_ref": id("indicator"), "count": -1}),
            ),
            &["/count: must be an integer from 0 to 999999999"],
        );
        assert_problems(
            sco("file", json!({"name": "a", "size": -1})),
            &["/size: must be an integer of 0 or more"],
        );
        assert_problems(
            sco("autonomous-system", json!({"number": 9_007_199_254_740_992_u64})),
            &["/number: must be an integer (STIX integers fit in 54 bits: -9007199254740991 to 9007199254740991)"],
        );
        assert_problems(
            attack(json!({"labels": "apt"})),
            &["/labels: must be a list of strings"],
        );
        assert_problems(
            attack(json!({"object_marking_refs": "x"})),
            &["/object_marking_refs: must be a list of identifiers"],
        );
        assert_problems(
            sco("mac-addr", json!({"value": "D2:FB:49:24:37:18"})),
            &["/value: must be a colon-delimited, lowercase MAC-48 address with leading zeros, e.g. 00:00:ab:cd:ef:01"],
        );
        assert_problems(
            sdo(
                "marking-definition",
                json!({"definition_type": "tlp", "definition": {"tlp": "purple"}}),
            ),
            &["/definition/tlp: must be one of: white, green, amber, red"],
        );
    }

    #[test]
    fn open_vocabularies_stay_open() {
        assert_valid(sdo(
            "identity",
            json!({"name": "x", "identity_class": "anything-else", "sectors": ["space"]}),
        ));
        assert_valid(sdo(
            "indicator",
            json!({"pattern": "rule x {}", "pattern_type": "yara-x", "valid_from": T}),
        ));
        assert_valid(sdo(
            "relationship",
            json!({"relationship_type": "delivered-by", "source_ref": id("malware"), "target_ref": id("tool")}),
        ));
        assert_valid(sdo(
            "malware-analysis",
            json!({"product": "anonymized", "result": "probably-fine"}),
        ));
    }

    #[test]
    fn combinations_the_specification_requires() {
        assert_problems(
            sco(
                "artifact",
                json!({"payload_bin": "AAAA", "url": "https://example.com/a", "hashes": {"MD5": "3773a88f65a5e780c8dff9cdc3a056f3"}}),
            ),
            &["/url: must be absent when payload_bin is present"],
        );
        assert_problems(
            sco("artifact", json!({"url": "https://example.com/a"})),
            &["/hashes: required when url is present"],
        );
        assert_problems(
            sdo(
                "campaign",
                json!({"name": "x", "granular_markings": [{"selectors": ["name"], "lang": "de", "marking_ref": id("marking-definition")}]}),
            ),
            &["/granular_markings/0: must have exactly one of marking_ref and lang"],
        );
        assert_problems(
            sdo("campaign", json!({"name": "x", "external_references": [{"source_name": "acme"}]})),
            &["/external_references/0: at least one of description, url or external_id is required besides source_name"],
        );
        assert_problems(
            sdo("location", json!({"latitude": 1.0})),
            &[
                "/longitude: required when latitude is present",
                "/region: at least one of region, country, or latitude and longitude is required",
            ],
        );
        assert_problems(
            sco("email-message", json!({"is_multipart": true, "body": "hi"})),
            &["/body: must be absent when is_multipart is true: use body_multipart"],
        );
        assert_problems(
            sdo(
                "observed-data",
                json!({"first_observed": T, "last_observed": T, "number_observed": 0}),
            ),
            &[
                "/number_observed: must be an integer from 1 to 999999999",
                "/object_refs: at least one of object_refs or objects is required",
            ],
        );
        assert_problems(
            sdo(
                "indicator",
                json!({"pattern": "[x:y = 1]", "pattern_type": "stix", "valid_from": T, "extensions": {format!("extension-definition--{UUID4}"): {"rank": 5}}}),
            ),
            &[&format!(
                "/extensions/extension-definition--{UUID4}/extension_type: required"
            )],
        );
        assert_problems(
            sdo("extension-definition", json!({"created_by_ref": id("identity"), "name": "x", "schema": "x", "version": "1", "extension_types": ["new-sdo"], "extension_properties": ["rank"]})),
            &["/extension_properties: must be absent unless extension_types includes toplevel-property-extension"],
        );
        assert_problems(
            sco("file", json!({"extensions": {"windows-pebinary-ext": {"pe_type": "exe"}}})),
            &[
                "/extensions/windows-pebinary-ext: besides pe_type, at least one of imphash, machine_hex, number_of_sections, time_date_stamp, pointer_to_symbol_table_hex, number_of_symbols, size_of_optional_header, characteristics_hex, file_header_hashes, optional_header or sections is required",
                "/hashes: at least one of hashes or name is required",
            ],
        );
    }

    #[test]
    fn every_problem_is_reported_with_an_escaped_pointer_and_without_the_value() {
        let secret = "x".repeat(300);
        let object = sdo(
            "threat-actor",
            json!({"confidence": -5, "aliases": [secret.clone(), 7], "first_seen": secret, "hashes_x": {"a/b": "1"}, "lang": "not a tag"}),
        );
        let found = problems(&object);
        assert_eq!(found.len(), 5, "{found:#?}");
        assert!(
            found.iter().all(|p| !p.contains("xxxxxxxxxx")),
            "{found:#?}"
        );
        assert!(found.contains(&"/name: required".to_string()));
        assert!(found.contains(&"/aliases/1: must be a string".to_string()));
        let hashes = sco("file", json!({"name": "a", "hashes": {"a/b~c": "00"}}));
        assert_problems(
            hashes,
            &["/hashes/a~1b~0c: the name must be a hash algorithm name of 3 to 250 characters from a-z, A-Z, 0-9, - and _, e.g. SHA-256"],
        );
    }

    #[test]
    fn a_broken_schema_names_its_file() {
        let head =
            |path: &str| format!("\"$schema\": \"{DRAFT_2020_12}\", \"$id\": \"{BASE}{path}\"");
        let load = |files: &[(&str, &str)]| Schemas::load_files(files).unwrap_err();
        let e = load(&[("sdo/x.json", "{")]);
        assert_eq!(e.file, "sdo/x.json");
        assert!(e.problem.starts_with("not valid JSON"), "{e}");
        let wrong_id = format!("{{\"$schema\": \"{DRAFT_2020_12}\", \"$id\": \"x\"}}");
        let e = load(&[("sdo/x.json", &wrong_id)]);
        assert_eq!(
            e.to_string(),
            format!("schemas/sdo/x.json: $id is x, must be {BASE}sdo/x.json")
        );
        let bad_type = format!("{{{}, \"type\": 5}}", head("sdo/x.json"));
        let e = load(&[("sdo/x.json", &bad_type)]);
        assert!(
            e.problem
                .starts_with("not a valid draft 2020-12 schema at /type"),
            "{e}"
        );
        // A reference to anything that is not embedded fails at start: nothing is fetched.
        let elsewhere = format!(
            "{{{}, \"$ref\": \"https://example.com/s.json\"}}",
            head("sdo/x.json")
        );
        let e = load(&[("sdo/x.json", &elsewhere)]);
        assert_eq!(e.file, "sdo/x.json", "{e}");
        let dangling = format!("{{{}, \"$ref\": \"missing.json\"}}", head("common/a.json"));
        let user = format!("{{{}, \"$ref\": \"../common/a.json\"}}", head("sdo/x.json"));
        let e = load(&[("common/a.json", &dangling), ("sdo/x.json", &user)]);
        assert_eq!(e.file, "common/a.json", "{e}");
        assert!(e.problem.contains("missing.json"), "{e}");
    }

    #[test]
    fn schemas_can_be_shared_between_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Schemas>();
    }
}
