//! The collector's behaviour, one scenario per function, each run on SQLite and on
//! PostgreSQL by `tests/sqlite.rs` and `tests/postgres.rs`.

use std::time::Duration;

use axum::http::StatusCode;
use jitgate_collector::audit_log::CheckpointPolicy;
use jitgate_collector::canonical::{record_canonical_json, record_leaf_hash};
use jitgate_collector::checkpoint::Checkpoint;
use jitgate_collector::export::{csv::HEADER as CSV_HEADER, decode_hashes};
use jitgate_collector::ingest::protobuf::client::{read_response, read_status};
use jitgate_collector::merkle::{verify_consistency, verify_inclusion, Frontier, Hash};
use jitgate_collector::note::NoteVerifier;
use jitgate_collector::store::Store;
use jitgate_collector::verify::TrustedCheck;
use jitgate_collector::{verify, ExportFormat, GapPolicy, VerifyOptions, VerifyReport};
use jitgate_grant::audit::{AuditDecision, AuditRecord};
use serde_json::{json, Value};

use super::*;

fn verify_text(
    text: &str,
    trusted: Option<&str>,
) -> Result<VerifyReport, jitgate_collector::VerifyError> {
    verify(
        text.as_bytes(),
        &VerifyOptions {
            key: signer().verifier().clone(),
            trusted_checkpoint: trusted.map(str::to_owned),
            gaps: GapPolicy::Fail,
        },
    )
}

fn root_of(records: &[AuditRecord]) -> Hash {
    let mut frontier = Frontier::default();
    for record in records {
        frontier.push(
            record_leaf_hash(&record_canonical_json(record)),
            &mut Vec::new(),
        );
    }
    frontier.root()
}

/// The request's JSON, to damage before sending.
fn request_value(records: &[AuditRecord]) -> Value {
    serde_json::from_slice(&json_request(records)).unwrap()
}

fn log_records(request: &mut Value) -> &mut Vec<Value> {
    request
        .pointer_mut("/resourceLogs/0/scopeLogs/0/logRecords")
        .and_then(Value::as_array_mut)
        .unwrap()
}

fn without_attribute(record: &mut Value, key: &str) {
    record["attributes"]
        .as_array_mut()
        .unwrap()
        .retain(|a| a["key"] != key);
}

