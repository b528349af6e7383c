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
/// `created_by_ref`, `object_marking_refs` and granular `marking_ref`: these say who made or how
/// to handle the object, not what it is about, and do not reveal shared content.
pub fn content_refs(obj: &Value) -> Vec<String> {
    let mut out = vec![];
    collect(obj, &mut out);
    out.sort();
    out.dedup();
    out
}

fn collect(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                let skip = matches!(
                    k.as_str(),
                    "created_by_ref" | "object_marking_refs" | "marking_ref"
                );
                if k.ends_with("_ref") && !skip {
                    if let Some(s) = v.as_str() {
                        out.push(s.to_owned());
                    }
                } else if k.ends_with("_refs") && !skip {
                    if let Some(a) = v.as_array() {
                        out.extend(a.iter().filter_map(Value::as_str).map(str::to_owned));
                    }
                } else if !skip && k != "granular_markings" {
                    collect(v, out);
                }
            }
        }
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
}
