//! A record of every minted token (never the token itself): which grant, which key, when it
//! expires — for audits and for answering "which tokens of this grant are still out there".

use sqlx::Row;

use super::Store;
use crate::error::Result;

/// One minted token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintedToken {
    /// `jti`.
    pub jti: String,
    /// The grant.
    pub grant_id: String,
    /// Who it was minted for.
    pub subject: String,
    /// The signing key's id.
    pub key_id: String,
    /// `iat`.
    pub issued_at: i64,
    /// `exp`.
    pub expires_at: i64,
}

/// Records a minted token.
pub async fn record(store: &Store, token: &MintedToken) -> Result<()> {
    sqlx::query(
        "INSERT INTO minted_tokens (jti, grant_id, subject, key_id, issued_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&token.jti)
    .bind(&token.grant_id)
    .bind(&token.subject)
    .bind(&token.key_id)
    .bind(token.issued_at)
    .bind(token.expires_at)
    .execute(store.pool())
    .await?;
    Ok(())
}

/// How many tokens were minted for `grant_id`.
pub async fn count_for_grant(store: &Store, grant_id: &str) -> Result<i64> {
    Ok(
        sqlx::query("SELECT COUNT(*) AS n FROM minted_tokens WHERE grant_id = $1")
            .bind(grant_id)
            .fetch_one(store.pool())
            .await?
            .try_get("n")?,
    )
}
