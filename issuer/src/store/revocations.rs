//! The revocation feed's storage: one row per revoked grant, at a position (`seq`) that only
//! grows, and the feed's epoch.
//!
//! A reader polls "everything after position N". That is only safe if a position, once a
//! reader has seen a higher one, can never appear later — which a plain sequence or
//! autoincrement does not promise under concurrent transactions (a later number can commit
//! first). So positions come from the `feed_counter` row, incremented inside the revoking
//! transaction: the row lock makes revocations commit in position order.
//!
//! Positions are only comparable within one database. The `feed_epoch` row, a random id
//! made once by the migration, names the database; cursors carry it, so a reader holding a
//! cursor from a restored, fresh or moved database can be told to start again.
//!
//! The feed holds only what can still matter: a revocation is pruned (on the next revocation)
//! and no longer served once its grant's window has ended more than
//! [`RETENTION_AFTER_WINDOW`] ago — by then no gateway accepts any token of the grant.

use serde::Serialize;
use sqlx::{Any, Row, Transaction};

use super::Store;
use crate::error::Result;

/// Most entries one feed page returns; a reader told `more` asks again at once.
pub const PAGE_SIZE: i64 = 1000;

/// How long a revocation stays on the feed after its grant's window ends, seconds: the
/// largest verification leeway a gateway may be configured with. Until then a gateway may
/// still accept a token of the grant, so it must still be told.
pub const RETENTION_AFTER_WINDOW: i64 = jitgate_grant::TokenRules::MAX_LEEWAY_SECONDS;

/// One entry of the revocation feed, as served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevokedGrant {
    /// The revoked grant (the token's `grant_id`).
    pub grant_id: String,
    /// When it was revoked, Unix seconds.
    pub revoked_at: i64,
    /// End of the grant's window: after it no token of the grant can be valid, so the data
    /// plane may forget the entry.
    pub expires_at: i64,
}

/// Where the feed stands: which database, and the last position handed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedHead {
    /// The database's random id, fixed at its creation.
    pub epoch: String,
    /// The highest position committed (0 before any revocation).
    pub position: i64,
}

/// One page of the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedPage {
    /// Revocations that can still matter, oldest first.
    pub revoked: Vec<RevokedGrant>,
    /// The position to ask from next.
    pub position: i64,
    /// Whether more entries follow `position` already (the page was full).
    pub more: bool,
}

/// Appends `grant_id` to the feed and prunes entries that no longer matter at `revoked_at`;
/// returns the new entry's position.
pub async fn append(
    tx: &mut Transaction<'_, Any>,
    grant_id: &str,
    revoked_by: &str,
    revoked_at: i64,
    expires_at: i64,
) -> Result<i64> {
    // The counter first: its row lock orders concurrent revokers (and their pruning).
    sqlx::query("UPDATE feed_counter SET value = value + 1 WHERE name = 'revocations'")
        .execute(&mut **tx)
        .await?;
    let seq: i64 = sqlx::query("SELECT value FROM feed_counter WHERE name = 'revocations'")
        .fetch_one(&mut **tx)
        .await?
        .try_get("value")?;
    // Pruning on write keeps the table as small as what is served without a sweeper: rows
    // only arrive here.
    sqlx::query("DELETE FROM revocations WHERE expires_at <= $1")
        .bind(revoked_at.saturating_sub(RETENTION_AFTER_WINDOW))
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO revocations (seq, grant_id, revoked_by, revoked_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(seq)
    .bind(grant_id)
    .bind(revoked_by)
    .bind(revoked_at)
    .bind(expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(seq)
}

/// The feed's epoch and head position.
pub async fn head(store: &Store) -> Result<FeedHead> {
    let row = sqlx::query(
        "SELECT feed_epoch.epoch, feed_counter.value FROM feed_epoch, feed_counter \
         WHERE feed_epoch.name = 'revocations' AND feed_counter.name = 'revocations'",
    )
    .fetch_one(store.pool())
    .await?;
    Ok(FeedHead {
        epoch: row.try_get("epoch")?,
        position: row.try_get("value")?,
    })
}

/// The revocations after position `after` up to `head` (a position read by [`head`]) that
/// still matter at `now`, oldest first, at most [`PAGE_SIZE`].
///
/// Every position up to `head` is committed (see the module docs), so a final page answers
/// `head` itself as the next position: entries skipped as expired are never scanned again.
pub async fn page(store: &Store, after: i64, head: i64, now: i64) -> Result<FeedPage> {
    let rows = sqlx::query(
        "SELECT seq, grant_id, revoked_at, expires_at FROM revocations \
         WHERE seq > $1 AND seq <= $2 AND expires_at > $3 ORDER BY seq LIMIT $4",
    )
    .bind(after)
    .bind(head)
    .bind(now.saturating_sub(RETENTION_AFTER_WINDOW))
    .bind(PAGE_SIZE + 1)
    .fetch_all(store.pool())
    .await?;
    let more = i64::try_from(rows.len()).unwrap_or(i64::MAX) > PAGE_SIZE;
    let mut position = after;
    let mut revoked = Vec::with_capacity(rows.len());
    for row in rows
        .into_iter()
        .take(usize::try_from(PAGE_SIZE).unwrap_or(usize::MAX))
    {
        position = row.try_get("seq")?;
        revoked.push(RevokedGrant {
            grant_id: row.try_get("grant_id")?,
            revoked_at: row.try_get("revoked_at")?,
            expires_at: row.try_get("expires_at")?,
        });
    }
    if !more {
        position = head;
    }
    Ok(FeedPage {
        revoked,
        position,
        more,
    })
}
