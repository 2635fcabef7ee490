//! Admin calls: reload the policy (same as SIGHUP), rotate or reload the signing keys.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::Caller;
use crate::error::{Error, Result};
use crate::identity::Subject;
use crate::state::AppState;

pub(crate) fn require_admin(subject: &Subject) -> Result<()> {
    if subject.admin {
        Ok(())
    } else {
        Err(Error::Forbidden("this is an admin call".into()))
    }
}

/// `POST /v1/admin/policy/reload`: 200 with the new policy's summary, or 400 with every
/// problem (the old policy stays in force).
pub async fn reload_policy(
    State(state): State<AppState>,
    Caller(subject): Caller,
) -> Result<Json<Value>> {
    require_admin(&subject)?;
    match state.policy.reload() {
        Ok(summary) => {
            tracing::info!(by = %subject.id, policies = summary.policies, sha256 = %summary.sha256, "policy reloaded");
            Ok(Json(
                json!({ "reloaded": true, "policies": summary.policies, "sha256": summary.sha256 }),
            ))
        }
        Err(error) => {
            tracing::warn!(by = %subject.id, %error, "policy reload refused; the old policy stays");
            Err(error)
        }
    }
}

/// `POST /v1/admin/keys/rotate`: a new current key; the old one stays published.
pub async fn rotate_key(
    State(state): State<AppState>,
    Caller(subject): Caller,
) -> Result<Json<Value>> {
    require_admin(&subject)?;
    let key_id = state.keys.rotate()?;
    tracing::info!(by = %subject.id, kid = %key_id, "signing key rotated");
    Ok(Json(json!({ "current_kid": key_id })))
}

/// `POST /v1/admin/keys/reload`: re-read the key files (after `jitgate issuer rotate-key`).
pub async fn reload_keys(
    State(state): State<AppState>,
    Caller(subject): Caller,
) -> Result<Json<Value>> {
    require_admin(&subject)?;
    let key_id = state.keys.reload()?;
    Ok(Json(json!({ "current_kid": key_id })))
}
