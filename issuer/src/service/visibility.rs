//! Who may see a request: its requester, admins, and anyone the policy lets review it.
//! Everyone else gets 404, so request ids cannot be probed.

use crate::error::{Error, Result};
use crate::identity::Subject;
use crate::requests::{AccessRequest, State};
use crate::state::AppState;
use crate::store::requests;

use super::submit::facts_for_stored;

/// Whether `subject` may review `request` by policy (self-review aside).
pub fn is_reviewer(state: &AppState, subject: &Subject, request: &AccessRequest) -> bool {
    subject.id != request.requester
        && state
            .policy
            .current()
            .may_review(subject, &facts_for_stored(request))
            .is_ok()
}

/// Loads request `id` if `subject` may see it.
pub async fn visible(state: &AppState, subject: &Subject, id: &str) -> Result<AccessRequest> {
    let request = super::load(state, id).await?;
    if request.requester == subject.id || subject.admin || is_reviewer(state, subject, &request) {
        Ok(request)
    } else {
        Err(Error::NotFound(format!("request {id}")))
    }
}

/// Pending requests `subject` may review (never their own), newest first.
pub async fn reviewable(
    state: &AppState,
    subject: &Subject,
    limit: i64,
) -> Result<Vec<AccessRequest>> {
    let pending = requests::list(
        &state.store,
        &requests::ListFilter {
            requester: None,
            states: vec![State::Pending],
            limit: 500,
        },
    )
    .await?;
    Ok(pending
        .into_iter()
        .filter(|request| is_reviewer(state, subject, request))
        .filter(|request| {
            !request
                .reviews
                .iter()
                .any(|review| review.reviewer == subject.id)
        })
        .take(usize::try_from(limit).unwrap_or(100))
        .collect())
}
