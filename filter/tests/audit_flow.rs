//! Audit records from the glue's point of view (fake host): what a record holds, how batches
//! go out and are acknowledged, and what a full buffer does under each overflow policy.

// A test fails by panicking; the lints against panics are for the code under test.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use jitgate_conformance::bundle::JWKS;
use jitgate_conformance::catalog::{standard_claims, POLICY_JSON, STANDARD_TIMES};
use jitgate_conformance::recipe::Recipe;
use jitgate_conformance::testkeys::TestKey;
use jitgate_filter::fake::FakeHost;
use jitgate_filter::host::CallResponse;
use jitgate_filter::request::RequestFlow;
use jitgate_filter::root;
use jitgate_filter::state::VmState;
use jitgate_grant::audit::{AuditDecision, AuditRecord};
use serde_json::{json, Value};

const NOW_S: i64 = 1_800_000_000;
const NOW_MS: u64 = 1_800_000_000_000;
const CHAT: &str = r#"{"model":"meta-llama/Llama-3.1-8B-Instruct","messages":[]}"#;
const ANSWER: &str =
    r#"{"choices":[],"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}"#;

fn vm(audit: Value) -> (VmState, FakeHost) {
    let mut config: Value = serde_json::from_str(POLICY_JSON).unwrap();
    config["body_check"] = json!("hold_headers");
    config["keys"] = json!({"jwks": serde_json::from_str::<Value>(JWKS).unwrap()});
    config["audit"] = audit;
    let mut host = FakeHost::at(NOW_MS);
    let state = root::configure(&mut host, config.to_string().as_bytes(), &|_| None).unwrap();
    (state, host)
}

fn token() -> String {
    Recipe::honest(TestKey::Ed25519, standard_claims("audited"), STANDARD_TIMES).token(NOW_S)
}

/// One request through the flow, answered by the upstream with `ANSWER`; returns the host.
fn serve(state: &mut VmState, authorization: Option<&str>, at_ms: u64) -> FakeHost {
    let mut host = FakeHost::request(at_ms, "POST", "/v1/chat/completions?api-version=1")
        .header("content-type", "application/json")
        .header("user-agent", "openai-python/1.0")
        .body(CHAT.as_bytes());
    if let Some(authorization) = authorization {
        host = host.header("authorization", authorization);
    }
    let mut flow = RequestFlow::new();
    flow.on_headers(state, &mut host, false);
    if flow.awaits_body() {
        let size = host.request_body.len();
        flow.on_body(state, &mut host, size, true);
    }
    if host.response.is_none() {
        host.response_headers = vec![
            (":status".into(), "200".into()),
            ("content-type".into(), "application/json".into()),
        ];
        host.response_chunk = ANSWER.as_bytes().to_vec();
        flow.on_response_headers(state, &host);
        flow.on_response_body(&host, ANSWER.len());
    }
    host.properties
        .insert("source.address".into(), b"10.1.2.3:40000".to_vec());
    // Only the client's address is read as a property: status and sizes come from the
    // callbacks (the answer's `:status`, the local reply, the body sizes Envoy reports).
    host.now_ms = at_ms + 25;
    flow.on_log(state, &mut host);
    host
}

