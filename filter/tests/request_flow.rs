//! The glue's behaviour around a decision, with the fake host: what the upstream sees on
//! allow, what the client sees on deny, body buffering, key loading and revocation polling.

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

fn config(keys: Value, revocation: Option<Value>) -> Value {
    let mut config: Value = serde_json::from_str(POLICY_JSON).unwrap();
    config["body_check"] = json!("hold_headers");
    config["keys"] = keys;
    config["filter_state"] = json!(true);
    if let Some(revocation) = revocation {
        config["revocation"] = revocation;
    }
    config
}

fn inline_keys() -> Value {
    json!({"jwks": serde_json::from_str::<Value>(JWKS).unwrap()})
}

fn vm(config: &Value) -> (VmState, FakeHost) {
    let mut host = FakeHost::at(NOW_MS);
    let state = root::configure(&mut host, config.to_string().as_bytes(), &|_| None).unwrap();
    (state, host)
}

/// The counts the VM has made since the last call, as Envoy sees them after a tick.
fn counted(state: &mut VmState) -> FakeHost {
    let mut root_host = FakeHost::at(NOW_MS);
    root::publish_metrics(state, &mut root_host);
    root_host
}

fn token(name: &str) -> String {
    Recipe::honest(TestKey::Ed25519, standard_claims(name), STANDARD_TIMES).token(NOW_S)
}

fn chat_request(token: &str) -> FakeHost {
    FakeHost::request(NOW_MS, "POST", "/v1/chat/completions")
        .header("content-type", "application/json")
        .header("authorization", &format!("Bearer {token}"))
        .body(CHAT.as_bytes())
}

fn run(state: &mut VmState, host: &mut FakeHost) -> Step {
    let mut flow = RequestFlow::new();
    let step = flow.on_headers(state, host, false);
    if flow.awaits_body() {
        let size = host.request_body.len();
        return flow.on_body(state, host, size, true);
    }
    step
}

#[test]
fn allowed_requests_lose_the_token_and_spoofed_headers_and_gain_subject_and_grant() {
    let (mut state, _) = vm(&config(inline_keys(), None));
    let mut host = chat_request(&token("allowed"))
        .header("x-jitgate-subject", "mallory")
        .header("X-Jitgate-Grant", "forged")
        .header("x-jitgate-anything", "x");
    assert_eq!(run(&mut state, &mut host), Step::Continue);
    assert_eq!(host.response, None);
    assert!(
        host.header_values("authorization").is_empty(),
        "token stripped"
    );
    assert_eq!(
        host.header_values("x-jitgate-subject"),
        vec!["alice@example.com"]
    );
    assert_eq!(host.header_values("x-jitgate-grant"), vec!["grant-allowed"]);
    assert!(host.header_values("x-jitgate-anything").is_empty());
    assert!(host.header_values("X-Jitgate-Grant").is_empty());
    assert_eq!(
        host.filter_state
            .get("jitgate_decision")
            .map(String::as_str),
        Some("allow")
    );
    assert_eq!(
        host.filter_state.get("jitgate_subject").map(String::as_str),
        Some("alice@example.com")
    );
    assert_eq!(host.counter("jitgate.allowed"), 0, "counted in the VM");
    let counts = counted(&mut state);
    assert_eq!(counts.counter("jitgate.allowed"), 1);
    assert_eq!(counts.counter("jitgate.cache.misses"), 1);
}

#[test]
fn the_token_can_be_forwarded_when_configured() {
    let mut config = config(inline_keys(), None);
    config["token"] = json!({"forward": true});
    let (mut state, _) = vm(&config);
    let token = token("forwarded");
    let mut host = chat_request(&token);
    assert_eq!(run(&mut state, &mut host), Step::Continue);
    assert_eq!(
        host.header_values("authorization"),
        vec![format!("Bearer {token}").as_str()]
    );
}

#[test]
fn the_token_header_and_prefix_are_configurable() {
    let mut config = config(inline_keys(), None);
    config["token"] = json!({"header": "X-Grant-Token", "prefix": ""});
    let (mut state, _) = vm(&config);
    let token = token("custom-header");
    let mut host = FakeHost::request(NOW_MS, "POST", "/v1/chat/completions")
        .header("content-type", "application/json")
        .header("x-grant-token", &token)
        .header("authorization", "Basic dXNlcjpwYXNz")
        .body(CHAT.as_bytes());
    assert_eq!(run(&mut state, &mut host), Step::Continue);
    assert!(
        host.header_values("x-grant-token").is_empty(),
        "the configured header is stripped"
    );
    assert_eq!(
        host.header_values("authorization"),
        vec!["Basic dXNlcjpwYXNz"],
        "other credentials pass untouched"
    );
    let mut missing = chat_request(&token);
    run(&mut state, &mut missing);
    assert_eq!(
        missing.response.as_ref().map(|r| r.status),
        Some(401),
        "Authorization is not read any more"
    );
}

