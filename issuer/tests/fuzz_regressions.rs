//! Replays the fuzz findings in `testdata/fuzz-regressions/issuer_request/` against
//! `requests::new::validate`, so each stays fixed under plain `cargo test`, without the
//! fuzzer. Every file is one finding; every case states the answer the code must give.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::PathBuf;

use jitgate_issuer::error::Error;
use jitgate_issuer::requests::new::validate;
use serde_json::Value;

#[test]
fn issuer_request_findings_stay_fixed() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/fuzz-regressions/issuer_request");
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
            let body = case["body"].as_str().unwrap();
            let max_duration = case["max_duration"].as_i64().unwrap();
            let expected = case["expect_refusal_starts_with"].as_str().unwrap();
            match validate(body.as_bytes(), max_duration) {
                Err(Error::BadRequest(message)) => assert!(
                    message.starts_with(expected),
                    "{}: {message:?} does not start with {expected:?}",
                    file.display()
                ),
                other => panic!("{}: expected a 400, got {other:?}", file.display()),
            }
        }
    }
}
