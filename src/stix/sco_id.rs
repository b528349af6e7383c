//! STIX 2.1 section 2.9: the id of a cyber-observable is a UUIDv5 derived from its
//! ID-contributing properties, so that every producer of the same observable names it alike.
//! An id that claims version 5 must be that derivation (else anyone could take the id of an
//! observable another partner will post, with another value); an observable none of whose
//! contributing properties is present must use a UUIDv4.

use super::problem::Problem;
use serde_json::{Map, Value};
use std::fmt::Write;

/// The namespace section 2.9 names for SCO ids.
const NAMESPACE: uuid::Uuid = uuid::uuid!("00abedb4-aa42-466c-9c01-fed23315a9b7");

/// Section 6, each SCO type's "ID Contributing Properties".
fn contributing(sco_type: &str) -> Option<&'static [&'static str]> {
    Some(match sco_type {
        "artifact" => &["hashes", "payload_bin"],
        "autonomous-system" => &["number"],
        "directory" => &["path"],
        "domain-name" | "email-addr" | "ipv4-addr" | "ipv6-addr" | "mac-addr" | "url" => &["value"],
        "email-message" => &["from_ref", "subject", "body"],
        "file" => &["hashes", "name", "extensions", "parent_directory_ref"],
        "mutex" => &["name"],
        "network-traffic" => &[
            "start",
            "end",
            "src_ref",
            "dst_ref",
            "src_port",
            "dst_port",
            "protocols",
            "extensions",
        ],
        "process" => &[],
        "software" => &["name", "cpe", "swid", "vendor", "version"],
        "user-account" => &["account_type", "user_id", "account_login"],
        "windows-registry-key" => &["key", "values"],
        "x509-certificate" => &["hashes", "serial_number"],
        _ => return None,
    })
}

/// The problem with a top-level SCO's id, if any. Other objects, and ids that are not
/// `type--UUID` (reported elsewhere), pass.
pub fn problem(obj: &Map<String, Value>) -> Option<Problem> {
    let sco_type = obj.get("type")?.as_str()?;
    let props = contributing(sco_type)?;
    let id = obj.get("id")?.as_str()?;
    let given = uuid::Uuid::parse_str(id.strip_prefix(sco_type)?.strip_prefix("--")?).ok()?;
    let present: Map<String, Value> = props
        .iter()
        .filter_map(|p| obj.get(*p).map(|v| (p.to_string(), contributed(p, v))))
        .collect();
    if present.is_empty() {
        let why = if props.is_empty() {
            format!("{sco_type} has no ID-contributing properties")
        } else {
            format!(
                "none of the ID-contributing properties of {sco_type} ({}) is present",
                props.join(", ")
            )
        };
        return (given.get_version_num() != 4).then(|| {
            Problem::new(
                "/id",
                format!("{why}, so its id must use a UUIDv4 (STIX 2.1 section 2.9)"),
            )
        });
    }
    if given.get_version_num() != 5 {
        return None;
    }
    let derive = |p: &Map<String, Value>| {
        uuid::Uuid::new_v5(&NAMESPACE, canonical(&Value::Object(p.clone())).as_bytes())
    };
    let expected = derive(&present);
    // Without a preferred hash, producers pick one by their own order: any single one will do.
    if given == expected || other_hash_choices(obj, &present).any(|p| derive(&p) == given) {
        return None;
    }
    Some(Problem::new(
        "/id",
        format!(
            "a UUIDv5 id must be derived from the ID-contributing properties (STIX 2.1 section 2.9): for these values it is {sco_type}--{expected}; use that id, or a UUIDv4"
        ),
    ))
}

