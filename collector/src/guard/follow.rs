//! Following the log: from the guard's cursor to the log's size, a page of stored records at
//! a time, each page applied in one transaction with the cursor's move; then wait for the
//! log to grow. When the guard's tables are in the log's own database, each ingest
//! transaction applies its batch itself once the guard is caught up (`audit_log`), and the
//! follower finds nothing left to do. Because the cursor is in the same database as the totals, a crash between
//! two pages repeats nothing and skips nothing, and a guard started on an existing log
//! catches up from where it stopped (or from the first record).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use jitgate_grant::audit::AuditRecord;
use serde_json::Value;

use super::metrics::add;
use super::observe::observe;
use super::record::GuardRecord;
use super::store::{Applied, Batch};
use super::Guard;
use crate::audit_log::AuditLog;
use crate::error::{Error, Result};
use crate::filter::RecordFilter;

/// Records applied per transaction.
const PAGE: u32 = 2000;

/// Pause after a failed page (the database away), before trying again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Runs until the task is aborted.
pub async fn follow(guard: Arc<Guard>, log: Arc<AuditLog>) {
    let mut size = log.watch_size();
    loop {
        size.borrow_and_update();
        if let Err(error) = guard.catch_up(&log).await {
            tracing::error!(%error, "guard: applying the log failed; retrying");
            tokio::time::sleep(RETRY_AFTER).await;
            continue;
        }
        if size.changed().await.is_err() {
            return;
        }
    }
}

impl Guard {
    /// Applies every stored record past the cursor; returns how many records it applied.
    pub async fn catch_up(&self, log: &AuditLog) -> Result<u64> {
        let mut applied_records = 0;
        loop {
            let cursor = self.store.cursor(&self.log_id).await?;
            let end = log.size().await;
            if cursor >= end {
                self.metrics
                    .applied_through
                    .fetch_max(cursor, Ordering::Relaxed);
                return Ok(applied_records);
            }
            let page = log
                .store()
                .records_page(&RecordFilter::default(), cursor, end, PAGE)
                .await?;
            let Some(last) = page.last() else {
                return Err(Error::Inconsistent(format!(
                    "the log holds {end} records but none from leaf {cursor}"
                )));
            };
            let next_leaf = last.leaf_index + 1;
            let mut observations = Vec::new();
            for (offset, stored) in page.iter().enumerate() {
                if stored.leaf_index != cursor + offset as u64 {
                    return Err(Error::Inconsistent(format!(
                        "leaf {} is missing from the stored log",
                        cursor + offset as u64
                    )));
                }
                let value: Value = serde_json::from_str(&stored.canonical).map_err(|e| {
                    Error::Inconsistent(format!("record {} is not JSON: {e}", stored.leaf_index))
                })?;
                if GuardRecord::is_guard_record(&value) {
                    continue;
                }
                let record = AuditRecord::from_otlp_log_record(&value).map_err(|e| {
                    Error::Inconsistent(format!(
                        "record {} is not an audit record: {e}",
                        stored.leaf_index
                    ))
                })?;
                observations.extend(observe(stored.leaf_index, &record));
            }
            let rules = self.rules();
            let applied = self
                .store
                .apply(Batch {
                    log_id: &self.log_id,
                    stream_id: &self.stream_id,
                    first_leaf: cursor,
                    next_leaf,
                    observations,
                    rules: &rules,
                })
                .await?;
            // `None`: the ingest transaction applied these first; read the cursor again.
            if let Some(applied) = applied {
                applied_records += next_leaf - cursor;
                self.after_apply(next_leaf, applied);
            }
        }
    }

    /// Logs new firings, wakes the outbox, marks grants for a usage snapshot.
    pub(crate) fn after_apply(&self, next_leaf: u64, applied: Applied) {
        self.metrics
            .applied_through
            .fetch_max(next_leaf, Ordering::Relaxed);
        add(&self.metrics.firings, applied.firings.len() as u64);
        let steps: u64 = applied
            .firings
            .iter()
            .map(|(firing, _)| {
                1 + u64::from(firing.action.alerts()) + u64::from(firing.action.revokes())
            })
            .sum();
        add(&self.metrics.steps_queued, steps);
        for (firing, sequence) in &applied.firings {
            tracing::warn!(
                rule = %firing.rule,
                grant = %firing.grant_id,
                action = firing.action.as_str(),
                firing = %firing.firing_id,
                sequence,
                detail = %firing.detail,
                "guard rule fired"
            );
        }
        if !applied.firings.is_empty() {
            self.wake_outbox.notify_one();
        }
        self.mark_dirty(applied.grants);
    }
}
