//! The guard's counters on `GET /metrics` (appended to the collector's, only while the guard
//! runs): firings made, outbox steps delivered, retried and given up, usage snapshots sent,
//! how far into the log the guard's totals go, and what is still on its way to the issuer
//! (the gauges a deployment alerts on, and the local stack waits on before a README step's
//! output is compared).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters since the collector started.
#[derive(Debug, Default)]
pub struct GuardMetrics {
    /// Firings made by this collector.
    pub firings: AtomicU64,
    /// Outbox steps done.
    pub steps_done: AtomicU64,
    /// Outbox attempts that failed and will be retried.
    pub steps_retried: AtomicU64,
    /// Outbox steps given up (the issuer can never take them).
    pub steps_given_up: AtomicU64,
    /// Usage snapshots the issuer took.
    pub usage_sent: AtomicU64,
    /// One past the last leaf this collector applied to the totals.
    pub applied_through: AtomicU64,
    /// Outbox steps this collector's firings queued (log, alert, revoke).
    pub steps_queued: AtomicU64,
    /// Grants waiting for their next usage snapshot, or having it sent now.
    pub usage_pending: AtomicU64,
}

/// Adds `by` to a counter.
pub(crate) fn add(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

impl GuardMetrics {
    /// The Prometheus text exposition; `log_size` for the lag.
    pub fn render(&self, log_size: u64) -> String {
        let mut out = String::new();
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let applied = read(&self.applied_through);
        for (name, kind, help, value) in [
            (
                "jitgate_guard_firings_total",
                "counter",
                "Guard rules fired (firings made by this collector).",
                read(&self.firings),
            ),
            (
                "jitgate_guard_steps_done_total",
                "counter",
                "Outbox steps (log, alert, revoke) done.",
                read(&self.steps_done),
            ),
            (
                "jitgate_guard_steps_retried_total",
                "counter",
                "Outbox attempts that failed and will be retried.",
                read(&self.steps_retried),
            ),
            (
                "jitgate_guard_steps_given_up_total",
                "counter",
                "Outbox steps closed without success (the issuer can never take them).",
                read(&self.steps_given_up),
            ),
            (
                "jitgate_guard_usage_sent_total",
                "counter",
                "Usage snapshots the issuer took.",
                read(&self.usage_sent),
            ),
            (
                "jitgate_guard_steps_open",
                "gauge",
                "Outbox steps of this collector's firings not yet done or given up.",
                read(&self.steps_queued)
                    .saturating_sub(read(&self.steps_done))
                    .saturating_sub(read(&self.steps_given_up)),
            ),
            (
                "jitgate_guard_usage_pending",
                "gauge",
                "Grants whose totals changed and whose usage snapshot has not reached the issuer yet.",
                read(&self.usage_pending),
            ),
            (
                "jitgate_guard_lag_records",
                "gauge",
                "Stored records not yet applied to the guard's totals (as of the last apply).",
                log_size.saturating_sub(applied),
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        out
    }
}
