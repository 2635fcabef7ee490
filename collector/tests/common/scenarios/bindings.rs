//! Sender bindings: each credential writes only its own kind of record in its own streams.
//! A gateway credential that forges the next sequence numbers of another sender's stream is
//! refused whole — otherwise the forgery would be stored first and the genuine records would
//! arrive as conflicts — and the genuine records then land and verify.

use std::collections::BTreeMap;

use jitgate_collector::ingest::protobuf::client::read_error_infos;

use super::*;

const GATEWAY_STREAM: &str = "gw-eu-18c2f3a4b5c-0a1b2c3d";
const ISSUER_STREAM: &str = "issuer-00000000000000ff";

/// The `google.rpc.Status` JSON of a batch refused for its sender's binding.
fn refusal(message: &str, reason: &str, metadata: Value) -> Value {
    json!({"code": 7, "message": message, "details": [{
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "jitgate-collector",
        "metadata": metadata,
    }]})
}

pub async fn refuses_a_forged_stream_whole_and_the_genuine_records_then_land_and_verify(
    backend: Backend,
) {
    let harness = Harness::new(backend).await;
    let mut genuine = issuer_events(ISSUER_STREAM, 1..=2);
    genuine.extend(records(GATEWAY_STREAM, [1]));
    let answer = harness.post_records_as(ISSUER, &genuine[..2]).await;
    assert_eq!(answer.json(), json!({}));
    let answer = harness.post_records_as(OTHER_GATEWAY, &genuine[2..]).await;
    assert_eq!(answer.json(), json!({}));
    let streams_before = harness.get("/v1/streams").await.json();

    // The `vm-` gateway forges the other deployment's next two records among its own.
    let mut forged = records(GATEWAY_STREAM, [2, 3]);
    for record in &mut forged {
        record.subject = Some("mallory@example.com".into());
    }
    let mut batch = records("vm-1", 1..=2);
    batch.extend(forged.clone());
    let answer = harness.post_records(&batch).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.content_type(), "application/json");
    assert_eq!(
        answer.json(),
        refusal(
            "resourceLogs[0].scopeLogs[0].logRecords[2]: stream \"gw-eu-18c2f3a4b5c-0a1b2c3d\" \
             is not this sender's: its credential writes streams starting \"vm-\" (2 of 4 \
             records outside the credential's binding); nothing stored",
            "stream_not_permitted",
            json!({
                "stream_id": GATEWAY_STREAM,
                "position": "resourceLogs[0].scopeLogs[0].logRecords[2]",
                "record_kind": "gateway",
                "permitted_kind": "gateway",
                "permitted_stream_prefix": "vm-",
            }),
        )
    );

    // …and the issuer's next record, in protobuf: the same refusal in the same encoding.
    let answer = harness
        .post(
            "application/x-protobuf",
            protobuf_request(&records(ISSUER_STREAM, [3])),
            Some(SENDER),
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.content_type(), "application/x-protobuf");
    assert_eq!(
        read_status(&answer.body).unwrap(),
        (
            7,
            "resourceLogs[0].scopeLogs[0].logRecords[0]: stream \"issuer-00000000000000ff\" is \
             not this sender's: its credential writes streams starting \"vm-\" (1 of 1 records \
             outside the credential's binding); nothing stored"
                .to_owned()
        )
    );
    let metadata: BTreeMap<String, String> = [
        ("permitted_kind", "gateway"),
        ("permitted_stream_prefix", "vm-"),
        ("position", "resourceLogs[0].scopeLogs[0].logRecords[0]"),
        ("record_kind", "gateway"),
        ("stream_id", ISSUER_STREAM),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(
        read_error_infos(&answer.body).unwrap(),
        vec![(
            "stream_not_permitted".to_owned(),
            "jitgate-collector".to_owned(),
            metadata
        )]
    );

    // Nothing changed: not the forger's own records either, nor any stream.
    assert_eq!(harness.size().await, 3);
    assert_eq!(harness.get("/v1/streams").await.json(), streams_before);
    assert_eq!(
        harness
            .metric("jitgate_collector_batches_forbidden_total")
            .await,
        2
    );
    assert_eq!(
        harness
            .metric("jitgate_collector_records_stored_total")
            .await,
        3
    );

    // The genuine records land, none as a conflict; the forger's own records alone are fine.
    let later_gateway = records(GATEWAY_STREAM, [2, 3]);
    let later_issuer = issuer_events(ISSUER_STREAM, [3]);
    let own = records("vm-1", 1..=2);
    assert_eq!(
        harness
            .post_records_as(OTHER_GATEWAY, &later_gateway)
            .await
            .json(),
        json!({})
    );
    assert_eq!(
        harness.post_records_as(ISSUER, &later_issuer).await.json(),
        json!({})
    );
    assert_eq!(harness.post_records(&own).await.json(), json!({}));
    genuine.extend(later_gateway);
    genuine.extend(later_issuer);
    genuine.extend(own);
    assert_eq!(
        harness
            .metric("jitgate_collector_records_rejected_conflict_total")
            .await,
        0
    );

    // The export verifies, gapless, and commits to exactly the genuine records.
    let report = verify_text(&harness.export("").await, None).unwrap();
    assert_eq!(report.records, 8);
    assert_eq!(report.checkpoint.root, root_of(&genuine));
    assert!(report.streams_with_gaps().is_empty());
    let stored: Vec<AuditRecord> = harness
        .get("/v1/records")
        .await
        .text()
        .lines()
        .map(|line| {
            let line: Value = serde_json::from_str(line).unwrap();
            AuditRecord::from_otlp_log_record(&line["record"]).unwrap()
        })
        .collect();
    assert_eq!(stored, genuine);
    assert!(stored
        .iter()
        .all(|r| r.subject.as_deref() != Some("mallory@example.com")));
}

