//! Every way a request on a body-scoped route (`POST /v1/chat/completions`, scope
//! `inference:{model}`) can end, through a real Envoy with the built filter, over HTTP/2
//! (h2c, prior knowledge) and HTTP/1.1: a body whose stream ends in trailers (the bypass of
//! threat-model finding 1), trailers with no body, a body exactly at the size limit and one
//! byte past it, a stream reset mid-body, HTTP/1.1 chunked trailers with Envoy's default and
//! with `enable_trailers`, and `Expect: 100-continue`.
//!
//! The held body may reach the model server only after the final decision, and only on
//! allow; the suite's invariant ([`adversarial::AdversarialStack`]) then checks that every
//! request the upstream served has one `allow` record.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod adversarial;

use std::io::Write;
use std::time::Duration;

use adversarial::{
    chunk, conformance_stack, conformance_stack_on, exchange, head, open_with, read_response,
    verdict, AdversarialStack,
};
use jitgate_e2e::h2c::{self, H2Outcome, H2Request, StreamEnd};
use jitgate_e2e::tokens::grant_token;
use jitgate_e2e::{BootstrapTemplate, RawResponse};
use jitgate_grant::audit::{AuditDecision, AuditRecord};
use serde_json::json;

const MODEL: &str = "meta-llama/Llama-3.1-8B-Instruct";
const CHAT: &str = "/v1/chat/completions";
/// `limits.max_body_bytes` of the conformance policy.
const LIMIT: usize = 65_536;
const TRAILERS: StreamEnd<'static> = StreamEnd::Trailers(&[("x-trailer", "1")]);

struct Caller {
    authorization: String,
}

impl Caller {
    fn new(name: &str) -> Self {
        let token = grant_token(name, &format!("inference:{MODEL}"));
        Caller {
            authorization: format!("Bearer {token}"),
        }
    }

    fn h2(&self, stack: &AdversarialStack, body: &[u8], end: StreamEnd<'_>) -> H2Outcome {
        h2c::send(
            stack.envoy.listener(),
            H2Request {
                method: "POST",
                path: CHAT,
                headers: &[
                    ("authorization", &self.authorization),
                    ("content-type", "application/json"),
                ],
                body,
                end,
            },
        )
        .expect("the h2c exchange completes in time")
    }

    fn h2_verdict(
        &self,
        stack: &AdversarialStack,
        body: &[u8],
        end: StreamEnd<'_>,
    ) -> (u16, Option<String>) {
        match self.h2(stack, body, end) {
            H2Outcome::Response(response) => verdict(&response),
            H2Outcome::NoResponse(why) => panic!("no response over h2c: {why}"),
        }
    }

    fn chunked_head(&self, extra: &[(&str, &str)]) -> Vec<u8> {
        let mut headers = vec![
            ("authorization", self.authorization.as_str()),
            ("content-type", "application/json"),
            ("transfer-encoding", "chunked"),
            ("connection", "close"),
        ];
        headers.extend_from_slice(extra);
        head("POST", CHAT, &headers)
    }
}

fn chat_body(model: &str) -> Vec<u8> {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
        .to_string()
        .into_bytes()
}

