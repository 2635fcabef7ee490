//! The OTLP/HTTP JSON envelope (`ExportLogsServiceRequest`): walked strictly, so a wrong type
//! anywhere in it is a 400 naming the exact path, and each log record is handed on with its
//! position. Missing or null repeated fields are empty, as the protobuf JSON mapping says.

use serde_json::Value;

use super::LogRecords;
use crate::error::{Error, Result};

/// The log records in a JSON export request.
pub fn decode(body: &[u8]) -> Result<LogRecords> {
    let mut root: Value = serde_json::from_slice(body)
        .map_err(|e| Error::BadRequest(format!("body is not valid JSON: {e}")))?;
    if !root.is_object() {
        return Err(Error::BadRequest(
            "body: expected a JSON object (ExportLogsServiceRequest)".into(),
        ));
    }
    let mut records = Vec::new();
    for (r, mut resource_logs) in take_array(&mut root, "resourceLogs", "")?
        .into_iter()
        .enumerate()
    {
        let at = format!("resourceLogs[{r}]");
        expect_object(&resource_logs, &at)?;
        for (s, mut scope_logs) in take_array(&mut resource_logs, "scopeLogs", &at)?
            .into_iter()
            .enumerate()
        {
            let at = format!("{at}.scopeLogs[{s}]");
            expect_object(&scope_logs, &at)?;
            for (l, record) in take_array(&mut scope_logs, "logRecords", &at)?
                .into_iter()
                .enumerate()
            {
                let at = format!("{at}.logRecords[{l}]");
                expect_object(&record, &at)?;
                records.push((at, record));
            }
        }
    }
    Ok(records)
}

fn take_array(parent: &mut Value, field: &str, at: &str) -> Result<Vec<Value>> {
    match parent.get_mut(field).map(Value::take) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(Error::BadRequest(format!(
            "{}{field}: expected an array",
            if at.is_empty() {
                String::new()
            } else {
                format!("{at}.")
            }
        ))),
    }
}

fn expect_object(value: &Value, at: &str) -> Result<()> {
    if value.is_object() {
        Ok(())
    } else {
        Err(Error::BadRequest(format!("{at}: expected an object")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_records_with_their_positions() {
        let body = br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"a":1},{"b":2}]},{}]},{"scopeLogs":null}]}"#;
        let records = decode(body).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].0, "resourceLogs[0].scopeLogs[0].logRecords[1]");
        assert_eq!(records[1].1["b"], 2);
        assert!(decode(b"{}").unwrap().is_empty());
    }

    #[test]
    fn refuses_wrong_shapes_with_their_path() {
        let cases: [(&[u8], &str); 5] = [
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
        ];
        for (body, message) in cases {
            assert_eq!(decode(body).unwrap_err().to_string(), message);
        }
    }
}
