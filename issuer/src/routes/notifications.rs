//! Notifications for operators: `GET /v1/admin/notifications` (the outbox's counts and its
//! dead letters), `POST /v1/admin/notifications/{id}/retry` (a dead letter gets a fresh set
//! of attempts) and the issuer's `GET /metrics`.

use std::sync::atomic::Ordering;

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::admin::require_admin;
use super::Caller;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::outbox;

/// Most dead letters one listing returns.
const MAX_LISTED: i64 = 500;

/// The listing's query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// At most this many dead letters (default 100).
    limit: Option<i64>,
}

/// `GET /v1/admin/notifications`.
pub async fn list(
    State(state): State<AppState>,
    Caller(subject): Caller,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>> {
    require_admin(&subject)?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=MAX_LISTED).contains(&limit) {
        return Err(Error::BadRequest(format!(
            "limit: between 1 and {MAX_LISTED}"
        )));
    }
    let counts = outbox::counts(&state.store).await?;
    let dead = outbox::dead_letters(&state.store, limit).await?;
    Ok(Json(json!({
        "enabled": state.notifier.config().is_some(),
        "counts": counts,
        "dead_letters": dead,
    })))
}

/// `POST /v1/admin/notifications/{id}/retry`.
pub async fn retry(
    State(state): State<AppState>,
    Caller(subject): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    require_admin(&subject)?;
    let row: i64 = id
        .parse()
        .map_err(|_| Error::BadRequest(format!("{id:?} is not a message number")))?;
    let now_ms = state.now().saturating_mul(1000);
    if !outbox::retry_dead(&state.store, row, now_ms).await? {
        return Err(Error::NotFound(format!("dead letter {row}")));
    }
    tracing::info!(by = %subject.id, id = row, "dead letter queued again");
    state.notifier.wake();
    Ok(Json(json!({ "retried": row })))
}

/// `GET /metrics`: the outbox's state (fleet-wide, from the database) and this replica's
/// delivery counters, as Prometheus text.
pub async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse> {
    let counts = outbox::counts(&state.store).await?;
    let counters = &state.notify_counters;
    let mut text = String::from(
        "# HELP jitgate_notifications Notifications in the outbox, by state (all replicas).\n\
         # TYPE jitgate_notifications gauge\n",
    );
    for (label, value) in [
        ("pending", counts.pending),
        ("delivered", counts.delivered),
        ("dead", counts.dead),
    ] {
        text.push_str(&format!(
            "jitgate_notifications{{state=\"{label}\"}} {value}\n"
        ));
    }
    text.push_str(
        "# HELP jitgate_notification_attempts_total Delivery attempts by this replica, by outcome.\n\
         # TYPE jitgate_notification_attempts_total counter\n",
    );
    for (label, counter) in [
        ("delivered", &counters.delivered),
        ("failed", &counters.failed_attempts),
    ] {
        text.push_str(&format!(
            "jitgate_notification_attempts_total{{outcome=\"{label}\"}} {}\n",
            counter.load(Ordering::Relaxed)
        ));
    }
    text.push_str(&format!(
        "# HELP jitgate_notification_dead_letters_total Messages this replica gave up on.\n\
         # TYPE jitgate_notification_dead_letters_total counter\n\
         jitgate_notification_dead_letters_total {}\n",
        counters.dead.load(Ordering::Relaxed)
    ));
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    ))
}
