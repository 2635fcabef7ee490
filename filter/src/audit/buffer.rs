//! The per-VM audit buffer: numbers records, holds them until the collector acknowledges
//! them, forms batches by count, bytes and age, and applies the overflow policy. Pure state;
//! the root context dispatches the batches it hands out.

use std::collections::VecDeque;
use std::time::Duration;

use jitgate_grant::audit::AuditRecord;

use crate::schedule::CallSchedule;

/// What to do when the buffer is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Refuse new requests (503 `audit_unavailable`) until there is room: nothing is let
    /// through that could not be recorded.
    Deny,
    /// Keep serving; drop the oldest unsent records (counted, and visible to the collector as
    /// a gap in the stream).
    DropOldest,
}

/// Batching and buffering limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BufferLimits {
    /// Records per batch.
    pub batch_max_records: usize,
    /// Bytes per batch (serialized records).
    pub batch_max_bytes: usize,
    /// Longest a record waits before its batch is sent anyway.
    pub flush_interval: Duration,
    /// Records held before the overflow policy applies.
    pub max_records: usize,
    /// The overflow policy.
    pub overflow: Overflow,
}

/// A batch handed out for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The serialized OTLP log records, oldest first.
    pub records: Vec<String>,
}

/// How the collector answered a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchOutcome {
    /// Stored (2xx).
    Accepted,
    /// Refused for good (400, 413): retrying would not help.
    Rejected,
    /// Try again later (no answer, 401/403, 429, 5xx).
    Retry,
}

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushOutcome {
    /// The sequence number given to the record.
    pub sequence: u64,
    /// Records dropped to make room (or the record itself, past the hard cap).
    pub dropped: u64,
}

#[derive(Debug)]
struct Pending {
    text: String,
    queued_ms: u64,
}

const RETRY_BASE_MS: u64 = 200;
const RETRY_MAX_MS: u64 = 5_000;

/// The buffer.
#[derive(Debug)]
pub struct AuditBuffer {
    limits: BufferLimits,
    stream_id: String,
    queue: VecDeque<Pending>,
    queued_bytes: usize,
    next_sequence: u64,
    schedule: CallSchedule,
    /// Records in the batch out (0 when none is).
    in_flight_records: usize,
}

impl AuditBuffer {
    /// An empty buffer for stream `stream_id`.
    pub fn new(limits: BufferLimits, stream_id: String) -> AuditBuffer {
        AuditBuffer {
            limits,
            stream_id,
            queue: VecDeque::new(),
            queued_bytes: 0,
            next_sequence: 1,
            schedule: CallSchedule::new(RETRY_BASE_MS, RETRY_MAX_MS),
            in_flight_records: 0,
        }
    }

    /// This VM's stream id.
    pub fn stream_id(&self) -> &str {
        &self.stream_id
    }

    /// Records held (sent or not yet acknowledged).
    pub fn depth(&self) -> usize {
        self.queue.len()
    }

    /// Whether new requests must be refused (`deny` policy, buffer full).
    pub fn refuses_new_requests(&self) -> bool {
        self.limits.overflow == Overflow::Deny && self.queue.len() >= self.limits.max_records
    }

    /// Numbers and queues a record.
    ///
    /// Under `deny`, requests already admitted still get their records (the buffer may run
    /// past its limit by the requests in flight when it filled), up to a hard cap of twice the
    /// limit, past which a record is dropped and counted. Under `drop_oldest` the oldest
    /// unsent records make room.
    pub fn push(&mut self, mut record: AuditRecord, now_ms: u64) -> PushOutcome {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        record.stream_id = self.stream_id.clone();
        record.sequence = sequence;
        let text = record.to_otlp_log_record_text();
        let mut dropped = 0;
        match self.limits.overflow {
            Overflow::Deny if self.queue.len() >= self.limits.max_records.saturating_mul(2) => {
                return PushOutcome {
                    sequence,
                    dropped: 1,
                };
            }
            Overflow::Deny => {}
            Overflow::DropOldest => {
                let in_flight = self.in_flight_records;
                while self.queue.len() >= self.limits.max_records && self.queue.len() > in_flight {
                    // Never drop what is being sent: its acknowledgement removes it.
                    if let Some(oldest) = self.queue.remove(in_flight) {
                        self.queued_bytes -= oldest.text.len();
                        dropped += 1;
                    }
                }
            }
        }
        self.queued_bytes += text.len();
        self.queue.push_back(Pending {
            text,
            queued_ms: now_ms,
        });
        PushOutcome { sequence, dropped }
    }

    /// The next batch to send, if one is due and none is in flight.
    pub fn next_batch(&mut self, now_ms: u64) -> Option<Batch> {
        if !self.schedule.is_due(now_ms) {
            return None;
        }
        let oldest = self.queue.front()?;
        let interval = u64::try_from(self.limits.flush_interval.as_millis()).unwrap_or(u64::MAX);
        let due = self.queue.len() >= self.limits.batch_max_records
            || self.queued_bytes >= self.limits.batch_max_bytes
            || now_ms.saturating_sub(oldest.queued_ms) >= interval
            || self.schedule.failures() > 0;
        if !due {
            return None;
        }
        let mut bytes = 0;
        let records: Vec<String> = self
            .queue
            .iter()
            .take(self.limits.batch_max_records)
            .take_while(|pending| {
                bytes += pending.text.len();
                // Always send at least one record, however large.
                bytes <= self.limits.batch_max_bytes || bytes == pending.text.len()
            })
            .map(|pending| pending.text.clone())
            .collect();
        Some(Batch { records })
    }

