//! The filter's Envoy stats, all under `jitgate.` (Envoy shows Wasm-defined metrics with its
//! own `wasmcustom.` prefix: `envoy_wasmcustom_jitgate_allowed` in `/stats/prometheus`).

use jitgate_grant::reason::ALL_REASONS;

use crate::host::{CommonHost, Counter, Gauge};

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

/// Counts made on the request path, kept in the VM and added to Envoy's counters on the root
/// context's next tick (every 250 ms at most) instead of one host call per count: a cached
/// decision made two (`allowed` and `cache.hits`), each a crossing out of V8 that cost more
/// than the decision itself (`bench/hot-path` counts them). Stats then lag the requests by at
/// most one tick; nothing is lost, as the VM outlives its ticks (a VM torn down between
/// ticks takes its uncounted requests with it, as Envoy drops its stats with it too).
#[derive(Debug, Default)]
pub struct PendingCounts {
    /// Few distinct counters move between two ticks: a short list beats a map here.
    counts: Vec<(Counter, u64)>,
}

impl PendingCounts {
    /// Adds to a counter, for the next flush.
    pub fn add(&mut self, counter: Counter, by: u64) {
        if by == 0 {
            return;
        }
        match self.counts.iter_mut().find(|(known, _)| *known == counter) {
            Some((_, count)) => *count = count.saturating_add(by),
            None => self.counts.push((counter, by)),
        }
    }

    /// Hands every pending count to the host and starts over.
    pub fn flush(&mut self, host: &mut impl CommonHost) {
        for (counter, by) in self.counts.drain(..) {
            host.increment(counter, by);
        }
    }
}
