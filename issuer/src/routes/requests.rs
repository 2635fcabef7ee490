//! `/v1/requests`: ask, look, list, approve, deny, cancel.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::query::{parse_optional_body, parse_query};
use super::Caller;
use crate::error::{Error, Result};
use crate::requests::{AccessRequest, Channel, State as RequestState};
use crate::service::next_step::next_step;
use crate::service::reviews::{review, Verdict};
use crate::service::{expiry, lifecycle, submit, visibility};
use crate::state::AppState;
use crate::store::requests::{list as list_requests, ListFilter};

/// A request as the API shows it: the stored request, plus what happens next.
#[derive(Debug, Serialize)]
pub struct RequestView {
    #[serde(flatten)]
    request: AccessRequest,
    /// Approvals still missing.
    approvals_missing: u32,
    /// One sentence: what happens next.
    next_step: String,
}

impl RequestView {
    /// Wraps a request.
    pub fn new(request: AccessRequest, now: i64) -> RequestView {
        RequestView {
            approvals_missing: request.approvals_missing(),
            next_step: next_step(&request, now),
            request,
        }
    }
}

/// `POST /v1/requests`.
pub async fn create(
    State(state): State<AppState>,
    Caller(subject): Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<RequestView>)> {
    let request = submit::submit(&state, &subject, &body).await?;
    Ok((
        StatusCode::CREATED,
        Json(RequestView::new(request, state.now())),
    ))
}

/// `GET /v1/requests/{id}`.
pub async fn show(
    State(state): State<AppState>,
    Caller(subject): Caller,
    Path(id): Path<String>,
) -> Result<Json<RequestView>> {
    expiry::expire_due(&state).await?;
    let request = visibility::visible(&state, &subject, &id).await?;
    Ok(Json(RequestView::new(request, state.now())))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// `mine` (default), `reviewable` or `all` (admins).
    view: Option<String>,
    /// Comma-separated states.
    state: Option<String>,
    limit: Option<i64>,
}

/// `GET /v1/requests?view=mine|reviewable|all&state=pending,active`.
pub async fn list(
    State(state): State<AppState>,
    Caller(subject): Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<serde_json::Value>> {
    let query: ListQuery = parse_query(raw.as_deref())?;
    let states = parse_states(query.state.as_deref())?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(Error::BadRequest("limit: from 1 to 500".into()));
    }
    expiry::expire_due(&state).await?;
    let view = query.view.as_deref().unwrap_or("mine");
    let requests = match view {
        "mine" => {
            list_requests(
                &state.store,
                &ListFilter {
                    requester: Some(subject.id.clone()),
                    states,
                    limit,
                },
            )
            .await?
        }
        "reviewable" => visibility::reviewable(&state, &subject, limit).await?,
        "all" if subject.admin => {
            list_requests(
                &state.store,
                &ListFilter {
                    requester: None,
                    states,
                    limit,
                },
            )
            .await?
        }
        "all" => return Err(Error::Forbidden("view=all is for admins".into())),
        other => {
            return Err(Error::BadRequest(format!(
                "view: {other:?} is not one of mine, reviewable, all"
            )))
        }
    };
    let now = state.now();
    let views: Vec<RequestView> = requests
        .into_iter()
        .map(|request| RequestView::new(request, now))
        .collect();
    Ok(Json(serde_json::json!({ "requests": views })))
}

fn parse_states(text: Option<&str>) -> Result<Vec<RequestState>> {
    let Some(text) = text.filter(|text| !text.is_empty()) else {
        return Ok(Vec::new());
    };
    text.split(',')
        .map(|name| {
            RequestState::parse(name.trim()).ok_or_else(|| {
                Error::BadRequest(format!(
                    "state: {name:?} is not one of pending, active, denied, expired, cancelled, revoked"
                ))
            })
        })
        .collect()
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CommentBody {
    #[serde(default)]
    comment: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ReasonBody {
    #[serde(default)]
    reason: String,
}

/// `POST /v1/requests/{id}/approve` with `{"comment": "…"}` (optional).
pub async fn approve(
    State(state): State<AppState>,
    Caller(subject): Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<RequestView>> {
    let body: CommentBody = parse_optional_body(&body)?;
    let request = review(
        &state,
        &subject,
        &id,
        Verdict::Approve,
        &body.comment,
        Channel::Api,
    )
    .await?;
    Ok(Json(RequestView::new(request, state.now())))
}

/// `POST /v1/requests/{id}/deny` with `{"comment": "…"}` (required).
pub async fn deny(
    State(state): State<AppState>,
    Caller(subject): Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<RequestView>> {
    let body: CommentBody = parse_optional_body(&body)?;
    let request = review(
        &state,
        &subject,
        &id,
        Verdict::Deny,
        &body.comment,
        Channel::Api,
    )
    .await?;
    Ok(Json(RequestView::new(request, state.now())))
}

/// `POST /v1/requests/{id}/cancel` with `{"reason": "…"}` (optional).
pub async fn cancel(
    State(state): State<AppState>,
    Caller(subject): Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<RequestView>> {
    let body: ReasonBody = parse_optional_body(&body)?;
    let request = lifecycle::cancel(&state, &subject, &id, &body.reason).await?;
    Ok(Json(RequestView::new(request, state.now())))
}

/// Used by grants: revocation bodies have the same shape.
pub(super) fn reason_of(body: &Bytes) -> Result<String> {
    Ok(parse_optional_body::<ReasonBody>(body)?.reason)
}
