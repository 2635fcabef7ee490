//! The revocation feed through the glue, with the fake host: a page that says `more` is
//! followed by the next poll at once and tokens wait for the last page; a `410` restarts the
//! feed from the beginning and tokens wait until it is read again; a clock that steps back
//! makes the view stale and polls at once (docs/revocation-feed.md).

// A test fails by panicking; the lints against panics are for the code under test.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use jitgate_conformance::bundle::JWKS;
use jitgate_conformance::catalog::{standard_claims, POLICY_JSON, STANDARD_TIMES};
use jitgate_conformance::recipe::Recipe;
use jitgate_conformance::testkeys::TestKey;
use jitgate_filter::fake::FakeHost;
use jitgate_filter::host::CallResponse;
use jitgate_filter::request::{RequestFlow, Step};
use jitgate_filter::root;
use jitgate_filter::state::VmState;
use serde_json::{json, Value};

const NOW_S: i64 = 1_800_000_000;
const NOW_MS: u64 = 1_800_000_000_000;
const CHAT: &str = r#"{"model":"meta-llama/Llama-3.1-8B-Instruct","messages":[]}"#;

fn vm() -> (VmState, FakeHost) {
    let mut config: Value = serde_json::from_str(POLICY_JSON).unwrap();
    config["body_check"] = json!("hold_headers");
    config["keys"] = json!({"jwks": serde_json::from_str::<Value>(JWKS).unwrap()});
    config["revocation"] =
        json!({"cluster": "issuer", "credential": "data-plane-secret", "interval_ms": 1000});
    let mut host = FakeHost::at(NOW_MS);
    let state = root::configure(&mut host, config.to_string().as_bytes(), &|_| None).unwrap();
    (state, host)
}

fn token(name: &str) -> String {
    Recipe::honest(TestKey::Ed25519, standard_claims(name), STANDARD_TIMES).token(NOW_S)
}

/// The status and `reason` a chat call with `token` gets at `at_ms`.
fn chat(state: &mut VmState, token: &str, at_ms: u64) -> (u16, String) {
    let mut host = FakeHost::request(at_ms, "POST", "/v1/chat/completions")
        .header("content-type", "application/json")
        .header("authorization", &format!("Bearer {token}"))
        .body(CHAT.as_bytes());
    let mut flow = RequestFlow::new();
    let mut step = flow.on_headers(state, &mut host, false);
    if flow.awaits_body() {
        let size = host.request_body.len();
        step = flow.on_body(state, &mut host, size, true);
    }
    match host.response {
        Some(response) => {
            let body: Value = serde_json::from_str(&response.body).unwrap();
            (response.status, body["reason"].as_str().unwrap().to_owned())
        }
        None => {
            assert_eq!(step, Step::Continue);
            (200, String::new())
        }
    }
}

fn answer(state: &mut VmState, host: &mut FakeHost, status: u16, body: Value) {
    let call = host.calls.last().unwrap().clone();
    root::on_call_response(
        state,
        host,
        call.token,
        &CallResponse {
            status: Some(status),
            body: Some(body.to_string().into_bytes()),
        },
    );
}

fn revoked(grant: &str) -> Value {
    json!({"grant_id": grant, "revoked_at": NOW_S - 5, "expires_at": NOW_S + 3600})
}

fn last_path(host: &FakeHost) -> &str {
    &host.calls.last().unwrap().path
}

#[test]
fn a_page_with_more_is_followed_at_once_and_tokens_wait_for_the_last_page() {
    let (mut state, mut host) = vm();
    let newest = token("newest");
    root::tick(&mut state, &mut host);
    assert_eq!(last_path(&host), "/v1/revocations");

    answer(
        &mut state,
        &mut host,
        200,
        json!({"revoked": [revoked("grant-oldest")], "cursor": "e.1000", "more": true}),
    );
    assert_eq!(host.calls.len(), 2, "the next page went out without a tick");
    assert_eq!(last_path(&host), "/v1/revocations?after=e.1000");
    assert_eq!(
        chat(&mut state, &newest, NOW_MS),
        (503, "revocation_unavailable".into()),
        "the newest revocations may be on the next page"
    );

    answer(
        &mut state,
        &mut host,
        200,
        json!({"revoked": [revoked("grant-newest")], "cursor": "e.1001", "more": false}),
    );
    assert_eq!(host.calls.len(), 2, "a final page waits for the interval");
    assert_eq!(chat(&mut state, &newest, NOW_MS), (401, "revoked".into()));
    assert_eq!(
        chat(&mut state, &token("other"), NOW_MS),
        (200, String::new())
    );
}

#[test]
fn a_410_restarts_the_feed_and_tokens_wait_until_it_is_read_again() {
    let (mut state, mut host) = vm();
    root::tick(&mut state, &mut host);
    answer(
        &mut state,
        &mut host,
        200,
        json!({"revoked": [revoked("grant-before")], "cursor": "old.3"}),
    );
    let after = token("after");
    assert_eq!(chat(&mut state, &after, NOW_MS), (200, String::new()));

    host.now_ms += 1000;
    root::tick(&mut state, &mut host);
    assert_eq!(last_path(&host), "/v1/revocations?after=old.3");
    answer(
        &mut state,
        &mut host,
        410,
        json!({"error": "unknown_cursor", "message": "start again"}),
    );
    assert_eq!(host.calls.len(), 3, "the restart went out without a tick");
    assert_eq!(last_path(&host), "/v1/revocations");
    assert_eq!(host.counter("jitgate.revocation.poll_failed"), 1);
    assert_eq!(
        chat(&mut state, &after, host.now_ms),
        (503, "revocation_unavailable".into())
    );

    answer(
        &mut state,
        &mut host,
        200,
        json!({"revoked": [revoked("grant-after")], "cursor": "new.1"}),
    );
    assert_eq!(
        chat(&mut state, &after, host.now_ms),
        (401, "revoked".into())
    );
    assert_eq!(
        chat(&mut state, &token("before"), host.now_ms),
        (401, "revoked".into()),
        "what it knew stays revoked"
    );
}

#[test]
fn a_clock_that_steps_back_makes_the_view_stale_and_polls_at_once() {
    let (mut state, mut host) = vm();
    root::tick(&mut state, &mut host);
    answer(
        &mut state,
        &mut host,
        200,
        json!({"revoked": [], "cursor": "e.0"}),
    );
    let valid = token("valid");
    assert_eq!(chat(&mut state, &valid, NOW_MS), (200, String::new()));

    host.now_ms = NOW_MS - 60_000;
    assert_eq!(
        chat(&mut state, &valid, host.now_ms),
        (503, "revocation_unavailable".into())
    );
    root::tick(&mut state, &mut host);
    assert_eq!(host.calls.len(), 2, "polled now, not a minute later");
    answer(
        &mut state,
        &mut host,
        200,
        json!({"revoked": [], "cursor": "e.0"}),
    );
    assert_eq!(chat(&mut state, &valid, host.now_ms), (200, String::new()));
}