    /// Records that the batch went out as call `token`.
    pub fn sent(&mut self, token: u32, batch: &Batch) {
        self.schedule.started(token);
        self.in_flight_records = batch.records.len();
    }

    /// Records that a batch could not even be dispatched.
    pub fn dispatch_failed(&mut self, now_ms: u64) {
        self.schedule.failed(now_ms);
    }

    /// Whether the next batch is a retry of a failed one.
    pub fn is_retrying(&self) -> bool {
        self.schedule.failures() > 0
    }

    /// Whether `token` is the batch in flight.
    pub fn owns_call(&self, token: u32) -> bool {
        self.schedule.owns(token)
    }

    /// Applies the collector's answer to the batch in flight; returns how many records
    /// left the buffer.
    pub fn on_response(&mut self, outcome: BatchOutcome, now_ms: u64) -> usize {
        if !self.schedule.is_in_flight() {
            return 0;
        }
        let count = std::mem::take(&mut self.in_flight_records);
        match outcome {
            BatchOutcome::Accepted | BatchOutcome::Rejected => {
                for pending in self.queue.drain(..count.min(self.queue.len())) {
                    self.queued_bytes -= pending.text.len();
                }
                self.schedule.succeeded(now_ms);
                count
            }
            BatchOutcome::Retry => {
                self.schedule.failed(now_ms);
                0
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jitgate_grant::audit::AuditDecision;

    fn limits(overflow: Overflow) -> BufferLimits {
        BufferLimits {
            batch_max_records: 3,
            batch_max_bytes: 1_000_000,
            flush_interval: Duration::from_millis(1000),
            max_records: 5,
            overflow,
        }
    }

    fn record() -> AuditRecord {
        let mut record = AuditRecord::from_decision(&jitgate_grant::Decision {
            outcome: jitgate_grant::Outcome::Allow,
            reason: jitgate_grant::Reason::PublicRoute,
            grant: None,
            route: None,
            required_scope: None,
            model: None,
        });
        record.method = "GET".into();
        record.path = "/v1/models".into();
        record.decision = AuditDecision::Allow;
        record
    }

    fn sequences(batch: &Batch) -> Vec<u64> {
        batch
            .records
            .iter()
            .map(|text| {
                let value: serde_json::Value = serde_json::from_str(text).unwrap();
                AuditRecord::from_otlp_log_record(&value).unwrap().sequence
            })
            .collect()
    }

    #[test]
    fn numbers_records_and_batches_by_count_or_age() {
        let mut buffer = AuditBuffer::new(limits(Overflow::Deny), "vm-1".into());
        assert_eq!(buffer.push(record(), 0).sequence, 1);
        assert_eq!(buffer.push(record(), 0).sequence, 2);
        assert_eq!(buffer.next_batch(500), None, "not full, not old enough");
        let batch = buffer.next_batch(1000).unwrap();
        assert_eq!(sequences(&batch), vec![1, 2]);
        buffer.sent(9, &batch);
        assert_eq!(buffer.next_batch(1000), None, "one batch at a time");
        assert!(buffer.owns_call(9));
        assert_eq!(buffer.on_response(BatchOutcome::Accepted, 1100), 2);
        assert_eq!(buffer.depth(), 0);
        for _ in 0..3 {
            buffer.push(record(), 1200);
        }
        assert_eq!(
            sequences(&buffer.next_batch(1200).unwrap()),
            vec![3, 4, 5],
            "a full batch goes at once"
        );
    }

    #[test]
    fn a_failed_batch_is_retried_in_order_after_a_backoff() {
        let mut buffer = AuditBuffer::new(limits(Overflow::Deny), "vm-1".into());
        buffer.push(record(), 0);
        let batch = buffer.next_batch(1000).unwrap();
        buffer.sent(1, &batch);
        buffer.push(record(), 1000);
        assert_eq!(buffer.on_response(BatchOutcome::Retry, 1000), 0);
        assert_eq!(buffer.next_batch(1100), None, "backing off");
        let retry = buffer.next_batch(1200).unwrap();
        assert_eq!(sequences(&retry), vec![1, 2]);
    }

    #[test]
    fn deny_policy_refuses_when_full_but_keeps_admitted_records() {
        let mut buffer = AuditBuffer::new(limits(Overflow::Deny), "vm-1".into());
        for _ in 0..5 {
            assert_eq!(buffer.push(record(), 0).dropped, 0);
        }
        assert!(buffer.refuses_new_requests());
        for _ in 0..5 {
            assert_eq!(
                buffer.push(record(), 0).dropped,
                0,
                "in-flight requests still recorded"
            );
        }
        assert_eq!(buffer.push(record(), 0).dropped, 1, "past the hard cap");
        let batch = buffer.next_batch(0).unwrap();
        buffer.sent(1, &batch);
        buffer.on_response(BatchOutcome::Accepted, 0);
        assert_eq!(buffer.depth(), 7);
    }

    #[test]
    fn drop_oldest_policy_keeps_serving_and_never_drops_the_batch_in_flight() {
        let mut buffer = AuditBuffer::new(limits(Overflow::DropOldest), "vm-1".into());
        for _ in 0..5 {
            buffer.push(record(), 0);
        }
        let batch = buffer.next_batch(0).unwrap();
        buffer.sent(1, &batch);
        assert!(!buffer.refuses_new_requests());
        assert_eq!(buffer.push(record(), 0).dropped, 1);
        assert_eq!(buffer.depth(), 5);
        buffer.on_response(BatchOutcome::Accepted, 0);
        let rest = buffer.next_batch(1000).unwrap();
        assert_eq!(
            sequences(&rest),
            vec![5, 6],
            "record 4 was dropped: a gap the collector sees"
        );
    }
}
