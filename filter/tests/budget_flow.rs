//! Budgets from the glue's point of view (fake host): several worker VMs of one Envoy sharing
//! one fake shared-data store, counting requests at admission with compare-and-swap and
//! model tokens when the response completes; conflicting writers, a count that never settles,
//! the key-creation lock, and the in-flight overshoot.

// A test fails by panicking; the lints against panics are for the code under test.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::cell::RefCell;
use std::rc::Rc;

use jitgate_conformance::bundle::JWKS;
use jitgate_conformance::catalog::{standard_claims, POLICY_JSON, STANDARD_TIMES};
use jitgate_conformance::recipe::Recipe;
use jitgate_conformance::testkeys::TestKey;
use jitgate_filter::budget::{decode, encode, grant_key, LOCK_KEY, MAX_ATTEMPTS};
use jitgate_filter::fake::{ConflictingWriter, FakeHost, FakeSharedData, SentResponse};
use jitgate_filter::request::RequestFlow;
use jitgate_filter::root;
use jitgate_filter::state::VmState;
use jitgate_grant::audit::{AuditDecision, AuditRecord};
use jitgate_grant::GrantUsage;
use serde_json::{json, Value};

const NOW_S: i64 = 1_800_000_000;
const NOW_MS: u64 = 1_800_000_000_000;
const MODEL: &str = "meta-llama/Llama-3.1-8B-Instruct";
const CHAT_ANSWER: &str =
    r#"{"choices":[],"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}"#;

type Shared = Rc<RefCell<FakeSharedData>>;

/// One worker VM of the Envoy whose shared data is `shared`.
fn worker(shared: &Shared, audit: bool) -> VmState {
    let mut config: Value = serde_json::from_str(POLICY_JSON).unwrap();
    config["body_check"] = json!("hold_headers");
    config["keys"] = json!({"jwks": serde_json::from_str::<Value>(JWKS).unwrap()});
    config["filter_state"] = json!(true);
    if audit {
        config["audit"] = json!({"cluster": "collector"});
    }
    let mut host = FakeHost::at(NOW_MS).sharing(shared);
    root::configure(&mut host, config.to_string().as_bytes(), &|_| None).unwrap()
}

/// `Bearer` and a token for grant `grant-<name>` with these limits (none when `Null`).
fn bearer(name: &str, limits: Value) -> String {
    let mut claims = standard_claims(name);
    if !limits.is_null() {
        claims.insert("limits".into(), limits);
    }
    let token = Recipe::honest(TestKey::Ed25519, claims, STANDARD_TIMES).token(NOW_S);
    format!("Bearer {token}")
}

fn count(shared: &Shared, name: &str) -> Option<GrantUsage> {
    let store = shared.borrow();
    store
        .value(&grant_key(&format!("grant-{name}")))
        .map(|bytes| decode(bytes).expect("a count"))
}

fn used(requests: u64, tokens: u64) -> GrantUsage {
    GrantUsage { requests, tokens }
}

/// A request that has passed the gate (or been refused) and waits for its response.
struct InFlight {
    flow: RequestFlow,
    host: FakeHost,
}

impl InFlight {
    fn refusal(&self) -> Option<&SentResponse> {
        self.host.response.as_ref()
    }

    fn status(&self) -> u16 {
        self.refusal().map_or(200, |response| response.status)
    }

    fn reason(&self) -> Option<String> {
        let body: Value = serde_json::from_str(&self.refusal()?.body).ok()?;
        body["reason"].as_str().map(str::to_owned)
    }

    /// The upstream answers with `body` as `content_type`, in two pieces, then the stream
    /// ends (`on_response_complete`, as Envoy's last body callback) and is logged.
    fn respond(mut self, state: &mut VmState, content_type: &str, body: &str) -> FakeHost {
        if self.host.response.is_none() {
            self.host.response_headers = vec![("content-type".into(), content_type.into())];
            self.flow.on_response_headers(state, &self.host);
            let middle = body.len() / 2;
            for piece in [&body[..middle], &body[middle..]] {
                self.host.response_chunk = piece.as_bytes().to_vec();
                self.flow.on_response_body(&self.host, piece.len());
            }
            self.flow.on_response_complete(state, &mut self.host);
        }
        self.flow.on_log(state, &mut self.host);
        self.host
    }
}

