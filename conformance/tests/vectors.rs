//! The conformance suite: every vector in `testdata/vectors/` decided by `grant::decide`,
//! natively and (with `--target wasm32-unknown-unknown`) inside WebAssembly under Node.

// A test fails by panicking; the lints against panics are for the code under test.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use std::collections::BTreeSet;

use jitgate_conformance::bundle::{FILES, JWKS};
use jitgate_conformance::{run_vector, Vector};
use jitgate_grant::reason::ALL_REASONS;
use jitgate_grant::{KeySet, Policy};

fn load() -> (Vec<Vector>, Policy, KeySet) {
    let vectors = FILES
        .iter()
        .map(|(file, text)| {
            serde_json::from_str::<Vector>(text).unwrap_or_else(|e| panic!("{file}: {e}"))
        })
        .collect();
    let policy = Policy::from_json(jitgate_conformance::catalog::POLICY_JSON)
        .unwrap_or_else(|e| panic!("policy: {e}"));
    let keys = KeySet::from_jwks_json(JWKS).unwrap_or_else(|e| panic!("jwks: {e}"));
    (vectors, policy, keys)
}

#[test]
fn every_vector_decides_as_expected() {
    let (vectors, policy, keys) = load();
    let mut failures = Vec::new();
    for vector in &vectors {
        match run_vector(vector, &policy, &keys) {
            Ok(observed) if observed.decision == vector.expect => {}
            Ok(observed) => failures.push(format!(
                "{}: expected {:?}, got {:?}",
                vector.name, vector.expect, observed.decision
            )),
            Err(error) => failures.push(error),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} vectors failed:\n{}",
        failures.len(),
        vectors.len(),
        failures.join("\n")
    );
}

#[test]
fn there_are_at_least_fifty_vectors_covering_every_reason() {
    let (vectors, _, _) = load();
    assert!(vectors.len() >= 50, "only {} vectors", vectors.len());
    let covered: BTreeSet<&str> = vectors.iter().map(|v| v.expect.reason.as_str()).collect();
    let missing: Vec<&str> = ALL_REASONS
        .iter()
        .map(|r| r.code())
        .filter(|code| !covered.contains(code))
        .collect();
    // `authenticated_unmatched` needs a policy with `unmatched: authenticated`; the shared
    // policy denies unmatched requests, and the unit tests cover the other setting.
    assert_eq!(
        missing,
        vec!["authenticated_unmatched"],
        "reasons without a vector"
    );
}

#[test]
fn no_deny_response_echoes_the_token() {
    let (vectors, policy, keys) = load();
    for vector in &vectors {
        let observed = run_vector(vector, &policy, &keys).unwrap_or_else(|e| panic!("{e}"));
        let Some(body) = observed.response_body else {
            continue;
        };
        for header in &vector.request.authorization {
            let token = header
                .split_once(' ')
                .map_or(header.as_str(), |(_, token)| token)
                .trim();
            if token.len() > 8 {
                assert!(
                    !body.contains(token),
                    "{}: the deny body echoes the token",
                    vector.name
                );
            }
        }
    }
}

#[test]
fn vector_names_match_their_files() {
    for (file, text) in FILES {
        let vector: Vector = serde_json::from_str(text).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(format!("{}.json", vector.name), *file);
    }
}
