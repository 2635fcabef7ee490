//! Grant tokens for end-to-end tests, minted with the TEST-ONLY keys at the real current time
//! (the conformance vectors' recipes, re-run with `now`), so they are valid when they reach
//! Envoy.

use std::time::{SystemTime, UNIX_EPOCH};

use jitgate_conformance::catalog::{standard_claims, STANDARD_TIMES};
use jitgate_conformance::recipe::Recipe;
use jitgate_conformance::testkeys::TestKey;
use serde_json::Value;

/// Seconds since the epoch, now.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
        })
}

/// A valid token for grant `grant-<name>` holding `scope` (space-delimited).
pub fn grant_token(name: &str, scope: &str) -> String {
    let mut claims = standard_claims(name);
    claims.insert("scope".into(), Value::String(scope.to_owned()));
    Recipe::honest(TestKey::Ed25519, claims, STANDARD_TIMES).token(now())
}

/// `Bearer <token>` for a grant covering every inference and training model.
pub fn bearer_for_everything(name: &str) -> String {
    format!("Bearer {}", grant_token(name, "inference:* training:*"))
}
