//! Header tricks through a real Envoy with the built filter: a token sent twice (two
//! headers, one merged value, one header folded over two lines), scheme and header-name case,
//! a token in the query string (alone and next to the header), the token in another header,
//! and spoofed `x-jitgate-*` identity headers on allowed, public and refused requests.
//!
//! Each case asserts the exact status and reason, and afterwards that the stub upstream never
//! received the token (in any header, the target or the body) nor a client-written
//! `x-jitgate-*` value.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod adversarial;

use std::time::Duration;

use adversarial::{assert_upstream_clean, exchange, head, plain_stack, verdict};
use jitgate_e2e::tokens::grant_token;
use jitgate_e2e::{LocalStack, RawRequest, RawResponse};

const SCOPE: &str = "inference:meta-llama/Llama-3.1-8B-Instruct";
const CHAT: &str = r#"{"model":"meta-llama/Llama-3.1-8B-Instruct","messages":[]}"#;
const SUBJECT: &str = "alice@example.com";

fn chat(stack: &LocalStack, target: &str, headers: &[(&str, &str)]) -> RawResponse {
    let mut headers = headers.to_vec();
    headers.push(("content-type", "application/json"));
    stack
        .envoy
        .raw(RawRequest {
            method: "POST",
            target,
            headers: &headers,
            body: CHAT.as_bytes(),
        })
        .expect("Envoy answers")
}

fn expect(response: &RawResponse, status: u16, reason: Option<&str>, case: &str) {
    let (seen_status, seen_reason) = verdict(response);
    assert_eq!(
        (seen_status, seen_reason.as_deref()),
        (status, reason),
        "{case}: {}",
        response.text()
    );
}

#[test]
fn a_token_sent_twice_is_refused_however_it_is_framed() {
    let stack = plain_stack();
    let token = grant_token("twice", SCOPE);
    let other = grant_token("twice-other", SCOPE);
    let bearer = format!("Bearer {token}");
    let bearer_other = format!("Bearer {other}");

    let two_headers = chat(
        &stack,
        "/v1/chat/completions",
        &[("authorization", &bearer), ("Authorization", &bearer_other)],
    );
    expect(&two_headers, 400, Some("duplicate_token"), "two headers");
    let same_twice = chat(
        &stack,
        "/v1/chat/completions",
        &[("authorization", &bearer), ("AUTHORIZATION", &bearer)],
    );
    expect(
        &same_twice,
        400,
        Some("duplicate_token"),
        "the same token twice",
    );
    let merged = format!("{bearer}, {bearer_other}");
    let one_value = chat(
        &stack,
        "/v1/chat/completions",
        &[("authorization", &merged)],
    );
    expect(&one_value, 400, Some("duplicate_token"), "one merged value");
    let beside_basic = chat(
        &stack,
        "/v1/chat/completions",
        &[
            ("authorization", &bearer),
            ("authorization", "Basic YWxpY2U6cHc="),
        ],
    );
    expect(
        &beside_basic,
        400,
        Some("duplicate_token"),
        "beside a Basic credential",
    );

    // obs-fold (RFC 9112 §5.2): a header continued on an indented line. Envoy 1.40 unfolds
    // it into one value, `Bearer <token>`: one token, decided as such, and removed before the
    // upstream like any other.
    let folded = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: jitgate.test\r\nauthorization: Bearer\r\n {token}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{CHAT}",
        CHAT.len()
    );
    let folded = exchange(stack.envoy.listener(), &[folded.as_bytes()], Duration::ZERO)
        .expect("Envoy answers a folded header");
    expect(&folded, 200, None, "a folded header");

    assert_eq!(
        stack.upstream.requests_to("/v1/chat/completions").len(),
        1,
        "only the folded, single token was let through"
    );
    assert_upstream_clean(
        &stack.upstream,
        &[&token, &other],
        &[SUBJECT, "grant-twice"],
    );
    assert_eq!(
        stack
            .envoy
            .settled_counter("jitgate_denied_duplicate_token", &[])
            .unwrap(),
        4
    );
}

#[test]
fn scheme_and_header_name_case_do_not_matter_but_the_header_does() {
    let stack = plain_stack();
    let token = grant_token("case", SCOPE);
    for (name, scheme) in [
        ("AUTHORIZATION", "bEaReR"),
        ("Authorization", "BEARER"),
        ("authorization", "bearer"),
    ] {
        let value = format!("{scheme} {token}");
        let response = chat(&stack, "/v1/chat/completions", &[(name, &value)]);
        expect(&response, 200, None, &format!("{name}: {scheme}"));
    }
    assert_eq!(stack.upstream.requests_to("/v1/chat/completions").len(), 3);

    // The token anywhere but the configured header is no token at all.
    let bearer = format!("Bearer {token}");
    for (name, value) in [
        ("x-authorization", bearer.as_str()),
        ("proxy-authorization", bearer.as_str()),
        ("authorization", token.as_str()),
        ("authorization", "Bearer"),
    ] {
        stack.upstream.clear_requests();
        let response = chat(&stack, "/v1/chat/completions", &[(name, value)]);
        expect(&response, 401, Some("missing_token"), name);
        assert!(stack.upstream.requests().is_empty(), "{name} let through");
    }
    assert_upstream_clean(&stack.upstream, &[&token], &[SUBJECT, "grant-case"]);
}

