//! Reloading the rules (SIGHUP, `POST /v1/admin/guard/reload`): the file is read and checked
//! whole; only a good file replaces the rules in force. A bad one leaves them as they were,
//! and the error — file and line — is logged and returned, as with the issuer's Cedar policy.
//!
//! New rules apply to records applied from then on: a windowed rule with a new window length
//! starts counting at the reload (its counters did not exist before).

use std::sync::Arc;

use super::rules::{Rules, RulesError};
use super::Guard;

impl Guard {
    /// Reads the rules file again; returns how many rules are now in force.
    pub fn reload(&self) -> Result<usize, RulesError> {
        match Rules::load(&self.settings.rules_path) {
            Ok(rules) => {
                let count = rules.rules.len();
                let mut current = match self.rules.write() {
                    Ok(current) => current,
                    Err(poisoned) => poisoned.into_inner(),
                };
                *current = Arc::new(rules);
                tracing::info!(rules = count, file = %self.settings.rules_path.display(), "guard rules reloaded");
                Ok(count)
            }
            Err(error) => {
                tracing::error!(%error, "guard rules not reloaded: the rules in force stay");
                Err(error)
            }
        }
    }
}

/// Reloads on every SIGHUP until the task is aborted.
pub async fn on_sighup(guard: Arc<Guard>) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(hangups) => hangups,
        Err(error) => {
            tracing::error!(%error, "cannot listen for SIGHUP: reload the guard rules through the admin API");
            return;
        }
    };
    while hangups.recv().await.is_some() {
        // The outcome is logged by `reload`.
        let _ = guard.reload();
    }
}
