//! The STIX 2.1 rules a JSON Schema cannot express, checked on one object.
//!
//! `check` reports every problem it finds, each with the JSON pointer of the offending value and
//! what would be right. It looks only at values that are present and of the JSON type the spec
//! gives them: a missing required property or a number where a string belongs is the schema's
//! to report. The rules, with the STIX 2.1 clause each comes from:
//!
//! - identifiers (§2.9): `type--UUID`, the prefix equal to the object's `type`, the UUID an
//!   RFC 4122 one (version 1-5, variant bits `10`). The spec says SDOs SHOULD use v4 and SCOs
//!   SHOULD use v5; only RFC 4122 compliance is a MUST, so any version 1-5 is accepted.
//! - timestamps (§2.15): every property the spec types as timestamp, at top level, in the
//!   predefined extensions and in nested types, is `YYYY-MM-DDTHH:mm:ss[.s+]Z`, a valid RFC 3339
//!   date-time in UTC; `created` and `modified` (§3.2) carry at least millisecond precision.
//! - time order: `modified` >= `created` (§3.2); indicator `valid_until` > `valid_from`;
//!   `last_seen` >= `first_seen` on campaign, infrastructure, intrusion-set, malware,
//!   threat-actor and sighting; observed-data `last_observed` >= `first_observed`; relationship
//!   `stop_time` > `start_time`; network-traffic `end` >= `start`.
//! - references (§2.9 and each object's property table): every `*_ref` holds an identifier and
//!   every `*_refs` a list of them, at any depth; where the spec restricts the target, the
//!   identifier's type must be one it allows. Custom types are accepted wherever a category (SDO,
//!   SCO) is required, since a custom object may be of that category. Inside the deprecated
//!   observed-data `objects` container (§4.14), references are keys of that container.
//! - granular markings (§7.2.3): exactly one of `marking_ref` and `lang`; selectors non-empty,
//!   each a `.`-separated path of property names and `[n]` list indexes that resolves to content
//!   present in the object.
//! - property names (§3.1, §11.1): 3-250 characters of a-z, 0-9 and `_`, beginning with a letter
//!   (every property the spec defines fits, except `id`). The `x_` prefix for custom properties
//!   is only a SHOULD, so it is not required.
//! - custom object types (§11.2): 3-250 characters of a-z, 0-9 and `-`, beginning with a letter,
//!   no `--` (the identifier separator). The `x-` prefix is only a SHOULD, so it is not required.
//! - extensions (§7.3): each key of `extensions` is an `extension-definition--<UUID>` id, whose
//!   value then carries `extension_type` from the extension-type enumeration, or the name of a
//!   predefined extension of the object's type (§3.2 words the key rule as a SHOULD and still
//!   tolerates deprecated custom extension names; Cairn refuses other keys, as its issue asks);
//!   an extension-definition's
//!   `extension_properties` needs `toplevel-property-extension` among its `extension_types`.
//! - marking-definitions (§7.2.1, §7.2.2): no self-marking; TLP per `super::tlp`.
//! - course-of-action `action` is reserved (§4.3).

use super::identifier;
use super::problem::{segment, Problem};
use super::timestamp::{has_stix_form, rfc3339_utc, stix_datetime};
use super::tlp;
use super::type_name;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

/// The 19 STIX Domain Object types of STIX 2.1 section 4.
pub const SDO_TYPES: [&str; 19] = [
    "attack-pattern",
    "campaign",
    "course-of-action",
    "grouping",
    "identity",
    "incident",
    "indicator",
    "infrastructure",
    "intrusion-set",
    "location",
    "malware",
    "malware-analysis",
    "note",
    "observed-data",
    "opinion",
    "report",
    "threat-actor",
    "tool",
    "vulnerability",
];

/// The two STIX Relationship Object types of section 5.
pub const SRO_TYPES: [&str; 2] = ["relationship", "sighting"];

/// The 18 STIX Cyber-observable Object types of section 6.
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

/// The meta object types of section 7.
pub const META_TYPES: [&str; 3] = [
    "extension-definition",
    "language-content",
    "marking-definition",
];

/// The predefined extensions of section 6 and the one object type each belongs to.
pub const PREDEFINED_EXTENSIONS: [(&str, &str); 12] = [
    ("archive-ext", "file"),
    ("ntfs-ext", "file"),
    ("pdf-ext", "file"),
    ("raster-image-ext", "file"),
    ("windows-pebinary-ext", "file"),
    ("http-request-ext", "network-traffic"),
    ("icmp-ext", "network-traffic"),
    ("socket-ext", "network-traffic"),
    ("tcp-ext", "network-traffic"),
    ("windows-process-ext", "process"),
    ("windows-service-ext", "process"),
    ("unix-account-ext", "user-account"),
];

/// The extension-type-enum enumeration (section 10, vocabularies).
const EXTENSION_TYPES: [&str; 5] = [
    "new-sdo",
    "new-sco",
    "new-sro",
    "property-extension",
    "toplevel-property-extension",
];

/// Properties whose values are dictionaries: their keys are data, not property names, and
/// nothing inside them is a reference or a timestamp.
const DICTIONARIES: [&str; 12] = [
    "hashes",
    "file_header_hashes",
    "additional_header_fields",
    "environment_variables",
    "ipfix",
    "exif_tags",
    "document_info_dict",
    "options",
    "startup_info",
    "request_header",
    "definition",
    "contents",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sdo,
    Sro,
    Sco,
    Meta,
    Bundle,
    Custom,
}

fn kind(t: &str) -> Kind {
    if SDO_TYPES.contains(&t) {
        Kind::Sdo
    } else if SRO_TYPES.contains(&t) {
        Kind::Sro
    } else if SCO_TYPES.contains(&t) {
        Kind::Sco
    } else if META_TYPES.contains(&t) {
        Kind::Meta
    } else if t == "bundle" {
        Kind::Bundle
    } else {
        Kind::Custom
    }
}

/// Where in an object a map sits, which decides what its properties mean.
#[derive(Debug, Clone, Copy)]
enum Ctx<'a> {
    /// A top-level object (or an SCO in an observed-data container) of this type.
    Top(&'a str),
    /// The body of this predefined extension.
    Ext(&'a str),
    /// The body of an extension defined by an extension-definition.
    ExtDef,
    /// An instance of a nested type: `granular-marking`, `external-reference`,
    /// `kill-chain-phase`, `mime-part`, `registry-value`, `alternate-data-stream`,
    /// `pe-optional-header`, `pe-section`, `x509-v3-extensions`.
    Nested(&'static str),
    /// Inside the value of a custom property: only the `_ref`/`_refs` naming rule applies.
    Custom,
}

/// Which identifiers a reference property may hold.
#[derive(Debug, Clone, Copy)]
enum Allowed {
    Any,
    Types(&'static [&'static str]),
    Sdo,
    Sco,
    SdoOrSco,
    ScoOrSro,
}

impl Allowed {
    fn permits(self, t: &str) -> bool {
        match self {
            // Anything a STIX object can be: a bundle is a container, not an object.
            Allowed::Any => t != "bundle",
            Allowed::Types(ts) => ts.contains(&t),
            Allowed::Sdo => matches!(kind(t), Kind::Sdo | Kind::Custom),
            Allowed::Sco => matches!(kind(t), Kind::Sco | Kind::Custom),
            Allowed::SdoOrSco => matches!(kind(t), Kind::Sdo | Kind::Sco | Kind::Custom),
            Allowed::ScoOrSro => matches!(kind(t), Kind::Sco | Kind::Sro | Kind::Custom),
        }
    }

    fn describe(self) -> String {
        match self {
            Allowed::Any => "an object".into(),
            Allowed::Types(ts) => {
                let list = match ts {
                    [] => String::new(),
                    [one] => (*one).to_string(),
                    [init @ .., last] => format!("{} or {last}", init.join(", ")),
                };
                with_article(&list)
            }
            Allowed::Sdo => "an SDO".into(),
            Allowed::Sco => "an SCO".into(),
            Allowed::SdoOrSco => "an SDO or SCO".into(),
            Allowed::ScoOrSro => "an SCO or SRO".into(),
        }
    }
}

/// `an indicator`, `a user-account`, `an x509-certificate`: the article by the sound of the word.
fn with_article(word: &str) -> String {
    match word.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'x') => format!("an {word}"),
        _ => format!("a {word}"),
    }
}

/// What the spec allows a reference property to point to.
fn allowed(ctx: Ctx<'_>, key: &str) -> Allowed {
    use Allowed::*;
    match (ctx, key) {
        // Common properties (§3.2) and the granular-marking type (§7.2.3).
        (Ctx::Top(_), "created_by_ref") => Types(&["identity"]),
        (Ctx::Top(_), "object_marking_refs") => Types(&["marking-definition"]),
        (Ctx::Nested("granular-marking"), "marking_ref") => Types(&["marking-definition"]),
        // SROs (§5): relationship ends are SDOs or SCOs, never an SRO, bundle, language-content
        // or marking-definition (nor an extension-definition, which is neither).
        (Ctx::Top("relationship"), "source_ref" | "target_ref") => SdoOrSco,
        (Ctx::Top("sighting"), "sighting_of_ref") => Sdo,
        (Ctx::Top("sighting"), "observed_data_refs") => Types(&["observed-data"]),
        (Ctx::Top("sighting"), "where_sighted_refs") => Types(&["identity", "location"]),
        // SDOs (§4).
        (Ctx::Top("observed-data"), "object_refs") => ScoOrSro,
        (Ctx::Top("malware"), "operating_system_refs") => Types(&["software"]),
        (Ctx::Top("malware"), "sample_refs") => Types(&["file", "artifact"]),
        (
            Ctx::Top("malware-analysis"),
            "host_vm_ref" | "operating_system_ref" | "installed_software_refs",
        ) => Types(&["software"]),
        (Ctx::Top("malware-analysis"), "sample_ref") => {
            Types(&["file", "network-traffic", "artifact"])
        }
        (Ctx::Top("malware-analysis"), "analysis_sco_refs") => Sco,
        // SCOs (§6).
        (Ctx::Top("directory"), "contains_refs") => Types(&["file", "directory"]),
        (Ctx::Top("domain-name"), "resolves_to_refs") => {
            Types(&["ipv4-addr", "ipv6-addr", "domain-name"])
        }
        (Ctx::Top("email-addr"), "belongs_to_ref") => Types(&["user-account"]),
        (
            Ctx::Top("email-message"),
            "from_ref" | "sender_ref" | "to_refs" | "cc_refs" | "bcc_refs",
        ) => Types(&["email-addr"]),
        (Ctx::Top("email-message"), "raw_email_ref") => Types(&["artifact"]),
        (Ctx::Nested("mime-part"), "body_raw_ref") => Types(&["artifact", "file"]),
        (Ctx::Top("file"), "parent_directory_ref") => Types(&["directory"]),
        (Ctx::Top("file"), "contains_refs") => Sco,
        (Ctx::Top("file"), "content_ref") => Types(&["artifact"]),
        (Ctx::Ext("archive-ext"), "contains_refs") => Types(&["file", "directory"]),
        (Ctx::Top("ipv4-addr" | "ipv6-addr"), "resolves_to_refs") => Types(&["mac-addr"]),
        (Ctx::Top("ipv4-addr" | "ipv6-addr"), "belongs_to_refs") => Types(&["autonomous-system"]),
        (Ctx::Top("network-traffic"), "src_ref" | "dst_ref") => {
            Types(&["ipv4-addr", "ipv6-addr", "mac-addr", "domain-name"])
        }
        (Ctx::Top("network-traffic"), "src_payload_ref" | "dst_payload_ref") => {
            Types(&["artifact"])
        }
        (Ctx::Top("network-traffic"), "encapsulates_refs" | "encapsulated_by_ref") => {
            Types(&["network-traffic"])
        }
        (Ctx::Ext("http-request-ext"), "message_body_data_ref") => Types(&["artifact"]),
        (Ctx::Top("process"), "opened_connection_refs") => Types(&["network-traffic"]),
        (Ctx::Top("process" | "windows-registry-key"), "creator_user_ref") => {
            Types(&["user-account"])
        }
        (Ctx::Top("process"), "image_ref") => Types(&["file"]),
        (Ctx::Top("process"), "parent_ref" | "child_refs") => Types(&["process"]),
        (Ctx::Ext("windows-service-ext"), "service_dll_refs") => Types(&["file"]),
        // report, note, opinion and grouping object_refs, language-content object_ref, and
        // every custom reference: any identifier.
        _ => Any,
    }
}

