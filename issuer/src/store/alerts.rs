//! The guard's alerts in the database: one row per firing (`firing_id` is unique).

use std::collections::BTreeMap;

use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Row, Transaction};

use super::Store;
use crate::error::{Error, Result};
use crate::guard::alert::{Alert, ValidAlert};
use crate::guard::format_instant;

const COLUMNS: &str = "firing_id, grant_id, subject, rule, action, window_seconds, counts, \
    detail, fired_at_ns, received_at, reported_by";

/// Which alerts a listing returns.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    /// Only this grant's.
    pub grant_id: Option<String>,
    /// Only those fired at or after this time, nanoseconds since the epoch.
    pub since_nanos: Option<i64>,
    /// At most this many, newest first.
    pub limit: i64,
}

/// The alert stored for `firing_id`, if any.
pub async fn find(conn: &mut AnyConnection, firing_id: &str) -> Result<Option<Alert>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM alerts WHERE firing_id = $1"
    ))
    .bind(firing_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Stores a new alert, posted by `reported_by` and received at `received_at` (Unix seconds).
/// The caller holds the grant's lock and has checked that the firing is new.
pub async fn insert(
    tx: &mut Transaction<'_, Any>,
    alert: &ValidAlert,
    reported_by: &str,
    received_at: i64,
) -> Result<()> {
    let counts = serde_json::to_string(&alert.counts)
        .map_err(|error| Error::Internal(format!("json: {error}")))?;
    sqlx::query(&format!(
        "INSERT INTO alerts ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    ))
    .bind(&alert.firing_id)
    .bind(&alert.grant_id)
    .bind(alert.subject.clone())
    .bind(&alert.rule)
    .bind(&alert.action)
    .bind(
        alert
            .window_seconds
            .map(|seconds| i64::try_from(seconds).unwrap_or(i64::MAX)),
    )
    .bind(counts)
    .bind(&alert.detail)
    .bind(alert.fired_at_nanos)
    .bind(received_at)
    .bind(reported_by)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Alerts matching `filter`, newest first.
pub async fn list(store: &Store, filter: &AlertFilter) -> Result<Vec<Alert>> {
    let mut sql = format!("SELECT {COLUMNS} FROM alerts WHERE 1 = 1");
    let mut next = 1;
    if filter.grant_id.is_some() {
        sql.push_str(&format!(" AND grant_id = ${next}"));
        next += 1;
    }
    if filter.since_nanos.is_some() {
        sql.push_str(&format!(" AND fired_at_ns >= ${next}"));
        next += 1;
    }
    sql.push_str(&format!(
        " ORDER BY fired_at_ns DESC, id DESC LIMIT ${next}"
    ));
    let mut query = sqlx::query(&sql);
    if let Some(grant_id) = &filter.grant_id {
        query = query.bind(grant_id.clone());
    }
    if let Some(since) = filter.since_nanos {
        query = query.bind(since);
    }
    query = query.bind(if filter.limit > 0 { filter.limit } else { 100 });
    let rows = query.fetch_all(store.pool()).await?;
    rows.iter().map(from_row).collect()
}

fn from_row(row: &AnyRow) -> Result<Alert> {
    let bad = |column: &str| Error::Internal(format!("alerts.{column} holds an unreadable value"));
    let counts: String = row.try_get("counts")?;
    let counts: BTreeMap<String, u64> = serde_json::from_str(&counts).map_err(|_| bad("counts"))?;
    let window_seconds: Option<i64> = row.try_get("window_seconds")?;
    let received_at: i64 = row.try_get("received_at")?;
    Ok(Alert {
        firing_id: row.try_get("firing_id")?,
        grant_id: row.try_get("grant_id")?,
        subject: row.try_get("subject")?,
        rule: row.try_get("rule")?,
        action: row.try_get("action")?,
        window_seconds: window_seconds
            .map(|seconds| u64::try_from(seconds).map_err(|_| bad("window_seconds")))
            .transpose()?,
        counts,
        detail: row.try_get("detail")?,
        fired_at: format_instant(row.try_get("fired_at_ns")?),
        received_at: rfc3339_seconds(received_at),
        reported_by: row.try_get("reported_by")?,
    })
}

fn rfc3339_seconds(unix_seconds: i64) -> String {
    let time = std::time::UNIX_EPOCH
        + std::time::Duration::from_secs(u64::try_from(unix_seconds).unwrap_or(0));
    humantime::format_rfc3339_seconds(time).to_string()
}
