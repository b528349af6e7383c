//! Reads one posted object into a JSON value, refusing a key repeated in any one JSON object.
//! serde_json keeps the last of two equal keys, while other readers keep the first: stored byte
//! for byte, such an object would mean one thing to Cairn (its TLP, say) and another to its
//! consumers. Nesting is bounded by serde_json's recursion limit (128).

use serde::de::{Deserializer, Error, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// The value, or why it was refused (not JSON, or a key given twice), ready for a message.
pub fn parse(text: &str) -> Result<Value, String> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = de.deserialize_any(Strict).map_err(describe)?;
    de.end().map_err(describe)?;
    Ok(value)
}

/// The object's `id` as given, when it can be read at all, so a refusal names the object.
pub fn id_of(text: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Id {
        id: String,
    }
    serde_json::from_str::<Id>(text).ok().map(|i| i.id)
}

fn describe(e: serde_json::Error) -> String {
    let text = e.to_string();
    if text.starts_with("duplicate key") {
        text
    } else {
        format!("not valid JSON: {text}")
    }
}

struct Strict;

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E: Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E: Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = vec![];
        while let Some(item) = seq.next_element_seed(Seed)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(Seed)?;
            if out.contains_key(&key) {
                return Err(A::Error::custom(format!(
                    "duplicate key '{key}': a key may appear once in each JSON object"
                )));
            }
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

/// Hands nested values back to `Strict`.
struct Seed;

impl<'de> serde::de::DeserializeSeed<'de> for Seed {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(Strict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_keys_are_refused_at_any_depth() {
        let e = parse(r#"{"a":1,"object_marking_refs":["x"],"object_marking_refs":["y"]}"#)
            .unwrap_err();
        assert!(
            e.starts_with("duplicate key 'object_marking_refs': a key may appear once"),
            "{e}"
        );
        let e = parse(r#"{"a":[{"b":{"c":1,"c":2}}]}"#).unwrap_err();
        assert!(e.starts_with("duplicate key 'c'"), "{e}");
        // Escapes are resolved before keys are compared.
        assert!(parse(r#"{"a":1,"\u0061":2}"#)
            .unwrap_err()
            .starts_with("duplicate key 'a'"));
    }

    #[test]
    fn values_read_as_serde_json_reads_them() {
        let text = r#"{"a":[1,-2,3.5,true,null,"s\n"],"b":{"c":{}},"d":18446744073709551615}"#;
        assert_eq!(
            parse(text).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
        assert!(parse("{").unwrap_err().starts_with("not valid JSON: "));
        assert!(parse("{} x").unwrap_err().starts_with("not valid JSON: "));
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        assert!(parse(&deep).unwrap_err().contains("recursion limit"));
    }

    #[test]
    fn a_refused_object_is_named_by_its_id_when_it_has_one() {
        assert_eq!(
            id_of(r#"{"id":"x--1","a":1,"a":2}"#).as_deref(),
            Some("x--1")
        );
        assert_eq!(id_of("[1]"), None);
    }
}
