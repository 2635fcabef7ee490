//! How long and how much to measure: the full run behind `docs/benchmarks.md`, or the short
//! smoke run `cargo xtask test` uses to check that every configuration still serves. A
//! developer narrows either with `--only`, `--rounds` and `--seconds` ([`Selection`]).

use std::path::PathBuf;
use std::time::Duration;

use crate::bench::selection::Selection;

/// What one benchmark run measures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Smoke runs check statuses only; their figures are not worth reporting.
    pub smoke: bool,
    /// Which measurements and configurations (everything unless `--only` narrowed it).
    pub selection: Selection,
    /// Interleaved rounds over every configuration; figures are medians over these.
    pub rounds: u32,
    /// Load per configuration per round.
    pub duration: Duration,
    /// Unmeasured load per configuration before the first round (JIT warm-up, caches).
    pub warmup: Duration,
    /// Concurrent HTTP/1.1 connections `wrk` keeps open.
    pub connections: u32,
    /// Distinct tokens cycled through in the fresh-token configuration. More than the
    /// filter's default cache size (10 000, evicting the oldest), so no request is a hit.
    pub fresh_tokens: usize,
    /// Revoke → first refusal trials.
    pub revocation_trials: u32,
    /// Fleet budget breach → refusal on every gateway trials.
    pub breach_trials: u32,
    /// Collector crash → gate serving again trials.
    pub recovery_trials: u32,
    /// `wrk` connections loading the gateway during the recovery trials; 0 for none (the
    /// probe alone: a debug collector, as in the smoke run, cannot keep up with `wrk`).
    pub recovery_connections: u32,
    /// Records a VM may hold unacknowledged in the recovery trials (the filter's default in
    /// a full run; small in the smoke run, so the buffer fills at once).
    pub recovery_buffer_records: u64,
    /// The release `ingest_bench` example of jitgate-collector, when ingest is measured.
    pub ingest_bench: Option<PathBuf>,
    /// Records per ingest run.
    pub ingest_records: u64,
    /// The jitgate filter and the no-op filter modules.
    pub jitgate_wasm: PathBuf,
    /// The no-op baseline module (bench/noop-filter).
    pub noop_wasm: PathBuf,
}

impl Plan {
    /// The full run: about ten minutes on a two-core machine.
    pub fn full(jitgate_wasm: PathBuf, noop_wasm: PathBuf) -> Plan {
        Plan {
            smoke: false,
            selection: Selection::everything(),
            rounds: 5,
            duration: Duration::from_secs(8),
            warmup: Duration::from_secs(2),
            connections: 16,
            fresh_tokens: 20_000,
            revocation_trials: 40,
            breach_trials: 40,
            recovery_trials: 10,
            recovery_connections: 16,
            recovery_buffer_records: 10_000,
            ingest_bench: None,
            ingest_records: 200_000,
            jitgate_wasm,
            noop_wasm,
        }
    }

    /// The smoke run: every configuration for a second (under `wrk`, under `h2load`, with two
    /// workers), a few revocations and breaches, one collector recovery, no ingest.
    pub fn smoke(jitgate_wasm: PathBuf, noop_wasm: PathBuf) -> Plan {
        Plan {
            smoke: true,
            selection: Selection::everything(),
            rounds: 1,
            duration: Duration::from_secs(1),
            warmup: Duration::ZERO,
            connections: 4,
            fresh_tokens: 200,
            // One per demo requester the trials take turns among.
            revocation_trials: 5,
            breach_trials: 2,
            recovery_trials: 1,
            recovery_connections: 0,
            // Two batches' worth: it fills within the first second of load.
            recovery_buffer_records: 200,
            ingest_bench: None,
            ingest_records: 0,
            jitgate_wasm,
            noop_wasm,
        }
    }

    /// Whether `--only`, `--rounds` or `--seconds` changed what a full run measures: such a
    /// run's report must not replace the full run's in the docs.
    pub fn is_partial(&self) -> bool {
        let full = Plan::full(self.jitgate_wasm.clone(), self.noop_wasm.clone());
        self.smoke
            || self.selection != full.selection
            || self.rounds != full.rounds
            || self.duration != full.duration
    }
}
