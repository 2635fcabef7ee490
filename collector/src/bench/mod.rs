//! The ingest benchmark hook (not a test): how many records per second the collector stores
//! when the gate sends batches, measured from the request body to the committed transaction
//! (decode, validate, canonicalize, hash, dedupe, tree, insert). `cargo xtask bench` can call
//! it through the `ingest_bench` example; nothing asserts on its numbers. `export` measures
//! the other end: exporting a log and verifying the export (`verify_bench`).

pub mod export;

use std::sync::Arc;
use std::time::{Duration, Instant};

use jitgate_grant::audit::otlp::{export_logs_request_text, Resource};
use jitgate_grant::audit::{AuditDecision, AuditRecord};

use crate::audit_log::{AuditLog, CheckpointPolicy};
use crate::error::Result;
use crate::ingest::{json, validate};
use crate::metrics::Metrics;
use crate::note::NoteSigner;
use crate::store::{Location, Store};

/// The stores a benchmark example runs against, by name: always a SQLite file in `dir`, and
/// the PostgreSQL database at `postgres` when one is given.
pub fn locations(dir: &std::path::Path, postgres: Option<&str>) -> Vec<(&'static str, Location)> {
    let mut locations = vec![("sqlite", Location::Sqlite(dir.join("bench.db")))];
    if let Some(url) = postgres {
        locations.push(("postgres", Location::Postgres(url.to_owned())));
    }
    locations
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct IngestBench {
    /// The store to write to (it should be empty).
    pub location: Location,
    /// Records in total.
    pub records: u64,
    /// Records per request.
    pub batch: u64,
    /// Concurrent senders (gate instances), each with its own stream.
    pub senders: u64,
}

/// What was measured.
#[derive(Debug, Clone, Copy)]
pub struct IngestResult {
    /// Records stored.
    pub records: u64,
    /// Time spent storing them.
    pub elapsed: Duration,
}

impl IngestResult {
    /// Records per second.
    pub fn per_second(&self) -> f64 {
        self.records as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

/// The signing seed of every bench log: the verifier key is known without reading the store.
pub(crate) const SIGNING_SEED: [u8; 32] = [1; 32];

/// The bench log's origin.
pub(crate) const ORIGIN: &str = "bench.jitgate.invalid/audit";

/// Opens a log for a benchmark in `location` (which should be empty).
pub(crate) async fn open_log(location: &Location) -> Result<Arc<AuditLog>> {
    let store = Store::open(location).await?;
    let signer = NoteSigner::from_seed(ORIGIN, SIGNING_SEED)?;
    Ok(Arc::new(
        AuditLog::open(
            store,
            signer,
            CheckpointPolicy::default(),
            Arc::new(Metrics::default()),
        )
        .await?,
    ))
}

/// OTLP JSON request bodies as the filter sends them: for each of `senders` (one stream
/// each), its share of `records` in batches of `batch`.
pub(crate) fn request_bodies(records: u64, batch: u64, senders: u64) -> Vec<Vec<Vec<u8>>> {
    let batch = batch.max(1);
    let senders = senders.max(1);
    let per_sender = records / senders;
    (0..senders)
        .map(|sender| {
            let resource = Resource {
                service_name: "jitgate-filter".into(),
                instance_id: format!("bench-{sender}"),
            };
            let stream = format!("bench-{sender}");
            (0..per_sender.div_ceil(batch))
                .map(|b| {
                    let first = b * batch + 1;
                    let last = ((b + 1) * batch).min(per_sender);
                    // As the filter sends them: each record's text, assembled.
                    let texts: Vec<String> = (first..=last)
                        .map(|s| sample_record(&stream, s).to_otlp_log_record_text())
                        .collect();
                    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
                    export_logs_request_text(&resource, "bench", &texts).into_bytes()
                })
                .collect()
        })
        .collect()
}

/// A realistic record: an allowed chat completion with usage.
pub fn sample_record(stream: &str, sequence: u64) -> AuditRecord {
    AuditRecord {
        time_unix_nano: 1_767_225_600_000_000_000 + sequence * 1_000_000,
        stream_id: stream.to_owned(),
        sequence,
        decision: AuditDecision::Allow,
        reason: "granted".into(),
        route: Some("chat".into()),
        grant_id: Some(format!("g-{}", sequence % 97)),
        subject: Some(format!("user{}@example.com", sequence % 13)),
        client_id: Some("agent-7".into()),
        approvers: vec!["bob@example.com".into()],
        break_glass: false,
        scopes_granted: vec!["inference:meta-llama/*".into()],
        scope_required: Some("inference:meta-llama/Llama-3.1-8B-Instruct".into()),
        token_digest: Some(
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".into(),
        ),
        method: "POST".into(),
        authority: "gateway.example".into(),
        path: "/v1/chat/completions".into(),
        model: Some("meta-llama/Llama-3.1-8B-Instruct".into()),
        status: 200,
        duration_ms: 180,
        request_bytes: 412,
        response_bytes: 1890,
        client_address: Some("10.0.0.7".into()),
        user_agent: Some("OpenAI/Python 1.55.0".into()),
        request_id: Some(format!("req-{sequence}")),
        input_tokens: Some(57),
        output_tokens: Some(211),
        limit_requests: None,
        limit_tokens: None,
    }
}

/// Runs the benchmark: builds the request bodies first (one stream per sender), then times
/// `senders` concurrent senders ingesting them, each batch decoded off the async workers as
/// the HTTP handler does.
pub async fn ingest(bench: &IngestBench) -> Result<IngestResult> {
    let log = open_log(&bench.location).await?;
    let queues = request_bodies(bench.records, bench.batch, bench.senders);
    let started = Instant::now();
    let stored = ingest_all(&log, queues).await?;
    let elapsed = started.elapsed();
    log.store().close().await;
    Ok(IngestResult {
        records: stored,
        elapsed,
    })
}

/// Ingests each sender's queue of bodies concurrently, each batch decoded off the async
/// workers as the HTTP handler does; the number of records stored.
pub(crate) async fn ingest_all(log: &Arc<AuditLog>, queues: Vec<Vec<Vec<u8>>>) -> Result<u64> {
    let mut tasks = Vec::new();
    for queue in queues {
        let log = Arc::clone(log);
        tasks.push(tokio::spawn(async move {
            let mut stored = 0;
            for body in queue {
                let candidates = tokio::task::spawn_blocking(move || {
                    json::decode(&body).map(|records| validate(records).0)
                })
                .await??;
                stored += log.append(candidates).await?.stored;
            }
            Ok::<u64, crate::error::Error>(stored)
        }));
    }
    let mut stored = 0;
    for task in tasks {
        stored += task.await??;
    }
    Ok(stored)
}
