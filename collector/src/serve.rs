//! Running the collector: open the data directory (signing key, SQLite file) or a PostgreSQL
//! URL, serve [`app`](crate::app) on a listener, sign checkpoints on a timer, run the guard
//! when configured (its rules checked before anything is served; reloaded on SIGHUP), and on
//! shutdown finish in-flight requests and sign a last checkpoint.

use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::audit_log::{AuditLog, CheckpointPolicy};
use crate::error::{Error, Result};
use crate::guard::{Guard, GuardSettings};
use crate::metrics::Metrics;
use crate::signing_key;
use crate::store::{Location, Store};
use crate::{app, Collector, CollectorConfig};

/// SQLite file name in the data directory.
pub const SQLITE_FILE: &str = "audit.db";

/// Where and how to run.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Holds the signing key and, without a database URL, the SQLite file.
    pub data_dir: PathBuf,
    /// `postgres://…` or `sqlite:…`; default `sqlite:<data dir>/audit.db`.
    pub database_url: Option<String>,
    /// The log's origin, for a new signing key (an existing key keeps its own).
    pub origin: Option<String>,
    /// When to sign checkpoints.
    pub checkpoints: CheckpointPolicy,
    /// The HTTP surface.
    pub collector: CollectorConfig,
    /// The guard, when `--guard-rules` is given.
    pub guard: Option<GuardSettings>,
}

/// Opens the data directory, the signing key, the store and the log.
pub async fn open(config: &ServeConfig) -> Result<Collector> {
    if config.collector.senders.is_empty() {
        return Err(Error::Config(format!(
            "no senders: give each gateway deployment and the issuer its own credential with \
             --sender {}",
            crate::senders::SPEC_FORM
        )));
    }
    if !config.data_dir.exists() {
        std::fs::create_dir_all(&config.data_dir).map_err(Error::io(&config.data_dir))?;
        // It will hold the signing key: owner only. An existing directory is the operator's
        // to set up; the key file itself is always 0600.
        std::fs::set_permissions(&config.data_dir, std::fs::Permissions::from_mode(0o700))
            .map_err(Error::io(&config.data_dir))?;
    }
    let signer = signing_key::load_or_create(&config.data_dir, config.origin.as_deref())?;
    let location = match &config.database_url {
        Some(url) => Location::parse(url)?,
        None => Location::Sqlite(config.data_dir.join(SQLITE_FILE)),
    };
    let store = Store::open(&location).await?;
    let log = AuditLog::open(
        store,
        signer,
        config.checkpoints,
        Arc::new(Metrics::default()),
    )
    .await?;
    let collector = Collector::new(log, config.collector.clone());
    match &config.guard {
        None => Ok(collector),
        Some(settings) => {
            let guard = Guard::open(settings.clone(), &collector).await?;
            Ok(collector.with_guard(Arc::new(guard)))
        }
    }
}

/// Serves until `shutdown` resolves, then signs a last checkpoint and closes the store.
pub async fn run(
    collector: Collector,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let timer = collector.spawn_checkpoint_timer();
    let guard = collector.guard().map(|guard| {
        tracing::info!(rules = guard.rules().rules.len(), file = %guard.settings().rules_path.display(), stream = guard.stream_id(), "guard running");
        (
            guard.spawn(&collector),
            tokio::spawn(crate::guard::reload::on_sighup(Arc::clone(guard))),
        )
    });
    let address = listener.local_addr().map_err(Error::io("listener"))?;
    tracing::info!(%address, backend = collector.log().store().backend(), origin = %collector.log().verifier().name(), "collector serving");
    for binding in collector.config().senders.bindings() {
        tracing::info!(sender = %binding, "accepting records from a sender");
    }
    let served = axum::serve(listener, app(collector.clone()))
        .with_graceful_shutdown(shutdown)
        .await;
    timer.abort();
    if let Some((tasks, sighup)) = guard {
        drop(tasks);
        sighup.abort();
    }
    let last = collector.log().checkpoint_now().await;
    collector.log().store().close().await;
    served.map_err(Error::io("serving"))?;
    last.map(|checkpoint| {
        tracing::info!(size = checkpoint.size, "signed the last checkpoint");
    })
}
