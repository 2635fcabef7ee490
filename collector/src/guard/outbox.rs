//! Delivering firings. Each firing's steps were queued in the transaction that made it: `log`
//! (append its guard record to this collector's log), then `alert` and/or `revoke` at the
//! issuer — only once the record is in the log, so nothing is done that the log does not
//! show. A step that fails for a reason that may pass (the issuer down, a 5xx, our token
//! refused) is retried with doubling delays; one that can never succeed (an unknown grant) is
//! closed with the issuer's answer. Every step is idempotent: the log acknowledges a record
//! it already holds, the issuer an alert whose `firing_id` it has stored, a revocation of a
//! revoked grant with 409 — so a crash between doing a step and marking it done repeats it
//! harmlessly.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::issuer::Delivery;
use super::metrics::add;
use super::record::{GuardRecord, GUARD_DECISION};
use super::Guard;
use crate::audit_log::{AuditLog, LogEntry};
use crate::error::Result;
use crate::filter::now_unix_nano;

/// Steps read per pass.
const DUE_PER_PASS: u32 = 100;

/// How often due retries are looked for when nothing wakes the worker.
const POLL: Duration = Duration::from_millis(250);

/// Runs until the task is aborted.
pub async fn deliver(guard: Arc<Guard>, log: Arc<AuditLog>) {
    loop {
        loop {
            match guard.deliver_due(&log).await {
                Ok(0) => break,
                Ok(_) => continue,
                Err(error) => {
                    tracing::error!(%error, "guard: reading the outbox failed");
                    break;
                }
            }
        }
        tokio::select! {
            () = guard.wake_outbox.notified() => {}
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

impl Guard {
    /// Attempts every step due now; returns how many it finished.
    pub async fn deliver_due(&self, log: &AuditLog) -> Result<usize> {
        let due = self
            .store
            .due(&self.log_id, now_unix_nano(), DUE_PER_PASS)
            .await?;
        let mut finished = 0;
        let mut log_blocked = false;
        for step in due {
            if step.step == "log" && log_blocked {
                // Guard records go into the stream in sequence order: no gap while one waits.
                continue;
            }
            let delivery = match parse(&step.record) {
                Err(problem) => Delivery::GiveUp(problem),
                Ok(record) => match step.step.as_str() {
                    "log" => append(log, &record, &step.record).await,
                    "alert" => self.issuer.alert(&record).await,
                    "revoke" => self.issuer.revoke(&record).await,
                    other => Delivery::GiveUp(format!("unknown outbox step {other:?}")),
                },
            };
            match delivery {
                Delivery::Done(outcome) => {
                    add(&self.metrics.steps_done, 1);
                    self.store
                        .finish(&step.firing_id, &step.step, &outcome)
                        .await?;
                    finished += 1;
                }
                Delivery::GiveUp(problem) => {
                    add(&self.metrics.steps_given_up, 1);
                    tracing::error!(firing = %step.firing_id, step = %step.step, %problem, "guard: step given up");
                    self.store
                        .finish(&step.firing_id, &step.step, &format!("gave up: {problem}"))
                        .await?;
                    finished += 1;
                }
                Delivery::Retry(problem) => {
                    add(&self.metrics.steps_retried, 1);
                    let delay = self.backoff(step.attempts);
                    tracing::warn!(firing = %step.firing_id, step = %step.step, %problem, retry_in = ?delay, "guard: step failed; will retry");
                    let next = now_unix_nano()
                        .saturating_add(u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX));
                    self.store
                        .retry_at(&step.firing_id, &step.step, next, &problem)
                        .await?;
                    if step.step == "log" {
                        log_blocked = true;
                    }
                }
            }
        }
        Ok(finished)
    }

    /// The delay before attempt `attempts + 1`.
    fn backoff(&self, attempts: u64) -> Duration {
        let doublings = u32::try_from(attempts.min(20)).unwrap_or(20);
        self.settings
            .retry_first
            .saturating_mul(2u32.saturating_pow(doublings))
            .min(self.settings.retry_max)
    }
}

fn parse(canonical: &str) -> std::result::Result<GuardRecord, String> {
    let value: Value = serde_json::from_str(canonical)
        .map_err(|e| format!("the stored guard record is not JSON: {e}"))?;
    GuardRecord::from_otlp_log_record(&value)
}

/// Appends the guard record to the log; a record already there counts as done.
async fn append(log: &AuditLog, record: &GuardRecord, canonical: &str) -> Delivery {
    let entry = LogEntry {
        position: format!("guard firing {}", record.firing_id),
        stream_id: record.stream_id.clone(),
        sequence: record.sequence,
        time_unix_nano: record.time_unix_nano,
        decision: GUARD_DECISION,
        subject: record.subject.clone(),
        grant_id: Some(record.grant_id.clone()),
        model: None,
        canonical: canonical.to_owned(),
        leaf: crate::canonical::record_leaf_hash(canonical),
        observation: None,
    };
    match log.append_entries(vec![entry]).await {
        Ok(outcome) if outcome.stored == 1 => Delivery::Done("logged".into()),
        Ok(outcome) if outcome.duplicates == 1 => Delivery::Done("already logged".into()),
        Ok(outcome) => Delivery::GiveUp(
            outcome
                .conflicts
                .first()
                .map_or_else(|| "not stored".to_owned(), |c| c.reason.clone()),
        ),
        Err(error) => Delivery::Retry(format!("appending to the log: {error}")),
    }
}
