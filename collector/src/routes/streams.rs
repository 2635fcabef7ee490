//! `GET /v1/streams`: every sender stream with its highest sequence, count and gaps.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::Reviewer;
use crate::Collector;

/// `GET /v1/streams`.
pub(crate) async fn streams(_: Reviewer, State(collector): State<Collector>) -> Json<Value> {
    Json(json!({"streams": collector.log().streams().await}))
}
