//! The OTLP/HTTP JSON form of audit records (`ExportLogsServiceRequest`), so any
//! OpenTelemetry collector can receive them, and the reverse mapping the jitgate collector
//! uses.
//!
//! Attribute names follow the OpenTelemetry semantic conventions where one exists
//! (`http.request.method`, `url.path`, `http.response.status_code`, `client.address`,
//! `server.address`, `user_agent.original`, `enduser.id`, `gen_ai.request.model`,
//! `gen_ai.usage.input_tokens` / `output_tokens`, `http.request.body.size`,
//! `http.response.body.size`); the rest live under `jitgate.`. OTLP JSON encodes 64-bit
//! integers as strings, as the protobuf JSON mapping requires.

use std::fmt;

use serde::Deserialize;
use serde_json::{json, Value};

use super::fields::LogRecordFields;
use super::json_read::{Scalar, Shaped};
use super::record::{AuditDecision, AuditRecord};
use super::text::push_json_string;

/// Attribute names, in one place.
pub mod names {
    /// `allow` / `deny`.
    pub const DECISION: &str = "jitgate.decision";
    /// Reason code.
    pub const REASON: &str = "jitgate.reason";
    /// Route name.
    pub const ROUTE: &str = "jitgate.route";
    /// Grant id.
    pub const GRANT_ID: &str = "jitgate.grant.id";
    /// Subject.
    pub const SUBJECT: &str = "enduser.id";
    /// Client id.
    pub const CLIENT_ID: &str = "jitgate.client.id";
    /// Approvers (string array).
    pub const APPROVERS: &str = "jitgate.grant.approvers";
    /// Break-glass flag.
    pub const BREAK_GLASS: &str = "jitgate.grant.break_glass";
    /// Granted scopes (string array).
    pub const SCOPES_GRANTED: &str = "jitgate.scopes.granted";
    /// Required scope.
    pub const SCOPE_REQUIRED: &str = "jitgate.scope.required";
    /// Token digest.
    pub const TOKEN_DIGEST: &str = "jitgate.token.digest";
    /// Stream id.
    pub const STREAM_ID: &str = "jitgate.stream.id";
    /// Sequence number.
    pub const SEQUENCE: &str = "jitgate.stream.sequence";
    /// HTTP method.
    pub const METHOD: &str = "http.request.method";
    /// Authority.
    pub const AUTHORITY: &str = "server.address";
    /// Path.
    pub const PATH: &str = "url.path";
    /// Model.
    pub const MODEL: &str = "gen_ai.request.model";
    /// Status.
    pub const STATUS: &str = "http.response.status_code";
    /// Duration in milliseconds.
    pub const DURATION_MS: &str = "jitgate.duration_ms";
    /// Request body size.
    pub const REQUEST_BYTES: &str = "http.request.body.size";
    /// Response body size.
    pub const RESPONSE_BYTES: &str = "http.response.body.size";
    /// Client address.
    pub const CLIENT_ADDRESS: &str = "client.address";
    /// User agent.
    pub const USER_AGENT: &str = "user_agent.original";
    /// Request id.
    pub const REQUEST_ID: &str = "jitgate.request.id";
    /// Input tokens.
    pub const INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
    /// Output tokens.
    pub const OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
    /// The grant's request budget.
    pub const LIMIT_REQUESTS: &str = "jitgate.grant.limits.requests";
    /// The grant's model-token budget.
    pub const LIMIT_TOKENS: &str = "jitgate.grant.limits.tokens";
}

/// Who is sending records, for the OTLP resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// `service.name`.
    pub service_name: String,
    /// `service.instance.id`.
    pub instance_id: String,
}

/// A log record that is not a valid jitgate audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    /// The attribute (or field) at fault.
    pub field: String,
    /// What is wrong.
    pub problem: &'static str,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

impl std::error::Error for RecordError {}

impl RecordError {
    /// `field` is not there.
    pub(crate) fn missing(field: &str) -> RecordError {
        RecordError {
            field: field.to_owned(),
            problem: "missing",
        }
    }

    /// `field` has the wrong type or value.
    pub(crate) fn bad(field: &str) -> RecordError {
        RecordError {
            field: field.to_owned(),
            problem: "wrong type or value",
        }
    }
}

