//! Body tricks on a body-scoped route (`POST /v1/chat/completions`, scope
//! `inference:{model}`), through a real Envoy with the built filter: duplicate `model` keys
//! (plain and escaped), a second JSON value after the first, non-UTF-8, deep nesting, wrong
//! and odd content types, compressed bytes, `model` after a large prefix, bodies over the
//! limit (declared, sent, and chunked without end), chunked bodies split inside the key, slow
//! bodies, bodies that stall, and conflicting framing (smuggling). The caller's grant covers
//! one model only; every trick tries to get another one (or an unchecked body) to the model
//! server.
//!
//! The harness runs `body_check: hold_headers` (Envoy ≥ 1.35 holds the headers until the
//! body is checked), so a refused request leaves nothing at the upstream: every request it
//! received must be one whose body was allowed. (`e2e/tests/held_headers.rs` checks the
//! `forward_headers` fallback, where a body-less, token-less request start may arrive.) Every
//! wait is bounded (`adversarial::READ_LIMIT`), so a hang fails the test instead of stalling
//! it.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod adversarial;

use std::io::Write;
use std::time::{Duration, Instant};

use adversarial::{
    assert_upstream_clean, chunk, conformance_stack, exchange, head, open_with, read_response,
    verdict, LAST_CHUNK,
};
use jitgate_e2e::tokens::grant_token;
use jitgate_e2e::{LocalStack, RawRequest, RawResponse};
use jitgate_grant::audit::AuditRecord;
use serde_json::json;

const MODEL: &str = "meta-llama/Llama-3.1-8B-Instruct";
const CHAT: &str = "/v1/chat/completions";
/// `limits.max_body_bytes` of the conformance policy.
const LIMIT: usize = 65_536;

/// A refused body: name, content type, bytes, and the status and reason expected.
type RefusedBody<'a> = (&'a str, Option<&'a str>, Vec<u8>, u16, &'a str);

/// A framing case: name, the framing headers, and the status Envoy answers.
type Framing<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16);

struct Caller {
    token: String,
    authorization: String,
}

impl Caller {
    fn new(name: &str) -> Self {
        let token = grant_token(name, &format!("inference:{MODEL}"));
        let authorization = format!("Bearer {token}");
        Caller {
            token,
            authorization,
        }
    }

    fn post(&self, stack: &LocalStack, content_type: Option<&str>, body: &[u8]) -> RawResponse {
        let mut headers = vec![("authorization", self.authorization.as_str())];
        if let Some(content_type) = content_type {
            headers.push(("content-type", content_type));
        }
        stack
            .envoy
            .raw(RawRequest {
                method: "POST",
                target: CHAT,
                headers: &headers,
                body,
            })
            .expect("Envoy answers")
    }

    /// A chunked request head for [`exchange`].
    fn chunked_head(&self) -> Vec<u8> {
        head(
            "POST",
            CHAT,
            &[
                ("authorization", &self.authorization),
                ("content-type", "application/json"),
                ("transfer-encoding", "chunked"),
                ("connection", "close"),
            ],
        )
    }
}

fn chat_body(model: &str) -> String {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}).to_string()
}

