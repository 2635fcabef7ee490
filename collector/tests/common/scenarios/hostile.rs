//! Hostile senders: what `ingest.rs` does not already cover — a credential that is almost
//! right, an unauthenticated body that would be expensive to read (a gzip bomb, an oversized
//! body), bodies built to break a parser (deep nesting, non-UTF-8, truncated gzip, protobuf
//! with lying lengths), and one batch replayed by many senders at once. Each is refused with
//! the exact status, nothing is stored, and the collector keeps serving.

use super::*;

/// A named case: its headers and body.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>);

/// Sends `body` to `/v1/logs` with exactly these headers.
async fn post_with(harness: &Harness, headers: &[(&str, &str)], body: Vec<u8>) -> Answer {
    let mut request = axum::http::Request::post("/v1/logs");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    harness
        .send(request.body(axum::body::Body::from(body)).unwrap())
        .await
}

/// Still serving: a valid batch is stored.
async fn assert_still_ingests(harness: &Harness, sequence: u64) {
    let size = harness.size().await;
    let answer = harness.post_records(&records("vm-ok", [sequence])).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(harness.size().await, size + 1);
}

pub async fn refuses_almost_right_credentials_before_reading_the_body(backend: Backend) {
    let harness = Harness::with(
        backend,
        Options {
            max_body_bytes: 64 * 1024,
            ..Options::default()
        },
    )
    .await;
    let batch = json_request(&records("vm-1", 1..=2));
    let bomb = gzip(&vec![b' '; 10 * 1024 * 1024]);
    let sender_upper = format!("Bearer {}", SENDER.to_uppercase());
    let sender_space = format!("Bearer  {SENDER} ");
    let sender_prefix = format!("Bearer {}", &SENDER[..SENDER.len() - 1]);
    let sender_longer = format!("Bearer {SENDER}0");
    let basic = format!("Basic {SENDER}");
    let two = format!("Bearer {SENDER}, Bearer {SENDER}");
    let cases: Vec<Case<'_>> = vec![
        (
            "credential in another case",
            vec![("authorization", &sender_upper)],
            batch.clone(),
        ),
        (
            "one character short",
            vec![("authorization", &sender_prefix)],
            batch.clone(),
        ),
        (
            "one character long",
            vec![("authorization", &sender_longer)],
            batch.clone(),
        ),
        (
            "another scheme",
            vec![("authorization", &basic)],
            batch.clone(),
        ),
        (
            "two credentials in one value",
            vec![("authorization", &two)],
            batch.clone(),
        ),
        (
            "credential in another header",
            vec![("x-api-key", SENDER)],
            batch.clone(),
        ),
        (
            "an unauthenticated gzip bomb",
            vec![("content-encoding", "gzip")],
            bomb.clone(),
        ),
        (
            "an unauthenticated oversized body",
            vec![],
            vec![b'{'; 256 * 1024],
        ),
    ];
    for (case, mut headers, body) in cases {
        headers.push(("content-type", "application/json"));
        let answer = post_with(&harness, &headers, body).await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{case}: {}",
            answer.text()
        );
        assert_eq!(
            answer.json(),
            json!({"code": 16, "message": "missing or unknown bearer credential"}),
            "{case}"
        );
    }
    // Extra whitespace around the right credential is still the right credential.
    let answer = post_with(
        &harness,
        &[
            ("authorization", &sender_space),
            ("content-type", "application/json"),
        ],
        batch.clone(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(harness.size().await, 2);
    // The reviewer's credential reads, but never writes.
    let reviewer = format!("Bearer {REVIEWER}");
    let answer = post_with(
        &harness,
        &[
            ("authorization", &reviewer),
            ("content-type", "application/json"),
        ],
        json_request(&records("vm-2", 1..=1)),
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(harness.size().await, 2);
    assert_still_ingests(&harness, 1).await;
}

pub async fn refuses_bodies_built_to_break_a_parser(backend: Backend) {
    let harness = Harness::new(backend).await;
    let deep = format!(
        r#"{{"resourceLogs":{}{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let mut not_utf8 = json_request(&records("vm-1", 1..=1));
    let at = not_utf8.len() / 2;
    not_utf8.splice(at..at, b"\xff\xfe".iter().copied());
    let full = gzip(&json_request(&records("vm-1", 1..=1)));
    let truncated_gzip = full[..full.len() / 2].to_vec();
    let cases: Vec<(&str, &str, Option<&str>, Vec<u8>)> = vec![
        ("deep nesting", "application/json", None, deep.into_bytes()),
        ("not UTF-8", "application/json", None, not_utf8),
        (
            "truncated gzip",
            "application/json",
            Some("gzip"),
            truncated_gzip,
        ),
        ("empty JSON body", "application/json", None, Vec::new()),
        ("JSON null", "application/json", None, b"null".to_vec()),
        // Field 1 (resource_logs), length-delimited, claiming 2 GiB.
        (
            "protobuf length past the end",
            "application/x-protobuf",
            None,
            b"\x0a\x80\x80\x80\x80\x08\x00".to_vec(),
        ),
        // Field 1 with a varint that never ends.
        (
            "protobuf endless varint",
            "application/x-protobuf",
            None,
            b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff".to_vec(),
        ),
        // A group start (wire type 3) without its end.
        (
            "protobuf open group",
            "application/x-protobuf",
            None,
            b"\x0b".to_vec(),
        ),
    ];
    let sender = format!("Bearer {SENDER}");
    for (case, content_type, encoding, body) in cases {
        let mut headers = vec![
            ("authorization", sender.as_str()),
            ("content-type", content_type),
        ];
        if let Some(encoding) = encoding {
            headers.push(("content-encoding", encoding));
        }
        let answer = post_with(&harness, &headers, body).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{case}: {}",
            answer.text()
        );
        assert_eq!(harness.size().await, 0, "{case} stored something");
    }
    assert_still_ingests(&harness, 1).await;
}

pub async fn stores_a_batch_replayed_by_many_senders_at_once_once(backend: Backend) {
    let harness = Arc::new(Harness::new(backend).await);
    let batch = records("vm-1", 1..=20);
    let senders: Vec<_> = (0..8)
        .map(|_| {
            let harness = Arc::clone(&harness);
            let batch = batch.clone();
            tokio::spawn(async move { harness.post_records(&batch).await })
        })
        .collect();
    for sender in senders {
        let answer = sender.await.unwrap();
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
        assert_eq!(answer.json(), json!({}));
    }
    assert_eq!(harness.size().await, 20);
    assert_eq!(
        harness
            .metric("jitgate_collector_records_stored_total")
            .await,
        20
    );
    assert_eq!(
        harness
            .metric("jitgate_collector_records_duplicate_total")
            .await,
        7 * 20
    );
    let streams = harness.get("/v1/streams").await.json();
    assert_eq!(streams["streams"].as_array().unwrap().len(), 1, "{streams}");
    // The log is one consistent tree: its export verifies.
    let text = harness.export("").await;
    let report = verify_text(&text, None).unwrap();
    assert_eq!(report.records, 20);
}