impl AuditRecord {
    /// The record as one OTLP JSON `LogRecord` value: [`Self::to_otlp_log_record_text`]
    /// parsed, so the two can never differ.
    pub fn to_otlp_log_record(&self) -> Value {
        // The text is JSON by construction; `Null` would only mean a bug in the writer, which
        // the golden-text tests would show first.
        serde_json::from_str(&self.to_otlp_log_record_text()).unwrap_or(Value::Null)
    }

    /// Reads a record from its OTLP JSON `LogRecord` value, with the same rules (and the same
    /// refusals) as [`Self::from_otlp_fields`].
    pub fn from_otlp_log_record(record: &Value) -> Result<AuditRecord, RecordError> {
        // Reading a `Value` cannot fail: every shape is kept for the rules to judge.
        match Shaped::<LogRecordFields>::deserialize(record) {
            Ok(Shaped::Object(fields)) => AuditRecord::from_otlp_fields(fields),
            Ok(Shaped::Other) | Err(_) => Err(RecordError::missing("attributes")),
        }
    }

    /// Reads a record from one OTLP JSON `LogRecord` in text, without a `Value` tree.
    pub fn from_otlp_log_record_text(text: &str) -> Result<AuditRecord, OtlpTextError> {
        match serde_json::from_str::<Shaped<LogRecordFields>>(text) {
            Ok(Shaped::Object(fields)) => {
                AuditRecord::from_otlp_fields(fields).map_err(OtlpTextError::Record)
            }
            Ok(Shaped::Other) => Err(OtlpTextError::Record(RecordError::missing("attributes"))),
            Err(error) => Err(OtlpTextError::Json(error.to_string())),
        }
    }

    /// Applies the mapping's rules to a log record as read from either encoding: required
    /// attributes present, each of its type, integers within OTLP's int64, no attribute
    /// repeated. The first problem found is the one reported, in this order: the attribute
    /// list, `timeUnixNano`, then the attributes in the record's field order.
    pub fn from_otlp_fields(fields: LogRecordFields<'_>) -> Result<AuditRecord, RecordError> {
        let LogRecordFields {
            time_unix_nano,
            attributes,
        } = fields;
        let attributes = attributes.ok_or_else(|| RecordError::missing("attributes"))?;
        if let Some(problem) = &attributes.problem {
            return Err(problem.clone());
        }
        let time = match time_unix_nano {
            Scalar::Str(s) => s.parse().map_err(|_| RecordError::bad("timeUnixNano"))?,
            Scalar::PosInt(n) => n,
            Scalar::NegInt(_) | Scalar::Float => return Err(RecordError::bad("timeUnixNano")),
            Scalar::Absent | Scalar::Other => return Err(RecordError::missing("timeUnixNano")),
        };
        // OTLP's `intValue` is an int64: a count above `i64::MAX` cannot be sent in the
        // protobuf encoding, so the JSON one refuses it too (the two must accept the same
        // records), and a negative count is no count.
        let int = |key: &str| -> Result<Option<u64>, RecordError> {
            let signed = match attributes.get(key).map(|v| &v.int) {
                None | Some(Scalar::Absent) => return Ok(None),
                Some(Scalar::Str(s)) => s.parse::<i64>().map_err(|_| RecordError::bad(key))?,
                Some(Scalar::PosInt(n)) => i64::try_from(*n).map_err(|_| RecordError::bad(key))?,
                Some(Scalar::NegInt(_) | Scalar::Float | Scalar::Other) => {
                    return Err(RecordError::bad(key))
                }
            };
            u64::try_from(signed)
                .map(Some)
                .map_err(|_| RecordError::bad(key))
        };
        let text = |key: &str| {
            attributes
                .get(key)
                .and_then(|v| v.string.as_deref())
                .map(str::to_owned)
        };
        let required =
            |value: Option<String>, key: &str| value.ok_or_else(|| RecordError::missing(key));
        let decision = AuditDecision::parse(&required(text(names::DECISION), names::DECISION)?)
            .ok_or_else(|| RecordError::bad(names::DECISION))?;
        let status = int(names::STATUS)?.ok_or_else(|| RecordError::missing(names::STATUS))?;
        let stream_id = required(text(names::STREAM_ID), names::STREAM_ID)?;
        let sequence =
            int(names::SEQUENCE)?.ok_or_else(|| RecordError::missing(names::SEQUENCE))?;
        let reason = required(text(names::REASON), names::REASON)?;
        let route = text(names::ROUTE);
        let grant_id = text(names::GRANT_ID);
        let subject = text(names::SUBJECT);
        let client_id = text(names::CLIENT_ID);
        let strings = |key: &str| -> Vec<String> {
            attributes.get(key).map_or_else(Vec::new, |v| {
                v.strings.iter().map(|s| s.as_ref().to_owned()).collect()
            })
        };
        let approvers = strings(names::APPROVERS);
        let scopes_granted = strings(names::SCOPES_GRANTED);
        let break_glass = attributes
            .get(names::BREAK_GLASS)
            .and_then(|v| v.boolean)
            .unwrap_or(false);
        let scope_required = text(names::SCOPE_REQUIRED);
        let token_digest = text(names::TOKEN_DIGEST);
        let method = required(text(names::METHOD), names::METHOD)?;
        let authority = text(names::AUTHORITY).unwrap_or_default();
        let path = required(text(names::PATH), names::PATH)?;
        let model = text(names::MODEL);
        Ok(AuditRecord {
            time_unix_nano: time,
            stream_id,
            sequence,
            decision,
            reason,
            route,
            grant_id,
            subject,
            client_id,
            approvers,
            break_glass,
            scopes_granted,
            scope_required,
            token_digest,
            method,
            authority,
            path,
            model,
            status: u16::try_from(status).map_err(|_| RecordError::bad(names::STATUS))?,
            duration_ms: int(names::DURATION_MS)?.unwrap_or(0),
            request_bytes: int(names::REQUEST_BYTES)?.unwrap_or(0),
            response_bytes: int(names::RESPONSE_BYTES)?.unwrap_or(0),
            client_address: text(names::CLIENT_ADDRESS),
            user_agent: text(names::USER_AGENT),
            request_id: text(names::REQUEST_ID),
            input_tokens: int(names::INPUT_TOKENS)?,
            output_tokens: int(names::OUTPUT_TOKENS)?,
            limit_requests: int(names::LIMIT_REQUESTS)?,
            limit_tokens: int(names::LIMIT_TOKENS)?,
        })
    }
}

