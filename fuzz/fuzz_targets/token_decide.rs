//! Token parsing and verification through `decide`, with arbitrary `Authorization` bytes.
//!
//! Input: four control bytes (which request, clock skews, gate state), then the header
//! values, separated by `\n` (so a seed is `[0, 0, 0, 0]` + `Bearer <vector token>`).
//! Asserts, beyond "no panic":
//! - `decide_cached` (miss, then hit, then at a second clock) equals `decide` each time;
//! - an allowed request on a token route carries a grant whose token verifies on its own
//!   and whose scopes cover the required scope, inside its time window;
//! - `verify_token` accepting a token implies `parse_compact` accepts it, with a trusted kid;
//! - a deny response never contains the token.
#![no_main]

use jitgate_fuzz::fixtures::{self, NOW};
use jitgate_grant::scope::{any_covers, Scope};
use jitgate_grant::token::parse_compact;
use jitgate_grant::{
    decide, decide_cached, extract_bearer, read_model, verify_token, Decision, DecisionInputs,
    KeySet, KeyState, ModelFact, NothingUsed, Outcome, Policy, RequestFacts, RevocationState,
    RevokedGrants, TokenInput, UnixTime, UsageState, VerificationCache,
};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static POLICY: LazyLock<Policy> = LazyLock::new(fixtures::policy);
static KEYS: LazyLock<KeySet> = LazyLock::new(fixtures::keys);

/// Requests the vectors make: (method, path, content type, body).
const REQUESTS: &[(&str, &str, Option<&str>, Option<&str>)] = &[
    (
        "POST",
        "/v1/chat/completions",
        Some("application/json"),
        Some(r#"{"model":"meta-llama/Llama-3.1-8B-Instruct","messages":[]}"#),
    ),
    ("POST", "/v1/chat/completions", None, None),
    ("GET", "/v1/datasets/claims-2024/rows", None, None),
    ("GET", "/v1/fine_tuning/jobs/ft-1", None, None),
    (
        "POST",
        "/v1/fine_tuning/jobs",
        Some("application/json"),
        Some(r#"{"model":"llama-3-8b"}"#),
    ),
    ("GET", "/v1/models", None, None),
    ("GET", "/v1/unrouted", None, None),
    ("GET", "/v1/../admin", None, None),
];

fuzz_target!(|data: &[u8]| {
    let Some((control, header)) = data.split_first_chunk::<4>() else {
        return;
    };
    let (method, path, content_type, body) = REQUESTS[usize::from(control[0]) % REQUESTS.len()];
    // Skews of up to ±2 hours around the vectors' clock reach every time rule.
    let skew = |byte: u8| i64::from(i8::from_ne_bytes([byte])) * 60;
    let first_now = UnixTime(NOW + skew(control[1]));
    let second_now = UnixTime(NOW + skew(control[2]));
    let flags = control[3];

    let Ok(header) = std::str::from_utf8(header) else {
        return;
    };
    let values: Vec<&str> = if header.is_empty() {
        Vec::new()
    } else {
        header.split('\n').collect()
    };
    let mut revoked = RevokedGrants::new();
    if flags & 1 == 1 {
        // The grant id every vector token carries for its name is unknown here; revoke the
        // one the honest vectors use, so revocation is reached with some tokens.
        revoked.revoke("grant-eddsa-valid-chat");
    }
    let model_text;
    let model = match body {
        None => ModelFact::Unread,
        Some(body) => match read_model(content_type, body.as_bytes(), POLICY.max_body_bytes) {
            Ok(model) => {
                model_text = model;
                ModelFact::Named(&model_text)
            }
            Err(reason) => ModelFact::Unusable(reason),
        },
    };
    let token_input = extract_bearer(&values, "Bearer ");
    let inputs_at = |now: UnixTime| DecisionInputs {
        policy: &POLICY,
        request: RequestFacts {
            method,
            path,
            model,
        },
        token: token_input,
        keys: if flags & 2 == 0 {
            KeyState::Loaded(&KEYS)
        } else {
            KeyState::Unavailable
        },
        revocations: if flags & 4 == 0 {
            RevocationState::Current(&revoked)
        } else {
            RevocationState::Stale
        },
        now,
        audit_full: flags & 8 == 8,
        // A budget can only turn an allow into a deny: every property below still holds.
        usage: if flags & 16 == 0 {
            UsageState::Counted(&NothingUsed)
        } else {
            UsageState::Unavailable
        },
    };

    let first = inputs_at(first_now);
    let fresh = decide(&first);
    let mut cache = VerificationCache::new(4);
    for attempt in ["miss", "hit"] {
        let cached = decide_cached(&first, &mut cache);
        assert_eq!(
            cached, fresh,
            "decide_cached ({attempt}) disagrees with decide"
        );
    }
    let second = inputs_at(second_now);
    assert_eq!(
        decide_cached(&second, &mut cache),
        decide(&second),
        "a cached grant decided differently at a later clock"
    );

    check_allowed(&fresh, token_input, first_now);
    check_verification_agrees(token_input, first_now);
    check_token_not_echoed(&fresh, token_input);
});

fn check_allowed(decision: &Decision, token: TokenInput<'_>, now: UnixTime) {
    if decision.outcome != Outcome::Allow || decision.route.as_deref() == Some("models") {
        return;
    }
    let TokenInput::Present(token) = token else {
        panic!("allowed a token route without exactly one token: {decision:?}");
    };
    let grant = decision
        .grant
        .as_ref()
        .expect("an allowed token request has its grant");
    let verified = verify_token(token, &KEYS, &POLICY.token_rules, now)
        .expect("an allowed token verifies on its own");
    assert_eq!(verified.claims, grant.claims);
    let required = decision
        .required_scope
        .as_deref()
        .expect("an allowed token route names its scope");
    let required = Scope::parse(required).expect("the required scope parses");
    assert!(
        any_covers(&grant.scopes, &required),
        "granted scopes do not cover {required:?}"
    );
}

fn check_verification_agrees(token: TokenInput<'_>, now: UnixTime) {
    let TokenInput::Present(token) = token else {
        return;
    };
    if let Ok(verified) = verify_token(token, &KEYS, &POLICY.token_rules, now) {
        let compact = parse_compact(token, POLICY.token_rules.max_token_bytes)
            .expect("a verified token parses");
        assert_eq!(compact.key_id, verified.key_id);
        assert!(KEYS.contains(&verified.key_id));
    }
}

fn check_token_not_echoed(decision: &Decision, token: TokenInput<'_>) {
    let TokenInput::Present(token) = token else {
        return;
    };
    // Short or dotless strings occur in a response by chance ("application/json" is a
    // header value); anything shaped like a compact token must not.
    if decision.outcome != Outcome::Deny || token.trim().len() < 24 || !token.contains('.') {
        return;
    }
    let response =
        decision
            .reason
            .deny_response(&POLICY.realm, decision.required_scope.as_deref(), "fuzz");
    assert!(
        !response.body.contains(token.trim()),
        "deny body echoes the token"
    );
    for (name, value) in &response.headers {
        assert!(
            !value.contains(token.trim()),
            "deny header {name} echoes the token"
        );
    }
}
