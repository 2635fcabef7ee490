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

use serde_json::{json, Map, Value};

use super::record::{AuditDecision, AuditRecord};

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

/// OTLP severity numbers used: INFO for allowed requests, WARN for denials.
const SEVERITY_INFO: u8 = 9;
const SEVERITY_WARN: u8 = 13;

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

impl AuditRecord {
    /// The record as one OTLP JSON `LogRecord`.
    pub fn to_otlp_log_record(&self) -> Value {
        let mut attributes = Vec::with_capacity(30);
        let mut string = |key: &str, value: &str| {
            attributes.push(json!({"key": key, "value": {"stringValue": value}}))
        };
        string(names::DECISION, self.decision.as_str());
        string(names::REASON, &self.reason);
        string(names::STREAM_ID, &self.stream_id);
        string(names::METHOD, &self.method);
        string(names::AUTHORITY, &self.authority);
        string(names::PATH, &self.path);
        let optional = [
            (names::ROUTE, &self.route),
            (names::GRANT_ID, &self.grant_id),
            (names::SUBJECT, &self.subject),
            (names::CLIENT_ID, &self.client_id),
            (names::SCOPE_REQUIRED, &self.scope_required),
            (names::TOKEN_DIGEST, &self.token_digest),
            (names::MODEL, &self.model),
            (names::CLIENT_ADDRESS, &self.client_address),
            (names::USER_AGENT, &self.user_agent),
            (names::REQUEST_ID, &self.request_id),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                string(key, value);
            }
        }
        let mut int = |key: &str, value: u64| {
            attributes.push(json!({"key": key, "value": {"intValue": value.to_string()}}))
        };
        int(names::SEQUENCE, self.sequence);
        int(names::STATUS, u64::from(self.status));
        int(names::DURATION_MS, self.duration_ms);
        int(names::REQUEST_BYTES, self.request_bytes);
        int(names::RESPONSE_BYTES, self.response_bytes);
        if let Some(tokens) = self.input_tokens {
            int(names::INPUT_TOKENS, tokens);
        }
        if let Some(tokens) = self.output_tokens {
            int(names::OUTPUT_TOKENS, tokens);
        }
        if let Some(limit) = self.limit_requests {
            int(names::LIMIT_REQUESTS, limit);
        }
        if let Some(limit) = self.limit_tokens {
            int(names::LIMIT_TOKENS, limit);
        }
        attributes
            .push(json!({"key": names::BREAK_GLASS, "value": {"boolValue": self.break_glass}}));
        let array = |values: &[String]| json!({"arrayValue": {"values": values.iter().map(|v| json!({"stringValue": v})).collect::<Vec<_>>()}});
        attributes.push(json!({"key": names::APPROVERS, "value": array(&self.approvers)}));
        attributes
            .push(json!({"key": names::SCOPES_GRANTED, "value": array(&self.scopes_granted)}));

