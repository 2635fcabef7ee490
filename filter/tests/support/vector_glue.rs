//! The proxy-wasm host's answer to a vector: the filter's glue driven by its fake host (keys
//! inline or fetched, the revocation feed polled at the vector's time or left stale, a
//! one-record audit buffer filled first, the grants' usage so far written into the Envoy's
//! shared data — and, for a gate that cannot count, another worker writing the grant's count
//! after every read, so no compare-and-swap ever settles).
//!
//! One file for both places that need it: `filter/tests/glue_vectors.rs` includes it as a
//! test module, and `component/host-tests` includes it (`#[path]`) as its filter host, so
//! "three hosts, one answer" drives the filter exactly as the filter's own test does.

// Test support: a vector the fake host cannot replay is a broken test, so it panics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use jitgate_conformance::bundle::JWKS;
use jitgate_conformance::catalog::POLICY_JSON;
use jitgate_conformance::runner::outcome_name;
use jitgate_conformance::Vector;
use jitgate_filter::budget::{encode, grant_key, MAX_ATTEMPTS};
use jitgate_filter::fake::{ConflictingWriter, FakeHost, FakeSharedData};
use jitgate_filter::host::CallResponse;
use jitgate_filter::request::RequestFlow;
use jitgate_filter::root;
use jitgate_filter::state::VmState;
use jitgate_grant::GrantUsage;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::rc::Rc;

/// What the filter answered: outcome, reason code and HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlueAnswer {
    /// `allow`, `deny` or `need_model`.
    pub outcome: String,
    /// The reason code.
    pub reason: String,
    /// The status sent (200 when nothing was sent).
    pub status: u16,
}

/// Runs `vector` through the filter's request flow.
pub fn answer(vector: &Vector) -> GlueAnswer {
    let shared = shared_data_for(vector);
    let mut state = vm_for(vector, &shared);
    let mut host = request_for(vector).sharing(&shared);
    let mut flow = RequestFlow::new();
    let body_len = host.request_body.len();
    flow.on_headers(&mut state, &mut host, false);
    if flow.awaits_body() && vector.request.body.is_some() {
        flow.on_body(&mut state, &mut host, body_len, true);
    }
    let decision = flow.decision().expect("the flow decided");
    GlueAnswer {
        outcome: outcome_name(decision.outcome).to_owned(),
        reason: decision.reason.code().to_owned(),
        status: host
            .response
            .as_ref()
            .map_or(200, |response| response.status),
    }
}

fn settings_for(vector: &Vector) -> Value {
    let mut config: Value = serde_json::from_str(POLICY_JSON).unwrap();
    config["body_check"] = json!("hold_headers");
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

/// The Envoy's shared data as the vector has it: each grant's usage so far.
fn shared_data_for(vector: &Vector) -> Rc<RefCell<FakeSharedData>> {
    let shared = FakeSharedData::shared();
    let mut store = shared.borrow_mut();
    for (grant_id, used) in &vector.usage {
        let used = GrantUsage {
            requests: used.requests,
            tokens: used.tokens,
        };
        store
            .write(&grant_key(grant_id), &encode(used), None)
            .unwrap();
    }
    if !vector.gate.budget_current {
        let grant_id = vector
            .recipe
            .as_ref()
            .and_then(|recipe| recipe.claims.get("grant_id"))
            .and_then(Value::as_str)
            .expect("a vector that cannot count names a grant");
        let key = grant_key(grant_id);
        if store.value(&key).is_none() {
            store
                .write(&key, &encode(GrantUsage::default()), None)
                .unwrap();
        }
        store.conflicting_writers.push(ConflictingWriter {
            key,
            value: None,
            times: MAX_ATTEMPTS + 1,
        });
    }
    drop(store);
    shared
}

fn vm_for(vector: &Vector, shared: &Rc<RefCell<FakeSharedData>>) -> VmState {
    let now_ms = u64::try_from(vector.now).unwrap() * 1000;
    let mut host = FakeHost::at(now_ms).sharing(shared);
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
