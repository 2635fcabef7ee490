//! The guard: fleet-wide monitoring of grants while they are used, inside the collector.
//!
//! Its totals are derived from the log the collector keeps (never the raw batches): every
//! stored gateway record adds to per-grant totals in one database transaction with the move
//! of the guard's cursor over the log ([`store`]) — the ingest transaction that stores the
//! record itself when the guard's tables are in the log's database, else the follower's
//! ([`follow`]), which also catches up after a start. So a restart loses no count, a
//! replayed batch (stored once by the log) counts once, and anyone can recompute the totals
//! from an export ([`replay`]).
//! The operator's rules ([`rules`]) are evaluated on each batch ([`evaluate`]); a rule that
//! crosses its limit makes a firing, recorded once with its outbox steps in the same
//! transaction, then delivered ([`outbox`]): a guard record appended to the log
//! ([`record`]), an alert posted to the issuer and/or the grant revoked ([`issuer`]), with
//! retries. Usage snapshots go to the issuer at most once a second per grant ([`usage`]).
//! Rules are reloaded on SIGHUP and `POST /v1/admin/guard/reload` ([`reload`]).
//!
//! The totals live in the log's database, or in one shared by several collectors
//! (`--guard-database-url`, PostgreSQL): each collector then applies its own log with its own
//! cursor, and all add to the same counters.
//!
//! The guard never blocks ingest: a guard that is behind, or an issuer that is down, delays
//! firings and alerts; it does not refuse records. `docs/guard.md` has the bounds.

pub mod evaluate;
pub mod follow;
pub mod issuer;
pub mod metrics;
pub mod observe;
pub mod outbox;
pub mod record;
pub mod reload;
pub mod replay;
pub mod rules;
pub mod store;
pub mod usage;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use self::issuer::IssuerClient;
use self::record::GUARD_STREAM_PREFIX;
use self::rules::Rules;
use self::store::GuardStore;
use crate::error::{Error, Result};
use crate::store::{Location, Store};
use crate::Collector;

/// How the guard runs.
#[derive(Debug, Clone)]
pub struct GuardSettings {
    /// The rules file.
    pub rules_path: PathBuf,
    /// The issuer's base URL.
    pub issuer_url: String,
    /// The file holding the guard's API token at the issuer.
    pub token_file: PathBuf,
    /// A database for the totals shared by several collectors; `None`: the log's own.
    pub database_url: Option<String>,
    /// The first retry's delay; each next one doubles, up to `retry_max`.
    pub retry_first: Duration,
    /// The longest delay between retries.
    pub retry_max: Duration,
    /// How often usage snapshots go out (at most once per grant per period).
    pub usage_every: Duration,
    /// Timeout of each call to the issuer.
    pub issuer_timeout: Duration,
}

impl GuardSettings {
    /// Settings with the default timings.
    pub fn new(rules_path: PathBuf, issuer_url: String, token_file: PathBuf) -> GuardSettings {
        GuardSettings {
            rules_path,
            issuer_url,
            token_file,
            database_url: None,
            retry_first: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            usage_every: Duration::from_secs(1),
            issuer_timeout: Duration::from_secs(10),
        }
    }
}

/// The running guard's state, shared by its tasks and the admin route.
pub struct Guard {
    settings: GuardSettings,
    rules: RwLock<Arc<Rules>>,
    store: GuardStore,
    log_id: String,
    stream_id: String,
    issuer: IssuerClient,
    wake_outbox: Notify,
    dirty: Mutex<DirtyGrants>,
    metrics: metrics::GuardMetrics,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("rules", &self.settings.rules_path)
            .field("stream", &self.stream_id)
            .finish_non_exhaustive()
    }
}

impl Guard {
    /// Checks the rules file, reads the token, opens the totals' database and names this
    /// log's guard stream. Refuses a sender allowed to write that stream.
    pub async fn open(settings: GuardSettings, collector: &Collector) -> Result<Guard> {
        let rules = Rules::load(&settings.rules_path)?;
        let token = issuer::read_token(&settings.token_file)?;
        let issuer = IssuerClient::new(&settings.issuer_url, token, settings.issuer_timeout)?;
        let store = match &settings.database_url {
            None => collector.log().store().clone(),
            Some(url) => Store::open(&Location::parse(url)?).await?,
        };
        let log_id = collector.log().verifier().to_string();
        let stream_id = stream_id_for(&log_id);
        for binding in collector.config().senders.bindings() {
            let prefix = binding.stream_prefix.as_str();
            if stream_id.starts_with(prefix) || prefix.starts_with(GUARD_STREAM_PREFIX) {
                return Err(Error::Config(format!(
                    "the sender of {binding} could write the guard's stream {stream_id}: \
                     no sender's prefix may start with {GUARD_STREAM_PREFIX:?} or be the start of it"
                )));
            }
        }
        Ok(Guard {
            settings,
            rules: RwLock::new(Arc::new(rules)),
            store: GuardStore::new(store),
            log_id,
            stream_id,
            issuer,
            wake_outbox: Notify::new(),
            dirty: Mutex::new(DirtyGrants::default()),
            metrics: metrics::GuardMetrics::default(),
        })
    }

