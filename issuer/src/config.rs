//! `jitgate issuer serve` configuration: flags, each with an environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use crate::identity::RoleGroups;
use crate::rate_limit::{RateLimit, RateLimits};

/// How to run the issuer.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(long, env = "JITGATE_ISSUER_LISTEN", default_value = "127.0.0.1:8380")]
    pub listen: SocketAddr,
    /// Directory for the SQLite database and the signing keys (created 0700).
    #[arg(long, env = "JITGATE_DATA_DIR", default_value = "jitgate-data")]
    pub data_dir: PathBuf,
    /// PostgreSQL URL (postgres://…); the SQLite file in the data dir when unset.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// The Cedar approval policy file (required unless --demo).
    #[arg(long, env = "JITGATE_POLICY")]
    pub policy: Option<PathBuf>,
    /// The Cedar schema file; the built-in schema when unset.
    #[arg(long, env = "JITGATE_POLICY_SCHEMA")]
    pub policy_schema: Option<PathBuf>,
    /// API-token file (JSON with SHA-256 digests; see `jitgate issuer new-api-token`).
    #[arg(long, env = "JITGATE_API_TOKENS")]
    pub api_tokens: Option<PathBuf>,
    /// OIDC: the identity provider's issuer (`iss`); enables ID-token login.
    #[arg(long, env = "JITGATE_OIDC_ISSUER", requires_all = ["oidc_audience", "oidc_jwks"])]
    pub oidc_issuer: Option<String>,
    /// OIDC: the audience ID tokens must name (the issuer's client id at the IdP).
    #[arg(long, env = "JITGATE_OIDC_AUDIENCE")]
    pub oidc_audience: Option<String>,
    /// OIDC: the IdP's JWKS, a file path or an https:// URL.
    #[arg(long, env = "JITGATE_OIDC_JWKS")]
    pub oidc_jwks: Option<String>,
    /// OIDC: the claim naming the subject.
    #[arg(long, env = "JITGATE_OIDC_SUBJECT_CLAIM", default_value = "sub")]
    pub oidc_subject_claim: String,
    /// OIDC: the claim listing the subject's groups.
    #[arg(long, env = "JITGATE_OIDC_GROUPS_CLAIM", default_value = "groups")]
    pub oidc_groups_claim: String,
    /// OIDC: how long the IdP's JWKS (from a URL) is used when the IdP's `Cache-Control`
    /// gives no `max-age`; a key the IdP withdraws is trusted at most this long.
    #[arg(long, env = "JITGATE_OIDC_JWKS_TTL", default_value = "5m")]
    pub oidc_jwks_ttl: String,
    /// OIDC: tokens naming a `kid` the IdP's JWKS lacks fetch it again at most once per this
    /// interval; within it they are refused at once.
    #[arg(
        long,
        env = "JITGATE_OIDC_JWKS_UNKNOWN_KID_INTERVAL",
        default_value = "30s"
    )]
    pub oidc_jwks_unknown_kid_interval: String,
    /// OIDC web sign-in: a file holding this issuer's client secret at the IdP. Enables
    /// "Sign in with your identity provider" (authorization code flow with PKCE); the client
    /// id is --oidc-audience and the redirect URI `<--issuer-url>/login/callback`.
    #[arg(
        long,
        env = "JITGATE_OIDC_CLIENT_SECRET_FILE",
        requires = "oidc_issuer"
    )]
    pub oidc_client_secret_file: Option<PathBuf>,
    /// OIDC: the client id of the `jitgate` CLI at the IdP (a public, native client with a
    /// loopback redirect): enables `jitgate login`, and its ID tokens are accepted too.
    #[arg(long, env = "JITGATE_OIDC_CLI_CLIENT_ID", requires = "oidc_issuer")]
    pub oidc_cli_client_id: Option<String>,
    /// OIDC web sign-in: the scopes to ask for (space-separated; `openid` is required).
    #[arg(
        long,
        env = "JITGATE_OIDC_SCOPES",
        default_value = "openid email profile"
    )]
    pub oidc_scopes: String,
    /// Groups whose members are issuer admins (repeat or comma-separate).
    #[arg(
        long,
        env = "JITGATE_ADMIN_GROUPS",
        value_delimiter = ',',
        default_value = "jitgate-admins"
    )]
    pub admin_group: Vec<String>,
    /// Groups whose members act as the guard (repeat or comma-separate): they may only
    /// revoke grants (not rate-limited), post alerts and report usage. A member is never an
    /// admin.
    #[arg(
        long,
        env = "JITGATE_GUARD_GROUPS",
        value_delimiter = ',',
        default_value = "jitgate-guards"
    )]
    pub guard_group: Vec<String>,
    /// File holding the data-plane credential the revocation feed requires.
    #[arg(long, env = "JITGATE_DATA_PLANE_CREDENTIAL_FILE")]
    pub data_plane_credential_file: Option<PathBuf>,
    /// The data-plane credential itself (prefer the file: environments leak).
    #[arg(long, env = "JITGATE_DATA_PLANE_CREDENTIAL", hide_env_values = true)]
    pub data_plane_credential: Option<String>,
    /// The `iss` of grant tokens: this issuer's public URL.
    #[arg(
        long,
        env = "JITGATE_ISSUER_URL",
        default_value = "http://127.0.0.1:8380"
    )]
    pub issuer_url: String,
    /// The gateway's base URL for OpenAI-style clients (e.g. `https://gateway.example.com/v1`),
    /// shown next to a token on the web page as `OPENAI_BASE_URL`.
    #[arg(long, env = "JITGATE_GATEWAY_URL")]
    pub gateway_url: Option<String>,
    /// The `aud` of grant tokens: the gateway's audience.
    #[arg(long, env = "JITGATE_AUDIENCE", default_value = "jitgate-gateway")]
    pub audience: String,
    /// Longest life of one token (re-mint while the grant is active).
    #[arg(long, env = "JITGATE_TOKEN_TTL", default_value = "15m")]
    pub token_ttl: String,
    /// Longest access window anyone may ask for, whatever the policy says.
    #[arg(long, env = "JITGATE_MAX_DURATION", default_value = "7d")]
    pub max_duration: String,
    /// How long a request waits for reviewers before it expires.
    #[arg(long, env = "JITGATE_PENDING_TTL", default_value = "24h")]
    pub pending_ttl: String,
    /// The collector's URL: issuer audit events are sent to `<URL>/v1/logs` (OTLP/HTTP).
    #[arg(
        long,
        env = "JITGATE_AUDIT_ENDPOINT",
        requires = "audit_credential_file"
    )]
    pub audit_endpoint: Option<String>,
    /// File holding the collector's sender credential.
    #[arg(long, env = "JITGATE_AUDIT_CREDENTIAL_FILE")]
    pub audit_credential_file: Option<std::path::PathBuf>,
    /// Notifications file (TOML: channels, routing, delivery; see docs/issuer.md). Without
    /// it nobody is notified.
    #[arg(long, env = "JITGATE_NOTIFICATIONS")]
    pub notifications: Option<PathBuf>,
    /// Requests one identity may create back to back (0: no limit). Per replica.
    #[arg(long, env = "JITGATE_REQUEST_BURST", default_value_t = RateLimits::default().create_request.burst)]
    pub request_burst: u32,
    /// Requests one identity regains per hour once the burst is spent.
    #[arg(long, env = "JITGATE_REQUESTS_PER_HOUR", default_value_t = RateLimits::default().create_request.per_hour)]
    pub requests_per_hour: u32,
    /// Tokens one identity may mint back to back (0: no limit). Per replica.
    #[arg(long, env = "JITGATE_TOKEN_BURST", default_value_t = RateLimits::default().mint_token.burst)]
    pub token_burst: u32,
    /// Tokens one identity regains per hour once the burst is spent.
    #[arg(long, env = "JITGATE_TOKENS_PER_HOUR", default_value_t = RateLimits::default().mint_token.per_hour)]
    pub tokens_per_hour: u32,
    /// Grants one identity may revoke back to back (0: no limit; admins are never limited).
    /// Per replica.
    #[arg(long, env = "JITGATE_REVOKE_BURST", default_value_t = RateLimits::default().revoke.burst)]
    pub revoke_burst: u32,
    /// Revocations an identity regains per hour once the burst is spent.
    #[arg(long, env = "JITGATE_REVOCATIONS_PER_HOUR", default_value_t = RateLimits::default().revoke.per_hour)]
    pub revocations_per_hour: u32,
    /// Local demo: the example policy, demo identities (jgt_demo_<name>) and a demo
    /// data-plane credential. Refused on anything but a loopback address.
    #[arg(long)]
    pub demo: bool,
}

