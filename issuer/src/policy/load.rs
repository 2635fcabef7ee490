//! Reading, parsing and validating a policy and its schema.

use std::collections::HashMap;
use std::path::Path;

use cedar_policy::{Effect, PolicyId, PolicySet, Schema, ValidationMode, Validator};
use sha2::{Digest, Sha256};

use super::annotations::{self, PermitTerms};
use super::diagnostics::render;
use super::locate;
use super::{LoadSummary, PolicySource, BUILTIN_SCHEMA};
use crate::error::{Error, Result};

/// A parsed, validated policy set with its schema and each permit's terms.
#[derive(Debug)]
pub struct LoadedPolicy {
    pub(crate) policies: PolicySet,
    pub(crate) schema: Schema,
    pub(crate) terms: HashMap<PolicyId, PermitTerms>,
    pub(crate) names: HashMap<PolicyId, String>,
    pub(crate) messages: HashMap<PolicyId, String>,
    sha256: String,
}

impl LoadedPolicy {
    /// Count and digest, for the reload answer and the log.
    pub fn summary(&self) -> LoadSummary {
        LoadSummary {
            policies: self.names.len(),
            sha256: self.sha256.clone(),
        }
    }

    /// Refuses a policy whose `@notify` names a channel not in `channels`, naming both.
    pub fn check_notify_channels(
        &self,
        channels: &std::collections::BTreeSet<String>,
    ) -> Result<()> {
        let mut permits: Vec<(&PolicyId, &PermitTerms)> = self.terms.iter().collect();
        permits.sort_by_key(|(id, _)| id.to_string());
        for (id, terms) in permits {
            if let Some(unknown) = terms.notify.iter().find(|name| !channels.contains(*name)) {
                let name = self
                    .names
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| id.to_string());
                let known: Vec<&str> = channels.iter().map(String::as_str).collect();
                return Err(Error::Policy(format!(
                    "policy {name}: @notify names channel {unknown:?}, which the notifications file does not define (channels: {})",
                    if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                )));
            }
        }
        Ok(())
    }
}

/// Loads the files named by `source`.
pub fn load_files(source: &PolicySource) -> Result<LoadedPolicy> {
    let policy_text = std::fs::read_to_string(&source.policy).map_err(|error| {
        Error::Policy(format!(
            "cannot read policy {}: {error}",
            source.policy.display()
        ))
    })?;
    let (schema_text, schema_path) = match &source.schema {
        Some(path) => (
            std::fs::read_to_string(path).map_err(|error| {
                Error::Policy(format!("cannot read schema {}: {error}", path.display()))
            })?,
            path.as_path(),
        ),
        None => (BUILTIN_SCHEMA.to_owned(), Path::new("<built-in schema>")),
    };
    load_text(&policy_text, &source.policy, &schema_text, schema_path)
}

/// Parses and validates policy text against schema text; paths only label the errors.
pub fn load_text(
    policy_text: &str,
    policy_path: &Path,
    schema_text: &str,
    schema_path: &Path,
) -> Result<LoadedPolicy> {
    let (schema, _warnings) = Schema::from_cedarschema_str(schema_text)
        .map_err(|error| Error::Policy(render(&error, schema_text, schema_path).join("\n")))?;
    let policies: PolicySet = policy_text
        .parse()
        .map_err(|error: cedar_policy::ParseErrors| {
            Error::Policy(render(&error, policy_text, policy_path).join("\n"))
        })?;
    let result = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
    if !result.validation_passed() {
        let problems: Vec<String> = result
            .validation_errors()
            .flat_map(|error| render(error, policy_text, policy_path))
            .collect();
        return Err(Error::Policy(problems.join("\n")));
    }
    let mut terms = HashMap::new();
    let mut names = HashMap::new();
    let mut messages = HashMap::new();
    let mut problems = Vec::new();
    for policy in policies.policies() {
        names.insert(policy.id().clone(), annotations::display_name(policy));
        if let Some(message) = policy.annotation("message") {
            messages.insert(policy.id().clone(), message.to_owned());
        }
        match annotations::terms(policy) {
            Ok(found) if policy.effect() == Effect::Permit => {
                terms.insert(policy.id().clone(), found);
            }
            Ok(_) => {}
            Err(problem) => {
                let position = locate::index_of(policy.id().as_ref())
                    .and_then(|index| locate::annotation(policy_text, index, &problem.key));
                let at = match position {
                    Some((line, column)) => format!("{}:{line}:{column}", policy_path.display()),
                    None => policy_path.display().to_string(),
                };
                problems.push((position, format!("{at}: {}", problem.message)));
            }
        }
    }
    if !problems.is_empty() {
        // Cedar's policy set has no order; the file has.
        problems.sort();
        let problems: Vec<String> = problems.into_iter().map(|(_, problem)| problem).collect();
        return Err(Error::Policy(problems.join("\n")));
    }
    Ok(LoadedPolicy {
        policies,
        schema,
        terms,
        names,
        messages,
        sha256: crate::ids::hex(&Sha256::digest(policy_text.as_bytes())),
    })
}
