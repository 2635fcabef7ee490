//! Interop with an implementation nobody here wrote: Envoy's native `jwt_authn`, pointed at
//! the (stub) issuer's JWKS URL, is given the same tokens as jitgate. For the checks
//! `jwt_authn` makes — signature, key, algorithm, issuer, audience, expiry and not-before —
//! both accept and refuse exactly the same tokens.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use jitgate_conformance::bundle::FILES;
use jitgate_conformance::Vector;
use jitgate_e2e::tokens::now;
use jitgate_e2e::{
    filter_wasm, Backends, BootstrapTemplate, Envoy, EnvoySpec, FilterModule, RawRequest,
    StubServer,
};

/// Token-validity vectors: what `jwt_authn` checks too. Scope, route, body and jitgate's
/// stricter header rules (`typ`, a required `kid`, refused `jku`/`crit`) are jitgate's own.
const SHARED_CHECKS: [&str; 20] = [
    "eddsa-valid-chat",
    "es256-valid-chat",
    "audience-array-containing-ours",
    "expired",
    "expired-within-leeway",
    "nbf-in-future",
    "nbf-at-leeway-edge",
    "wrong-issuer",
    "wrong-audience-string",
    "wrong-audience-array",
    "payload-tampered",
    "header-tampered",
    "attacker-key-with-trusted-kid",
    "unknown-kid",
    "alg-none",
    "hs256-with-public-key",
    "rs256-not-accepted",
    "strip-signature",
    "extra-segment",
    "es256-wrong-signature-length",
];

/// Where the two differ, on purpose: RFC 7519 §4.1.4 says a token is valid only *before*
/// `exp`; `jwt_authn` still accepts it at exactly `exp + clock_skew` (one second more).
const KNOWN_DIFFERENCE: &str = "expired-one-second-past-leeway";

const SLACK: [(&str, i64); 2] = [("expired-within-leeway", 1), ("nbf-in-future", 1)];

#[test]
fn jwt_authn_accepts_and_refuses_the_same_tokens() {
    let upstream = StubServer::start().unwrap();
    let issuer = StubServer::start().unwrap();
    issuer.set_jwks(serde_json::from_str(include_str!("../../testdata/jwks.json")).unwrap());
    let mut spec = EnvoySpec::jitgate(
        Backends {
            upstream: upstream.addr(),
            issuer: issuer.addr(),
            collector: issuer.addr(),
        },
        FilterModule {
            wasm_path: filter_wasm().unwrap(),
            plugin_configuration: String::new(),
        },
    );
    spec.template = BootstrapTemplate::new(
        "interop-jwt-authn",
        include_str!("../../envoy/interop-jwt-authn.template.yaml"),
    );
    let envoy = Envoy::start(&spec).expect("Envoy with jwt_authn starts");

    let mut disagreements = Vec::new();
    let mut compared = 0;
    for (_, text) in FILES {
        let vector: Vector = serde_json::from_str(text).unwrap();
        if !SHARED_CHECKS.contains(&vector.name.as_str()) {
            continue;
        }
        let slack = SLACK
            .iter()
            .find(|(name, _)| *name == vector.name)
            .map_or(0, |(_, s)| *s);
        let authorization = vector.recipe.as_ref().unwrap().authorization(now() + slack);
        let headers: Vec<(&str, &str)> = authorization
            .iter()
            .map(|v| ("authorization", v.as_str()))
            .collect();
        let response = envoy
            .raw(RawRequest {
                method: "GET",
                target: "/v1/models",
                headers: &headers,
                body: b"",
            })
            .expect("Envoy answers");
        let jitgate_accepts = vector.expect.status != 401;
        let jwt_authn_accepts = response.status == 200;
        if jitgate_accepts != jwt_authn_accepts {
            disagreements.push(format!(
                "{}: jitgate {} ({}), jwt_authn {} ({} {})",
                vector.name,
                if jitgate_accepts {
                    "accepts"
                } else {
                    "refuses"
                },
                vector.expect.reason,
                if jwt_authn_accepts {
                    "accepts"
                } else {
                    "refuses"
                },
                response.status,
                response.text().trim()
            ));
        }
        compared += 1;
    }
    assert_eq!(compared, SHARED_CHECKS.len());

    let boundary: Vector = FILES
        .iter()
        .map(|(_, text)| serde_json::from_str::<Vector>(text).unwrap())
        .find(|v| v.name == KNOWN_DIFFERENCE)
        .unwrap();
    // Minted a second early so the clock cannot carry it past the boundary for jwt_authn too.
    let authorization = boundary.recipe.as_ref().unwrap().authorization(now() + 1);
    let headers: Vec<(&str, &str)> = authorization
        .iter()
        .map(|v| ("authorization", v.as_str()))
        .collect();
    let response = envoy
        .raw(RawRequest {
            method: "GET",
            target: "/v1/models",
            headers: &headers,
            body: b"",
        })
        .unwrap();
    assert_eq!(
        (boundary.expect.status, response.status),
        (401, 200),
        "the documented boundary difference changed"
    );
    assert!(
        disagreements.is_empty(),
        "{} disagreements:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
    let fetched = issuer.requests_to("/.well-known/jwks.json");
    assert!(!fetched.is_empty(), "jwt_authn fetched the issuer's JWKS");
}
