//! Expiry: a pending request past its TTL and an active grant past its window become
//! `expired`, with a history entry by `issuer`.
//!
//! Run before every operation that reads state (so answers never show a stale `active`) and
//! by a background sweep (so the history records expiry even when nobody asks). Each expiry
//! is its own conditional transaction: replicas racing on the same row simply find it done.

use crate::error::Result;
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
        tx.commit().await?;
        expired += 1;
    }
    Ok(expired)
}
