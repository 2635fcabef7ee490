//! Verifying ID tokens from the organisation's OpenID Connect provider.
//!
//! The provider's keys come from a JWKS file or URL ([`jwks`]: a URL is refreshed on a
//! schedule and fetched early, at most once per interval, when a token names an unknown
//! `kid`). Only asymmetric algorithms are accepted — `none` and HMAC never, because an HMAC
//! "key" in a public JWKS would let anyone mint identities — and the header's `alg` must
//! match the key's own `alg` when the JWK states one. Issuer, audience and expiry are always
//! checked.

pub mod code_flow;
pub mod jwks;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::error::{Error, Result};
use jwks::IdpKeys;
pub use jwks::JwksRefresh;

/// Algorithms an ID token may be signed with.
const ALLOWED: [Algorithm; 8] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::EdDSA,
];

/// Where the IdP's keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    /// A local JWKS file (read once at start).
    File(PathBuf),
    /// The IdP's `jwks_uri`.
    Url(String),
}

impl JwksSource {
    /// `http(s)://…` is a URL, anything else a path.
    pub fn parse(text: &str) -> JwksSource {
        if text.starts_with("https://") || text.starts_with("http://") {
            JwksSource::Url(text.to_owned())
        } else {
            JwksSource::File(PathBuf::from(text))
        }
    }
}

/// What to accept from the IdP.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    /// The exact `iss` value.
    pub issuer: String,
    /// The `aud` the token must name (the issuer's OIDC client id).
    pub audience: String,
    /// Another accepted `aud`: the CLI's client id (`jitgate login`), whose ID tokens the
    /// CLI presents as bearer tokens.
    pub cli_audience: Option<String>,
    /// Where the keys are.
    pub jwks: JwksSource,
    /// The claim holding the subject id (`sub`, or e.g. `email`).
    pub subject_claim: String,
    /// The claim holding group names (an array of strings, or one space-separated string).
    pub groups_claim: String,
    /// How a JWKS URL is kept fresh.
    pub refresh: JwksRefresh,
}

/// A verified identity from an ID token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcIdentity {
    /// The subject id.
    pub subject: String,
    /// The groups claim, or empty.
    pub groups: Vec<String>,
    /// The `nonce` claim (the code flow checks it against the one it sent).
    pub nonce: Option<String>,
    /// `exp`, Unix seconds.
    pub expires_at: Option<i64>,
}

/// Verifies ID tokens.
#[derive(Debug)]
pub struct OidcVerifier {
    settings: OidcSettings,
    keys: Arc<IdpKeys>,
}

impl OidcVerifier {
    /// Loads the keys (fails at start if they cannot be read or parsed).
    pub async fn new(settings: OidcSettings) -> Result<OidcVerifier> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|error| Error::Config(format!("HTTP client: {error}")))?;
        let keys = IdpKeys::load(settings.jwks.clone(), settings.refresh, http).await?;
        Ok(OidcVerifier { settings, keys })
    }

    /// How long the IdP's current key set is used before it is fetched again.
    pub fn key_set_ttl(&self) -> Duration {
        self.keys.ttl()
    }

    /// Verifies `token` and reads the subject and groups from it; 401 on any problem.
    pub async fn verify(&self, token: &str) -> Result<OidcIdentity> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| Error::Unauthenticated("the bearer token is not a JWT".into()))?;
        if !ALLOWED.contains(&header.alg) {
            return Err(Error::Unauthenticated(format!(
                "ID tokens signed with {:?} are not accepted",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| Error::Unauthenticated("the ID token has no kid".into()))?;
        let key = self.key(&kid, header.alg).await?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.settings.issuer]);
        match &self.settings.cli_audience {
            Some(cli) => validation.set_audience(&[&self.settings.audience, cli]),
            None => validation.set_audience(&[&self.settings.audience]),
        }
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = 30;
        let data = jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, &key, &validation)
            .map_err(|error| Error::Unauthenticated(format!("ID token rejected: {error}")))?;
        let claims = data.claims;
        let subject = claims
            .get(&self.settings.subject_claim)
            .and_then(Value::as_str)
            .filter(|subject| !subject.is_empty())
            .ok_or_else(|| {
                Error::Unauthenticated(format!(
                    "the ID token has no string claim `{}`",
                    self.settings.subject_claim
                ))
            })?
            .to_owned();
        let groups = match claims.get(&self.settings.groups_claim) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(text)) => text.split_whitespace().map(str::to_owned).collect(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    Error::Unauthenticated(format!(
                        "claim `{}` must hold strings",
                        self.settings.groups_claim
                    ))
                })?,
            Some(_) => {
                return Err(Error::Unauthenticated(format!(
                    "claim `{}` must be an array of strings",
                    self.settings.groups_claim
                )))
            }
        };
        Ok(OidcIdentity {
            subject,
            groups,
            nonce: claims
                .get("nonce")
                .and_then(Value::as_str)
                .map(str::to_owned),
            expires_at: claims.get("exp").and_then(Value::as_i64),
        })
    }

    async fn key(&self, kid: &str, alg: Algorithm) -> Result<DecodingKey> {
        let jwk = self.keys.find(kid).await.ok_or_else(|| {
            Error::Unauthenticated("the ID token's kid is not a key of the IdP".into())
        })?;
        if let Some(key_alg) = jwk.common.key_algorithm {
            if format!("{key_alg:?}") != format!("{alg:?}") {
                return Err(Error::Unauthenticated(
                    "the ID token's alg does not match its key".into(),
                ));
            }
        }
        DecodingKey::from_jwk(&jwk)
            .map_err(|_| Error::Unauthenticated("the IdP key for this token is unusable".into()))
    }
}
