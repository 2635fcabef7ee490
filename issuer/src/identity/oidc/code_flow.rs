//! The OpenID Connect authorization code flow with PKCE, for web sign-in: the provider's
//! endpoints from its discovery document, the authorization URL (with `state`, `nonce` and an
//! S256 `code_challenge`), and the code exchange at the token endpoint with the client
//! secret. The ID token it returns is verified by the same [`super::OidcVerifier`] as a
//! bearer ID token (signature, `iss`, `aud`, `exp`); the caller checks the `nonce`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use crate::error::{Error, Result};

/// How this issuer is registered at the provider.
#[derive(Clone)]
pub struct CodeFlowSettings {
    /// The provider's `iss` (its discovery document is under it).
    pub issuer: String,
    /// This issuer's client id (also the ID tokens' `aud`).
    pub client_id: String,
    /// This issuer's client secret.
    pub client_secret: String,
    /// The scopes to ask for, space-separated (`openid` first).
    pub scopes: String,
    /// Where the provider sends the browser back: `<issuer URL>/login/callback`.
    pub redirect_uri: String,
}

impl std::fmt::Debug for CodeFlowSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CodeFlowSettings({}, client {}, {})",
            self.issuer, self.client_id, self.redirect_uri
        )
    }
}

/// The parts of the discovery document the flow uses.
#[derive(Debug, Clone, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
}

/// The code flow against one provider; the discovery document is fetched on first use and
/// kept (a provider down at the issuer's start does not stop the issuer).
#[derive(Debug)]
pub struct CodeFlow {
    settings: CodeFlowSettings,
    http: reqwest::Client,
    discovery: OnceCell<Discovery>,
}

/// What the browser must carry to the provider and back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The URL to send the browser to.
    pub url: String,
}

#[derive(Deserialize)]
struct TokenAnswer {
    id_token: Option<String>,
}

#[derive(Deserialize)]
struct TokenRefusal {
    error: String,
    error_description: Option<String>,
}

impl CodeFlow {
    /// The flow for `settings`.
    pub fn new(settings: CodeFlowSettings) -> Result<CodeFlow> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| Error::Config(format!("HTTP client: {error}")))?;
        Ok(CodeFlow {
            settings,
            http,
            discovery: OnceCell::new(),
        })
    }

    /// The provider's issuer URL.
    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    async fn discovery(&self) -> Result<&Discovery> {
        self.discovery
            .get_or_try_init(|| async {
                let url = format!(
                    "{}/.well-known/openid-configuration",
                    self.settings.issuer.trim_end_matches('/')
                );
                let failed = |problem: String| {
                    Error::IdentityProvider(format!("discovery at {url}: {problem}"))
                };
                let response = self
                    .http
                    .get(&url)
                    .send()
                    .await
                    .map_err(|error| failed(error.without_url().to_string()))?;
                if !response.status().is_success() {
                    return Err(failed(format!("answered {}", response.status())));
                }
                let discovery: Discovery = response
                    .json()
                    .await
                    .map_err(|error| failed(format!("not a discovery document: {error}")))?;
                // OpenID Connect Discovery 1.0, section 4.3: the document's issuer must be
                // the one we asked, or it is someone else's provider.
                if discovery.issuer != self.settings.issuer {
                    return Err(failed(format!(
                        "names issuer {:?}, not {:?}",
                        discovery.issuer, self.settings.issuer
                    )));
                }
                Ok(discovery)
            })
            .await
    }

    /// The authorization URL for a sign-in with this `state`, `nonce` and PKCE verifier.
    pub async fn authorization(
        &self,
        state: &str,
        nonce: &str,
        code_verifier: &str,
    ) -> Result<Authorization> {
        let discovery = self.discovery().await?;
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(code_verifier.as_bytes()));
        let query = serde_urlencoded::to_string([
            ("response_type", "code"),
            ("client_id", self.settings.client_id.as_str()),
            ("redirect_uri", self.settings.redirect_uri.as_str()),
            ("scope", self.settings.scopes.as_str()),
            ("state", state),
            ("nonce", nonce),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .map_err(|error| Error::Internal(format!("authorization query: {error}")))?;
        let separator = if discovery.authorization_endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        Ok(Authorization {
            url: format!("{}{separator}{query}", discovery.authorization_endpoint),
        })
    }

    /// Exchanges an authorization code for the ID token (not yet verified).
    pub async fn exchange(&self, code: &str, code_verifier: &str) -> Result<String> {
        let discovery = self.discovery().await?;
        // RFC 6749, 2.3.1: id and secret are form-encoded before they go into Basic.
        let encode = |text: &str| {
            serde_urlencoded::to_string([("", text)])
                .map(|pair| pair.trim_start_matches('=').to_owned())
                .unwrap_or_default()
        };
        let response = self
            .http
            .post(&discovery.token_endpoint)
            .basic_auth(
                encode(&self.settings.client_id),
                Some(encode(&self.settings.client_secret)),
            )
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", self.settings.redirect_uri.as_str()),
                ("code_verifier", code_verifier),
            ])
            .send()
            .await
            .map_err(|error| {
                Error::IdentityProvider(format!("token endpoint: {}", error.without_url()))
            })?;
        let status = response.status();
        let body = response.bytes().await.map_err(|error| {
            Error::IdentityProvider(format!("token endpoint: {}", error.without_url()))
        })?;
        if !status.is_success() {
            // The provider refusing the code (used twice, expired, not ours) is the
            // sign-in failing, not the provider: a 401 naming the provider's reason.
            return match serde_json::from_slice::<TokenRefusal>(&body) {
                Ok(refusal) => Err(Error::Unauthenticated(format!(
                    "the identity provider refused the sign-in: {}{}",
                    refusal.error,
                    refusal
                        .error_description
                        .map(|text| format!(" ({text})"))
                        .unwrap_or_default()
                ))),
                Err(_) => Err(Error::IdentityProvider(format!(
                    "token endpoint answered {status}"
                ))),
            };
        }
        let answer: TokenAnswer = serde_json::from_slice(&body)
            .map_err(|error| Error::IdentityProvider(format!("token endpoint answer: {error}")))?;
        answer.id_token.ok_or_else(|| {
            Error::IdentityProvider(
                "the token endpoint returned no id_token (is `openid` among the scopes?)".into(),
            )
        })
    }
}
