//! The OTLP/HTTP protobuf envelope (`application/x-protobuf`, the OTLP default), decoded
//! with prost from message definitions written out here (the subset of
//! `opentelemetry/proto/{logs,common,resource,collector/logs}/v1` the collector reads), so the
//! build needs no `protoc`. Each log record becomes the same fields a JSON record is read into
//! (`jitgate_grant::audit::fields`), validated by the same rules: one set of rules.

use std::borrow::Cow;

use jitgate_grant::audit::fields::{AnyValueFields, LogRecordFields};
use jitgate_grant::audit::json_read::Scalar;
use prost::Message;
use serde_json::Value;

use super::LogRecords;
use crate::error::{Error, Result};

/// `opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct ExportLogsServiceRequest {
    #[prost(message, repeated, tag = "1")]
    pub resource_logs: Vec<ResourceLogs>,
}

/// `opentelemetry.proto.logs.v1.ResourceLogs`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct ResourceLogs {
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    #[prost(message, repeated, tag = "2")]
    pub scope_logs: Vec<ScopeLogs>,
    #[prost(string, tag = "3")]
    pub schema_url: String,
}

/// `opentelemetry.proto.resource.v1.Resource`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct Resource {
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
    #[prost(uint32, tag = "2")]
    pub dropped_attributes_count: u32,
}

/// `opentelemetry.proto.logs.v1.ScopeLogs`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct ScopeLogs {
    #[prost(message, optional, tag = "1")]
    pub scope: Option<InstrumentationScope>,
    #[prost(message, repeated, tag = "2")]
    pub log_records: Vec<LogRecord>,
    #[prost(string, tag = "3")]
    pub schema_url: String,
}

/// `opentelemetry.proto.common.v1.InstrumentationScope`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct InstrumentationScope {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub version: String,
    #[prost(message, repeated, tag = "3")]
    pub attributes: Vec<KeyValue>,
    #[prost(uint32, tag = "4")]
    pub dropped_attributes_count: u32,
}

/// `opentelemetry.proto.logs.v1.LogRecord`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct LogRecord {
    #[prost(fixed64, tag = "1")]
    pub time_unix_nano: u64,
    #[prost(fixed64, tag = "11")]
    pub observed_time_unix_nano: u64,
    #[prost(int32, tag = "2")]
    pub severity_number: i32,
    #[prost(string, tag = "3")]
    pub severity_text: String,
    #[prost(message, optional, tag = "5")]
    pub body: Option<AnyValue>,
    #[prost(message, repeated, tag = "6")]
    pub attributes: Vec<KeyValue>,
    #[prost(uint32, tag = "7")]
    pub dropped_attributes_count: u32,
    #[prost(fixed32, tag = "8")]
    pub flags: u32,
    #[prost(bytes = "vec", tag = "9")]
    pub trace_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "10")]
    pub span_id: Vec<u8>,
    #[prost(string, tag = "12")]
    pub event_name: String,
}

/// `opentelemetry.proto.common.v1.KeyValue`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct KeyValue {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

/// `opentelemetry.proto.common.v1.AnyValue`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct AnyValue {
    #[prost(oneof = "AnyValueKind", tags = "1, 2, 3, 4, 5, 6, 7")]
    pub value: Option<AnyValueKind>,
}

/// The `value` oneof of `AnyValue`.
// Variant names mirror the proto's field names.
#[allow(clippy::enum_variant_names)]
#[derive(Clone, PartialEq, prost::Oneof)]
pub(crate) enum AnyValueKind {
    #[prost(string, tag = "1")]
    StringValue(String),
    #[prost(bool, tag = "2")]
    BoolValue(bool),
    #[prost(int64, tag = "3")]
    IntValue(i64),
    #[prost(double, tag = "4")]
    DoubleValue(f64),
    #[prost(message, tag = "5")]
    ArrayValue(ArrayValue),
    #[prost(message, tag = "6")]
    KvlistValue(KeyValueList),
    #[prost(bytes = "vec", tag = "7")]
    BytesValue(Vec<u8>),
}

/// `opentelemetry.proto.common.v1.ArrayValue`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct ArrayValue {
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<AnyValue>,
}

/// `opentelemetry.proto.common.v1.KeyValueList`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct KeyValueList {
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<KeyValue>,
}

/// `opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct ExportLogsServiceResponse {
    #[prost(message, optional, tag = "1")]
    pub partial_success: Option<ExportLogsPartialSuccess>,
}

/// `opentelemetry.proto.collector.logs.v1.ExportLogsPartialSuccess`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct ExportLogsPartialSuccess {
    #[prost(int64, tag = "1")]
    pub rejected_log_records: i64,
    #[prost(string, tag = "2")]
    pub error_message: String,
}

