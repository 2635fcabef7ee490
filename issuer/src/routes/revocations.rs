//! `GET /v1/revocations?after=<cursor>`: the revocation feed the Envoy filter polls
//! (`docs/revocation-feed.md` is the contract).
//!
//! Authenticated with the data-plane credential (never a user credential). Answers
//! `{"revoked": [{grant_id, revoked_at, expires_at}, …], "cursor": "…", "more": bool}`,
//! oldest first, at most [`revocations::PAGE_SIZE`] entries, only revocations whose grant
//! could still have a valid token; `more: true` tells the reader to ask again at once. A
//! client that omits `after` starts from the beginning.
//!
//! The cursor is `<epoch>.<position>` (opaque to clients): the database's random epoch and a
//! feed position. A cursor of another epoch, or past the head, is answered `410 Gone`
//! `unknown_cursor`: the reader was following another database (a restored backup, a fresh
//! file, a move to PostgreSQL) and would otherwise skip every revocation until the new
//! counter passed its old position.

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::query::parse_query;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::revocations::{self, FeedHead};

/// Longest epoch accepted in a cursor (ours are 32 hex digits).
const MAX_EPOCH_CHARS: usize = 64;
/// Longest position accepted: 18 digits always fit an `i64`.
const MAX_POSITION_DIGITS: usize = 18;

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
    let head = revocations::head(&state.store).await?;
    let after = match query.after.as_deref() {
        None | Some("") => 0,
        Some(text) => position_after(text, &head)?,
    };
    let page = revocations::page(&state.store, after, head.position, state.now()).await?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({
            "revoked": page.revoked,
            "cursor": format!("{}.{}", head.epoch, page.position),
            "more": page.more,
        })),
    ))
}

/// The position a cursor names in this feed: 400 if it is no cursor at all, 410 if it is one
/// this feed cannot continue from.
fn position_after(text: &str, head: &FeedHead) -> Result<i64> {
    let malformed = || {
        Error::BadRequest(format!(
            "after: {text:?} is not a cursor from this feed; omit `after` to start from the beginning"
        ))
    };
    let gone = |why: &str| {
        Error::UnknownFeedCursor(format!(
            "after: {why}; start again from the beginning (omit `after`)"
        ))
    };
    // A bare position is a cursor from before feeds had epochs: from an unknown database.
    let (epoch, position) = text.rsplit_once('.').unwrap_or(("", text));
    let epoch_ok =
        epoch.len() <= MAX_EPOCH_CHARS && epoch.bytes().all(|b| b.is_ascii_alphanumeric());
    let position_ok = !position.is_empty()
        && position.len() <= MAX_POSITION_DIGITS
        && position.bytes().all(|b| b.is_ascii_digit());
    let position = match position.parse::<i64>() {
        Ok(position) if epoch_ok && position_ok => position,
        _ => return Err(malformed()),
    };
    if epoch != head.epoch {
        return Err(gone(
            "the cursor is from another revocation feed (a different or re-created database)",
        ));
    }
    if position > head.position {
        return Err(gone(&format!(
            "the cursor is past the end of this feed (position {}; a restored database?)",
            head.position
        )));
    }
    Ok(position)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn head() -> FeedHead {
        FeedHead {
            epoch: "0f3a".into(),
            position: 7,
        }
    }

    #[test]
    fn a_cursor_of_this_epoch_up_to_the_head_is_a_position() {
        assert_eq!(position_after("0f3a.0", &head()).unwrap(), 0);
        assert_eq!(position_after("0f3a.7", &head()).unwrap(), 7);
    }

    #[test]
    fn another_epoch_a_bare_position_or_a_cursor_past_the_head_is_gone() {
        for cursor in ["1b2c.3", "3", "0f3a.8", "0F3A.3"] {
            let error = position_after(cursor, &head()).unwrap_err();
            assert!(
                matches!(error, Error::UnknownFeedCursor(_)),
                "{cursor}: {error:?}"
            );
        }
    }

    #[test]
    fn anything_else_is_malformed() {
        for cursor in [
            "abc",
            "-1",
            "0f3a.",
            "0f3a.-1",
            "0f-3a.1",
            ".",
            "0f3a.1.2",
            "99999999999999999999",
        ] {
            let error = position_after(cursor, &head()).unwrap_err();
            assert!(matches!(error, Error::BadRequest(_)), "{cursor}: {error:?}");
        }
    }
}