#[test]
fn a_second_request_with_the_same_token_is_a_cache_hit() {
    let (mut state, _) = vm(&config(inline_keys(), None));
    let token = token("cached");
    let mut first = chat_request(&token);
    run(&mut state, &mut first);
    counted(&mut state);
    let mut second = chat_request(&token);
    assert_eq!(run(&mut state, &mut second), Step::Continue);
    // Two lookups on the second request (headers, then body), both hits.
    let counts = counted(&mut state);
    assert_eq!(counts.counter("jitgate.cache.hits"), 2);
    assert_eq!(counts.counter("jitgate.cache.misses"), 0);
}

#[test]
fn denials_answer_rfc6750_and_never_echo_the_token() {
    let (mut state, _) = vm(&config(inline_keys(), None));
    let token = token("scoped");
    let mut host = chat_request(&token).body(br#"{"model":"gpt-4o"}"#);
    assert_eq!(run(&mut state, &mut host), Step::Pause);
    let response = host.response.clone().unwrap();
    assert_eq!(response.status, 403);
    assert_eq!(
        response.header("www-authenticate"),
        Some("Bearer realm=\"jitgate\", error=\"insufficient_scope\", error_description=\"the grant does not cover this request; request the scope named in WWW-Authenticate\", scope=\"inference:gpt-4o\"")
    );
    let body: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(body["error"]["type"], "insufficient_scope");
    assert_eq!(body["error"]["code"], "insufficient_scope");
    assert_eq!(body["reason"], "insufficient_scope");
    assert_eq!(body["request_id"], "req-1");
    assert!(!response.body.contains(&token));
    assert_eq!(
        counted(&mut state).counter("jitgate.denied.insufficient_scope"),
        1
    );
    assert_eq!(
        host.filter_state.get("jitgate_reason").map(String::as_str),
        Some("insufficient_scope")
    );
}

#[test]
fn bad_tokens_are_refused_before_the_body_is_buffered() {
    let (mut state, _) = vm(&config(inline_keys(), None));
    let mut host = chat_request("not-a-token");
    let mut flow = RequestFlow::new();
    assert_eq!(flow.on_headers(&mut state, &mut host, false), Step::Pause);
    assert_eq!(host.response.as_ref().map(|r| r.status), Some(401));
}

#[test]
fn a_body_over_the_limit_is_refused_as_soon_as_it_crosses_it() {
    let (mut state, _) = vm(&config(inline_keys(), None));
    let mut host = chat_request(&token("big"));
    let mut flow = RequestFlow::new();
    assert_eq!(flow.on_headers(&mut state, &mut host, false), Step::Pause);
    assert!(flow.awaits_body());
    assert_eq!(host.response, None, "waiting for the body");
    assert_eq!(
        flow.on_body(&mut state, &mut host, 60_000, false),
        Step::Pause
    );
    assert_eq!(host.response, None);
    assert_eq!(
        flow.on_body(&mut state, &mut host, 70_000, false),
        Step::Pause
    );
    assert_eq!(host.response.as_ref().map(|r| r.status), Some(413));
}

#[test]
fn with_held_headers_nothing_about_the_request_changes_until_the_body_allows_it() {
    let (mut state, _) = vm(&config(inline_keys(), None));
    let token = token("held");
    let mut host = chat_request(&token);
    let mut flow = RequestFlow::new();
    // The headers wait (Envoy holds them: `allow_on_headers_stop_iteration`), untouched.
    assert_eq!(flow.on_headers(&mut state, &mut host, false), Step::Pause);
    assert!(flow.awaits_body());
    assert_eq!(host.header_values("authorization").len(), 1);
    assert!(host.header_values("x-jitgate-subject").is_empty());
    let size = host.request_body.len();
    assert_eq!(
        flow.on_body(&mut state, &mut host, size, true),
        Step::Continue
    );
    // Allowed: now they lose the token and gain the subject, and go on with the body.
    assert!(host.header_values("authorization").is_empty());
    assert_eq!(
        host.header_values("x-jitgate-subject"),
        vec!["alice@example.com"]
    );
}

#[test]
fn with_forwarded_headers_they_go_on_first_stripped_and_the_body_waits() {
    let mut configuration = config(inline_keys(), None);
    configuration["body_check"] = json!("forward_headers");
    let (mut state, _) = vm(&configuration);
    let mut host = chat_request(&token("forwarded")).body(br#"{"model":"gpt-4o"}"#);
    let mut flow = RequestFlow::new();
    assert_eq!(
        flow.on_headers(&mut state, &mut host, false),
        Step::Continue
    );
    assert!(flow.awaits_body());
    assert!(host.header_values("authorization").is_empty());
    assert_eq!(
        host.header_values("x-jitgate-subject"),
        vec!["alice@example.com"]
    );
    let size = host.request_body.len();
    assert_eq!(flow.on_body(&mut state, &mut host, size, true), Step::Pause);
    assert_eq!(host.response.as_ref().map(|r| r.status), Some(403));
}

/// Headers, then the whole body without `end_of_stream`, then trailers: how an HTTP/2
/// request (or an HTTP/1.1 chunked one where Envoy parses trailers) ends in trailers.
fn run_ending_in_trailers(state: &mut VmState, host: &mut FakeHost) -> (RequestFlow, Step) {
    let mut flow = RequestFlow::new();
    assert_eq!(flow.on_headers(state, host, false), Step::Pause);
    assert!(flow.awaits_body());
    let size = host.request_body.len();
    if size > 0 {
        assert_eq!(flow.on_body(state, host, size, false), Step::Pause);
    }
    assert_eq!(
        host.response, None,
        "nothing decided before the end of the stream"
    );
    let step = flow.on_trailers(state, host);
    (flow, step)
}

#[test]
fn trailers_end_the_body_and_a_model_outside_the_grant_is_refused_there() {
    let (mut state, _) = vm(&config(inline_keys(), None));
    let mut host = chat_request(&token("trailers")).body(br#"{"model":"gpt-4o","messages":[]}"#);
    let (flow, step) = run_ending_in_trailers(&mut state, &mut host);
    assert_eq!(step, Step::Pause, "the held body must not be released");
    let response = host.response.clone().unwrap();
    assert_eq!(response.status, 403);
    let body: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(body["reason"], "insufficient_scope");
    assert!(!flow.awaits_body());
    assert_eq!(
        flow.decision().map(|decision| decision.reason.code()),
        Some("insufficient_scope")
    );
    assert_eq!(
        counted(&mut state).counter("jitgate.denied.insufficient_scope"),
        1
    );
}

#[test]
fn trailers_end_the_body_and_a_granted_model_continues() {
    let (mut state, _) = vm(&config(inline_keys(), None));
    let mut host = chat_request(&token("trailers-ok"));
    let (flow, step) = run_ending_in_trailers(&mut state, &mut host);
    assert_eq!(step, Step::Continue);
    assert_eq!(host.response, None);
    assert!(flow
        .decision()
        .is_some_and(|decision| decision.is_allowed()));
    assert_eq!(counted(&mut state).counter("jitgate.allowed"), 1);
}

#[test]
fn trailers_with_no_body_at_all_are_refused_as_not_json() {
    let (mut state, _) = vm(&config(inline_keys(), None));
    let mut host = chat_request(&token("trailers-empty")).body(b"");
    let (_, step) = run_ending_in_trailers(&mut state, &mut host);
    assert_eq!(step, Step::Pause);
    let response = host.response.clone().unwrap();
    assert_eq!(response.status, 400);
    let body: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(body["reason"], "body_not_json");
}

#[test]
fn trailers_after_a_body_past_the_last_reported_size_still_see_all_of_it() {
    // The host may hold more than the last body callback reported: the decision reads what
    // is buffered, up to one byte past the limit, so an oversized body is seen as one.
    let (mut state, _) = vm(&config(inline_keys(), None));
    let oversized = format!(
        r#"{{"model":"meta-llama/Llama-3.1-8B-Instruct","x":"{}"}}"#,
        "y".repeat(70_000)
    );
    let mut host = chat_request(&token("trailers-big")).body(oversized.as_bytes());
    let mut flow = RequestFlow::new();
    assert_eq!(flow.on_headers(&mut state, &mut host, false), Step::Pause);
    assert_eq!(flow.on_body(&mut state, &mut host, 10, false), Step::Pause);
    assert_eq!(flow.on_trailers(&mut state, &mut host), Step::Pause);
    assert_eq!(host.response.as_ref().map(|r| r.status), Some(413));
}

#[test]
fn trailers_on_a_request_that_is_not_awaiting_a_body_change_nothing() {
    let (mut state, _) = vm(&config(inline_keys(), None));
    let mut host = FakeHost::request(NOW_MS, "GET", "/v1/models");
    let mut flow = RequestFlow::new();
    assert_eq!(
        flow.on_headers(&mut state, &mut host, false),
        Step::Continue
    );
    assert_eq!(flow.on_trailers(&mut state, &mut host), Step::Continue);
    assert_eq!(host.response, None);
    // A refused request stays refused: trailers after a local reply do not reopen it.
    let mut host = chat_request("not-a-token");
    let mut flow = RequestFlow::new();
    assert_eq!(flow.on_headers(&mut state, &mut host, false), Step::Pause);
    assert_eq!(flow.on_trailers(&mut state, &mut host), Step::Pause);
    assert_eq!(flow.on_body(&mut state, &mut host, 10, true), Step::Pause);
    assert_eq!(host.response.as_ref().map(|r| r.status), Some(401));
}

#[test]
fn public_routes_pass_without_a_token_and_non_model_routes_do_not_buffer() {
    let (mut state, _) = vm(&config(inline_keys(), None));
    let mut host = FakeHost::request(NOW_MS, "GET", "/v1/models");
    let mut flow = RequestFlow::new();
    assert_eq!(flow.on_headers(&mut state, &mut host, true), Step::Continue);
    assert_eq!(
        flow.on_body(&mut state, &mut host, 10, true),
        Step::Continue
    );
    let mut host = FakeHost::request(NOW_MS, "GET", "/v1/datasets/claims-2024/rows")
        .header("authorization", &format!("Bearer {}", token("dataset")));
    assert_eq!(
        RequestFlow::new().on_headers(&mut state, &mut host, false),
        Step::Continue
    );
}

#[test]
fn keys_load_from_the_issuer_and_until_then_requests_get_503() {
    let (mut state, mut root_host) = vm(&config(
        json!({"fetch": {"cluster": "issuer", "authority": "issuer.test"}}),
        None,
    ));
    let mut host = chat_request(&token("early"));
    run(&mut state, &mut host);
    let response = host.response.unwrap();
    assert_eq!(response.status, 503);
    assert!(response.body.contains("keys_unavailable"));

    root::tick(&mut state, &mut root_host);
    let call = root_host.calls[0].clone();
    assert_eq!(
        (call.cluster.as_str(), call.path.as_str()),
        ("issuer", "/.well-known/jwks.json")
    );
    root::tick(&mut state, &mut root_host);
    assert_eq!(root_host.calls.len(), 1, "one fetch at a time");
    let response = CallResponse {
        status: Some(200),
        body: Some(JWKS.as_bytes().to_vec()),
    };
    root::on_call_response(&mut state, &mut root_host, call.token, &response);
    assert_eq!(root_host.counter("jitgate.keys.fetch_ok"), 1);

    let mut host = chat_request(&token("later"));
    assert_eq!(run(&mut state, &mut host), Step::Continue);
}

#[test]
fn an_unknown_kid_triggers_an_early_key_refresh() {
    let (mut state, mut root_host) = vm(&config(json!({"fetch": {"cluster": "issuer"}}), None));
    root::tick(&mut state, &mut root_host);
    let response = CallResponse {
        status: Some(200),
        body: Some(JWKS.as_bytes().to_vec()),
    };
    root::on_call_response(&mut state, &mut root_host, 1, &response);
    root::tick(&mut state, &mut root_host);
    assert_eq!(root_host.calls.len(), 1, "refresh not due yet");

    let rotated = Recipe::honest(
        TestKey::Attacker,
        standard_claims("rotated"),
        STANDARD_TIMES,
    )
    .token(NOW_S);
    let mut host = chat_request(&rotated);
    run(&mut state, &mut host);
    assert_eq!(host.response.as_ref().map(|r| r.status), Some(401));
    root::tick(&mut state, &mut root_host);
    assert_eq!(
        root_host.calls.len(),
        2,
        "the unknown kid made a refresh due"
    );
}

#[test]
fn revocations_are_polled_with_the_credential_and_enforced() {
    let feed = json!({"cluster": "issuer", "credential": "data-plane-secret", "interval_ms": 1000});
    let (mut state, mut root_host) = vm(&config(inline_keys(), Some(feed)));
    let token = token("revoked-later");

    let mut host = chat_request(&token);
    run(&mut state, &mut host);
    assert_eq!(
        host.response.as_ref().map(|r| r.status),
        Some(503),
        "never polled: stale"
    );

    root::tick(&mut state, &mut root_host);
    let call = root_host.calls[0].clone();
    assert_eq!(call.path, "/v1/revocations");
    assert_eq!(
        call.headers,
        vec![(
            "authorization".to_owned(),
            "Bearer data-plane-secret".to_owned()
        )]
    );
    let empty = CallResponse {
        status: Some(200),
        body: Some(br#"{"revoked":[],"cursor":"0"}"#.to_vec()),
    };
    root::on_call_response(&mut state, &mut root_host, call.token, &empty);
    let mut host = chat_request(&token);
    assert_eq!(run(&mut state, &mut host), Step::Continue);

    root_host.now_ms += 1000;
    root::tick(&mut state, &mut root_host);
    let call = root_host.calls[1].clone();
    assert_eq!(call.path, "/v1/revocations?after=0");
    let page = json!({"revoked": [{"grant_id": "grant-revoked-later", "revoked_at": NOW_S}], "cursor": "1"}).to_string();
    root::on_call_response(
        &mut state,
        &mut root_host,
        call.token,
        &CallResponse {
            status: Some(200),
            body: Some(page.into_bytes()),
        },
    );
    // The request comes after the poll (a view caught up "in the future" is stale).
    let mut host = chat_request(&token);
    host.now_ms = root_host.now_ms;
    run(&mut state, &mut host);
    let response = host.response.unwrap();
    assert_eq!(response.status, 401);
    assert!(response.body.contains("\"reason\":\"revoked\""));
}

#[test]
fn configuration_errors_name_the_field() {
    let mut host = FakeHost::at(NOW_MS);
    let mut bad = config(inline_keys(), None);
    bad["token"] = json!({"prefix": "Bearer ", "header": 7});
    let error = root::configure(&mut host, bad.to_string().as_bytes(), &|_| None).unwrap_err();
    assert_eq!(error.field, "token.header");
}

#[test]
fn a_compressed_body_on_a_model_route_is_refused_from_the_headers_naming_content_encoding() {
    let (mut state, _) = vm(&config(inline_keys(), None));
    let mut host = chat_request(&token("gzip")).header("content-encoding", "gzip");
    let mut flow = RequestFlow::new();
    assert_eq!(flow.on_headers(&mut state, &mut host, false), Step::Pause);
    assert!(!flow.awaits_body(), "refused before anything is buffered");
    let response = host.response.clone().unwrap();
    assert_eq!(response.status, 415);
    let body: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(body["reason"], "unsupported_media_type");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no content-encoding"));

    // `identity` is no encoding at all.
    let mut host = chat_request(&token("identity")).header("Content-Encoding", "identity");
    assert_eq!(run(&mut state, &mut host), Step::Continue);
}

/// Host calls are what a request costs in Envoy beyond the filter's own code (each copies
/// through linear memory and leaves V8), so the hot path keeps to the few it cannot avoid:
/// the clock, the header map, removing the token, adding the subject and the grant.
#[test]
fn a_cached_allowed_request_makes_five_host_calls_and_publishes_state_only_when_asked() {
    let scoped = |token: &str| {
        FakeHost::request(NOW_MS, "GET", "/v1/fine_tuning/jobs")
            .header("authorization", &format!("Bearer {token}"))
    };
    let mut quiet = config(inline_keys(), None);
    quiet["filter_state"] = json!(false);
    let (mut state, _) = vm(&quiet);
    let token = Recipe::honest(
        TestKey::Ed25519,
        {
            let mut claims = standard_claims("crossings");
            claims.insert("scope".into(), json!("training:jobs:read"));
            claims
        },
        STANDARD_TIMES,
    )
    .token(NOW_S);
    let mut warm = scoped(&token);
    assert_eq!(run(&mut state, &mut warm), Step::Continue);
    let mut cached = scoped(&token);
    let mut flow = RequestFlow::new();
    assert_eq!(
        flow.on_headers(&mut state, &mut cached, true),
        Step::Continue
    );
    flow.on_response_headers(&state, &cached);
    flow.on_response_body(&cached, 100);
    flow.on_log(&mut state, &mut cached);
    let crossings = cached.crossings();
    assert_eq!(
        crossings.into_iter().collect::<Vec<_>>(),
        vec![
            ("proxy_add_header_map_value", 2),
            ("proxy_get_current_time_nanoseconds", 1),
            ("proxy_get_header_map_pairs", 1),
            ("proxy_remove_header_map_value", 1),
        ]
    );
    assert!(cached.filter_state.is_empty());

    let (mut state, _) = vm(&config(inline_keys(), None));
    let mut published = scoped(&token);
    assert_eq!(run(&mut state, &mut published), Step::Continue);
    assert_eq!(
        published.filter_state.keys().collect::<Vec<_>>(),
        vec![
            "jitgate_decision",
            "jitgate_grant",
            "jitgate_reason",
            "jitgate_subject"
        ]
    );
}
