//! Access requests, their reviews, their history (changes of state and the guard's alerts)
//! and their last reported usage in the database.

use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Row, Transaction};

use crate::error::{Error, Result};
use crate::guard::format_instant;
use crate::guard::usage::Usage;
use crate::requests::{AccessRequest, Actor, Channel, HistoryEvent, Review, State, Transition};

use super::Store;

const COLUMNS: &str = "id, requester, requester_kind, requester_groups, scopes, \
    duration_seconds, reason, urgency, break_glass, project, ticket, limit_requests, \
    limit_tokens, state, approvals_required, assessment, created_at, pending_until, \
    approved_at, window_end, ended_at";

/// Which requests a listing returns.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this requester's.
    pub requester: Option<String>,
    /// Only in these states (all when empty).
    pub states: Vec<State>,
    /// At most this many, newest first.
    pub limit: i64,
}

/// Inserts a new request with its first history entry.
pub async fn insert(
    tx: &mut Transaction<'_, Any>,
    request: &AccessRequest,
    creation_reason: &str,
) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO access_requests ({COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)"
    ))
    .bind(&request.id)
    .bind(&request.requester)
    .bind(&request.requester_kind)
    .bind(json(&request.requester_groups)?)
    .bind(json(&request.scopes)?)
    .bind(request.duration_seconds)
    .bind(&request.reason)
    .bind(&request.urgency)
    .bind(i64::from(request.break_glass))
    .bind(request.project.clone())
    .bind(request.ticket.clone())
    .bind(request.limits.as_ref().and_then(|l| l.requests).map(clamp))
    .bind(request.limits.as_ref().and_then(|l| l.tokens).map(clamp))
    .bind(request.state.as_str())
    .bind(i64::from(request.approvals_required))
    .bind(json(&request.assessment)?)
    .bind(request.created_at)
    .bind(request.pending_until)
    .bind(request.approved_at)
    .bind(request.window_end)
    .bind(request.ended_at)
    .execute(&mut **tx)
    .await?;
    let requester = Actor {
        id: &request.requester,
        channel: Channel::Api,
    };
    record_transition(
        tx,
        &request.id,
        None,
        State::Pending,
        requester,
        request.created_at,
        creation_reason,
    )
    .await
}

