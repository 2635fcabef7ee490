//! The web session: the credential the reviewer signed in with, kept in an `HttpOnly`,
//! `SameSite=Strict` cookie and verified again on every request.

use axum::http::HeaderMap;

use crate::error::Result;
use crate::identity::Subject;
use crate::service::refuse_guard;
use crate::state::AppState;

/// The session cookie's name.
pub const COOKIE: &str = "jitgate_session";
/// How long the browser keeps the session cookie.
pub const MAX_AGE_SECONDS: i64 = 8 * 3600;

/// The value of cookie `name`, if the request has exactly that cookie.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// The signed-in subject, if the session cookie holds a credential that still verifies (and
/// is not the guard's).
pub async fn subject(state: &AppState, headers: &HeaderMap) -> Option<Subject> {
    let credential = cookie(headers, COOKIE)?;
    let subject = state.auth.authenticate_token(&credential).await.ok()?;
    (!subject.guard).then_some(subject)
}

/// Verifies a pasted credential; the guard's is refused (it reviews nothing).
pub async fn sign_in(state: &AppState, credential: &str) -> Result<Subject> {
    let subject = state.auth.authenticate_token(credential.trim()).await?;
    refuse_guard(&subject)?;
    Ok(subject)
}

/// `Set-Cookie` for a cookie with the issuer's flags (`Secure` when served over https).
pub fn set_cookie(
    state: &AppState,
    name: &str,
    value: &str,
    max_age: i64,
    http_only: bool,
) -> String {
    let secure = if state.settings.issuer_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let http_only = if http_only { "; HttpOnly" } else { "" };
    format!("{name}={value}; Path=/; Max-Age={max_age}; SameSite=Strict{http_only}{secure}")
}
