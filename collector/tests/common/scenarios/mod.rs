//! The collector's behaviour, one scenario per function, each run on SQLite and on
//! PostgreSQL by `tests/sqlite.rs` and `tests/postgres.rs`; grouped by theme in the
//! submodules, shared helpers here.

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

mod bindings;
mod hostile;
mod ingest;
mod log;
mod queries;
mod restart;

pub use bindings::*;
pub use hostile::*;
pub use ingest::*;
pub use log::*;
pub use queries::*;
pub use restart::*;
