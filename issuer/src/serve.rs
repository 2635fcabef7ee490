//! Running the issuer: build the state from [`ServeConfig`], listen, reload on SIGHUP, sweep
//! expiries, stop cleanly on Ctrl-C or SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::SystemClock;
use crate::config::ServeConfig;
use crate::demo;
use crate::error::{Error, Result};
use crate::events::{spawn_exporter, EventSink, ExporterSettings};
use crate::identity::api_tokens::ApiTokens;
use crate::identity::data_plane::DataPlaneCredential;
use crate::identity::oidc::code_flow::{CodeFlow, CodeFlowSettings};
use crate::identity::oidc::{JwksRefresh, JwksSource, OidcSettings, OidcVerifier};
use crate::identity::Authenticator;
use crate::keys::KeyRing;
use crate::notify::worker::DeliveryCounters;
use crate::notify::{Notifier, NotifyConfig};
use crate::policy::{PolicyEngine, PolicySource, BUILTIN_SCHEMA, EXAMPLE_POLICY};
use crate::rate_limit::RateLimiter;
use crate::requests::duration::parse_duration;
use crate::service::expiry::{expire_due, notify_ending_soon};
use crate::state::{AppState, CliLogin, Settings, Shared};
use crate::store::Store;

/// How often expiries are swept in the background.
const SWEEP_INTERVAL: Duration = Duration::from_secs(30);

/// A duration flag (`30s`, `5m`, …) as a [`Duration`].
fn seconds_flag(name: &str, text: &str) -> Result<Duration> {
    parse_duration(text)
        .map(|seconds| Duration::from_secs(seconds.unsigned_abs()))
        .map_err(|problem| Error::Config(format!("--{name}: {problem}")))
}

