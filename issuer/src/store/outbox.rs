//! The notification outbox (see `migrations/*/20261215000001_notifications.sql`): rows are
//! written in the transaction of the change they tell of, then claimed, sent and settled by
//! the delivery workers of every replica.
//!
//! A claim is a lease: `claimed_until_ms`. On PostgreSQL, `FOR UPDATE SKIP LOCKED` lets
//! replicas claim at the same moment without waiting on each other or taking the same row;
//! on SQLite the single writer serialises claims. A replica that dies mid-delivery leaves its
//! lease to lapse, after which any replica sends the message again (same `message_id`): at
//! least once.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::{Backend, Store};
use crate::error::Result;

/// A message to store.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    /// The stable idempotency id (`webhook-id`).
    pub message_id: &'a str,
    /// The channel it goes to.
    pub channel: &'a str,
    /// The event type.
    pub event: &'a str,
    /// The request or grant it is about.
    pub request_id: &'a str,
    /// The body, JSON.
    pub payload: &'a str,
    /// Unix seconds.
    pub created_at: i64,
    /// When it may first be sent, Unix milliseconds.
    pub due_ms: i64,
}

/// A claimed message, to send now.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// Row id.
    pub id: i64,
    /// The idempotency id.
    pub message_id: String,
    /// Its channel.
    pub channel: String,
    /// Its body.
    pub payload: String,
    /// Attempts so far, this one included.
    pub attempts: i64,
}

/// A message as the API lists it.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxEntry {
    /// Row id (what `retry` takes).
    pub id: i64,
    /// The idempotency id receivers saw.
    pub message_id: String,
    /// Its channel.
    pub channel: String,
    /// The event type.
    pub event: String,
    /// The request or grant.
    pub request_id: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Attempts made.
    pub attempts: i64,
    /// When it became a dead letter, Unix seconds.
    pub dead_at: Option<i64>,
    /// The last attempt's failure.
    pub last_error: Option<String>,
}

/// How many messages are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutboxCounts {
    /// Waiting to be sent or retried.
    pub pending: i64,
    /// Sent.
    pub delivered: i64,
    /// Given up on.
    pub dead: i64,
}

/// Stores a message; a second message with the same id (e.g. the expiring-soon notice,
/// enqueued by every replica's sweep) is ignored.
pub async fn insert(tx: &mut Transaction<'_, Any>, message: &NewMessage<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO notification_outbox \
         (message_id, channel, event, request_id, payload, created_at, next_attempt_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (message_id) DO NOTHING",
    )
    .bind(message.message_id)
    .bind(message.channel)
    .bind(message.event)
    .bind(message.request_id)
    .bind(message.payload)
    .bind(message.created_at)
    .bind(message.due_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Claims up to `limit` due messages for `replica` until `until_ms`, counting the attempt.
pub async fn claim(
    store: &Store,
    replica: &str,
    now_ms: i64,
    until_ms: i64,
    limit: i64,
) -> Result<Vec<Claimed>> {
    let lock = match store.backend() {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let rows = sqlx::query(&format!(
        "UPDATE notification_outbox SET claimed_by = $1, claimed_until_ms = $2, \
         attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM notification_outbox \
           WHERE delivered_at IS NULL AND dead_at IS NULL AND next_attempt_ms <= $3 \
           AND (claimed_until_ms IS NULL OR claimed_until_ms < $3) \
           ORDER BY id LIMIT $4{lock}) \
         RETURNING id, message_id, channel, payload, attempts"
    ))
    .bind(replica)
    .bind(until_ms)
    .bind(now_ms)
    .bind(limit)
    .fetch_all(store.pool())
    .await?;
    let mut claimed = rows
        .iter()
        .map(|row| {
            Ok(Claimed {
                id: row.try_get("id")?,
                message_id: row.try_get("message_id")?,
                channel: row.try_get("channel")?,
                payload: row.try_get("payload")?,
                attempts: row.try_get("attempts")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    claimed.sort_by_key(|message| message.id);
    Ok(claimed)
}

/// Marks a message sent.
pub async fn delivered(store: &Store, id: i64, at: i64) -> Result<()> {
    sqlx::query(
        "UPDATE notification_outbox SET delivered_at = $1, claimed_by = NULL, \
         claimed_until_ms = NULL, last_error = NULL WHERE id = $2 AND delivered_at IS NULL",
    )
    .bind(at)
    .bind(id)
    .execute(store.pool())
    .await?;
    Ok(())
}

/// Records a failed attempt: retried from `retry_at_ms`, or a dead letter when `dead_at`
/// is set.
pub async fn failed(
    store: &Store,
    id: i64,
    error: &str,
    retry_at_ms: i64,
    dead_at: Option<i64>,
) -> Result<()> {
    sqlx::query(
        "UPDATE notification_outbox SET next_attempt_ms = $1, dead_at = $2, last_error = $3, \
         claimed_by = NULL, claimed_until_ms = NULL WHERE id = $4 AND delivered_at IS NULL",
    )
    .bind(retry_at_ms)
    .bind(dead_at)
    .bind(error)
    .bind(id)
    .execute(store.pool())
    .await?;
    Ok(())
}

/// The dead letters, newest first.
pub async fn dead_letters(store: &Store, limit: i64) -> Result<Vec<OutboxEntry>> {
    let rows = sqlx::query(
        "SELECT id, message_id, channel, event, request_id, created_at, attempts, dead_at, \
         last_error FROM notification_outbox WHERE dead_at IS NOT NULL \
         ORDER BY dead_at DESC, id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(entry).collect()
}

/// Gives a dead letter a fresh set of attempts, due now; false when `id` is no dead letter.
pub async fn retry_dead(store: &Store, id: i64, now_ms: i64) -> Result<bool> {
    let result = sqlx::query(
        "UPDATE notification_outbox SET dead_at = NULL, attempts = 0, next_attempt_ms = $1 \
         WHERE id = $2 AND dead_at IS NOT NULL",
    )
    .bind(now_ms)
    .bind(id)
    .execute(store.pool())
    .await?;
    Ok(result.rows_affected() == 1)
}

/// How many messages are pending, delivered and dead.
pub async fn counts(store: &Store) -> Result<OutboxCounts> {
    let row = sqlx::query(
        "SELECT \
         COALESCE(SUM(CASE WHEN delivered_at IS NULL AND dead_at IS NULL THEN 1 ELSE 0 END), 0) AS pending, \
         COALESCE(SUM(CASE WHEN delivered_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS delivered, \
         COALESCE(SUM(CASE WHEN dead_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS dead \
         FROM notification_outbox",
    )
    .fetch_one(store.pool())
    .await?;
    Ok(OutboxCounts {
        pending: row.try_get("pending")?,
        delivered: row.try_get("delivered")?,
        dead: row.try_get("dead")?,
    })
}

fn entry(row: &AnyRow) -> Result<OutboxEntry> {
    Ok(OutboxEntry {
        id: row.try_get("id")?,
        message_id: row.try_get("message_id")?,
        channel: row.try_get("channel")?,
        event: row.try_get("event")?,
        request_id: row.try_get("request_id")?,
        created_at: row.try_get("created_at")?,
        attempts: row.try_get("attempts")?,
        dead_at: row.try_get("dead_at")?,
        last_error: row.try_get("last_error")?,
    })
}
