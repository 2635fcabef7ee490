//! The guard's alerts: taken from the guard (once per firing) into the alert list and the
//! grant's history, and listed for admins and reviewers.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::guard::alert::{validate, Alert};
use crate::identity::Subject;
use crate::notify::EventKind;
use crate::requests::{Actor, Channel};
use crate::state::AppState;
use crate::store::alerts::{self, AlertFilter};
use crate::store::requests;

use super::visibility::{is_reviewer, visible};

/// How many of the newest matching alerts a reviewer's listing looks through for the ones
/// on grants they may review.
pub const REVIEWER_SCAN: i64 = 1000;

/// What taking an alert did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    /// Whether this was the firing's first post (`false`: a replay, nothing changed).
    pub created: bool,
    /// The alert as stored.
    pub alert: Alert,
}

/// Takes an alert from the guard: stored with an entry in the grant's history, in one
/// transaction; a replay of a stored firing changes nothing and answers what was stored.
pub async fn post(state: &AppState, subject: &Subject, body: &[u8]) -> Result<Posted> {
    super::require_guard(subject)?;
    let alert = validate(body)?;
    let now = state.now();
    let mut tx = state.store.pool().begin().await?;
    // The grant's row lock orders two posts of one firing: the second finds the first.
    let Some(grant_state) = requests::lock(&mut tx, &alert.grant_id).await? else {
        tx.rollback().await?;
        return Err(Error::NotFound(format!("request {}", alert.grant_id)));
    };
    if let Some(stored) = alerts::find(&mut tx, &alert.firing_id).await? {
        tx.rollback().await?;
        return if stored.is_same_firing(&alert) {
            Ok(Posted {
                created: false,
                alert: stored,
            })
        } else {
            Err(Error::Conflict(format!(
                "firing {} was already posted with other content",
                alert.firing_id
            )))
        };
    }
    alerts::insert(&mut tx, &alert, &subject.id, now).await?;
    let guard = Actor {
        id: &subject.id,
        channel: Channel::Guard,
    };
    requests::record_alert(
        &mut tx,
        &alert.grant_id,
        grant_state,
        guard,
        now,
        &alert.history_reason(),
        &alert.firing_id,
    )
    .await?;
    let detail = serde_json::json!({
        "rule": alert.rule,
        "action": alert.action,
        "detail": alert.detail,
        "firing_id": alert.firing_id,
    });
    super::notify(
        state,
        &mut tx,
        EventKind::GuardAlert,
        &alert.grant_id,
        &subject.id,
        &alert.history_reason(),
        Some(&detail),
    )
    .await?;
    tx.commit().await?;
    state.notifier.wake();
    tracing::warn!(grant = %alert.grant_id, rule = %alert.rule, action = %alert.action, firing = %alert.firing_id, "guard alert: {}", alert.detail);
    let mut conn = state.store.pool().acquire().await?;
    let stored = alerts::find(&mut conn, &alert.firing_id)
        .await?
        .ok_or_else(|| Error::Internal(format!("alert {} vanished", alert.firing_id)))?;
    Ok(Posted {
        created: true,
        alert: stored,
    })
}

/// The alerts `subject` may see, newest first: every alert for admins; for anyone else those
/// on grants the policy lets them review. Naming a grant they cannot see is 404; naming
/// their own grant is 403 (its history shows its alerts).
pub async fn list(state: &AppState, subject: &Subject, filter: &AlertFilter) -> Result<Vec<Alert>> {
    super::refuse_guard(subject)?;
    if subject.admin {
        return alerts::list(&state.store, filter).await;
    }
    if let Some(grant_id) = &filter.grant_id {
        let grant = visible(state, subject, grant_id).await?;
        if !is_reviewer(state, subject, &grant) {
            return Err(Error::Forbidden(format!(
                "alerts are listed for reviewers and admins; `jitgate status {grant_id}` shows your grant's alerts in its history"
            )));
        }
        return alerts::list(&state.store, filter).await;
    }
    let scan = AlertFilter {
        limit: REVIEWER_SCAN,
        ..filter.clone()
    };
    let mut reviewable: HashMap<String, bool> = HashMap::new();
    let mut shown = Vec::new();
    for alert in alerts::list(&state.store, &scan).await? {
        let may = match reviewable.get(&alert.grant_id) {
            Some(may) => *may,
            None => {
                let grant = super::load(state, &alert.grant_id).await?;
                let may = is_reviewer(state, subject, &grant);
                reviewable.insert(alert.grant_id.clone(), may);
                may
            }
        };
        if may {
            shown.push(alert);
            if i64::try_from(shown.len()).unwrap_or(i64::MAX) >= filter.limit {
                break;
            }
        }
    }
    Ok(shown)
}