/// The contributing properties with each other single hash, when none of the preferred ones
/// is present (section 2.9 names no order among the rest).
fn other_hash_choices<'a>(
    obj: &'a Map<String, Value>,
    present: &'a Map<String, Value>,
) -> impl Iterator<Item = Map<String, Value>> + 'a {
    let hashes = obj.get("hashes").and_then(Value::as_object).filter(|h| {
        !["MD5", "SHA-1", "SHA-256", "SHA-512"]
            .iter()
            .any(|k| h.contains_key(*k))
    });
    hashes.into_iter().flatten().map(move |(k, v)| {
        let mut p = present.clone();
        p.insert(
            "hashes".into(),
            Value::Object(Map::from_iter([(k.clone(), v.clone())])),
        );
        p
    })
}

/// A hashes dictionary contributes one hash: the first of MD5, SHA-1, SHA-256 and SHA-512 it
/// holds, or else its first key in code-unit order.
fn contributed(prop: &str, v: &Value) -> Value {
    let Some(hashes) = v.as_object().filter(|_| prop == "hashes") else {
        return v.clone();
    };
    let key = ["MD5", "SHA-1", "SHA-256", "SHA-512"]
        .into_iter()
        .find(|k| hashes.contains_key(*k))
        .map(str::to_owned)
        .or_else(|| hashes.keys().min_by(|a, b| utf16_cmp(a, b)).cloned());
    match key {
        Some(k) => Value::Object(Map::from_iter([(k.clone(), hashes[&k].clone())])),
        None => v.clone(),
    }
}

fn utf16_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// RFC 8785 (JSON Canonicalization Scheme): keys sorted by UTF-16 code units, no whitespace,
/// numbers as ECMAScript prints them, strings with only the escapes JSON requires.
pub fn canonical(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

/// Recursion is bounded by serde_json's nesting limit on what it parsed.
fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Null | Value::Bool(_) | Value::String(_) => out.push_str(&v.to_string()),
        Value::Number(n) => out.push_str(&es_number(n)),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| utf16_cmp(a, b));
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
    }
}