/// `google.rpc.Status`, the body of OTLP/HTTP error responses.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct Status {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<ProtoAny>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct ProtoAny {
    #[prost(string, tag = "1")]
    pub type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `google.rpc.ErrorInfo`: a machine-readable reason for an error, with its particulars.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct ErrorInfo {
    #[prost(string, tag = "1")]
    pub reason: String,
    #[prost(string, tag = "2")]
    pub domain: String,
    #[prost(btree_map = "string, string", tag = "3")]
    pub metadata: std::collections::BTreeMap<String, String>,
}

/// The `type_url` of an [`ErrorInfo`] packed in an `Any`.
pub(crate) const ERROR_INFO_TYPE_URL: &str = "type.googleapis.com/google.rpc.ErrorInfo";

/// The log records in a protobuf export request, as the fields the mapping reads.
pub fn decode(body: &[u8]) -> Result<LogRecords<'static>> {
    let request = ExportLogsServiceRequest::decode(body).map_err(|e| {
        Error::BadRequest(format!(
            "body is not a valid protobuf ExportLogsServiceRequest: {e}"
        ))
    })?;
    let mut records = Vec::new();
    for (r, resource_logs) in request.resource_logs.into_iter().enumerate() {
        for (s, scope_logs) in resource_logs.scope_logs.into_iter().enumerate() {
            for (l, record) in scope_logs.log_records.into_iter().enumerate() {
                records.push((
                    format!("resourceLogs[{r}].scopeLogs[{s}].logRecords[{l}]"),
                    log_record_fields(record),
                ));
            }
        }
    }
    Ok(records)
}

/// A log record's fields exactly as its OTLP JSON form would give them (64-bit integers,
/// which JSON carries as strings, read as the numbers they are), strings moved, not copied.
fn log_record_fields(record: LogRecord) -> LogRecordFields<'static> {
    let mut fields = LogRecordFields::new(record.time_unix_nano);
    for pair in record.attributes {
        // An attribute without a value reads as an empty `AnyValue`, as `{}` in JSON.
        let value = pair
            .value
            .map_or_else(AnyValueFields::default, any_value_fields);
        fields.push_attribute(Cow::Owned(pair.key), value);
    }
    fields
}

fn any_value_fields(value: AnyValue) -> AnyValueFields<'static> {
    let mut fields = AnyValueFields::default();
    match value.value {
        Some(AnyValueKind::StringValue(s)) => fields.string = Some(Cow::Owned(s)),
        Some(AnyValueKind::BoolValue(b)) => fields.boolean = Some(b),
        Some(AnyValueKind::IntValue(i)) => {
            fields.int = u64::try_from(i).map_or(Scalar::NegInt(i), Scalar::PosInt);
        }
        Some(AnyValueKind::ArrayValue(array)) => {
            fields.strings = array
                .values
                .into_iter()
                .filter_map(|item| match item.value {
                    Some(AnyValueKind::StringValue(s)) => Some(Cow::Owned(s)),
                    _ => None,
                })
                .collect();
        }
        // Kinds the mapping never reads.
        Some(
            AnyValueKind::DoubleValue(_)
            | AnyValueKind::KvlistValue(_)
            | AnyValueKind::BytesValue(_),
        )
        | None => {}
    }
    fields
}

/// The client's side of the protobuf exchange, for tests and tools: encoding a request as an
/// OTLP SDK would, reading the collector's answers.
pub mod client {
    use super::*;

    /// `(rejected_log_records, error_message)` from an `ExportLogsServiceResponse`, or
    /// `None` when it carries no partial success.
    pub fn read_response(body: &[u8]) -> Result<Option<(i64, String)>, prost::DecodeError> {
        let response = ExportLogsServiceResponse::decode(body)?;
        Ok(response
            .partial_success
            .map(|p| (p.rejected_log_records, p.error_message)))
    }

    /// `(code, message)` from a `google.rpc.Status`.
    pub fn read_status(body: &[u8]) -> Result<(i32, String), prost::DecodeError> {
        let status = Status::decode(body)?;
        Ok((status.code, status.message))
    }

    /// A `google.rpc.ErrorInfo`'s `(reason, domain, metadata)`.
    pub type ErrorInfoFields = (String, String, std::collections::BTreeMap<String, String>);

    /// Each `google.rpc.ErrorInfo` in a `google.rpc.Status`'s details.
    pub fn read_error_infos(body: &[u8]) -> Result<Vec<ErrorInfoFields>, prost::DecodeError> {
        Status::decode(body)?
            .details
            .into_iter()
            .filter(|any| any.type_url == ERROR_INFO_TYPE_URL)
            .map(|any| {
                ErrorInfo::decode(any.value.as_slice())
                    .map(|info| (info.reason, info.domain, info.metadata))
            })
            .collect()
    }