pub async fn ingests_json_records(backend: Backend) {
    let harness = Harness::new(backend).await;
    let answer = harness.post_records(&records("vm-1", 1..=3)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(answer.content_type(), "application/json");
    assert_eq!(answer.json(), json!({}));
    assert_eq!(harness.size().await, 3);
    assert_eq!(
        harness.get("/v1/streams").await.json(),
        json!({"streams": [{"stream_id": "vm-1", "highest_sequence": 3, "count": 3, "missing": 0, "gaps": []}]})
    );
    assert_eq!(
        harness
            .metric("jitgate_collector_records_stored_total")
            .await,
        3
    );
    assert_eq!(
        harness
            .metric("jitgate_collector_batches_accepted_total")
            .await,
        1
    );
}

pub async fn ingests_gzip_compressed_records(backend: Backend) {
    let harness = Harness::new(backend).await;
    let sent = records("vm-z", 1..=3);
    let answer = harness
        .post_gzip("application/x-protobuf", gzip(&protobuf_request(&sent)))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(read_response(&answer.body).unwrap(), None);
    let answer = harness
        .post_gzip(
            "application/json",
            gzip(&json_request(&records("vm-z", 4..=5))),
        )
        .await;
    assert_eq!(answer.json(), json!({}));
    assert_eq!(harness.size().await, 5);
}

pub async fn ingests_protobuf_records(backend: Backend) {
    let harness = Harness::new(backend).await;
    let sent = records("vm-p", 1..=2);
    let answer = harness
        .post(
            "application/x-protobuf",
            protobuf_request(&sent),
            Some(SENDER),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(answer.content_type(), "application/x-protobuf");
    assert_eq!(read_response(&answer.body).unwrap(), None);
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
    assert_eq!(stored, sent);
}

pub async fn refuses_unauthenticated_senders_and_stores_nothing(backend: Backend) {
    let harness = Harness::new(backend).await;
    let body = json_request(&records("vm-1", 1..=2));
    for credential in [None, Some("wrong-credential-000000000"), Some(REVIEWER)] {
        let answer = harness
            .post("application/json", body.clone(), credential)
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            answer.headers.get("www-authenticate").unwrap(),
            "Bearer realm=\"jitgate-collector\""
        );
        assert_eq!(
            answer.json(),
            json!({"code": 16, "message": "missing or unknown bearer credential"})
        );
    }
    let answer = harness
        .post(
            "application/x-protobuf",
            protobuf_request(&records("vm-1", 1..=2)),
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        read_status(&answer.body).unwrap(),
        (16, "missing or unknown bearer credential".to_owned())
    );
    assert_eq!(harness.size().await, 0);
    assert_eq!(
        harness.get("/v1/streams").await.json(),
        json!({"streams": []})
    );
    assert_eq!(
        harness.metric("jitgate_collector_unauthorized_total").await,
        4
    );
}

pub async fn refuses_bodies_it_cannot_take_with_the_exact_status(backend: Backend) {
    let harness = Harness::with(
        backend,
        Options {
            max_body_bytes: 2048,
            ..Options::default()
        },
    )
    .await;
    let small = json_request(&records("vm-1", 1..=1));
    let cases: Vec<(&str, Vec<u8>, StatusCode, Value)> = vec![
        (
            "text/plain",
            small.clone(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            json!({"code": 3, "message": "Content-Type text/plain is not supported: send application/json or application/x-protobuf"}),
        ),
        (
            "",
            small.clone(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            json!({"code": 3, "message": "Content-Type is missing: send application/json or application/x-protobuf"}),
        ),
        (
            "application/json",
            json_request(&records("vm-1", 1..=10)),
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({"code": 8, "message": "request body is larger than the limit of 2048 bytes"}),
        ),
        (
            "application/json",
            br#"{"resourceLogs": ["#.to_vec(),
            StatusCode::BAD_REQUEST,
            json!({"code": 3, "message": "body is not valid JSON: EOF while parsing a list at line 1 column 18"}),
        ),
        (
            "application/json",
            br#"{"resourceLogs": {}}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            json!({"code": 3, "message": "resourceLogs: expected an array"}),
        ),
        (
            "application/json; charset=utf-8",
            br#"{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"attributes": []}, 7]}]}]}"#
                .to_vec(),
            StatusCode::BAD_REQUEST,
            json!({"code": 3, "message": "resourceLogs[0].scopeLogs[0].logRecords[1]: expected an object"}),
        ),
    ];
    for (content_type, body, status, expected) in cases {
        let mut request = axum::http::Request::post("/v1/logs")
            .header("authorization", format!("Bearer {SENDER}"));
        if !content_type.is_empty() {
            request = request.header("content-type", content_type);
        }
        let answer = harness
            .send(request.body(axum::body::Body::from(body)).unwrap())
            .await;
        assert_eq!(answer.status, status, "{content_type}: {}", answer.text());
        assert_eq!(answer.json(), expected);
    }
    let brotli = harness
        .send(
            axum::http::Request::post("/v1/logs")
                .header("authorization", format!("Bearer {SENDER}"))
                .header("content-type", "application/json")
                .header("content-encoding", "br")
                .body(axum::body::Body::from(small.clone()))
                .unwrap(),
        )
        .await;
    assert_eq!(brotli.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        brotli.json()["message"],
        "Content-Encoding br is not supported: send gzip or an uncompressed body"
    );
    // Compressed small, inflated past the limit.
    let bomb = gzip(&json_request(&records("vm-1", 1..=10)));
    assert!(bomb.len() < 2048);
    let answer = harness.post_gzip("application/json", bomb).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        answer.json(),
        json!({"code": 8, "message": "request body is larger than the limit of 2048 bytes"})
    );
    let answer = harness
        .post_gzip("application/json", b"this body is not gzip at all".to_vec())
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.json()["message"],
        "body is not valid gzip: invalid gzip header"
    );
    let answer = harness
        .post(
            "application/x-protobuf",
            b"\x0a\xff\xff".to_vec(),
            Some(SENDER),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let (code, message) = read_status(&answer.body).unwrap();
    assert_eq!(code, 3);
    assert!(
        message.starts_with("body is not a valid protobuf ExportLogsServiceRequest: "),
        "{message}"
    );
    assert_eq!(harness.size().await, 0);
    assert_eq!(
        harness
            .metric("jitgate_collector_batches_refused_total")
            .await,
        10
    );
}

pub async fn refuses_a_batch_of_only_invalid_records(backend: Backend) {
    let harness = Harness::new(backend).await;
    let mut request = request_value(&records("vm-1", [0, 2]));
    without_attribute(&mut log_records(&mut request)[1], "jitgate.decision");
    let answer = harness
        .post(
            "application/json",
            request.to_string().into_bytes(),
            Some(SENDER),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.json(),
        json!({"code": 3, "message": "2 of 2 log records rejected: \
            resourceLogs[0].scopeLogs[0].logRecords[0]: jitgate.stream.sequence: sequences start at 1; \
            resourceLogs[0].scopeLogs[0].logRecords[1]: jitgate.decision: missing"})
    );
    assert_eq!(harness.size().await, 0);
}

pub async fn stores_valid_records_and_rejects_the_rest_with_partial_success(backend: Backend) {
    let harness = Harness::new(backend).await;
    let mut request = request_value(&records("vm-1", 1..=3));
    without_attribute(&mut log_records(&mut request)[1], "jitgate.stream.id");
    let answer = harness
        .post(
            "application/json",
            request.to_string().into_bytes(),
            Some(SENDER),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.json(),
        json!({"partialSuccess": {
            "rejectedLogRecords": "1",
            "errorMessage": "1 of 3 log records rejected: resourceLogs[0].scopeLogs[0].logRecords[1]: jitgate.stream.id: missing"
        }})
    );
    assert_eq!(harness.size().await, 2);
    assert_eq!(
        harness
            .metric("jitgate_collector_records_rejected_invalid_total")
            .await,
        1
    );
    let streams = harness.get("/v1/streams").await.json();
    assert_eq!(streams["streams"][0]["gaps"], json!([{"from": 2, "to": 2}]));
}

pub async fn partial_success_in_protobuf(backend: Backend) {
    let harness = Harness::new(backend).await;
    let mut request = request_value(&records("vm-1", 1..=2));
    without_attribute(
        &mut log_records(&mut request)[0],
        "http.response.status_code",
    );
    let body = jitgate_collector::ingest::protobuf::client::export_request(&request);
    let answer = harness
        .post("application/x-protobuf", body, Some(SENDER))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        read_response(&answer.body).unwrap(),
        Some((
            1,
            "1 of 2 log records rejected: resourceLogs[0].scopeLogs[0].logRecords[0]: http.response.status_code: missing".to_owned()
        ))
    );
    assert_eq!(harness.size().await, 1);
}

pub async fn stores_a_replayed_batch_once(backend: Backend) {
    let harness = Harness::new(backend).await;
    let batch = records("vm-1", 1..=3);
    for _ in 0..2 {
        let answer = harness.post_records(&batch).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.json(), json!({}));
    }
    assert_eq!(harness.size().await, 3);
    assert_eq!(
        harness
            .metric("jitgate_collector_records_duplicate_total")
            .await,
        3
    );
    // A record repeated inside one batch is stored once too.
    let mut repeated = records("vm-1", [4, 4]);
    repeated.extend(records("vm-1", [5]));
    assert_eq!(harness.post_records(&repeated).await.json(), json!({}));
    assert_eq!(harness.size().await, 5);
    assert_eq!(
        harness
            .metric("jitgate_collector_records_duplicate_total")
            .await,
        4
    );
    assert_eq!(
        harness
            .metric("jitgate_collector_records_stored_total")
            .await,
        5
    );
}

