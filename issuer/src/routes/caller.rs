//! Who is calling: [`Caller`], the authenticated subject of an API call (401 without one) —
//! never the guard, which may only make its own three calls and gets 403 everywhere else —
//! and [`AnyCaller`], which lets the guard in too, for the handlers that serve it.
//!
//! Keeping the guard out is the default: a new handler that takes a `Caller` cannot be
//! reached with the guard's credential by accident.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::Error;
use crate::identity::Subject;
use crate::service::refuse_guard;
use crate::state::AppState;

/// The authenticated subject making the call; the guard is refused with 403.
#[derive(Debug, Clone)]
pub struct Caller(pub Subject);

/// The authenticated subject making the call, the guard included: for revocation, the
/// guard's own calls and `whoami`.
#[derive(Debug, Clone)]
pub struct AnyCaller(pub Subject);

impl FromRequestParts<AppState> for AnyCaller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        state.auth.authenticate(&parts.headers).await.map(AnyCaller)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let subject = state.auth.authenticate(&parts.headers).await?;
        refuse_guard(&subject)?;
        Ok(Caller(subject))
    }
}
