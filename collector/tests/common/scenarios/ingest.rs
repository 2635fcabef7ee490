//! Ingest: what `POST /v1/logs` takes, refuses and stores once.

use super::*;

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
