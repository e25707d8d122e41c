//! The checksum Prefect gives a block schema (`Block._calculate_schema_checksum`):
//! SHA-256 of the fields, without their `secret_fields`, as Python's `json.dumps`
//! writes them with sorted keys, inside the `((fields,), {})` of `hash_objects`'
//! arguments. Prefect's client computes the same checksum to
//! find a schema before it creates one, so ours must be byte for byte the same.

use std::fmt::Write as _;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// `sha256:<hex>` of a schema's fields.
pub(crate) fn of_fields(fields: &Map<String, Value>) -> String {
    let mut fields = without_secret_fields(&Value::Object(fields.clone()));
    if let Value::Object(map) = &mut fields {
        // Prefect keeps only the definitions that are not nested blocks, and drops
        // the key when none is left.
        if let Some(Value::Object(defs)) = map.get_mut("definitions") {
            defs.retain(|_, d| d.get("block_type_slug").is_none());
            if defs.is_empty() {
                map.remove("definitions");
            }
        }
    }
    // hash_objects(fields) dumps its (args, kwargs): `[[fields], {}]`.
    let mut text = String::from("[[");
    python_json(&fields, &mut text);
    text.push_str("], {}]");
    let digest = Sha256::digest(text.as_bytes());
    let mut hex = String::with_capacity(7 + 64);
    hex.push_str("sha256:");
    for b in digest {
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

fn without_secret_fields(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| k.as_str() != "secret_fields")
                .map(|(k, v)| (k.clone(), without_secret_fields(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `json.dumps(value, sort_keys=True)`: `", "` and `": "` between items, and
/// every character outside ASCII escaped.
fn python_json(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => python_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                python_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                python_string(key, out);
                out.push_str(": ");
                python_json(&map[key], out);
            }
            out.push('}');
        }
    }
}

fn python_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7f => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn writes_json_as_python_does() {
        let mut s = String::new();
        python_json(
            &json!({"b": [1, 2.5, null], "a": "é\n😀", "c": {"z": true, "y": false}}),
            &mut s,
        );
        assert_eq!(
            s,
            r#"{"a": "\u00e9\n\ud83d\ude00", "b": [1, 2.5, null], "c": {"y": false, "z": true}}"#
        );
    }

    #[test]
    fn the_checksum_is_prefects() {
        // Printed by Prefect 3.9.1: `Block._calculate_schema_checksum(<these fields>)`.
        let fields = json!({"title": "Webhook", "secret_fields": ["url"], "properties": {"url": {"title": "Webhook URL é", "position": 1, "default": 2.5}}, "required": ["url"]});
        let Value::Object(fields) = fields else {
            unreachable!()
        };
        assert_eq!(
            of_fields(&fields),
            "sha256:5c17050128e5b6fa2c1710906cbe1b11b2d01cadbc2b9c18981a29179a617291"
        );
    }

    #[test]
    fn secret_fields_do_not_change_the_checksum() {
        let a = json!({"title": "Webhook", "secret_fields": ["url"], "properties": {}});
        let b = json!({"title": "Webhook", "properties": {}});
        let (Value::Object(a), Value::Object(b)) = (a, b) else {
            unreachable!()
        };
        assert_eq!(of_fields(&a), of_fields(&b));
        assert!(of_fields(&a).starts_with("sha256:"));
    }
}
