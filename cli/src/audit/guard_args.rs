//! The guard's flags on `jitgate collector serve` (each with an environment variable): the
//! rules file turns it on, and then the issuer's URL and the guard's API-token file are
//! required. The token is only ever read from its file (owner-only), never from a flag.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use jitgate_collector::guard::GuardSettings;
use jitgate_collector::{Error, Result};

/// Flags of the guard.
#[derive(Debug, Args)]
pub struct GuardArgs {
    /// Run the guard with this rules file (TOML; see docs/guard.md). Reloaded on SIGHUP and
    /// `POST /v1/admin/guard/reload`.
    #[arg(long, env = "JITGATE_GUARD_RULES")]
    guard_rules: Option<PathBuf>,
    /// The issuer the guard posts alerts, revocations and usage to.
    #[arg(long, env = "JITGATE_GUARD_ISSUER_URL")]
    guard_issuer_url: Option<String>,
    /// A file holding the guard's API token at the issuer (owner-only permissions).
    #[arg(long, env = "JITGATE_GUARD_TOKEN_FILE")]
    guard_token_file: Option<PathBuf>,
    /// Keep the guard's totals in this database instead of the log's: one PostgreSQL
    /// database shared by every collector of a fleet.
    #[arg(long, env = "JITGATE_GUARD_DATABASE_URL", hide_env_values = true)]
    guard_database_url: Option<String>,
    /// The first retry delay of a failed alert or revocation (doubling up to 60s).
    #[arg(long, env = "JITGATE_GUARD_RETRY", default_value = "1s", value_parser = humantime::parse_duration)]
    guard_retry: Duration,
}

impl GuardArgs {
    /// The guard's settings, or `None` when `--guard-rules` is not given.
    pub fn settings(&self) -> Result<Option<GuardSettings>> {
        let Some(rules) = &self.guard_rules else {
            if self.guard_issuer_url.is_some()
                || self.guard_token_file.is_some()
                || self.guard_database_url.is_some()
            {
                return Err(Error::Config(
                    "the guard's flags need --guard-rules FILE to turn the guard on".into(),
                ));
            }
            return Ok(None);
        };
        let issuer = self.guard_issuer_url.clone().ok_or_else(|| {
            Error::Config("--guard-rules needs --guard-issuer-url (the issuer's URL)".into())
        })?;
        let token = self.guard_token_file.clone().ok_or_else(|| {
            Error::Config(
                "--guard-rules needs --guard-token-file (the guard's API token at the issuer)"
                    .into(),
            )
        })?;
        let mut settings = GuardSettings::new(rules.clone(), issuer, token);
        settings.database_url = self.guard_database_url.clone();
        settings.retry_first = self.guard_retry.max(Duration::from_millis(10));
        Ok(Some(settings))
    }
}
