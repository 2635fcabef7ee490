//! Notifications that are never lost: each change people must hear about writes its
//! messages into the outbox in the same database transaction as the change itself
//! ([`Notifier::enqueue`]), and a delivery worker on every replica sends them with retries,
//! backoff and jitter, at least once, under a stable idempotency id ([`worker`]).
//!
//! Who hears what ([`Notifier::channels_for`]):
//! - a pending review goes to the `@notify` channels of the permits that ask for approval,
//!   else to the routing's `reviews` channel;
//! - decisions, expiry, revocation and a window ending soon go to `requesters`;
//! - the guard's alerts go to `security`, and so does every event of a break-glass grant.
//!
//! Sinks: a generic webhook signed per Standard Webhooks ([`webhook`]), and a Slack
//! incoming webhook ([`slack`]). Configuration: [`config`].

pub mod config;
pub mod event;
pub mod slack;
pub mod webhook;
pub mod worker;

use std::sync::Arc;

use sqlx::{Any, Transaction};

use crate::error::Result;
use crate::ids;
use crate::store::outbox::{self, NewMessage};

pub use config::NotifyConfig;
pub use event::{EventKind, Notice};

/// The issuer's notifications: the configuration (none: notifications off) and the bell
/// that wakes this replica's delivery worker when it has just enqueued something.
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    config: Option<Arc<NotifyConfig>>,
    issuer_url: String,
    wake: Arc<tokio::sync::Notify>,
}

impl Notifier {
    /// Notifications off: nothing is enqueued.
    pub fn disabled() -> Notifier {
        Notifier::default()
    }

    /// Notifications as `config` says; links point at `issuer_url`.
    pub fn new(config: NotifyConfig, issuer_url: &str) -> Notifier {
        Notifier {
            config: Some(Arc::new(config)),
            issuer_url: issuer_url.to_owned(),
            wake: Arc::default(),
        }
    }

    /// The configuration, when notifications are on.
    pub fn config(&self) -> Option<&Arc<NotifyConfig>> {
        self.config.as_ref()
    }

    /// The channels that hear of `notice`, each once.
    pub fn channels_for(&self, notice: &Notice<'_>) -> Vec<String> {
        let Some(config) = &self.config else {
            return Vec::new();
        };
        let routing = &config.routing;
        let mut channels: Vec<String> = match notice.kind {
            EventKind::ReviewPending if !notice.request.assessment.notify.is_empty() => {
                notice.request.assessment.notify.clone()
            }
            EventKind::ReviewPending => routing.reviews.iter().cloned().collect(),
            EventKind::GuardAlert => Vec::new(),
            _ => routing.requesters.iter().cloned().collect(),
        };
        if notice.request.break_glass || notice.kind == EventKind::GuardAlert {
            channels.extend(routing.security.iter().cloned());
        }
        channels.sort();
        channels.dedup();
        // A channel the policy names but the file lost (the policy is checked against the
        // file at start and on reload, so only a stored old assessment can do this).
        channels.retain(|name| config.has_channel(name));
        channels
    }

    /// Writes `notice`'s messages, one per channel, in `tx` (the transaction making the
    /// change), so they exist exactly when the change does.
    pub async fn enqueue(&self, tx: &mut Transaction<'_, Any>, notice: &Notice<'_>) -> Result<()> {
        let channels = self.channels_for(notice);
        if channels.is_empty() {
            return Ok(());
        }
        let payload = notice.payload(&self.issuer_url).to_string();
        for channel in &channels {
            // The expiring-soon notice is enqueued by every replica's sweep: its id is
            // derived, so the second insert is ignored. Every other change happens once.
            let message_id = match notice.kind {
                EventKind::ExpiringSoon => {
                    format!("msg_expiring_{}_{channel}", notice.request.id)
                }
                _ => format!("msg_{}", ids::hex(&ids::random_bytes::<16>()?)),
            };
            outbox::insert(
                tx,
                &NewMessage {
                    message_id: &message_id,
                    channel,
                    event: notice.kind.as_str(),
                    request_id: &notice.request.id,
                    payload: &payload,
                    created_at: notice.at,
                    // Due at once. (The workers keep wall-clock time; `notice.at` is the
                    // issuer's clock, which tests may set.)
                    due_ms: 0,
                },
            )
            .await?;
        }
        Ok(())
    }

    /// Wakes this replica's worker (call after the transaction commits).
    pub fn wake(&self) {
        if self.config.is_some() {
            self.wake.notify_one();
        }
    }

    /// Waits until woken or `interval` passes.
    pub(crate) async fn wait(&self, interval: std::time::Duration) {
        let _ = tokio::time::timeout(interval, self.wake.notified()).await;
    }
}
