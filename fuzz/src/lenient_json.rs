//! A reference reader for the parser differential of threat-model finding 2: how a model
//! server built on a case-insensitive JSON decoder (Go's `encoding/json`, ASP.NET's default)
//! reads a member — every top-level member whose name case-folds to the wanted one counts,
//! and the last one wins.
//!
//! Written from those decoders' documented behaviour, not from `jitgate_grant::model`: the
//! fold here is Rust's full Unicode lower- and uppercase mapping of the whole name.

use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::Value;

/// The value a case-insensitive, last-wins decoder gives `key` in `body`'s top-level object;
/// `None` when the body is not one JSON object or has no such member.
pub fn last_case_insensitive_member(body: &[u8], key: &str) -> Option<Value> {
    let members = top_level_members(body)?;
    members
        .into_iter()
        .filter(|(name, _)| folds_equal(name, key))
        .last()
        .map(|(_, value)| value)
}

/// Whether two member names are equal ignoring case, as those decoders compare them.
fn folds_equal(name: &str, key: &str) -> bool {
    name.to_lowercase() == key.to_lowercase() || name.to_uppercase() == key.to_uppercase()
}

/// Every top-level member, in order, repeats kept.
fn top_level_members(body: &[u8]) -> Option<Vec<(String, Value)>> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let members = deserializer.deserialize_map(Members).ok()?;
    deserializer.end().ok()?;
    Some(members)
}

struct Members;

impl<'de> Visitor<'de> for Members {
    type Value = Vec<(String, Value)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::new();
        while let Some(entry) = map.next_entry::<String, Value>()? {
            members.push(entry);
        }
        Ok(members)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_member_in_any_case_wins() {
        let body = br#"{"model":"a","Model":"b","x":1}"#;
        assert_eq!(
            last_case_insensitive_member(body, "model"),
            Some(Value::String("b".into()))
        );
        assert_eq!(
            last_case_insensitive_member("{\"\u{212A}ey\":1}".as_bytes(), "key"),
            Some(Value::from(1))
        );
        assert_eq!(last_case_insensitive_member(b"[1]", "model"), None);
        assert_eq!(last_case_insensitive_member(br#"{"m":1}"#, "model"), None);
    }
}
