//! Liveness and "who am I".

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::AnyCaller;
use crate::error::Result;
use crate::state::AppState;

/// `GET /healthz`: the process is up and the database answers.
pub async fn healthz(State(state): State<AppState>) -> Result<Json<Value>> {
    sqlx::query("SELECT 1").execute(state.store.pool()).await?;
    Ok(Json(json!({ "status": "ok" })))
}

/// `GET /v1/whoami`: the subject the credential authenticates as (the guard too: it is how
/// an operator checks the guard's token).
pub async fn whoami(AnyCaller(subject): AnyCaller) -> Json<Value> {
    Json(json!({
        "subject": subject.id,
        "kind": subject.kind,
        "groups": subject.groups,
        "admin": subject.admin,
        "guard": subject.guard,
    }))
}
