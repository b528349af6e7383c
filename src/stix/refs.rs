//! The references an object makes, as the delivery decision sees them.

use serde_json::Value;

/// Marking-definition ids applied to the object: `object_marking_refs` and every
/// `granular_markings[].marking_ref`.
pub fn marking_ids(obj: &Value) -> Vec<&str> {
    let mut out: Vec<&str> = obj
        .get("object_marking_refs")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(granular) = obj.get("granular_markings").and_then(Value::as_array) {
        out.extend(
            granular
                .iter()
                .filter_map(|g| g.get("marking_ref").and_then(Value::as_str)),
        );
    }
    out
}

/// Every id held by a `*_ref` or `*_refs` property, at any depth (extensions included), except
/// the object's own `created_by_ref`, `object_marking_refs` and `granular_markings[].marking_ref`:
/// these say who made or how to handle the object, not what it is about. Only the top-level
/// ones are exempt: the same names nested in custom or extension content are ordinary
/// references, or they would carry a hidden id past the reference rule.
pub fn content_refs(obj: &Value) -> Vec<String> {
    let mut out = vec![];
    match obj {
        Value::Object(map) => map.iter().for_each(|(k, v)| match k.as_str() {
            "created_by_ref" | "object_marking_refs" => {}
            "granular_markings" => granular(v, &mut out),
            _ => property(k, v, &mut out),
        }),
        other => collect(other, &mut out),
    }
    out.sort();
    out.dedup();
    out
}

/// The object's granular markings: each one's `marking_ref` is exempt, not what else it holds.
fn granular(v: &Value, out: &mut Vec<String>) {
    let items = v.as_array().map_or(std::slice::from_ref(v), Vec::as_slice);
    for item in items {
        match item.as_object() {
            Some(g) => g
                .iter()
                .filter(|(k, _)| k.as_str() != "marking_ref")
                .for_each(|(k, v)| property(k, v, out)),
            None => collect(item, out),
        }
    }
}

/// One property: under a `*_ref` or `*_refs` key, every string at any depth is a reference,
/// whatever the shape holding it (a list under `_ref`, a lone id under `_refs`, nested lists or
/// objects); under any other key, the value is searched for such keys.
fn property(k: &str, v: &Value, out: &mut Vec<String>) {
    if k.ends_with("_ref") || k.ends_with("_refs") {
        strings(v, out);
    } else {
        collect(v, out);
    }
}

fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|i| strings(i, out)),
        Value::Object(map) => map.values().for_each(|i| strings(i, out)),
        _ => {}
    }
}

fn collect(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => map.iter().for_each(|(k, v)| property(k, v, out)),
        Value::Array(items) => items.iter().for_each(|i| collect(i, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_skip_provenance_and_markings() {
        let v: Value = serde_json::json!({
            "type": "relationship",
            "created_by_ref": "identity--1",
            "object_marking_refs": ["marking-definition--1"],
            "granular_markings": [{"marking_ref": "marking-definition--2", "selectors": ["x"]}],
            "source_ref": "malware--1",
            "target_ref": "indicator--1",
            "extensions": {"x": {"sample_refs": ["file--1"], "nested": {"host_ref": "ipv4-addr--1"}}}
        });
        assert_eq!(
            content_refs(&v),
            vec!["file--1", "indicator--1", "ipv4-addr--1", "malware--1"]
        );
        assert_eq!(
            marking_ids(&v),
            vec!["marking-definition--1", "marking-definition--2"]
        );
    }

    #[test]
    fn provenance_and_marking_names_below_the_top_are_references() {
        let v: Value = serde_json::json!({
            "type": "indicator",
            "created_by_ref": "identity--1",
            "x_related": {
                "created_by_ref": "malware--1",
                "object_marking_refs": ["malware--2"],
                "granular_markings": [{"marking_ref": "malware--3", "selectors": ["a"]}]
            },
            "extensions": {"x": {"marking_ref": "malware--4"}}
        });
        assert_eq!(
            content_refs(&v),
            vec!["malware--1", "malware--2", "malware--3", "malware--4"]
        );
    }

    #[test]
    fn only_marking_ref_is_exempt_in_a_granular_marking_and_odd_shapes_are_searched() {
        let v: Value = serde_json::json!({
            "type": "indicator",
            "granular_markings": [
                {"marking_ref": "marking-definition--1", "selectors": ["name"], "x_about_ref": "malware--1"},
                {"lang": "de", "selectors": ["name"], "x_ext": {"items": [{"target_ref": "malware--2"}]}}
            ],
            "contents": {"de": {
                "x_list_refs": [{"target_ref": "malware--3"}, "malware--4"],
                "x_obj_ref": {"inner_ref": "malware--5"},
                "x_list_ref": ["malware--6"],
                "x_one_refs": "malware--7",
                "x_nested_refs": [["malware--8"]],
                "x_list": ["not a reference"]
            }}
        });
        assert_eq!(
            content_refs(&v),
            (1..=8).map(|n| format!("malware--{n}")).collect::<Vec<_>>()
        );
    }
}
