//! Resource exhaustion through a real Envoy with the built filter: many distinct tokens
//! against a small verification cache (valid, forged and with unknown key ids), the cache
//! never answering for a token it did not verify, huge tokens and header blocks, and many
//! concurrent connections with mixed verdicts. Counts are bounded, and no timing is asserted:
//! only that every answer is exact and the upstream saw only what was allowed.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod adversarial;

use std::time::Duration;

use adversarial::{assert_upstream_clean, conformance_stack, verdict, AdversarialStack};
use jitgate_conformance::catalog::{standard_claims, STANDARD_TIMES};
use jitgate_conformance::recipe::Recipe;
use jitgate_conformance::testkeys::TestKey;
use jitgate_e2e::tokens::{grant_token, now};
use jitgate_e2e::{LocalStack, RawRequest, RawResponse};
use serde_json::{json, Value};

const CHAT: &str = r#"{"model":"meta-llama/Llama-3.1-8B-Instruct","messages":[]}"#;
const SCOPE: &str = "inference:meta-llama/Llama-3.1-8B-Instruct";
/// The cache is made this small so a few hundred tokens churn it many times over.
const CACHE_ENTRIES: usize = 16;

fn chat_with(stack: &LocalStack, authorization: &str, extra: &[(&str, &str)]) -> RawResponse {
    let mut headers = vec![
        ("authorization", authorization),
        ("content-type", "application/json"),
    ];
    headers.extend_from_slice(extra);
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

fn chat(stack: &LocalStack, token: &str) -> RawResponse {
    chat_with(stack, &format!("Bearer {token}"), &[])
}

/// A status and the deny body's reason, if any.
type Verdict = (u16, Option<String>);

fn reason_of(response: &RawResponse) -> Verdict {
    verdict(response)
}

/// The same token with its signature's last character changed (still valid base64url).
fn with_flipped_signature(token: &str) -> String {
    let mut forged = token.to_owned();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'Q' } else { 'A' });
    forged
}

fn small_cache_stack() -> AdversarialStack {
    conformance_stack(json!({"cache": {"max_entries": CACHE_ENTRIES}}))
}

#[test]
fn many_distinct_tokens_churn_the_cache_without_changing_a_verdict() {
    let stack = small_cache_stack();
    let tokens: Vec<String> = (0..200)
        .map(|index| grant_token(&format!("churn-{index}"), SCOPE))
        .collect();
    for token in &tokens {
        assert_eq!(reason_of(&chat(&stack, token)), (200, None));
        let forged = with_flipped_signature(token);
        assert_eq!(
            reason_of(&chat(&stack, &forged)),
            (401, Some("bad_signature".to_owned())),
            "a forged twin of a cached token"
        );
    }
    // The first tokens were evicted long ago: verified again, still allowed.
    for token in tokens.iter().take(4) {
        assert_eq!(reason_of(&chat(&stack, token)), (200, None));
    }
    let misses = stack
        .envoy
        .settled_counter("jitgate_cache_misses", &[])
        .unwrap();
    assert!(
        misses >= 400,
        "every distinct token is verified (misses: {misses})"
    );
    assert_eq!(
        stack.upstream.requests_to("/v1/chat/completions").len(),
        204,
        "exactly the allowed requests arrived"
    );
    let secrets: Vec<&str> = tokens.iter().map(String::as_str).collect();
    let identities: Vec<String> = (0..200)
        .map(|index| format!("grant-churn-{index}"))
        .collect();
    let mut allowed: Vec<&str> = identities.iter().map(String::as_str).collect();
    allowed.push("alice@example.com");
    assert_upstream_clean(&stack.upstream, &secrets, &allowed);
}

#[test]
fn a_cached_verdict_is_never_reused_for_another_token() {
    let stack = small_cache_stack();
    let token = grant_token("cached", SCOPE);
    assert_eq!(reason_of(&chat(&stack, &token)), (200, None));
    assert_eq!(reason_of(&chat(&stack, &token)), (200, None));
    assert!(
        stack
            .envoy
            .settled_counter("jitgate_cache_hits", &[])
            .unwrap()
            >= 1
    );

    // Same header and payload, another signature; same signature, another payload.
    let forged = with_flipped_signature(&token);
    assert_eq!(
        reason_of(&chat(&stack, &forged)),
        (401, Some("bad_signature".to_owned()))
    );
    let parts: Vec<&str> = token.split('.').collect();
    let other = grant_token("cached-other", SCOPE);
    let other_payload = other.split('.').nth(1).unwrap();
    let spliced = format!("{}.{other_payload}.{}", parts[0], parts[2]);
    assert_eq!(
        reason_of(&chat(&stack, &spliced)),
        (401, Some("bad_signature".to_owned()))
    );
    // A cached grant that is then revoked is refused within a poll interval (200 ms here).
    stack
        .issuer
        .revoke("grant-cached", u64::try_from(now()).unwrap());
    std::thread::sleep(Duration::from_millis(600));
    for _ in 0..4 {
        assert_eq!(
            reason_of(&chat(&stack, &token)),
            (401, Some("revoked".to_owned()))
        );
    }
    assert_upstream_clean(
        &stack.upstream,
        &[&token, &forged, &spliced],
        &["alice@example.com", "grant-cached"],
    );
}

