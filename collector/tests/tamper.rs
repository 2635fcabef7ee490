#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]
//! Tampering with an export is detected by `verify` (the library function the CLI runs),
//! each with a message saying where and what: editing any byte of a record, deleting a
//! record, reordering records, truncating the export or the log, rewriting the log.
//!
//! Verification is pure, so these run on SQLite only; the scenarios cover both stores.

mod common;

use common::{records, signer, Backend, Harness};
use jitgate_collector::note::NoteSigner;
use jitgate_collector::{verify, GapPolicy, VerifyOptions, VerifyReport};

fn check(text: &str, trusted: Option<&str>) -> Result<VerifyReport, String> {
    verify(
        text.as_bytes(),
        &VerifyOptions {
            key: signer().verifier().clone(),
            trusted_checkpoint: trusted.map(str::to_owned),
            gaps: GapPolicy::Fail,
        },
    )
    .map_err(|e| e.to_string())
}

/// A log of six records (vm-1 1–4, vm-2 1–2) and its full export: line 1 the header,
/// lines 2–7 leaf indices 0–5, line 8 the trailer.
async fn full_export() -> (Harness, String) {
    let harness = Harness::new(Backend::Sqlite).await;
    let mut sent = records("vm-1", 1..=4);
    sent.extend(records("vm-2", 1..=2));
    harness.post_records(&sent).await;
    let text = harness.export("").await;
    assert_eq!(check(&text, None).unwrap().records, 6);
    (harness, text)
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(|l| format!("{l}\n")).collect()
}

#[tokio::test]
async fn editing_a_field_of_a_record_is_detected() {
    let (_harness, text) = full_export().await;
    let mut lines = lines(&text);
    assert!(lines[2].contains("user2@example.com"));
    lines[2] = lines[2].replace("user2@example.com", "user3@example.com");
    assert_eq!(
        check(&lines.concat(), None).unwrap_err(),
        "line 3: record at leaf index 1 (stream \"vm-1\", sequence 2) is not in the log at that \
         position: the proof leads to a different root hash — the record was changed after it was logged"
    );
}

#[tokio::test]
async fn editing_any_byte_of_a_record_line_is_detected() {
    let (_harness, text) = full_export().await;
    let start = text.match_indices('\n').nth(1).unwrap().0 + 1;
    let end = start + text[start..].find('\n').unwrap() + 1;
    let mut bytes = text.clone().into_bytes();
    for at in start..end {
        let original = bytes[at];
        // Another printable ASCII byte, so the file stays valid UTF-8 and mostly valid JSON.
        bytes[at] = if original == b'a' {
            b'b'
        } else if original.is_ascii() {
            original ^ 0x01
        } else {
            b'x'
        };
        let edited = String::from_utf8_lossy(&bytes).into_owned();
        assert!(
            check(&edited, None).is_err(),
            "editing byte {} ({:?} → {:?}) went unnoticed",
            at - start,
            original as char,
            bytes[at] as char
        );
        bytes[at] = original;
    }
}

#[tokio::test]
async fn editing_the_header_or_trailer_is_detected() {
    let (_harness, text) = full_export().await;
    let bytes = text.as_bytes();
    let records_start = text.find('\n').unwrap() + 1;
    let trailer_start = text[..text.len() - 1].rfind('\n').unwrap() + 1;
    // Every third byte of the header and of the trailer (signatures, checkpoint, counts).
    for at in (0..records_start)
        .chain(trailer_start..bytes.len())
        .step_by(3)
    {
        let mut edited = bytes.to_vec();
        edited[at] = if edited[at] == b'A' {
            b'B'
        } else if edited[at].is_ascii() {
            edited[at] ^ 0x02
        } else {
            b'x'
        };
        let edited = String::from_utf8_lossy(&edited).into_owned();
        assert!(
            check(&edited, None).is_err(),
            "editing byte {at} went unnoticed"
        );
    }
}

#[tokio::test]
async fn deleting_a_record_is_detected() {
    let (_harness, text) = full_export().await;
    let mut lines = lines(&text);
    lines.remove(3); // leaf index 2
    assert_eq!(
        check(&lines.concat(), None).unwrap_err(),
        "the checkpoint covers 6 records but this full export holds 5: the record at leaf index 2 \
         is missing (deleted or truncated)"
    );
}

#[tokio::test]
async fn deleting_a_record_from_a_filtered_export_is_detected() {
    let (harness, _) = full_export().await;
    let text = harness.export("subject=user1%40example.com").await;
    let report = check(&text, None).unwrap();
    assert_eq!(report.records, 2); // vm-1 sequence 1 and vm-2 sequence 1
    let mut lines = lines(&text);
    lines.remove(2);
    assert_eq!(
        check(&lines.concat(), None).unwrap_err(),
        "line 3: the export holds 1 record but the collector signed for 2: records were removed"
    );
}

#[tokio::test]
async fn reordering_two_records_is_detected() {
    let (_harness, text) = full_export().await;
    let mut lines = lines(&text);
    lines.swap(2, 3);
    assert_eq!(
        check(&lines.concat(), None).unwrap_err(),
        "line 4: leaf index 1 comes after leaf index 2: records are out of log order (moved or duplicated)"
    );
}

