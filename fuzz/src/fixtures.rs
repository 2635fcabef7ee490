//! The fixed world the targets decide in: the conformance vectors' policy, trusted keys and
//! clock, so a crash input reproduces exactly and vector tokens used as seeds are valid.

use jitgate_grant::{KeySet, Policy};

/// The vectors' `now`: 2026-01-01T00:00:00Z.
pub const NOW: i64 = 1_767_225_600;

/// `testdata/policy.json`, the policy every conformance vector is decided under.
pub const POLICY_JSON: &str = include_str!("../../testdata/policy.json");

/// `envoy/plugin-config.example.json`, the documented filter configuration.
pub const EXAMPLE_FILTER_CONFIG: &str = include_str!("../../envoy/plugin-config.example.json");

/// The vectors' policy. The file is checked in and tested elsewhere, so a failure here is a
/// broken checkout, not a finding.
pub fn policy() -> Policy {
    match Policy::from_json(POLICY_JSON) {
        Ok(policy) => policy,
        Err(error) => panic!("testdata/policy.json does not compile: {error}"),
    }
}

/// `testdata/jwks.json`, the trusted test keys (Ed25519 and P-256; not the attacker key).
pub const JWKS_JSON: &str = include_str!("../../testdata/jwks.json");

/// The trusted test keys, read from the JWKS file as the filter reads an inline JWKS.
pub fn keys() -> KeySet {
    match KeySet::from_jwks_json(JWKS_JSON) {
        Ok(keys) => keys,
        Err(error) => panic!("testdata/jwks.json does not load: {error}"),
    }
}