fn records_in(body: &[u8]) -> Vec<AuditRecord> {
    let request: Value = serde_json::from_slice(body).unwrap();
    request["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
        .as_array()
        .unwrap()
        .iter()
        .map(|record| AuditRecord::from_otlp_log_record(record).unwrap())
        .collect()
}

#[test]
fn every_request_gets_a_record_with_who_what_and_usage() {
    let (mut state, mut root_host) =
        vm(json!({"cluster": "collector", "flush_interval_ms": 100, "credential": "audit-secret"}));
    let allowed = serve(&mut state, Some(&format!("Bearer {}", token())), NOW_MS);
    assert_eq!(allowed.response, None);
    let denied = serve(&mut state, None, NOW_MS + 1);
    assert_eq!(denied.response.as_ref().map(|r| r.status), Some(401));
    assert_eq!(
        denied.gauges.get("jitgate.audit.buffer_depth"),
        None,
        "requests leave the gauge to the tick"
    );
    root::publish_metrics(&mut state, &mut root_host);
    assert_eq!(root_host.gauges.get("jitgate.audit.buffer_depth"), Some(&2));

    root_host.now_ms = NOW_MS + 50;
    root::tick(&mut state, &mut root_host);
    assert!(
        root_host
            .calls
            .iter()
            .all(|call| call.cluster != "collector"),
        "not due before the flush interval"
    );
    root_host.now_ms = NOW_MS + 150;
    root::tick(&mut state, &mut root_host);
    let call = root_host
        .calls
        .iter()
        .find(|call| call.cluster == "collector")
        .unwrap()
        .clone();
    assert_eq!(call.path, "/v1/logs");
    assert!(call
        .headers
        .contains(&("authorization".to_owned(), "Bearer audit-secret".to_owned())));
    let body = root_host.posted[&call.token].clone();
    let request: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        request.pointer("/resourceLogs/0/resource/attributes/0/value/stringValue"),
        Some(&json!("jitgate-filter"))
    );
    let records = records_in(&body);
    assert_eq!(records.len(), 2);

    let first = &records[0];
    assert_eq!(
        (first.sequence, first.decision, first.reason.as_str()),
        (1, AuditDecision::Allow, "granted")
    );
    assert_eq!(first.subject.as_deref(), Some("alice@example.com"));
    assert_eq!(first.grant_id.as_deref(), Some("grant-audited"));
    assert_eq!(first.approvers, vec!["bob@example.com".to_owned()]);
    assert_eq!(
        first.model.as_deref(),
        Some("meta-llama/Llama-3.1-8B-Instruct")
    );
    assert_eq!(
        first.scope_required.as_deref(),
        Some("inference:meta-llama/Llama-3.1-8B-Instruct")
    );
    assert_eq!(
        (first.input_tokens, first.output_tokens),
        (Some(11), Some(7))
    );
    assert_eq!(
        (
            first.method.as_str(),
            first.path.as_str(),
            first.authority.as_str()
        ),
        ("POST", "/v1/chat/completions", "gateway.test")
    );
    assert_eq!(
        (first.status, first.request_bytes, first.duration_ms),
        (200, CHAT.len() as u64, 25)
    );
    assert_eq!(first.client_address.as_deref(), Some("10.1.2.3"));
    assert_eq!(first.user_agent.as_deref(), Some("openai-python/1.0"));
    assert_eq!(first.request_id.as_deref(), Some("req-1"));
    assert_eq!(first.time_unix_nano, NOW_MS * 1_000_000);
    assert!(first
        .token_digest
        .as_deref()
        .is_some_and(|d| d.starts_with("sha256:")));
    assert!(
        !String::from_utf8_lossy(&body).contains(&token()),
        "the token never leaves the filter"
    );

    let second = &records[1];
    assert_eq!(
        (
            second.sequence,
            second.decision,
            second.reason.as_str(),
            second.status
        ),
        (2, AuditDecision::Deny, "missing_token", 401)
    );
    assert_eq!(second.subject, None);
    assert_eq!(second.stream_id, first.stream_id);

    root::on_call_response(
        &mut state,
        &mut root_host,
        call.token,
        &CallResponse {
            status: Some(200),
            body: Some(b"{}".to_vec()),
        },
    );
    assert_eq!(root_host.counter("jitgate.audit.sent"), 2);
    assert_eq!(root_host.gauges.get("jitgate.audit.buffer_depth"), Some(&0));
}

#[test]
fn a_failed_batch_is_retried_and_a_full_buffer_refuses_new_requests() {
    let (mut state, mut root_host) = vm(
        json!({"cluster": "collector", "flush_interval_ms": 10, "batch_max_records": 1, "buffer_max_records": 2}),
    );
    let bearer = format!("Bearer {}", token());
    serve(&mut state, Some(&bearer), NOW_MS);
    root_host.now_ms = NOW_MS + 100;
    root::tick(&mut state, &mut root_host);
    let first = root_host.calls.last().unwrap().token;
    root::on_call_response(
        &mut state,
        &mut root_host,
        first,
        &CallResponse {
            status: Some(503),
            body: None,
        },
    );
    assert_eq!(root_host.counter("jitgate.audit.batches_failed"), 1);

    serve(&mut state, Some(&bearer), NOW_MS + 200);
    let refused = serve(&mut state, Some(&bearer), NOW_MS + 300);
    let response = refused.response.expect("refused");
    assert_eq!(response.status, 503);
    assert!(response.body.contains("audit_unavailable"));
    assert_eq!(response.header("retry-after"), Some("1"));

    root_host.now_ms = NOW_MS + 10_000;
    root::tick(&mut state, &mut root_host);
    let retry = root_host.calls.last().unwrap().clone();
    assert_ne!(retry.token, first);
    assert_eq!(
        records_in(&root_host.posted[&retry.token])[0].sequence,
        1,
        "the same record, in order"
    );
    assert_eq!(root_host.counter("jitgate.audit.retried"), 1);
    root::on_call_response(
        &mut state,
        &mut root_host,
        retry.token,
        &CallResponse {
            status: Some(200),
            body: None,
        },
    );
    let served = serve(&mut state, Some(&bearer), NOW_MS + 10_100);
    assert_eq!(served.response, None, "room again: requests pass");
}

