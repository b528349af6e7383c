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
        Value::Object(map) => {
            for (k, v) in map {
                if !matches!(
                    k.as_str(),
                    "created_by_ref" | "object_marking_refs" | "granular_markings"
                ) {
                    property(k, v, &mut out);
                }
            }
        }
        other => collect(other, &mut out),
    }
    out.sort();
    out.dedup();
    out
}

fn property(k: &str, v: &Value, out: &mut Vec<String>) {
    if k.ends_with("_ref") {
        if let Some(s) = v.as_str() {
            out.push(s.to_owned());
        }
    } else if k.ends_with("_refs") {
        if let Some(a) = v.as_array() {
            out.extend(a.iter().filter_map(Value::as_str).map(str::to_owned));
        }
    } else {
        collect(v, out);
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
}
