//! `POST /v1/requests`: validate, ask the policy, store, and approve at once when the policy
//! says no reviewer is needed. The grant's limits are what was asked, with the omitted ones
//! filled in from the deciding permits' budget terms (`policy::budget`).

use crate::error::Result;
use crate::events::{Call, IssuerEvent};
use crate::identity::Subject;
use crate::ids;
use crate::notify::EventKind;
use crate::policy::budget::grant_limits;
use crate::policy::AccessFacts;
use crate::rate_limit::LimitedAction;
use crate::requests::new::validate;
use crate::requests::{AccessRequest, Actor, State, ValidRequest};
use crate::state::AppState;
use crate::store::requests;

/// Creates a request from a JSON body for `subject`.
pub async fn submit(state: &AppState, subject: &Subject, body: &[u8]) -> Result<AccessRequest> {
    super::refuse_guard(subject)?;
    // Every attempt counts, valid or not: a loop sending junk is stopped as fast as one
    // sending requests.
    state
        .rate_limiter
        .take(LimitedAction::CreateRequest, &subject.id, state.now())?;
    let id = ids::request_id()?;
    let request = evaluate(state, subject, body, id.clone())?;
    let now = request.created_at;
    let mut tx = state.store.pool().begin().await?;
    requests::insert(&mut tx, &request, &request.reason).await?;
    if request.approvals_required == 0 {
        let by: Vec<String> = request
            .assessment
            .scopes
            .iter()
            .flat_map(|scope| scope.auto_approved_by.iter().cloned())
            .collect();
        let reason = format!("approved by policy: {}", dedup(by).join(", "));
        requests::activate(
            &mut tx,
            &id,
            Actor::POLICY,
            now,
            now + request.duration_seconds,
            &reason,
        )
        .await?;
        super::notify(
            state,
            &mut tx,
            EventKind::Approved,
            &id,
            "policy",
            &reason,
            None,
        )
        .await?;
    } else {
        let requester = &subject.id;
        super::notify(
            state,
            &mut tx,
            EventKind::ReviewPending,
            &id,
            requester,
            &request.reason,
            None,
        )
        .await?;
    }
    tx.commit().await?;
    state.notifier.wake();
    tracing::info!(
        request = %id,
        requester = %subject.id,
        approvals_required = request.approvals_required,
        break_glass = request.break_glass,
        limits = ?request.limits,
        "access requested"
    );
    let stored = super::load(state, &id).await?;
    let call = |status| Call {
        method: "POST",
        path: "/v1/requests".into(),
        status,
    };
    state
        .events
        .emit(IssuerEvent::Requested, &stored, call(201), now, None);
    if stored.state == State::Active {
        state
            .events
            .emit(IssuerEvent::Approved, &stored, call(201), now, None);
    }
    Ok(stored)
}

/// What the policy would do with a request body, nothing stored: the same validation and
/// Cedar evaluation as [`submit`] (the web page's "check with the policy" before submitting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    /// The request as it would be stored (state `pending`; never saved).
    pub request: AccessRequest,
}

impl Preview {
    /// One sentence: "approved at once by policy …" or "needs 1 approval from ml-leads".
    pub fn verdict(&self) -> String {
        let assessment = &self.request.assessment;
        if assessment.approvals_required == 0 {
            let by: Vec<String> = assessment
                .scopes
                .iter()
                .flat_map(|scope| scope.auto_approved_by.iter().cloned())
                .collect();
            return format!("approved at once by policy ({})", dedup(by).join(", "));
        }
        let n = assessment.approvals_required;
        let from = match assessment.reviewers.as_slice() {
            [] => "a reviewer".to_owned(),
            groups => groups.join(" or "),
        };
        format!(
            "needs {n} approval{} from {from}",
            if n == 1 { "" } else { "s" }
        )
    }
}

/// Evaluates a request body for `subject` without storing it.
pub async fn preview(state: &AppState, subject: &Subject, body: &[u8]) -> Result<Preview> {
    super::refuse_guard(subject)?;
    Ok(Preview {
        request: evaluate(state, subject, body, String::new())?,
    })
}

/// Validates `body` and asks the policy: the request as it would be stored under `id`
/// (pending, limits filled in from the deciding permits), for [`submit`] and [`preview`].
fn evaluate(state: &AppState, subject: &Subject, body: &[u8], id: String) -> Result<AccessRequest> {
    let valid = validate(body, state.settings.max_duration)?;
    let facts = facts_for_new(subject, &valid);
    let assessment = state.policy.current().assess(&facts)?;
    let budgets: Vec<_> = assessment.scopes.iter().map(|scope| scope.budget).collect();
    let limits = grant_limits(valid.limits.as_ref(), &budgets);
    let now = state.now();
    Ok(AccessRequest {
        id,
        requester: subject.id.clone(),
        requester_kind: subject.kind.as_str().to_owned(),
        requester_groups: subject.groups.clone(),
        scopes: valid.scopes.iter().map(ToString::to_string).collect(),
        duration_seconds: valid.duration_seconds,
        reason: valid.reason,
        urgency: valid.urgency,
        break_glass: valid.break_glass,
        project: valid.project,
        ticket: valid.ticket,
        limits,
        usage: None,
        state: State::Pending,
        approvals_required: assessment.approvals_required,
        assessment,
        created_at: now,
        pending_until: now + state.settings.pending_ttl,
        approved_at: None,
        window_end: None,
        ended_at: None,
        reviews: Vec::new(),
        history: Vec::new(),
    })
}

/// The policy facts of a request being made.
pub fn facts_for_new(subject: &Subject, valid: &ValidRequest) -> AccessFacts {
    AccessFacts {
        requester: subject.id.clone(),
        requester_groups: subject.groups.clone(),
        requester_kind: subject.kind,
        scopes: valid.scopes.clone(),
        duration_seconds: valid.duration_seconds,
        urgency: valid.urgency.clone(),
        break_glass: valid.break_glass,
        project: valid.project.clone().unwrap_or_default(),
        has_ticket: valid.ticket.is_some(),
        reason: valid.reason.clone(),
        limits: valid.limits.clone(),
    }
}

/// The policy facts of a stored request (for reviews and visibility).
pub fn facts_for_stored(request: &AccessRequest) -> AccessFacts {
    AccessFacts {
        requester: request.requester.clone(),
        requester_groups: request.requester_groups.clone(),
        requester_kind: if request.requester_kind == "service" {
            crate::identity::SubjectKind::Service
        } else {
            crate::identity::SubjectKind::Person
        },
        scopes: request
            .scopes
            .iter()
            .filter_map(|scope| jitgate_grant::GrantedScope::parse(scope).ok())
            .collect(),
        duration_seconds: request.duration_seconds,
        urgency: request.urgency.clone(),
        break_glass: request.break_glass,
        project: request.project.clone().unwrap_or_default(),
        has_ticket: request.ticket.is_some(),
        reason: request.reason.clone(),
        limits: request.limits.clone(),
    }
}

fn dedup(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names.dedup();
    names
}
