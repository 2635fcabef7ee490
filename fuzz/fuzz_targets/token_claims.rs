//! Signed tokens with arbitrary headers and claims, built with `arbitrary` and signed by a
//! test key, so the fuzzer explores everything after the signature check (header rules,
//! claim types, ids, windows, issuer, audience, scopes) instead of stopping at it.
//!
//! Asserts, beyond "no panic": `decide` agrees with an independent oracle written from the
//! token profile in `docs/` (an allow implies a trusted key of the header's algorithm,
//! `typ: at+jwt`, the right issuer and audience, `nbf`/`iat`/`exp` around now within the
//! leeway, ids present, scopes covering the route's); and `decide_cached` equals `decide`.
#![no_main]

use arbitrary::Arbitrary;
use jitgate_conformance::testkeys::TestKey;
use jitgate_fuzz::fixtures::{self, NOW};
use jitgate_grant::mint::sign_compact;
use jitgate_grant::{
    decide, decide_cached, DecisionInputs, KeySet, KeyState, ModelFact, NothingUsed, Outcome,
    Policy, RequestFacts, RevocationState, RevokedGrants, TokenInput, UnixTime, UsageState,
    VerificationCache,
};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Value};
use std::sync::LazyLock;

static POLICY: LazyLock<Policy> = LazyLock::new(fixtures::policy);
static KEYS: LazyLock<KeySet> = LazyLock::new(fixtures::keys);
static SIGNERS: LazyLock<[(TestKey, jitgate_grant::SigningKey); 3]> =
    LazyLock::new(|| TestKey::ALL.map(|key| (key, key.signing_key())));

const ISSUER: &str = "https://issuer.jitgate.test";
const AUDIENCE: &str = "jitgate-gateway";
const MODEL: &str = "meta-llama/Llama-3.1-8B-Instruct";

#[derive(Debug, Arbitrary)]
enum Text {
    Expected,
    Other(String),
    Absent,
    Number(i64),
}

#[derive(Debug, Arbitrary)]
enum Audience {
    Ours,
    Other(String),
    List(Vec<String>, bool),
    Absent,
}

#[derive(Debug, Arbitrary)]
enum Time {
    Offset(i16),
    Exact(i64),
    Fraction(i16),
    Text(i16),
    Absent,
}

#[derive(Debug, Arbitrary)]
struct Token {
    signer: u8,
    alg: Text,
    typ: Text,
    kid: Text,
    extra_header: Option<(String, bool)>,
    iss: Text,
    aud: Audience,
    sub: Text,
    jti: Text,
    grant_id: Text,
    scope: Vec<String>,
    scope_exact: bool,
    iat: Time,
    nbf: Time,
    exp: Time,
    extra_claim: Option<(String, i64)>,
    repeat_claim: Option<u8>,
}

fn text(value: &Text, expected: &str) -> Option<Value> {
    match value {
        Text::Expected => Some(json!(expected)),
        Text::Other(text) => Some(json!(text)),
        Text::Number(n) => Some(json!(n)),
        Text::Absent => None,
    }
}

fn time(value: &Time, base: i64) -> Option<Value> {
    match value {
        Time::Offset(minutes) => Some(json!(base + i64::from(*minutes))),
        Time::Exact(seconds) => Some(json!(seconds)),
        Time::Fraction(offset) => Some(json!(base as f64 + f64::from(*offset) + 0.5)),
        Time::Text(offset) => Some(json!((base + i64::from(*offset)).to_string())),
        Time::Absent => None,
    }
}

fn insert(map: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(value) = value {
        map.insert(key.to_owned(), value);
    }
}