/// Whether the spec types this property as a timestamp.
fn is_timestamp(ctx: Ctx<'_>, key: &str) -> bool {
    match ctx {
        Ctx::Top(t) => {
            let own: &[&str] = match t {
                "campaign" | "infrastructure" | "intrusion-set" | "malware" | "threat-actor"
                | "sighting" => &["first_seen", "last_seen"],
                "indicator" => &["valid_from", "valid_until"],
                "malware-analysis" => &["submitted", "analysis_started", "analysis_ended"],
                "observed-data" => &["first_observed", "last_observed"],
                "report" => &["published"],
                "relationship" => &["start_time", "stop_time"],
                "language-content" => &["object_modified"],
                "directory" | "file" => &["ctime", "mtime", "atime"],
                "email-message" => &["date"],
                "network-traffic" => &["start", "end"],
                "process" => &["created_time"],
                "user-account" => &[
                    "account_created",
                    "account_expires",
                    "credential_last_changed",
                    "account_first_login",
                    "account_last_login",
                ],
                "windows-registry-key" => &["modified_time"],
                "x509-certificate" => &["validity_not_before", "validity_not_after"],
                _ => &[],
            };
            own.contains(&key) || (kind(t) != Kind::Sco && matches!(key, "created" | "modified"))
        }
        Ctx::Ext("windows-pebinary-ext") => key == "time_date_stamp",
        Ctx::Nested("x509-v3-extensions") => matches!(
            key,
            "private_key_usage_period_not_before" | "private_key_usage_period_not_after"
        ),
        _ => false,
    }
}

/// The time-order rules: (earlier, later, strictly later).
fn orderings(t: &str) -> Vec<(&'static str, &'static str, bool)> {
    let mut pairs = vec![];
    if kind(t) != Kind::Sco {
        pairs.push(("created", "modified", false));
    }
    match t {
        "indicator" => pairs.push(("valid_from", "valid_until", true)),
        "campaign" | "infrastructure" | "intrusion-set" | "malware" | "threat-actor"
        | "sighting" => pairs.push(("first_seen", "last_seen", false)),
        "observed-data" => pairs.push(("first_observed", "last_observed", false)),
        "relationship" => pairs.push(("start_time", "stop_time", true)),
        "network-traffic" => pairs.push(("start", "end", false)),
        _ => {}
    }
    pairs
}

/// Digits after the seconds of a timestamp that has the STIX form.
fn fraction_digits(s: &str) -> usize {
    s.len().saturating_sub(21)
}

/// A timestamp as STIX writes it, with at least milliseconds when `millis`.
fn render(t: DateTime<Utc>, millis: bool) -> String {
    if millis && t.timestamp_subsec_nanos().is_multiple_of(1_000_000) {
        t.to_rfc3339_opts(SecondsFormat::Millis, true)
    } else {
        t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }
}

/// Splits an identifier into its type and UUID, or says why it is not one (see `identifier`).
pub fn parse_identifier(s: &str) -> Result<(&str, &str), String> {
    identifier::parse(s).map_err(|e| e.message().to_owned())
}

/// Why `key` is not a valid property name (§3.1, §11.1), if it is not.
fn property_name_problem(key: &str) -> Option<String> {
    if let Some(c) = key
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        return Some(format!("'{c}' is not allowed (only a-z, 0-9 and _)"));
    }
    if !key.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Some("it must begin with a letter a-z".into());
    }
    if !(3..=250).contains(&key.len()) {
        return Some(format!(
            "it has {} characters (3 to 250 are allowed)",
            key.len()
        ));
    }
    None
}

/// A valid property name close to `key`, in the custom-property style the spec recommends.
fn suggest_property_name(key: &str) -> Option<String> {
    let mut s: String = key
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !s.starts_with(|c: char| c.is_ascii_lowercase()) || s.len() < 3 {
        s = format!("x_{}", s.trim_start_matches('_'));
    }
    s.truncate(250);
    (s != key && property_name_problem(&s).is_none()).then_some(s)
}

fn ptr(base: &str, key: &str) -> String {
    format!("{base}/{}", segment(key))
}

/// A short description of a JSON value's kind, for messages.
fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Checks the rules a schema cannot express on one STIX object and returns every problem.
pub fn check(obj: &Map<String, Value>) -> Vec<Problem> {
    let mut c = Checker {
        problems: vec![],
        local: None,
    };
    let ty = obj.get("type").and_then(Value::as_str);
    if let Some(t) = ty {
        c.type_name(t);
    }
    if let Some(Value::String(id)) = obj.get("id") {
        c.id(id, ty);
    }
    let t = ty.unwrap_or("");
    c.walk(obj, "", Ctx::Top(t));
    c.ordering(obj, "", t);
    c.granular_markings(obj, t);
    c.specific(obj, t);
    c.problems
}

struct Checker<'a> {
    problems: Vec<Problem>,
    /// The observed-data `objects` container being walked, whose keys references name.
    local: Option<&'a Map<String, Value>>,
}