/// A number as ECMAScript's Number.prototype.toString prints the double it denotes.
fn es_number(n: &serde_json::Number) -> String {
    const EXACT: u64 = 1 << 53;
    if let Some(i) = n.as_i64().filter(|i| i.unsigned_abs() <= EXACT) {
        return i.to_string();
    }
    let f = n.as_f64().unwrap_or(f64::NAN);
    if f == 0.0 {
        return "0".into();
    }
    if (1e-6..1e21).contains(&f.abs()) {
        return format!("{f}");
    }
    // Shortest digits in exponent form, with ECMAScript's explicit sign on the exponent.
    let mut s = String::new();
    let _ = write!(s, "{f:e}");
    match s.split_once('e') {
        Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(v: Value) -> Option<String> {
        problem(v.as_object().unwrap()).map(|p| p.to_string())
    }

    #[test]
    fn derived_ids_match_section_2_9() {
        // Ids computed independently with the stix2 library (2026-12-07).
        for (object, id) in [
            (
                json!({"type": "ipv4-addr", "value": "198.51.100.3"}),
                "ipv4-addr--28bb3599-77cd-5a82-a950-b5bc3caf07c4",
            ),
            (
                json!({"type": "domain-name", "value": "example.com"}),
                "domain-name--bedb4899-d24b-5401-bc86-8f6b4cc18ec7",
            ),
            (
                json!({"type": "file", "name": "a.exe", "hashes": {"SHA-256": "aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f", "MD5": "79054025255fb1a26e4bc422aef54eb4"}}),
                "file--2fba9742-a220-5fc7-a8f7-ea813e8b724e",
            ),
            (
                json!({"type": "file", "name": "a.exe", "hashes": {"SHA-256": "aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f"}}),
                "file--bbeed82e-57b3-56fa-a598-a7b3097bc56e",
            ),
            (
                json!({"type": "email-message", "is_multipart": false, "subject": "Hi ünïcode \"q\""}),
                "email-message--feb209ce-22e2-504f-8dbb-d3d2f98815c6",
            ),
            (
                json!({"type": "network-traffic", "protocols": ["tcp"], "dst_port": 443, "src_ref": "ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd"}),
                "network-traffic--d4de0dd9-b32a-510a-9c71-1e136561232f",
            ),
            (
                json!({"type": "user-account", "user_id": "1001", "account_login": "root"}),
                "user-account--9f7e6d9c-343e-54c8-84eb-f665e0e95c2f",
            ),
            (
                json!({"type": "windows-registry-key", "key": "HKEY_LOCAL_MACHINE\\foo", "values": [{"name": "v", "data": "d", "data_type": "REG_SZ"}]}),
                "windows-registry-key--33148db4-019c-5f4c-8f42-58d329002bfa",
            ),
        ] {
            let mut o = object.clone();
            o["id"] = json!(id);
            assert_eq!(check(o), None, "{object}");
        }
    }

    #[test]
    fn a_squatted_id_is_refused_with_the_right_one() {
        let squat = json!({"type": "ipv4-addr", "id": "ipv4-addr--28bb3599-77cd-5a82-a950-b5bc3caf07c4", "value": "203.0.113.9"});
        let p = check(squat).unwrap();
        assert!(p.starts_with("/id: a UUIDv5 id must be derived"), "{p}");
        assert!(p.contains("ipv4-addr--"), "{p}");
        // A UUIDv4 is always the producer's choice.
        assert_eq!(
            check(
                json!({"type": "ipv4-addr", "id": "ipv4-addr--6f3e8f40-2d8e-4b5c-9a4f-0e1c2d3b4a59", "value": "203.0.113.9"})
            ),
            None
        );
    }

    #[test]
    fn without_a_preferred_hash_any_single_hash_may_derive_the_id() {
        let hashes = json!({"SSDEEP": "3:a:b", "SHA3-256": "ab"});
        let derived = |k: &str| {
            let one = json!({"hashes": {k: hashes[k].clone()}, "name": "a"});
            uuid::Uuid::new_v5(&NAMESPACE, canonical(&one).as_bytes())
        };
        for k in ["SSDEEP", "SHA3-256"] {
            let id = format!("file--{}", derived(k));
            assert_eq!(
                check(json!({"type": "file", "id": id, "name": "a", "hashes": hashes})),
                None,
                "{k}"
            );
        }
        let other = format!("file--{}", uuid::Uuid::new_v5(&NAMESPACE, b"x"));
        assert!(
            check(json!({"type": "file", "id": other, "name": "a", "hashes": hashes})).is_some()
        );
    }

    #[test]
    fn without_contributing_properties_the_id_is_a_uuidv4() {
        let p = check(json!({"type": "process", "id": "process--28bb3599-77cd-5a82-a950-b5bc3caf07c4", "pid": 4})).unwrap();
        assert!(p.contains("must use a UUIDv4"), "{p}");
        assert_eq!(
            check(
                json!({"type": "process", "id": "process--863edb6f-3fb2-4fdc-801c-3404488b4fcb", "pid": 4})
            ),
            None
        );
        let p = check(json!({"type": "email-message", "id": "email-message--28bb3599-77cd-5a82-a950-b5bc3caf07c4", "is_multipart": false})).unwrap();
        assert!(p.contains("(from_ref, subject, body)"), "{p}");
        // Types Cairn does not know the properties of are left alone.
        assert_eq!(
            check(
                json!({"type": "x-thing", "id": "x-thing--28bb3599-77cd-5a82-a950-b5bc3caf07c4"})
            ),
            None
        );
    }

    #[test]
    fn canonical_json_follows_rfc_8785() {
        let v = json!({"b": [1, 2.5, 1e21, 1e-7, 0.000001, -0.0, 9007199254740993u64], "a": "é\n\"", "\u{e9}": null, "A": true});
        assert_eq!(
            canonical(&v),
            "{\"A\":true,\"a\":\"é\\n\\\"\",\"b\":[1,2.5,1e+21,1e-7,0.000001,0,9007199254740992],\"é\":null}"
        );
    }
}
