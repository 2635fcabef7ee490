//! What the issuer does, independent of how it is asked (JSON API or web page): submit,
//! review, cancel, revoke, mint, expire, and take the guard's alerts and usage reports. Each
//! operation takes the authenticated subject and checks what that subject may do; handlers
//! only translate HTTP.

pub mod alerts;
pub mod expiry;
pub mod lifecycle;
pub mod next_step;
pub mod reviews;
pub mod submit;
pub mod tokens;
pub mod usage;
pub mod visibility;

use crate::error::{Error, Result};
use crate::identity::Subject;
use crate::notify::{EventKind, Notice};
use crate::requests::AccessRequest;
use crate::state::AppState;
use crate::store::requests;

/// What the guard is told when it tries anything but its three calls.
pub const GUARD_ONLY: &str =
    "the guard's identity may only revoke grants, post alerts and report usage";

/// Refuses the guard: separation of duties. The API's `Caller` extractor and the web session
/// already keep it out; this holds for any new way in.
pub fn refuse_guard(subject: &Subject) -> Result<()> {
    if subject.guard {
        Err(Error::Forbidden(GUARD_ONLY.into()))
    } else {
        Ok(())
    }
}

/// Refuses everyone but the guard.
pub fn require_guard(subject: &Subject) -> Result<()> {
    if subject.guard {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "only the guard's identity (--guard-group) may call this".into(),
        ))
    }
}

/// Writes the notification of a change made in `tx` (before it commits), from the request
/// as `tx` sees it; the caller wakes the worker after the commit.
pub(crate) async fn notify(
    state: &AppState,
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    kind: EventKind,
    id: &str,
    actor: &str,
    comment: &str,
    alert: Option<&serde_json::Value>,
) -> Result<()> {
    if state.notifier.config().is_none() {
        return Ok(());
    }
    let request = requests::get(tx, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("request {id}")))?;
    let notice = Notice {
        kind,
        request: &request,
        actor,
        comment,
        at: state.now(),
        alert,
    };
    state.notifier.enqueue(tx, &notice).await
}

/// Loads request `id` as stored (no visibility check).
pub async fn load(state: &AppState, id: &str) -> Result<AccessRequest> {
    let mut conn = state.store.pool().acquire().await?;
    requests::get(&mut conn, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("request {id}")))
}
