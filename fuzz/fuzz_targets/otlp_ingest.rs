//! OTLP/HTTP log ingest in the collector, without the network: decoding an
//! `ExportLogsServiceRequest` (JSON or protobuf) and validating each log record into an
//! audit record (`ingest::json::decode`, `ingest::protobuf::decode`, `ingest::validate`).
//!
//! Input: a first byte choosing the encoding (even: JSON, odd: protobuf), then the body.
//! Asserts, beyond "no panic":
//! - every log record found is either accepted or rejected with its own position and a
//!   reason naming the attribute, in request order;
//! - an accepted record round-trips through the grant crate's OTLP mapping, and its
//!   canonical bytes and leaf hash are the ones the log would compute from the record;
//! - the two encodings agree: the records accepted from one are accepted, identically,
//!   when the same records are sent in the other encoding.
#![no_main]

use jitgate_collector::canonical::{record_canonical_json, record_leaf_hash};
use jitgate_collector::ingest::{self, json, protobuf, Candidate};
use jitgate_grant::audit::otlp::{export_logs_request, Resource};
use jitgate_grant::audit::AuditRecord;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let from_json = mode % 2 == 0;
    let decoded = if from_json {
        json::decode(body)
    } else {
        protobuf::decode(body)
    };
    let records = match decoded {
        Ok(records) => records,
        Err(error) => {
            assert!(!error.to_string().is_empty(), "a refusal must say why");
            return;
        }
    };
    let positions: Vec<String> = records
        .iter()
        .map(|(position, _)| position.clone())
        .collect();
    let (candidates, rejections) = ingest::validate(records);
    assert_eq!(candidates.len() + rejections.len(), positions.len());
    let mut seen = candidates
        .iter()
        .map(|candidate| &candidate.position)
        .chain(rejections.iter().map(|rejection| &rejection.position));
    assert!(seen.all(|position| positions.contains(position)));
    for rejection in &rejections {
        assert!(!rejection.reason.is_empty(), "rejection without a reason");
    }
    for candidate in &candidates {
        check_candidate(candidate);
    }
    if candidates.is_empty() {
        return;
    }

    // The same records in the other encoding.
    let accepted: Vec<AuditRecord> = candidates.iter().map(|c| c.record.clone()).collect();
    let resource = Resource {
        service_name: "jitgate-fuzz".into(),
        instance_id: "fuzz-1".into(),
    };
    let request = export_logs_request(&resource, "0", &accepted);
    let text = request.to_string();
    let again = if from_json {
        protobuf::decode(&protobuf::client::export_request(&request))
    } else {
        json::decode(text.as_bytes())
    };
    let again = again.expect("an envelope of accepted records decodes");
    let (candidates_again, rejections_again) = ingest::validate(again);
    assert!(
        rejections_again.is_empty(),
        "the other encoding rejected {rejections_again:?}"
    );
    let records_again: Vec<AuditRecord> = candidates_again.into_iter().map(|c| c.record).collect();
    assert_eq!(
        records_again, accepted,
        "the two encodings accept different records"
    );
});

fn check_candidate(candidate: &Candidate) {
    let log_record = candidate.record.to_otlp_log_record();
    let back = AuditRecord::from_otlp_log_record(&log_record).expect("a mapped record reads back");
    assert_eq!(
        back, candidate.record,
        "the OTLP mapping does not round-trip"
    );
    let canonical = record_canonical_json(&candidate.record);
    assert_eq!(candidate.canonical, canonical);
    assert_eq!(candidate.leaf, record_leaf_hash(&canonical));
}
