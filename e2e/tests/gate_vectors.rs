//! Every conformance vector through a real Envoy running the built filter (two workers):
//! tokens re-minted from the vectors' recipes so they are valid now, sent byte for byte, and
//! the exact status and reason checked — the third host after native and WebAssembly.
//!
//! A few vectors cannot mean the same thing through Envoy, and say so below: Envoy
//! normalises paths before any filter runs (so a dot-segment path is *routed*, not refused),
//! rejects escaped slashes itself, and always delivers the body it was sent.
//!
//! A vector's usage so far (for budgets) is made real: its grant's requests are spent first,
//! each an allowed call through Envoy, so the gate's own count holds them. Usage in model
//! tokens cannot be spent exactly that way, and a gate that cannot count cannot be arranged
//! through Envoy; those vectors say so below too.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use jitgate_conformance::bundle::FILES;
use jitgate_conformance::catalog::MODEL;
use jitgate_conformance::Vector;
use jitgate_e2e::gate::conformance_plugin_configuration;
use jitgate_e2e::tokens::now;
use jitgate_e2e::{LocalStack, RawRequest, StackOptions};
use serde_json::Value;

/// What Envoy answers instead, and why: (vector, status, reason or `None` when Envoy itself
/// answers before the filter).
const THROUGH_ENVOY: [(&str, u16, Option<&str>, &str); 5] = [
    (
        "dot-segments-in-path",
        403,
        Some("no_route"),
        "normalize_path turns it into /admin before the filter",
    ),
    (
        "encoded-slash-in-path",
        400,
        None,
        "path_with_escaped_slashes_action: REJECT_REQUEST answers first",
    ),
    (
        "double-slash-in-path",
        200,
        Some("granted"),
        "merge_slashes makes it /v1/chat/completions",
    ),
    (
        "body-not-read-yet",
        400,
        Some("body_not_json"),
        "through Envoy the body is always read; an empty one is not JSON",
    ),
    (
        "budget-exhausted-body-not-read",
        400,
        Some("body_not_json"),
        "through Envoy the body is always read; an empty one is not JSON",
    ),
];

/// Budget vectors whose state cannot be made through Envoy, and why; the filter's glue runs
/// them with its fake host (`filter/tests/glue_vectors.rs`), and `budgets.rs` runs token
/// budgets and contention through Envoy.
const BUDGET_STATES_NOT_THROUGH_ENVOY: [(&str, &str); 4] = [
    (
        "budget-tokens-exhausted",
        "1000 tokens used cannot be spent exactly: each stub answer reports 18",
    ),
    (
        "budget-tokens-overshot",
        "1040 tokens used cannot be spent exactly: each stub answer reports 18",
    ),
    (
        "budget-unavailable",
        "Envoy's shared data always answers; only a never-settling count makes a gate that \
         cannot count",
    ),
    (
        "budget-unavailable-without-limits",
        "Envoy's shared data always answers; only a never-settling count makes a gate that \
         cannot count",
    ),
];

/// The requests a vector's own grant has used so far: spent through Envoy before it.
fn requests_used(vector: &Vector) -> u64 {
    let grant_id = vector
        .recipe
        .as_ref()
        .and_then(|recipe| recipe.claims.get("grant_id"))
        .and_then(Value::as_str);
    grant_id
        .and_then(|grant_id| vector.usage.get(grant_id))
        .map_or(0, |used| used.requests)
}

