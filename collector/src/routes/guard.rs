//! `POST /v1/admin/guard/reload`: reads the guard's rules file again (as SIGHUP does). A
//! good file replaces the rules (200, how many); a bad one is refused with its file and line
//! (422 `rules_invalid`) and the rules in force stay.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::Reviewer;
use crate::error::{Error, Result};
use crate::Collector;

pub(crate) async fn reload(_: Reviewer, State(collector): State<Collector>) -> Result<Json<Value>> {
    let guard = collector.guard().ok_or_else(|| {
        Error::NotFound("the guard is not running: start the collector with --guard-rules".into())
    })?;
    let count = guard.reload()?;
    Ok(Json(json!({
        "rules": count,
        "file": guard.settings().rules_path.display().to_string(),
    })))
}
