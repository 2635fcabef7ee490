//! The reader this crate had before the typed one: a walk over a `serde_json::Value` tree,
//! kept only as the oracle the tests compare the typed reader against (same records, same
//! refusals, in the same order).

use serde_json::{Map, Value};

use super::otlp::{names, RecordError};
use super::record::{AuditDecision, AuditRecord};

fn missing(field: &str) -> RecordError {
    RecordError::missing(field)
}

fn bad(field: &str) -> RecordError {
    RecordError::bad(field)
}

pub(crate) fn from_otlp_log_record(record: &Value) -> Result<AuditRecord, RecordError> {
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
