//! Every conformance vector through the filter's glue (with the fake host): the filter must
//! reach the decision `grant::decide` reaches, and answer with the vector's status. This is
//! the glue's half of "three hosts, one answer"; the e2e suite does the same through Envoy.

// A test fails by panicking; the lints against panics are for the code under test.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use jitgate_conformance::bundle::{FILES, JWKS};
use jitgate_conformance::catalog::POLICY_JSON;
use jitgate_conformance::Vector;
use jitgate_filter::fake::FakeHost;
use jitgate_filter::host::CallResponse;
use jitgate_filter::request::RequestFlow;
use jitgate_filter::root;
use jitgate_filter::state::VmState;
use serde_json::{json, Value};

fn settings_for(vector: &Vector) -> Value {
    let mut config: Value = serde_json::from_str(POLICY_JSON).unwrap();
    config["keys"] = if vector.gate.keys_loaded {
        json!({"jwks": serde_json::from_str::<Value>(JWKS).unwrap()})
    } else {
        json!({"fetch": {"cluster": "issuer"}})
    };
    config["revocation"] = json!({"cluster": "issuer", "credential": "data-plane-secret"});
    if vector.gate.audit_full {
        config["audit"] =
            json!({"cluster": "collector", "batch_max_records": 1, "buffer_max_records": 1});
    }
    config
}

/// A VM configured for the vector, with its revocation feed polled at the vector's time
/// (unless the vector wants it stale).
fn vm_for(vector: &Vector) -> VmState {
    let now_ms = u64::try_from(vector.now).unwrap() * 1000;
    let mut host = FakeHost::at(now_ms);
    let mut state = root::configure(
        &mut host,
        settings_for(vector).to_string().as_bytes(),
        &|_| None,
    )
    .unwrap();
    root::tick(&mut state, &mut host);
    if vector.gate.revocation_current {
        let call = host
            .calls
            .iter()
            .find(|call| call.path.starts_with("/v1/revocations"))
            .unwrap()
            .token;
        let revoked: Vec<Value> = vector
            .revoked
            .iter()
            .map(|id| json!({"grant_id": id, "revoked_at": vector.now}))
            .collect();
        let page = json!({"revoked": revoked, "cursor": "1"}).to_string();
        let response = CallResponse {
            status: Some(200),
            body: Some(page.into_bytes()),
        };
        root::on_call_response(&mut state, &mut host, call, &response);
    }
    if vector.gate.audit_full {
        // One public request's record fills the one-record buffer.
        let mut filler = FakeHost::request(now_ms, "GET", "/v1/models");
        let mut flow = RequestFlow::new();
        flow.on_headers(&mut state, &mut filler, true);
        flow.on_log(&mut state, &mut filler);
    }
    state
}

fn request_for(vector: &Vector) -> FakeHost {
    let now_ms = u64::try_from(vector.now).unwrap() * 1000;
    let mut host = FakeHost::request(now_ms, &vector.request.method, &vector.request.path);
    if let Some(content_type) = &vector.request.content_type {
        host = host.header("content-type", content_type);
    }
    for value in &vector.request.authorization {
        host = host.header("authorization", value);
    }
    if let Some(body) = &vector.request.body {
        host = host.body(body.as_bytes());
    }
    host
}

#[test]
fn the_glue_answers_every_vector_as_decide_does() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for (file, text) in FILES {
        let vector: Vector = serde_json::from_str(text).unwrap();
        let mut state = vm_for(&vector);
        let mut host = request_for(&vector);
        let mut flow = RequestFlow::new();
        let body_len = host.request_body.len();
        let has_body = vector.request.body.is_some();
        let mut step = flow.on_headers(&mut state, &mut host, false);
        if flow.awaits_body() && has_body {
            step = flow.on_body(&mut state, &mut host, body_len, true);
        }
        let decision = flow.decision().unwrap();
        let outcome = jitgate_conformance::runner::outcome_name(decision.outcome);
        let status = host
            .response
            .as_ref()
            .map_or(200, |response| response.status);
        let expected = &vector.expect;
        if outcome != expected.outcome
            || decision.reason.code() != expected.reason
            || status != expected.status
        {
            failures.push(format!(
                "{file}: expected {}/{}/{}, got {outcome}/{}/{status} (step {step:?})",
                expected.outcome, expected.reason, expected.status, decision.reason
            ));
        }
        checked += 1;
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} vectors differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked >= 50);
}