pub async fn rejects_and_counts_a_conflicting_replay(backend: Backend) {
    let harness = Harness::new(backend).await;
    harness.post_records(&records("vm-1", 1..=2)).await;
    let mut changed = records("vm-1", [2]);
    changed[0].status = 500;
    let mut batch = changed.clone();
    batch.extend(records("vm-1", [3]));
    let answer = harness.post_records(&batch).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.json(),
        json!({"partialSuccess": {
            "rejectedLogRecords": "1",
            "errorMessage": "1 of 2 log records rejected: resourceLogs[0].scopeLogs[0].logRecords[0]: stream \"vm-1\" sequence 2 is already stored with different content"
        }})
    );
    assert_eq!(harness.size().await, 3);
    let answer = harness.post_records(&changed).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.json()["message"],
        "1 of 1 log records rejected: resourceLogs[0].scopeLogs[0].logRecords[0]: stream \"vm-1\" sequence 2 is already stored with different content"
    );
    // Two different records under one key in the same batch: the first wins.
    let mut twins = records("vm-1", [4]);
    let mut twin = twins[0].clone();
    twin.reason = "other".into();
    twins.push(twin);
    let answer = harness.post_records(&twins).await;
    assert_eq!(answer.json()["partialSuccess"]["rejectedLogRecords"], "1");
    assert_eq!(harness.size().await, 4);
    assert_eq!(
        harness
            .metric("jitgate_collector_records_rejected_conflict_total")
            .await,
        3
    );
    let stored = harness.get("/v1/records").await.text();
    let second: Value = serde_json::from_str(stored.lines().nth(1).unwrap()).unwrap();
    assert_eq!(
        AuditRecord::from_otlp_log_record(&second["record"])
            .unwrap()
            .status,
        200
    );
}