impl<'a> Checker<'a> {
    fn push(&mut self, pointer: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem::new(pointer, message));
    }

    fn type_name(&mut self, t: &str) {
        if kind(t) == Kind::Bundle {
            self.push(
                "/type",
                "a bundle is not a STIX object: post its objects in an envelope, or the bundle itself as the body",
            );
            return;
        }
        if kind(t) != Kind::Custom {
            return;
        }
        if let Err(why) = type_name::check(t) {
            self.push(
                "/type",
                format!("'{t}' is neither a STIX 2.1 type nor a valid custom type name: {why}"),
            );
        }
    }

    fn id(&mut self, id: &str, ty: Option<&str>) {
        match parse_identifier(id) {
            Err(why) => {
                let expected = match ty {
                    Some(t) => format!("{t}--<UUID>"),
                    None => "<type>--<UUID>".into(),
                };
                self.push(
                    "/id",
                    format!("'{id}' is not an identifier: {why} (expected {expected})"),
                );
            }
            Ok((prefix, uuid)) => {
                if let Some(t) = ty {
                    if prefix != t {
                        self.push(
                            "/id",
                            format!("the prefix '{prefix}' must equal the type '{t}': {t}--{uuid}"),
                        );
                    }
                }
            }
        }
    }

    /// Checks one map's property names, references and timestamps, then what is nested in it.
    fn walk(&mut self, map: &'a Map<String, Value>, base: &str, ctx: Ctx<'a>) {
        for (key, value) in map {
            let p = ptr(base, key);
            let defined_id = key == "id" && matches!(ctx, Ctx::Top(_));
            if !matches!(ctx, Ctx::Custom) && !defined_id {
                if let Some(why) = property_name_problem(key) {
                    let hint = suggest_property_name(key)
                        .map(|s| format!(", e.g. '{s}'"))
                        .unwrap_or_default();
                    self.push(
                        p.clone(),
                        format!("'{key}' is not a valid property name: {why}{hint}"),
                    );
                }
            }
            if key.ends_with("_ref") {
                self.reference(&p, value, allowed(ctx, key));
            } else if key.ends_with("_refs") {
                self.references(&p, value, allowed(ctx, key));
            }
            if is_timestamp(ctx, key) {
                if let Value::String(s) = value {
                    let millis = matches!(ctx, Ctx::Top(t) if kind(t) != Kind::Sco)
                        && matches!(key.as_str(), "created" | "modified");
                    self.timestamp(&p, s, millis);
                }
            }
            if DICTIONARIES.contains(&key.as_str()) {
                continue;
            }
            match (ctx, key.as_str()) {
                (Ctx::Top(t), "extensions") => self.extensions(value, &p, t),
                (Ctx::Top("observed-data"), "objects") if self.local.is_none() => {
                    self.container(value, &p)
                }
                _ => self.descend(value, &p, nested(ctx, key)),
            }
        }
    }

    fn descend(&mut self, value: &'a Value, p: &str, ctx: Ctx<'a>) {
        match value {
            Value::Object(m) => self.walk(m, p, ctx),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.descend(item, &format!("{p}/{i}"), ctx);
                }
            }
            _ => {}
        }
    }

    fn reference(&mut self, p: &str, value: &Value, allowed: Allowed) {
        match value {
            Value::String(s) => self.reference_to(p, s, allowed),
            other => self.push(
                p,
                format!(
                    "must be an identifier (type--UUID), not {}",
                    json_kind(other)
                ),
            ),
        }
    }

    fn references(&mut self, p: &str, value: &Value, allowed: Allowed) {
        match value {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.reference(&format!("{p}/{i}"), item, allowed);
                }
            }
            other => self.push(
                p,
                format!(
                    "must be a list of identifiers (type--UUID), not {}",
                    json_kind(other)
                ),
            ),
        }
    }

    fn reference_to(&mut self, p: &str, s: &str, allowed: Allowed) {
        if let (None, Some(canonical)) = (self.local, tlp::miscased_canonical_id(s)) {
            self.push(
                p,
                format!(
                    "'{s}' spells a canonical TLP id in other letter case: write it exactly as \
                     {canonical}, or consumers that match marking ids exactly will take this \
                     object for unmarked"
                ),
            );
            return;
        }
        let target = match self.local {
            Some(objects) => match objects.get(s) {
                Some(Value::Object(o)) => o.get("type").and_then(Value::as_str).unwrap_or(""),
                _ => {
                    self.push(
                        p,
                        format!("'{s}' is not a key of this observed-data's objects"),
                    );
                    return;
                }
            },
            None => match parse_identifier(s) {
                Ok((t, _)) => t,
                Err(why) => {
                    self.push(p, format!("'{s}' is not an identifier: {why}"));
                    return;
                }
            },
        };
        if !target.is_empty() && !allowed.permits(target) {
            self.push(
                p,
                format!(
                    "must reference {}, not {} ('{s}')",
                    allowed.describe(),
                    with_article(target)
                ),
            );
        }
    }

    fn timestamp(&mut self, p: &str, s: &str, millis: bool) {
        let example = |millis: bool| {
            if millis {
                "2024-01-01T00:00:00.000Z"
            } else {
                "2024-01-01T00:00:00Z"
            }
        };
        match stix_datetime(s) {
            Some(t) => {
                if millis && fraction_digits(s) < 3 {
                    self.push(
                        p,
                        format!(
                            "'{s}' must be precise to at least the millisecond (three digits after the seconds), e.g. {}",
                            render(t, true)
                        ),
                    );
                }
            }
            None if has_stix_form(s) => self.push(
                p,
                format!(
                    "'{s}' is not a valid date and time, e.g. {}",
                    example(millis)
                ),
            ),
            None => {
                let suggestion = rfc3339_utc(s)
                    .map(|t| render(t, millis))
                    .unwrap_or_else(|| example(millis).to_string());
                self.push(
                    p,
                    format!(
                        "'{s}' is not a STIX timestamp: it must be RFC 3339 in UTC ending in Z, e.g. {suggestion}"
                    ),
                );
            }
        }
    }

    fn ordering(&mut self, obj: &Map<String, Value>, base: &str, t: &str) {
        for (earlier, later, strict) in orderings(t) {
            let (Some(Value::String(a)), Some(Value::String(b))) =
                (obj.get(earlier), obj.get(later))
            else {
                continue;
            };
            let (Some(ta), Some(tb)) = (stix_datetime(a), stix_datetime(b)) else {
                continue;
            };
            if strict && tb <= ta {
                self.push(
                    ptr(base, later),
                    format!("must be later than {earlier} ({a})"),
                );
            } else if !strict && tb < ta {
                self.push(
                    ptr(base, later),
                    format!("must not be earlier than {earlier} ({a})"),
                );
            }
        }
    }

    fn extensions(&mut self, value: &'a Value, p: &str, t: &str) {
        let Value::Object(extensions) = value else {
            return;
        };
        for (key, body) in extensions {
            let kp = ptr(p, key);
            if let Some(uuid) = key.strip_prefix("extension-definition--") {
                self.defined_extension(key, uuid, body, kp);
            } else if let Some((name, owner)) = PREDEFINED_EXTENSIONS.iter().find(|(n, _)| n == key)
            {
                if *owner == t {
                    if let Value::Object(m) = body {
                        self.walk(m, &kp, Ctx::Ext(name));
                    }
                } else {
                    self.push(
                        kp,
                        format!(
                            "{name} is a predefined extension of {owner}, not of {}{}",
                            if t.is_empty() { "this object" } else { t },
                            own_extensions_hint(t)
                        ),
                    );
                }
            } else {
                self.push(
                    kp,
                    format!(
                        "'{key}' is not an extension key: use an extension-definition id (extension-definition--<UUID>){}",
                        own_extensions_hint(t)
                    ),
                );
            }
        }
    }

    /// An extension keyed by an extension-definition id: the id, its `extension_type`, and
    /// what it holds.
    fn defined_extension(&mut self, key: &str, uuid: &str, body: &'a Value, kp: String) {
        if let Some(why) = identifier::uuid_problem(uuid) {
            let why = why.message().to_owned();
            self.push(
                kp.clone(),
                format!("'{key}' is not an extension-definition id: '{uuid}' {why}"),
            );
        }
        let Value::Object(m) = body else {
            return;
        };
        match m.get("extension_type") {
            None => self.push(
                kp.clone(),
                format!(
                    "must have extension_type ({}): it is required when the key is an extension-definition id",
                    EXTENSION_TYPES.join(", ")
                ),
            ),
            Some(Value::String(e)) if EXTENSION_TYPES.contains(&e.as_str()) => {}
            Some(other) => self.push(
                ptr(&kp, "extension_type"),
                format!(
                    "must be one of {} (found {other})",
                    EXTENSION_TYPES.join(", ")
                ),
            ),
        }
        self.walk(m, &kp, Ctx::ExtDef);
    }

    /// The deprecated observed-data `objects` container: its SCOs refer to each other by key.
    fn container(&mut self, value: &'a Value, p: &str) {
        let Value::Object(objects) = value else {
            return;
        };
        self.local = Some(objects);
        for (key, sco) in objects {
            if let Value::Object(m) = sco {
                let t = m.get("type").and_then(Value::as_str).unwrap_or("");
                let kp = ptr(p, key);
                self.walk(m, &kp, Ctx::Top(t));
                self.ordering(m, &kp, t);
            }
        }
        self.local = None;
    }

    fn granular_markings(&mut self, obj: &Map<String, Value>, t: &str) {
        let Some(Value::Array(markings)) = obj.get("granular_markings") else {
            return;
        };
        let own_id = obj.get("id").and_then(Value::as_str);
        for (i, marking) in markings.iter().enumerate() {
            let Value::Object(g) = marking else {
                continue;
            };
            let p = format!("/granular_markings/{i}");
            match (g.contains_key("marking_ref"), g.contains_key("lang")) {
                (true, true) => self.push(
                    p.clone(),
                    "must have exactly one of marking_ref and lang, not both",
                ),
                (false, false) => {
                    self.push(p.clone(), "must have exactly one of marking_ref and lang")
                }
                _ => {}
            }
            if t == "marking-definition" {
                if let (Some(Value::String(r)), Some(id)) = (g.get("marking_ref"), own_id) {
                    if r == id {
                        self.push(
                            format!("{p}/marking_ref"),
                            format!("a marking-definition must not mark itself ({id})"),
                        );
                    }
                }
            }
            let Some(Value::Array(selectors)) = g.get("selectors") else {
                continue;
            };
            if selectors.is_empty() {
                self.push(format!("{p}/selectors"), "must list at least one selector");
            }
            for (j, selector) in selectors.iter().enumerate() {
                if let Value::String(s) = selector {
                    if let Err(why) = resolve_selector(obj, s) {
                        self.push(format!("{p}/selectors/{j}"), format!("'{s}' {why}"));
                    }
                }
            }
        }
    }

    /// Rules that belong to one object type.
    fn specific(&mut self, obj: &Map<String, Value>, t: &str) {
        match t {
            "observed-data" => self.observed_data_refs(obj),
            "extension-definition" => {
                self.extension_properties(obj);
                self.problems.extend(tlp::check_canonical(obj));
            }
            "course-of-action" if obj.contains_key("action") => {
                self.push(
                    "/action",
                    "is reserved by STIX 2.1 for future use and must not be present",
                );
            }
            "marking-definition" => {
                self.self_marking(obj);
                self.problems.extend(tlp::check_marking_definition(obj));
            }
            _ => {}
        }
    }

    /// observed-data's `object_refs` name at least one SCO.
    fn observed_data_refs(&mut self, obj: &Map<String, Value>) {
        let Some(Value::Array(refs)) = obj.get("object_refs") else {
            return;
        };
        let types: Vec<&str> = refs
            .iter()
            .filter_map(Value::as_str)
            .filter_map(|r| parse_identifier(r).ok())
            .map(|(t, _)| t)
            .collect();
        if !types.is_empty()
            && types.len() == refs.len()
            && !types
                .iter()
                .any(|t| matches!(kind(t), Kind::Sco | Kind::Custom))
        {
            self.push("/object_refs", "must reference at least one SCO");
        }
    }

    /// An extension definition's `extension_properties` only with a toplevel extension.
    fn extension_properties(&mut self, obj: &Map<String, Value>) {
        if !obj.contains_key("extension_properties") {
            return;
        }
        let toplevel = obj
            .get("extension_types")
            .and_then(Value::as_array)
            .is_some_and(|ts| {
                ts.iter()
                    .any(|e| e.as_str() == Some("toplevel-property-extension"))
            });
        if !toplevel {
            self.push(
                "/extension_properties",
                "may be used only when extension_types includes toplevel-property-extension",
            );
        }
    }

    /// A marking definition that marks itself.
    fn self_marking(&mut self, obj: &Map<String, Value>) {
        let (Some(Value::Array(refs)), Some(id)) = (
            obj.get("object_marking_refs"),
            obj.get("id").and_then(Value::as_str),
        ) else {
            return;
        };
        for (i, r) in refs.iter().enumerate() {
            if r.as_str() == Some(id) {
                self.push(
                    format!("/object_marking_refs/{i}"),
                    format!("a marking-definition must not mark itself ({id})"),
                );
            }
        }
    }
}

/// The context of what is nested under `key` in a map of context `ctx`.
fn nested<'a>(ctx: Ctx<'a>, key: &str) -> Ctx<'a> {
    match (ctx, key) {
        (Ctx::Top(_), "granular_markings") => Ctx::Nested("granular-marking"),
        (Ctx::Top(_), "external_references") => Ctx::Nested("external-reference"),
        (Ctx::Top(_), "kill_chain_phases") => Ctx::Nested("kill-chain-phase"),
        (Ctx::Top("email-message"), "body_multipart") => Ctx::Nested("mime-part"),
        (Ctx::Top("windows-registry-key"), "values") => Ctx::Nested("registry-value"),
        (Ctx::Top("x509-certificate"), "x509_v3_extensions") => Ctx::Nested("x509-v3-extensions"),
        (Ctx::Ext("ntfs-ext"), "alternate_data_streams") => Ctx::Nested("alternate-data-stream"),
        (Ctx::Ext("windows-pebinary-ext"), "optional_header") => Ctx::Nested("pe-optional-header"),
        (Ctx::Ext("windows-pebinary-ext"), "sections") => Ctx::Nested("pe-section"),
        _ => Ctx::Custom,
    }
}

