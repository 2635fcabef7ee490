//! The log itself: gaps per stream, checkpoints and proofs.

use super::*;

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
