//! Every conformance vector through explain's decision and both renderings: the same
//! outcome, reason, status, required scope and grant id the vector expects (the filter's
//! answer), and never the token in the output.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use jitgate_conformance::bundle::{FILES, JWKS};
use jitgate_conformance::catalog::POLICY_JSON;
use jitgate_conformance::runner::{
    authorization_headers, body_model, model_fact, outcome_name, usage_state, usage_table,
};
use jitgate_conformance::Vector;
use jitgate_grant::{extract_bearer, KeySet, Outcome, Policy, RevokedGrants, TokenInput, UnixTime};

use super::scenario::{decide_scenario, Scenario};
use super::{json, words};

#[test]
fn explain_decides_every_vector_as_the_filter_does() {
    let policy = Policy::from_json(POLICY_JSON).unwrap();
    let keys = KeySet::from_jwks_json(JWKS).unwrap();
    let mut failures = Vec::new();
    for (file, text) in FILES {
        let vector: Vector = serde_json::from_str(text).unwrap();
        let revoked: RevokedGrants = vector.revoked.iter().cloned().collect();
        let headers = authorization_headers(&vector);
        let token = extract_bearer(&headers, "Bearer ");
        let read = body_model(&vector, policy.max_body_bytes);
        let model = model_fact(&read);
        let usage = usage_table(&vector);
        let decision = decide_scenario(&Scenario {
            policy: &policy,
            keys: vector.gate.keys_loaded.then_some(&keys),
            revoked: vector.gate.revocation_current.then_some(&revoked),
            audit_full: vector.gate.audit_full,
            usage: usage_state(&usage),
            method: &vector.request.method,
            path: &vector.request.path,
            model,
            token,
            now: UnixTime(vector.now),
        });
        let text = words::render(
            &decision,
            &vector.request.method,
            &vector.request.path,
            UnixTime(vector.now),
        );
        let json = json::render(&decision, &vector.request.method, &vector.request.path);
        let expect = &vector.expect;
        let status = match decision.outcome {
            Outcome::Deny => decision.reason.status(),
            _ => 200,
        };
        let got = (
            outcome_name(decision.outcome),
            decision.reason.code(),
            status,
            decision.required_scope.as_deref(),
            decision
                .grant
                .as_ref()
                .map(|grant| grant.claims.grant_id.as_str()),
        );
        let wanted = (
            expect.outcome.as_str(),
            expect.reason.as_str(),
            expect.status,
            expect.required_scope.as_deref(),
            expect.grant_id.as_deref(),
        );
        if got != wanted {
            failures.push(format!(
                "{file}: expected {wanted:?}, explain decided {got:?}"
            ));
        }
        if json["reason"] != expect.reason
            || json["outcome"] != expect.outcome
            || json["status"] != expect.status
        {
            failures.push(format!("{file}: JSON says {json}"));
        }
        if !text.contains(&format!(" {} {}\n", expect.status, expect.reason)) {
            failures.push(format!("{file}: words say {text}"));
        }
        if let TokenInput::Present(token) = token {
            // Short "tokens" (`x`, `a.b`) occur in ordinary words; real ones never must.
            if token.len() > 16 && (text.contains(token) || json.to_string().contains(token)) {
                failures.push(format!("{file}: the output contains the token"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} vectors:\n{}",
        failures.len(),
        FILES.len(),
        failures.join("\n")
    );
    assert_eq!(
        FILES.len(),
        jitgate_conformance::bundle::vector_files_on_disk().unwrap(),
        "every vector in testdata/vectors is bundled"
    );
}