pub async fn refuses_a_gateway_credential_writing_issuer_events_and_the_reverse(backend: Backend) {
    let harness = Harness::new(backend).await;
    let position = "resourceLogs[0].scopeLogs[0].logRecords[0]";
    let mut reason_only = records("vm-1", [1]);
    reason_only[0].reason = "issuer.revoked".into();
    let mut route_only = records("vm-1", [1]);
    route_only[0].route = Some("issuer".into());
    for forged in [issuer_events("vm-1", [1]), reason_only, route_only] {
        let answer = harness.post_records_as(SENDER, &forged).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.text());
        assert_eq!(
            answer.json(),
            refusal(
                "resourceLogs[0].scopeLogs[0].logRecords[0]: an issuer record in stream \
                 \"vm-1\": this sender's credential writes gateway records only (1 of 1 records \
                 outside the credential's binding); nothing stored",
                "record_kind_not_permitted",
                json!({
                    "stream_id": "vm-1",
                    "position": position,
                    "record_kind": "issuer",
                    "permitted_kind": "gateway",
                    "permitted_stream_prefix": "vm-",
                }),
            )
        );
    }
    // The issuer's credential cannot write gateway records, even in its own streams.
    let answer = harness
        .post_records_as(ISSUER, &records(ISSUER_STREAM, [1]))
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(
        answer.json(),
        refusal(
            "resourceLogs[0].scopeLogs[0].logRecords[0]: a gateway record in stream \
             \"issuer-00000000000000ff\": this sender's credential writes issuer records only \
             (1 of 1 records outside the credential's binding); nothing stored",
            "record_kind_not_permitted",
            json!({
                "stream_id": ISSUER_STREAM,
                "position": position,
                "record_kind": "gateway",
                "permitted_kind": "issuer",
                "permitted_stream_prefix": "issuer-",
            }),
        )
    );
    // Nor issuer events in a gateway's stream.
    let answer = harness
        .post_records_as(ISSUER, &issuer_events("vm-1", [1]))
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(
        answer.json()["details"][0]["reason"],
        "stream_not_permitted"
    );
    // A forged record beside an invalid one: the batch is refused for the forgery, and the
    // invalid record is not even counted.
    let mut request = request_value(&[records("vm-1", [1]), issuer_events("vm-1", [2])].concat());
    without_attribute(&mut log_records(&mut request)[0], "jitgate.decision");
    let answer = harness
        .post(
            "application/json",
            request.to_string().into_bytes(),
            Some(SENDER),
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(
        answer.json()["details"][0]["metadata"]["position"],
        "resourceLogs[0].scopeLogs[0].logRecords[1]"
    );
    assert_eq!(harness.size().await, 0);
    assert_eq!(
        harness
            .metric("jitgate_collector_records_rejected_invalid_total")
            .await,
        0
    );
    assert_eq!(
        harness
            .metric("jitgate_collector_batches_forbidden_total")
            .await,
        6
    );
    // Each credential's own kind, in its own streams, is stored.
    assert_eq!(
        harness
            .post_records_as(ISSUER, &issuer_events(ISSUER_STREAM, 1..=2))
            .await
            .json(),
        json!({})
    );
    assert_eq!(
        harness.post_records(&records("vm-1", 1..=2)).await.json(),
        json!({})
    );
    assert_eq!(harness.size().await, 4);
}