pub async fn reports_gaps_per_stream(backend: Backend) {
    let harness = Harness::new(backend).await;
    harness.post_records(&records("vm-1", [1, 2, 5, 9])).await;
    harness.post_records(&records("vm-2", [3])).await;
    assert_eq!(
        harness.get("/v1/streams").await.json(),
        json!({"streams": [
            {"stream_id": "vm-1", "highest_sequence": 9, "count": 4, "missing": 5,
             "gaps": [{"from": 3, "to": 4}, {"from": 6, "to": 8}]},
            {"stream_id": "vm-2", "highest_sequence": 3, "count": 1, "missing": 2,
             "gaps": [{"from": 1, "to": 2}]},
        ]})
    );
    assert_eq!(
        harness.metric("jitgate_collector_streams_with_gaps").await,
        2
    );
    assert_eq!(
        harness.metric("jitgate_collector_missing_sequences").await,
        7
    );
    harness.post_records(&records("vm-1", [3, 4])).await;
    let streams = harness.get("/v1/streams").await.json();
    assert_eq!(streams["streams"][0]["gaps"], json!([{"from": 6, "to": 8}]));
    assert_eq!(
        harness.metric("jitgate_collector_missing_sequences").await,
        5
    );
}

pub async fn signs_checkpoints_every_n_records(backend: Backend) {
    let harness = Harness::with(
        backend,
        Options {
            policy: CheckpointPolicy {
                every_records: 4,
                every: Duration::from_secs(3600),
            },
            ..Options::default()
        },
    )
    .await;
    let size_line = |note: String| note.lines().nth(1).unwrap().to_owned();
    assert_eq!(
        size_line(harness.get_as("/v1/checkpoint", None).await.text()),
        "0"
    );
    harness.post_records(&records("vm-1", 1..=3)).await;
    assert_eq!(
        size_line(harness.get_as("/v1/checkpoint", None).await.text()),
        "0"
    );
    harness.post_records(&records("vm-1", 4..=5)).await;
    assert_eq!(
        size_line(harness.get_as("/v1/checkpoint", None).await.text()),
        "5"
    );
    assert_eq!(
        harness
            .metric("jitgate_collector_checkpoints_signed_total")
            .await,
        2
    );
    assert_eq!(harness.metric("jitgate_collector_checkpoint_size").await, 5);
    let at_five = harness.get_as("/v1/checkpoints/5", None).await;
    assert_eq!(at_five.status, StatusCode::OK);
    assert_eq!(at_five.content_type(), "text/plain; charset=utf-8");
    let missing = harness.get_as("/v1/checkpoints/3", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(
        missing.json(),
        json!({"error": "not_found", "message": "no checkpoint was signed at tree size 3"})
    );
}

pub async fn checkpoint_verifies_with_the_served_key(backend: Backend) {
    let harness = Harness::new(backend).await;
    let sent = records("vm-1", 1..=7);
    harness.post_records(&sent).await;
    harness.collector.log().checkpoint_now().await.unwrap();
    let note = harness.get_as("/v1/checkpoint", None).await.text();
    let key = harness.get_as("/v1/checkpoint/key", None).await.text();
    assert_eq!(key, format!("{}\n", signer().verifier()));
    let verifier = NoteVerifier::parse(&key).unwrap();
    let checkpoint = Checkpoint::open(&note, &verifier).unwrap();
    assert_eq!(checkpoint.origin, ORIGIN);
    assert_eq!(checkpoint.size, 7);
    assert_eq!(checkpoint.root, root_of(&sent));
    let lines: Vec<&str> = note.lines().collect();
    assert_eq!(lines[0], ORIGIN);
    assert_eq!(lines[1], "7");
    assert_eq!(lines[3], "");
    assert!(lines[4].starts_with(&format!("\u{2014} {ORIGIN} ")));
    assert_eq!(lines.len(), 5);
}

pub async fn serves_proofs_against_signed_checkpoints(backend: Backend) {
    let harness = Harness::new(backend).await;
    let sent = records("vm-1", 1..=9);
    harness.post_records(&sent[..6]).await;
    let six = harness.collector.log().checkpoint_now().await.unwrap();
    harness.post_records(&sent[6..]).await;
    let nine = harness.collector.log().checkpoint_now().await.unwrap();
    let answer = harness.get("/v1/proofs/inclusion?index=2&size=6").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let proof: Vec<String> = serde_json::from_value(answer.json()["proof"].clone()).unwrap();
    let leaf = record_leaf_hash(&record_canonical_json(&sent[2]));
    verify_inclusion(2, 6, &leaf, &decode_hashes(&proof).unwrap(), &six.root).unwrap();
    let answer = harness.get("/v1/proofs/consistency?from=6&to=9").await;
    let proof: Vec<String> = serde_json::from_value(answer.json()["proof"].clone()).unwrap();
    verify_consistency(6, 9, &decode_hashes(&proof).unwrap(), &six.root, &nine.root).unwrap();
    let unsigned = harness.get("/v1/proofs/inclusion?index=2&size=7").await;
    assert_eq!(unsigned.status, StatusCode::NOT_FOUND);
    let beyond = harness.get("/v1/proofs/inclusion?index=9&size=9").await;
    assert_eq!(beyond.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        beyond.json()["message"],
        "leaf index 9 is not in a tree of size 9"
    );
}

pub async fn queries_records_with_filters(backend: Backend) {
    let harness = Harness::new(backend).await;
    let mut sent = records("vm-1", 1..=20);
    for record in sent.iter_mut().filter(|r| r.sequence % 5 == 0) {
        record.decision = AuditDecision::Deny;
        record.reason = "scope_not_granted".into();
    }
    harness.post_records(&sent).await;
    let query = |path: &str| {
        let harness = &harness;
        let path = path.to_owned();
        async move {
            let answer = harness.get(&path).await;
            assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.text());
            assert_eq!(answer.content_type(), "application/jsonl");
            answer
                .text()
                .lines()
                .map(|line| {
                    let line: Value = serde_json::from_str(line).unwrap();
                    AuditRecord::from_otlp_log_record(&line["record"])
                        .unwrap()
                        .sequence
                })
                .collect::<Vec<u64>>()
        }
    };
    assert_eq!(query("/v1/records").await, (1..=20).collect::<Vec<_>>());
    assert_eq!(
        query("/v1/records?decision=deny").await,
        vec![5, 10, 15, 20]
    );
    assert_eq!(
        query("/v1/records?subject=user1@example.com").await,
        vec![1, 14]
    );
    assert_eq!(query("/v1/records?grant=g-3&decision=allow").await, vec![3]);
    assert_eq!(
        query("/v1/records?model=meta-llama/Llama-3.1-8B-Instruct")
            .await
            .len(),
        20
    );
    // sample_record times are 1 ms apart from 2026-01-01T00:00:00Z + 1 ms.
    assert_eq!(
        query("/v1/records?from=2026-01-01T00:00:00.003Z&to=2026-01-01T00:00:00.006Z").await,
        vec![3, 4, 5]
    );
    // A record that arrives late (a retry after an outage) sits after later ones in the log
    // and is still found by its time; an export of that range proves all four.
    let mut late = records("vm-late", [1]);
    late[0].time_unix_nano = sent[3].time_unix_nano;
    harness.post_records(&late).await;
    let range = "from=2026-01-01T00:00:00.003Z&to=2026-01-01T00:00:00.006Z";
    assert_eq!(
        query(&format!("/v1/records?{range}")).await,
        vec![3, 4, 5, 1]
    );
    let report = verify_text(&harness.export(range).await, None).unwrap();
    assert_eq!(report.records, 4);
    assert_eq!(
        query("/v1/records?from=2027-01-01T00:00:00Z").await,
        Vec::<u64>::new()
    );
    let report = verify_text(&harness.export("from=2027-01-01T00:00:00Z").await, None).unwrap();
    assert_eq!(report.records, 0);
}