#[tokio::test]
async fn a_duplicated_record_is_detected() {
    let (_harness, text) = full_export().await;
    let mut lines = lines(&text);
    let copy = lines[2].clone();
    lines.insert(3, copy);
    assert_eq!(
        check(&lines.concat(), None).unwrap_err(),
        "line 4: leaf index 1 comes after leaf index 1: records are out of log order (moved or duplicated)"
    );
}

#[tokio::test]
async fn truncating_the_export_is_detected() {
    let (_harness, text) = full_export().await;
    let lines = lines(&text);
    assert_eq!(
        check(&lines[..7].concat(), None).unwrap_err(),
        "the export ends after line 7 without its signed trailer: it was truncated"
    );
    assert_eq!(
        check(&lines[..4].concat(), None).unwrap_err(),
        "the export ends after line 4 without its signed trailer: it was truncated"
    );
    assert_eq!(
        check(&text[..text.len() - 10], None).unwrap_err(),
        "line 8: does not end with a newline: the export was cut short"
    );
    // The trailer kept, the last records cut.
    let mut cut = lines[..5].to_vec();
    cut.push(lines[7].clone());
    assert_eq!(
        check(&cut.concat(), None).unwrap_err(),
        "the checkpoint covers 6 records but this full export holds 4: the record at leaf index 4 \
         is missing (deleted or truncated)"
    );
}

#[tokio::test]
async fn a_truncated_log_is_detected_against_a_trusted_checkpoint() {
    let harness = Harness::new(Backend::Sqlite).await;
    harness.post_records(&records("vm-1", 1..=4)).await;
    let older = harness.export("").await;
    harness.post_records(&records("vm-1", 5..=6)).await;
    let newer = check(&harness.export("").await, None).unwrap();
    // The reviewer trusts the size-6 checkpoint; an export of the log at size 4 shows up.
    assert_eq!(
        check(&older, Some(&newer.checkpoint_note)).unwrap_err(),
        "the export's checkpoint covers 4 records, fewer than the 6 of the trusted checkpoint: \
         the log was truncated or rolled back"
    );
}

#[tokio::test]
async fn a_rewritten_log_is_detected_against_a_trusted_checkpoint() {
    // Two logs under the same key and origin that differ in one record: a rewrite.
    let original = Harness::new(Backend::Sqlite).await;
    original.post_records(&records("vm-1", 1..=3)).await;
    let trusted = check(&original.export("").await, None).unwrap();
    let rewritten = Harness::new(Backend::Sqlite).await;
    let mut changed = records("vm-1", 1..=3);
    changed[1].status = 403;
    rewritten.post_records(&changed).await;
    assert_eq!(
        check(&rewritten.export("").await, Some(&trusted.checkpoint_note)).unwrap_err(),
        "the export's checkpoint and the trusted checkpoint both cover 3 records but have \
         different roots: the log was rewritten"
    );
    // Grown past the trusted size: the consistency proof cannot connect the two.
    rewritten.post_records(&records("vm-1", 4..=5)).await;
    let grown = rewritten.export("since_size=3").await;
    assert_eq!(
        check(&grown, Some(&trusted.checkpoint_note)).unwrap_err(),
        "the collector's checkpoint at size 3 differs from the trusted one: the log was rewritten"
    );
}

#[tokio::test]
async fn an_export_signed_by_another_key_is_refused() {
    let (_harness, text) = full_export().await;
    let other = NoteSigner::from_seed(common::ORIGIN, [7; 32]).unwrap();
    let error = verify(
        text.as_bytes(),
        &VerifyOptions {
            key: other.verifier().clone(),
            trusted_checkpoint: None,
            gaps: GapPolicy::Fail,
        },
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "line 1: checkpoint: the note is not signed by key {}",
            other.verifier()
        )
    );
}

#[tokio::test]
async fn editing_the_trailer_count_or_the_filter_is_detected() {
    let (harness, text) = full_export().await;
    let edited = text.replace(
        r#""records":6,"type":"trailer""#,
        r#""records":5,"type":"trailer""#,
    );
    assert_ne!(edited, text);
    assert_eq!(
        check(&edited, None).unwrap_err(),
        "line 8: the trailer says 5 records but the signed manifest says 6"
    );
    // A filtered export passed off as a full one.
    let filtered = harness.export("decision=allow").await;
    let edited = filtered.replace(r#""filter":{"decision":"allow"}"#, r#""filter":{}"#);
    assert_ne!(edited, filtered);
    assert_eq!(
        check(&edited, None).unwrap_err(),
        "line 8: the signed manifest is for filter {\"decision\":\"allow\"} but the header says {}"
    );
}

#[tokio::test]
async fn editing_a_csv_column_is_detected() {
    let (harness, _) = full_export().await;
    let csv = harness.export("format=csv").await;
    let edited = csv.replacen(",user2@example.com,", ",user3@example.com,", 1);
    assert_ne!(edited, csv);
    assert_eq!(
        check(&edited, None).unwrap_err(),
        "line 4: the row is not exactly as the collector wrote it (a column was edited?)"
    );
}
