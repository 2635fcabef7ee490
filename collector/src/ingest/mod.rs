//! Turning an OTLP/HTTP export request into audit records the log can take: decoding (JSON
//! or protobuf), walking the envelope, and validating each log record through the one OTLP
//! mapping in `jitgate-grant`.
//!
//! An envelope that cannot be decoded is refused whole (400, nothing stored). A log record
//! that is not a valid audit record is rejected on its own, with its position and the reason,
//! so its valid neighbours can still be stored (OTLP partial success).

pub mod json;
pub mod protobuf;
pub mod response;

use jitgate_grant::audit::fields::LogRecordFields;
use jitgate_grant::audit::AuditRecord;

use crate::canonical::record_leaf_hash;
use crate::merkle::Hash;

/// Longest stream id accepted.
pub(crate) const MAX_STREAM_ID_BYTES: usize = 256;

/// A valid audit record, ready for the log.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Where it was in the request, e.g. `resourceLogs[0].scopeLogs[0].logRecords[3]`.
    pub position: String,
    /// The record.
    pub record: AuditRecord,
    /// Its canonical bytes, written once here and carried, never rebuilt, to the store.
    pub canonical: String,
    /// Their leaf hash, computed once here.
    pub leaf: Hash,
}

/// A log record refused, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Where it was in the request.
    pub position: String,
    /// What is wrong with it.
    pub reason: String,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.position, self.reason)
    }
}

/// Log records found in an envelope, each with its position, as the fields the mapping reads
/// (borrowed from the request body where they can be).
pub type LogRecords<'a> = Vec<(String, LogRecordFields<'a>)>;

/// Validates each log record; the valid ones come back in request order, each with its
/// canonical bytes and leaf hash.
pub fn validate(records: LogRecords<'_>) -> (Vec<Candidate>, Vec<Rejection>) {
    let mut candidates = Vec::with_capacity(records.len());
    let mut rejections = Vec::new();
    for (position, fields) in records {
        match validate_one(fields) {
            Ok(record) => {
                let canonical = record.to_otlp_log_record_text();
                let leaf = record_leaf_hash(&canonical);
                candidates.push(Candidate {
                    position,
                    record,
                    canonical,
                    leaf,
                });
            }
            Err(reason) => rejections.push(Rejection { position, reason }),
        }
    }
    (candidates, rejections)
}

fn validate_one(fields: LogRecordFields<'_>) -> Result<AuditRecord, String> {
    let record = AuditRecord::from_otlp_fields(fields).map_err(|e| e.to_string())?;
    if record.stream_id.is_empty() {
        return Err("jitgate.stream.id: must not be empty".into());
    }
    if record.stream_id.len() > MAX_STREAM_ID_BYTES {
        return Err(format!(
            "jitgate.stream.id: longer than {MAX_STREAM_ID_BYTES} bytes"
        ));
    }
    if record.sequence == 0 {
        return Err("jitgate.stream.sequence: sequences start at 1".into());
    }
    // The store keeps 64-bit signed integers.
    if i64::try_from(record.sequence).is_err() {
        return Err("jitgate.stream.sequence: larger than 2^63 - 1".into());
    }
    if i64::try_from(record.time_unix_nano).is_err() {
        return Err("timeUnixNano: later than the year 2262".into());
    }
    if record.time_unix_nano == 0 {
        return Err("timeUnixNano: missing (zero)".into());
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use jitgate_grant::audit::json_read::Shaped;
    use jitgate_grant::audit::otlp::{export_logs_request_text, Resource};
    use jitgate_grant::audit::AuditDecision;

    use super::*;

    pub(crate) fn record(stream: &str, sequence: u64) -> AuditRecord {
        AuditRecord {
            time_unix_nano: 1_767_225_600_000_000_000 + sequence,
            stream_id: stream.into(),
            sequence,
            decision: AuditDecision::Allow,
            reason: "granted".into(),
            route: None,
            grant_id: Some("g-1".into()),
            subject: Some("alice@example.com".into()),
            client_id: None,
            approvers: vec![],
            break_glass: false,
            scopes_granted: vec![],
            scope_required: None,
            token_digest: None,
            method: "POST".into(),
            authority: "gw".into(),
            path: "/v1/chat/completions".into(),
            model: Some("m".into()),
            status: 200,
            duration_ms: 1,
            request_bytes: 1,
            response_bytes: 1,
            client_address: None,
            user_agent: None,
            request_id: None,
            input_tokens: None,
            output_tokens: None,
            limit_requests: None,
            limit_tokens: None,
        }
    }

    #[test]
    fn keeps_valid_records_and_explains_the_rest() {
        let good = record("vm-1", 1).to_otlp_log_record_text();
        let zero = record("vm-1", 0).to_otlp_log_record_text();
        let mut missing = record("vm-1", 2).to_otlp_log_record();
        missing["attributes"]
            .as_array_mut()
            .unwrap()
            .retain(|a| a["key"] != "jitgate.decision");
        let missing = missing.to_string();
        let fields = |text| match serde_json::from_str(text).unwrap() {
            Shaped::Object(fields) => fields,
            Shaped::Other => panic!("an object"),
        };
        let (candidates, rejections) = validate(vec![
            ("r[0]".into(), fields(&good)),
            ("r[1]".into(), fields(&zero)),
            ("r[2]".into(), fields(&missing)),
        ]);
        assert_eq!(candidates.len(), 1);
        assert_eq!(candidates[0].record, record("vm-1", 1));
        assert_eq!(
            rejections,
            vec![
                Rejection {
                    position: "r[1]".into(),
                    reason: "jitgate.stream.sequence: sequences start at 1".into()
                },
                Rejection {
                    position: "r[2]".into(),
                    reason: "jitgate.decision: missing".into()
                },
            ]
        );
    }

    /// The filter's body (records written by `to_otlp_log_record_text`, assembled by
    /// `export_logs_request_text`) is stored as the very bytes the filter wrote.
    #[test]
    fn stores_the_bytes_the_filter_sent() {
        let sent: Vec<String> = (1..=3)
            .map(|sequence| crate::bench::sample_record("vm-1", sequence).to_otlp_log_record_text())
            .collect();
        let refs: Vec<&str> = sent.iter().map(String::as_str).collect();
        let resource = Resource {
            service_name: "jitgate-filter".into(),
            instance_id: "i-1".into(),
        };
        let body = export_logs_request_text(&resource, "0.1.0", &refs);
        let (candidates, rejections) = validate(json::decode(body.as_bytes()).unwrap());
        assert!(rejections.is_empty());
        for (candidate, sent) in candidates.iter().zip(&sent) {
            assert_eq!(&candidate.canonical, sent);
            assert_eq!(candidate.leaf, record_leaf_hash(sent));
        }
    }
}
