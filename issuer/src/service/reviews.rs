//! Approving and denying. Nobody reviews their own request, whatever their role or groups;
//! one denial ends the request; the request is granted when the approvals reach the count
//! the policy required. Concurrent reviews of one request (on any replica) serialize on the
//! request row, so exactly one of them starts the window.

use crate::error::{Error, Result};
use crate::events::{Call, IssuerEvent};
use crate::identity::Subject;
use crate::notify::EventKind;
use crate::requests::{AccessRequest, Actor, Channel, Review, State};
use crate::state::AppState;
use crate::store::requests;

use super::submit::facts_for_stored;

/// A reviewer's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Approve.
    Approve,
    /// Deny (ends the request).
    Deny,
}

impl Verdict {
    fn as_str(self) -> &'static str {
        match self {
            Verdict::Approve => "approve",
            Verdict::Deny => "deny",
        }
    }
}

/// Most characters a review comment may have.
pub const MAX_COMMENT_CHARS: usize = 2000;

/// Records `reviewer`'s verdict on request `id`, given through `channel` (the API or the web
/// page).
pub async fn review(
    state: &AppState,
    reviewer: &Subject,
    id: &str,
    verdict: Verdict,
    comment: &str,
    channel: Channel,
) -> Result<AccessRequest> {
    super::refuse_guard(reviewer)?;
    super::expiry::expire_due(state).await?;
    let request = super::load(state, id).await?;
    let comment = comment.trim();
    if comment.chars().count() > MAX_COMMENT_CHARS {
        return Err(Error::BadRequest(format!(
            "comment: at most {MAX_COMMENT_CHARS} characters"
        )));
    }
    // Self-review is refused before anything else — before the policy is even asked — so no
    // policy, group or admin role can ever let a requester approve their own access.
    if request.requester == reviewer.id {
        return Err(Error::SelfReview);
    }
    let policy_check = state
        .policy
        .current()
        .may_review(reviewer, &facts_for_stored(&request));
    if let Err(error) = policy_check {
        // Someone who may not review must not learn more than a stranger would, unless they
        // could see the request anyway (admins).
        return Err(if reviewer.admin {
            error
        } else {
            Error::NotFound(format!("request {id}"))
        });
    }
    if verdict == Verdict::Deny && comment.is_empty() {
        return Err(Error::BadRequest(
            "comment: say why you deny the request".into(),
        ));
    }
    let now = state.now();
    let actor = Actor {
        id: &reviewer.id,
        channel,
    };
    let mut tx = state.store.pool().begin().await?;
    if !requests::lock_in_state(&mut tx, id, State::Pending).await? {
        tx.rollback().await?;
        let current = super::load(state, id).await?;
        return Err(Error::Conflict(format!(
            "request {id} is {}, not pending",
            current.state
        )));
    }
    let added = requests::add_review(
        &mut tx,
        id,
        &Review {
            reviewer: reviewer.id.clone(),
            decision: verdict.as_str().to_owned(),
            comment: comment.to_owned(),
            at: now,
        },
    )
    .await?;
    if !added {
        tx.rollback().await?;
        return Err(Error::Conflict(format!(
            "you already reviewed request {id}"
        )));
    }
    match verdict {
        Verdict::Deny => {
            requests::transition(
                &mut tx,
                id,
                State::Pending,
                State::Denied,
                actor,
                now,
                comment,
            )
            .await?;
            super::notify(
                state,
                &mut tx,
                EventKind::Denied,
                id,
                &reviewer.id,
                comment,
                None,
            )
            .await?;
        }
        Verdict::Approve => {
            let mut stored = requests::get(&mut tx, id)
                .await?
                .ok_or_else(|| Error::NotFound(format!("request {id}")))?;
            stored.state = State::Pending;
            if stored.approvals_missing() == 0 {
                let reason = if comment.is_empty() {
                    format!("approved by {}", stored.approvers().join(", "))
                } else {
                    comment.to_owned()
                };
                requests::activate(
                    &mut tx,
                    id,
                    actor,
                    now,
                    now + request.duration_seconds,
                    &reason,
                )
                .await?;
                super::notify(
                    state,
                    &mut tx,
                    EventKind::Approved,
                    id,
                    &reviewer.id,
                    &reason,
                    None,
                )
                .await?;
            }
        }
    }
    tx.commit().await?;
    state.notifier.wake();
    tracing::info!(request = %id, reviewer = %reviewer.id, verdict = verdict.as_str(), "reviewed");
    let reviewed = super::load(state, id).await?;
    let event = match (verdict, reviewed.state) {
        (Verdict::Deny, _) => Some(IssuerEvent::Denied),
        (Verdict::Approve, State::Active) => Some(IssuerEvent::Approved),
        (Verdict::Approve, _) => None,
    };
    if let Some(event) = event {
        let call = Call {
            method: "POST",
            path: format!("/v1/requests/{id}/{}", verdict.as_str()),
            status: 200,
        };
        state.events.emit(event, &reviewed, call, now, None);
    }
    Ok(reviewed)
}
