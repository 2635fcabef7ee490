//! Expiry: a pending request past its TTL and an active grant past its window become
//! `expired`, with a history entry by `issuer`.
//!
//! Run before every operation that reads state (so answers never show a stale `active`) and
//! by a background sweep (so the history records expiry even when nobody asks). Each expiry
//! is its own conditional transaction: replicas racing on the same row simply find it done.

use crate::error::Result;
use crate::notify::EventKind;
use crate::requests::{Actor, State};
use crate::state::AppState;
use crate::store::requests;

/// Expires everything due now; returns how many requests it expired.
pub async fn expire_due(state: &AppState) -> Result<usize> {
    let now = state.now();
    let due = requests::due_for_expiry(&state.store, now).await?;
    let mut expired = 0;
    for (id, from) in due {
        let mut tx = state.store.pool().begin().await?;
        if !requests::lock_in_state(&mut tx, &id, from).await? {
            tx.rollback().await?;
            continue;
        }
        let reason = match from {
            State::Pending => "no decision before the pending TTL ran out",
            _ => "the access window ended",
        };
        requests::transition(
            &mut tx,
            &id,
            from,
            State::Expired,
            Actor::ISSUER,
            now,
            reason,
        )
        .await?;
        let kind = match from {
            State::Pending => EventKind::RequestExpired,
            _ => EventKind::GrantExpired,
        };
        super::notify(state, &mut tx, kind, &id, Actor::ISSUER.id, reason, None).await?;
        tx.commit().await?;
        expired += 1;
    }
    if expired > 0 {
        state.notifier.wake();
    }
    Ok(expired)
}

/// Tells the requester of each active grant whose window ends within the configured
/// `expiring_soon` (once per grant and channel: the message id is derived from the grant, so
/// the sweeps of every replica enqueue it once between them).
pub async fn notify_ending_soon(state: &AppState) -> Result<usize> {
    let Some(config) = state.notifier.config() else {
        return Ok(0);
    };
    let ahead = i64::try_from(config.delivery.expiring_soon.as_secs()).unwrap_or(i64::MAX);
    if ahead == 0 {
        return Ok(0);
    }
    let now = state.now();
    let ending = requests::ending_within(&state.store, now, ahead).await?;
    for id in &ending {
        let mut tx = state.store.pool().begin().await?;
        let comment = "the access window ends soon; request again to continue";
        super::notify(
            state,
            &mut tx,
            EventKind::ExpiringSoon,
            id,
            Actor::ISSUER.id,
            comment,
            None,
        )
        .await?;
        tx.commit().await?;
    }
    if !ending.is_empty() {
        state.notifier.wake();
    }
    Ok(ending.len())
}
