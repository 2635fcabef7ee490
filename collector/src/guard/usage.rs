//! Usage snapshots for the issuer (`PUT /v1/grants/{id}/usage`): the fleet-wide totals the
//! guard derived from the log, so `jitgate status` can show a grant's use against its budget.
//! Grants whose totals changed are gathered and sent once per period — at most once a second
//! per grant by default, however many records arrive. A snapshot the issuer could not take
//! is sent again next period; the totals themselves are in the database, so a lost snapshot
//! loses nothing but its timing.

use std::sync::Arc;

use serde_json::json;

use super::issuer::Delivery;
use super::metrics::add;
use super::Guard;
use crate::filter::{format_time, now_unix_nano};

/// Runs until the task is aborted.
pub async fn report(guard: Arc<Guard>) {
    let mut ticks = tokio::time::interval(guard.settings.usage_every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        guard.report_usage().await;
    }
}

impl Guard {
    /// Sends one snapshot per grant whose totals changed since the last one.
    pub async fn report_usage(&self) {
        let mut again = Vec::new();
        for grant in self.take_dirty() {
            let totals = match self.store.totals(&grant).await {
                Ok(totals) => totals,
                Err(error) => {
                    tracing::error!(%error, "guard: reading totals failed");
                    again.push(grant);
                    continue;
                }
            };
            let value = |measure: &str| totals.get(measure).copied().unwrap_or(0);
            let snapshot = json!({
                "requests": value("requests"),
                "tokens": value("tokens"),
                "denied": value("denied"),
                "as_of": format_time(now_unix_nano()),
            });
            match self.issuer.usage(&grant, &snapshot).await {
                Delivery::Done(_) => add(&self.metrics.usage_sent, 1),
                Delivery::GiveUp(problem) => {
                    tracing::debug!(%grant, %problem, "guard: usage snapshot not taken");
                }
                Delivery::Retry(problem) => {
                    tracing::warn!(%grant, %problem, "guard: usage snapshot failed; will resend");
                    again.push(grant);
                }
            }
        }
        self.sent_usage(again);
    }
}
