//! The approval policy: Cedar policies loaded from a file, validated against the Cedar schema,
//! answering the issuer's three questions (see `policy/jitgate.cedarschema`).
//!
//! The loaded policy is swapped atomically on reload; a reload that fails to parse or validate
//! changes nothing and reports every problem with its file, line and column.

pub mod annotations;
pub mod budget;
pub mod diagnostics;
pub mod evaluate;
pub mod load;
pub mod locate;

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use crate::error::{Error, Result};
pub use evaluate::{AccessFacts, Assessment, ScopeExplanation};
pub use load::LoadedPolicy;

/// The schema shipped with the issuer, used when no schema file is configured.
pub const BUILTIN_SCHEMA: &str = include_str!("../../policy/jitgate.cedarschema");
/// The example policy, used by the demo and the tests.
pub const EXAMPLE_POLICY: &str = include_str!("../../policy/example.cedar");

/// Where the policy comes from.
#[derive(Debug, Clone)]
pub struct PolicySource {
    /// The `.cedar` file.
    pub policy: PathBuf,
    /// The schema file; the built-in schema when `None`.
    pub schema: Option<PathBuf>,
}

/// The policy in force, reloadable.
#[derive(Debug)]
pub struct PolicyEngine {
    source: Option<PolicySource>,
    current: RwLock<Arc<LoadedPolicy>>,
    /// The notification channels configured; a policy whose `@notify` names another is
    /// refused (at start and on reload). `None`: no notifications, `@notify` is not checked.
    channels: Option<std::collections::BTreeSet<String>>,
}

/// What a successful (re)load reports.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct LoadSummary {
    /// Number of policies.
    pub policies: usize,
    /// SHA-256 of the policy text, to tell versions apart.
    pub sha256: String,
}

impl PolicyEngine {
    /// Loads the policy from files (start-up: failure is fatal).
    pub fn from_files(source: PolicySource) -> Result<PolicyEngine> {
        let loaded = load::load_files(&source)?;
        Ok(PolicyEngine {
            source: Some(source),
            current: RwLock::new(Arc::new(loaded)),
            channels: None,
        })
    }

    /// A fixed policy from text (tests, demos); `reload` is refused.
    pub fn from_text(policy: &str, schema: &str) -> Result<PolicyEngine> {
        let loaded = load::load_text(policy, "policy.cedar".as_ref(), schema, "schema".as_ref())?;
        Ok(PolicyEngine {
            source: None,
            current: RwLock::new(Arc::new(loaded)),
            channels: None,
        })
    }

    /// Checks every `@notify` against the configured notification channels, now and on
    /// every reload.
    pub fn with_notify_channels(
        mut self,
        channels: std::collections::BTreeSet<String>,
    ) -> Result<PolicyEngine> {
        self.current().check_notify_channels(&channels)?;
        self.channels = Some(channels);
        Ok(self)
    }

    /// The policy in force now.
    pub fn current(&self) -> Arc<LoadedPolicy> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            // A poisoned lock only means a panic elsewhere while swapping an Arc; the Arc
            // itself is always whole.
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Re-reads the files; on any error the old policy stays in force and the error says why.
    pub fn reload(&self) -> Result<LoadSummary> {
        let source = self.source.as_ref().ok_or_else(|| {
            Error::Policy("this issuer's policy was not loaded from a file".into())
        })?;
        let loaded = Arc::new(load::load_files(source)?);
        if let Some(channels) = &self.channels {
            loaded.check_notify_channels(channels)?;
        }
        let summary = loaded.summary();
        match self.current.write() {
            Ok(mut guard) => *guard = loaded,
            Err(poisoned) => *poisoned.into_inner() = loaded,
        }
        Ok(summary)
    }
}
