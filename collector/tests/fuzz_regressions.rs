//! Replays the fuzz findings in `testdata/fuzz-regressions/otlp_ingest/` against the
//! collector's ingest (`ingest::json::decode`, `ingest::protobuf::decode`,
//! `ingest::validate`), so each stays fixed under plain `cargo test`, without the fuzzer.
//! Every file is one finding: a log record and cases that set one attribute's `intValue`;
//! every case states whether the record is accepted, and an accepted one must come back
//! identical through the other encoding (the property the fuzz target checks).

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::PathBuf;

use jitgate_collector::ingest::{self, json, protobuf};
use serde_json::{json, Value};

const ATTRIBUTE: &str = "jitgate.duration_ms";

fn envelope(record: Value) -> Value {
    json!({"resourceLogs": [{"resource": {"attributes": []}, "scopeLogs": [{"logRecords": [record]}]}]})
}

fn with_int(record: &Value, value: &str) -> Value {
    let mut record = record.clone();
    let attributes = record["attributes"].as_array_mut().unwrap();
    let attribute = attributes
        .iter_mut()
        .find(|attribute| attribute["key"] == ATTRIBUTE)
        .expect("the finding's record carries the attribute");
    attribute["value"] = json!({ "intValue": value });
    record
}

#[test]
fn otlp_ingest_findings_stay_fixed() {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/fuzz-regressions/otlp_ingest");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no findings in {}", dir.display());
    for file in files {
        let finding: Value = serde_json::from_str(&fs::read_to_string(&file).unwrap()).unwrap();
        assert!(finding["description"].is_string(), "{}", file.display());
        for case in finding["cases"]
            .as_array()
            .expect("a finding lists its cases")
        {
            let value = case["intValue"].as_str().unwrap();
            let request = envelope(with_int(&finding["record"], value));
            let text = request.to_string();
            let decoded = json::decode(text.as_bytes()).unwrap();
            let (candidates, rejections) = ingest::validate(decoded);
            match case["expect"].as_str().unwrap() {
                "rejected" => {
                    assert!(
                        candidates.is_empty(),
                        "{}: {value} accepted",
                        file.display()
                    );
                    assert!(
                        rejections[0].reason.contains(ATTRIBUTE),
                        "{}: {value}: the refusal {:?} does not name {ATTRIBUTE}",
                        file.display(),
                        rejections[0].reason
                    );
                }
                "accepted" => {
                    assert!(rejections.is_empty(), "{}: {rejections:?}", file.display());
                    let bytes = protobuf::client::export_request(&request);
                    let (again, refused) = ingest::validate(protobuf::decode(&bytes).unwrap());
                    assert!(refused.is_empty(), "{}: {refused:?}", file.display());
                    assert_eq!(
                        again[0].record,
                        candidates[0].record,
                        "{}: {value}: the encodings disagree",
                        file.display()
                    );
                }
                other => panic!("{}: unknown expectation {other:?}", file.display()),
            }
        }
    }
}
