//! Liveness and "who am I".

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::Caller;
use crate::error::Result;
use crate::state::AppState;

/// `GET /healthz`: the process is up and the database answers.
pub async fn healthz(State(state): State<AppState>) -> Result<Json<Value>> {
    sqlx::query("SELECT 1").execute(state.store.pool()).await?;
    Ok(Json(json!({ "status": "ok" })))
}

/// `GET /v1/whoami`: the subject the credential authenticates as.
pub async fn whoami(Caller(subject): Caller) -> Json<Value> {
    Json(json!({
        "subject": subject.id,
        "kind": subject.kind,
        "groups": subject.groups,
        "admin": subject.admin,
    }))
}