/// `; or a predefined extension of <type>: a, b` when the type has predefined extensions.
fn own_extensions_hint(t: &str) -> String {
    let own: Vec<&str> = PREDEFINED_EXTENSIONS
        .iter()
        .filter(|(_, owner)| *owner == t)
        .map(|(name, _)| *name)
        .collect();
    if own.is_empty() {
        String::new()
    } else {
        format!(" or a predefined extension of {t}: {}", own.join(", "))
    }
}

/// Resolves a granular-marking selector (§7.2.3.1) in `root`: components separated by `.`, each
/// a property name or a zero-based list index in brackets. Says why it does not resolve.
const SELECTOR_SYNTAX: &str =
    "a selector is property names and list indexes such as [0] separated by '.'";

/// Where a selector has reached: the object itself, or a value inside it.
#[derive(Clone, Copy)]
enum Here<'v> {
    Object(&'v Map<String, Value>),
    Other(&'v Value),
}

fn resolve_selector(root: &Map<String, Value>, selector: &str) -> Result<(), String> {
    if selector.is_empty() {
        return Err(format!("is empty: {SELECTOR_SYNTAX}"));
    }
    let mut here = Here::Object(root);
    let mut path = String::new();
    for component in selector.split('.') {
        let place = if path.is_empty() {
            "the object".to_string()
        } else {
            path.clone()
        };
        if component.is_empty() {
            return Err(format!("has an empty component: {SELECTOR_SYNTAX}"));
        }
        here = Here::Other(match component.strip_prefix('[') {
            Some(inner) => list_item(here, component, inner, &place)?,
            None => property(here, component, &place)?,
        });
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(component);
    }
    Ok(())
}

/// The item `[inner` names in the list reached so far.
fn list_item<'v>(
    here: Here<'v>,
    component: &str,
    inner: &str,
    place: &str,
) -> Result<&'v Value, String> {
    let index = inner
        .strip_suffix(']')
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse::<usize>().ok());
    let Some(index) = index else {
        return Err(format!(
            "has '{component}', which is neither a property name nor a list index: {SELECTOR_SYNTAX}"
        ));
    };
    match here {
        Here::Other(Value::Array(items)) => items.get(index).ok_or_else(|| {
            format!(
                "does not resolve: {place} has no item [{index}] (it has {})",
                items.len()
            )
        }),
        _ => Err(format!("does not resolve: {place} is not a list")),
    }
}

