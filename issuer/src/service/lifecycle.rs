//! Ending a request early: the requester cancels a pending one; the requester, a reviewer, an
//! admin or the guard revokes an active grant, which puts it on the revocation feed.

use crate::error::{Error, Result};
use crate::events::{Call, IssuerEvent};
use crate::identity::Subject;
use crate::notify::EventKind;
use crate::rate_limit::LimitedAction;
use crate::requests::{AccessRequest, Actor, Channel, State};
use crate::state::AppState;
use crate::store::{requests, revocations};

use super::visibility::{is_reviewer, visible};

/// Most characters a revocation or cancellation reason may have.
pub const MAX_REASON_CHARS: usize = 2000;

/// The requester withdraws a pending request.
pub async fn cancel(
    state: &AppState,
    subject: &Subject,
    id: &str,
    reason: &str,
) -> Result<AccessRequest> {
    super::refuse_guard(subject)?;
    super::expiry::expire_due(state).await?;
    let request = visible(state, subject, id).await?;
    if request.requester != subject.id {
        return Err(Error::Forbidden(
            "only the requester can cancel a request; reviewers deny it".into(),
        ));
    }
    let reason = checked_reason(reason, "cancelled by the requester")?;
    let now = state.now();
    let mut tx = state.store.pool().begin().await?;
    if !requests::lock_in_state(&mut tx, id, State::Pending).await? {
        tx.rollback().await?;
        return Err(not_in_state(state, id, "pending").await);
    }
    requests::transition(
        &mut tx,
        id,
        State::Pending,
        State::Cancelled,
        Actor {
            id: &subject.id,
            channel: Channel::Api,
        },
        now,
        &reason,
    )
    .await?;
    super::notify(
        state,
        &mut tx,
        EventKind::Cancelled,
        id,
        &subject.id,
        &reason,
        None,
    )
    .await?;
    tx.commit().await?;
    state.notifier.wake();
    let cancelled = super::load(state, id).await?;
    let call = Call {
        method: "POST",
        path: format!("/v1/requests/{id}/cancel"),
        status: 200,
    };
    state
        .events
        .emit(IssuerEvent::Cancelled, &cancelled, call, now, None);
    Ok(cancelled)
}

/// Revokes an active grant: requester, any reviewer the policy allows, an admin, or the
/// guard.
pub async fn revoke(
    state: &AppState,
    subject: &Subject,
    id: &str,
    reason: &str,
) -> Result<AccessRequest> {
    // Every revocation is a feed entry each gateway must read before it may answer, so a loop
    // of them is limited like request creation. Every attempt counts. Admins and the guard are
    // not limited: they are the incident path — the guard terminating every grant of a
    // copied token at once must not wait for a bucket — and may revoke any grant anyway.
    if !subject.admin && !subject.guard {
        state
            .rate_limiter
            .take(LimitedAction::Revoke, &subject.id, state.now())?;
    }
    super::expiry::expire_due(state).await?;
    // The guard acts on what the log shows about any grant: every grant is visible to it for
    // this one purpose (and it learns nothing from the answer it did not send).
    let request = if subject.guard {
        super::load(state, id).await?
    } else {
        visible(state, subject, id).await?
    };
    let allowed = subject.guard
        || request.requester == subject.id
        || subject.admin
        || is_reviewer(state, subject, &request);
    if !allowed {
        return Err(Error::Forbidden(
            "only the requester, a reviewer or an admin can revoke this grant".into(),
        ));
    }
    let reason = checked_reason(reason, &format!("revoked by {}", subject.id))?;
    let now = state.now();
    let mut tx = state.store.pool().begin().await?;
    if !requests::lock_in_state(&mut tx, id, State::Active).await? {
        tx.rollback().await?;
        return Err(not_in_state(state, id, "active").await);
    }
    requests::transition(
        &mut tx,
        id,
        State::Active,
        State::Revoked,
        Actor {
            id: &subject.id,
            channel: if subject.guard {
                Channel::Guard
            } else {
                Channel::Api
            },
        },
        now,
        &reason,
    )
    .await?;
    let expires_at = request.window_end.unwrap_or(now);
    let seq = revocations::append(&mut tx, id, &subject.id, now, expires_at).await?;
    super::notify(
        state,
        &mut tx,
        EventKind::Revoked,
        id,
        &subject.id,
        &reason,
        None,
    )
    .await?;
    tx.commit().await?;
    state.notifier.wake();
    tracing::info!(grant = %id, by = %subject.id, guard = subject.guard, feed_position = seq, "grant revoked");
    let revoked = super::load(state, id).await?;
    let call = Call {
        method: "POST",
        path: format!("/v1/grants/{id}/revoke"),
        status: 200,
    };
    state
        .events
        .emit(IssuerEvent::Revoked, &revoked, call, now, None);
    Ok(revoked)
}

fn checked_reason(reason: &str, default: &str) -> Result<String> {
    let reason = reason.trim();
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(Error::BadRequest(format!(
            "reason: at most {MAX_REASON_CHARS} characters"
        )));
    }
    Ok(if reason.is_empty() {
        default.to_owned()
    } else {
        reason.to_owned()
    })
}

async fn not_in_state(state: &AppState, id: &str, wanted: &str) -> Error {
    match super::load(state, id).await {
        Ok(current) => Error::Conflict(format!("request {id} is {}, not {wanted}", current.state)),
        Err(error) => error,
    }
}
