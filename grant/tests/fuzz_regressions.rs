//! Replays the fuzz findings in `testdata/fuzz-regressions/` for the targets whose code lives
//! in this crate (`route_match`, `body_model`), so each fixed crash stays fixed under plain
//! `cargo test`, without the fuzzer. Every file is one finding; every case states the exact
//! answer the code must give.

// The findings are files on disk, which a wasm32 test runner cannot read.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::PathBuf;

use jitgate_grant::route::check_path;
use jitgate_grant::{extract_model, Reason};
use serde_json::Value;

fn findings(target: &str) -> Vec<(String, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/fuzz-regressions")
        .join(target);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no findings in {}", dir.display());
    files
        .into_iter()
        .map(|path| {
            let text = fs::read_to_string(&path).unwrap();
            let finding: Value = serde_json::from_str(&text).unwrap();
            assert!(finding["description"].is_string(), "{}", path.display());
            (path.display().to_string(), finding)
        })
        .collect()
}

fn cases(finding: &Value) -> &Vec<Value> {
    finding["cases"]
        .as_array()
        .expect("a finding lists its cases")
}

fn expected_reason(code: &str) -> Reason {
    Reason::from_code(code).unwrap_or_else(|| panic!("unknown reason code {code:?}"))
}

#[test]
fn route_match_findings_stay_fixed() {
    for (file, finding) in findings("route_match") {
        for case in cases(&finding) {
            let path = case["path"].as_str().unwrap();
            let expected = match case["expect"].as_str().unwrap() {
                "ok" => Ok(()),
                code => Err(expected_reason(code)),
            };
            assert_eq!(check_path(path), expected, "{file}: {path:?}");
        }
    }
}

#[test]
fn body_model_findings_stay_fixed() {
    for (file, finding) in findings("body_model") {
        for case in cases(&finding) {
            let body = hex(case["body_hex"].as_str().unwrap());
            let expect = case["expect"].as_str().unwrap();
            let expected = match Reason::from_code(expect) {
                Some(reason) => Err(reason),
                None => Ok(expect.to_owned()),
            };
            assert_eq!(extract_model(&body), expected, "{file}: {body:?}");
        }
    }
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(&text[index..index + 2], 16).unwrap())
        .collect()
}