/// The property `component` of the object reached so far.
fn property<'v>(here: Here<'v>, component: &str, place: &str) -> Result<&'v Value, String> {
    let map = match here {
        Here::Object(m) => m,
        Here::Other(Value::Object(m)) => m,
        _ => return Err(format!("does not resolve: {place} is not an object")),
    };
    map.get(component)
        .ok_or_else(|| format!("does not resolve: {place} has no property '{component}'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "6f3e8f40-2d8e-4b5c-9a4f-0e1c2d3b4a59";
    const IDENTITY: &str = "identity--b3bca3c2-1f3d-4b54-b44f-dac42c3a8f01";
    const MARKING: &str = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da";
    const FILE: &str = "file--5e57c739-391a-4eb3-b6be-7d15ca92d5ed";
    const ARTIFACT: &str = "artifact--613f2e26-407d-48c7-9eca-b8e91df99dc9";
    const INDICATOR: &str = "indicator--f88d31f6-486f-44da-b317-01333bde0b82";
    const IPV4: &str = "ipv4-addr--94868c89-83c2-464b-929b-a1a8aa3c8487";
    const SOFTWARE: &str = "software--bab4a63c-aed9-4cf5-a766-dfca5abac2bb";

    fn obj(json: &str) -> Map<String, Value> {
        match serde_json::from_str(json).unwrap() {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    /// `base` with `patch`'s properties set (a null removes one).
    fn with(base: &str, patch: &str) -> Map<String, Value> {
        let mut o = obj(base);
        for (k, v) in obj(patch) {
            if v.is_null() {
                o.remove(&k);
            } else {
                o.insert(k, v);
            }
        }
        o
    }

    fn problems(o: &Map<String, Value>) -> Vec<String> {
        check(o).iter().map(|p| p.to_string()).collect()
    }

    fn sorted(mut v: Vec<String>) -> Vec<String> {
        v.sort();
        v
    }

    const NONE: [&str; 0] = [];

    fn indicator() -> String {
        format!(
            r#"{{"type":"indicator","spec_version":"2.1","id":"indicator--{UUID}","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-02T00:00:00.000Z","pattern":"[ipv4-addr:value = '198.51.100.1']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z","created_by_ref":"{IDENTITY}","object_marking_refs":["{MARKING}"]}}"#
        )
    }

    fn sdo(t: &str, extra: &str) -> Map<String, Value> {
        with(
            &format!(
                r#"{{"type":"{t}","spec_version":"2.1","id":"{t}--{UUID}","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z"}}"#
            ),
            extra,
        )
    }

    fn sco(t: &str, extra: &str) -> Map<String, Value> {
        with(&format!(r#"{{"type":"{t}","id":"{t}--{UUID}"}}"#), extra)
    }

    // ---- identifiers and types ----

    #[test]
    fn a_valid_indicator_passes() {
        assert_eq!(problems(&obj(&indicator())), NONE);
    }

    #[test]
    fn a_valid_sco_passes() {
        assert_eq!(
            problems(&sco("ipv4-addr", r#"{"value":"198.51.100.1"}"#)),
            NONE
        );
    }

    #[test]
    fn id_prefix_must_equal_the_type() {
        let o = with(&indicator(), &format!(r#"{{"id":"malware--{UUID}"}}"#));
        assert_eq!(
            problems(&o),
            [format!(
                "/id: the prefix 'malware' must equal the type 'indicator': indicator--{UUID}"
            )]
        );
    }

    #[test]
    fn id_must_be_an_identifier() {
        let o = with(&indicator(), r#"{"id":"indicator-1"}"#);
        assert_eq!(
            problems(&o),
            ["/id: 'indicator-1' is not an identifier: an identifier is <type>--<UUID> (expected indicator--<UUID>)"]
        );
    }

    #[test]
    fn id_uuid_must_be_hexadecimal_8_4_4_4_12() {
        let o = with(
            &indicator(),
            r#"{"id":"indicator--6f3e8f40-2d8e-4b5c-9a4f-0e1c2d3b4a5z"}"#,
        );
        assert_eq!(
            problems(&o),
            ["/id: 'indicator--6f3e8f40-2d8e-4b5c-9a4f-0e1c2d3b4a5z' is not an identifier: '6f3e8f40-2d8e-4b5c-9a4f-0e1c2d3b4a5z' is not a UUID (8-4-4-4-12 hexadecimal digits) (expected indicator--<UUID>)"]
        );
        let short = with(
            &indicator(),
            r#"{"id":"indicator--6f3e8f402d8e4b5c9a4f0e1c2d3b4a59"}"#,
        );
        assert_eq!(check(&short).len(), 1);
    }

    #[test]
    fn id_uuid_must_have_an_rfc4122_version() {
        let o = with(
            &indicator(),
            r#"{"id":"indicator--6f3e8f40-2d8e-0b5c-9a4f-0e1c2d3b4a59"}"#,
        );
        assert_eq!(
            problems(&o),
            ["/id: 'indicator--6f3e8f40-2d8e-0b5c-9a4f-0e1c2d3b4a59' is not an identifier: '6f3e8f40-2d8e-0b5c-9a4f-0e1c2d3b4a59' has version 0: an RFC 4122 UUID has version 1 to 5 (the first digit of the third group) (expected indicator--<UUID>)"]
        );
    }

    #[test]
    fn id_uuid_must_have_the_rfc4122_variant() {
        let o = with(
            &indicator(),
            r#"{"id":"indicator--6f3e8f40-2d8e-4b5c-ca4f-0e1c2d3b4a59"}"#,
        );
        assert_eq!(
            problems(&o),
            ["/id: 'indicator--6f3e8f40-2d8e-4b5c-ca4f-0e1c2d3b4a59' is not an identifier: '6f3e8f40-2d8e-4b5c-ca4f-0e1c2d3b4a59' is not of the RFC 4122 variant: the first digit of the fourth group must be 8, 9, a or b, not c (expected indicator--<UUID>)"]
        );
    }

    #[test]
    fn any_rfc4122_version_is_accepted() {
        for v in ['1', '3', '4', '5'] {
            let id = format!("indicator--6f3e8f40-2d8e-{v}b5c-ba4f-0e1c2d3b4a59");
            let o = with(&indicator(), &format!(r#"{{"id":"{id}"}}"#));
            assert_eq!(problems(&o), NONE, "{id}");
        }
        let upper = with(
            &indicator(),
            r#"{"id":"indicator--6F3E8F40-2D8E-4B5C-9A4F-0E1C2D3B4A59"}"#,
        );
        assert_eq!(problems(&upper), NONE);
    }

    #[test]
    fn a_valid_custom_object_type_passes() {
        let o = sdo("x-acme-widget", r#"{"x_acme_size":3}"#);
        assert_eq!(problems(&o), NONE);
        let without_prefix = sdo("acme-widget", "{}");
        assert_eq!(problems(&without_prefix), NONE, "x- is only a SHOULD");
    }

    #[test]
    fn custom_type_names_follow_the_naming_rule() {
        let upper = with(r#"{"type":"X-Acme"}"#, "{}");
        assert_eq!(
            problems(&upper),
            ["/type: 'X-Acme' is neither a STIX 2.1 type nor a valid custom type name: 'X' is not allowed (only a-z, 0-9 and -)"]
        );
        let short = obj(r#"{"type":"ab"}"#);
        assert_eq!(
            problems(&short),
            ["/type: 'ab' is neither a STIX 2.1 type nor a valid custom type name: it has 2 characters (3 to 250 are allowed)"]
        );
        let digit = obj(r#"{"type":"1-acme"}"#);
        assert_eq!(
            problems(&digit),
            ["/type: '1-acme' is neither a STIX 2.1 type nor a valid custom type name: it must begin with a letter a-z"]
        );
        let underscore = obj(r#"{"type":"x_acme"}"#);
        assert_eq!(check(&underscore).len(), 1);
        let name = format!("x{}", "a".repeat(250));
        let long = obj(&format!(r#"{{"type":"{name}"}}"#));
        assert_eq!(
            problems(&long),
            [format!("/type: '{name}' is neither a STIX 2.1 type nor a valid custom type name: it has 251 characters (3 to 250 are allowed)")]
        );
    }

    #[test]
    fn custom_type_names_must_not_contain_a_double_hyphen() {
        let o = obj(&format!(r#"{{"type":"x--acme","id":"x--acme--{UUID}"}}"#));
        let got = problems(&o);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0], "/type: 'x--acme' is neither a STIX 2.1 type nor a valid custom type name: it must not contain '--', which separates the type from the UUID in an identifier");
        assert!(got[1].starts_with("/id: 'x--acme--"), "{got:?}");
    }

    // ---- timestamps ----

    #[test]
    fn a_timestamp_with_an_offset_is_refused_with_its_utc_form() {
        let o = with(
            &indicator(),
            r#"{"valid_from":"2024-01-01T01:00:00+01:00"}"#,
        );
        assert_eq!(
            problems(&o),
            ["/valid_from: '2024-01-01T01:00:00+01:00' is not a STIX timestamp: it must be RFC 3339 in UTC ending in Z, e.g. 2024-01-01T00:00:00Z"]
        );
    }

    #[test]
    fn timestamps_need_capital_t_and_z() {
        let o = with(&indicator(), r#"{"valid_from":"2024-01-01t00:00:00z"}"#);
        assert_eq!(
            problems(&o),
            ["/valid_from: '2024-01-01t00:00:00z' is not a STIX timestamp: it must be RFC 3339 in UTC ending in Z, e.g. 2024-01-01T00:00:00Z"]
        );
        let spaced = with(&indicator(), r#"{"valid_from":"2024-01-01 00:00:00Z"}"#);
        assert_eq!(check(&spaced).len(), 1);
    }

    #[test]
    fn an_impossible_date_is_refused() {
        let o = with(&indicator(), r#"{"valid_from":"2024-02-30T00:00:00Z"}"#);
        assert_eq!(
            problems(&o),
            ["/valid_from: '2024-02-30T00:00:00Z' is not a valid date and time, e.g. 2024-01-01T00:00:00Z"]
        );
    }

    #[test]
    fn a_decimal_point_needs_digits() {
        let o = with(&indicator(), r#"{"valid_from":"2024-01-01T00:00:00.Z"}"#);
        assert_eq!(
            problems(&o),
            ["/valid_from: '2024-01-01T00:00:00.Z' is not a STIX timestamp: it must be RFC 3339 in UTC ending in Z, e.g. 2024-01-01T00:00:00Z"]
        );
        let garbage = with(&indicator(), r#"{"valid_from":"yesterday"}"#);
        assert_eq!(
            problems(&garbage),
            ["/valid_from: 'yesterday' is not a STIX timestamp: it must be RFC 3339 in UTC ending in Z, e.g. 2024-01-01T00:00:00Z"]
        );
    }

    #[test]
    fn created_and_modified_need_millisecond_precision() {
        let o = with(
            &indicator(),
            r#"{"created":"2024-01-01T00:00:00Z","modified":"2024-01-02T00:00:00.5Z"}"#,
        );
        assert_eq!(
            problems(&o),
            [
                "/created: '2024-01-01T00:00:00Z' must be precise to at least the millisecond (three digits after the seconds), e.g. 2024-01-01T00:00:00.000Z",
                "/modified: '2024-01-02T00:00:00.5Z' must be precise to at least the millisecond (three digits after the seconds), e.g. 2024-01-02T00:00:00.500Z",
            ]
        );
        let micro = with(
            &indicator(),
            r#"{"created":"2024-01-01T00:00:00.123456Z","modified":"2024-01-01T00:00:00.123456789Z"}"#,
        );
        assert_eq!(problems(&micro), NONE);
    }

    #[test]
    fn a_wrong_created_suggests_millisecond_form() {
        let o = with(&indicator(), r#"{"created":"2024-01-01T00:00:00+00:00"}"#);
        assert_eq!(
            problems(&o),
            ["/created: '2024-01-01T00:00:00+00:00' is not a STIX timestamp: it must be RFC 3339 in UTC ending in Z, e.g. 2024-01-01T00:00:00.000Z"]
        );
    }

    #[test]
    fn sco_timestamps_are_checked() {
        let o = sco(
            "file",
            r#"{"name":"a.exe","ctime":"2024-01-01T00:00:00Z","mtime":"2024-01-01","atime":"2024-01-01T00:00:00Z"}"#,
        );
        assert_eq!(
            problems(&o),
            ["/mtime: '2024-01-01' is not a STIX timestamp: it must be RFC 3339 in UTC ending in Z, e.g. 2024-01-01T00:00:00Z"]
        );
        let account = sco(
            "user-account",
            r#"{"account_last_login":"2024-13-01T00:00:00Z"}"#,
        );
        assert_eq!(check(&account).len(), 1);
    }

    #[test]
    fn sco_created_is_not_a_common_property() {
        // SCOs have no created/modified; such a property is custom and not a timestamp.
        let o = sco("mutex", r#"{"name":"m","x_created":"soon"}"#);
        assert_eq!(problems(&o), NONE);
    }

    #[test]
    fn timestamps_in_extensions_and_nested_types_are_checked() {
        let pe = sco(
            "file",
            r#"{"name":"a.exe","extensions":{"windows-pebinary-ext":{"pe_type":"exe","time_date_stamp":"2024-01-01T00:00:00+02:00"}}}"#,
        );
        assert_eq!(
            problems(&pe),
            ["/extensions/windows-pebinary-ext/time_date_stamp: '2024-01-01T00:00:00+02:00' is not a STIX timestamp: it must be RFC 3339 in UTC ending in Z, e.g. 2023-12-31T22:00:00Z"]
        );
        let cert = sco(
            "x509-certificate",
            r#"{"x509_v3_extensions":{"private_key_usage_period_not_after":"2025-01-01"}}"#,
        );
        assert_eq!(
            problems(&cert),
            ["/x509_v3_extensions/private_key_usage_period_not_after: '2025-01-01' is not a STIX timestamp: it must be RFC 3339 in UTC ending in Z, e.g. 2024-01-01T00:00:00Z"]
        );
    }

    // ---- time order ----

    #[test]
    fn modified_must_not_be_earlier_than_created() {
        let o = with(&indicator(), r#"{"modified":"2023-12-31T23:59:59.999Z"}"#);
        assert_eq!(
            problems(&o),
            ["/modified: must not be earlier than created (2024-01-01T00:00:00.000Z)"]
        );
        let same = with(&indicator(), r#"{"modified":"2024-01-01T00:00:00.000Z"}"#);
        assert_eq!(problems(&same), NONE);
    }

    #[test]
    fn valid_until_must_be_later_than_valid_from() {
        let equal = with(&indicator(), r#"{"valid_until":"2024-01-01T00:00:00Z"}"#);
        assert_eq!(
            problems(&equal),
            ["/valid_until: must be later than valid_from (2024-01-01T00:00:00Z)"]
        );
        let before = with(&indicator(), r#"{"valid_until":"2023-06-01T00:00:00Z"}"#);
        assert_eq!(
            problems(&before),
            ["/valid_until: must be later than valid_from (2024-01-01T00:00:00Z)"]
        );
        let after = with(
            &indicator(),
            r#"{"valid_until":"2024-01-01T00:00:00.001Z"}"#,
        );
        assert_eq!(problems(&after), NONE);
    }

    #[test]
    fn ordering_compares_instants_not_text() {
        // Same instant, different precision: equal, so not later.
        let o = with(
            &indicator(),
            r#"{"valid_until":"2024-01-01T00:00:00.000000Z"}"#,
        );
        assert_eq!(
            problems(&o),
            ["/valid_until: must be later than valid_from (2024-01-01T00:00:00Z)"]
        );
    }

    #[test]
    fn last_seen_must_not_be_earlier_than_first_seen() {
        for t in [
            "campaign",
            "infrastructure",
            "intrusion-set",
            "malware",
            "threat-actor",
        ] {
            let o = sdo(
                t,
                r#"{"first_seen":"2024-02-01T00:00:00Z","last_seen":"2024-01-01T00:00:00Z"}"#,
            );
            assert_eq!(
                problems(&o),
                ["/last_seen: must not be earlier than first_seen (2024-02-01T00:00:00Z)"],
                "{t}"
            );
            let same = sdo(
                t,
                r#"{"first_seen":"2024-02-01T00:00:00Z","last_seen":"2024-02-01T00:00:00Z"}"#,
            );
            assert_eq!(problems(&same), NONE, "{t}");
        }
    }

    #[test]
    fn sighting_last_seen_must_not_be_earlier_than_first_seen() {
        let o = sdo(
            "sighting",
            &format!(
                r#"{{"sighting_of_ref":"{INDICATOR}","first_seen":"2024-02-01T00:00:00Z","last_seen":"2024-01-31T23:59:59Z"}}"#
            ),
        );
        assert_eq!(
            problems(&o),
            ["/last_seen: must not be earlier than first_seen (2024-02-01T00:00:00Z)"]
        );
    }

    #[test]
    fn last_observed_must_not_be_earlier_than_first_observed() {
        let o = sdo(
            "observed-data",
            &format!(
                r#"{{"first_observed":"2024-02-01T00:00:00Z","last_observed":"2024-01-01T00:00:00Z","number_observed":1,"object_refs":["{IPV4}"]}}"#
            ),
        );
        assert_eq!(
            problems(&o),
            ["/last_observed: must not be earlier than first_observed (2024-02-01T00:00:00Z)"]
        );
    }

    #[test]
    fn stop_time_must_be_later_than_start_time() {
        let o = sdo(
            "relationship",
            &format!(
                r#"{{"relationship_type":"indicates","source_ref":"{INDICATOR}","target_ref":"malware--{UUID}","start_time":"2024-01-01T00:00:00Z","stop_time":"2024-01-01T00:00:00Z"}}"#
            ),
        );
        assert_eq!(
            problems(&o),
            ["/stop_time: must be later than start_time (2024-01-01T00:00:00Z)"]
        );
    }

    #[test]
    fn network_traffic_end_must_not_be_earlier_than_start() {
        let o = sco(
            "network-traffic",
            &format!(
                r#"{{"protocols":["tcp"],"src_ref":"{IPV4}","start":"2024-01-01T00:00:01Z","end":"2024-01-01T00:00:00Z"}}"#
            ),
        );
        assert_eq!(
            problems(&o),
            ["/end: must not be earlier than start (2024-01-01T00:00:01Z)"]
        );
    }

    #[test]
    fn malware_analysis_times_are_checked_but_not_ordered() {
        // The spec states no order between analysis_started and analysis_ended.
        let o = sdo(
            "malware-analysis",
            r#"{"product":"acme","result":"malicious","analysis_started":"2024-01-02T00:00:00Z","analysis_ended":"2024-01-01T00:00:00Z","submitted":"2024-01-01"}"#,
        );
        assert_eq!(
            problems(&o),
            ["/submitted: '2024-01-01' is not a STIX timestamp: it must be RFC 3339 in UTC ending in Z, e.g. 2024-01-01T00:00:00Z"]
        );
    }

    // ---- references ----

    #[test]
    fn created_by_ref_must_reference_an_identity() {
        let o = with(
            &indicator(),
            &format!(r#"{{"created_by_ref":"{INDICATOR}"}}"#),
        );
        assert_eq!(
            problems(&o),
            [format!(
                "/created_by_ref: must reference an identity, not an indicator ('{INDICATOR}')"
            )]
        );
    }

    #[test]
    fn a_reference_must_be_an_identifier() {
        let o = with(&indicator(), r#"{"created_by_ref":"ACME"}"#);
        assert_eq!(
            problems(&o),
            ["/created_by_ref: 'ACME' is not an identifier: an identifier is <type>--<UUID>"]
        );
        let number = with(&indicator(), r#"{"created_by_ref":7}"#);
        assert_eq!(
            problems(&number),
            ["/created_by_ref: must be an identifier (type--UUID), not a number"]
        );
    }

    #[test]
    fn object_marking_refs_must_reference_marking_definitions() {
        let o = with(
            &indicator(),
            &format!(r#"{{"object_marking_refs":["{MARKING}","{IDENTITY}"]}}"#),
        );
        assert_eq!(
            problems(&o),
            [format!(
                "/object_marking_refs/1: must reference a marking-definition, not an identity ('{IDENTITY}')"
            )]
        );
        let not_a_list = with(
            &indicator(),
            &format!(r#"{{"object_marking_refs":"{MARKING}"}}"#),
        );
        assert_eq!(
            problems(&not_a_list),
            ["/object_marking_refs: must be a list of identifiers (type--UUID), not a string"]
        );
    }

    #[test]
    fn a_canonical_tlp_id_in_other_letter_case_is_refused_wherever_it_is_referenced() {
        let red = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1";
        let upper = red.replace("e828b379", "E828B379");
        let o = with(
            &indicator(),
            &format!(
                r#"{{"object_marking_refs":["{upper}"],"granular_markings":[{{"marking_ref":"{upper}","selectors":["pattern"]}}]}}"#
            ),
        );
        let why = format!(
            "'{upper}' spells a canonical TLP id in other letter case: write it exactly as {red}, \
             or consumers that match marking ids exactly will take this object for unmarked"
        );
        assert_eq!(
            sorted(problems(&o)),
            [
                format!("/granular_markings/0/marking_ref: {why}"),
                format!("/object_marking_refs/0: {why}")
            ]
        );
        // Any other id with upper-case hex digits is still an identifier.
        let other = with(
            &indicator(),
            r#"{"object_marking_refs":["marking-definition--E828B379-4E03-4974-9AC4-E53A884C97C2"]}"#,
        );
        assert!(problems(&other).is_empty(), "{:?}", problems(&other));
    }

    fn relationship(source: &str, target: &str) -> Map<String, Value> {
        sdo(
            "relationship",
            &format!(
                r#"{{"relationship_type":"related-to","source_ref":"{source}","target_ref":"{target}"}}"#
            ),
        )
    }

    #[test]
    fn relationship_ends_are_sdos_or_scos() {
        assert_eq!(problems(&relationship(INDICATOR, IPV4)), NONE);
        assert_eq!(
            problems(&relationship(INDICATOR, &format!("x-acme-widget--{UUID}"))),
            NONE
        );
        let rel = format!("relationship--{UUID}");
        assert_eq!(
            problems(&relationship(&rel, INDICATOR)),
            [format!(
                "/source_ref: must reference an SDO or SCO, not a relationship ('{rel}')"
            )]
        );
        for t in [
            "sighting",
            "marking-definition",
            "language-content",
            "extension-definition",
            "bundle",
        ] {
            let target = format!("{t}--{UUID}");
            assert_eq!(
                problems(&relationship(INDICATOR, &target)),
                [format!(
                    "/target_ref: must reference an SDO or SCO, not {} ('{target}')",
                    with_article(t)
                )]
            );
        }
    }

    #[test]
    fn sighting_refs_have_their_types() {
        let o = sdo(
            "sighting",
            &format!(
                r#"{{"sighting_of_ref":"{FILE}","observed_data_refs":["{INDICATOR}"],"where_sighted_refs":["{IDENTITY}","location--{UUID}","{FILE}"]}}"#
            ),
        );
        assert_eq!(
            problems(&o),
            [
                format!("/observed_data_refs/0: must reference an observed-data, not an indicator ('{INDICATOR}')"),
                format!("/sighting_of_ref: must reference an SDO, not a file ('{FILE}')"),
                format!("/where_sighted_refs/2: must reference an identity or location, not a file ('{FILE}')"),
            ]
        );
        let custom = sdo(
            "sighting",
            &format!(r#"{{"sighting_of_ref":"x-acme-widget--{UUID}"}}"#),
        );
        assert_eq!(problems(&custom), NONE);
    }

    #[test]
    fn malware_refs_have_their_types() {
        let o = sdo(
            "malware",
            &format!(
                r#"{{"is_family":false,"sample_refs":["{FILE}","{ARTIFACT}","{IPV4}"],"operating_system_refs":["{SOFTWARE}","{FILE}"]}}"#
            ),
        );
        assert_eq!(
            problems(&o),
            [
                format!("/operating_system_refs/1: must reference a software, not a file ('{FILE}')"),
                format!("/sample_refs/2: must reference a file or artifact, not an ipv4-addr ('{IPV4}')"),
            ]
        );
    }

    #[test]
    fn malware_analysis_refs_have_their_types() {
        let o = sdo(
            "malware-analysis",
            &format!(
                r#"{{"product":"acme","result":"malicious","sample_ref":"network-traffic--{UUID}","host_vm_ref":"{FILE}","operating_system_ref":"{SOFTWARE}","installed_software_refs":["{SOFTWARE}"],"analysis_sco_refs":["{IPV4}","{INDICATOR}"]}}"#
            ),
        );
        assert_eq!(
            problems(&o),
            [
                format!(
                    "/analysis_sco_refs/1: must reference an SCO, not an indicator ('{INDICATOR}')"
                ),
                format!("/host_vm_ref: must reference a software, not a file ('{FILE}')"),
            ]
        );
    }

    #[test]
    fn email_message_refs_have_their_types() {
        let addr = format!("email-addr--{UUID}");
        let o = sco(
            "email-message",
            &format!(
                r#"{{"is_multipart":true,"from_ref":"{addr}","to_refs":["{addr}","{IPV4}"],"raw_email_ref":"{FILE}","body_multipart":[{{"body":"hi"}},{{"body_raw_ref":"{ARTIFACT}"}},{{"body_raw_ref":"{IPV4}"}}]}}"#
            ),
        );
        assert_eq!(
            problems(&o),
            [
                format!("/body_multipart/2/body_raw_ref: must reference an artifact or file, not an ipv4-addr ('{IPV4}')"),
                format!("/raw_email_ref: must reference an artifact, not a file ('{FILE}')"),
                format!("/to_refs/1: must reference an email-addr, not an ipv4-addr ('{IPV4}')"),
            ]
        );
    }

    #[test]
    fn network_traffic_refs_have_their_types() {
        let o = sco(
            "network-traffic",
            &format!(
                r#"{{"protocols":["tcp"],"src_ref":"{IPV4}","dst_ref":"{FILE}","src_payload_ref":"{ARTIFACT}","encapsulated_by_ref":"{IPV4}"}}"#
            ),
        );
        assert_eq!(
            problems(&o),
            [
                format!("/dst_ref: must reference an ipv4-addr, ipv6-addr, mac-addr or domain-name, not a file ('{FILE}')"),
                format!("/encapsulated_by_ref: must reference a network-traffic, not an ipv4-addr ('{IPV4}')"),
            ]
        );
    }

    #[test]
    fn process_refs_have_their_types() {
        let o = sco(
            "process",
            &format!(
                r#"{{"pid":4,"image_ref":"{ARTIFACT}","parent_ref":"process--{UUID}","child_refs":["{FILE}"],"creator_user_ref":"user-account--{UUID}","opened_connection_refs":["network-traffic--{UUID}"]}}"#
            ),
        );
        assert_eq!(
            problems(&o),
            [
                format!("/child_refs/0: must reference a process, not a file ('{FILE}')"),
                format!("/image_ref: must reference a file, not an artifact ('{ARTIFACT}')"),
            ]
        );
    }

    #[test]
    fn scos_resolving_and_containing_refs_have_their_types() {
        let domain = sco(
            "domain-name",
            &format!(
                r#"{{"value":"example.com","resolves_to_refs":["{IPV4}","domain-name--{UUID}","{FILE}"]}}"#
            ),
        );
        assert_eq!(
            problems(&domain),
            [format!("/resolves_to_refs/2: must reference an ipv4-addr, ipv6-addr or domain-name, not a file ('{FILE}')")]
        );
        let ip = sco(
            "ipv4-addr",
            &format!(
                r#"{{"value":"198.51.100.1","resolves_to_refs":["mac-addr--{UUID}"],"belongs_to_refs":["{IPV4}"]}}"#
            ),
        );
        assert_eq!(
            problems(&ip),
            [format!("/belongs_to_refs/0: must reference an autonomous-system, not an ipv4-addr ('{IPV4}')")]
        );
        let dir = sco(
            "directory",
            &format!(r#"{{"path":"/tmp","contains_refs":["{FILE}","{ARTIFACT}"]}}"#),
        );
        assert_eq!(
            problems(&dir),
            [format!("/contains_refs/1: must reference a file or directory, not an artifact ('{ARTIFACT}')")]
        );
        let file = sco(
            "file",
            &format!(
                r#"{{"name":"a","parent_directory_ref":"{FILE}","content_ref":"{ARTIFACT}","contains_refs":["{IPV4}","{INDICATOR}"]}}"#
            ),
        );
        assert_eq!(
            problems(&file),
            [
                format!(
                    "/contains_refs/1: must reference an SCO, not an indicator ('{INDICATOR}')"
                ),
                format!("/parent_directory_ref: must reference a directory, not a file ('{FILE}')"),
            ]
        );
        let key = sco(
            "windows-registry-key",
            &format!(r#"{{"key":"HKEY_LOCAL_MACHINE\\x","creator_user_ref":"{IDENTITY}"}}"#),
        );
        assert_eq!(
            problems(&key),
            [format!(
                "/creator_user_ref: must reference a user-account, not an identity ('{IDENTITY}')"
            )]
        );
        let addr = sco(
            "email-addr",
            &format!(r#"{{"value":"a@example.com","belongs_to_ref":"{IDENTITY}"}}"#),
        );
        assert_eq!(check(&addr).len(), 1);
    }

    #[test]
    fn refs_inside_predefined_extensions_have_their_types() {
        let archive = sco(
            "file",
            &format!(
                r#"{{"name":"a.zip","extensions":{{"archive-ext":{{"contains_refs":["{FILE}","{IPV4}"]}}}}}}"#
            ),
        );
        assert_eq!(
            problems(&archive),
            [format!("/extensions/archive-ext/contains_refs/1: must reference a file or directory, not an ipv4-addr ('{IPV4}')")]
        );
        let http = sco(
            "network-traffic",
            &format!(
                r#"{{"protocols":["http"],"src_ref":"{IPV4}","extensions":{{"http-request-ext":{{"request_method":"get","request_value":"/","message_body_data_ref":"{FILE}"}}}}}}"#
            ),
        );
        assert_eq!(
            problems(&http),
            [format!("/extensions/http-request-ext/message_body_data_ref: must reference an artifact, not a file ('{FILE}')")]
        );
        let service = sco(
            "process",
            &format!(
                r#"{{"pid":1,"extensions":{{"windows-service-ext":{{"service_name":"s","service_dll_refs":["{ARTIFACT}"]}}}}}}"#
            ),
        );
        assert_eq!(
            problems(&service),
            [format!("/extensions/windows-service-ext/service_dll_refs/0: must reference a file, not an artifact ('{ARTIFACT}')")]
        );
    }

    #[test]
    fn custom_ref_properties_must_hold_identifiers() {
        let o = with(
            &indicator(),
            r#"{"x_acme_owner_ref":"bob","x_acme_peer_refs":"alice","x_acme_info":{"team_ref":"blue"}}"#,
        );
        assert_eq!(
            problems(&o),
            [
                "/x_acme_info/team_ref: 'blue' is not an identifier: an identifier is <type>--<UUID>",
                "/x_acme_owner_ref: 'bob' is not an identifier: an identifier is <type>--<UUID>",
                "/x_acme_peer_refs: must be a list of identifiers (type--UUID), not a string",
            ]
        );
        let fine = with(
            &indicator(),
            &format!(r#"{{"x_acme_owner_ref":"{IDENTITY}"}}"#),
        );
        assert_eq!(problems(&fine), NONE);
    }

    #[test]
    fn container_object_refs_may_reference_anything() {
        for t in ["report", "note", "opinion", "grouping"] {
            let o = sdo(
                t,
                &format!(
                    r#"{{"object_refs":["{INDICATOR}","{IPV4}","relationship--{UUID}","{MARKING}"]}}"#
                ),
            );
            assert_eq!(problems(&o), NONE, "{t}");
        }
        let lc = sdo(
            "language-content",
            &format!(
                r#"{{"object_ref":"{INDICATOR}","object_modified":"2024-01-01T00:00:00.000Z","contents":{{"de":{{"Name":"x"}}}}}}"#
            ),
        );
        assert_eq!(problems(&lc), NONE);
    }

    #[test]
    fn observed_data_object_refs_are_scos_and_sros_with_one_sco() {
        let ok = sdo(
            "observed-data",
            &format!(
                r#"{{"first_observed":"2024-01-01T00:00:00Z","last_observed":"2024-01-01T00:00:00Z","number_observed":1,"object_refs":["{IPV4}","relationship--{UUID}"]}}"#
            ),
        );
        assert_eq!(problems(&ok), NONE);
        let rel = format!("relationship--{UUID}");
        let no_sco = sdo(
            "observed-data",
            &format!(
                r#"{{"first_observed":"2024-01-01T00:00:00Z","last_observed":"2024-01-01T00:00:00Z","number_observed":1,"object_refs":["{rel}","{INDICATOR}"]}}"#
            ),
        );
        assert_eq!(
            problems(&no_sco),
            [
                format!("/object_refs/1: must reference an SCO or SRO, not an indicator ('{INDICATOR}')"),
                "/object_refs: must reference at least one SCO".to_string(),
            ]
        );
    }

    #[test]
    fn observed_data_container_refs_are_local_keys() {
        let o = sdo(
            "observed-data",
            r#"{"first_observed":"2024-01-01T00:00:00Z","last_observed":"2024-01-01T00:00:00Z","number_observed":1,
                "objects":{"0":{"type":"ipv4-addr","value":"198.51.100.1"},"1":{"type":"file","name":"a"},
                "2":{"type":"network-traffic","protocols":["tcp"],"src_ref":"0","dst_ref":"1","encapsulates_refs":["9"],"start":"2024-01-02T00:00:00Z","end":"2024-01-01T00:00:00Z"}}}"#,
        );
        assert_eq!(
            problems(&o),
            [
                "/objects/2/dst_ref: must reference an ipv4-addr, ipv6-addr, mac-addr or domain-name, not a file ('1')",
                "/objects/2/encapsulates_refs/0: '9' is not a key of this observed-data's objects",
                "/objects/2/end: must not be earlier than start (2024-01-02T00:00:00Z)",
            ]
        );
    }

    // ---- granular markings ----

    fn marked(markings: &str) -> Map<String, Value> {
        with(
            &indicator(),
            &format!(
                r#"{{"description":"d","external_references":[{{"source_name":"acme","url":"https://example.com","hashes":{{"SHA-256":"ab"}}}}],"kill_chain_phases":[{{"kill_chain_name":"k","phase_name":"p"}}],"granular_markings":{markings}}}"#
            ),
        )
    }

    #[test]
    fn resolvable_selectors_pass() {
        let o = marked(&format!(
            r#"[{{"marking_ref":"{MARKING}","selectors":["description","external_references.[0].url","kill_chain_phases.[0]","external_references.[0].hashes.SHA-256","granular_markings"]}},{{"lang":"de","selectors":["pattern"]}}]"#
        ));
        assert_eq!(problems(&o), NONE);
    }

    #[test]
    fn a_granular_marking_has_exactly_one_of_marking_ref_and_lang() {
        let both = marked(&format!(
            r#"[{{"marking_ref":"{MARKING}","lang":"en","selectors":["description"]}}]"#
        ));
        assert_eq!(
            problems(&both),
            ["/granular_markings/0: must have exactly one of marking_ref and lang, not both"]
        );
        let neither = marked(r#"[{"selectors":["description"]}]"#);
        assert_eq!(
            problems(&neither),
            ["/granular_markings/0: must have exactly one of marking_ref and lang"]
        );
    }

    #[test]
    fn selectors_must_not_be_empty() {
        let o = marked(&format!(
            r#"[{{"marking_ref":"{MARKING}","selectors":[]}}]"#
        ));
        assert_eq!(
            problems(&o),
            ["/granular_markings/0/selectors: must list at least one selector"]
        );
    }

    #[test]
    fn a_selector_naming_an_absent_property_does_not_resolve() {
        let o = marked(&format!(
            r#"[{{"marking_ref":"{MARKING}","selectors":["description","descripton","external_references.[0].uri"]}}]"#
        ));
        assert_eq!(
            problems(&o),
            [
                "/granular_markings/0/selectors/1: 'descripton' does not resolve: the object has no property 'descripton'",
                "/granular_markings/0/selectors/2: 'external_references.[0].uri' does not resolve: external_references.[0] has no property 'uri'",
            ]
        );
    }

    #[test]
    fn a_selector_index_must_be_in_range_and_on_a_list() {
        let o = marked(&format!(
            r#"[{{"marking_ref":"{MARKING}","selectors":["external_references.[1].url","description.[0]","pattern_type.x"]}}]"#
        ));
        assert_eq!(
            problems(&o),
            [
                "/granular_markings/0/selectors/0: 'external_references.[1].url' does not resolve: external_references has no item [1] (it has 1)",
                "/granular_markings/0/selectors/1: 'description.[0]' does not resolve: description is not a list",
                "/granular_markings/0/selectors/2: 'pattern_type.x' does not resolve: pattern_type is not an object",
            ]
        );
    }

    #[test]
    fn a_malformed_selector_is_refused() {
        let o = marked(&format!(
            r#"[{{"marking_ref":"{MARKING}","selectors":["external_references.[x]","description.","","external_references[0]"]}}]"#
        ));
        assert_eq!(
            problems(&o),
            [
                "/granular_markings/0/selectors/0: 'external_references.[x]' has '[x]', which is neither a property name nor a list index: a selector is property names and list indexes such as [0] separated by '.'",
                "/granular_markings/0/selectors/1: 'description.' has an empty component: a selector is property names and list indexes such as [0] separated by '.'",
                "/granular_markings/0/selectors/2: '' is empty: a selector is property names and list indexes such as [0] separated by '.'",
                "/granular_markings/0/selectors/3: 'external_references[0]' does not resolve: the object has no property 'external_references[0]'",
            ]
        );
    }

    #[test]
    fn granular_marking_ref_must_reference_a_marking_definition() {
        let o = marked(&format!(
            r#"[{{"marking_ref":"{IDENTITY}","selectors":["description"]}}]"#
        ));
        assert_eq!(
            problems(&o),
            [format!("/granular_markings/0/marking_ref: must reference a marking-definition, not an identity ('{IDENTITY}')")]
        );
    }

    // ---- property names ----

    #[test]
    fn a_property_name_with_capitals_is_refused_with_a_suggestion() {
        let o = with(&indicator(), r#"{"x_acme_Score":1}"#);
        assert_eq!(
            problems(&o),
            ["/x_acme_Score: 'x_acme_Score' is not a valid property name: 'S' is not allowed (only a-z, 0-9 and _), e.g. 'x_acme_score'"]
        );
    }

    #[test]
    fn a_property_name_needs_three_characters() {
        let o = with(&indicator(), r#"{"ab":1}"#);
        assert_eq!(
            problems(&o),
            ["/ab: 'ab' is not a valid property name: it has 2 characters (3 to 250 are allowed), e.g. 'x_ab'"]
        );
        let long_name = format!("x_{}", "a".repeat(249));
        let long = with(&indicator(), &format!(r#"{{"{long_name}":1}}"#));
        assert_eq!(check(&long).len(), 1);
        let just_fits = with(&indicator(), &format!(r#"{{"x_{}":1}}"#, "a".repeat(248)));
        assert_eq!(problems(&just_fits), NONE);
    }

    #[test]
    fn a_property_name_has_no_hyphen_and_begins_with_a_letter() {
        let o = with(
            &indicator(),
            r#"{"x-acme-score":1,"_private":2,"9lives":3}"#,
        );
        assert_eq!(
            problems(&o),
            [
                "/9lives: '9lives' is not a valid property name: it must begin with a letter a-z, e.g. 'x_9lives'",
                "/_private: '_private' is not a valid property name: it must begin with a letter a-z, e.g. 'x_private'",
                "/x-acme-score: 'x-acme-score' is not a valid property name: '-' is not allowed (only a-z, 0-9 and _), e.g. 'x_acme_score'",
            ]
        );
    }

    #[test]
    fn pointers_escape_property_names() {
        let o = with(&indicator(), r#"{"a/b~c":1}"#);
        let got = check(&o);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].pointer, "/a~1b~0c");
    }

    #[test]
    fn property_names_inside_extensions_and_nested_types_are_checked() {
        let o = sco(
            "file",
            r#"{"name":"a.exe","extensions":{"ntfs-ext":{"sid":"1","alternate_data_streams":[{"name":"s","Size":3}]}},"x_acme_blob":{"Free Form":1}}"#,
        );
        assert_eq!(
            problems(&o),
            ["/extensions/ntfs-ext/alternate_data_streams/0/Size: 'Size' is not a valid property name: 'S' is not allowed (only a-z, 0-9 and _), e.g. 'size'"]
        );
    }

    #[test]
    fn dictionary_keys_are_not_property_names() {
        let o = sco(
            "file",
            r#"{"hashes":{"SHA-256":"ab","MD5":"cd"},"name":"a","extensions":{"windows-pebinary-ext":{"pe_type":"exe","file_header_hashes":{"SHA-1":"ef"}}}}"#,
        );
        assert_eq!(problems(&o), NONE);
        let mail = sco(
            "email-message",
            r#"{"is_multipart":false,"additional_header_fields":{"X-Mailer":["x"],"Reply_ref":["not a ref"]}}"#,
        );
        assert_eq!(problems(&mail), NONE);
    }

    // ---- extensions ----

    #[test]
    fn an_extension_key_is_a_definition_id_or_a_predefined_name() {
        let o = sco(
            "file",
            &format!(
                r#"{{"name":"a","extensions":{{"x-acme-ext":{{}},"tcp-ext":{{}},"extension-definition--{UUID}":{{"extension_type":"property-extension","rank":5}}}}}}"#
            ),
        );
        assert_eq!(
            problems(&o),
            [
                "/extensions/tcp-ext: tcp-ext is a predefined extension of network-traffic, not of file or a predefined extension of file: archive-ext, ntfs-ext, pdf-ext, raster-image-ext, windows-pebinary-ext",
                "/extensions/x-acme-ext: 'x-acme-ext' is not an extension key: use an extension-definition id (extension-definition--<UUID>) or a predefined extension of file: archive-ext, ntfs-ext, pdf-ext, raster-image-ext, windows-pebinary-ext",
            ]
        );
        let sdo_ext = with(&indicator(), r#"{"extensions":{"archive-ext":{}}}"#);
        assert_eq!(
            problems(&sdo_ext),
            ["/extensions/archive-ext: archive-ext is a predefined extension of file, not of indicator"]
        );
    }

    #[test]
    fn a_defined_extension_needs_a_valid_extension_type() {
        let o = with(
            &indicator(),
            &format!(
                r#"{{"extensions":{{"extension-definition--{UUID}":{{"rank":5}},"extension-definition--{}":{{"extension_type":"new-thing"}}}}}}"#,
                "b3bca3c2-1f3d-4b54-b44f-dac42c3a8f01"
            ),
        );
        assert_eq!(
            problems(&o),
            [
                format!("/extensions/extension-definition--{UUID}: must have extension_type (new-sdo, new-sco, new-sro, property-extension, toplevel-property-extension): it is required when the key is an extension-definition id"),
                "/extensions/extension-definition--b3bca3c2-1f3d-4b54-b44f-dac42c3a8f01/extension_type: must be one of new-sdo, new-sco, new-sro, property-extension, toplevel-property-extension (found \"new-thing\")".to_string(),
            ]
        );
    }

    #[test]
    fn an_extension_definition_key_needs_a_uuid() {
        let o = with(
            &indicator(),
            r#"{"extensions":{"extension-definition--1234":{"extension_type":"property-extension"}}}"#,
        );
        assert_eq!(
            problems(&o),
            ["/extensions/extension-definition--1234: 'extension-definition--1234' is not an extension-definition id: '1234' is not a UUID (8-4-4-4-12 hexadecimal digits)"]
        );
    }

    #[test]
    fn defined_extension_bodies_follow_the_property_rules() {
        let o = with(
            &indicator(),
            &format!(
                r#"{{"extensions":{{"extension-definition--{UUID}":{{"extension_type":"property-extension","Rank":5,"owner_ref":"me"}}}}}}"#
            ),
        );
        assert_eq!(
            problems(&o),
            [
                format!("/extensions/extension-definition--{UUID}/Rank: 'Rank' is not a valid property name: 'R' is not allowed (only a-z, 0-9 and _), e.g. 'rank'"),
                format!("/extensions/extension-definition--{UUID}/owner_ref: 'me' is not an identifier: an identifier is <type>--<UUID>"),
            ]
        );
    }

    #[test]
    fn extension_properties_need_a_toplevel_property_extension() {
        let def = |types: &str| {
            sdo(
                "extension-definition",
                &format!(
                    r#"{{"created_by_ref":"{IDENTITY}","name":"x","schema":"s","version":"1.0.0","extension_types":{types},"extension_properties":["x_acme_rank"]}}"#
                ),
            )
        };
        assert_eq!(
            problems(&def(r#"["property-extension"]"#)),
            ["/extension_properties: may be used only when extension_types includes toplevel-property-extension"]
        );
        assert_eq!(
            problems(&def(r#"["new-sdo","toplevel-property-extension"]"#)),
            NONE
        );
    }

    // ---- object-specific rules ----

    #[test]
    fn course_of_action_action_is_reserved() {
        let o = sdo("course-of-action", r#"{"name":"patch","action":"x"}"#);
        assert_eq!(
            problems(&o),
            ["/action: is reserved by STIX 2.1 for future use and must not be present"]
        );
    }

    #[test]
    fn a_marking_definition_must_not_mark_itself() {
        let id = format!("marking-definition--{UUID}");
        let o = with(
            &format!(
                r#"{{"type":"marking-definition","spec_version":"2.1","id":"{id}","created":"2024-01-01T00:00:00.000Z","definition_type":"statement","definition":{{"statement":"Copyright ACME"}}}}"#
            ),
            &format!(
                r#"{{"object_marking_refs":["{MARKING}","{id}"],"granular_markings":[{{"marking_ref":"{id}","selectors":["definition.statement"]}}]}}"#
            ),
        );
        assert_eq!(
            problems(&o),
            [
                format!("/granular_markings/0/marking_ref: a marking-definition must not mark itself ({id})"),
                format!("/object_marking_refs/1: a marking-definition must not mark itself ({id})"),
            ]
        );
    }

    #[test]
    fn canonical_tlp_objects_pass_every_rule() {
        for id in [
            tlp::TLP1_WHITE_ID,
            tlp::TLP1_GREEN_ID,
            tlp::TLP1_AMBER_ID,
            tlp::TLP1_RED_ID,
            tlp::TLP2_CLEAR_ID,
            tlp::TLP2_GREEN_ID,
            tlp::TLP2_AMBER_ID,
            tlp::TLP2_AMBER_STRICT_ID,
            tlp::TLP2_RED_ID,
            tlp::TLP2_EXTENSION_DEFINITION_ID,
        ] {
            let o = obj(tlp::canonical_object(id).unwrap());
            assert_eq!(problems(&o), NONE, "{id}");
        }
    }

    #[test]
    fn tlp_marking_definitions_are_checked() {
        let altered = obj(&tlp::canonical_object(tlp::TLP2_RED_ID)
            .unwrap()
            .replace("TLP:RED", "TLP:Red"));
        assert_eq!(
            problems(&altered),
            ["/name: must be \"TLP:RED\" as in the canonical TLP 2.0 marking-definition for TLP:RED (found \"TLP:Red\")"]
        );
        let fresh = obj(&tlp::canonical_object(tlp::TLP2_RED_ID)
            .unwrap()
            .replace(tlp::TLP2_RED_ID, &format!("marking-definition--{UUID}")));
        let got = problems(&fresh);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].starts_with(&format!(
            "/id: 'marking-definition--{UUID}' is not a canonical TLP marking-definition"
        )));
        let ext_def = obj(&tlp::canonical_object(tlp::TLP2_EXTENSION_DEFINITION_ID)
            .unwrap()
            .replace("TLP 2.0\"", "TLP 2.1\""));
        assert_eq!(
            problems(&ext_def),
            ["/name: must be \"TLP 2.0\" as in the canonical TLP 2.0 extension-definition (found \"TLP 2.1\")"]
        );
    }

    // ---- all together ----

    #[test]
    fn every_problem_of_an_object_is_reported() {
        let o = with(
            &indicator(),
            &format!(
                r#"{{"id":"malware--{UUID}","created":"2024-01-02T00:00:00Z","modified":"2024-01-01T00:00:00.000Z","valid_until":"2023-01-01T00:00:00Z","created_by_ref":"{FILE}","X_Bad":1,"extensions":{{"nope":{{}}}},"granular_markings":[{{"marking_ref":"{MARKING}","selectors":["nothing"]}}]}}"#
            ),
        );
        assert_eq!(
            sorted(problems(&o)),
            sorted(vec![
                format!("/id: the prefix 'malware' must equal the type 'indicator': indicator--{UUID}"),
                "/X_Bad: 'X_Bad' is not a valid property name: 'X' is not allowed (only a-z, 0-9 and _), e.g. 'x_bad'".to_string(),
                "/created: '2024-01-02T00:00:00Z' must be precise to at least the millisecond (three digits after the seconds), e.g. 2024-01-02T00:00:00.000Z".to_string(),
                format!("/created_by_ref: must reference an identity, not a file ('{FILE}')"),
                "/extensions/nope: 'nope' is not an extension key: use an extension-definition id (extension-definition--<UUID>)".to_string(),
                "/modified: must not be earlier than created (2024-01-02T00:00:00Z)".to_string(),
                "/valid_until: must be later than valid_from (2024-01-01T00:00:00Z)".to_string(),
                "/granular_markings/0/selectors/0: 'nothing' does not resolve: the object has no property 'nothing'".to_string(),
            ])
        );
    }

    #[test]
    fn identifiers_parse_into_type_and_uuid() {
        assert_eq!(
            parse_identifier(&format!("x-acme-thing--{UUID}")),
            Ok(("x-acme-thing", UUID))
        );
        assert!(parse_identifier(&format!("Indicator--{UUID}")).is_err());
        assert!(parse_identifier(UUID).is_err());
        assert_eq!(
            stix_datetime("2024-01-01T00:00:00.5Z").map(|t| t.timestamp_subsec_millis()),
            Some(500)
        );
        assert!(stix_datetime("2024-01-01T00:00:00").is_none());
    }
}
