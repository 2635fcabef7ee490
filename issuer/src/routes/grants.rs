//! `/v1/grants`: active grants (with their limits and usage), their tokens, and revocation
//! (by people or the guard). A grant's id is the id of the request that was approved.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;

use super::query::parse_query;
use super::requests::{reason_of, RequestView};
use super::{AnyCaller, Caller};
use crate::error::{Error, Result};
use crate::requests::State as RequestState;
use crate::service::{expiry, lifecycle, tokens};
use crate::state::AppState;
use crate::store::requests::{list as list_requests, ListFilter};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct GrantsQuery {
    /// `mine` (default) or `all` (admins).
    view: Option<String>,
}

/// `GET /v1/grants`: active grants (the caller's, or all for admins with `view=all`).
pub async fn list(
    State(state): State<AppState>,
    Caller(subject): Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<serde_json::Value>> {
    let query: GrantsQuery = parse_query(raw.as_deref())?;
    let requester = match query.view.as_deref().unwrap_or("mine") {
        "mine" => Some(subject.id.clone()),
        "all" if subject.admin => None,
        "all" => return Err(Error::Forbidden("view=all is for admins".into())),
        other => {
            return Err(Error::BadRequest(format!(
                "view: {other:?} is not one of mine, all"
            )))
        }
    };
    expiry::expire_due(&state).await?;
    let grants = list_requests(
        &state.store,
        &ListFilter {
            requester,
            states: vec![RequestState::Active],
            limit: 500,
        },
    )
    .await?;
    let now = state.now();
    let views: Vec<RequestView> = grants
        .into_iter()
        .map(|grant| RequestView::new(grant, now))
        .collect();
    Ok(Json(serde_json::json!({ "grants": views })))
}

/// `POST /v1/grants/{id}/token`: a fresh token. `Cache-Control: no-store`, like RFC 6749's
/// token endpoint: a token must not sit in a cache.
pub async fn token(
    State(state): State<AppState>,
    Caller(subject): Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse> {
    let issued = tokens::mint_token(&state, &subject, &id).await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(issued)))
}

/// `POST /v1/grants/{id}/revoke` with `{"reason": "…"}` (optional): people, and the guard.
pub async fn revoke(
    State(state): State<AppState>,
    AnyCaller(subject): AnyCaller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<RequestView>> {
    let reason = reason_of(&body)?;
    let grant = lifecycle::revoke(&state, &subject, &id, &reason).await?;
    Ok(Json(RequestView::new(grant, state.now())))
}