pub async fn refuses_bad_queries_precisely(backend: Backend) {
    let harness = Harness::new(backend).await;
    let cases = [
        ("/v1/records?decision=maybe", "decision: \"maybe\" is neither allow nor deny"),
        (
            "/v1/records?from=last%20week",
            "from: \"last week\" is not an RFC 3339 time like 2026-01-31T00:00:00Z",
        ),
        (
            "/v1/export?format=xml",
            "Failed to deserialize query string: format: unknown variant `xml`, expected `jsonl` or `csv`",
        ),
        (
            "/v1/records?colour=red",
            "Failed to deserialize query string: colour: unknown field `colour`, expected one of \
             `from`, `to`, `subject`, `grant`, `model`, `decision`",
        ),
    ];
    for (path, message) in cases {
        let answer = harness.get(path).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(
            answer.json(),
            json!({"error": "bad_request", "message": message}),
            "{path}"
        );
    }
    for credential in [None, Some(SENDER)] {
        for path in [
            "/v1/records",
            "/v1/export",
            "/v1/streams",
            "/v1/proofs/inclusion?index=0&size=1",
        ] {
            let answer = harness.get_as(path, credential).await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{path}");
            assert_eq!(
                answer.json(),
                json!({"error": "unauthorized", "message": "missing or unknown bearer credential"})
            );
        }
    }
}