/// One OTLP JSON `LogRecord` in text that is not a valid audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OtlpTextError {
    /// The text is not JSON (the parser's message).
    Json(String),
    /// It is JSON but not a valid record.
    Record(RecordError),
}

impl fmt::Display for OtlpTextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OtlpTextError::Json(message) => write!(f, "not JSON: {message}"),
            OtlpTextError::Record(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for OtlpTextError {}

/// Wraps log records in an `ExportLogsServiceRequest` for `POST /v1/logs`.
pub fn export_logs_request(
    resource: &Resource,
    scope_version: &str,
    records: &[AuditRecord],
) -> Value {
    json!({
        "resourceLogs": [{
            "resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": resource.service_name}},
                {"key": "service.instance.id", "value": {"stringValue": resource.instance_id}},
            ]},
            "scopeLogs": [{
                "scope": {"name": "jitgate", "version": scope_version},
                "logRecords": records.iter().map(AuditRecord::to_otlp_log_record).collect::<Vec<_>>(),
            }],
        }]
    })
}

/// The same request as [`export_logs_request`], assembled as text from log records already
/// written (each one [`AuditRecord::to_otlp_log_record_text`]): a gateway writes each record
/// once, when it is made, and sizes batches by those bytes.
pub fn export_logs_request_text(
    resource: &Resource,
    scope_version: &str,
    log_records: &[&str],
) -> String {
    let records_len: usize = log_records.iter().map(|record| record.len() + 1).sum();
    let mut text = String::with_capacity(records_len + 256);
    text.push_str(
        r#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"#,
    );
    push_json_string(&mut text, &resource.service_name);
    text.push_str(r#"}},{"key":"service.instance.id","value":{"stringValue":"#);
    push_json_string(&mut text, &resource.instance_id);
    text.push_str(r#"}}]},"scopeLogs":[{"scope":{"name":"jitgate","version":"#);
    push_json_string(&mut text, scope_version);
    text.push_str(r#"},"logRecords":["#);
    for (index, record) in log_records.iter().enumerate() {
        if index > 0 {
            text.push(',');
        }
        text.push_str(record);
    }
    text.push_str("]}]}]}");
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn sample() -> AuditRecord {
        AuditRecord {
            time_unix_nano: 1_767_225_600_123_456_789,
            stream_id: "vm-1".into(),
            sequence: 42,
            decision: AuditDecision::Allow,
            reason: "granted".into(),
            route: Some("chat".into()),
            grant_id: Some("g-1".into()),
            subject: Some("alice@example.com".into()),
            client_id: Some("agent-7".into()),
            approvers: vec!["bob".into()],
            break_glass: false,
            scopes_granted: vec!["inference:llama*".into()],
            scope_required: Some("inference:llama-3".into()),
            token_digest: Some("sha256:00".into()),
            method: "POST".into(),
            authority: "gw.test".into(),
            path: "/v1/chat/completions".into(),
            model: Some("llama-3".into()),
            status: 200,
            duration_ms: 12,
            request_bytes: 100,
            response_bytes: 300,
            client_address: Some("127.0.0.1".into()),
            user_agent: Some("curl/8".into()),
            request_id: Some("r-1".into()),
            input_tokens: Some(11),
            output_tokens: Some(22),
            limit_requests: Some(20),
            limit_tokens: Some(10_000),
        }
    }

    #[test]
    fn round_trips_through_otlp_json() {
        let record = sample();
        let log = record.to_otlp_log_record();
        assert_eq!(log["timeUnixNano"], "1767225600123456789");
        assert_eq!(log["severityText"], "INFO");
        assert_eq!(AuditRecord::from_otlp_log_record(&log).unwrap(), record);
    }

    #[test]
    fn uses_semantic_convention_names() {
        let log = sample().to_otlp_log_record();
        let keys: Vec<&str> = log["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["key"].as_str().unwrap())
            .collect();
        for key in [
            "enduser.id",
            "http.request.method",
            "url.path",
            "http.response.status_code",
            "client.address",
            "gen_ai.request.model",
            "gen_ai.usage.input_tokens",
            "gen_ai.usage.output_tokens",
            "jitgate.grant.limits.requests",
            "jitgate.grant.limits.tokens",
        ] {
            assert!(keys.contains(&key), "{key}");
        }
    }

    #[test]
    fn export_request_carries_the_resource() {
        let resource = Resource {
            service_name: "jitgate-filter".into(),
            instance_id: "i-1".into(),
        };
        let request = export_logs_request(&resource, "0.1.0", &[sample()]);
        assert_eq!(
            request.pointer("/resourceLogs/0/resource/attributes/0/value/stringValue"),
            Some(&json!("jitgate-filter"))
        );
        assert_eq!(
            request
                .pointer("/resourceLogs/0/scopeLogs/0/logRecords")
                .and_then(Value::as_array)
                .map(Vec::len),
            Some(1)
        );
    }

    fn full_sparse_and_awkward() -> [AuditRecord; 3] {
        let full = sample();
        let mut sparse = sample();
        sparse.decision = AuditDecision::Deny;
        (sparse.route, sparse.grant_id, sparse.subject) = (None, None, None);
        (sparse.input_tokens, sparse.output_tokens) = (None, None);
        (sparse.limit_requests, sparse.limit_tokens) = (None, None);
        sparse.approvers.clear();
        let mut awkward = sample();
        awkward.user_agent =
            Some("quote \" backslash \\ nl \n tab \t bell \u{7} é ✓ \u{1f}".into());
        awkward.path = "/v1/x?\u{8}\u{c}\r".into();
        awkward.break_glass = !awkward.break_glass;
        [full, sparse, awkward]
    }

    /// The texts the encoder wrote before it was made cheap: its output may not move by a
    /// byte (every stored leaf hashes these bytes).
    const GOLDEN: &str = include_str!("golden.jsonl");

    #[test]
    fn text_is_byte_for_byte_the_golden_text() {
        let golden: Vec<&str> = GOLDEN.lines().collect();
        for (record, golden) in full_sparse_and_awkward().iter().zip(golden) {
            assert_eq!(record.to_otlp_log_record_text(), golden);
        }
    }

    /// Canonical JSON written independently of the encoder: keys sorted by their bytes,
    /// leaves as `serde_json` writes them.
    fn canonical(value: &Value) -> String {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                let inner: Vec<String> = entries
                    .into_iter()
                    .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), canonical(v)))
                    .collect();
                format!("{{{}}}", inner.join(","))
            }
            Value::Array(items) => {
                let inner: Vec<String> = items.iter().map(canonical).collect();
                format!("[{}]", inner.join(","))
            }
            leaf => leaf.to_string(),
        }
    }

    #[test]
    fn text_is_in_canonical_form_and_reads_back() {
        for record in full_sparse_and_awkward() {
            let text = record.to_otlp_log_record_text();
            let parsed: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(canonical(&parsed), text);
            assert_eq!(record.to_otlp_log_record(), parsed);
            assert_eq!(
                AuditRecord::from_otlp_log_record_text(&text).unwrap(),
                record
            );
            assert_eq!(AuditRecord::from_otlp_log_record(&parsed).unwrap(), record);
        }
    }

    #[test]
    fn text_is_written_in_one_allocation() {
        let mut long = sample();
        long.user_agent = Some("u".repeat(5000));
        long.scopes_granted = vec!["inference:x".into(); 40];
        for record in [sample(), long] {
            let text = record.to_otlp_log_record_text();
            let mut again = String::with_capacity(text.capacity());
            record.write_otlp_log_record(&mut again);
            assert_eq!(again.capacity(), text.capacity(), "grew while writing");
        }
    }

    /// Every way a record can be wrong, read by the typed reader (from text and from a
    /// `Value`) and by the old `Value` walk: the same record or the same refusal.
    #[test]
    fn typed_reader_refuses_exactly_what_the_value_walk_refused() {
        let base = sample().to_otlp_log_record();
        let count = base["attributes"].as_array().unwrap().len();
        let values = [
            json!(null),
            json!("x"),
            json!([]),
            json!({}),
            json!({"stringValue": 5}),
            json!({"stringValue": "deny", "stringValue": "x"}),
            json!({"intValue": "-1"}),
            json!({"intValue": "+7"}),
            json!({"intValue": " 7"}),
            json!({"intValue": 1.5}),
            json!({"intValue": null}),
            json!({"intValue": -3}),
            json!({"intValue": 65536}),
            json!({"intValue": "9223372036854775807"}),
            json!({"intValue": "9223372036854775808"}),
            json!({"intValue": 9_223_372_036_854_775_807_u64}),
            json!({"intValue": 9_223_372_036_854_775_808_u64}),
            json!({"boolValue": "true"}),
            json!({"boolValue": true, "stringValue": "allow"}),
            json!({"arrayValue": []}),
            json!({"arrayValue": {"values": null}}),
            json!({"arrayValue": {"values": [1, {"stringValue": "a"}, {"stringValue": 2}]}}),
        ];
        let mut cases: Vec<Value> = vec![
            json!(5),
            json!({}),
            json!({"attributes": null, "timeUnixNano": "1"}),
            json!({"attributes": {}, "timeUnixNano": "1"}),
        ];
        for time in [
            json!(null),
            json!("12"),
            json!("x"),
            json!(-1),
            json!(1.0),
            json!(7),
            json!([]),
        ] {
            let mut case = base.clone();
            case["timeUnixNano"] = time;
            cases.push(case);
        }
        for index in 0..count {
            let mut removed = base.clone();
            removed["attributes"].as_array_mut().unwrap().remove(index);
            cases.push(removed);
            let mut repeated = base.clone();
            let attribute = repeated["attributes"][index].clone();
            repeated["attributes"]
                .as_array_mut()
                .unwrap()
                .push(attribute);
            cases.push(repeated);
            for broken in [
                json!({"value": {}}),
                json!({"key": 5, "value": {}}),
                json!(3),
            ] {
                let mut case = base.clone();
                let key = case["attributes"][index]["key"].clone();
                case["attributes"][index] = broken;
                case["attributes"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"key": key}));
                cases.push(case);
            }
            let mut no_value = base.clone();
            no_value["attributes"][index]
                .as_object_mut()
                .unwrap()
                .remove("value");
            cases.push(no_value);
            for value in &values {
                let mut case = base.clone();
                case["attributes"][index]["value"] = value.clone();
                cases.push(case);
            }
        }
        let mut unknown = base.clone();
        for _ in 0..2 {
            unknown["attributes"]
                .as_array_mut()
                .unwrap()
                .push(json!({"key": "x.y", "value": {}}));
        }
        cases.push(unknown);
        for case in cases {
            let expected = super::super::reference::from_otlp_log_record(&case);
            assert_eq!(AuditRecord::from_otlp_log_record(&case), expected, "{case}");
            let text = case.to_string();
            assert_eq!(
                AuditRecord::from_otlp_log_record_text(&text),
                expected.map_err(OtlpTextError::Record),
                "{text}"
            );
        }
    }

    #[test]
    fn repeated_json_keys_keep_the_last_value_as_a_value_tree_does() {
        let text = sample().to_otlp_log_record_text();
        // A second `timeUnixNano` and a second `key` inside the first attribute: the last wins.
        let edited = text
            .replacen(
                r#"{"attributes":"#,
                r#"{"timeUnixNano":"x","attributes":"#,
                1,
            )
            .replacen(
                r#""key":"jitgate.decision","#,
                r#""key":"jitgate.decision","key":"jitgate.unknown","#,
                1,
            );
        let value: Value = serde_json::from_str(&edited).unwrap();
        let expected = super::super::reference::from_otlp_log_record(&value);
        assert_eq!(expected.clone().unwrap_err().field, names::DECISION);
        assert_eq!(
            AuditRecord::from_otlp_log_record_text(&edited),
            expected.map_err(OtlpTextError::Record)
        );
    }

    #[test]
    fn text_assembly_equals_the_value_form() {
        let resource = Resource {
            service_name: "s".into(),
            instance_id: "i".into(),
        };
        let records = [sample(), sample()];
        let texts: Vec<String> = records
            .iter()
            .map(AuditRecord::to_otlp_log_record_text)
            .collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let text = export_logs_request_text(&resource, "1", &refs);
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed, export_logs_request(&resource, "1", &records));
        let empty: Value =
            serde_json::from_str(&export_logs_request_text(&resource, "1", &[])).unwrap();
        assert_eq!(
            empty["resourceLogs"][0]["scopeLogs"][0]["logRecords"],
            json!([])
        );
    }

    #[test]
    fn counts_are_int64_as_otlp_defines_them() {
        let with_duration = |value: Value| {
            let mut log = sample().to_otlp_log_record();
            for attribute in log["attributes"].as_array_mut().unwrap() {
                if attribute["key"] == names::DURATION_MS {
                    attribute["value"] = json!({ "intValue": value });
                }
            }
            AuditRecord::from_otlp_log_record(&log)
        };
        let largest = with_duration(json!(i64::MAX.to_string())).unwrap();
        assert_eq!(largest.duration_ms, i64::MAX as u64);
        // Above int64 (a protobuf sender could not send it) and negative counts are refused,
        // as strings and as numbers, naming the attribute.
        for value in [
            json!("9223372036854775808"),
            json!("18446744073709551596"),
            json!("-20"),
            json!(9_223_372_036_854_775_808_u64),
            json!(-20),
        ] {
            let error = with_duration(value.clone()).unwrap_err();
            assert_eq!(error.field, names::DURATION_MS, "{value}");
        }
    }

    #[test]
    fn refuses_incomplete_or_repeated_attributes() {
        let mut log = sample().to_otlp_log_record();
        let attributes = log["attributes"].as_array_mut().unwrap();
        attributes.retain(|a| a["key"] != names::STREAM_ID);
        assert_eq!(
            AuditRecord::from_otlp_log_record(&log).unwrap_err().field,
            names::STREAM_ID
        );
        let mut log = sample().to_otlp_log_record();
        let first = log["attributes"][0].clone();
        log["attributes"].as_array_mut().unwrap().push(first);
        assert_eq!(
            AuditRecord::from_otlp_log_record(&log).unwrap_err().problem,
            "attribute repeated"
        );
    }
}
