//! Minting grant tokens for an active grant. Only the grantee gets tokens; any number may be
//! minted while the grant is active, each living at most the token TTL and never past the
//! window's end, so a leaked token is short-lived even when the grant is long.

use jitgate_grant::{mint, Audience, GrantClaims};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::events::{Call, IssuerEvent};
use crate::identity::Subject;
use crate::ids;
use crate::rate_limit::LimitedAction;
use crate::requests::State;
use crate::state::AppState;
use crate::store::tokens::{self, MintedToken};

use super::next_step::next_step;
use super::visibility::visible;

/// What `POST /v1/grants/{id}/token` answers.
#[derive(Debug, Clone, Serialize)]
pub struct IssuedToken {
    /// The signed token (JWS compact).
    pub token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// `exp`, Unix seconds.
    pub expires_at: i64,
    /// Seconds from now until `exp`.
    pub expires_in: i64,
    /// The grant.
    pub grant_id: String,
    /// The granted scopes, space-separated.
    pub scope: String,
}

/// Mints a token of grant `id` for `subject`.
pub async fn mint_token(state: &AppState, subject: &Subject, id: &str) -> Result<IssuedToken> {
    super::refuse_guard(subject)?;
    // Counted per identity across all its grants, before any lookup: refusals count too.
    state
        .rate_limiter
        .take(LimitedAction::MintToken, &subject.id, state.now())?;
    super::expiry::expire_due(state).await?;
    let grant = visible(state, subject, id).await?;
    if grant.requester != subject.id {
        return Err(Error::Forbidden(format!(
            "only {} can get tokens of this grant",
            grant.requester
        )));
    }
    let now = state.now();
    if grant.state != State::Active {
        return Err(Error::Conflict(format!(
            "grant {id} is {}: {}",
            grant.state,
            next_step(&grant, now)
        )));
    }
    let window_end = grant
        .window_end
        .ok_or_else(|| Error::Internal(format!("active grant {id} has no window end")))?;
    let expires_at = window_end.min(now + state.settings.token_ttl);
    let key = state.keys.pair().current;
    let claims = GrantClaims {
        iss: state.settings.issuer_url.clone(),
        sub: grant.requester.clone(),
        aud: Audience::One(state.settings.audience.clone()),
        iat: now,
        nbf: Some(now),
        exp: expires_at,
        jti: ids::token_id()?,
        scope: grant.scopes.join(" "),
        grant_id: grant.id.clone(),
        client_id: None,
        approvers: grant.approvers(),
        break_glass: grant.break_glass,
        limits: grant.limits.clone(),
    };
    let token = mint(&claims, &key).map_err(|error| Error::Internal(error.to_string()))?;
    tokens::record(
        &state.store,
        &MintedToken {
            jti: claims.jti.clone(),
            grant_id: grant.id.clone(),
            subject: subject.id.clone(),
            key_id: key.key_id(),
            issued_at: now,
            expires_at,
        },
    )
    .await?;
    tracing::info!(grant = %id, jti = %claims.jti, subject = %subject.id, "token minted");
    let call = Call {
        method: "POST",
        path: format!("/v1/grants/{id}/token"),
        status: 200,
    };
    let digest = jitgate_grant::TokenDigest::of(&token).to_hex();
    state
        .events
        .emit(IssuerEvent::TokenMinted, &grant, call, now, Some(digest));
    Ok(IssuedToken {
        token,
        token_type: "Bearer",
        expires_at,
        expires_in: expires_at - now,
        grant_id: grant.id,
        scope: claims.scope,
    })
}