    /// Encodes an OTLP JSON `ExportLogsServiceRequest` (as `export_logs_request` builds it)
    /// as protobuf. Only the fields the collector reads are carried over.
    pub fn export_request(request: &Value) -> Vec<u8> {
        let array = |v: &Value, key: &str| {
            v.get(key)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let message = ExportLogsServiceRequest {
            resource_logs: array(request, "resourceLogs")
                .iter()
                .map(|rl| ResourceLogs {
                    resource: Some(Resource {
                        attributes: array(rl.get("resource").unwrap_or(&Value::Null), "attributes")
                            .iter()
                            .map(key_value)
                            .collect(),
                        dropped_attributes_count: 0,
                    }),
                    scope_logs: array(rl, "scopeLogs")
                        .iter()
                        .map(|sl| ScopeLogs {
                            scope: None,
                            log_records: array(sl, "logRecords").iter().map(log_record).collect(),
                            schema_url: String::new(),
                        })
                        .collect(),
                    schema_url: String::new(),
                })
                .collect(),
        };
        message.encode_to_vec()
    }

    fn number(value: Option<&Value>) -> u64 {
        match value {
            Some(Value::String(s)) => s.parse().unwrap_or(0),
            Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
            _ => 0,
        }
    }

    fn log_record(record: &Value) -> LogRecord {
        LogRecord {
            time_unix_nano: number(record.get("timeUnixNano")),
            observed_time_unix_nano: number(record.get("observedTimeUnixNano")),
            severity_number: i32::try_from(number(record.get("severityNumber"))).unwrap_or(0),
            severity_text: record
                .get("severityText")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            body: record.get("body").map(any_value),
            attributes: record
                .get("attributes")
                .and_then(Value::as_array)
                .map(|list| list.iter().map(key_value).collect())
                .unwrap_or_default(),
            dropped_attributes_count: 0,
            flags: 0,
            trace_id: Vec::new(),
            span_id: Vec::new(),
            event_name: record
                .get("eventName")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        }
    }

    fn key_value(pair: &Value) -> KeyValue {
        KeyValue {
            key: pair
                .get("key")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            value: pair.get("value").map(any_value),
        }
    }

    fn any_value(value: &Value) -> AnyValue {
        let text = || value.get("stringValue").and_then(Value::as_str);
        let kind = text()
            .map(|s| AnyValueKind::StringValue(s.to_owned()))
            .or_else(|| {
                value
                    .get("boolValue")
                    .and_then(Value::as_bool)
                    .map(AnyValueKind::BoolValue)
            })
            .or_else(|| {
                value.get("intValue").map(|i| {
                    AnyValueKind::IntValue(i64::try_from(number(Some(i))).unwrap_or(i64::MAX))
                })
            })
            .or_else(|| {
                value
                    .get("doubleValue")
                    .and_then(Value::as_f64)
                    .map(AnyValueKind::DoubleValue)
            })
            .or_else(|| {
                value
                    .pointer("/arrayValue/values")
                    .and_then(Value::as_array)
                    .map(|values| {
                        AnyValueKind::ArrayValue(ArrayValue {
                            values: values.iter().map(any_value).collect(),
                        })
                    })
            });
        AnyValue { value: kind }
    }
}

#[cfg(test)]
mod tests {
    use jitgate_grant::audit::otlp::{export_logs_request, Resource as OtlpResource};
    use jitgate_grant::audit::AuditRecord;

    use super::*;

    #[test]
    fn protobuf_records_read_back_as_the_same_audit_records() {
        let records: Vec<AuditRecord> = (1..=3)
            .map(|sequence| crate::ingest::tests::record("vm-1", sequence))
            .collect();
        let request = export_logs_request(
            &OtlpResource {
                service_name: "jitgate-filter".into(),
                instance_id: "i-1".into(),
            },
            "0.1.0",
            &records,
        );
        let body = client::export_request(&request);
        let decoded = decode(&body).unwrap();
        assert_eq!(decoded.len(), 3);
        assert_eq!(decoded[2].0, "resourceLogs[0].scopeLogs[0].logRecords[2]");
        for ((_, fields), record) in decoded.into_iter().zip(&records) {
            assert_eq!(&AuditRecord::from_otlp_fields(fields).unwrap(), record);
        }
    }

    #[test]
    fn refuses_bytes_that_are_not_protobuf() {
        assert!(decode(b"\xff\xff\xff")
            .unwrap_err()
            .to_string()
            .starts_with("body is not a valid protobuf ExportLogsServiceRequest: "));
    }
}