    /// The rules in force.
    pub fn rules(&self) -> Arc<Rules> {
        match self.rules.read() {
            Ok(rules) => Arc::clone(&rules),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// The totals' database.
    pub fn store(&self) -> &GuardStore {
        &self.store
    }

    /// The log this guard applies (its checkpoint key).
    pub fn log_id(&self) -> &str {
        &self.log_id
    }

    /// This log's guard stream.
    pub fn stream_id(&self) -> &str {
        &self.stream_id
    }

    /// The counters.
    pub fn metrics(&self) -> &metrics::GuardMetrics {
        &self.metrics
    }

    /// The settings.
    pub fn settings(&self) -> &GuardSettings {
        &self.settings
    }

    /// Starts following the log, delivering the outbox and reporting usage. The tasks stop
    /// when the returned handles are dropped.
    pub fn spawn(self: &Arc<Self>, collector: &Collector) -> GuardTasks {
        let log = Arc::clone(collector.log());
        if self.settings.database_url.is_none() {
            // The totals are in the log's database: each ingest transaction adds its batch.
            log.apply_guard_inline(Arc::clone(self));
        }
        GuardTasks {
            handles: vec![
                tokio::spawn(follow::follow(Arc::clone(self), Arc::clone(&log))),
                tokio::spawn(outbox::deliver(Arc::clone(self), log)),
                tokio::spawn(usage::report(Arc::clone(self))),
            ],
        }
    }

    /// Marks grants for a usage snapshot (new totals, or a snapshot to send again).
    fn mark_dirty(&self, grants: impl IntoIterator<Item = String>) {
        let mut dirty = self.lock_dirty();
        dirty.waiting.extend(grants);
        self.publish_pending(&dirty);
    }

    /// Takes the grants due a snapshot; they count as pending until [`Self::sent_usage`].
    fn take_dirty(&self) -> HashSet<String> {
        let mut dirty = self.lock_dirty();
        let taken = std::mem::take(&mut dirty.waiting);
        dirty.sending = taken.len() as u64;
        self.publish_pending(&dirty);
        taken
    }

    /// The snapshots taken by [`Self::take_dirty`] are sent; `again` failed.
    fn sent_usage(&self, again: Vec<String>) {
        let mut dirty = self.lock_dirty();
        dirty.sending = 0;
        dirty.waiting.extend(again);
        self.publish_pending(&dirty);
    }

    fn lock_dirty(&self) -> std::sync::MutexGuard<'_, DirtyGrants> {
        match self.dirty.lock() {
            Ok(dirty) => dirty,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn publish_pending(&self, dirty: &DirtyGrants) {
        let pending = (dirty.waiting.len() as u64).saturating_add(dirty.sending);
        self.metrics
            .usage_pending
            .store(pending, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Grants whose usage snapshot is due: waiting for the next period, or being sent now.
#[derive(Debug, Default)]
struct DirtyGrants {
    waiting: HashSet<String>,
    sending: u64,
}

/// The guard's tasks; aborted when dropped.
#[derive(Debug)]
pub struct GuardTasks {
    handles: Vec<tokio::task::JoinHandle<()>>,
}

impl GuardTasks {
    /// Stops the tasks and waits until they have let go of the log (a restart reopens it).
    pub async fn stop(mut self) {
        for handle in std::mem::take(&mut self.handles) {
            handle.abort();
            // A cancelled task's error is the expected outcome here.
            let _ = handle.await;
        }
    }
}

impl Drop for GuardTasks {
    fn drop(&mut self) {
        for handle in &self.handles {
            handle.abort();
        }
    }
}

/// `guard-<16 hex>`: the guard stream of the log whose checkpoint key is `log_id`.
pub fn stream_id_for(log_id: &str) -> String {
    let digest = Sha256::digest(log_id.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{GUARD_STREAM_PREFIX}{hex}")
}
