//! `GET /v1/revocations?after=<cursor>`: the revocation feed the Envoy filter polls.
//!
//! Authenticated with the data-plane credential (never a user credential). Answers
//! `{"revoked": [{grant_id, revoked_at, expires_at}, …], "cursor": "…"}`, oldest first, at
//! most [`revocations::PAGE_SIZE`] entries; the cursor is a decimal feed position (opaque to clients), and
//! a client that omits `after` starts from the beginning. A reader that gets a full page asks
//! again with the new cursor.

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::query::parse_query;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::revocations;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FeedQuery {
    after: Option<String>,
}

/// The feed.
pub async fn feed(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<impl IntoResponse> {
    state
        .data_plane
        .as_ref()
        .ok_or(Error::DataPlaneUnauthenticated)?
        .check(&headers)?;
    let query: FeedQuery = parse_query(raw.as_deref())?;
    let after = match query.after.as_deref() {
        None | Some("") => 0,
        Some(text) => parse_cursor(text)?,
    };
    let (revoked, cursor) = revocations::after(&state.store, after).await?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "revoked": revoked, "cursor": cursor.to_string() })),
    ))
}

fn parse_cursor(text: &str) -> Result<i64> {
    let valid = text.len() <= 18 && text.bytes().all(|b| b.is_ascii_digit());
    valid
        .then(|| text.parse::<i64>().ok())
        .flatten()
        .ok_or_else(|| {
            Error::BadRequest(format!(
                "after: {text:?} is not a cursor from this feed; omit `after` to start from the beginning"
            ))
        })
}
