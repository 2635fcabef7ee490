//! The newest usage snapshot per grant (reading it is part of loading a request: see
//! [`super::requests::usage`]).

use sqlx::{Any, Row, Transaction};

use crate::error::Result;
use crate::guard::usage::ValidUsage;

/// Stores `usage` for grant `id` unless the stored snapshot is newer; whether it was stored.
/// The caller holds the grant's lock, so two reports for one grant never interleave.
pub async fn store_if_newer(
    tx: &mut Transaction<'_, Any>,
    id: &str,
    usage: &ValidUsage,
    reported_by: &str,
    reported_at: i64,
) -> Result<bool> {
    let stored: Option<i64> = sqlx::query("SELECT as_of_ns FROM grant_usage WHERE grant_id = $1")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .map(|row| row.try_get("as_of_ns"))
        .transpose()?;
    let sql = match stored {
        // An equal `as_of` is the same count again (a retry): taking it changes nothing.
        Some(as_of) if as_of > usage.as_of_nanos => return Ok(false),
        Some(_) => {
            "UPDATE grant_usage SET requests = $2, tokens = $3, denied = $4, as_of_ns = $5, \
             reported_at = $6, reported_by = $7 WHERE grant_id = $1"
        }
        None => {
            "INSERT INTO grant_usage \
             (grant_id, requests, tokens, denied, as_of_ns, reported_at, reported_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)"
        }
    };
    sqlx::query(sql)
        .bind(id)
        .bind(usage.requests)
        .bind(usage.tokens)
        .bind(usage.denied)
        .bind(usage.as_of_nanos)
        .bind(reported_at)
        .bind(reported_by)
        .execute(&mut **tx)
        .await?;
    Ok(true)
}