/// Sends a request to `path` naming `model`, with `authorization`, up to the gate's answer.
fn send(state: &mut VmState, shared: &Shared, path: &str, model: &str, auth: &str) -> InFlight {
    let body = json!({"model": model, "input": "hello"}).to_string();
    let mut host = FakeHost::request(NOW_MS, "POST", path)
        .sharing(shared)
        .header("content-type", "application/json")
        .header("authorization", auth)
        .body(body.as_bytes());
    let mut flow = RequestFlow::new();
    flow.on_headers(state, &mut host, false);
    if flow.awaits_body() {
        flow.on_body(state, &mut host, body.len(), true);
    }
    InFlight { flow, host }
}

fn chat(state: &mut VmState, shared: &Shared, auth: &str) -> InFlight {
    send(state, shared, "/v1/chat/completions", MODEL, auth)
}

#[test]
fn two_workers_admit_exactly_the_budget_then_refuse_with_403() {
    let shared = FakeSharedData::shared();
    let mut workers = [worker(&shared, false), worker(&shared, false)];
    let auth = bearer("twenty", json!({"requests": 5}));
    let mut statuses = Vec::new();
    let mut refusals = Vec::new();
    for index in 0..8 {
        let state = &mut workers[index % 2];
        let request = chat(state, &shared, &auth);
        statuses.push(request.status());
        if let Some(refusal) = request.refusal() {
            refusals.push(refusal.clone());
        }
        request.respond(state, "application/json", CHAT_ANSWER);
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 403, 403, 403]);
    assert_eq!(
        count(&shared, "twenty"),
        Some(used(5, 5 * 18)),
        "refused requests are not counted"
    );
    let refusal = &refusals[0];
    assert_eq!(
        refusal.headers,
        vec![("content-type".to_owned(), "application/json".to_owned())]
    );
    let body: Value = serde_json::from_str(&refusal.body).unwrap();
    assert_eq!(
        body,
        json!({
            "error": {
                "message": "the grant's budget (requests or model tokens) is used up; \
                    retrying will not help: request a new grant or a larger budget with \
                    `jitgate request`",
                "type": "access_denied",
                "code": "budget_exhausted",
                "param": null,
            },
            "reason": "budget_exhausted",
            "request_id": "req-1",
        })
    );
}

#[test]
fn a_refusal_is_recorded_as_a_deny_with_the_grant() {
    let shared = FakeSharedData::shared();
    let mut state = worker(&shared, true);
    let auth = bearer("recorded", json!({"requests": 0}));
    let request = chat(&mut state, &shared, &auth);
    assert_eq!(request.reason().as_deref(), Some("budget_exhausted"));
    let host = request.respond(&mut state, "application/json", CHAT_ANSWER);
    let mut root_host = FakeHost::at(NOW_MS);
    root::publish_metrics(&mut state, &mut root_host);
    assert_eq!(root_host.counter("jitgate.denied.budget_exhausted"), 1);
    assert_eq!(host.counter("jitgate.denied.budget_exhausted"), 0);
    let batch = state.audit.as_mut().unwrap().next_batch(NOW_MS + 10_000);
    let text = &batch.expect("a batch").records[0];
    let record = AuditRecord::from_otlp_log_record(&serde_json::from_str(text).unwrap()).unwrap();
    assert_eq!(
        (
            record.decision,
            record.reason.as_str(),
            record.grant_id.as_deref()
        ),
        (
            AuditDecision::Deny,
            "budget_exhausted",
            Some("grant-recorded")
        )
    );
    assert_eq!(count(&shared, "recorded"), None, "nothing counted");
}

#[test]
fn a_conflicting_write_is_retried_against_the_new_count() {
    let shared = FakeSharedData::shared();
    let mut state = worker(&shared, false);
    let auth = bearer("contended", json!({"requests": 6}));
    let key = grant_key("grant-contended");
    {
        let mut store = shared.borrow_mut();
        store.write(&key, &encode(used(2, 0)), None).unwrap();
        // Another worker admits two requests between this worker's read and its write.
        store.conflicting_writers.push(ConflictingWriter {
            key: key.clone(),
            value: Some(encode(used(4, 0)).to_vec()),
            times: 1,
        });
    }
    let request = chat(&mut state, &shared, &auth);
    assert_eq!(request.status(), 200);
    assert_eq!(count(&shared, "contended"), Some(used(5, 0)));
    assert_eq!(request.host.counter("jitgate.budget.cas_retries"), 1);

    // Now the other worker takes the last one first: the retry sees the budget used up.
    shared
        .borrow_mut()
        .conflicting_writers
        .push(ConflictingWriter {
            key,
            value: Some(encode(used(6, 0)).to_vec()),
            times: 1,
        });
    let request = chat(&mut state, &shared, &auth);
    assert_eq!(
        (request.status(), request.reason().as_deref()),
        (403, Some("budget_exhausted"))
    );
    assert_eq!(count(&shared, "contended"), Some(used(6, 0)));
}

