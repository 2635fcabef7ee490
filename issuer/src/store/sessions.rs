//! Web sessions and pending OIDC sign-ins in the database (see
//! `migrations/*/20261216000001_web_sessions.sql`). Rows are keyed by the SHA-256 of the
//! secret the browser holds, never by the secret itself.

use sqlx::Row;

use super::Store;
use crate::error::{Error, Result};
use crate::identity::SubjectKind;

/// How a session was signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionSource {
    /// A pasted API token (its digest is kept: removing the token ends the session).
    ApiToken,
    /// A pasted OIDC ID token (the session ends when the token would have).
    IdToken,
    /// The OIDC authorization code flow.
    Oidc,
}

impl SessionSource {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionSource::ApiToken => "api_token",
            SessionSource::IdToken => "id_token",
            SessionSource::Oidc => "oidc",
        }
    }

    fn parse(text: &str) -> Option<SessionSource> {
        match text {
            "api_token" => Some(SessionSource::ApiToken),
            "id_token" => Some(SessionSource::IdToken),
            "oidc" => Some(SessionSource::Oidc),
            _ => None,
        }
    }
}

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    /// Who.
    pub subject: String,
    /// Person or service.
    pub kind: SubjectKind,
    /// Their groups when they signed in.
    pub groups: Vec<String>,
    /// How.
    pub source: SessionSource,
    /// The API token's digest, for [`SessionSource::ApiToken`].
    pub credential_sha256: Option<String>,
    /// When it ends, Unix seconds.
    pub expires_at: i64,
}

/// Stores a new session under the digest of its id.
pub async fn create(
    store: &Store,
    id_sha256: &str,
    session: &StoredSession,
    now: i64,
) -> Result<()> {
    let groups = serde_json::to_string(&session.groups)
        .map_err(|error| Error::Internal(format!("json: {error}")))?;
    sqlx::query(
        "INSERT INTO web_sessions (id_sha256, subject, subject_kind, groups, source, \
         credential_sha256, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id_sha256)
    .bind(&session.subject)
    .bind(session.kind.as_str())
    .bind(groups)
    .bind(session.source.as_str())
    .bind(session.credential_sha256.clone())
    .bind(now)
    .bind(session.expires_at)
    .execute(store.pool())
    .await?;
    Ok(())
}

/// The session with that id digest, if it is neither expired nor revoked.
pub async fn find(store: &Store, id_sha256: &str, now: i64) -> Result<Option<StoredSession>> {
    let row = sqlx::query(
        "SELECT subject, subject_kind, groups, source, credential_sha256, expires_at \
         FROM web_sessions WHERE id_sha256 = $1 AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(id_sha256)
    .bind(now)
    .fetch_optional(store.pool())
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let bad = |column: &str| Error::Internal(format!("web_sessions.{column} is corrupt"));
    let kind: String = row.try_get("subject_kind")?;
    let groups: String = row.try_get("groups")?;
    let source: String = row.try_get("source")?;
    Ok(Some(StoredSession {
        subject: row.try_get("subject")?,
        kind: match kind.as_str() {
            "person" => SubjectKind::Person,
            "service" => SubjectKind::Service,
            _ => return Err(bad("subject_kind")),
        },
        groups: serde_json::from_str(&groups).map_err(|_| bad("groups"))?,
        source: SessionSource::parse(&source).ok_or_else(|| bad("source"))?,
        credential_sha256: row.try_get("credential_sha256")?,
        expires_at: row.try_get("expires_at")?,
    }))
}

/// Ends a session (logout); false when there was no live one.
pub async fn revoke(store: &Store, id_sha256: &str, now: i64) -> Result<bool> {
    let result = sqlx::query(
        "UPDATE web_sessions SET revoked_at = $1 WHERE id_sha256 = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(id_sha256)
    .execute(store.pool())
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Ends every live session of `subject`; how many.
pub async fn revoke_subject(store: &Store, subject: &str, now: i64) -> Result<u64> {
    let result = sqlx::query(
        "UPDATE web_sessions SET revoked_at = $1 WHERE subject = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(subject)
    .execute(store.pool())
    .await?;
    Ok(result.rows_affected())
}

/// A pending OIDC sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingLogin {
    /// The `nonce` sent; the ID token must carry it.
    pub nonce: String,
    /// The PKCE verifier.
    pub code_verifier: String,
    /// When it lapses, Unix seconds.
    pub expires_at: i64,
}

/// Stores a pending sign-in under the digest of its `state`.
pub async fn begin_login(
    store: &Store,
    state_sha256: &str,
    login: &PendingLogin,
    now: i64,
) -> Result<()> {
    // Sign-ins nobody finished are dropped here rather than by a sweep.
    sqlx::query("DELETE FROM web_logins WHERE expires_at <= $1")
        .bind(now)
        .execute(store.pool())
        .await?;
    sqlx::query(
        "INSERT INTO web_logins (state_sha256, nonce, code_verifier, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(state_sha256)
    .bind(&login.nonce)
    .bind(&login.code_verifier)
    .bind(now)
    .bind(login.expires_at)
    .execute(store.pool())
    .await?;
    Ok(())
}

/// Takes (deletes and returns) the pending sign-in for that `state` digest: a second
/// callback with the same `state` finds nothing.
pub async fn take_login(store: &Store, state_sha256: &str) -> Result<Option<PendingLogin>> {
    let row = sqlx::query(
        "DELETE FROM web_logins WHERE state_sha256 = $1 \
         RETURNING nonce, code_verifier, expires_at",
    )
    .bind(state_sha256)
    .fetch_optional(store.pool())
    .await?;
    row.map(|row| {
        Ok(PendingLogin {
            nonce: row.try_get("nonce")?,
            code_verifier: row.try_get("code_verifier")?,
            expires_at: row.try_get("expires_at")?,
        })
    })
    .transpose()
}
