//! Token tricks that depend on time and key state, through a real Envoy with the built
//! filter. Every static token class of the grant core — forged, tampered, `alg: none`, HMAC
//! with a public key, algorithm confusion, wrong `typ`, embedded keys, bad claims, wrong
//! issuer or audience, padding, extra segments, oversize — is one of the conformance vectors,
//! and `gate_vectors.rs::every_vector_gets_its_status_and_reason_through_envoy` sends all of
//! them through Envoy. Cache tricks (forged twins, spliced payloads, churn) are in
//! `adversarial_exhaustion.rs`. What is left is what a static vector cannot show: a token
//! the cache has seen must still expire on time, and must stop working when its key leaves
//! the issuer's JWKS.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod adversarial;

use std::time::Duration;

use adversarial::{assert_upstream_clean, conformance_stack, verdict};
use jitgate_conformance::catalog::standard_claims;
use jitgate_conformance::recipe::{Recipe, Times};
use jitgate_conformance::testkeys::TestKey;
use jitgate_e2e::tokens::now;
use jitgate_e2e::wait::within;
use jitgate_e2e::{LocalStack, RawRequest, RawResponse};
use serde_json::{json, Value};

const CHAT: &str = r#"{"model":"meta-llama/Llama-3.1-8B-Instruct","messages":[]}"#;

fn chat(stack: &LocalStack, token: &str) -> RawResponse {
    let authorization = format!("Bearer {token}");
    stack
        .envoy
        .raw(RawRequest {
            method: "POST",
            target: "/v1/chat/completions",
            headers: &[
                ("authorization", &authorization),
                ("content-type", "application/json"),
            ],
            body: CHAT.as_bytes(),
        })
        .expect("Envoy answers")
}

#[test]
fn a_cached_token_still_expires_on_time() {
    // No leeway, so expiry is exact to the second.
    let stack = conformance_stack(json!({
        "limits": {"leeway_seconds": 0, "max_token_bytes": 4096, "max_body_bytes": 65536},
        "cache": {"max_entries": 16}
    }));
    let times = Times {
        iat: Some(-60),
        nbf: None,
        // At least two seconds of validity whatever the sub-second part of now, so a slow
        // machine still gets its two allowed calls in.
        exp: Some(3),
    };
    let token =
        Recipe::honest(TestKey::Ed25519, standard_claims("short-lived"), times).token(now());
    // Verified once, then served from the cache.
    assert_eq!(verdict(&chat(&stack, &token)), (200, None));
    assert_eq!(verdict(&chat(&stack, &token)), (200, None));
    assert!(
        stack
            .envoy
            .settled_counter("jitgate_cache_hits", &[])
            .unwrap()
            >= 1
    );
    // `exp` is at most 3 s away; on every worker it must be refused soon after.
    let expired = within(Duration::from_secs(6), || {
        (0..4).all(|_| verdict(&chat(&stack, &token)) == (401, Some("expired".to_owned())))
    })
    .is_some();
    assert!(expired, "a cached token outlived its exp");
    let allowed = stack.upstream.requests_to("/v1/chat/completions").len();
    assert!(allowed >= 2, "both early calls went through");
    assert_upstream_clean(
        &stack.upstream,
        &[&token],
        &["alice@example.com", "grant-short-lived"],
    );
}

#[test]
fn a_cached_token_stops_when_its_key_leaves_the_jwks() {
    let stack = conformance_stack(json!({"cache": {"max_entries": 16}}));
    let token = Recipe::honest(
        TestKey::P256,
        standard_claims("rotated-out"),
        jitgate_conformance::catalog::STANDARD_TIMES,
    )
    .token(now());
    for _ in 0..4 {
        assert_eq!(verdict(&chat(&stack, &token)), (200, None));
    }

    // The issuer drops the P-256 key; an unknown kid makes each worker refetch early (at most
    // once a second here), as a rotation announced by a new token would.
    let mut only_ed25519: Value =
        serde_json::from_str(include_str!("../../testdata/jwks.json")).unwrap();
    only_ed25519["keys"]
        .as_array_mut()
        .unwrap()
        .retain(|key| key["crv"] == "Ed25519");
    stack.issuer.set_jwks(only_ed25519);
    let mut nudge = Recipe::honest(
        TestKey::Ed25519,
        standard_claims("nudge"),
        jitgate_conformance::catalog::STANDARD_TIMES,
    );
    nudge
        .header
        .insert("kid".into(), Value::String("announces-a-rotation".into()));
    let nudge = nudge.token(now());
    let refused = within(Duration::from_secs(6), || {
        let _ = chat(&stack, &nudge);
        (0..4).all(|_| verdict(&chat(&stack, &token)) == (401, Some("unknown_key".to_owned())))
    })
    .is_some();
    assert!(refused, "a cached token outlived its key");
    assert_upstream_clean(
        &stack.upstream,
        &[&token, &nudge],
        &["alice@example.com", "grant-rotated-out"],
    );
}