#[test]
fn a_flood_of_unknown_key_ids_does_not_turn_the_filter_into_a_load_generator() {
    let stack = small_cache_stack();
    let fetches_before = stack.issuer.requests_to("/.well-known/jwks.json").len();
    let started = std::time::Instant::now();
    for index in 0..150 {
        let mut recipe = Recipe::honest(
            TestKey::Ed25519,
            standard_claims(&format!("kid-{index}")),
            STANDARD_TIMES,
        );
        recipe
            .header
            .insert("kid".into(), Value::String(format!("unknown-kid-{index}")));
        let response = chat(&stack, &recipe.token(now()));
        assert_eq!(reason_of(&response), (401, Some("unknown_key".to_owned())));
    }
    let elapsed = started.elapsed().as_secs();
    let fetches = stack.issuer.requests_to("/.well-known/jwks.json").len() - fetches_before;
    // Three VMs (two workers and the main thread), each refetching early at most once per
    // `unknown_kid_min_interval_seconds` (1 s in this configuration).
    let bound = 3 * (usize::try_from(elapsed).unwrap() + 2);
    assert!(
        fetches <= bound,
        "{fetches} JWKS fetches for 150 unknown kids in {elapsed} s (bound {bound})"
    );
    assert!(stack.upstream.requests().is_empty());
}

#[test]
fn huge_tokens_and_header_blocks_are_refused_and_spoofs_stay_out() {
    let stack = small_cache_stack();
    let huge = format!(
        "{}.{}.{}",
        "e".repeat(3000),
        "e".repeat(3000),
        "e".repeat(100)
    );
    assert_eq!(
        reason_of(&chat(&stack, &huge)),
        (401, Some("token_too_large".to_owned()))
    );
    // Beyond Envoy's 60 KiB header limit: refused by Envoy itself (431), before the filter.
    let enormous = format!("Bearer {}", "e".repeat(70 * 1024));
    let response = chat_with(&stack, &enormous, &[]);
    assert_eq!(response.status, 431, "{}", response.text());

    // Ninety spoofed identity headers on an allowed call: none arrives.
    let token = grant_token("many-headers", SCOPE);
    let names: Vec<String> = (0..90)
        .map(|index| format!("x-jitgate-spoof-{index}"))
        .collect();
    let spoofs: Vec<(&str, &str)> = names.iter().map(|name| (name.as_str(), "root")).collect();
    let response = chat_with(&stack, &format!("Bearer {token}"), &spoofs);
    assert_eq!(reason_of(&response), (200, None));
    // More headers than Envoy's default count limit (100): Envoy refuses the request.
    let names: Vec<String> = (0..120).map(|index| format!("x-filler-{index}")).collect();
    let fillers: Vec<(&str, &str)> = names.iter().map(|name| (name.as_str(), "1")).collect();
    let response = chat_with(&stack, &format!("Bearer {token}"), &fillers);
    assert_eq!(response.status, 431, "{}", response.text());

    assert_eq!(stack.upstream.requests().len(), 1);
    assert_upstream_clean(
        &stack.upstream,
        &[&token],
        &["alice@example.com", "grant-many-headers"],
    );
}

#[test]
fn many_concurrent_connections_each_get_their_own_exact_answer() {
    let stack = small_cache_stack();
    let threads = 32;
    let per_thread = 6;
    let results: Vec<Vec<(bool, Verdict)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                let stack = &stack;
                scope.spawn(move || {
                    (0..per_thread)
                        .map(|round| {
                            let token = grant_token(&format!("c-{thread}-{round}"), SCOPE);
                            let honest = (thread + round) % 2 == 0;
                            let sent = if honest {
                                token
                            } else {
                                with_flipped_signature(&token)
                            };
                            (honest, reason_of(&chat(stack, &sent)))
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .collect()
    });
    let mut allowed = 0;
    for (honest, answer) in results.into_iter().flatten() {
        if honest {
            allowed += 1;
            assert_eq!(answer, (200, None));
        } else {
            assert_eq!(answer, (401, Some("bad_signature".to_owned())));
        }
    }
    assert_eq!(allowed, threads * per_thread / 2);
    let received = stack.upstream.requests_to("/v1/chat/completions");
    assert_eq!(received.len(), allowed);
    let mut grants: Vec<&str> = received
        .iter()
        .map(|request| request.header("x-jitgate-grant").unwrap())
        .collect();
    grants.sort_unstable();
    grants.dedup();
    assert_eq!(
        grants.len(),
        allowed,
        "each allowed call carried its own grant"
    );
    assert!(received
        .iter()
        .all(|request| request.header("authorization").is_none()));
}
