//! Budgets inside one Envoy (two workers) running the built filter: a grant's `limits`
//! counted exactly across both worker VMs in the Envoy's shared data — a budget of 20
//! requests admits exactly 20 of many concurrent ones, then refuses with 403
//! `budget_exhausted`; model tokens counted from the usage of JSON and SSE answers of the
//! stub model server; and the overshoot bound, shown: requests in flight when the budget runs
//! out finish, their tokens are counted, and nothing more is admitted.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use jitgate_conformance::catalog::{standard_claims, STANDARD_TIMES};
use jitgate_conformance::recipe::Recipe;
use jitgate_conformance::testkeys::TestKey;
use jitgate_e2e::gate::conformance_plugin_configuration;
use jitgate_e2e::tokens::now;
use jitgate_e2e::{LocalStack, ModelRoute, RawRequest, RawResponse, StackOptions, STUB_USAGE};
use jitgate_grant::audit::{AuditDecision, AuditRecord};
use serde_json::{json, Value};

const MODEL: &str = "meta-llama/Llama-3.1-8B-Instruct";
const CHAT: &str = "/v1/chat/completions";
/// Input plus output tokens of every stub answer that reports both.
const PER_CALL: u64 = STUB_USAGE.total_tokens();

/// Envoy with two workers (the default), audit records flushed to the stub collector every
/// 100 ms so a test can see which worker admitted what.
fn stack() -> LocalStack {
    let mut configuration = conformance_plugin_configuration(200);
    configuration["audit"] = json!({"cluster": "collector", "flush_interval_ms": 100});
    let options = StackOptions {
        plugin_configuration: configuration.to_string(),
        ..StackOptions::default()
    };
    assert_eq!(options.envoy.concurrency, 2);
    LocalStack::start(options).expect("the stack starts")
}

/// `Bearer` and a token for grant `grant-<name>`, covering the model, with these limits.
fn bearer(name: &str, limits: Value) -> String {
    let mut claims = standard_claims(name);
    claims.insert("scope".into(), format!("inference:{MODEL}").into());
    claims.insert("limits".into(), limits);
    let token = Recipe::honest(TestKey::Ed25519, claims, STANDARD_TIMES).token(now());
    format!("Bearer {token}")
}

/// One request on its own connection (so connections spread over both workers).
fn call(stack: &LocalStack, path: &str, authorization: &str, body: &Value) -> RawResponse {
    let body = body.to_string();
    let headers = [
        ("authorization", authorization),
        ("content-type", "application/json"),
    ];
    stack
        .envoy
        .raw(RawRequest {
            method: "POST",
            target: path,
            headers: &headers,
            body: body.as_bytes(),
        })
        .expect("Envoy answers")
}

fn chat_body(stream: bool) -> Value {
    json!({
        "model": MODEL,
        "messages": [{"role": "user", "content": "hello"}],
        "stream": stream,
        "stream_options": {"include_usage": true},
    })
}

fn reason(response: &RawResponse) -> Option<String> {
    let body: Value = serde_json::from_slice(&response.body).ok()?;
    body["reason"].as_str().map(str::to_owned)
}

/// The refusal of a used-up budget, exactly: 403, JSON, no challenge, no `Retry-After` (the
/// OpenAI SDKs retry 408, 409, 429 and 5xx by default; this one must not be retried).
fn assert_budget_exhausted(response: &RawResponse) {
    assert_eq!(response.status, 403, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.header("www-authenticate"), None);
    assert_eq!(response.header("retry-after"), None);
    let mut body: Value = serde_json::from_slice(&response.body).unwrap();
    let request_id = body["request_id"].take();
    assert!(
        request_id.as_str().is_some_and(|id| !id.is_empty()),
        "{request_id}"
    );
    assert_eq!(
        body,
        json!({
            "error": {
                "message": "the grant's budget (requests or model tokens) is used up; \
                    retrying will not help: request a new grant or a larger budget with \
                    `jitgate request`",
                "type": "access_denied",
                "code": "budget_exhausted",
                "param": null,
            },
            "reason": "budget_exhausted",
            "request_id": null,
        })
    );
}

fn records(stack: &LocalStack, count: usize) -> Vec<AuditRecord> {
    stack
        .collector
        .wait_for_log_records(count, Duration::from_secs(10))
        .expect("the records arrive");
    // Give a straggler the chance to show up: there must be exactly `count`.
    std::thread::sleep(Duration::from_millis(300));
    stack
        .collector
        .accepted_log_records()
        .iter()
        .map(|record| AuditRecord::from_otlp_log_record(record).expect("a jitgate record"))
        .collect()
}

/// Requests to `path` the model server received with their body (a body-scoped refusal may
/// let the start of a request through before resetting it; never its body).
fn served(stack: &LocalStack, path: &str) -> usize {
    stack
        .upstream
        .requests_to(path)
        .iter()
        .filter(|request| request.body_complete && !request.body.is_empty())
        .count()
}