fuzz_target!(|token: Token| {
    let (test_key, signing_key) = &SIGNERS[usize::from(token.signer) % SIGNERS.len()];
    let verifying = signing_key.verifying_key();
    let mut header = Map::new();
    insert(
        &mut header,
        "alg",
        text(&token.alg, verifying.algorithm().jws_name()),
    );
    insert(&mut header, "typ", text(&token.typ, "at+jwt"));
    insert(&mut header, "kid", text(&token.kid, &verifying.key_id()));
    if let Some((name, _)) = &token.extra_header {
        header.insert(name.clone(), json!("x"));
    }
    let mut claims = Map::new();
    insert(&mut claims, "iss", text(&token.iss, ISSUER));
    match &token.aud {
        Audience::Ours => insert(&mut claims, "aud", Some(json!(AUDIENCE))),
        Audience::Other(other) => insert(&mut claims, "aud", Some(json!(other))),
        Audience::List(others, with_ours) => {
            let mut list = others.clone();
            if *with_ours {
                list.push(AUDIENCE.to_owned());
            }
            insert(&mut claims, "aud", Some(json!(list)));
        }
        Audience::Absent => {}
    }
    insert(&mut claims, "sub", text(&token.sub, "alice@example.com"));
    insert(&mut claims, "jti", text(&token.jti, "jti-fuzz"));
    insert(&mut claims, "grant_id", text(&token.grant_id, "grant-fuzz"));
    let scope = if token.scope_exact {
        format!("inference:{MODEL}")
    } else {
        token.scope.join(" ")
    };
    claims.insert("scope".into(), json!(scope));
    // Windows in minutes around the vectors' clock, so every edge is within reach.
    insert(&mut claims, "iat", time(&token.iat, NOW - 60));
    insert(&mut claims, "nbf", time(&token.nbf, NOW - 60));
    insert(&mut claims, "exp", time(&token.exp, NOW + 300));
    if let Some((name, value)) = &token.extra_claim {
        claims.insert(name.clone(), json!(value));
    }
    // serde_json maps keep one member per name, so a repeated member is spliced into the
    // text; a "repeat" of a member that is absent is just that member.
    let repeat = token.repeat_claim.map(|which| {
        let names = ["exp", "iss", "aud", "scope", "sub"];
        names[usize::from(which) % names.len()]
    });
    let repeated = repeat.is_some_and(|name| claims.contains_key(name));
    if let (Some(name), false) = (repeat, repeated) {
        claims.insert(name.to_owned(), json!(ISSUER));
    }
    let header_text = Value::Object(header.clone()).to_string();
    let mut payload_text = Value::Object(claims.clone()).to_string();
    if let (Some(name), true) = (repeat, repeated) {
        payload_text.insert_str(1, &format!("\"{name}\":\"{ISSUER}\","));
    }
    let compact = sign_compact(header_text.as_bytes(), payload_text.as_bytes(), signing_key);

    let revoked = RevokedGrants::new();
    let inputs = DecisionInputs {
        policy: &POLICY,
        request: RequestFacts {
            method: "POST",
            path: "/v1/chat/completions",
            model: ModelFact::Named(MODEL),
        },
        token: TokenInput::Present(&compact),
        keys: KeyState::Loaded(&KEYS),
        revocations: RevocationState::Current(&revoked),
        now: UnixTime(NOW),
        audit_full: false,
        usage: UsageState::Counted(&NothingUsed),
    };
    let decision = decide(&inputs);
    let mut cache = VerificationCache::new(2);
    assert_eq!(decide_cached(&inputs, &mut cache), decision);
    assert_eq!(decide_cached(&inputs, &mut cache), decision);

    if decision.outcome == Outcome::Allow {
        let oracle = Oracle {
            header: &header,
            claims: &claims,
            repeated,
            test_key: *test_key,
            key_id: verifying.key_id(),
            alg: verifying.algorithm().jws_name(),
        };
        if let Err(rule) = oracle.acceptable() {
            panic!("allowed a token that breaks the profile ({rule}): {compact}");
        }
    }
});

/// The token profile, restated independently of `grant::verify`.
struct Oracle<'a> {
    header: &'a Map<String, Value>,
    claims: &'a Map<String, Value>,
    repeated: bool,
    test_key: TestKey,
    key_id: String,
    alg: &'static str,
}

impl Oracle<'_> {
    fn acceptable(&self) -> Result<(), &'static str> {
        let leeway = POLICY.token_rules.leeway_seconds;
        let string = |map: &Map<String, Value>, key: &str| {
            map.get(key).and_then(Value::as_str).map(str::to_owned)
        };
        let integer = |key: &str| self.claims.get(key).and_then(Value::as_i64);
        if self.test_key == TestKey::Attacker {
            return Err("signed by an untrusted key");
        }
        if self.repeated {
            return Err("a repeated claim");
        }
        if string(self.header, "alg").as_deref() != Some(self.alg) {
            return Err("alg is not the key's algorithm");
        }
        if string(self.header, "kid") != Some(self.key_id.clone()) {
            return Err("kid is not the signing key");
        }
        let typ = string(self.header, "typ")
            .unwrap_or_default()
            .to_ascii_lowercase();
        if typ != "at+jwt" && typ != "application/at+jwt" {
            return Err("typ");
        }
        for refused in ["jku", "jwk", "x5u", "x5c", "crit", "cty"] {
            if self.header.contains_key(refused) {
                return Err("a refused header parameter");
            }
        }
        if string(self.claims, "iss").as_deref() != Some(ISSUER) {
            return Err("iss");
        }
        let audience_ok = match self.claims.get("aud") {
            Some(Value::String(aud)) => aud == AUDIENCE,
            Some(Value::Array(list)) => list.iter().any(|aud| aud == AUDIENCE),
            _ => false,
        };
        if !audience_ok {
            return Err("aud");
        }
        for id in ["sub", "jti", "grant_id"] {
            if string(self.claims, id).is_none_or(|id| id.is_empty()) {
                return Err("an id claim");
            }
        }
        let (Some(iat), Some(exp)) = (integer("iat"), integer("exp")) else {
            return Err("iat and exp must be integers");
        };
        if self.claims.contains_key("nbf") && integer("nbf").is_none() {
            return Err("nbf must be an integer");
        }
        if NOW >= exp.saturating_add(leeway) {
            return Err("expired");
        }
        if iat > NOW + leeway || integer("nbf").is_some_and(|nbf| nbf > NOW + leeway) {
            return Err("not yet valid");
        }
        let scope = string(self.claims, "scope").unwrap_or_default();
        let covered = scope.split(' ').any(|granted| {
            granted == format!("inference:{MODEL}")
                || granted
                    .strip_suffix('*')
                    .is_some_and(|prefix| format!("inference:{MODEL}").starts_with(prefix))
        });
        if !covered {
            return Err("scope does not cover the model");
        }
        Ok(())
    }
}
