//! How long and how much to measure: the full run behind `docs/benchmarks.md`, or the short
//! smoke run `cargo xtask test` uses to check that every configuration still serves.

use std::path::PathBuf;
use std::time::Duration;

/// What one benchmark run measures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Smoke runs check statuses only; their figures are not worth reporting.
    pub smoke: bool,
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
            rounds: 5,
            duration: Duration::from_secs(8),
            warmup: Duration::from_secs(2),
            connections: 16,
            fresh_tokens: 20_000,
            revocation_trials: 40,
            breach_trials: 40,
            ingest_bench: None,
            ingest_records: 200_000,
            jitgate_wasm,
            noop_wasm,
        }
    }

    /// The smoke run: every configuration for a second, a few revocations, no ingest.
    pub fn smoke(jitgate_wasm: PathBuf, noop_wasm: PathBuf) -> Plan {
        Plan {
            smoke: true,
            rounds: 1,
            duration: Duration::from_secs(1),
            warmup: Duration::ZERO,
            connections: 4,
            fresh_tokens: 200,
            // One per demo requester the trials take turns among.
            revocation_trials: 5,
            breach_trials: 2,
            ingest_bench: None,
            ingest_records: 0,
            jitgate_wasm,
            noop_wasm,
        }
    }
}