#[test]
fn a_count_that_never_settles_is_a_503_never_an_uncounted_admission() {
    let shared = FakeSharedData::shared();
    let mut state = worker(&shared, false);
    let auth = bearer("unsettled", json!({"requests": 100}));
    let key = grant_key("grant-unsettled");
    {
        let mut store = shared.borrow_mut();
        store.write(&key, &encode(used(1, 0)), None).unwrap();
        store.conflicting_writers.push(ConflictingWriter {
            key,
            value: None,
            times: u32::MAX,
        });
    }
    let request = chat(&mut state, &shared, &auth);
    let refusal = request.refusal().expect("refused");
    assert_eq!(
        (refusal.status, request.reason().as_deref()),
        (503, Some("budget_unavailable"))
    );
    assert_eq!(refusal.header("retry-after"), Some("1"));
    assert_eq!(
        request
            .host
            .filter_state
            .get("jitgate_decision")
            .map(String::as_str),
        Some("deny")
    );
    assert_eq!(
        request.host.counter("jitgate.budget.cas_retries"),
        u64::from(MAX_ATTEMPTS)
    );
    assert_eq!(count(&shared, "unsettled"), Some(used(1, 0)));
}

#[test]
fn the_first_request_of_a_grant_never_erases_another_workers_count() {
    let shared = FakeSharedData::shared();
    let mut state = worker(&shared, false);
    let auth = bearer("first", json!({"requests": 10}));
    // The key is missing when this worker reads it; another worker creates it (admitting
    // one request) right after. Writing the first count without CAS would erase that one.
    shared
        .borrow_mut()
        .conflicting_writers
        .push(ConflictingWriter {
            key: grant_key("grant-first"),
            value: Some(encode(used(1, 0)).to_vec()),
            times: 1,
        });
    let request = chat(&mut state, &shared, &auth);
    assert_eq!(request.status(), 200);
    assert_eq!(count(&shared, "first"), Some(used(2, 0)));
    assert_eq!(
        shared.borrow().value(LOCK_KEY),
        Some(&[][..]),
        "the creation lock is free again"
    );
}

#[test]
fn a_creation_lock_held_by_a_live_worker_is_waited_on_and_a_dead_ones_taken_over() {
    let shared = FakeSharedData::shared();
    let mut state = worker(&shared, false);
    let auth = bearer("locked", json!({"requests": 10}));
    let held_since = |ms: u64| {
        let mut held = [7u8; 16];
        held[8..].copy_from_slice(&ms.to_le_bytes());
        held
    };
    shared
        .borrow_mut()
        .write(LOCK_KEY, &held_since(NOW_MS), None)
        .unwrap();
    let request = chat(&mut state, &shared, &auth);
    assert_eq!(
        (request.status(), request.reason().as_deref()),
        (503, Some("budget_unavailable")),
        "a live holder is never overridden"
    );
    assert_eq!(count(&shared, "locked"), None);

    shared
        .borrow_mut()
        .write(LOCK_KEY, &held_since(NOW_MS - 1_001), None)
        .unwrap();
    let request = chat(&mut state, &shared, &auth);
    assert_eq!(request.status(), 200, "a lock past its lease is taken over");
    assert_eq!(count(&shared, "locked"), Some(used(1, 0)));
    assert_eq!(shared.borrow().value(LOCK_KEY), Some(&[][..]));
}

#[test]
fn grants_without_limits_and_refused_requests_touch_no_count() {
    let shared = FakeSharedData::shared();
    let mut state = worker(&shared, false);
    let unlimited = bearer("unlimited", Value::Null);
    let request = chat(&mut state, &shared, &unlimited);
    assert_eq!(request.status(), 200);
    request.respond(&mut state, "application/json", CHAT_ANSWER);
    let limited = bearer("out-of-scope", json!({"requests": 10}));
    let request = send(
        &mut state,
        &shared,
        "/v1/chat/completions",
        "gpt-4o",
        &limited,
    );
    assert_eq!(request.reason().as_deref(), Some("insufficient_scope"));
    assert_eq!(shared.borrow().keys(), vec![LOCK_KEY]);
}

