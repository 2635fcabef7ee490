//! The web session: an opaque random id in an `HttpOnly`, `SameSite=Lax` cookie, looked up
//! on the server (`store::sessions`) on every request. The cookie never holds a credential:
//! a leaked cookie is one session, which expires, ends at logout, and ends when the API token
//! it was opened with is removed — not a long-lived token.
//!
//! `Lax`, not `Strict`: the OIDC provider sends the browser back to us with a top-level
//! cross-site navigation, and a `Strict` cookie set at the end of it would be missing from the
//! next page. Forms are still protected by the CSRF token and the `Origin` check (`csrf`).

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::identity::api_tokens::{digest, API_TOKEN_PREFIX};
use crate::identity::Subject;
use crate::ids;
use crate::service::refuse_guard;
use crate::state::AppState;
use crate::store::sessions::{self, SessionSource, StoredSession};

/// The session cookie's name.
pub const COOKIE: &str = "jitgate_session";
/// The longest a session lasts.
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

/// Lower-case hex SHA-256, how session ids and OIDC `state`s are stored.
pub fn sha256_hex(text: &str) -> String {
    ids::hex(&Sha256::digest(text.as_bytes()))
}

/// The signed-in subject, if the cookie names a live session (and, for one opened with an
/// API token, the token is still configured). The guard never has a session.
pub async fn subject(state: &AppState, headers: &HeaderMap) -> Option<Subject> {
    let id = cookie(headers, COOKIE)?;
    let stored = match sessions::find(&state.store, &sha256_hex(&id), state.now()).await {
        Ok(found) => found?,
        Err(error) => {
            tracing::warn!(%error, "web session lookup failed");
            return None;
        }
    };
    if stored.source == SessionSource::ApiToken
        && !stored
            .credential_sha256
            .as_deref()
            .is_some_and(|sha| state.auth.api_token_configured(sha))
    {
        return None;
    }
    let subject = state
        .auth
        .subject(stored.subject, stored.groups, stored.kind);
    (!subject.guard).then_some(subject)
}

/// Verifies a pasted credential and opens a session for it; the session id for the cookie.
/// The guard's credential is refused (it reviews nothing).
pub async fn sign_in_with_credential(
    state: &AppState,
    credential: &str,
) -> Result<(Subject, String)> {
    let credential = credential.trim();
    let (subject, credential_expiry) = state.auth.authenticate_with_expiry(credential).await?;
    refuse_guard(&subject)?;
    // A pasted ID token opens a session no longer than the token itself.
    let longest = state.now() + MAX_AGE_SECONDS;
    let expires_at = credential_expiry.map_or(longest, |exp| exp.min(longest));
    let (source, credential_sha256) = if credential.starts_with(API_TOKEN_PREFIX) {
        (SessionSource::ApiToken, Some(digest(credential)))
    } else {
        (SessionSource::IdToken, None)
    };
    let id = open(state, &subject, source, credential_sha256, expires_at).await?;
    Ok((subject, id))
}

/// Opens a session for `subject`; the random id for the cookie.
pub async fn open(
    state: &AppState,
    subject: &Subject,
    source: SessionSource,
    credential_sha256: Option<String>,
    expires_at: i64,
) -> Result<String> {
    let id = jitgate_grant::base64url::encode(&ids::random_bytes::<32>()?);
    let stored = StoredSession {
        subject: subject.id.clone(),
        kind: subject.kind,
        groups: subject.groups.clone(),
        source,
        credential_sha256,
        expires_at,
    };
    sessions::create(&state.store, &sha256_hex(&id), &stored, state.now()).await?;
    Ok(id)
}

/// Ends the session the cookie names, if any.
pub async fn close(state: &AppState, headers: &HeaderMap) -> Result<()> {
    if let Some(id) = cookie(headers, COOKIE) {
        sessions::revoke(&state.store, &sha256_hex(&id), state.now()).await?;
    }
    Ok(())
}

/// How a cookie may travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// Same-site requests only (the CSRF cookie).
    Strict,
    /// Also top-level navigations from elsewhere (the session, the OIDC sign-in).
    Lax,
}

/// `Set-Cookie` for a cookie with the issuer's flags (`Secure` when served over https).
pub fn set_cookie(
    state: &AppState,
    name: &str,
    value: &str,
    max_age: i64,
    same_site: SameSite,
) -> String {
    let secure = if state.settings.issuer_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let same_site = match same_site {
        SameSite::Strict => "Strict",
        SameSite::Lax => "Lax",
    };
    format!("{name}={value}; Path=/; Max-Age={max_age}; SameSite={same_site}; HttpOnly{secure}")
}
