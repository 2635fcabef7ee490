//! The guard record: the log's third record kind, written by the collector itself when a
//! rule fires — never a gateway's HTTP record dressed up, and never accepted from a sender
//! (`POST /v1/logs` only takes gateway and issuer records, re-encoded by their own mapping).
//!
//! It is an OTLP JSON `LogRecord` with `eventName` `jitgate.guard`, severity WARN, the body
//! `guard rule <rule> fired: <detail>`, and these attributes, in this order:
//!
//! | attribute | meaning |
//! |---|---|
//! | `jitgate.stream.id`, `jitgate.stream.sequence` | the collector's guard stream (`guard-<key id>`) and the firing's place in it |
//! | `jitgate.guard.firing_id` | the firing's id: the same in the log, the alert and a replay |
//! | `jitgate.guard.rule`, `jitgate.guard.kind`, `jitgate.guard.action` | which rule, its kind, what it did |
//! | `jitgate.grant.id`, `enduser.id` | the grant and its subject |
//! | `jitgate.guard.counted_by` | `grant` or `subject`: whose records the rule counted |
//! | `jitgate.guard.window.seconds`, `jitgate.guard.window.start` | the window (absent for whole-life rules), its start in Unix seconds |
//! | `jitgate.guard.counts` | a key-value list of integers: what was counted and the rule's limit |
//! | `jitgate.guard.evidence.leaf_index` | the log position of the record whose count crossed the limit |
//! | `jitgate.guard.detail` | the same in words |
//!
//! `timeUnixNano` is the time of that evidence record, so the firing is placed on the
//! records' own clock. As for every record, the canonical bytes are this JSON with sorted
//! keys (`canonical`); the parser refuses anything the writer would not write back the same.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::canonical::{canonical_json, record_leaf_hash};
use crate::merkle::Hash;

/// `eventName` of guard records.
pub const GUARD_EVENT: &str = "jitgate.guard";

/// How every guard stream id starts.
pub const GUARD_STREAM_PREFIX: &str = "guard-";

/// What the stored `decision` column holds for guard records (not a gateway decision).
pub const GUARD_DECISION: &str = "guard";

const SEVERITY_WARN: u8 = 13;

/// One firing, as logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardRecord {
    /// The evidence record's time.
    pub time_unix_nano: u64,
    /// The guard stream.
    pub stream_id: String,
    /// Place in it, from 1.
    pub sequence: u64,
    /// The firing's id.
    pub firing_id: String,
    /// The rule's name.
    pub rule: String,
    /// Its kind.
    pub kind: String,
    /// `alert`, `revoke` or `alert+revoke`.
    pub action: String,
    /// The grant.
    pub grant_id: String,
    /// Its subject.
    pub subject: Option<String>,
    /// `grant` or `subject`.
    pub counted_by: String,
    /// The window's length, for windowed rules.
    pub window_seconds: Option<u64>,
    /// The window's start, Unix seconds, for windowed rules.
    pub window_start: Option<u64>,
    /// What was counted, and the limit.
    pub counts: BTreeMap<String, u64>,
    /// The leaf index of the record that crossed the limit.
    pub evidence_leaf_index: u64,
    /// In words.
    pub detail: String,
}

impl GuardRecord {
    /// The OTLP JSON `LogRecord`.
    pub fn to_otlp_log_record(&self) -> Value {
        let mut attributes = Vec::with_capacity(16);
        let string = |key: &str, value: &str| json!({"key": key, "value": {"stringValue": value}});
        let int =
            |key: &str, value: u64| json!({"key": key, "value": {"intValue": value.to_string()}});
        attributes.push(string("jitgate.stream.id", &self.stream_id));
        attributes.push(int("jitgate.stream.sequence", self.sequence));
        attributes.push(string("jitgate.guard.firing_id", &self.firing_id));
        attributes.push(string("jitgate.guard.rule", &self.rule));
        attributes.push(string("jitgate.guard.kind", &self.kind));
        attributes.push(string("jitgate.guard.action", &self.action));
        attributes.push(string("jitgate.grant.id", &self.grant_id));
        if let Some(subject) = &self.subject {
            attributes.push(string("enduser.id", subject));
        }
        attributes.push(string("jitgate.guard.counted_by", &self.counted_by));
        if let Some(seconds) = self.window_seconds {
            attributes.push(int("jitgate.guard.window.seconds", seconds));
        }
        if let Some(start) = self.window_start {
            attributes.push(int("jitgate.guard.window.start", start));
        }
        let counts: Vec<Value> = self
            .counts
            .iter()
            .map(|(key, value)| json!({"key": key, "value": {"intValue": value.to_string()}}))
            .collect();
        attributes.push(
            json!({"key": "jitgate.guard.counts", "value": {"kvlistValue": {"values": counts}}}),
        );
        attributes.push(int(
            "jitgate.guard.evidence.leaf_index",
            self.evidence_leaf_index,
        ));
        attributes.push(string("jitgate.guard.detail", &self.detail));
        json!({
            "timeUnixNano": self.time_unix_nano.to_string(),
            "observedTimeUnixNano": self.time_unix_nano.to_string(),
            "severityNumber": SEVERITY_WARN,
            "severityText": "WARN",
            "eventName": GUARD_EVENT,
            "body": {"stringValue": format!("guard rule {} fired: {}", self.rule, self.detail)},
            "attributes": attributes,
        })
    }

