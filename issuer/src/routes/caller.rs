//! The `Caller` extractor: the authenticated subject of an API call, or 401.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::Error;
use crate::identity::Subject;
use crate::state::AppState;

/// The authenticated subject making the call.
#[derive(Debug, Clone)]
pub struct Caller(pub Subject);

impl FromRequestParts<AppState> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        state.auth.authenticate(&parts.headers).await.map(Caller)
    }
}