/// `{"messages": [<padding>], "model": "<model>"}` of about `size` bytes.
fn body_with_prefix(size: usize, model: &str) -> String {
    let padding = "x".repeat(size.saturating_sub(100));
    format!(r#"{{"messages":[{{"role":"user","content":"{padding}"}}],"model":"{model}"}}"#)
}

/// Checks that every request the upstream received is whole and carries one of the `allowed`
/// bodies: with the headers held, a refused request never starts upstream.
fn assert_only_bodies(stack: &LocalStack, allowed: &[&[u8]]) {
    for request in stack.upstream.requests_to(CHAT) {
        assert!(
            request.body_complete && allowed.contains(&request.body.as_slice()),
            "the upstream received a body it should not have: {:?}",
            String::from_utf8_lossy(&request.body[..request.body.len().min(200)])
        );
    }
}

#[test]
fn bodies_that_parse_differently_anywhere_are_refused_before_the_upstream_sees_them() {
    let stack = conformance_stack(json!({}));
    let caller = Caller::new("bodies");
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let deep_object = format!(
        r#"{{"model":"{MODEL}","x":{}{}}}"#,
        "[".repeat(129),
        "]".repeat(129)
    );
    let json = Some("application/json");
    let cases: Vec<RefusedBody<'_>> = vec![
        ("duplicate model", json, format!(r#"{{"model":"{MODEL}","model":"gpt-4o"}}"#).into_bytes(), 400, "model_duplicated"),
        ("duplicate model, other order", json, format!(r#"{{"model":"gpt-4o","model":"{MODEL}"}}"#).into_bytes(), 400, "model_duplicated"),
        ("duplicate by escape", json, format!(r#"{{"model":"{MODEL}","m\u006fdel":"gpt-4o"}}"#).into_bytes(), 400, "model_duplicated"),
        // Go's encoding/json and ASP.NET match member names case-insensitively, last wins.
        ("model in another case", json, format!(r#"{{"model":"{MODEL}","Model":"gpt-4o"}}"#).into_bytes(), 400, "model_duplicated"),
        ("model in capitals first", json, format!(r#"{{"MODEL":"gpt-4o","model":"{MODEL}"}}"#).into_bytes(), 400, "model_duplicated"),
        ("capital by escape", json, format!(r#"{{"model":"{MODEL}","\u004dodel":"gpt-4o"}}"#).into_bytes(), 400, "model_duplicated"),
        ("case variant alone", json, br#"{"Model":"gpt-4o"}"#.to_vec(), 400, "model_duplicated"),
        ("second JSON value", json, format!(r#"{{"model":"{MODEL}"}}{{"model":"gpt-4o"}}"#).into_bytes(), 400, "body_not_json"),
        ("trailing garbage", json, format!(r#"{{"model":"{MODEL}"}} ,"model":"gpt-4o""#).into_bytes(), 400, "body_not_json"),
        ("comment hiding a key", json, format!(r#"{{"model":"{MODEL}" /*, "model":"gpt-4o" */}}"#).into_bytes(), 400, "body_not_json"),
        ("byte-order mark", json, [b"\xEF\xBB\xBF".as_slice(), chat_body(MODEL).as_bytes()].concat(), 400, "body_not_json"),
        ("non-UTF-8 in a string", json, [format!(r#"{{"model":"{MODEL}","x":""#).as_bytes(), b"\xff\xfe\"}"].concat(), 400, "body_not_json"),
        ("non-UTF-8 in the model", json, [br#"{"model":"gpt-4o"#.as_slice(), b"\xc0\xae\"}"].concat(), 400, "body_not_json"),
        ("lone surrogate escape", json, format!(r#"{{"model":"{MODEL}\ud800"}}"#).into_bytes(), 400, "body_not_json"),
        ("NUL escape in the model", json, format!(r#"{{"model":"{MODEL}\u0000"}}"#).into_bytes(), 400, "model_invalid"),
        ("wildcard model", json, br#"{"model":"*"}"#.to_vec(), 400, "model_invalid"),
        ("two scopes in one model", json, format!(r#"{{"model":"{MODEL} inference:gpt-4o"}}"#).into_bytes(), 400, "model_invalid"),
        ("model only nested", json, format!(r#"{{"x":{{"model":"{MODEL}"}}}}"#).into_bytes(), 400, "model_missing"),
        ("model null", json, br#"{"model":null}"#.to_vec(), 400, "model_not_string"),
        ("model as array", json, format!(r#"{{"model":["{MODEL}"]}}"#).into_bytes(), 400, "model_not_string"),
        ("top-level array", json, format!(r#"[{{"model":"{MODEL}"}}]"#).into_bytes(), 400, "body_not_json"),
        ("deeply nested array", json, deep.into_bytes(), 400, "body_not_json"),
        ("deeply nested beside a model", json, deep_object.into_bytes(), 400, "body_not_json"),
        ("gzip bytes", json, b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xab\xae\x05\x00\x43\xbf\xa6\xa3\x02\x00\x00\x00".to_vec(), 400, "body_not_json"),
        ("empty body", json, Vec::new(), 400, "body_not_json"),
        ("text/plain", Some("text/plain"), chat_body("gpt-4o").into_bytes(), 415, "unsupported_media_type"),
        ("form", Some("application/x-www-form-urlencoded"), b"model=gpt-4o".to_vec(), 415, "unsupported_media_type"),
        ("json look-alike type", Some("application/jsonx"), chat_body("gpt-4o").into_bytes(), 415, "unsupported_media_type"),
        ("no content type", None, chat_body("gpt-4o").into_bytes(), 415, "unsupported_media_type"),
        ("a model outside the grant", json, chat_body("gpt-4o").into_bytes(), 403, "insufficient_scope"),
        ("the model in another case", json, chat_body(&MODEL.to_lowercase()).into_bytes(), 403, "insufficient_scope"),
        ("a forbidden model after a large prefix", json, body_with_prefix(LIMIT - 200, "gpt-4o").into_bytes(), 403, "insufficient_scope"),
        ("over the limit", json, body_with_prefix(LIMIT + 1000, MODEL).into_bytes(), 413, "body_too_large"),
    ];
    let mut failures = Vec::new();
    for (case, content_type, body, status, reason) in &cases {
        let response = caller.post(&stack, *content_type, body);
        let seen = verdict(&response);
        if seen != (*status, Some((*reason).to_owned())) {
            failures.push(format!("{case}: expected {status} {reason}, got {seen:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // What a granted caller may send, each allowed with the body passed on unchanged.
    let allowed: Vec<(Option<&str>, Vec<u8>)> = vec![
        (
            Some("application/json; charset=utf-8"),
            chat_body(MODEL).into_bytes(),
        ),
        (Some("Application/JSON"), chat_body(MODEL).into_bytes()),
        (
            Some("application/vnd.openai+json"),
            chat_body(MODEL).into_bytes(),
        ),
        (json, body_with_prefix(LIMIT - 200, MODEL).into_bytes()),
        (
            json,
            format!("  \n{{\"model\" :\t\"{MODEL}\"}}\n").into_bytes(),
        ),
        (
            json,
            br#"{"model":"meta-llama\/Llama-3.1-8B-Instruct"}"#.to_vec(),
        ),
    ];
    for (content_type, body) in &allowed {
        let response = caller.post(&stack, *content_type, body);
        assert_eq!(
            verdict(&response),
            (200, None),
            "{content_type:?}: {}",
            response.text()
        );
    }
    // Were a refused request's start to leak upstream, give it a moment to land in the
    // stub's record before checking it.
    std::thread::sleep(Duration::from_millis(300));
    let allowed_bodies: Vec<&[u8]> = allowed.iter().map(|(_, body)| body.as_slice()).collect();
    assert_only_bodies(&stack, &allowed_bodies);
    let delivered = stack.upstream.requests_to(CHAT).len();
    assert_eq!(delivered, allowed.len(), "every allowed body arrived once");
    assert_upstream_clean(
        &stack.upstream,
        &[&caller.token],
        &["alice@example.com", "grant-bodies"],
    );
}

#[test]
fn chunked_and_slow_bodies_are_read_whole_before_the_model_is_decided() {
    let stack = conformance_stack(json!({}));
    let caller = Caller::new("chunked");
    let listener = stack.envoy.listener();
    let pause = Duration::from_millis(100);

    // The key split across chunks, the allowed model: 200, the body intact upstream.
    let allowed = chat_body(MODEL);
    let (first, rest) = allowed.split_at(4);
    let (middle, last) = rest.split_at(10);
    let pieces = [
        caller.chunked_head(),
        chunk(first.as_bytes()),
        chunk(middle.as_bytes()),
        chunk(last.as_bytes()),
        LAST_CHUNK.to_vec(),
    ];
    let slices: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
    let response = exchange(listener, &slices, pause).expect("an answer");
    assert_eq!(verdict(&response), (200, None), "{}", response.text());

    // A second `model` in the last chunk, after the first was allowed: refused.
    let pieces = [
        caller.chunked_head(),
        chunk(format!(r#"{{"model":"{MODEL}","messages":[],"#).as_bytes()),
        chunk(br#""model":"gpt-4o"}"#),
        LAST_CHUNK.to_vec(),
    ];
    let slices: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
    let response = exchange(listener, &slices, pause).expect("an answer");
    assert_eq!(
        verdict(&response),
        (400, Some("model_duplicated".to_owned()))
    );

    // A forbidden model sent slowly, with Content-Length, a piece every 100 ms.
    let forbidden = chat_body("gpt-4o");
    let mut message = head(
        "POST",
        CHAT,
        &[
            ("authorization", &caller.authorization),
            ("content-type", "application/json"),
            ("content-length", &forbidden.len().to_string()),
            ("connection", "close"),
        ],
    );
    let slow: Vec<Vec<u8>> = std::iter::once(std::mem::take(&mut message))
        .chain(forbidden.as_bytes().chunks(8).map(<[u8]>::to_vec))
        .collect();
    let slices: Vec<&[u8]> = slow.iter().map(Vec::as_slice).collect();
    let response = exchange(listener, &slices, Duration::from_millis(20)).expect("an answer");
    assert_eq!(
        verdict(&response),
        (403, Some("insufficient_scope".to_owned()))
    );

    std::thread::sleep(Duration::from_millis(300));
    assert_only_bodies(&stack, &[allowed.as_bytes()]);
    assert_upstream_clean(
        &stack.upstream,
        &[&caller.token],
        &["alice@example.com", "grant-chunked"],
    );
}

#[test]
fn an_oversized_body_is_refused_as_it_crosses_the_limit_without_waiting_for_its_end() {
    let stack = conformance_stack(json!({}));
    let caller = Caller::new("oversized");
    let listener = stack.envoy.listener();

    // Chunked, never ended: the 413 must come while the client still holds the stream open.
    let mut stream = open_with(listener, &caller.chunked_head());
    let started = Instant::now();
    let piece = chunk(&[b' '; 8192]);
    stream
        .write_all(&chunk(br#"{"model":"gpt-4o","messages":["#))
        .unwrap();
    for _ in 0..(LIMIT / 8192 + 2) {
        if stream.write_all(&piece).is_err() {
            break;
        }
    }
    let response = read_response(&mut stream).expect("a 413 before the body ends");
    assert_eq!(verdict(&response), (413, Some("body_too_large".to_owned())));
    assert!(started.elapsed() < adversarial::READ_LIMIT);

    // Declared too large but only partly sent: answered from what arrived, or by Envoy.
    let mut stream = open_with(
        listener,
        &head(
            "POST",
            CHAT,
            &[
                ("authorization", &caller.authorization),
                ("content-type", "application/json"),
                ("content-length", &(LIMIT * 4).to_string()),
            ],
        ),
    );
    stream.write_all(&vec![b' '; LIMIT + 1024]).unwrap();
    let response = read_response(&mut stream).expect("a 413 before the declared end");
    assert_eq!(verdict(&response), (413, Some("body_too_large".to_owned())));

    std::thread::sleep(Duration::from_millis(300));
    assert_only_bodies(&stack, &[]);
    assert_upstream_clean(
        &stack.upstream,
        &[&caller.token],
        &["alice@example.com", "grant-oversized"],
    );
}

#[test]
fn a_stalled_body_never_reaches_the_upstream_and_is_audited_as_incomplete() {
    let stack = conformance_stack(json!({
        "audit": {"cluster": "collector", "flush_interval_ms": 100}
    }));
    let caller = Caller::new("stalled");
    let body = chat_body(MODEL);
    let mut stream = open_with(
        stack.envoy.listener(),
        &head(
            "POST",
            CHAT,
            &[
                ("authorization", &caller.authorization),
                ("content-type", "application/json"),
                ("content-length", &body.len().to_string()),
            ],
        ),
    );
    stream
        .write_all(&body.as_bytes()[..body.len() / 2])
        .unwrap();
    // The filter holds the half body; nothing answers while the client may still send.
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    assert!(read_response(&mut stream).is_none(), "answered a half body");
    drop(stream);

    let records = stack
        .collector
        .wait_for_log_records(1, Duration::from_secs(5))
        .expect("the stalled request is audited");
    let records: Vec<AuditRecord> = records
        .iter()
        .map(|record| AuditRecord::from_otlp_log_record(record).unwrap())
        .collect();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].reason, "incomplete_body");
    assert_eq!(records[0].grant_id.as_deref(), Some("grant-stalled"));
    assert_only_bodies(&stack, &[]);
    assert_upstream_clean(
        &stack.upstream,
        &[&caller.token],
        &["alice@example.com", "grant-stalled"],
    );
}

#[test]
fn conflicting_body_framing_is_refused_before_the_filter() {
    // Request smuggling needs two parsers to disagree on where a body ends; Envoy refuses
    // the ambiguous framings itself, so the filter and the upstream only ever see one body.
    let stack = conformance_stack(json!({}));
    let caller = Caller::new("framing");
    let forbidden = chat_body("gpt-4o");
    let length = forbidden.len().to_string();
    let short = (forbidden.len() - 5).to_string();
    // An unknown transfer coding is 501 (RFC 9112 §6.1), the others 400.
    let framings: [Framing<'_>; 3] = [
        (
            "content-length and chunked",
            vec![
                ("content-length", &length),
                ("transfer-encoding", "chunked"),
            ],
            400,
        ),
        (
            "two different content-lengths",
            vec![("content-length", &length), ("content-length", &short)],
            400,
        ),
        (
            "an unknown transfer coding",
            vec![("transfer-encoding", "gzip, chunked")],
            501,
        ),
    ];
    for (case, framing, status) in framings {
        let mut headers = vec![
            ("authorization", caller.authorization.as_str()),
            ("content-type", "application/json"),
            ("connection", "close"),
        ];
        headers.extend(framing);
        let mut message = head("POST", CHAT, &headers);
        message.extend_from_slice(&chunk(forbidden.as_bytes()));
        message.extend_from_slice(LAST_CHUNK);
        let response =
            exchange(stack.envoy.listener(), &[&message], Duration::ZERO).expect("Envoy answers");
        assert_eq!(
            verdict(&response),
            (status, None),
            "{case}: {}",
            response.text()
        );
    }
    assert!(
        stack.upstream.requests().is_empty(),
        "nothing was let through"
    );
}