    /// The canonical bytes and their leaf hash.
    pub fn canonical(&self) -> (String, Hash) {
        let canonical = canonical_json(&self.to_otlp_log_record());
        let leaf = record_leaf_hash(&canonical);
        (canonical, leaf)
    }

    /// Whether `record` is a guard record (by its `eventName`).
    pub fn is_guard_record(record: &Value) -> bool {
        record.get("eventName").and_then(Value::as_str) == Some(GUARD_EVENT)
    }

    /// Reads a guard record back; refuses what [`Self::to_otlp_log_record`] would not write.
    pub fn from_otlp_log_record(record: &Value) -> Result<GuardRecord, String> {
        if !GuardRecord::is_guard_record(record) {
            return Err(format!("eventName: not {GUARD_EVENT}"));
        }
        let mut attributes: Map<String, Value> = Map::new();
        for attribute in record
            .get("attributes")
            .and_then(Value::as_array)
            .ok_or("attributes: missing")?
        {
            let key = attribute
                .get("key")
                .and_then(Value::as_str)
                .ok_or("attributes: a key is missing")?;
            let value = attribute
                .get("value")
                .cloned()
                .ok_or(format!("{key}: no value"))?;
            if attributes.insert(key.to_owned(), value).is_some() {
                return Err(format!("{key}: attribute repeated"));
            }
        }
        let text = |key: &str| -> Option<String> {
            attributes
                .get(key)
                .and_then(|v| v.get("stringValue"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let required = |key: &str| text(key).ok_or(format!("{key}: missing"));
        let integer = |value: &Value| -> Option<u64> {
            value
                .get("intValue")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok())
        };
        let int = |key: &str| -> Result<Option<u64>, String> {
            attributes
                .get(key)
                .map(|v| integer(v).ok_or(format!("{key}: not an integer")))
                .transpose()
        };
        let mut counts = BTreeMap::new();
        for entry in attributes
            .get("jitgate.guard.counts")
            .and_then(|v| v.pointer("/kvlistValue/values"))
            .and_then(Value::as_array)
            .ok_or("jitgate.guard.counts: missing")?
        {
            let key = entry
                .get("key")
                .and_then(Value::as_str)
                .ok_or("jitgate.guard.counts: a key is missing")?;
            let value = entry
                .get("value")
                .and_then(integer)
                .ok_or(format!("jitgate.guard.counts: {key} is not an integer"))?;
            counts.insert(key.to_owned(), value);
        }
        let time = record
            .get("timeUnixNano")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
            .ok_or("timeUnixNano: missing")?;
        let parsed = GuardRecord {
            time_unix_nano: time,
            stream_id: required("jitgate.stream.id")?,
            sequence: int("jitgate.stream.sequence")?.ok_or("jitgate.stream.sequence: missing")?,
            firing_id: required("jitgate.guard.firing_id")?,
            rule: required("jitgate.guard.rule")?,
            kind: required("jitgate.guard.kind")?,
            action: required("jitgate.guard.action")?,
            grant_id: required("jitgate.grant.id")?,
            subject: text("enduser.id"),
            counted_by: required("jitgate.guard.counted_by")?,
            window_seconds: int("jitgate.guard.window.seconds")?,
            window_start: int("jitgate.guard.window.start")?,
            counts,
            evidence_leaf_index: int("jitgate.guard.evidence.leaf_index")?
                .ok_or("jitgate.guard.evidence.leaf_index: missing")?,
            detail: required("jitgate.guard.detail")?,
        };
        if canonical_json(&parsed.to_otlp_log_record()) != canonical_json(record) {
            return Err("not a guard record as the collector writes it".into());
        }
        Ok(parsed)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> GuardRecord {
        GuardRecord {
            time_unix_nano: 1_767_225_600_000_000_007,
            stream_id: "guard-0a1b2c3d".into(),
            sequence: 1,
            firing_id: "gf-00".into(),
            rule: "probing".into(),
            kind: "probing".into(),
            action: "alert+revoke".into(),
            grant_id: "g-1".into(),
            subject: Some("alice@example.com".into()),
            counted_by: "grant".into(),
            window_seconds: Some(60),
            window_start: Some(1_767_225_600),
            counts: BTreeMap::from([("limit".into(), 5), ("refusals".into(), 5)]),
            evidence_leaf_index: 9,
            detail: "5 refusals in 60 s".into(),
        }
    }

    #[test]
    fn round_trips_through_its_canonical_form() {
        let record = sample();
        let (canonical, _) = record.canonical();
        let value: Value = serde_json::from_str(&canonical).unwrap();
        assert_eq!(GuardRecord::from_otlp_log_record(&value).unwrap(), record);
        assert!(canonical.contains(r#""eventName":"jitgate.guard""#));
        assert!(canonical.contains(
            r#"{"key":"jitgate.guard.counts","value":{"kvlistValue":{"values":[{"key":"limit","value":{"intValue":"5"}},{"key":"refusals","value":{"intValue":"5"}}]}}}"#
        ));
    }

    #[test]
    fn refuses_anything_it_would_not_write() {
        let mut value = sample().to_otlp_log_record();
        value["severityText"] = json!("INFO");
        assert_eq!(
            GuardRecord::from_otlp_log_record(&value).unwrap_err(),
            "not a guard record as the collector writes it"
        );
        let mut value = sample().to_otlp_log_record();
        value["eventName"] = json!("jitgate.request");
        assert_eq!(
            GuardRecord::from_otlp_log_record(&value).unwrap_err(),
            "eventName: not jitgate.guard"
        );
    }
}
