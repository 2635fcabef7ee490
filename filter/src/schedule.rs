//! When a recurring call to another cluster — a key fetch, a revocation poll, an audit batch —
//! may go next: at most one in flight, a time it is next due, and exponential backoff with
//! jitter after failures. The three callers differ only in what they do with the answer.

use crate::backoff;

/// The timing state of one kind of call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallSchedule {
    in_flight: Option<u32>,
    next_ms: u64,
    failures: u32,
    retry_base_ms: u64,
    retry_max_ms: u64,
}

impl CallSchedule {
    /// Due at once; after a failure, retried after `retry_base_ms` doubling to `retry_max_ms`.
    pub fn new(retry_base_ms: u64, retry_max_ms: u64) -> CallSchedule {
        CallSchedule {
            in_flight: None,
            next_ms: 0,
            failures: 0,
            retry_base_ms,
            retry_max_ms,
        }
    }

    /// Whether a call should start now.
    pub fn is_due(&self, now_ms: u64) -> bool {
        self.in_flight.is_none() && now_ms >= self.next_ms
    }

    /// Whether a call is out.
    pub fn is_in_flight(&self) -> bool {
        self.in_flight.is_some()
    }

    /// Whether `token` is the call out.
    pub fn owns(&self, token: u32) -> bool {
        self.in_flight == Some(token)
    }

    /// Failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// When the next call is due.
    pub fn next_ms(&self) -> u64 {
        self.next_ms
    }

    /// A call went out as `token`.
    pub fn started(&mut self, token: u32) {
        self.in_flight = Some(token);
    }

    /// The call succeeded; the next is due at `next_ms`.
    pub fn succeeded(&mut self, next_ms: u64) {
        self.in_flight = None;
        self.failures = 0;
        self.next_ms = next_ms;
    }

    /// The call failed (or could not be made): back off.
    pub fn failed(&mut self, now_ms: u64) {
        self.in_flight = None;
        self.failures = self.failures.saturating_add(1);
        let delay = backoff::delay_ms(self.failures, self.retry_base_ms, self.retry_max_ms, now_ms);
        self.next_ms = now_ms.saturating_add(delay);
    }

    /// Makes the next call due now (if none is out and it was due later).
    pub fn bring_forward(&mut self, now_ms: u64) {
        self.next_ms = self.next_ms.min(now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_call_at_a_time_then_backoff_then_reset() {
        let mut schedule = CallSchedule::new(500, 30_000);
        assert!(schedule.is_due(0));
        schedule.started(7);
        assert!(!schedule.is_due(0) && schedule.owns(7) && !schedule.owns(8));
        schedule.failed(1000);
        assert_eq!(schedule.failures(), 1);
        assert!(!schedule.is_due(1399) && schedule.is_due(1500));
        schedule.started(8);
        schedule.succeeded(9000);
        assert_eq!((schedule.failures(), schedule.next_ms()), (0, 9000));
        schedule.bring_forward(2000);
        assert!(schedule.is_due(2000));
    }
}
