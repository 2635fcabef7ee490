//! The per-VM audit buffer: numbers records, holds them until the collector acknowledges
//! them, forms batches by count, bytes and age, and applies the overflow policy. Pure state;
//! the root context dispatches the batches it hands out.
//!
//! One batch is out at a time while the collector keeps up. When a backlog builds (a full
//! batch waits behind the ones out — after an outage, or under more load than one batch per
//! round trip carries), up to `max_in_flight` go out at once, so the gate catches up in a
//! fraction of the round trips and stops refusing sooner. They may be answered in any order:
//! records leave the buffer only from its front, once every batch before them is answered.
//! A failed batch sends the buffer back to one batch at a time from its first unanswered
//! record, after a backoff; batches still out are forgotten and their records sent again
//! (the collector stores each `(stream, sequence)` once).

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
    /// Most batches out at once while catching up on a backlog.
    pub max_in_flight: usize,
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

/// Backoff after a failed batch: 200 ms doubling to 1 s. The ceiling is also how long the
/// gate may go on refusing (under `deny`) after the collector is back, so it stays short;
/// a probe of one batch per second per VM costs a recovering collector little.
const RETRY_BASE_MS: u64 = 200;
const RETRY_MAX_MS: u64 = 1_000;

/// A batch out, in buffer order.
#[derive(Debug)]
struct Sent {
    token: u32,
    records: usize,
    answered: bool,
}

/// The buffer.
#[derive(Debug)]
pub struct AuditBuffer {
    limits: BufferLimits,
    stream_id: String,
    queue: VecDeque<Pending>,
    queued_bytes: usize,
    next_sequence: u64,
    /// Backoff timing only: batches out are tracked in `in_flight`.
    schedule: CallSchedule,
    /// Batches out, oldest first; they cover the first `in_flight_records` of the queue.
    in_flight: VecDeque<Sent>,
    /// Records in the batches out.
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
            in_flight: VecDeque::new(),
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

