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

/// `GET /v1/login/cli`: where `jitgate login` signs in (no credential needed: it is how the
/// CLI gets one). 404 when this issuer has no CLI client at an IdP.
pub async fn cli_login(State(state): State<AppState>) -> Result<Json<Value>> {
    let login = state.settings.cli_login.as_ref().ok_or_else(|| {
        crate::error::Error::NotFound(
            "a CLI sign-in (this issuer has no --oidc-cli-client-id); use an API token".into(),
        )
    })?;
    Ok(Json(json!(login)))
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
