//! Audit streaming through a real Envoy (two workers) to a collector (the stub's OTLP sink):
//! every request gets a record with who, what and usage; a collector outage under load loses
//! nothing and duplicates nothing; and with the `deny` overflow policy a full buffer turns into
//! quick 503s that clear when the collector returns.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jitgate_e2e::gate::conformance_plugin_configuration;
use jitgate_e2e::stub::feed::FeedRoute;
use jitgate_e2e::tokens::grant_token;
use jitgate_e2e::{LocalStack, RawRequest, StackOptions};
use jitgate_grant::audit::{AuditDecision, AuditRecord};
use serde_json::{json, Value};

const SCOPE: &str = "inference:meta-llama/Llama-3.1-8B-Instruct";

fn stack(audit: Value) -> LocalStack {
    let mut configuration = conformance_plugin_configuration(200);
    configuration["audit"] = audit;
    LocalStack::start(StackOptions {
        plugin_configuration: configuration.to_string(),
        ..StackOptions::default()
    })
    .expect("the stack starts")
}

fn chat(stack: &LocalStack, authorization: &str, body: &str) -> jitgate_e2e::RawResponse {
    let headers = [
        ("authorization", authorization),
        ("content-type", "application/json"),
        ("user-agent", "e2e-audit"),
    ];
    stack
        .envoy
        .raw(RawRequest {
            method: "POST",
            target: "/v1/chat/completions",
            headers: &headers,
            body: body.as_bytes(),
        })
        .expect("Envoy answers")
}

fn records(stack: &LocalStack) -> Vec<AuditRecord> {
    stack
        .collector
        .accepted_log_records()
        .iter()
        .map(|record| AuditRecord::from_otlp_log_record(record).expect("a jitgate audit record"))
        .collect()
}

/// Checks each stream's sequence is 1..=n with no gap, and no (stream, sequence) arrived
/// twice with different content; returns the distinct records.
fn distinct_without_gaps(records: Vec<AuditRecord>) -> Vec<AuditRecord> {
    let mut by_key: BTreeMap<(String, u64), AuditRecord> = BTreeMap::new();
    for record in records {
        let key = (record.stream_id.clone(), record.sequence);
        if let Some(earlier) = by_key.get(&key) {
            assert_eq!(earlier, &record, "a replay must be identical");
        }
        by_key.insert(key, record);
    }
    let mut streams: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for (stream, sequence) in by_key.keys() {
        streams.entry(stream.clone()).or_default().push(*sequence);
    }
    for (stream, sequences) in &streams {
        let expected: Vec<u64> = (1..=sequences.len() as u64).collect();
        assert_eq!(sequences, &expected, "stream {stream} has gaps");
    }
    by_key.into_values().collect()
}