    /// The next batch to send, if one is due: the first when none is out (by count, bytes
    /// or age), another only while a full batch waits (see the module docs).
    pub fn next_batch(&mut self, now_ms: u64) -> Option<Batch> {
        if !self.schedule.is_due(now_ms) || self.in_flight.len() >= self.limits.max_in_flight {
            return None;
        }
        let retrying = self.schedule.failures() > 0;
        if retrying && !self.in_flight.is_empty() {
            // One probe at a time until the collector answers again.
            return None;
        }
        let unsent = self.queue.len() - self.in_flight_records;
        let oldest = self.queue.get(self.in_flight_records)?;
        let full = unsent >= self.limits.batch_max_records
            || self.unsent_bytes() >= self.limits.batch_max_bytes;
        let due = if self.in_flight.is_empty() {
            let interval =
                u64::try_from(self.limits.flush_interval.as_millis()).unwrap_or(u64::MAX);
            full || now_ms.saturating_sub(oldest.queued_ms) >= interval || retrying
        } else {
            full
        };
        if !due {
            return None;
        }
        let mut bytes = 0;
        let records: Vec<String> = self
            .queue
            .iter()
            .skip(self.in_flight_records)
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

    /// Bytes of the records not yet out (only asked for while batches are out or the
    /// queue is short of a full batch, so the walk is short).
    fn unsent_bytes(&self) -> usize {
        if self.in_flight_records == 0 {
            return self.queued_bytes;
        }
        let out: usize = self
            .queue
            .iter()
            .take(self.in_flight_records)
            .map(|pending| pending.text.len())
            .sum();
        self.queued_bytes - out
    }

    /// Records that the batch went out as call `token`.
    pub fn sent(&mut self, token: u32, batch: &Batch) {
        self.in_flight.push_back(Sent {
            token,
            records: batch.records.len(),
            answered: false,
        });
        self.in_flight_records += batch.records.len();
    }

    /// Batches out now.
    pub fn batches_in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Records that a batch could not even be dispatched.
    pub fn dispatch_failed(&mut self, now_ms: u64) {
        self.schedule.failed(now_ms);
    }

    /// Whether the next batch is a retry of a failed one.
    pub fn is_retrying(&self) -> bool {
        self.schedule.failures() > 0
    }

    /// Whether `token` is a batch out.
    pub fn owns_call(&self, token: u32) -> bool {
        self.in_flight.iter().any(|sent| sent.token == token)
    }

    /// Applies the collector's answer to batch `token`; returns how many records it carried
    /// (0 for a retry, or a call that is not out). They leave the buffer once every batch
    /// before them is answered too.
    pub fn on_response(&mut self, token: u32, outcome: BatchOutcome, now_ms: u64) -> usize {
        let Some(sent) = self.in_flight.iter_mut().find(|sent| sent.token == token) else {
            return 0;
        };
        match outcome {
            BatchOutcome::Accepted | BatchOutcome::Rejected => {
                sent.answered = true;
                let count = sent.records;
                while let Some(front) = self.in_flight.front().filter(|front| front.answered) {
                    let records = front.records;
                    self.in_flight.pop_front();
                    self.in_flight_records -= records;
                    for pending in self.queue.drain(..records.min(self.queue.len())) {
                        self.queued_bytes -= pending.text.len();
                    }
                }
                self.schedule.succeeded(now_ms);
                count
            }
            BatchOutcome::Retry => {
                // Everything not yet removed goes again, in order, after the backoff (an
                // answered batch behind an unanswered one included: stored once anyway).
                self.in_flight.clear();
                self.in_flight_records = 0;
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
            max_in_flight: 1,
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
        assert_eq!(buffer.on_response(9, BatchOutcome::Accepted, 1100), 2);
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
        assert_eq!(buffer.on_response(1, BatchOutcome::Retry, 1000), 0);
        assert_eq!(buffer.next_batch(1100), None, "backing off");
        let retry = buffer.next_batch(1200).unwrap();
        assert_eq!(sequences(&retry), vec![1, 2]);
    }

    #[test]
    fn a_backlog_goes_out_several_batches_at_once_answered_in_any_order() {
        let mut buffer = AuditBuffer::new(
            BufferLimits {
                max_records: 100,
                max_in_flight: 3,
                ..limits(Overflow::Deny)
            },
            "vm-1".into(),
        );
        for _ in 0..10 {
            buffer.push(record(), 0);
        }
        let first = buffer.next_batch(0).unwrap();
        buffer.sent(1, &first);
        let second = buffer.next_batch(0).unwrap();
        buffer.sent(2, &second);
        let third = buffer.next_batch(0).unwrap();
        buffer.sent(3, &third);
        assert_eq!(
            [sequences(&first), sequences(&second), sequences(&third)],
            [vec![1, 2, 3], vec![4, 5, 6], vec![7, 8, 9]]
        );
        assert_eq!(buffer.next_batch(0), None, "at most three out");
        assert_eq!(buffer.on_response(2, BatchOutcome::Accepted, 10), 3);
        assert_eq!(buffer.depth(), 10, "the first batch is still unanswered");
        assert_eq!(
            buffer.next_batch(10),
            None,
            "record 10 alone is no full batch, and batches are out"
        );
        assert_eq!(buffer.on_response(1, BatchOutcome::Accepted, 20), 3);
        assert_eq!(buffer.depth(), 4, "batches 1 and 2 leave together");
        assert_eq!(buffer.on_response(3, BatchOutcome::Accepted, 30), 3);
        assert_eq!(buffer.depth(), 1);
        assert_eq!(buffer.batches_in_flight(), 0);
        assert_eq!(sequences(&buffer.next_batch(2000).unwrap()), vec![10]);
    }

    #[test]
    fn a_failure_with_batches_out_resends_from_the_first_unremoved_record() {
        let mut buffer = AuditBuffer::new(
            BufferLimits {
                max_records: 100,
                max_in_flight: 3,
                ..limits(Overflow::Deny)
            },
            "vm-1".into(),
        );
        for _ in 0..9 {
            buffer.push(record(), 0);
        }
        for token in 1..=3 {
            let batch = buffer.next_batch(0).unwrap();
            buffer.sent(token, &batch);
        }
        assert_eq!(buffer.on_response(3, BatchOutcome::Accepted, 0), 3);
        assert_eq!(buffer.on_response(2, BatchOutcome::Retry, 0), 0);
        assert!(!buffer.owns_call(1), "batches still out are forgotten");
        assert_eq!(buffer.on_response(1, BatchOutcome::Accepted, 0), 0);
        assert_eq!(buffer.next_batch(100), None, "backing off");
        let probe = buffer.next_batch(1000).unwrap();
        assert_eq!(sequences(&probe), vec![1, 2, 3]);
        buffer.sent(4, &probe);
        assert_eq!(buffer.next_batch(1000), None, "one probe at a time");
        assert_eq!(buffer.on_response(4, BatchOutcome::Accepted, 1000), 3);
        let batch = buffer.next_batch(1000).unwrap();
        assert_eq!(sequences(&batch), vec![4, 5, 6]);
        buffer.sent(5, &batch);
        assert_eq!(
            sequences(&buffer.next_batch(1000).unwrap()),
            vec![7, 8, 9],
            "caught up again: several out"
        );
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
        buffer.on_response(1, BatchOutcome::Accepted, 0);
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
        buffer.on_response(1, BatchOutcome::Accepted, 0);
        let rest = buffer.next_batch(1000).unwrap();
        assert_eq!(
            sequences(&rest),
            vec![5, 6],
            "record 4 was dropped: a gap the collector sees"
        );
    }
}
