//! The canonical encoding of audit records: the exact bytes a leaf of the Merkle tree hashes.
//!
//! A gateway or issuer record's canonical bytes are its OTLP JSON `LogRecord` exactly as
//! [`AuditRecord::to_otlp_log_record_text`] writes it — the same bytes the filter sends. That
//! writer is the only one: no `Value` tree, no second escaper. Object keys are sorted by their
//! UTF-8 bytes, there is no insignificant whitespace, strings are escaped as `serde_json`
//! escapes them (`"`, `\` and control characters only) and integers are plain decimal.
//!
//! [`canonical_json`] writes the same form for other JSON the collector signs or frames — the
//! guard's own records, export headers and trailers, filters — with the same string escaper.
//! Nothing here depends on `serde_json`'s map ordering feature, so the bytes cannot change
//! under a dependency's feature flags.
//!
//! The same form frames every line of an export, which lets `verify` insist that each line is
//! byte-for-byte what it parsed: an edit that keeps the JSON meaning still fails.

use jitgate_grant::audit::text::push_json_string;
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
    record.to_otlp_log_record_text()
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
        Value::String(text) => push_json_string(out, text),
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
        push_json_string(out, key);
        out.push(':');
        write_value(item, out);
    }
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

    /// The filter sends `to_otlp_log_record_text`; the log hashes the same bytes, and the
    /// generic canonical writer agrees with them on the parsed record.
    #[test]
    fn the_filters_bytes_are_the_canonical_bytes() {
        let record = crate::bench::sample_record("vm-1", 7);
        let sent = record.to_otlp_log_record_text();
        assert_eq!(record_canonical_json(&record), sent);
        let parsed: Value = serde_json::from_str(&sent).unwrap();
        assert_eq!(canonical_json(&parsed), sent);
        assert_eq!(record_leaf_hash(&sent), leaf_hash(sent.as_bytes()));
    }
}