#[test]
fn each_request_is_recorded_once_with_who_what_and_usage() {
    let stack = stack(json!({"cluster": "collector", "flush_interval_ms": 100}));
    let bearer = format!("Bearer {}", grant_token("recorded", SCOPE));
    let json_call = chat(
        &stack,
        &bearer,
        r#"{"model":"meta-llama/Llama-3.1-8B-Instruct","messages":[]}"#,
    );
    assert_eq!(json_call.status, 200);
    let streamed = chat(
        &stack,
        &bearer,
        r#"{"model":"meta-llama/Llama-3.1-8B-Instruct","stream":true,"messages":[]}"#,
    );
    assert_eq!(streamed.status, 200);
    let refused = chat(&stack, &bearer, r#"{"model":"gpt-4o","messages":[]}"#);
    assert_eq!(refused.status, 403);
    stack
        .collector
        .wait_for_log_records(3, Duration::from_secs(10))
        .expect("three records arrive");
    let records = distinct_without_gaps(records(&stack));
    assert_eq!(records.len(), 3);

    let allowed: Vec<&AuditRecord> = records
        .iter()
        .filter(|r| r.decision == AuditDecision::Allow)
        .collect();
    assert_eq!(allowed.len(), 2);
    for record in &allowed {
        assert_eq!(record.subject.as_deref(), Some("alice@example.com"));
        assert_eq!(record.grant_id.as_deref(), Some("grant-recorded"));
        assert_eq!(
            record.model.as_deref(),
            Some("meta-llama/Llama-3.1-8B-Instruct")
        );
        assert_eq!(
            (record.input_tokens, record.output_tokens),
            (Some(11), Some(7)),
            "usage from JSON and from the SSE usage chunk"
        );
        assert_eq!(record.status, 200);
        assert_eq!(record.client_address.as_deref(), Some("127.0.0.1"));
        assert_eq!(record.user_agent.as_deref(), Some("e2e-audit"));
        assert!(record.request_bytes > 0 && record.response_bytes > 0);
    }
    let denied = records
        .iter()
        .find(|r| r.decision == AuditDecision::Deny)
        .unwrap();
    assert_eq!(
        (denied.reason.as_str(), denied.status),
        ("insufficient_scope", 403)
    );
    assert_eq!(denied.scope_required.as_deref(), Some("inference:gpt-4o"));
    // A body-scoped refusal comes after the headers went on (proxy-wasm cannot hold them while
    // reading the body), so the model server may see the start of that request — never its
    // body, never the token.
    let seen = stack.upstream.requests();
    for request in &seen {
        assert_eq!(request.header("authorization"), None);
    }
    let refused_id = denied.request_id.clone().unwrap();
    if let Some(start) = seen
        .iter()
        .find(|r| r.header("x-request-id") == Some(refused_id.as_str()))
    {
        assert!(
            start.body.is_empty(),
            "the refused body never reached the upstream"
        );
    }
    let upstream_ids: BTreeSet<String> = seen
        .iter()
        .filter(|r| !r.body.is_empty())
        .filter_map(|r| r.header("x-request-id").map(str::to_owned))
        .collect();
    let allowed_ids: BTreeSet<String> = allowed
        .iter()
        .filter_map(|r| r.request_id.clone())
        .collect();
    assert_eq!(
        upstream_ids, allowed_ids,
        "the upstream served exactly the recorded requests"
    );
    let batches = stack.collector.accepted_logs();
    let service = batches[0].pointer("/resourceLogs/0/resource/attributes/0/value/stringValue");
    assert_eq!(service, Some(&json!("jitgate-filter")));
}

#[test]
fn a_collector_outage_under_load_loses_and_duplicates_nothing() {
    let stack = Arc::new(stack(
        json!({"cluster": "collector", "flush_interval_ms": 100, "buffer_max_records": 100000}),
    ));
    let bearer = format!("Bearer {}", grant_token("steady-load", SCOPE));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let (stack, bearer, stop) = (Arc::clone(&stack), bearer.clone(), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut statuses = BTreeMap::<u16, u64>::new();
                while !stop.load(Ordering::Relaxed) {
                    let response = chat(
                        &stack,
                        &bearer,
                        r#"{"model":"meta-llama/Llama-3.1-8B-Instruct","messages":[]}"#,
                    );
                    *statuses.entry(response.status).or_default() += 1;
                }
                statuses
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(800));
    stack.collector.fail_feed(FeedRoute::Logs, 503);
    std::thread::sleep(Duration::from_secs(3));
    stack.collector.restore_feed(FeedRoute::Logs);
    std::thread::sleep(Duration::from_millis(800));
    stop.store(true, Ordering::Relaxed);
    let mut statuses = BTreeMap::<u16, u64>::new();
    for worker in workers {
        for (status, count) in worker.join().unwrap() {
            *statuses.entry(status).or_default() += count;
        }
    }
    assert_eq!(
        statuses.keys().copied().collect::<Vec<_>>(),
        vec![200],
        "{statuses:?}"
    );

    let served: BTreeSet<String> = stack
        .upstream
        .requests()
        .iter()
        .filter_map(|r| r.header("x-request-id").map(str::to_owned))
        .collect();
    let start = Instant::now();
    let recorded = loop {
        let distinct = distinct_without_gaps(records(&stack));
        let ids: BTreeSet<String> = distinct
            .iter()
            .filter_map(|r| r.request_id.clone())
            .collect();
        if ids.len() >= served.len() || start.elapsed() > Duration::from_secs(15) {
            assert_eq!(distinct.len(), ids.len(), "one record per request");
            break ids;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(served.len() > 30, "only {} requests served", served.len());
    assert_eq!(
        recorded, served,
        "every served request has exactly one record"
    );
    assert!(
        stack
            .envoy
            .counter("jitgate_audit_batches_failed", &[])
            .unwrap()
            > 0,
        "the outage was felt"
    );
    assert_eq!(
        stack
            .envoy
            .settled_counter("jitgate_audit_dropped", &[])
            .unwrap(),
        0
    );
}

#[test]
fn a_full_buffer_under_deny_refuses_quickly_and_recovers() {
    let stack = stack(
        json!({"cluster": "collector", "flush_interval_ms": 50, "batch_max_records": 2, "buffer_max_records": 4}),
    );
    let bearer = format!("Bearer {}", grant_token("overflow", SCOPE));
    let body = r#"{"model":"meta-llama/Llama-3.1-8B-Instruct","messages":[]}"#;
    stack.collector.fail_feed(FeedRoute::Logs, 503);
    let mut refused = None;
    for _ in 0..40 {
        let started = Instant::now();
        let response = chat(&stack, &bearer, body);
        if response.status == 503 {
            let reason: Value = serde_json::from_slice(&response.body).unwrap();
            assert_eq!(reason["reason"], "audit_unavailable");
            refused = Some(started.elapsed());
            break;
        }
        assert_eq!(response.status, 200);
    }
    let took = refused.expect("requests are refused once the buffer is full");
    assert!(
        took < Duration::from_secs(2),
        "a refusal must not hang ({took:?})"
    );
    stack.collector.restore_feed(FeedRoute::Logs);
    let start = Instant::now();
    let recovered = loop {
        if (0..4).all(|_| chat(&stack, &bearer, body).status == 200) {
            break true;
        }
        if start.elapsed() > Duration::from_secs(15) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(recovered, "requests pass again once the collector is back");
    assert!(
        stack
            .envoy
            .settled_counter("jitgate_denied_audit_unavailable", &[])
            .unwrap()
            > 0
    );
}