pub async fn export_round_trips_through_verify(backend: Backend) {
    let harness = Harness::new(backend).await;
    let mut sent = records("vm-1", 1..=5);
    sent.extend(records("vm-2", 1..=3));
    harness.post_records(&sent).await;
    let text = harness.export("").await;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 10);
    assert!(lines[0].contains(r#""type":"header""#));
    assert!(lines[9].contains(r#""type":"trailer""#));
    let report = verify_text(&text, None).unwrap();
    assert_eq!(report.records, 8);
    assert_eq!(report.checkpoint.size, 8);
    assert_eq!(report.checkpoint.root, root_of(&sent));
    assert_eq!(report.format, ExportFormat::Jsonl);
    let streams = report.streams.clone().unwrap();
    assert_eq!(streams.len(), 2);
    assert!(report.streams_with_gaps().is_empty());
    // A gap in the log fails verification unless gaps are allowed.
    harness.post_records(&records("vm-2", [5])).await;
    let text = harness.export("").await;
    let error = verify_text(&text, None).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the log has gaps: stream \"vm-2\" is missing sequence 4"
    );
    let report = verify(
        text.as_bytes(),
        &VerifyOptions {
            key: signer().verifier().clone(),
            trusted_checkpoint: None,
            gaps: GapPolicy::Report,
        },
    )
    .unwrap();
    assert_eq!(report.streams_with_gaps().len(), 1);
}

pub async fn filtered_and_csv_exports_verify(backend: Backend) {
    let harness = Harness::new(backend).await;
    let mut sent = records("vm-1", 1..=30);
    sent[6].decision = AuditDecision::Deny;
    harness.post_records(&sent).await;
    let text = harness.export("subject=user1%40example.com").await;
    let report = verify_text(&text, None).unwrap();
    assert_eq!(report.records, 3); // sequences 1, 14, 27
    assert_eq!(report.filter.subject.as_deref(), Some("user1@example.com"));
    assert_eq!(report.streams, None);
    let csv = harness.export("format=csv&decision=deny").await;
    assert_eq!(csv.lines().next(), Some(CSV_HEADER));
    assert!(csv.lines().nth(2).unwrap().starts_with("record,6,"));
    let report = verify_text(&csv, None).unwrap();
    assert_eq!(report.format, ExportFormat::Csv);
    assert_eq!(report.records, 1);
    let everything = harness.export("format=csv").await;
    assert_eq!(verify_text(&everything, None).unwrap().records, 30);
}

pub async fn export_since_a_checkpoint_proves_consistency(backend: Backend) {
    let harness = Harness::new(backend).await;
    harness.post_records(&records("vm-1", 1..=4)).await;
    let first = verify_text(&harness.export("").await, None).unwrap();
    assert_eq!(first.checkpoint.size, 4);
    harness.post_records(&records("vm-1", 5..=7)).await;
    let text = harness.export("since_size=4").await;
    let report = verify_text(&text, Some(&first.checkpoint_note)).unwrap();
    assert_eq!(report.trusted, Some(TrustedCheck::Extends(4)));
    assert_eq!(report.consistent_with, Some(4));
    let without = harness.export("").await;
    assert_eq!(
        verify_text(&without, Some(&first.checkpoint_note))
            .unwrap_err()
            .to_string(),
        "the export carries no consistency proof from the trusted checkpoint (size 4): export again with --since-checkpoint"
    );
    // The older export against the newer trusted checkpoint: the log looks truncated.
    let newer = verify_text(&without, None).unwrap();
    let older = harness.get("/v1/export").await; // same size: same tree
    assert_eq!(
        verify_text(&older.text(), Some(&newer.checkpoint_note))
            .unwrap()
            .trusted,
        Some(TrustedCheck::Same)
    );
    let beyond = harness.get("/v1/export?since_size=99").await;
    assert_eq!(beyond.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        beyond.json()["message"],
        "since_size: 99 is beyond the newest checkpoint (size 7): the log holds fewer records than that checkpoint claimed"
    );
    let unsigned = harness.get("/v1/export?since_size=2").await;
    assert_eq!(unsigned.status, StatusCode::NOT_FOUND);
    assert_eq!(
        unsigned.json()["message"],
        "no checkpoint was signed at tree size 2"
    );
}

pub async fn survives_a_restart_and_keeps_deduplicating(backend: Backend) {
    let harness = Harness::new(backend).await;
    harness.post_records(&records("vm-1", 1..=3)).await;
    let before = verify_text(&harness.export("").await, None).unwrap();
    let harness = harness.restart().await;
    assert_eq!(harness.size().await, 3);
    assert_eq!(
        harness.post_records(&records("vm-1", 1..=3)).await.json(),
        json!({})
    );
    assert_eq!(harness.size().await, 3);
    harness.post_records(&records("vm-1", [4, 6])).await;
    let streams = harness.get("/v1/streams").await.json();
    assert_eq!(streams["streams"][0]["gaps"], json!([{"from": 5, "to": 5}]));
    let text = harness
        .export(&format!("since_size={}", before.checkpoint.size))
        .await;
    let after = verify(
        text.as_bytes(),
        &VerifyOptions {
            key: signer().verifier().clone(),
            trusted_checkpoint: Some(before.checkpoint_note.clone()),
            gaps: GapPolicy::Report,
        },
    )
    .unwrap();
    assert_eq!(after.records, 5);
    assert_eq!(after.trusted, Some(TrustedCheck::Extends(3)));
}

async fn execute(store: &Store, sql: &str) -> Result<(), String> {
    let result = match store {
        Store::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
        Store::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
    };
    result.map_err(|e| e.to_string())
}

pub async fn refuses_to_start_on_a_tampered_store(backend: Backend) {
    let harness = Harness::new(backend).await;
    harness.post_records(&records("vm-1", 1..=4)).await;
    harness.collector.log().checkpoint_now().await.unwrap();
    // A pool of our own on the same database, so the collector can be stopped and reopened.
    let store = Store::open(&harness.place.location).await.unwrap();
    let place = harness.stop().await;
    // The schema refuses changes…
    let refused = execute(
        &store,
        "UPDATE records SET subject = 'mallory' WHERE leaf_index = 1",
    )
    .await
    .unwrap_err();
    assert!(
        refused.contains("the audit log is append-only"),
        "{refused}"
    );
    let refused = execute(&store, "DELETE FROM checkpoints")
        .await
        .unwrap_err();
    assert!(
        refused.contains("the audit log is append-only"),
        "{refused}"
    );
    // …so someone with the database's keys removes the guard and edits a tree node.
    let unguard = match backend {
        Backend::Sqlite => "DROP TRIGGER merkle_nodes_no_update",
        Backend::Postgres => "DROP TRIGGER merkle_nodes_append_only ON merkle_nodes",
    };
    execute(&store, unguard).await.unwrap();
    let level_two = (2i64 << 48).to_string();
    let zero = match backend {
        Backend::Sqlite => "zeroblob(32)",
        Backend::Postgres => "decode(repeat('00', 32), 'hex')",
    };
    execute(
        &store,
        &format!("UPDATE merkle_nodes SET hash = {zero} WHERE node_key = {level_two}"),
    )
    .await
    .unwrap();
    let error = open_collector(&place.location, &place.options)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the stored log is inconsistent: the stored tree at size 4 does not match the checkpoint \
         signed for it: records or tree nodes were changed outside the collector"
    );
    // Deleting the newest record instead looks like a truncated log.
    let unguard = match backend {
        Backend::Sqlite => "DROP TRIGGER records_no_delete",
        Backend::Postgres => "DROP TRIGGER records_append_only ON records",
    };
    execute(&store, unguard).await.unwrap();
    execute(&store, "DELETE FROM records WHERE leaf_index = 3")
        .await
        .unwrap();
    let error = open_collector(&place.location, &place.options)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the stored log is inconsistent: the newest checkpoint covers 4 records but only 3 are stored: the log was truncated"
    );
}

pub async fn exports_over_a_real_socket(backend: Backend) {
    let harness = Harness::new(backend).await;
    let base = harness.serve().await;
    let client = reqwest::Client::new();
    let answer = client
        .post(format!("{base}/v1/logs"))
        .bearer_auth(SENDER)
        .header("content-type", "application/json")
        .body(json_request(&records("vm-s", 1..=600)))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), reqwest::StatusCode::OK);
    assert_eq!(answer.text().await.unwrap(), "{}");
    let export = client
        .get(format!("{base}/v1/export"))
        .bearer_auth(REVIEWER)
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), reqwest::StatusCode::OK);
    assert_eq!(
        export.headers().get("content-type").unwrap(),
        "application/jsonl"
    );
    let text = export.text().await.unwrap();
    // More than two pages of records, each with its proof.
    let report = verify_text(&text, None).unwrap();
    assert_eq!(report.records, 600);
    let key = client
        .get(format!("{base}/v1/checkpoint/key"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(NoteVerifier::parse(&key).unwrap(), *signer().verifier());
}