/// Builds the state the config describes (also used by tests of the CLI).
pub async fn build_state(config: &ServeConfig) -> Result<AppState> {
    if config.demo && !config.listen.ip().is_loopback() {
        return Err(Error::Config(
            "--demo uses public demo credentials and only listens on loopback".into(),
        ));
    }
    if let Some(both) = config
        .guard_group
        .iter()
        .find(|group| config.admin_group.contains(group))
    {
        // Every admin would become the guard and lose the admin role: surely a slip.
        return Err(Error::Config(format!(
            "group {both:?} is both an --admin-group and a --guard-group; the guard's group must be its own"
        )));
    }
    create_data_dir(&config.data_dir)?;
    let url = config
        .database_url
        .clone()
        .unwrap_or_else(|| Store::sqlite_url(&config.data_dir));
    let store = Store::connect(&url).await?;
    let policy = match (&config.policy, config.demo) {
        (Some(path), _) => PolicyEngine::from_files(PolicySource {
            policy: path.clone(),
            schema: config.policy_schema.clone(),
        })?,
        (None, true) => PolicyEngine::from_text(EXAMPLE_POLICY, BUILTIN_SCHEMA)?,
        (None, false) => {
            return Err(Error::Config(
                "--policy is required (see issuer/policy/example.cedar), or use --demo".into(),
            ))
        }
    };
    let notifier = match &config.notifications {
        Some(path) => {
            let notify =
                NotifyConfig::load(path).map_err(|error| Error::Config(error.to_string()))?;
            tracing::info!(
                channels = notify.channels.len(),
                file = %path.display(),
                "notifications configured"
            );
            Notifier::new(notify, &config.issuer_url)
        }
        None => Notifier::disabled(),
    };
    let policy = match notifier.config() {
        Some(notify) => policy.with_notify_channels(notify.channels.keys().cloned().collect())?,
        None => policy,
    };
    let mut api_tokens = match &config.api_tokens {
        Some(path) => ApiTokens::load(path)?,
        None => ApiTokens::empty(),
    };
    if config.demo {
        for (name, _, _) in demo::DEMO_IDENTITIES {
            if let Some(entry) = demo::demo_api_tokens().find(&demo::demo_token(name)) {
                api_tokens.insert(entry.clone());
            }
        }
    }
    let oidc = match (
        &config.oidc_issuer,
        &config.oidc_audience,
        &config.oidc_jwks,
    ) {
        (Some(issuer), Some(audience), Some(jwks)) => Some(
            OidcVerifier::new(OidcSettings {
                issuer: issuer.clone(),
                audience: audience.clone(),
                cli_audience: config.oidc_cli_client_id.clone(),
                jwks: JwksSource::parse(jwks),
                subject_claim: config.oidc_subject_claim.clone(),
                groups_claim: config.oidc_groups_claim.clone(),
                refresh: JwksRefresh {
                    default_ttl: seconds_flag("oidc-jwks-ttl", &config.oidc_jwks_ttl)?,
                    unknown_kid_interval: seconds_flag(
                        "oidc-jwks-unknown-kid-interval",
                        &config.oidc_jwks_unknown_kid_interval,
                    )?,
                },
            })
            .await?,
        ),
        _ => None,
    };
    let data_plane = match (
        &config.data_plane_credential_file,
        &config.data_plane_credential,
    ) {
        (Some(path), _) => {
            let secret = std::fs::read_to_string(path).map_err(|error| {
                Error::io(
                    format!("reading data-plane credential {}", path.display()),
                    error,
                )
            })?;
            Some(DataPlaneCredential::new(secret.trim())?)
        }
        (None, Some(secret)) => Some(DataPlaneCredential::new(secret)?),
        (None, None) if config.demo => {
            Some(DataPlaneCredential::new(demo::DEMO_DATA_PLANE_CREDENTIAL)?)
        }
        (None, None) => {
            tracing::warn!(
                "no data-plane credential configured: the revocation feed refuses everyone"
            );
            None
        }
    };
    let duration = |name: &str, text: &str| {
        parse_duration(text).map_err(|problem| Error::Config(format!("--{name}: {problem}")))
    };
    let settings = Settings {
        issuer_url: config.issuer_url.clone(),
        audience: config.audience.clone(),
        token_ttl: duration("token-ttl", &config.token_ttl)?,
        max_duration: duration("max-duration", &config.max_duration)?,
        pending_ttl: duration("pending-ttl", &config.pending_ttl)?,
        gateway_url: config.gateway_url.clone(),
        cli_login: match (&config.oidc_issuer, &config.oidc_cli_client_id) {
            (Some(issuer), Some(client_id)) => Some(CliLogin {
                issuer: issuer.clone(),
                client_id: client_id.clone(),
                scopes: cli_scopes(&config.oidc_scopes),
            }),
            _ => None,
        },
    };
    let keys = KeyRing::open(&config.data_dir.join("keys"))?;
    let events = match (&config.audit_endpoint, &config.audit_credential_file) {
        (Some(endpoint), Some(path)) => {
            let credential = std::fs::read_to_string(path).map_err(|error| {
                Error::io(
                    format!("reading audit credential {}", path.display()),
                    error,
                )
            })?;
            spawn_exporter(ExporterSettings {
                endpoint: endpoint.clone(),
                credential: credential.trim().to_owned(),
                authority: authority_of(&settings.issuer_url),
            })?
        }
        _ => EventSink::disabled(),
    };
    let mut auth = Authenticator::new(api_tokens, oidc, config.role_groups());
    if let Some(path) = &config.oidc_client_secret_file {
        auth = auth.with_code_flow(code_flow(config, path)?);
    }
    Ok(AppState::new(Shared {
        store,
        policy,
        auth,
        data_plane,
        keys,
        clock: Arc::new(SystemClock),
        settings,
        events,
        rate_limiter: RateLimiter::new(config.rate_limits()),
        notifier,
        notify_counters: DeliveryCounters::default(),
    }))
}

