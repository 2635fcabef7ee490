//! Requests pass through a real Envoy running the built filter (two workers) to the stub model
//! server and back, unchanged: JSON and SSE bodies, every OpenAI-compatible route, and the
//! path handling the filter relies on.

#![allow(clippy::expect_used)]

use std::io::Read;

use jitgate_e2e::stub::openai::{self, ModelRoute};
use jitgate_e2e::{http_client, tokens, LocalStack, RawRequest, StackOptions};
use serde_json::{json, Value};

/// A grant covering every model these tests ask for.
fn bearer() -> String {
    tokens::bearer_for_everything("passthrough")
}

fn start_stack() -> LocalStack {
    LocalStack::start(StackOptions::default()).expect("the local stack starts")
}

fn header<'a>(response: &'a reqwest::blocking::Response, name: &str) -> Option<&'a str> {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
}

#[test]
fn chat_completion_reaches_the_stub_through_envoy_and_returns_its_json() {
    let stack = start_stack();
    let body = r#"{"model": "meta-llama/Llama-3.1-8B-Instruct", "messages": [{"role": "user", "content": "hi"}]}"#;

    let response = http_client()
        .expect("client")
        .post(stack.envoy.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .header("authorization", bearer())
        .body(body)
        .send()
        .expect("Envoy answers");

    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), Some("application/json"));
    let request_id = header(&response, "x-request-id")
        .expect("Envoy returns the request id")
        .to_owned();
    let answer: Value = response.json().expect("a JSON body");
    assert_eq!(
        answer,
        openai::chat_completion("meta-llama/Llama-3.1-8B-Instruct")
    );
    assert_eq!(
        answer["usage"],
        json!({ "prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18 })
    );

    let seen = stack.upstream.requests();
    assert_eq!(seen.len(), 1, "exactly one request reached the upstream");
    let seen = &seen[0];
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.target, "/v1/chat/completions");
    assert_eq!(
        seen.body,
        body.as_bytes(),
        "the body reaches the upstream unchanged"
    );
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(seen.header("x-request-id"), Some(request_id.as_str()));
    assert_eq!(seen.header("x-forwarded-proto"), Some("http"));
    assert_eq!(
        seen.header("authorization"),
        None,
        "the grant token is not forwarded"
    );
    assert_eq!(seen.header("x-jitgate-subject"), Some("alice@example.com"));
    assert_eq!(seen.header("x-jitgate-grant"), Some("grant-passthrough"));
}