#[test]
fn an_acknowledged_batch_is_followed_at_once_by_the_next_full_one_not_a_tick_later() {
    let (mut state, mut root_host) = vm(
        json!({"cluster": "collector", "flush_interval_ms": 60000, "batch_max_records": 2, "buffer_max_records": 10, "max_batches_in_flight": 1}),
    );
    let bearer = format!("Bearer {}", token());
    for offset in 0..5 {
        serve(&mut state, Some(&bearer), NOW_MS + offset);
    }
    root::tick(&mut state, &mut root_host);
    let sequences_posted = |host: &FakeHost, token: u32| -> Vec<u64> {
        records_in(&host.posted[&token])
            .iter()
            .map(|record| record.sequence)
            .collect()
    };
    let first = root_host.calls.last().unwrap().token;
    assert_eq!(sequences_posted(&root_host, first), vec![1, 2]);
    let accepted = CallResponse {
        status: Some(200),
        body: None,
    };
    root::on_call_response(&mut state, &mut root_host, first, &accepted);
    let second = root_host.calls.last().unwrap().token;
    assert_ne!(second, first, "the next full batch went out with no tick");
    assert_eq!(sequences_posted(&root_host, second), vec![3, 4]);
    root::on_call_response(&mut state, &mut root_host, second, &accepted);
    assert_eq!(
        root_host.calls.last().map(|call| call.token),
        Some(second),
        "one record left: not a full batch, and not yet old enough"
    );
    assert_eq!(root_host.counter("jitgate.audit.sent"), 4);
}

#[test]
fn drop_oldest_keeps_serving_and_counts() {
    let (mut state, _) = vm(
        json!({"cluster": "collector", "batch_max_records": 1, "buffer_max_records": 2, "overflow": "drop_oldest"}),
    );
    let bearer = format!("Bearer {}", token());
    let mut root_host = FakeHost::at(NOW_MS);
    for offset in 0..4 {
        let host = serve(&mut state, Some(&bearer), NOW_MS + offset);
        assert_eq!(host.response, None);
        root::publish_metrics(&mut state, &mut root_host);
        assert_eq!(
            root_host.counter("jitgate.audit.dropped"),
            offset.saturating_sub(1)
        );
    }
}

#[test]
fn a_backlog_goes_out_as_several_batches_at_once() {
    let (mut state, mut root_host) = vm(
        json!({"cluster": "collector", "flush_interval_ms": 60000, "batch_max_records": 2, "buffer_max_records": 20, "max_batches_in_flight": 3}),
    );
    let bearer = format!("Bearer {}", token());
    for offset in 0..9 {
        serve(&mut state, Some(&bearer), NOW_MS + offset);
    }
    root::tick(&mut state, &mut root_host);
    let posted: Vec<Vec<u64>> = root_host
        .calls
        .iter()
        .map(|call| {
            records_in(&root_host.posted[&call.token])
                .iter()
                .map(|record| record.sequence)
                .collect()
        })
        .collect();
    assert_eq!(posted, vec![vec![1, 2], vec![3, 4], vec![5, 6]]);
    // The last answered first: nothing leaves the buffer before the batches ahead of it.
    let accepted = CallResponse {
        status: Some(200),
        body: None,
    };
    let tokens: Vec<u32> = root_host.calls.iter().map(|call| call.token).collect();
    root::on_call_response(&mut state, &mut root_host, tokens[2], &accepted);
    assert_eq!(root_host.gauges.get("jitgate.audit.buffer_depth"), Some(&9));
    root::on_call_response(&mut state, &mut root_host, tokens[0], &accepted);
    root::on_call_response(&mut state, &mut root_host, tokens[1], &accepted);
    assert_eq!(root_host.counter("jitgate.audit.sent"), 6);
    assert!(
        state.audit.as_ref().unwrap().depth() <= 3,
        "records 1 to 6 left the buffer"
    );
}