/// Web sign-in at the IdP: its issuer, this issuer's client id (the ID tokens' audience) and
/// secret, and the callback under `--issuer-url`.
fn code_flow(config: &ServeConfig, secret_file: &std::path::Path) -> Result<CodeFlow> {
    let (Some(issuer), Some(client_id)) = (&config.oidc_issuer, &config.oidc_audience) else {
        return Err(Error::Config(
            "--oidc-client-secret-file needs --oidc-issuer and --oidc-audience (the client id)"
                .into(),
        ));
    };
    if !config
        .oidc_scopes
        .split_whitespace()
        .any(|scope| scope == "openid")
    {
        return Err(Error::Config(format!(
            "--oidc-scopes {:?} must include openid",
            config.oidc_scopes
        )));
    }
    let secret = std::fs::read_to_string(secret_file).map_err(|error| {
        Error::io(
            format!("reading OIDC client secret {}", secret_file.display()),
            error,
        )
    })?;
    let secret = secret.trim();
    if secret.is_empty() {
        return Err(Error::Config(format!(
            "--oidc-client-secret-file {} is empty",
            secret_file.display()
        )));
    }
    CodeFlow::new(CodeFlowSettings {
        issuer: issuer.clone(),
        client_id: client_id.clone(),
        client_secret: secret.to_owned(),
        scopes: config.oidc_scopes.clone(),
        redirect_uri: format!("{}/login/callback", config.issuer_url.trim_end_matches('/')),
    })
}

/// The CLI's scopes: the web's, and `offline_access` so it gets a refresh token and signs in
/// once, not every hour.
fn cli_scopes(web: &str) -> String {
    if web
        .split_whitespace()
        .any(|scope| scope == "offline_access")
    {
        web.to_owned()
    } else {
        format!("{web} offline_access")
    }
}

/// Serves until Ctrl-C or SIGTERM.
pub async fn run(config: ServeConfig) -> Result<()> {
    let state = build_state(&config).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|error| Error::io(format!("listening on {}", config.listen), error))?;
    serve_on(listener, state, config.demo).await
}

/// Serves `state` on an already bound listener (tests and in-process stacks bind port 0),
/// with the expiry sweep and SIGHUP reload, until Ctrl-C or SIGTERM.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    state: AppState,
    demo: bool,
) -> Result<()> {
    let local = listener
        .local_addr()
        .map_err(|error| Error::io("reading the listening address", error))?;
    tracing::info!(
        listen = %local,
        issuer = %state.settings.issuer_url,
        kid = %state.keys.pair().current.key_id(),
        policies = state.policy.current().summary().policies,
        demo,
        "jitgate issuer ready"
    );
    crate::notify::worker::spawn(state.clone())?;
    spawn_background(state.clone());
    axum::serve(listener, crate::app(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|error| Error::io("serving", error))
}

fn spawn_background(state: AppState) {
    let sweeper = state.clone();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(SWEEP_INTERVAL);
        loop {
            ticks.tick().await;
            if let Err(error) = expire_due(&sweeper).await {
                tracing::warn!(%error, "expiry sweep failed");
            }
            if let Err(error) = notify_ending_soon(&sweeper).await {
                tracing::warn!(%error, "expiring-soon sweep failed");
            }
        }
    });
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; reload with POST /v1/admin/policy/reload");
            return;
        };
        while hangups.recv().await.is_some() {
            match state.policy.reload() {
                Ok(summary) => {
                    tracing::info!(policies = summary.policies, sha256 = %summary.sha256, "SIGHUP: policy reloaded")
                }
                Err(error) => {
                    tracing::error!(%error, "SIGHUP: policy reload refused; the old policy stays")
                }
            }
            match state.keys.reload() {
                Ok(kid) => tracing::info!(%kid, "SIGHUP: keys reloaded"),
                Err(error) => {
                    tracing::error!(%error, "SIGHUP: key reload failed; the old keys stay")
                }
            }
        }
    });
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}

/// The data dir holds the database and the keys: readable by the issuer's user only.
fn create_data_dir(dir: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|error| Error::io(format!("creating data dir {}", dir.display()), error))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|error| Error::io(format!("securing data dir {}", dir.display()), error))?;
    }
    Ok(())
}

/// `issuer.example.com:8443` from `https://issuer.example.com:8443/…`.
fn authority_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest).to_owned()
}