        let (severity_number, severity_text) = match self.decision {
            AuditDecision::Allow => (SEVERITY_INFO, "INFO"),
            AuditDecision::Deny => (SEVERITY_WARN, "WARN"),
        };
        json!({
            "timeUnixNano": self.time_unix_nano.to_string(),
            "observedTimeUnixNano": self.time_unix_nano.to_string(),
            "severityNumber": severity_number,
            "severityText": severity_text,
            "eventName": "jitgate.request",
            "body": {"stringValue": format!("{} {} {} {}", self.decision.as_str(), self.method, self.path, self.reason)},
            "attributes": attributes,
        })
    }

    /// The same `LogRecord` as [`Self::to_otlp_log_record`] (equal as a JSON value; keys in
    /// alphabetical order), written straight to JSON text. A gateway makes one per request:
    /// building and dropping the `Value` tree cost about 250 000 instructions per record —
    /// eight times the whole cached decision (callgrind, `bench/hot-path`) — where this costs
    /// a few thousand.
    pub fn to_otlp_log_record_text(&self) -> String {
        let mut out = String::with_capacity(1536);
        out.push_str(r#"{"attributes":["#);
        let mut first = true;
        let mut attribute = |out: &mut String, key: &str| {
            if !first {
                out.push(',');
            }
            first = false;
            // Keys are the `names` constants: plain ASCII that needs no escaping (the test
            // comparing this text with the `Value` form would catch one that did).
            out.push_str(r#"{"key":""#);
            out.push_str(key);
            out.push_str(r#"","value":"#);
        };
        let string = |out: &mut String, value: &str| {
            out.push_str(r#"{"stringValue":"#);
            push_json_string(out, value);
            out.push_str("}}");
        };
        for (key, value) in [
            (names::DECISION, self.decision.as_str()),
            (names::REASON, &self.reason),
            (names::STREAM_ID, &self.stream_id),
            (names::METHOD, &self.method),
            (names::AUTHORITY, &self.authority),
            (names::PATH, &self.path),
        ] {
            attribute(&mut out, key);
            string(&mut out, value);
        }
        for (key, value) in [
            (names::ROUTE, &self.route),
            (names::GRANT_ID, &self.grant_id),
            (names::SUBJECT, &self.subject),
            (names::CLIENT_ID, &self.client_id),
            (names::SCOPE_REQUIRED, &self.scope_required),
            (names::TOKEN_DIGEST, &self.token_digest),
            (names::MODEL, &self.model),
            (names::CLIENT_ADDRESS, &self.client_address),
            (names::USER_AGENT, &self.user_agent),
            (names::REQUEST_ID, &self.request_id),
        ] {
            if let Some(value) = value {
                attribute(&mut out, key);
                string(&mut out, value);
            }
        }
        let integers = [
            (names::SEQUENCE, Some(self.sequence)),
            (names::STATUS, Some(u64::from(self.status))),
            (names::DURATION_MS, Some(self.duration_ms)),
            (names::REQUEST_BYTES, Some(self.request_bytes)),
            (names::RESPONSE_BYTES, Some(self.response_bytes)),
            (names::INPUT_TOKENS, self.input_tokens),
            (names::OUTPUT_TOKENS, self.output_tokens),
            (names::LIMIT_REQUESTS, self.limit_requests),
            (names::LIMIT_TOKENS, self.limit_tokens),
        ];
        for (key, value) in integers {
            if let Some(value) = value {
                attribute(&mut out, key);
                out.push_str(r#"{"intValue":""#);
                out.push_str(&value.to_string());
                out.push_str(r#""}}"#);
            }
        }
        attribute(&mut out, names::BREAK_GLASS);
        out.push_str(if self.break_glass {
            r#"{"boolValue":true}}"#
        } else {
            r#"{"boolValue":false}}"#
        });
        for (key, values) in [
            (names::APPROVERS, &self.approvers),
            (names::SCOPES_GRANTED, &self.scopes_granted),
        ] {
            attribute(&mut out, key);
            out.push_str(r#"{"arrayValue":{"values":["#);
            for (index, value) in values.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(r#"{"stringValue":"#);
                push_json_string(&mut out, value);
                out.push('}');
            }
            out.push_str("]}}}");
        }
        let (severity_number, severity_text) = match self.decision {
            AuditDecision::Allow => (SEVERITY_INFO, "INFO"),
            AuditDecision::Deny => (SEVERITY_WARN, "WARN"),
        };
        let time = self.time_unix_nano.to_string();
        out.push_str(r#"],"body":{"stringValue":"#);
        push_json_string(
            &mut out,
            &format!(
                "{} {} {} {}",
                self.decision.as_str(),
                self.method,
                self.path,
                self.reason
            ),
        );
        out.push_str(r#"},"eventName":"jitgate.request","observedTimeUnixNano":""#);
        out.push_str(&time);
        out.push_str(r#"","severityNumber":"#);
        out.push_str(&severity_number.to_string());
        out.push_str(r#","severityText":""#);
        out.push_str(severity_text);
        out.push_str(r#"","timeUnixNano":""#);
        out.push_str(&time);
        out.push_str(r#""}"#);
        out
    }

    /// Reads a record back from an OTLP JSON `LogRecord`. Integers may be JSON strings (the
    /// canonical form) or numbers; unknown attributes are ignored.
    pub fn from_otlp_log_record(record: &Value) -> Result<AuditRecord, RecordError> {
        let attributes = attribute_map(record)?;
        let text = |key: &str| -> Option<String> {
            attributes
                .get(key)
                .and_then(|v| v.get("stringValue"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let required_text = |key: &str| text(key).ok_or_else(|| missing(key));
        // OTLP's `intValue` is an int64: a count above `i64::MAX` cannot be sent in the
        // protobuf encoding, so the JSON one refuses it too (the two must accept the same
        // records), and a negative count is no count.
        let int = |key: &str| -> Result<Option<u64>, RecordError> {
            let signed = match attributes.get(key).and_then(|v| v.get("intValue")) {
                None => return Ok(None),
                Some(Value::String(s)) => s.parse::<i64>().map_err(|_| bad(key))?,
                Some(Value::Number(n)) => n.as_i64().ok_or_else(|| bad(key))?,
                Some(_) => return Err(bad(key)),
            };
            u64::try_from(signed).map(Some).map_err(|_| bad(key))
        };
        let strings = |key: &str| -> Vec<String> {
            attributes
                .get(key)
                .and_then(|v| v.pointer("/arrayValue/values"))
                .and_then(Value::as_array)
                .map(|values| {
                    values
                        .iter()
                        .filter_map(|v| {
                            v.get("stringValue")
                                .and_then(Value::as_str)
                                .map(str::to_owned)
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let time = match record.get("timeUnixNano") {
            Some(Value::String(s)) => s.parse().map_err(|_| bad("timeUnixNano"))?,
            Some(Value::Number(n)) => n.as_u64().ok_or_else(|| bad("timeUnixNano"))?,
            _ => return Err(missing("timeUnixNano")),
        };
        let decision = AuditDecision::parse(&required_text(names::DECISION)?)
            .ok_or_else(|| bad(names::DECISION))?;
        let status = int(names::STATUS)?.ok_or_else(|| missing(names::STATUS))?;
        Ok(AuditRecord {
            time_unix_nano: time,
            stream_id: required_text(names::STREAM_ID)?,
            sequence: int(names::SEQUENCE)?.ok_or_else(|| missing(names::SEQUENCE))?,
            decision,
            reason: required_text(names::REASON)?,
            route: text(names::ROUTE),
            grant_id: text(names::GRANT_ID),
            subject: text(names::SUBJECT),
            client_id: text(names::CLIENT_ID),
            approvers: strings(names::APPROVERS),
            break_glass: attributes
                .get(names::BREAK_GLASS)
                .and_then(|v| v.get("boolValue"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
            scopes_granted: strings(names::SCOPES_GRANTED),
            scope_required: text(names::SCOPE_REQUIRED),
            token_digest: text(names::TOKEN_DIGEST),
            method: required_text(names::METHOD)?,
            authority: text(names::AUTHORITY).unwrap_or_default(),
            path: required_text(names::PATH)?,
            model: text(names::MODEL),
            status: u16::try_from(status).map_err(|_| bad(names::STATUS))?,
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
/// serialized (each one `to_otlp_log_record().to_string()`): a gateway serializes each record
/// once, when it is made, and sizes batches by those bytes.
pub fn export_logs_request_text(
    resource: &Resource,
    scope_version: &str,
    log_records: &[&str],
) -> String {
    let resource_attributes = json!([
        {"key": "service.name", "value": {"stringValue": resource.service_name}},
        {"key": "service.instance.id", "value": {"stringValue": resource.instance_id}},
    ]);
    let scope = json!({"name": "jitgate", "version": scope_version});
    let records_len: usize = log_records.iter().map(|record| record.len() + 1).sum();
    let mut text = String::with_capacity(records_len + 256);
    text.push_str(r#"{"resourceLogs":[{"resource":{"attributes":"#);
    text.push_str(&resource_attributes.to_string());
    text.push_str(r#"},"scopeLogs":[{"scope":"#);
    text.push_str(&scope.to_string());
    text.push_str(r#","logRecords":["#);
    for (index, record) in log_records.iter().enumerate() {
        if index > 0 {
            text.push(',');
        }
        text.push_str(record);
    }
    text.push_str("]}]}]}");
    text
}

fn attribute_map(record: &Value) -> Result<Map<String, Value>, RecordError> {
    let list = record
        .get("attributes")
        .and_then(Value::as_array)
        .ok_or_else(|| missing("attributes"))?;
    let mut map = Map::new();
    for attribute in list {
        let key = attribute
            .get("key")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("attributes"))?;
        let value = attribute.get("value").cloned().ok_or_else(|| bad(key))?;
        if map.insert(key.to_owned(), value).is_some() {
            return Err(RecordError {
                field: key.to_owned(),
                problem: "attribute repeated",
            });
        }
    }
    Ok(map)
}

/// Appends `value` as a JSON string, escaped as serde_json escapes it. Runs of characters
/// that need no escape (nearly all of them) are copied whole, not one `char` at a time.
fn push_json_string(out: &mut String, value: &str) {
    out.push('"');
    let mut plain_from = 0;
    for (index, byte) in value.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        // Every byte matched above is ASCII, so `index` is a char boundary.
        out.push_str(&value[plain_from..index]);
        if escape.is_empty() {
            out.push_str(&format!("\\u{byte:04x}"));
        } else {
            out.push_str(escape);
        }
        plain_from = index + 1;
    }
    out.push_str(&value[plain_from..]);
    out.push('"');
}

fn missing(field: &str) -> RecordError {
    RecordError {
        field: field.to_owned(),
        problem: "missing",
    }
}

fn bad(field: &str) -> RecordError {
    RecordError {
        field: field.to_owned(),
        problem: "wrong type or value",
    }
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

    #[test]
    fn direct_text_is_the_value_form_for_full_sparse_and_awkward_records() {
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
        for record in [full, sparse, awkward] {
            let text = record.to_otlp_log_record_text();
            let parsed: Value = serde_json::from_str(&text).unwrap();
            // Equal as JSON values, not as text: the Value form's key order depends on whether
            // some other crate in the build turned on serde_json's `preserve_order`.
            assert_eq!(parsed, record.to_otlp_log_record(), "{text}");
        }
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
            .map(|r| r.to_otlp_log_record().to_string())
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
