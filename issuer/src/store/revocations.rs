//! The revocation feed's storage: one row per revoked grant, at a position (`seq`) that only
//! grows.
//!
//! A reader polls "everything after position N". That is only safe if a position, once a
//! reader has seen a higher one, can never appear later — which a plain sequence or
//! autoincrement does not promise under concurrent transactions (a later number can commit
//! first). So positions come from the `feed_counter` row, incremented inside the revoking
//! transaction: the row lock makes revocations commit in position order.

use serde::Serialize;
use sqlx::{Any, Row, Transaction};

use super::Store;
use crate::error::Result;

/// Most entries one feed page returns; the cursor lets the reader continue.
pub const PAGE_SIZE: i64 = 1000;

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

/// Appends `grant_id` to the feed; returns its position.
pub async fn append(
    tx: &mut Transaction<'_, Any>,
    grant_id: &str,
    revoked_by: &str,
    revoked_at: i64,
    expires_at: i64,
) -> Result<i64> {
    sqlx::query("UPDATE feed_counter SET value = value + 1 WHERE name = 'revocations'")
        .execute(&mut **tx)
        .await?;
    let seq: i64 = sqlx::query("SELECT value FROM feed_counter WHERE name = 'revocations'")
        .fetch_one(&mut **tx)
        .await?
        .try_get("value")?;
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

/// The revocations after position `after`, oldest first, and the position to ask from next.
pub async fn after(store: &Store, after: i64) -> Result<(Vec<RevokedGrant>, i64)> {
    let rows = sqlx::query(
        "SELECT seq, grant_id, revoked_at, expires_at FROM revocations WHERE seq > $1 \
         ORDER BY seq LIMIT $2",
    )
    .bind(after)
    .bind(PAGE_SIZE)
    .fetch_all(store.pool())
    .await?;
    let mut cursor = after;
    let mut revoked = Vec::with_capacity(rows.len());
    for row in rows {
        cursor = row.try_get("seq")?;
        revoked.push(RevokedGrant {
            grant_id: row.try_get("grant_id")?,
            revoked_at: row.try_get("revoked_at")?,
            expires_at: row.try_get("expires_at")?,
        });
    }
    Ok((revoked, cursor))
}