/// A chat body for `model` of exactly `size` bytes.
fn chat_body_of_size(model: &str, size: usize) -> Vec<u8> {
    let frame = format!(r#"{{"model":"{model}","messages":[],"pad":""}}"#);
    let padding = "x".repeat(size - frame.len());
    let body = format!(r#"{{"model":"{model}","messages":[],"pad":"{padding}"}}"#);
    assert_eq!(body.len(), size);
    body.into_bytes()
}

/// The bodies the upstream received whole, on the chat route.
fn served_bodies(stack: &AdversarialStack) -> Vec<Vec<u8>> {
    stack
        .upstream
        .requests_to(CHAT)
        .into_iter()
        .filter(|request| request.body_complete)
        .map(|request| request.body)
        .collect()
}

/// A trailer-ended chunked body: the chunk, then the last chunk with one trailer field.
fn chunked_with_trailer(body: &[u8]) -> Vec<u8> {
    let mut framed = chunk(body);
    framed.extend_from_slice(b"0\r\nx-trailer: 1\r\n\r\n");
    framed
}

#[test]
fn h2_bodies_ending_in_trailers_are_decided_on_the_whole_body_before_the_upstream_sees_them() {
    let stack = conformance_stack(json!({}));
    let caller = Caller::new("h2-trailers");
    let granted = chat_body(MODEL);

    // The bypass: the last DATA frame does not end the stream, the trailers do.
    assert_eq!(
        caller.h2_verdict(&stack, &chat_body("gpt-4o"), TRAILERS),
        (403, Some("insufficient_scope".to_owned()))
    );
    // Trailers with no DATA frame at all: an empty body, which is not JSON.
    assert_eq!(
        caller.h2_verdict(&stack, b"", TRAILERS),
        (400, Some("body_not_json".to_owned()))
    );
    // Case variants a lenient model server would read as `model`.
    let variant = format!(r#"{{"model":"{MODEL}","Model":"gpt-4o","messages":[]}}"#);
    assert_eq!(
        caller.h2_verdict(&stack, variant.as_bytes(), TRAILERS),
        (400, Some("model_duplicated".to_owned()))
    );
    assert_eq!(served_bodies(&stack), Vec::<Vec<u8>>::new());

    // The granted model passes with trailers and without, whole.
    assert_eq!(caller.h2_verdict(&stack, &granted, TRAILERS), (200, None));
    assert_eq!(
        caller.h2_verdict(&stack, &granted, StreamEnd::Body),
        (200, None)
    );
    assert_eq!(served_bodies(&stack), vec![granted.clone(), granted]);
}

#[test]
fn a_body_exactly_at_the_limit_passes_and_one_byte_more_is_refused_with_or_without_trailers() {
    let stack = conformance_stack(json!({}));
    let caller = Caller::new("limit-edge");
    let at_limit = chat_body_of_size(MODEL, LIMIT);
    let past_limit = chat_body_of_size(MODEL, LIMIT + 1);
    for end in [StreamEnd::Body, TRAILERS] {
        assert_eq!(
            caller.h2_verdict(&stack, &at_limit, end),
            (200, None),
            "{end:?}"
        );
        assert_eq!(
            caller.h2_verdict(&stack, &past_limit, end),
            (413, Some("body_too_large".to_owned())),
            "{end:?}"
        );
    }
    assert_eq!(served_bodies(&stack), vec![at_limit.clone(), at_limit]);
}

#[test]
fn an_h2_stream_reset_mid_body_never_serves_the_body_and_is_audited_as_incomplete() {
    let stack = conformance_stack(json!({}));
    let caller = Caller::new("h2-reset");
    let outcome = caller.h2(&stack, &chat_body(MODEL), StreamEnd::Reset);
    assert!(
        matches!(outcome, H2Outcome::NoResponse(_)),
        "a reset stream gets no answer: {outcome:?}"
    );
    let records = stack
        .collector
        .wait_for_log_records(1, Duration::from_secs(5))
        .expect("the reset request is audited");
    let records: Vec<AuditRecord> = records
        .iter()
        .map(|record| AuditRecord::from_otlp_log_record(record).unwrap())
        .collect();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].decision, AuditDecision::Deny);
    assert_eq!(records[0].reason, "incomplete_body");
    assert_eq!(records[0].grant_id.as_deref(), Some("grant-h2-reset"));
    assert_eq!(served_bodies(&stack), Vec::<Vec<u8>>::new());
}

/// HTTP/1.1 chunked trailers: Envoy's default drops them (the body ends at the last chunk);
/// with `http_protocol_options.enable_trailers` they arrive as trailers, like HTTP/2's. The
/// answer must be the same either way.
fn chunked_trailers_are_decided(stack: &AdversarialStack, name: &str) {
    let caller = Caller::new(name);
    let refused = exchange(
        stack.envoy.listener(),
        &[
            &caller.chunked_head(&[("te", "trailers")]),
            &chunked_with_trailer(&chat_body("gpt-4o")),
        ],
        Duration::ZERO,
    )
    .expect("an answer");
    assert_eq!(
        verdict(&refused),
        (403, Some("insufficient_scope".to_owned()))
    );
    let granted = chat_body(MODEL);
    let allowed = exchange(
        stack.envoy.listener(),
        &[&caller.chunked_head(&[]), &chunked_with_trailer(&granted)],
        Duration::ZERO,
    )
    .expect("an answer");
    assert_eq!(allowed.status, 200);
    assert_eq!(served_bodies(stack), vec![granted]);
}

#[test]
fn http1_chunked_trailers_are_decided_on_the_whole_body_with_envoys_default() {
    let stack = conformance_stack(json!({}));
    chunked_trailers_are_decided(&stack, "h1-trailers-default");
}

#[test]
fn http1_chunked_trailers_are_decided_on_the_whole_body_when_envoy_parses_them() {
    let template = BootstrapTemplate::jitgate()
        .with_line_after(
            "codec_type: AUTO",
            "          http_protocol_options: { enable_trailers: true }",
        )
        .expect("the bootstrap names its codec");
    let stack = conformance_stack_on(template, json!({}));
    chunked_trailers_are_decided(&stack, "h1-trailers-enabled");
}

/// Sends the head with `Expect: 100-continue`, reads Envoy's interim answer, then the body.
fn expect_continue(stack: &AdversarialStack, caller: &Caller, body: &[u8]) -> RawResponse {
    let length = body.len().to_string();
    let mut stream = open_with(
        stack.envoy.listener(),
        &head(
            "POST",
            CHAT,
            &[
                ("authorization", &caller.authorization),
                ("content-type", "application/json"),
                ("content-length", &length),
                ("expect", "100-continue"),
                ("connection", "close"),
            ],
        ),
    );
    let interim = read_response(&mut stream).expect("an interim answer");
    assert_eq!(interim.status, 100, "Envoy answers 100 Continue itself");
    stream.write_all(body).expect("send the body");
    read_response(&mut stream).expect("a final answer")
}

#[test]
fn expect_100_continue_still_has_the_body_checked_before_the_upstream_sees_it() {
    let stack = conformance_stack(json!({}));
    let caller = Caller::new("expect-continue");
    let refused = expect_continue(&stack, &caller, &chat_body("gpt-4o"));
    assert_eq!(
        verdict(&refused),
        (403, Some("insufficient_scope".to_owned()))
    );
    let granted = chat_body(MODEL);
    let allowed = expect_continue(&stack, &caller, &granted);
    assert_eq!(allowed.status, 200);
    assert_eq!(served_bodies(&stack), vec![granted]);
    for request in stack.upstream.requests_to(CHAT) {
        assert_eq!(
            request.header("expect"),
            None,
            "Envoy answers the expectation and does not pass it on"
        );
    }
}

#[test]
fn a_chunked_body_split_across_the_limit_with_trailers_is_refused_as_too_large() {
    let stack = conformance_stack(json!({}));
    let caller = Caller::new("chunked-limit");
    let body = chat_body_of_size(MODEL, LIMIT + 1);
    let (first, rest) = body.split_at(LIMIT / 2);
    let response = exchange(
        stack.envoy.listener(),
        &[
            &caller.chunked_head(&[]),
            &chunk(first),
            &chunked_with_trailer(rest),
        ],
        Duration::from_millis(50),
    )
    .expect("an answer");
    assert_eq!(verdict(&response), (413, Some("body_too_large".to_owned())));
    assert_eq!(served_bodies(&stack), Vec::<Vec<u8>>::new());
}