#[test]
fn tokens_are_counted_from_every_api_shape_with_audit_off() {
    let chat_events = concat!(
        "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n",
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":7}}\n\n",
        "data: [DONE]\n\n"
    );
    let completion_events = concat!(
        "data: {\"choices\":[{\"text\":\"Hi\"}]}\n\n",
        "data: {\"choices\":[{\"text\":\"\",\"finish_reason\":\"stop\"}],",
        "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4,\"total_tokens\":7}}\n\n",
        "data: [DONE]\n\n"
    );
    let response_events = concat!(
        "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"usage\":null}}\n\n",
        "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}\n\n",
        "event: response.completed\ndata: {\"type\":\"response.completed\",",
        "\"response\":{\"usage\":{\"input_tokens\":2,\"output_tokens\":9,\"total_tokens\":11}}}\n\n"
    );
    let cases = [
        ("/v1/chat/completions", "application/json", CHAT_ANSWER, 18),
        ("/v1/chat/completions", "text/event-stream", chat_events, 18),
        (
            "/v1/completions",
            "application/json",
            r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}"#,
            7,
        ),
        (
            "/v1/completions",
            "text/event-stream; charset=utf-8",
            completion_events,
            7,
        ),
        (
            "/v1/embeddings",
            "application/json",
            r#"{"data":[],"usage":{"prompt_tokens":5,"total_tokens":5}}"#,
            5,
        ),
        (
            "/v1/responses",
            "application/json",
            r#"{"output":[],"usage":{"input_tokens":2,"output_tokens":9,"total_tokens":11}}"#,
            11,
        ),
        ("/v1/responses", "text/event-stream", response_events, 11),
        (
            "/v1/chat/completions",
            "text/event-stream",
            "data: {\"choices\":[]}\n\ndata: [DONE]\n\n",
            0,
        ),
    ];
    for (index, (path, content_type, answer, tokens)) in cases.into_iter().enumerate() {
        let shared = FakeSharedData::shared();
        let mut state = worker(&shared, false);
        let name = format!("shape-{index}");
        let auth = bearer(&name, json!({"tokens": 1000}));
        let request = send(&mut state, &shared, path, MODEL, &auth);
        assert_eq!(request.status(), 200, "{path}");
        let host = request.respond(&mut state, content_type, answer);
        assert_eq!(
            count(&shared, &name),
            Some(used(1, tokens)),
            "{path} answered with {content_type}: counted once (on_log added nothing more)"
        );
        assert_eq!(host.counter("jitgate.budget.count_failed"), 0);
    }
}

#[test]
fn a_response_that_never_says_it_is_complete_is_counted_when_logged() {
    let shared = FakeSharedData::shared();
    let mut state = worker(&shared, true);
    let auth = bearer("logged", json!({"tokens": 1000}));
    let InFlight { mut flow, mut host } = chat(&mut state, &shared, &auth);
    host.response_headers = vec![("content-type".into(), "application/json".into())];
    flow.on_response_headers(&state, &host);
    host.response_chunk = CHAT_ANSWER.as_bytes().to_vec();
    flow.on_response_body(&host, CHAT_ANSWER.len());
    flow.on_log(&mut state, &mut host);
    flow.on_response_complete(&mut state, &mut host);
    assert_eq!(count(&shared, "logged"), Some(used(1, 18)));
}

#[test]
fn requests_in_flight_at_exhaustion_finish_and_are_the_overshoot() {
    let shared = FakeSharedData::shared();
    let mut workers = [worker(&shared, false), worker(&shared, false)];
    let auth = bearer("overshoot", json!({"tokens": 40}));
    // Three requests pass the gate while the grant has used no tokens: all admitted.
    let in_flight: Vec<InFlight> = (0..3)
        .map(|index| chat(&mut workers[index % 2], &shared, &auth))
        .collect();
    assert!(in_flight.iter().all(|request| request.status() == 200));
    // They all finish, each reporting 18 tokens: 54 used of 40.
    for (index, request) in in_flight.into_iter().enumerate() {
        request.respond(&mut workers[index % 2], "application/json", CHAT_ANSWER);
    }
    assert_eq!(count(&shared, "overshoot"), Some(used(3, 54)));
    // Nothing more is admitted, on either worker.
    for state in &mut workers {
        let request = chat(state, &shared, &auth);
        assert_eq!(
            (request.status(), request.reason().as_deref()),
            (403, Some("budget_exhausted"))
        );
    }
    assert_eq!(count(&shared, "overshoot"), Some(used(3, 54)));
}
