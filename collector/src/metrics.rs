//! Counters for `GET /metrics` (Prometheus text format): what was stored, replayed, refused
//! and signed. Gauges that describe the log itself (size, gaps) are read from the log when
//! the page is rendered, so they cannot drift from it.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters since the collector started.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Records appended to the log.
    pub records_stored: AtomicU64,
    /// Replayed records acknowledged without storing them again.
    pub records_duplicate: AtomicU64,
    /// Records refused because they are not valid audit records.
    pub records_rejected_invalid: AtomicU64,
    /// Records refused because their (stream, sequence) is stored with other content.
    pub records_rejected_conflict: AtomicU64,
    /// Export requests answered with 2xx.
    pub batches_accepted: AtomicU64,
    /// Export requests refused as a whole (4xx).
    pub batches_refused: AtomicU64,
    /// Export requests refused because a record was outside the sender's binding (403).
    pub batches_forbidden: AtomicU64,
    /// Requests refused for a missing or unknown credential.
    pub unauthorized: AtomicU64,
    /// Checkpoints signed.
    pub checkpoints_signed: AtomicU64,
}

/// The log's current shape, for the gauges.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogGauges {
    /// Records in the log.
    pub tree_size: u64,
    /// Size of the newest checkpoint.
    pub checkpoint_size: u64,
    /// Streams seen.
    pub streams: u64,
    /// Streams with at least one gap.
    pub streams_with_gaps: u64,
    /// Sequence numbers missing across all streams.
    pub missing_sequences: u64,
}

/// Adds one to a counter.
pub(crate) fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

impl Metrics {
    /// The Prometheus text exposition.
    pub fn render(&self, gauges: LogGauges) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        metric(
            "jitgate_collector_records_stored_total",
            "counter",
            "Audit records appended to the log.",
            read(&self.records_stored),
        );
        metric(
            "jitgate_collector_records_duplicate_total",
            "counter",
            "Replayed audit records acknowledged and not stored again.",
            read(&self.records_duplicate),
        );
        metric(
            "jitgate_collector_records_rejected_invalid_total",
            "counter",
            "Log records refused as invalid audit records.",
            read(&self.records_rejected_invalid),
        );
        metric(
            "jitgate_collector_records_rejected_conflict_total",
            "counter",
            "Records refused because their stream and sequence are stored with different content.",
            read(&self.records_rejected_conflict),
        );
        metric(
            "jitgate_collector_batches_accepted_total",
            "counter",
            "Export requests accepted (fully or partially).",
            read(&self.batches_accepted),
        );
        metric(
            "jitgate_collector_batches_refused_total",
            "counter",
            "Export requests refused as a whole.",
            read(&self.batches_refused),
        );
        metric(
            "jitgate_collector_batches_forbidden_total",
            "counter",
            "Export requests refused because a record was outside the sender's streams or record kind.",
            read(&self.batches_forbidden),
        );
        metric(
            "jitgate_collector_unauthorized_total",
            "counter",
            "Requests refused for a missing or unknown credential.",
            read(&self.unauthorized),
        );
        metric(
            "jitgate_collector_checkpoints_signed_total",
            "counter",
            "Checkpoints signed since start.",
            read(&self.checkpoints_signed),
        );
        metric(
            "jitgate_collector_tree_size",
            "gauge",
            "Records in the log (the Merkle tree size).",
            gauges.tree_size,
        );
        metric(
            "jitgate_collector_checkpoint_size",
            "gauge",
            "Tree size of the newest signed checkpoint.",
            gauges.checkpoint_size,
        );
        metric(
            "jitgate_collector_streams",
            "gauge",
            "Streams that have delivered records.",
            gauges.streams,
        );
        metric(
            "jitgate_collector_streams_with_gaps",
            "gauge",
            "Streams with missing sequence numbers.",
            gauges.streams_with_gaps,
        );
        metric(
            "jitgate_collector_missing_sequences",
            "gauge",
            "Sequence numbers missing below each stream's highest, summed over streams.",
            gauges.missing_sequences,
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let metrics = Metrics::default();
        bump(&metrics.records_stored, 3);
        let text = metrics.render(LogGauges {
            missing_sequences: 2,
            ..LogGauges::default()
        });
        assert!(text.contains(
            "# TYPE jitgate_collector_records_stored_total counter\njitgate_collector_records_stored_total 3\n"
        ));
        assert!(text.contains("jitgate_collector_missing_sequences 2\n"));
    }
}
