//! The guard's usage reports: the newest snapshot of a grant's fleet-wide use, kept to show
//! beside its limits.

use crate::error::{Error, Result};
use crate::guard::usage::{validate, Usage};
use crate::identity::Subject;
use crate::state::AppState;
use crate::store::{requests, usage};

/// What taking a report did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reported {
    /// Whether the report was kept (`false`: the stored one is newer).
    pub stored: bool,
    /// The grant's usage as now stored.
    pub usage: Usage,
}

/// Takes the guard's report of grant `id`'s usage.
pub async fn report(
    state: &AppState,
    subject: &Subject,
    id: &str,
    body: &[u8],
) -> Result<Reported> {
    super::require_guard(subject)?;
    let report = validate(body)?;
    let now = state.now();
    let mut tx = state.store.pool().begin().await?;
    if requests::lock(&mut tx, id).await?.is_none() {
        tx.rollback().await?;
        return Err(Error::NotFound(format!("request {id}")));
    }
    let grant = requests::get(&mut tx, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("request {id}")))?;
    if grant.approved_at.is_none() {
        tx.rollback().await?;
        return Err(Error::Conflict(format!(
            "request {id} is {} and was never granted: it has no usage",
            grant.state
        )));
    }
    let stored = usage::store_if_newer(&mut tx, id, &report, &subject.id, now).await?;
    let current = requests::usage(&mut tx, id)
        .await?
        .ok_or_else(|| Error::Internal(format!("usage of {id} vanished")))?;
    tx.commit().await?;
    Ok(Reported {
        stored,
        usage: current,
    })
}
