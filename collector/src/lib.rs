//! The jitgate audit collector: receives audit records from the gates and the issuer over
//! OTLP/HTTP (`POST /v1/logs`, JSON or protobuf), each sender bound to its own streams and
//! record kind, keeps them in an append-only log (SQLite or PostgreSQL) under an RFC 6962
//! Merkle tree with Ed25519-signed checkpoints, reports gaps in every sender's stream, and
//! serves reviewers queries and exports that `verify` checks offline with nothing but the
//! collector's public key.
//!
//! [`app`] is the HTTP surface, separate from [`serve::serve`] (sockets, timers, shutdown) so
//! tests drive it either way. See `docs/audit.md` for formats and guarantees.

pub mod audit_log;
pub mod auth;
pub mod bench;
pub mod canonical;
pub mod checkpoint;
pub mod error;
pub mod export;
pub mod filter;
pub mod guard;
pub mod ingest;
pub mod merkle;
pub mod metrics;
pub mod note;
mod routes;
pub mod senders;
pub mod serve;
pub mod signing_key;
pub mod store;
pub mod streams;
pub mod tail;
pub mod verify;

use std::sync::Arc;

pub use audit_log::{AuditLog, CheckpointPolicy};
pub use auth::Credentials;
pub use error::{Error, Result};
pub use export::ExportFormat;
pub use routes::app;
pub use senders::{Binding, RecordKind, Sender, Senders};
pub use verify::{verify, GapPolicy, VerifyError, VerifyOptions, VerifyReport};

/// Default request body limit for `POST /v1/logs`: above the filter's largest batch
/// (`audit.batch_max_bytes` ≤ 8 MiB) plus its envelope, so no valid filter configuration can
/// produce a batch the collector refuses as too large (and the filter then drops).
pub const DEFAULT_MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// How the HTTP surface behaves.
#[derive(Debug, Clone)]
pub struct CollectorConfig {
    /// Who may send records (`POST /v1/logs`), and what each may write.
    pub senders: Senders,
    /// Who may query and export.
    pub reviewers: Credentials,
    /// Largest request body accepted (413 above).
    pub max_body_bytes: usize,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        CollectorConfig {
            senders: Senders::default(),
            reviewers: Credentials::default(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// The state every route shares: the log, the configuration and, when it runs, the guard.
#[derive(Debug, Clone)]
pub struct Collector {
    log: Arc<AuditLog>,
    config: Arc<CollectorConfig>,
    guard: Option<Arc<guard::Guard>>,
}

impl Collector {
    /// A collector over an opened log.
    pub fn new(log: AuditLog, config: CollectorConfig) -> Collector {
        Collector {
            log: Arc::new(log),
            config: Arc::new(config),
            guard: None,
        }
    }

    /// The same collector with `guard` running beside it (for the admin route).
    pub fn with_guard(mut self, guard: Arc<guard::Guard>) -> Collector {
        self.guard = Some(guard);
        self
    }

    /// The guard, when it runs.
    pub fn guard(&self) -> Option<&Arc<guard::Guard>> {
        self.guard.as_ref()
    }

    /// The log.
    pub fn log(&self) -> &Arc<AuditLog> {
        &self.log
    }

    /// The configuration.
    pub fn config(&self) -> &CollectorConfig {
        &self.config
    }

    /// Signs a checkpoint every `policy.every` while records arrive; runs until aborted.
    pub fn spawn_checkpoint_timer(&self) -> tokio::task::JoinHandle<()> {
        let log = Arc::clone(&self.log);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(log.policy().every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if let Err(error) = log.checkpoint_now().await {
                    tracing::error!(%error, "timed checkpoint failed");
                }
            }
        })
    }
}
