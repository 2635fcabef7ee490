//! Plugin configurations for end-to-end tests of the gate: the conformance policy
//! (`testdata/policy.json`) with keys fetched from, and revocations polled from, the stack's
//! issuer stub.

use serde_json::{json, Value};

use crate::stub::feed::DEFAULT_FEED_CREDENTIAL;

/// The policy every conformance vector is decided under.
pub const CONFORMANCE_POLICY: &str = include_str!("../../testdata/policy.json");

/// The conformance policy, keys from the issuer, revocations polled every `interval_ms`.
pub fn conformance_plugin_configuration(interval_ms: u64) -> Value {
    let mut configuration: Value = serde_json::from_str(CONFORMANCE_POLICY).unwrap_or_default();
    configuration["keys"] =
        json!({"fetch": {"cluster": "issuer", "unknown_kid_min_interval_seconds": 1}});
    configuration["revocation"] = json!({
        "cluster": "issuer",
        "credential": DEFAULT_FEED_CREDENTIAL,
        "interval_ms": interval_ms,
        "max_staleness_ms": interval_ms * 5,
    });
    // The harness's Envoy sets `allow_on_headers_stop_iteration` (bootstrap.template.yaml).
    configuration["body_check"] = json!("hold_headers");
    // The harness's access log shows the decision, subject and grant from filter state.
    configuration["filter_state"] = json!(true);
    configuration
}
