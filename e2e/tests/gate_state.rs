//! The gate's moving parts through a real Envoy (two workers): keys arriving late and being
//! rotated, revocations landing within one poll interval on every worker, a stale feed
//! failing closed, configuration errors refused with the field named, and the stats.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use jitgate_conformance::catalog::{standard_claims, STANDARD_TIMES};
use jitgate_conformance::recipe::Recipe;
use jitgate_conformance::testkeys::TestKey;
use jitgate_e2e::gate::conformance_plugin_configuration;
use jitgate_e2e::stub::feed::FeedRoute;
use jitgate_e2e::tokens::{grant_token, now};
use jitgate_e2e::wait::within;
use jitgate_e2e::{
    validate_yaml, BootstrapTemplate, BootstrapValues, LocalStack, RawRequest, RawResponse,
    StackOptions,
};
use serde_json::{json, Value};

const CHAT: &str = r#"{"model":"meta-llama/Llama-3.1-8B-Instruct","messages":[]}"#;
const SCOPE: &str = "inference:meta-llama/Llama-3.1-8B-Instruct";

fn stack_with(configuration: Value, issuer_jwks: Value, wait_for_gate: bool) -> LocalStack {
    LocalStack::start(StackOptions {
        plugin_configuration: configuration.to_string(),
        issuer_jwks,
        wait_for_gate,
        ..StackOptions::default()
    })
    .expect("the stack starts")
}

fn test_jwks() -> Value {
    serde_json::from_str(include_str!("../../testdata/jwks.json")).unwrap()
}

fn chat(stack: &LocalStack, token: &str) -> RawResponse {
    let authorization = format!("Bearer {token}");
    let headers = [
        ("authorization", authorization.as_str()),
        ("content-type", "application/json"),
    ];
    stack
        .envoy
        .raw(RawRequest {
            method: "POST",
            target: "/v1/chat/completions",
            headers: &headers,
            body: CHAT.as_bytes(),
        })
        .expect("Envoy answers")
}