/// Takes the write lock on request `id` if it is in `state` (see the module docs of
/// [`super`]); false when it is not (or does not exist).
pub async fn lock_in_state(tx: &mut Transaction<'_, Any>, id: &str, state: State) -> Result<bool> {
    let result = sqlx::query(
        "UPDATE access_requests SET version = version + 1 WHERE id = $1 AND state = $2",
    )
    .bind(id)
    .bind(state.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Takes the write lock on request `id` whatever its state; its state, or `None` when there
/// is no such request.
pub async fn lock(tx: &mut Transaction<'_, Any>, id: &str) -> Result<Option<State>> {
    let locked = sqlx::query("UPDATE access_requests SET version = version + 1 WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    if locked.rows_affected() != 1 {
        return Ok(None);
    }
    let state: String = sqlx::query("SELECT state FROM access_requests WHERE id = $1")
        .bind(id)
        .fetch_one(&mut **tx)
        .await?
        .try_get("state")?;
    Ok(Some(
        State::parse(&state).ok_or_else(|| bad_column("state"))?,
    ))
}

/// Moves request `id` from `from` to `to`, recording who and why. The caller holds the lock.
pub async fn transition(
    tx: &mut Transaction<'_, Any>,
    id: &str,
    from: State,
    to: State,
    actor: Actor<'_>,
    at: i64,
    reason: &str,
) -> Result<()> {
    let ended = matches!(
        to,
        State::Denied | State::Expired | State::Cancelled | State::Revoked
    );
    let result = sqlx::query(
        "UPDATE access_requests SET state = $1, ended_at = CASE WHEN $2 = 1 THEN $3 ELSE ended_at END \
         WHERE id = $4 AND state = $5",
    )
    .bind(to.as_str())
    .bind(i64::from(ended))
    .bind(at)
    .bind(id)
    .bind(from.as_str())
    .execute(&mut **tx)
    .await?;
    if result.rows_affected() != 1 {
        return Err(Error::Conflict(format!("request {id} is no longer {from}")));
    }
    record_transition(tx, id, Some(from), to, actor, at, reason).await
}

/// Starts the access window of a pending request: pending → approved → active.
pub async fn activate(
    tx: &mut Transaction<'_, Any>,
    id: &str,
    actor: Actor<'_>,
    at: i64,
    window_end: i64,
    reason: &str,
) -> Result<()> {
    let result = sqlx::query(
        "UPDATE access_requests SET state = 'active', approved_at = $1, window_end = $2 \
         WHERE id = $3 AND state = 'pending'",
    )
    .bind(at)
    .bind(window_end)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    if result.rows_affected() != 1 {
        return Err(Error::Conflict(format!(
            "request {id} is no longer pending"
        )));
    }
    // The stored state never rests at `approved`: the history shows the decision and the
    // start of the window as two steps, taken in one transaction.
    record_transition(
        tx,
        id,
        Some(State::Pending),
        State::Approved,
        actor,
        at,
        reason,
    )
    .await?;
    record_transition(
        tx,
        id,
        Some(State::Approved),
        State::Active,
        Actor::ISSUER,
        at,
        "access window started",
    )
    .await
}

async fn record_transition(
    tx: &mut Transaction<'_, Any>,
    id: &str,
    from: Option<State>,
    to: State,
    actor: Actor<'_>,
    at: i64,
    reason: &str,
) -> Result<()> {
    record_history(
        tx,
        id,
        HistoryEvent::Transition,
        (from, to),
        actor,
        at,
        reason,
        None,
    )
    .await
}

/// Adds the guard's alert `firing_id` to request `id`'s history, at the state it is in
/// (unchanged). The caller holds the lock.
pub async fn record_alert(
    tx: &mut Transaction<'_, Any>,
    id: &str,
    state: State,
    actor: Actor<'_>,
    at: i64,
    reason: &str,
    firing_id: &str,
) -> Result<()> {
    record_history(
        tx,
        id,
        HistoryEvent::Alert,
        (Some(state), state),
        actor,
        at,
        reason,
        Some(firing_id),
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn record_history(
    tx: &mut Transaction<'_, Any>,
    id: &str,
    event: HistoryEvent,
    (from, to): (Option<State>, State),
    actor: Actor<'_>,
    at: i64,
    reason: &str,
    firing_id: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO transitions \
         (request_id, from_state, to_state, actor, at, reason, channel, event, firing_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(id)
    .bind(from.map(|state| state.as_str().to_owned()))
    .bind(to.as_str())
    .bind(actor.id)
    .bind(at)
    .bind(reason)
    .bind(actor.channel.as_str())
    .bind(event.as_str())
    .bind(firing_id.map(str::to_owned))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records a review; false if this reviewer already reviewed the request.
pub async fn add_review(tx: &mut Transaction<'_, Any>, id: &str, review: &Review) -> Result<bool> {
    let existing = sqlx::query("SELECT 1 FROM reviews WHERE request_id = $1 AND reviewer = $2")
        .bind(id)
        .bind(&review.reviewer)
        .fetch_optional(&mut **tx)
        .await?;
    if existing.is_some() {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO reviews (request_id, reviewer, decision, comment, at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(&review.reviewer)
    .bind(&review.decision)
    .bind(&review.comment)
    .bind(review.at)
    .execute(&mut **tx)
    .await?;
    Ok(true)
}

/// Loads one request with its reviews and history.
pub async fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<AccessRequest>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM access_requests WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let mut request = from_row(&row)?;
    fill_details(conn, &mut request).await?;
    Ok(Some(request))
}

/// Lists requests, newest first, with reviews and history.
pub async fn list(store: &Store, filter: &ListFilter) -> Result<Vec<AccessRequest>> {
    let mut sql = format!("SELECT {COLUMNS} FROM access_requests WHERE 1 = 1");
    let mut next = 1;
    if filter.requester.is_some() {
        sql.push_str(&format!(" AND requester = ${next}"));
        next += 1;
    }
    if !filter.states.is_empty() {
        let placeholders: Vec<String> = (0..filter.states.len())
            .map(|offset| format!("${}", next + offset))
            .collect();
        sql.push_str(&format!(" AND state IN ({})", placeholders.join(", ")));
        next += filter.states.len();
    }
    sql.push_str(&format!(" ORDER BY created_at DESC, id LIMIT ${next}"));
    let mut query = sqlx::query(&sql);
    if let Some(requester) = &filter.requester {
        query = query.bind(requester.clone());
    }
    for state in &filter.states {
        query = query.bind(state.as_str());
    }
    query = query.bind(if filter.limit > 0 { filter.limit } else { 100 });
    let mut conn = store.pool().acquire().await?;
    let rows = query.fetch_all(&mut *conn).await?;
    let mut requests = Vec::with_capacity(rows.len());
    for row in rows {
        let mut request = from_row(&row)?;
        fill_details(&mut conn, &mut request).await?;
        requests.push(request);
    }
    Ok(requests)
}

/// Ids of requests whose pending TTL or window has run out at `now`, with their state.
pub async fn due_for_expiry(store: &Store, now: i64) -> Result<Vec<(String, State)>> {
    let rows = sqlx::query(
        "SELECT id, state FROM access_requests WHERE \
         (state = 'pending' AND pending_until <= $1) OR (state = 'active' AND window_end <= $2)",
    )
    .bind(now)
    .bind(now)
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|row| {
            let state: String = row.try_get("state")?;
            Ok((
                row.try_get("id")?,
                State::parse(&state).ok_or_else(|| bad_column("state"))?,
            ))
        })
        .collect()
}

/// Active grants whose window ends after `now` and within `ahead` seconds, among those
/// whose whole window is longer than `ahead` (a 10-minute grant is not "ending soon" the
/// moment it starts).
pub async fn ending_within(store: &Store, now: i64, ahead: i64) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT id FROM access_requests WHERE state = 'active' AND window_end > $1 \
         AND window_end <= $2 AND window_end - approved_at > $3",
    )
    .bind(now)
    .bind(now.saturating_add(ahead))
    .bind(ahead)
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(|row| Ok(row.try_get("id")?)).collect()
}

async fn fill_details(conn: &mut AnyConnection, request: &mut AccessRequest) -> Result<()> {
    let reviews = sqlx::query(
        "SELECT reviewer, decision, comment, at FROM reviews WHERE request_id = $1 ORDER BY at, reviewer",
    )
    .bind(&request.id)
    .fetch_all(&mut *conn)
    .await?;
    request.reviews = reviews
        .iter()
        .map(|row| {
            Ok(Review {
                reviewer: row.try_get("reviewer")?,
                decision: row.try_get("decision")?,
                comment: row.try_get("comment")?,
                at: row.try_get("at")?,
            })
        })
        .collect::<Result<_>>()?;
    let history = sqlx::query(
        "SELECT from_state, to_state, actor, at, reason, channel, event, firing_id \
         FROM transitions WHERE request_id = $1 ORDER BY id",
    )
    .bind(&request.id)
    .fetch_all(&mut *conn)
    .await?;
    request.history = history
        .iter()
        .map(|row| {
            let from: Option<String> = row.try_get("from_state")?;
            let to: String = row.try_get("to_state")?;
            let channel: Option<String> = row.try_get("channel")?;
            let event: String = row.try_get("event")?;
            Ok(Transition {
                event: match event.as_str() {
                    "alert" => HistoryEvent::Alert,
                    "transition" => HistoryEvent::Transition,
                    _ => {
                        return Err(Error::Internal(
                            "transitions.event holds an unreadable value".into(),
                        ))
                    }
                },
                from: from.as_deref().and_then(State::parse),
                to: State::parse(&to).ok_or_else(|| bad_column("to_state"))?,
                actor: row.try_get("actor")?,
                channel: channel.as_deref().and_then(Channel::parse),
                at: row.try_get("at")?,
                reason: row.try_get("reason")?,
                firing_id: row.try_get("firing_id")?,
            })
        })
        .collect::<Result<_>>()?;
    request.usage = usage(conn, &request.id).await?;
    Ok(())
}

/// The last usage reported for grant `id`.
pub async fn usage(conn: &mut AnyConnection, id: &str) -> Result<Option<Usage>> {
    let row = sqlx::query(
        "SELECT requests, tokens, denied, as_of_ns FROM grant_usage WHERE grant_id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let count = |column: &str| -> Result<u64> {
        let value: i64 = row.try_get(column)?;
        u64::try_from(value).map_err(|_| bad_column(column))
    };
    Ok(Some(Usage {
        requests: count("requests")?,
        tokens: count("tokens")?,
        denied: count("denied")?,
        as_of: format_instant(row.try_get("as_of_ns")?),
    }))
}

fn from_row(row: &AnyRow) -> Result<AccessRequest> {
    let state: String = row.try_get("state")?;
    let limit_requests: Option<i64> = row.try_get("limit_requests")?;
    let limit_tokens: Option<i64> = row.try_get("limit_tokens")?;
    let limits =
        (limit_requests.is_some() || limit_tokens.is_some()).then(|| jitgate_grant::Limits {
            requests: limit_requests.and_then(|n| u64::try_from(n).ok()),
            tokens: limit_tokens.and_then(|n| u64::try_from(n).ok()),
        });
    let approvals: i64 = row.try_get("approvals_required")?;
    let break_glass: i64 = row.try_get("break_glass")?;
    Ok(AccessRequest {
        id: row.try_get("id")?,
        requester: row.try_get("requester")?,
        requester_kind: row.try_get("requester_kind")?,
        requester_groups: parse_json(row, "requester_groups")?,
        scopes: parse_json(row, "scopes")?,
        duration_seconds: row.try_get("duration_seconds")?,
        reason: row.try_get("reason")?,
        urgency: row.try_get("urgency")?,
        break_glass: break_glass != 0,
        project: row.try_get("project")?,
        ticket: row.try_get("ticket")?,
        limits,
        usage: None,
        state: State::parse(&state).ok_or_else(|| bad_column("state"))?,
        approvals_required: u32::try_from(approvals)
            .map_err(|_| bad_column("approvals_required"))?,
        assessment: parse_json(row, "assessment")?,
        created_at: row.try_get("created_at")?,
        pending_until: row.try_get("pending_until")?,
        approved_at: row.try_get("approved_at")?,
        window_end: row.try_get("window_end")?,
        ended_at: row.try_get("ended_at")?,
        reviews: Vec::new(),
        history: Vec::new(),
    })
}

fn parse_json<T: serde::de::DeserializeOwned>(row: &AnyRow, column: &str) -> Result<T> {
    let text: String = row.try_get(column)?;
    serde_json::from_str(&text).map_err(|_| bad_column(column))
}

fn json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|error| Error::Internal(format!("json: {error}")))
}

fn bad_column(column: &str) -> Error {
    Error::Internal(format!(
        "access_requests.{column} holds an unreadable value"
    ))
}

fn clamp(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
