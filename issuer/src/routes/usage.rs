//! `PUT /v1/grants/{id}/usage`: the guard reports a grant's fleet-wide usage (guard only).
//! Answers 200 with the usage now stored and whether this report was kept (`stored: false`
//! when the stored one has a later `as_of`).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

use super::AnyCaller;
use crate::error::Result;
use crate::service::usage;
use crate::state::AppState;

/// The handler.
pub async fn report(
    State(state): State<AppState>,
    AnyCaller(subject): AnyCaller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>> {
    let reported = usage::report(&state, &subject, &id, &body).await?;
    Ok(Json(json!({
        "grant_id": id,
        "stored": reported.stored,
        "usage": reported.usage,
    })))
}
