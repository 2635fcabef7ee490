//! Restarts: deduplication survives, a tampered store is refused, a real socket works.

use super::*;

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
