//! The canonical encoding of audit records: the exact bytes a leaf of the Merkle tree hashes.
//!
//! A record's canonical bytes are its OTLP JSON `LogRecord` as
//! [`AuditRecord::to_otlp_log_record`] writes it, serialized with object keys sorted by
//! their UTF-8 bytes, no insignificant whitespace, strings escaped as `serde_json` escapes
//! them (`"`, `\` and control characters only) and integers in plain decimal. Attribute order
//! is the mapping's own, fixed order. Nothing here depends on `serde_json`'s map ordering
//! feature, so the bytes cannot change under a dependency's feature flags.
//!
//! The same writer frames every line of an export, which lets `verify` insist that each
//! line is byte-for-byte what it parsed: an edit that keeps the JSON meaning still fails.

use jitgate_grant::audit::AuditRecord;
use serde_json::Value;

use crate::merkle::{leaf_hash, Hash};

/// `value` in canonical JSON form.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, &mut out);
    out
}

/// The canonical bytes of a record (see the module docs).
pub fn record_canonical_json(record: &AuditRecord) -> String {
    canonical_json(&record.to_otlp_log_record())
}

/// The Merkle leaf hash of a record's canonical bytes.
pub fn record_leaf_hash(canonical: &str) -> Hash {
    leaf_hash(canonical.as_bytes())
}

fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => out.push_str(&number.to_string()),
        Value::String(text) => write_string(text, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            // serde_json's default map iterates in key order already; only a map built with
            // its `preserve_order` feature needs sorting (and an allocation) here.
            let sorted = map
                .keys()
                .zip(map.keys().skip(1))
                .all(|(a, b)| a.as_bytes() < b.as_bytes());
            if sorted {
                write_entries(map.iter(), out);
            } else {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                write_entries(entries.into_iter(), out);
            }
            out.push('}');
        }
    }
}

fn write_entries<'v>(entries: impl Iterator<Item = (&'v String, &'v Value)>, out: &mut String) {
    for (i, (key, item)) in entries.enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(key, out);
        out.push(':');
        write_value(item, out);
    }
}

fn write_string(text: &str, out: &mut String) {
    out.push('"');
    if !text.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.push_str(text);
        out.push('"');
        return;
    }
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn sorts_keys_and_drops_whitespace() {
        let value = json!({"b": [1, {"z": true, "a": null}], "a": "x"});
        assert_eq!(
            canonical_json(&value),
            r#"{"a":"x","b":[1,{"a":null,"z":true}]}"#
        );
    }

    #[test]
    fn escapes_like_serde_json() {
        for text in [
            "plain",
            "quote \" and \\ slash /",
            "tab\tnl\ncr\r",
            "\u{1}\u{1f}é🙂",
        ] {
            let value = Value::String(text.to_owned());
            assert_eq!(
                canonical_json(&value),
                serde_json::to_string(&value).unwrap()
            );
        }
    }

    #[test]
    fn canonical_text_reparses_to_the_same_text() {
        let value = json!({"k": ["\u{7f}", -3, 18446744073709551615u64, {"y": "", "x": []}]});
        let text = canonical_json(&value);
        let reparsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(canonical_json(&reparsed), text);
    }
}