fn reason(response: &RawResponse) -> String {
    serde_json::from_slice::<Value>(&response.body)
        .ok()
        .and_then(|b| b["reason"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[test]
fn until_keys_load_token_requests_get_503_and_then_pass() {
    // The issuer answers, but with no keys yet: every fetch fails.
    let stack = stack_with(
        conformance_plugin_configuration(200),
        json!({"keys": []}),
        false,
    );
    stack.issuer.fail_feed(FeedRoute::Jwks, 503);
    std::thread::sleep(Duration::from_millis(300));
    let token = grant_token("late-keys", SCOPE);
    let response = chat(&stack, &token);
    assert_eq!(
        (response.status, reason(&response).as_str()),
        (503, "keys_unavailable"),
        "{}",
        response.text()
    );
    assert_eq!(response.header("retry-after"), Some("1"));
    assert_eq!(
        response.header("www-authenticate"),
        None,
        "a key outage is not the token's fault"
    );
    let public = stack.envoy.raw(RawRequest::get("/v1/models")).unwrap();
    assert_eq!(public.status, 200, "public routes need no keys");
    assert!(stack
        .upstream
        .requests_to("/v1/chat/completions")
        .is_empty());

    stack.issuer.set_jwks(test_jwks());
    stack.issuer.restore_feed(FeedRoute::Jwks);
    // Retries back off from 0.5 s; every worker must have loaded within a few seconds.
    let loaded = within(Duration::from_secs(10), || {
        (0..4).all(|_| chat(&stack, &token).status == 200)
    });
    assert!(loaded.is_some(), "keys never loaded");
    assert!(
        stack
            .envoy
            .counter("jitgate_keys_fetch_failed", &[])
            .unwrap()
            > 0
    );
}

#[test]
fn a_rotated_key_is_picked_up_without_restart() {
    let mut only_ed25519 = test_jwks();
    only_ed25519["keys"]
        .as_array_mut()
        .unwrap()
        .retain(|key| key["crv"] == "Ed25519");
    let stack = stack_with(conformance_plugin_configuration(200), only_ed25519, true);
    let p256_token =
        Recipe::honest(TestKey::P256, standard_claims("rotated"), STANDARD_TIMES).token(now());
    let response = chat(&stack, &p256_token);
    assert_eq!(
        (response.status, reason(&response).as_str()),
        (401, "unknown_key")
    );

    // The issuer publishes the new key; the unknown kid makes each worker refetch early.
    stack.issuer.set_jwks(test_jwks());
    let picked_up = within(Duration::from_secs(10), || {
        (0..4).all(|_| chat(&stack, &p256_token).status == 200)
    });
    assert!(picked_up.is_some(), "the new key was never used");
}

#[test]
fn a_revocation_reaches_every_worker_within_one_interval() {
    let interval = Duration::from_millis(1000);
    let stack = stack_with(conformance_plugin_configuration(1000), test_jwks(), true);
    let token = grant_token("to-revoke", SCOPE);
    for _ in 0..4 {
        assert_eq!(chat(&stack, &token).status, 200);
    }
    stack
        .issuer
        .revoke("grant-to-revoke", u64::try_from(now()).unwrap());
    // Denied on every connection (each a fresh one, so both workers answer) within one poll
    // interval plus the tick that notices it is due.
    let denied = within(interval * 2, || {
        (0..6).all(|_| {
            let response = chat(&stack, &token);
            response.status == 401 && reason(&response) == "revoked"
        })
    });
    assert!(
        denied.is_some(),
        "the revocation did not reach every worker in time"
    );
    let another = grant_token("not-revoked", SCOPE);
    assert_eq!(
        chat(&stack, &another).status,
        200,
        "other grants are untouched"
    );
}

#[test]
fn a_stale_revocation_feed_fails_closed_and_recovers() {
    let stack = stack_with(conformance_plugin_configuration(100), test_jwks(), true);
    let token = grant_token("feed-outage", SCOPE);
    assert_eq!(chat(&stack, &token).status, 200);
    stack.issuer.fail_feed(FeedRoute::Revocations, 500);
    // max_staleness is five intervals (500 ms).
    let stale = within(Duration::from_secs(3), || {
        let response = chat(&stack, &token);
        response.status == 503 && reason(&response) == "revocation_unavailable"
    });
    assert!(stale.is_some(), "a stale feed must fail closed");
    let bad = chat(&stack, "not-a-token");
    assert_eq!(
        reason(&bad),
        "malformed_token",
        "a bad token is still a bad token"
    );
    stack.issuer.restore_feed(FeedRoute::Revocations);
    assert!(within(Duration::from_secs(5), || (0..4).all(|_| chat(
        &stack, &token
    )
    .status
        == 200))
    .is_some());
    assert!(
        stack
            .envoy
            .counter("jitgate_revocation_poll_failed", &[])
            .unwrap()
            > 0
    );
}

#[test]
fn the_feed_credential_is_sent_and_a_wrong_one_is_noticed() {
    let stack = stack_with(conformance_plugin_configuration(200), test_jwks(), true);
    let polls = stack.issuer.requests_to("/v1/revocations");
    assert!(!polls.is_empty());
    assert_eq!(
        polls[0].header("authorization"),
        Some(format!("Bearer {}", jitgate_e2e::DEFAULT_FEED_CREDENTIAL).as_str())
    );
    stack.issuer.set_feed_credential(Some("rotated-credential"));
    let before = stack
        .envoy
        .counter("jitgate_revocation_poll_failed", &[])
        .unwrap();
    assert!(within(Duration::from_secs(3), || stack
        .envoy
        .counter("jitgate_revocation_poll_failed", &[])
        .unwrap()
        > before)
    .is_some());
    assert!(stack
        .envoy
        .log()
        .contains("the data-plane credential was refused"));
    assert!(
        !stack
            .envoy
            .log()
            .contains(jitgate_e2e::DEFAULT_FEED_CREDENTIAL),
        "the credential is never logged"
    );
}

#[test]
fn stats_count_decisions_by_reason() {
    let stack = stack_with(conformance_plugin_configuration(200), test_jwks(), true);
    let token = grant_token("stats", SCOPE);
    for _ in 0..3 {
        assert_eq!(chat(&stack, &token).status, 200);
    }
    assert_eq!(chat(&stack, "garbage").status, 401);
    let missing = stack
        .envoy
        .raw(RawRequest {
            method: "POST",
            target: "/v1/chat/completions",
            headers: &[],
            body: CHAT.as_bytes(),
        })
        .unwrap();
    assert_eq!(missing.status, 401);
    let stats = stack.envoy.settled_stats().unwrap();
    assert_eq!(stats.counter("jitgate_allowed", &[]), Some(3));
    assert_eq!(
        stats.counter("jitgate_denied_malformed_token", &[]),
        Some(1)
    );
    assert_eq!(stats.counter("jitgate_denied_missing_token", &[]), Some(1));
    assert_eq!(
        stats.counter("jitgate_denied_expired", &[]),
        Some(0),
        "every reason is defined up front"
    );
    let hits = stats.counter("jitgate_cache_hits", &[]).unwrap();
    let misses = stats.counter("jitgate_cache_misses", &[]).unwrap();
    assert!(hits >= 1 && misses >= 1, "hits {hits}, misses {misses}");
}

#[test]
fn the_access_log_shows_the_decision_subject_and_grant() {
    let stack = stack_with(conformance_plugin_configuration(200), test_jwks(), true);
    let token = grant_token("logged", SCOPE);
    assert_eq!(chat(&stack, &token).status, 200);
    assert_eq!(chat(&stack, "garbage").status, 401);
    let log = (0..50)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(100));
            stack.envoy.access_log()
        })
        .find(|log| log.lines().count() >= 2)
        .expect("two access log lines");
    assert!(
        log.contains("decision=allow reason=granted subject=alice@example.com grant=grant-logged"),
        "{log}"
    );
    assert!(
        log.contains("decision=deny reason=malformed_token subject=- grant=-"),
        "{log}"
    );
    assert!(
        !log.contains(&token),
        "the access log never holds the token"
    );
}

#[test]
fn envoy_refuses_a_bad_plugin_configuration_and_names_the_field() {
    let cases = [
        (json!({"token": {"header": 7}}), "token.header"),
        (json!({"revocation": {"cluster": "issuer"}}), "revocation"),
        (
            json!({"routes": [{"path": "/v1/chat/completions", "scope": "inference:*"}]}),
            "routes[0].scope",
        ),
        (
            json!({"limits": {"leeway_seconds": 3600}}),
            "limits.leeway_seconds",
        ),
        (json!({"surprise": true}), "surprise"),
    ];
    for (change, field) in cases {
        let mut configuration = conformance_plugin_configuration(200);
        for (key, value) in change.as_object().unwrap() {
            configuration[key] = value.clone();
        }
        let mut values = BootstrapValues::example();
        values.filter.plugin_configuration = configuration.to_string();
        values.filter.wasm_path = jitgate_e2e::filter_wasm().unwrap();
        let yaml = BootstrapTemplate::jitgate().render(&values).unwrap();
        let error = validate_yaml(&yaml).expect_err("Envoy refuses the configuration");
        let output = error.to_string();
        assert!(
            output.contains(&format!("invalid configuration: {field}:")),
            "{field}: {output}"
        );
    }
}
