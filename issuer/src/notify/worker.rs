//! The delivery worker, one per replica: claim due messages (a lease of `delivery.claim`),
//! send each to its channel's sink, then mark it delivered, schedule its retry (exponential
//! backoff with jitter), or move it to the dead letters after `delivery.max_attempts`.
//!
//! Delivery is at least once: a replica killed between sending and marking leaves its lease
//! to lapse, and the message goes again under the same `webhook-id`, which is what receivers
//! deduplicate on. Messages are sent concurrently within a batch, so no order is promised.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::task::JoinSet;

use super::config::{Delivery, NotifyConfig, Sink};
use super::slack;
use crate::error::{Error, Result};
use crate::ids;
use crate::state::AppState;
use crate::store::outbox::{self, Claimed};

/// Messages one claim takes at most.
const BATCH: i64 = 32;
/// How often an idle worker looks for due messages (other replicas' and retries).
const POLL: Duration = Duration::from_millis(500);

/// This replica's delivery counters, for `/metrics`.
#[derive(Debug, Default)]
pub struct DeliveryCounters {
    /// Messages sent.
    pub delivered: AtomicU64,
    /// Attempts that failed (each retry counts).
    pub failed_attempts: AtomicU64,
    /// Messages given up on.
    pub dead: AtomicU64,
}

/// Starts the worker when notifications are configured.
pub fn spawn(state: AppState) -> Result<()> {
    let Some(config) = state.notifier.config().cloned() else {
        return Ok(());
    };
    let http = reqwest::Client::builder()
        .timeout(config.delivery.timeout)
        // A receiver answers; it does not send us elsewhere.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("jitgate-issuer/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|error| Error::Config(format!("HTTP client: {error}")))?;
    let replica = format!("issuer-{}", ids::hex(&ids::random_bytes::<6>()?));
    tokio::spawn(run(state, config, http, replica));
    Ok(())
}

async fn run(state: AppState, config: Arc<NotifyConfig>, http: reqwest::Client, replica: String) {
    let claim = i64::try_from(config.delivery.claim.as_millis()).unwrap_or(i64::MAX);
    loop {
        let now = now_ms();
        let batch = match outbox::claim(
            &state.store,
            &replica,
            now,
            now.saturating_add(claim),
            BATCH,
        )
        .await
        {
            Ok(batch) => batch,
            Err(error) => {
                tracing::warn!(%error, "notifications: claiming failed; trying again");
                tokio::time::sleep(POLL).await;
                continue;
            }
        };
        if batch.is_empty() {
            state.notifier.wait(POLL).await;
            continue;
        }
        let mut sends = JoinSet::new();
        for message in batch {
            let sink = config.channels.get(&message.channel).cloned();
            let http = http.clone();
            sends.spawn(async move {
                let outcome = match sink {
                    Some(sink) => send(&http, &sink, &message).await,
                    None => Err(format!(
                        "channel {:?} is no longer configured",
                        message.channel
                    )),
                };
                (message, outcome)
            });
        }
        while let Some(joined) = sends.join_next().await {
            let Ok((message, outcome)) = joined else {
                continue;
            };
            if let Err(error) = settle(&state, &config.delivery, &message, outcome).await {
                // The lease lapses and the message is sent again: at least once.
                tracing::warn!(%error, id = message.id, "notifications: recording the outcome failed");
            }
        }
    }
}

/// Sends one message; the error says why, without the URL (a Slack URL is a secret).
async fn send(
    http: &reqwest::Client,
    sink: &Sink,
    message: &Claimed,
) -> std::result::Result<(), String> {
    let request = match sink {
        Sink::Webhook { url, secret } => {
            let timestamp = now_ms() / 1000;
            let body = message.payload.as_bytes();
            http.post(url)
                .header("content-type", "application/json")
                .header("webhook-id", &message.message_id)
                .header("webhook-timestamp", timestamp.to_string())
                .header(
                    "webhook-signature",
                    secret.sign(&message.message_id, timestamp, body),
                )
                .body(message.payload.clone())
        }
        Sink::Slack { url } => {
            let payload: Value = serde_json::from_str(&message.payload)
                .map_err(|error| format!("stored message is not JSON: {error}"))?;
            http.post(url)
                .header("content-type", "application/json")
                .body(slack::body(&payload).to_string())
        }
    };
    match request.send().await {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(format!("the receiver answered {}", response.status())),
        Err(error) => Err(describe(&error.without_url())),
    }
}

fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    format!("sending {kind}: {error}")
}

async fn settle(
    state: &AppState,
    delivery: &Delivery,
    message: &Claimed,
    outcome: std::result::Result<(), String>,
) -> Result<()> {
    let counters = &state.notify_counters;
    match outcome {
        Ok(()) => {
            counters.delivered.fetch_add(1, Ordering::Relaxed);
            tracing::info!(id = message.id, message_id = %message.message_id, channel = %message.channel, "notification delivered");
            outbox::delivered(&state.store, message.id, now_ms() / 1000).await
        }
        Err(error) => {
            counters.failed_attempts.fetch_add(1, Ordering::Relaxed);
            let attempts = u32::try_from(message.attempts).unwrap_or(u32::MAX);
            if attempts >= delivery.max_attempts {
                counters.dead.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(id = message.id, channel = %message.channel, attempts, %error, "notification is a dead letter");
                let now = now_ms();
                outbox::failed(&state.store, message.id, &error, now, Some(now / 1000)).await
            } else {
                let delay = backoff(delivery, attempts)?;
                tracing::info!(id = message.id, channel = %message.channel, attempts, retry_in_ms = delay.as_millis() as u64, %error, "notification failed; will retry");
                let retry_at =
                    now_ms().saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
                outbox::failed(&state.store, message.id, &error, retry_at, None).await
            }
        }
    }
}

/// The wait before attempt `attempts + 1`: `first_retry` doubling per attempt, capped at
/// `max_retry`, then "equal jitter" — half fixed, half random — so replicas retrying a
/// receiver that was down spread out, yet never hammer it sooner than half the schedule.
pub fn backoff(delivery: &Delivery, attempts: u32) -> Result<Duration> {
    let doublings = attempts.saturating_sub(1).min(30);
    let full = delivery
        .first_retry
        .saturating_mul(1 << doublings)
        .min(delivery.max_retry);
    let half = full / 2;
    let random = u64::from_le_bytes(ids::random_bytes::<8>()?);
    let span = u64::try_from(half.as_millis()).unwrap_or(u64::MAX).max(1);
    Ok(half + Duration::from_millis(random % span))
}

/// Wall-clock milliseconds since the epoch.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_half_of_it_random() {
        let delivery = Delivery {
            first_retry: Duration::from_secs(2),
            max_retry: Duration::from_secs(60),
            ..Delivery::default()
        };
        for (attempts, full) in [(1, 2), (2, 4), (3, 8), (5, 32), (6, 60), (40, 60)] {
            for _ in 0..50 {
                let wait = backoff(&delivery, attempts).unwrap();
                let full = Duration::from_secs(full);
                assert!(
                    wait >= full / 2 && wait < full,
                    "attempt {attempts}: {wait:?}"
                );
            }
        }
    }
}
