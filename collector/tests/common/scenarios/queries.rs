//! What reviewers get: queries and verifiable exports.

use super::*;

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