impl ServeConfig {
    /// A local demo issuer (example policy, demo identities, demo feed credential) on
    /// `listen` with its data in `data_dir` — what `jitgate issuer serve --demo` runs, for
    /// tests and local stacks that start the issuer in-process. Set the public fields to
    /// change anything (e.g. `issuer_url`, `data_plane_credential`).
    pub fn local_demo(data_dir: PathBuf, listen: SocketAddr) -> ServeConfig {
        ServeConfig {
            listen,
            data_dir,
            database_url: None,
            policy: None,
            policy_schema: None,
            api_tokens: None,
            oidc_issuer: None,
            oidc_audience: None,
            oidc_jwks: None,
            oidc_subject_claim: "sub".into(),
            oidc_groups_claim: "groups".into(),
            oidc_jwks_ttl: "5m".into(),
            oidc_jwks_unknown_kid_interval: "30s".into(),
            oidc_client_secret_file: None,
            oidc_cli_client_id: None,
            gateway_url: None,
            oidc_scopes: "openid email profile".into(),
            admin_group: vec!["jitgate-admins".into()],
            guard_group: vec!["jitgate-guards".into()],
            data_plane_credential_file: None,
            data_plane_credential: None,
            issuer_url: format!("http://{listen}"),
            audience: "jitgate-gateway".into(),
            token_ttl: "15m".into(),
            max_duration: "7d".into(),
            pending_ttl: "24h".into(),
            audit_endpoint: None,
            audit_credential_file: None,
            notifications: None,
            request_burst: RateLimits::default().create_request.burst,
            requests_per_hour: RateLimits::default().create_request.per_hour,
            token_burst: RateLimits::default().mint_token.burst,
            tokens_per_hour: RateLimits::default().mint_token.per_hour,
            revoke_burst: RateLimits::default().revoke.burst,
            revocations_per_hour: RateLimits::default().revoke.per_hour,
            demo: true,
        }
    }

    /// The groups that make admins and the guard.
    pub fn role_groups(&self) -> RoleGroups {
        RoleGroups {
            admin: self.admin_group.clone(),
            guard: self.guard_group.clone(),
        }
    }

    /// The rate limits these flags set.
    pub fn rate_limits(&self) -> RateLimits {
        RateLimits {
            create_request: RateLimit {
                burst: self.request_burst,
                per_hour: self.requests_per_hour,
            },
            mint_token: RateLimit {
                burst: self.token_burst,
                per_hour: self.tokens_per_hour,
            },
            revoke: RateLimit {
                burst: self.revoke_burst,
                per_hour: self.revocations_per_hour,
            },
        }
    }
}
