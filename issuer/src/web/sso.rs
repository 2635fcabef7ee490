//! "Sign in with your identity provider": the OIDC authorization code flow with PKCE.
//!
//! - `GET /login/oidc`: a fresh `state`, `nonce` and PKCE verifier; the pending sign-in is
//!   stored under the SHA-256 of `state` (10 minutes), `state` also goes into the
//!   `jitgate_login` cookie (binding the callback to this browser: another browser cannot
//!   finish it — login CSRF), and the browser is sent to the provider.
//! - `GET /login/callback?code&state`: `state` must equal the cookie and name a pending
//!   sign-in, which is taken (a replayed callback finds nothing); the code is exchanged with
//!   the verifier; the ID token is verified (signature, `iss`, `aud`, `exp`) and must carry
//!   the `nonce`; then a session is opened and the browser goes to the review page.
//!
//! Every refusal is a page naming what failed, and opens no session.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::handlers::login_page;
use super::session::{self, sha256_hex, SameSite};
use crate::error::{Error, Result};
use crate::identity::SubjectKind;
use crate::ids;
use crate::state::AppState;
use crate::store::sessions::{self, PendingLogin, SessionSource};

/// The cookie carrying `state` between the redirect and the callback.
const LOGIN_COOKIE: &str = "jitgate_login";
/// How long a sign-in at the provider may take.
const LOGIN_SECONDS: i64 = 600;

fn random_text() -> Result<String> {
    Ok(jitgate_grant::base64url::encode(&ids::random_bytes::<32>()?))
}

/// `GET /login/oidc`.
pub async fn begin(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match start(&state).await {
        Ok((url, login_state)) => {
            let mut response = Redirect::to(&url).into_response();
            let cookie = session::set_cookie(
                &state,
                LOGIN_COOKIE,
                &login_state,
                LOGIN_SECONDS,
                SameSite::Lax,
            );
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
            response
        }
        Err(error) => refused(&state, &headers, &error),
    }
}

async fn start(state: &AppState) -> Result<(String, String)> {
    let flow = state.auth.code_flow().ok_or_else(|| {
        Error::NotFound("sign-in at an identity provider (not configured here)".into())
    })?;
    let (login_state, nonce, verifier) = (random_text()?, random_text()?, random_text()?);
    let authorization = flow.authorization(&login_state, &nonce, &verifier).await?;
    let now = state.now();
    sessions::begin_login(
        &state.store,
        &sha256_hex(&login_state),
        &PendingLogin {
            nonce,
            code_verifier: verifier,
            expires_at: now + LOGIN_SECONDS,
        },
        now,
    )
    .await?;
    Ok((authorization.url, login_state))
}

/// The provider's answer.
#[derive(Debug, Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /login/callback`.
pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(answer): Query<Callback>,
) -> Response {
    match finish(&state, &headers, answer).await {
        Ok(session_id) => {
            let mut response = Redirect::to("/review").into_response();
            for cookie in [
                session::set_cookie(
                    &state,
                    session::COOKIE,
                    &session_id,
                    session::MAX_AGE_SECONDS,
                    SameSite::Lax,
                ),
                session::set_cookie(&state, LOGIN_COOKIE, "", 0, SameSite::Lax),
            ] {
                if let Ok(value) = HeaderValue::from_str(&cookie) {
                    response.headers_mut().append(header::SET_COOKIE, value);
                }
            }
            response
        }
        Err(error) => {
            tracing::info!(%error, "web sign-in at the identity provider refused");
            refused(&state, &headers, &error)
        }
    }
}

async fn finish(state: &AppState, headers: &HeaderMap, answer: Callback) -> Result<String> {
    let flow = state.auth.code_flow().ok_or_else(|| {
        Error::NotFound("sign-in at an identity provider (not configured here)".into())
    })?;
    let returned = answer
        .state
        .ok_or_else(|| Error::BadRequest("the provider's answer has no state".into()))?;
    let expected = session::cookie(headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !bool::from(expected.as_bytes().ct_eq(returned.as_bytes())) {
        return Err(Error::BadRequest(
            "wrong state: this sign-in was not started in this browser; start again".into(),
        ));
    }
    let pending = sessions::take_login(&state.store, &sha256_hex(&returned))
        .await?
        .ok_or_else(|| {
            Error::BadRequest(
                "wrong state: no sign-in is waiting for it (already finished?); start again".into(),
            )
        })?;
    if pending.expires_at <= state.now() {
        return Err(Error::BadRequest(
            "the sign-in took longer than 10 minutes; start again".into(),
        ));
    }
    if let Some(error) = answer.error {
        return Err(Error::Unauthenticated(format!(
            "the identity provider refused the sign-in: {error}{}",
            answer
                .error_description
                .map(|text| format!(" ({text})"))
                .unwrap_or_default()
        )));
    }
    let code = answer
        .code
        .ok_or_else(|| Error::BadRequest("the provider's answer has no code".into()))?;
    let id_token = flow.exchange(&code, &pending.code_verifier).await?;
    let oidc = state
        .auth
        .oidc()
        .ok_or_else(|| Error::Config("web sign-in needs the OIDC verifier".into()))?;
    let identity = oidc.verify(&id_token).await?;
    let nonce_matches = identity
        .nonce
        .as_deref()
        .is_some_and(|nonce| bool::from(nonce.as_bytes().ct_eq(pending.nonce.as_bytes())));
    if !nonce_matches {
        return Err(Error::Unauthenticated(
            "the ID token's nonce is not this sign-in's".into(),
        ));
    }
    let subject = state.auth.subject(
        state.auth.linked(identity.subject),
        identity.groups,
        SubjectKind::Person,
    );
    if subject.guard {
        return Err(Error::Forbidden(crate::service::GUARD_ONLY.into()));
    }
    let expires_at = state.now() + session::MAX_AGE_SECONDS;
    let id = session::open(state, &subject, SessionSource::Oidc, None, expires_at).await?;
    tracing::info!(subject = %subject.id, provider = %flow.issuer(), "signed in at the identity provider");
    Ok(id)
}

fn refused(state: &AppState, headers: &HeaderMap, error: &Error) -> Response {
    let status = match error.status_code() {
        StatusCode::INTERNAL_SERVER_ERROR => StatusCode::INTERNAL_SERVER_ERROR,
        other => other,
    };
    login_page(state, headers, status, Some(&error.public_message()))
}