/// An allowed call under the vector's grant, to spend one request of its budget.
fn spend_one(stack: &LocalStack, authorization: &[String]) -> Result<u16, String> {
    let mut headers: Vec<(&str, &str)> = authorization
        .iter()
        .map(|value| ("authorization", value.as_str()))
        .collect();
    headers.push(("content-type", "application/json"));
    let body = format!(r#"{{"model":"{MODEL}","messages":[]}}"#);
    stack
        .envoy
        .raw(RawRequest {
            method: "POST",
            target: "/v1/chat/completions",
            headers: &headers,
            body: body.as_bytes(),
        })
        .map(|response| response.status)
        .map_err(|error| error.to_string())
}

/// Gate states that need their own stack (covered by `gate_state.rs`), and the audit buffer,
/// which the filter does not have yet.
const OTHER_STACKS: [&str; 6] = [
    "keys-not-loaded",
    "keys-not-loaded-public-route",
    "keys-not-loaded-no-token",
    "revocation-feed-stale",
    "revocation-feed-stale-bad-token",
    "audit-buffer-full",
];

/// Vectors that sit one second from a time boundary, minted this far in the future so the
/// clock ticking between minting and checking cannot flip them.
pub const BOUNDARY_SLACK: [(&str, i64); 2] = [("expired-within-leeway", 1), ("nbf-in-future", 1)];

fn mint_time(vector: &Vector) -> i64 {
    now()
        + BOUNDARY_SLACK
            .iter()
            .find(|(name, _)| *name == vector.name)
            .map_or(0, |(_, slack)| *slack)
}

fn vectors() -> Vec<Vector> {
    FILES
        .iter()
        .map(|(_, text)| serde_json::from_str(text).unwrap())
        .collect()
}

#[test]
fn every_vector_gets_its_status_and_reason_through_envoy() {
    let stack = LocalStack::start(StackOptions {
        plugin_configuration: conformance_plugin_configuration(200).to_string(),
        ..StackOptions::default()
    })
    .expect("the stack starts");
    let vectors = vectors();
    for vector in &vectors {
        for grant_id in &vector.revoked {
            stack.issuer.revoke(grant_id, u64::try_from(now()).unwrap());
        }
    }
    // Two poll intervals: every worker has read the revocations.
    std::thread::sleep(Duration::from_millis(600));

    let mut failures = Vec::new();
    let mut checked = 0;
    for vector in vectors.iter().filter(|v| {
        !OTHER_STACKS.contains(&v.name.as_str())
            && !BUDGET_STATES_NOT_THROUGH_ENVOY
                .iter()
                .any(|(name, _)| *name == v.name)
    }) {
        let authorization = match &vector.recipe {
            Some(recipe) => recipe.authorization(mint_time(vector)),
            None => vector.request.authorization.clone(),
        };
        let spent: Vec<Result<u16, String>> = (0..requests_used(vector))
            .map(|_| spend_one(&stack, &authorization))
            .collect();
        if let Some(problem) = spent.iter().find(|status| *status != &Ok(200)) {
            failures.push(format!(
                "{}: spending its usage so far got {problem:?}",
                vector.name
            ));
            continue;
        }
        let mut headers: Vec<(&str, &str)> = authorization
            .iter()
            .map(|value| ("authorization", value.as_str()))
            .collect();
        if let Some(content_type) = &vector.request.content_type {
            headers.push(("content-type", content_type));
        }
        let body = vector.request.body.as_deref().unwrap_or_default();
        let request = RawRequest {
            method: &vector.request.method,
            target: &vector.request.path,
            headers: &headers,
            body: body.as_bytes(),
        };
        let response = match stack.envoy.raw(request) {
            Ok(response) => response,
            Err(error) => {
                failures.push(format!("{}: {error}", vector.name));
                continue;
            }
        };

        let (status, reason) = match THROUGH_ENVOY.iter().find(|(name, ..)| *name == vector.name) {
            Some((_, status, reason, _)) => (*status, reason.map(str::to_owned)),
            None => (vector.expect.status, Some(vector.expect.reason.clone())),
        };
        let seen_reason = serde_json::from_slice::<Value>(&response.body)
            .ok()
            .and_then(|b| b["reason"].as_str().map(str::to_owned));
        let allowed = status == 200;
        let reason_matches = allowed || reason.is_none() || seen_reason == reason;
        if response.status != status || !reason_matches {
            failures.push(format!(
                "{}: expected {status} {reason:?}, got {} {seen_reason:?}",
                vector.name, response.status
            ));
        }
        for value in &authorization {
            let token = value
                .split_once(' ')
                .map_or(value.as_str(), |(_, token)| token);
            if token.len() > 16 && response.text().contains(token) {
                failures.push(format!("{}: the response echoes the token", vector.name));
            }
        }
        checked += 1;
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} vectors differ through Envoy:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked >= 90, "only {checked} vectors checked");
    let log = stack.envoy.log();
    for vector in &vectors {
        if let Some(recipe) = &vector.recipe {
            let signature = recipe.token(now());
            let signature = signature.rsplit('.').next().unwrap_or_default();
            assert!(
                signature.len() < 16 || !log.contains(signature),
                "Envoy's log holds a token ({})",
                vector.name
            );
        }
    }
}