#[test]
fn a_token_in_the_query_string_is_never_read_nor_forwarded() {
    let stack = plain_stack();
    let token = grant_token("query", SCOPE);
    let target = format!("/v1/chat/completions?access_token={token}");
    let alone = chat(&stack, &target, &[]);
    expect(&alone, 401, Some("missing_token"), "query only");

    let bearer = format!("Bearer {token}");
    let both = chat(&stack, &target, &[("authorization", &bearer)]);
    expect(&both, 400, Some("duplicate_token"), "header and query");
    let other_param = format!("/v1/chat/completions?x=1&ACCESS_TOKEN={token}");
    let upper = chat(&stack, &other_param, &[("authorization", &bearer)]);
    expect(
        &upper,
        400,
        Some("duplicate_token"),
        "header and upper-case query",
    );

    assert!(
        stack.upstream.requests().is_empty(),
        "nothing was let through"
    );
    assert_upstream_clean(&stack.upstream, &[&token], &[]);

    // Envoy's access log (the bootstrap's format) shows the path without its query, so a
    // token a client put there is not written to the gateway's logs either.
    let log = (0..50)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(100));
            stack.envoy.access_log()
        })
        .find(|log| log.lines().count() >= 3)
        .unwrap_or_else(|| panic!("three access log lines: {}", stack.envoy.access_log()));
    assert!(!log.contains(&token), "the token was logged: {log}");
    assert!(!log.contains("access_token"), "the query was logged: {log}");
    assert!(
        log.contains("\"POST /v1/chat/completions HTTP/1.1\""),
        "{log}"
    );
}

#[test]
fn spoofed_identity_headers_never_reach_the_upstream() {
    let stack = plain_stack();
    let token = grant_token("spoof", SCOPE);
    let bearer = format!("Bearer {token}");
    let spoofs = [
        ("x-jitgate-subject", "admin@example.com"),
        ("X-JitGate-Grant", "grant-admin"),
        ("X-JITGATE-SUBJECT", "root"),
        ("x-jitgate-approvers", "admin@example.com"),
        ("x-jitgate-", "empty-suffix"),
    ];

    let mut allowed = spoofs.to_vec();
    allowed.push(("authorization", &bearer));
    let response = chat(&stack, "/v1/chat/completions", &allowed);
    expect(&response, 200, None, "allowed with spoofs");
    let received = stack.upstream.requests_to("/v1/chat/completions");
    assert_eq!(received.len(), 1);
    let identity: Vec<(&str, &str)> = received[0]
        .headers
        .iter()
        .filter(|(name, _)| name.starts_with("x-jitgate-"))
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    assert_eq!(
        identity,
        [
            ("x-jitgate-subject", SUBJECT),
            ("x-jitgate-grant", "grant-spoof")
        ]
    );

    // A public route is an allow too: the spoofs go, and no identity is added.
    let public = stack
        .envoy
        .raw(RawRequest {
            method: "GET",
            target: "/v1/models",
            headers: &spoofs,
            body: b"",
        })
        .unwrap();
    expect(&public, 200, None, "public with spoofs");
    let models = stack.upstream.requests_to("/v1/models");
    assert_eq!(models.len(), 1);
    assert!(
        !models[0]
            .headers
            .iter()
            .any(|(name, _)| name.starts_with("x-jitgate-")),
        "{:?}",
        models[0].headers
    );

    // Spoofs without a token are refused like any tokenless call.
    let refused = chat(&stack, "/v1/chat/completions", &spoofs);
    expect(&refused, 401, Some("missing_token"), "spoofs alone");
    assert_eq!(stack.upstream.requests_to("/v1/chat/completions").len(), 1);
    assert_upstream_clean(&stack.upstream, &[&token], &[SUBJECT, "grant-spoof"]);
}

#[test]
fn odd_but_legal_whitespace_around_the_token_still_counts_once() {
    // Whitespace around the value and a tab separator are legal HTTP; the token still counts
    // once, and the upstream still sees neither the token nor the spoof.
    let stack = plain_stack();
    let token = grant_token("odd-shapes", SCOPE);
    let bearer = format!("Bearer {token}   ");
    let mut message = head(
        "POST",
        "/v1/chat/completions",
        &[
            ("authorization", &format!("\t{bearer}")),
            ("x-jitgate-subject", "admin@example.com"),
            ("content-type", "application/json"),
            ("content-length", &CHAT.len().to_string()),
            ("connection", "close"),
        ],
    );
    message.extend_from_slice(CHAT.as_bytes());
    let response = exchange(stack.envoy.listener(), &[&message], Duration::ZERO).unwrap();
    expect(&response, 200, None, "odd whitespace");
    assert_upstream_clean(&stack.upstream, &[&token], &[SUBJECT, "grant-odd-shapes"]);
}
