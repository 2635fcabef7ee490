//! Issuer audit events reach the collector as OTLP/HTTP JSON audit records that the shared
//! mapping (the one the collector validates with) reads back, in one stream, gapless.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, Method, StatusCode};
use common::{ask, TestIssuer, SMALL_MODEL, TRAINING};
use jitgate_grant::audit::{AuditDecision, AuditRecord};
use jitgate_issuer::events::{spawn_exporter, ExporterSettings};
use serde_json::{json, Value};

const CREDENTIAL: &str = "collector-sender-credential-for-tests";

/// What the stub collector received: the Authorization header and the body of each POST.
type Received = Arc<Mutex<Vec<(Option<String>, Value)>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_events_are_exported_as_audit_records() {
    let received: Received = Arc::default();
    let sink = Arc::clone(&received);
    let collector = axum::Router::new().route(
        "/v1/logs",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let sink = Arc::clone(&sink);
            async move {
                let auth = headers
                    .get("authorization")
                    .map(|v| v.to_str().unwrap().to_owned());
                sink.lock()
                    .unwrap()
                    .push((auth, serde_json::from_str(&body).unwrap()));
                (StatusCode::OK, "{}")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, collector).await });

    let events = spawn_exporter(ExporterSettings {
        endpoint,
        credential: CREDENTIAL.into(),
        authority: "issuer.jitgate.test".into(),
    })
    .unwrap();
    let issuer = TestIssuer::sqlite_with_events(events).await;

    let auto = issuer
        .request("alice", ask(&[SMALL_MODEL], "1h", "r"))
        .await;
    let auto_id = auto["id"].as_str().unwrap().to_owned();
    let minted = issuer
        .call(
            Method::POST,
            &format!("/v1/grants/{auto_id}/token"),
            Some("alice"),
            None,
        )
        .await;
    let token = minted.body["token"].as_str().unwrap().to_owned();
    issuer
        .post(
            &format!("/v1/grants/{auto_id}/revoke"),
            Some("alice"),
            json!({}),
        )
        .await;
    let reviewed = issuer.request("alice", ask(&[TRAINING], "1h", "r")).await;
    let reviewed_id = reviewed["id"].as_str().unwrap().to_owned();
    issuer
        .post(
            &format!("/v1/requests/{reviewed_id}/approve"),
            Some("bob"),
            json!({}),
        )
        .await;
    let denied = issuer.request("alice", ask(&[TRAINING], "1h", "r")).await;
    let denied_id = denied["id"].as_str().unwrap().to_owned();
    issuer
        .post(
            &format!("/v1/requests/{denied_id}/deny"),
            Some("bob"),
            json!({"comment": "no"}),
        )
        .await;

    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let records: Vec<AuditRecord> = loop {
        let batches = received.lock().unwrap().clone();
        let records: Vec<AuditRecord> = batches
            .iter()
            .flat_map(|(auth, batch)| {
                assert_eq!(
                    auth.as_deref(),
                    Some(format!("Bearer {CREDENTIAL}").as_str())
                );
                assert_eq!(
                    batch["resourceLogs"][0]["resource"]["attributes"][0]["value"]["stringValue"],
                    "jitgate-issuer"
                );
                batch["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
                    .as_array()
                    .unwrap()
                    .clone()
            })
            .map(|record| AuditRecord::from_otlp_log_record(&record).unwrap())
            .collect();
        if records.len() >= 8 || std::time::Instant::now() > deadline {
            break records;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let summary: Vec<(String, AuditDecision, String, u16)> = records
        .iter()
        .map(|r| (r.reason.clone(), r.decision, r.path.clone(), r.status))
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "issuer.requested".into(),
                AuditDecision::Allow,
                "/v1/requests".into(),
                201
            ),
            (
                "issuer.approved".into(),
                AuditDecision::Allow,
                "/v1/requests".into(),
                201
            ),
            (
                "issuer.token_minted".into(),
                AuditDecision::Allow,
                format!("/v1/grants/{auto_id}/token"),
                200
            ),
            (
                "issuer.revoked".into(),
                AuditDecision::Deny,
                format!("/v1/grants/{auto_id}/revoke"),
                200
            ),
            (
                "issuer.requested".into(),
                AuditDecision::Allow,
                "/v1/requests".into(),
                201
            ),
            (
                "issuer.approved".into(),
                AuditDecision::Allow,
                format!("/v1/requests/{reviewed_id}/approve"),
                200
            ),
            (
                "issuer.requested".into(),
                AuditDecision::Allow,
                "/v1/requests".into(),
                201
            ),
            (
                "issuer.denied".into(),
                AuditDecision::Deny,
                format!("/v1/requests/{denied_id}/deny"),
                200
            ),
        ]
    );
    let stream = &records[0].stream_id;
    assert!(stream.starts_with("issuer-"));
    for (index, record) in records.iter().enumerate() {
        assert_eq!(&record.stream_id, stream);
        assert_eq!(record.sequence, index as u64 + 1);
        assert_eq!(record.route.as_deref(), Some("issuer"));
        assert_eq!(record.subject.as_deref(), Some("alice"));
        assert_eq!(record.authority, "issuer.jitgate.test");
        assert_eq!(record.time_unix_nano, common::START as u64 * 1_000_000_000);
    }
    assert_eq!(records[2].grant_id.as_deref(), Some(auto_id.as_str()));
    assert_eq!(records[2].scopes_granted, vec![SMALL_MODEL.to_owned()]);
    assert_eq!(
        records[2].token_digest,
        Some(jitgate_grant::TokenDigest::of(&token).to_hex())
    );
    assert_eq!(records[5].approvers, vec!["bob".to_owned()]);
    // The token itself never leaves the issuer in an event.
    let everything = format!("{:?}", received.lock().unwrap());
    assert!(!everything.contains(&token));
}