#[test]
fn a_budget_of_twenty_admits_exactly_twenty_across_both_workers() {
    let stack = stack();
    let authorization = bearer("twenty", json!({"requests": 20}));
    const CLIENTS: usize = 8;
    const EACH: usize = 6;
    let answers: Vec<(u16, Option<String>, RawResponse)> = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                scope.spawn(|| {
                    (0..EACH)
                        .map(|_| {
                            // A 503 `budget_unavailable` says "retry shortly" (the count could
                            // not be settled at once); a client does, and so does this one.
                            for _ in 0..20 {
                                let response =
                                    call(&stack, CHAT, &authorization, &chat_body(false));
                                let why = reason(&response);
                                if response.status != 503 {
                                    return (response.status, why, response);
                                }
                                assert_eq!(why.as_deref(), Some("budget_unavailable"));
                                std::thread::sleep(Duration::from_millis(50));
                            }
                            panic!("the count never settled");
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        clients
            .into_iter()
            .flat_map(|client| client.join().unwrap())
            .collect()
    });
    let allowed = answers.iter().filter(|(status, ..)| *status == 200).count();
    assert_eq!(allowed, 20, "exactly the budget is admitted");
    for (status, _, response) in answers.iter().filter(|(status, ..)| *status != 200) {
        assert_eq!(*status, 403);
        assert_budget_exhausted(response);
    }
    assert_eq!(served(&stack, CHAT), 20, "the model server served 20");
    stack
        .envoy
        .wait_for_counter(
            "jitgate_denied_budget_exhausted",
            &[],
            (CLIENTS * EACH - 20) as u64,
            Duration::from_secs(5),
        )
        .unwrap();

    let records = records(&stack, CLIENTS * EACH);
    let allowed_by: BTreeSet<&str> = records
        .iter()
        .filter(|record| record.decision == AuditDecision::Allow)
        .map(|record| record.stream_id.as_str())
        .collect();
    assert_eq!(
        allowed_by.len(),
        2,
        "both workers admitted part of the 20 (one audit stream per worker VM)"
    );
    let refusals: Vec<&AuditRecord> = records
        .iter()
        .filter(|record| record.decision == AuditDecision::Deny)
        .collect();
    assert_eq!(refusals.len(), CLIENTS * EACH - 20);
    for refusal in refusals {
        assert_eq!(
            (
                refusal.reason.as_str(),
                refusal.status,
                refusal.grant_id.as_deref()
            ),
            ("budget_exhausted", 403, Some("grant-twenty"))
        );
    }
}

#[test]
fn a_token_budget_is_counted_from_json_and_from_sse_usage() {
    let stack = stack();
    // Each grant may use STUB_USAGE (or, for embeddings, its input tokens) once: its first
    // call is admitted with nothing used, its second finds the budget used up — so each
    // answer's usage was read and counted before the client had the whole response.
    let cases = [
        ("chat-json", CHAT, chat_body(false), PER_CALL),
        ("chat-sse", CHAT, chat_body(true), PER_CALL),
        (
            "responses-sse",
            "/v1/responses",
            json!({"model": MODEL, "input": "hello", "stream": true}),
            PER_CALL,
        ),
        (
            "completions-sse",
            "/v1/completions",
            json!({"model": MODEL, "prompt": "hello", "stream": true}),
            PER_CALL,
        ),
        (
            "embeddings-json",
            "/v1/embeddings",
            json!({"model": MODEL, "input": "hello"}),
            STUB_USAGE.input_tokens,
        ),
    ];
    for (name, path, body, tokens) in &cases {
        let authorization = bearer(name, json!({"tokens": tokens}));
        let first = call(&stack, path, &authorization, body);
        assert_eq!(first.status, 200, "{name}: {}", first.text());
        if body["stream"] == json!(true) {
            let route = ModelRoute::from_path(path).unwrap();
            assert_eq!(first.text(), route.stream_events(MODEL).concat(), "{name}");
        }
        assert_budget_exhausted(&call(&stack, path, &authorization, body));
    }
    let below = bearer("below", json!({"tokens": PER_CALL + 1}));
    for _ in 0..2 {
        assert_eq!(call(&stack, CHAT, &below, &chat_body(true)).status, 200);
    }
    assert_budget_exhausted(&call(&stack, CHAT, &below, &chat_body(false)));
}

#[test]
fn requests_in_flight_when_the_budget_runs_out_finish_and_are_the_whole_overshoot() {
    let stack = stack();
    let authorization = bearer("in-flight", json!({"tokens": PER_CALL}));
    const HELD: usize = 4;
    stack.upstream.hold_streams();
    std::thread::scope(|scope| {
        // Admitted with nothing used yet; their streams stop after the first event.
        let streams: Vec<_> = (0..HELD)
            .map(|_| scope.spawn(|| call(&stack, CHAT, &authorization, &chat_body(true))))
            .collect();
        stack
            .upstream
            .wait_for_requests(CHAT, HELD, Duration::from_secs(5))
            .unwrap();
        // One more, answered at once, uses the whole budget while the four are in flight.
        assert_eq!(
            call(&stack, CHAT, &authorization, &chat_body(false)).status,
            200
        );
        // Nothing more is admitted, on either worker, while they still run...
        for _ in 0..4 {
            assert_budget_exhausted(&call(&stack, CHAT, &authorization, &chat_body(false)));
        }
        assert!(streams.iter().all(|stream| !stream.is_finished()));
        // ...and they finish, whole.
        stack.upstream.release_streams();
        let expected = ModelRoute::ChatCompletions.stream_events(MODEL).concat();
        for stream in streams {
            let response = stream.join().unwrap();
            assert_eq!(response.status, 200);
            assert_eq!(response.text(), expected);
        }
    });
    assert_budget_exhausted(&call(&stack, CHAT, &authorization, &chat_body(false)));
    assert_eq!(served(&stack, CHAT), HELD + 1);

    let records = records(&stack, HELD + 1 + 5);
    let allowed: Vec<&AuditRecord> = records
        .iter()
        .filter(|record| record.decision == AuditDecision::Allow)
        .collect();
    assert_eq!(allowed.len(), HELD + 1);
    let used: u64 = allowed
        .iter()
        .map(|record| record.input_tokens.unwrap_or(0) + record.output_tokens.unwrap_or(0))
        .sum();
    assert_eq!(
        used,
        PER_CALL + HELD as u64 * PER_CALL,
        "the overshoot is exactly the tokens of the requests in flight at exhaustion"
    );
}
