//! The export and verify benchmark hook (not a test): a log of `records` records is written
//! first (untimed), then two things are timed — the collector streaming a full JSON Lines
//! export of it into a file (what `GET /v1/export` and so `jitgate audit export` do: pages
//! read in log order, inclusion proofs, framing, the signed trailer), and `verify` reading
//! that file back offline (what `jitgate audit verify` does). The `verify_bench` example
//! prints both; nothing asserts on their numbers.

use std::io::{BufReader, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::{ingest_all, open_log, request_bodies};
use crate::error::{Error, Result};
use crate::export::stream::{export, ExportRequest};
use crate::store::Location;
use crate::verify::{verify, GapPolicy, VerifyOptions};

/// What to measure.
#[derive(Debug, Clone)]
pub struct ExportBench {
    /// The store to write the log to (it should be empty).
    pub location: Location,
    /// Records in the log.
    pub records: u64,
    /// Where to write the export file.
    pub export_file: PathBuf,
}

/// What was measured.
#[derive(Debug, Clone, Copy)]
pub struct ExportResult {
    /// Records in the export.
    pub records: u64,
    /// Bytes of the export file.
    pub bytes: u64,
    /// Time to export them.
    pub export: Duration,
    /// Time to verify the file.
    pub verify: Duration,
}

impl ExportResult {
    /// Records exported per second.
    pub fn export_per_second(&self) -> f64 {
        self.records as f64 / self.export.as_secs_f64().max(f64::EPSILON)
    }

    /// Records verified per second.
    pub fn verify_per_second(&self) -> f64 {
        self.records as f64 / self.verify.as_secs_f64().max(f64::EPSILON)
    }
}

/// Runs the benchmark (see the module docs).
pub async fn export_and_verify(bench: &ExportBench) -> Result<ExportResult> {
    let log = open_log(&bench.location).await?;
    // One sender and batches of 1,000, as the filter sends them; not timed.
    ingest_all(&log, request_bodies(bench.records, 1_000, 1)).await?;
    let key = log.verifier().clone();

    let started = Instant::now();
    let mut body = Box::pin(export(log.clone(), ExportRequest::default()).await?);
    let file = std::fs::File::create(&bench.export_file).map_err(io_error)?;
    let mut file = std::io::BufWriter::new(file);
    let mut bytes = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        bytes += chunk.len() as u64;
        file.write_all(&chunk).map_err(io_error)?;
    }
    file.flush().map_err(io_error)?;
    drop(file);
    let exported = started.elapsed();

    let started = Instant::now();
    let file = std::fs::File::open(&bench.export_file).map_err(io_error)?;
    let options = VerifyOptions {
        key,
        trusted_checkpoint: None,
        gaps: GapPolicy::Fail,
    };
    let report = verify(BufReader::with_capacity(1 << 20, file), &options)
        .map_err(|e| Error::Inconsistent(format!("the bench export does not verify: {e}")))?;
    let verified = started.elapsed();
    log.store().close().await;
    Ok(ExportResult {
        records: report.records,
        bytes,
        export: exported,
        verify: verified,
    })
}

fn io_error(error: std::io::Error) -> Error {
    Error::Config(format!("the bench export file: {error}"))
}
