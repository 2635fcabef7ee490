//! What every handler shares: storage, policy, identity, keys, clock and settings.

use std::sync::Arc;

use crate::clock::Clock;
use crate::events::EventSink;
use crate::identity::data_plane::DataPlaneCredential;
use crate::identity::Authenticator;
use crate::keys::KeyRing;
use crate::notify::worker::DeliveryCounters;
use crate::notify::Notifier;
use crate::policy::PolicyEngine;
use crate::rate_limit::RateLimiter;
use crate::store::Store;

/// Issuer-wide settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The `iss` of every token (the issuer's public URL).
    pub issuer_url: String,
    /// The `aud` of every token (the gateway's audience).
    pub audience: String,
    /// Longest life of one token, seconds (the window may be longer: re-mint).
    pub token_ttl: i64,
    /// Longest window anyone may ask for, seconds, whatever the policy says.
    pub max_duration: i64,
    /// How long a request may wait for reviewers, seconds.
    pub pending_ttl: i64,
    /// The gateway's base URL for OpenAI-style clients, shown with a token on the web page.
    pub gateway_url: Option<String>,
    /// What `jitgate login` needs to sign in at the IdP, when it is configured.
    pub cli_login: Option<CliLogin>,
}

/// The IdP and the CLI's client there (`GET /v1/login/cli`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CliLogin {
    /// The IdP's issuer URL (its discovery document is under it).
    pub issuer: String,
    /// The CLI's client id (public, loopback redirect, PKCE).
    pub client_id: String,
    /// The scopes to ask for (`offline_access` for a refresh token).
    pub scopes: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            issuer_url: "http://127.0.0.1:8380".into(),
            audience: "jitgate-gateway".into(),
            token_ttl: 15 * 60,
            max_duration: 7 * 24 * 3600,
            pending_ttl: 24 * 3600,
            gateway_url: None,
            cli_login: None,
        }
    }
}

/// The shared state (cheap to clone).
#[derive(Debug, Clone)]
pub struct AppState(pub Arc<Shared>);

/// The parts of [`AppState`].
#[derive(Debug)]
pub struct Shared {
    /// The database.
    pub store: Store,
    /// The approval policy.
    pub policy: PolicyEngine,
    /// Turns bearer credentials into subjects.
    pub auth: Authenticator,
    /// The credential the revocation feed requires; the feed answers 401 to everyone when
    /// none is configured.
    pub data_plane: Option<DataPlaneCredential>,
    /// Signing keys.
    pub keys: KeyRing,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// Settings.
    pub settings: Settings,
    /// Issuer audit events for the collector.
    pub events: EventSink,
    /// Per-identity limits on request creation, token minting and revocation (this replica's
    /// buckets).
    pub rate_limiter: RateLimiter,
    /// Notifications: routing, and the bell of this replica's delivery worker.
    pub notifier: Notifier,
    /// This replica's delivery counters.
    pub notify_counters: DeliveryCounters,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// Bundles the parts.
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }

    /// Seconds since the epoch, from the configured clock.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }
}
