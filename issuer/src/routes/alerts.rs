//! `/v1/alerts`: the guard posts one alert per firing (`POST`, guard only, idempotent on
//! `firing_id`: 201 the first time, 200 with the stored alert on a replay); admins and
//! reviewers list them (`GET ?grant_id=&since=&limit=`).

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::query::parse_query;
use super::{AnyCaller, Caller};
use crate::error::{Error, Result};
use crate::guard::alert::Alert;
use crate::guard::parse_instant;
use crate::service::alerts;
use crate::state::AppState;
use crate::store::alerts::AlertFilter;

/// `POST /v1/alerts`.
pub async fn post(
    State(state): State<AppState>,
    AnyCaller(subject): AnyCaller,
    body: Bytes,
) -> Result<(StatusCode, Json<Alert>)> {
    let posted = alerts::post(&state, &subject, &body).await?;
    let status = if posted.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(posted.alert)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Only this grant's alerts.
    grant_id: Option<String>,
    /// Only alerts fired at or after this RFC 3339 time.
    since: Option<String>,
    limit: Option<i64>,
}

/// `GET /v1/alerts`: newest first.
pub async fn list(
    State(state): State<AppState>,
    Caller(subject): Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>> {
    let query: ListQuery = parse_query(raw.as_deref())?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(Error::BadRequest("limit: from 1 to 500".into()));
    }
    let filter = AlertFilter {
        grant_id: query.grant_id.filter(|id| !id.is_empty()),
        since_nanos: query
            .since
            .filter(|since| !since.is_empty())
            .map(|since| parse_instant("since", &since))
            .transpose()?,
        limit,
    };
    let shown = alerts::list(&state, &subject, &filter).await?;
    Ok(Json(json!({ "alerts": shown })))
}