#[test]
fn streamed_chat_completion_arrives_event_by_event() {
    let stack = start_stack();
    let events = ModelRoute::ChatCompletions.stream_events("m");
    stack.upstream.hold_streams();

    let mut response = http_client()
        .expect("client")
        .post(stack.envoy.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .header("authorization", bearer())
        .body(r#"{"model": "m", "stream": true, "messages": []}"#)
        .send()
        .expect("Envoy answers");
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), Some("text/event-stream"));

    // The stub holds the stream after its first event: that event must already be here.
    let mut received = Vec::new();
    let mut buffer = [0_u8; 4096];
    while !received.ends_with(b"\n\n") {
        let read = response
            .read(&mut buffer)
            .expect("the first event arrives while the stream is held");
        assert_ne!(read, 0, "the stream ended early");
        received.extend_from_slice(&buffer[..read]);
    }
    assert_eq!(String::from_utf8_lossy(&received), events[0]);

    stack.upstream.release_streams();
    response
        .read_to_end(&mut received)
        .expect("the rest of the stream");
    let body = String::from_utf8(received).expect("UTF-8 events");
    assert_eq!(body, events.concat());
    assert!(body.ends_with("data: [DONE]\n\n"));
    // The usage chunk, compared as JSON: member order depends on serde_json's features, which
    // other crates in the build may switch on.
    let usage = body
        .split("\n\n")
        .filter_map(|event| event.strip_prefix("data: "))
        .filter_map(|data| serde_json::from_str::<Value>(data).ok())
        .find_map(|chunk| chunk.get("usage").cloned());
    assert_eq!(
        usage,
        Some(json!({ "prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18 }))
    );
}

#[test]
fn every_openai_route_passes_through_unchanged() {
    let stack = start_stack();
    let client = http_client().expect("client");
    let routes = [
        ("/v1/chat/completions", ModelRoute::ChatCompletions),
        ("/v1/completions", ModelRoute::Completions),
        ("/v1/embeddings", ModelRoute::Embeddings),
        ("/v1/responses", ModelRoute::Responses),
        ("/v1/fine_tuning/jobs", ModelRoute::FineTuningJobs),
    ];
    for (path, route) in routes {
        let body = json!({ "model": "gpt-4o-mini", "input": "x" }).to_string();
        let response = client
            .post(stack.envoy.url(path))
            .header("content-type", "application/json")
            .header("authorization", bearer())
            .body(body.clone())
            .send()
            .expect("Envoy answers");
        assert_eq!(response.status(), 200, "{path}");
        let answer: Value = response.json().expect("a JSON body");
        assert_eq!(answer, route.answer("gpt-4o-mini"), "{path}");
        let seen = stack.upstream.requests_to(path);
        assert_eq!(seen.len(), 1, "{path}");
        assert_eq!(seen[0].body, body.as_bytes(), "{path}");
    }

    let models = client
        .get(stack.envoy.url("/v1/models"))
        .send()
        .expect("Envoy answers");
    assert_eq!(models.status(), 200);
    assert_eq!(models.json::<Value>().expect("JSON"), openai::models());

    // No route covers this, so even a grant for everything is refused, and nothing reaches
    // the upstream.
    let other = client
        .put(stack.envoy.url("/somewhere/else?x=1"))
        .header("authorization", bearer())
        .body("plain")
        .send()
        .expect("Envoy answers");
    assert_eq!(other.status(), 403);
    assert_eq!(other.json::<Value>().expect("JSON")["reason"], "no_route");
    assert!(stack.upstream.requests_to("/somewhere/else?x=1").is_empty());
}

#[test]
fn streamed_responses_api_ends_with_the_completed_event() {
    let stack = start_stack();
    let response = http_client()
        .expect("client")
        .post(stack.envoy.url("/v1/responses"))
        .header("content-type", "application/json")
        .header("authorization", bearer())
        .body(r#"{"model": "o4-mini", "input": "hi", "stream": true}"#)
        .send()
        .expect("Envoy answers");
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), Some("text/event-stream"));
    let body = response.text().expect("the stream");
    assert_eq!(
        body,
        ModelRoute::Responses.stream_events("o4-mini").concat()
    );
    assert!(body.starts_with("event: response.created\n"));
}

#[test]
fn both_workers_run_the_filter() {
    let stack = start_stack();
    // A fresh connection per request: the kernel spreads connections over the two workers'
    // listeners, so 32 of them all landing on one worker has odds of 2^-31.
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(jitgate_e2e::client::REQUEST_TIMEOUT)
        .build()
        .expect("client");
    for _ in 0..32 {
        let response = client
            .get(stack.envoy.url("/v1/models"))
            .send()
            .expect("Envoy answers");
        assert_eq!(response.status(), 200);
    }
    // Public routes are allowed by the filter itself: every request was counted by it.
    stack
        .envoy
        .wait_for_counter(
            "jitgate_allowed",
            &[],
            32,
            std::time::Duration::from_secs(5),
        )
        .expect("the filter allowed all 32 requests");
    let listener = format!("127.0.0.1_{}", stack.envoy.listener().port());
    let stats = stack.envoy.stats().expect("stats");
    let per_worker = |worker: &str| {
        stats
            .counter(
                "envoy_listener_worker_downstream_cx_total",
                &[
                    ("envoy_worker_id", worker),
                    ("envoy_listener_address", &listener),
                ],
            )
            .expect("a per-worker connection counter")
    };
    let (first, second) = (per_worker("0"), per_worker("1"));
    assert_eq!(first + second, 32);
    assert!(
        first > 0 && second > 0,
        "connections per worker: {first} and {second}"
    );
}

#[test]
fn admin_stats_count_the_requests_sent_upstream() {
    let stack = start_stack();
    let client = http_client().expect("client");
    for _ in 0..3 {
        let response = client
            .get(stack.envoy.url("/v1/models"))
            .send()
            .expect("Envoy answers");
        assert_eq!(response.status(), 200);
    }
    stack
        .envoy
        .wait_for_counter(
            "envoy_cluster_upstream_rq_total",
            &[("envoy_cluster_name", "upstream")],
            3,
            std::time::Duration::from_secs(5),
        )
        .expect("three upstream requests counted");
}

#[test]
fn dot_segments_and_double_slashes_are_normalised_before_the_upstream() {
    let stack = start_stack();
    for target in ["/v1/embeddings/../models", "//v1//models", "/v1/./models"] {
        let response = stack
            .envoy
            .raw(RawRequest::get(target))
            .expect("Envoy answers");
        assert_eq!(response.status, 200, "{target}");
        let answer: Value = serde_json::from_slice(&response.body).expect("JSON");
        assert_eq!(answer, openai::models(), "{target}");
    }
    let targets: Vec<String> = stack
        .upstream
        .requests()
        .into_iter()
        .map(|request| request.target)
        .collect();
    assert_eq!(targets, ["/v1/models", "/v1/models", "/v1/models"]);
}

#[test]
fn escaped_slashes_are_rejected_with_400_and_never_reach_the_upstream() {
    let stack = start_stack();
    for target in ["/v1/chat%2Fcompletions", "/v1%2fmodels", "/v1%5Cmodels"] {
        let response = stack
            .envoy
            .raw(RawRequest::get(target))
            .expect("Envoy answers");
        assert_eq!(response.status, 400, "{target}: {}", response.text());
    }
    assert_eq!(stack.upstream.requests(), []);
}
