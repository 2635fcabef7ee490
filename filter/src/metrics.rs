//! The filter's Envoy stats, all under `jitgate.` (Envoy shows Wasm-defined metrics with its
//! own `wasmcustom.` prefix: `envoy_wasmcustom_jitgate_allowed` in `/stats/prometheus`).

use jitgate_grant::reason::ALL_REASONS;

use crate::host::{Counter, Gauge};

/// The stat name of a counter.
pub fn name(counter: Counter) -> String {
    match counter {
        Counter::Allowed => "jitgate.allowed".into(),
        Counter::Denied(index) => {
            let reason = ALL_REASONS
                .get(index)
                .map_or("unknown", |reason| reason.code());
            format!("jitgate.denied.{reason}")
        }
        Counter::CacheHits => "jitgate.cache.hits".into(),
        Counter::CacheMisses => "jitgate.cache.misses".into(),
        Counter::KeyFetchesOk => "jitgate.keys.fetch_ok".into(),
        Counter::KeyFetchesFailed => "jitgate.keys.fetch_failed".into(),
        Counter::RevocationPollsOk => "jitgate.revocation.poll_ok".into(),
        Counter::RevocationPollsFailed => "jitgate.revocation.poll_failed".into(),
        Counter::AuditSent => "jitgate.audit.sent".into(),
        Counter::AuditRetried => "jitgate.audit.retried".into(),
        Counter::AuditDropped => "jitgate.audit.dropped".into(),
        Counter::AuditRejected => "jitgate.audit.rejected".into(),
        Counter::AuditBatchesFailed => "jitgate.audit.batches_failed".into(),
        Counter::BudgetCasRetries => "jitgate.budget.cas_retries".into(),
        Counter::BudgetCountFailed => "jitgate.budget.count_failed".into(),
    }
}

/// The stat name of a gauge.
pub fn gauge_name(gauge: Gauge) -> &'static str {
    match gauge {
        Gauge::AuditBufferDepth => "jitgate.audit.buffer_depth",
    }
}

/// Every counter, so all can be defined at start (and show as 0 before first use).
pub fn all() -> Vec<Counter> {
    let mut counters = vec![
        Counter::Allowed,
        Counter::CacheHits,
        Counter::CacheMisses,
        Counter::KeyFetchesOk,
        Counter::KeyFetchesFailed,
        Counter::RevocationPollsOk,
        Counter::RevocationPollsFailed,
        Counter::AuditSent,
        Counter::AuditRetried,
        Counter::AuditDropped,
        Counter::AuditRejected,
        Counter::AuditBatchesFailed,
        Counter::BudgetCasRetries,
        Counter::BudgetCountFailed,
    ];
    counters.extend(
        ALL_REASONS
            .iter()
            .enumerate()
            .filter(|(_, reason)| !reason.allows())
            .map(|(index, _)| Counter::Denied(index)),
    );
    counters
}

/// The counter for a denial with `reason`.
pub fn denied(reason: jitgate_grant::Reason) -> Counter {
    Counter::Denied(
        ALL_REASONS
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(usize::MAX),
    )
}
