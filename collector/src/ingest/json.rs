//! The OTLP/HTTP JSON envelope (`ExportLogsServiceRequest`), read straight into each log
//! record's fields (`jitgate_grant::audit::json_read`) — no `serde_json::Value` tree, strings
//! borrowed from the body — and then walked strictly, so a wrong type anywhere in it is a 400
//! naming the exact path, and each log record is handed on with its position. Missing or null
//! repeated fields are empty, as the protobuf JSON mapping says.
//!
//! The body is parsed whole first, by the same parser and with the same checks as parsing it
//! into a `Value` (a syntax error anywhere wins over a shape error, with the same message);
//! a repeated key keeps its last value, as in a `Value`. Then the walk reports the first
//! shape error in the order a walk over the `Value` met it.

use jitgate_grant::audit::fields::LogRecordFields;
use jitgate_grant::audit::json_read::{Fields, Repeated, Shaped};
use serde::de::MapAccess;

use super::LogRecords;
use crate::error::{Error, Result};

/// The log records in a JSON export request.
pub fn decode(body: &[u8]) -> Result<LogRecords<'_>> {
    let root: Shaped<Request> = serde_json::from_slice(body)
        .map_err(|e| Error::BadRequest(format!("body is not valid JSON: {e}")))?;
    let Shaped::Object(root) = root else {
        return Err(Error::BadRequest(
            "body: expected a JSON object (ExportLogsServiceRequest)".into(),
        ));
    };
    let mut records = Vec::new();
    for (r, resource_logs) in items(root.resource_logs, "resourceLogs")?
        .into_iter()
        .enumerate()
    {
        let at = format!("resourceLogs[{r}]");
        let resource_logs = object(resource_logs, &at)?;
        let scope_logs = items(resource_logs.scope_logs, &format!("{at}.scopeLogs"))?;
        for (s, scope_logs) in scope_logs.into_iter().enumerate() {
            let at = format!("{at}.scopeLogs[{s}]");
            let scope_logs = object(scope_logs, &at)?;
            let log_records = items(scope_logs.log_records, &format!("{at}.logRecords"))?;
            records.reserve(log_records.len());
            for (l, record) in log_records.into_iter().enumerate() {
                let at = format!("{at}.logRecords[{l}]");
                let fields = object(record, &at)?;
                records.push((at, fields));
            }
        }
    }
    Ok(records)
}

fn items<T>(repeated: Repeated<T>, at: &str) -> Result<Vec<T>> {
    match repeated {
        Repeated::Items(items) => Ok(items),
        Repeated::NotArray => Err(Error::BadRequest(format!("{at}: expected an array"))),
    }
}

fn object<T>(value: Shaped<T>, at: &str) -> Result<T> {
    match value {
        Shaped::Object(fields) => Ok(fields),
        Shaped::Other => Err(Error::BadRequest(format!("{at}: expected an object"))),
    }
}

/// `ExportLogsServiceRequest`: only `resourceLogs` is read.
#[derive(Default)]
struct Request<'a> {
    resource_logs: Repeated<Shaped<ResourceLogs<'a>>>,
}

/// `ResourceLogs`: only `scopeLogs` is read (the resource says nothing the records do not).
#[derive(Default)]
struct ResourceLogs<'a> {
    scope_logs: Repeated<Shaped<ScopeLogs<'a>>>,
}

/// `ScopeLogs`: only `logRecords` is read.
#[derive(Default)]
struct ScopeLogs<'a> {
    log_records: Repeated<Shaped<LogRecordFields<'a>>>,
}

/// One field read, whatever its name: the three envelope levels differ only in it.
macro_rules! one_field {
    ($type:ident, $name:literal, $field:ident) => {
        impl<'de> Fields<'de> for $type<'de> {
            fn index(name: &str) -> Option<u8> {
                (name == $name).then_some(0)
            }

            fn read<A: MapAccess<'de>>(&mut self, _: u8, map: &mut A) -> Result<(), A::Error> {
                self.$field = map.next_value()?;
                Ok(())
            }
        }
    };
}

one_field!(Request, "resourceLogs", resource_logs);
one_field!(ResourceLogs, "scopeLogs", scope_logs);
one_field!(ScopeLogs, "logRecords", log_records);

#[cfg(test)]
mod tests {
    use jitgate_grant::audit::json_read::Scalar;

    use super::*;

    #[test]
    fn finds_records_with_their_positions() {
        let body = br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"a":1},{"timeUnixNano":2}]},{}]},{"scopeLogs":null}]}"#;
        let records = decode(body).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].0, "resourceLogs[0].scopeLogs[0].logRecords[1]");
        assert_eq!(records[1].1.time_unix_nano, Scalar::PosInt(2));
        assert!(decode(b"{}").unwrap().is_empty());
    }

    #[test]
    fn refuses_wrong_shapes_with_their_path() {
        let cases: [(&[u8], &str); 8] = [
            (
                b"{",
                "body is not valid JSON: EOF while parsing an object at line 1 column 1",
            ),
            (
                b"[]",
                "body: expected a JSON object (ExportLogsServiceRequest)",
            ),
            (br#"{"resourceLogs":{}}"#, "resourceLogs: expected an array"),
            (
                br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":"x"}]}]}"#,
                "resourceLogs[0].scopeLogs[0].logRecords: expected an array",
            ),
            (
                br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[1]}]}]}"#,
                "resourceLogs[0].scopeLogs[0].logRecords[0]: expected an object",
            ),
            // A syntax error after a shape error is still the answer, as with a Value.
            (
                br#"{"resourceLogs":{},"x":[1,]}"#,
                "body is not valid JSON: trailing comma at line 1 column 27",
            ),
            // The first shape error in walk order, not in byte order.
            (
                br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{}, 2]}]}, 5]}"#,
                "resourceLogs[0].scopeLogs[0].logRecords[1]: expected an object",
            ),
            (
                br#"{"resourceLogs":[{"scopeLogs":"x","scopeLogs":[]}, 5]}"#,
                "resourceLogs[1]: expected an object",
            ),
        ];
        for (body, message) in cases {
            assert_eq!(decode(body).unwrap_err().to_string(), message);
        }
    }
}
