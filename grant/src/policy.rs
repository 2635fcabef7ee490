//! The decision policy: which issuer and audiences to trust, how strict to be about time
//! and size, and the route rules. Parsed from JSON once, validated with errors that name
//! the field, then shared read-only by every request.
//!
//! These are the decision-relevant sections of the filter configuration (`issuer`,
//! `audiences`, `realm`, `routes`, `unmatched`, `limits`); hosts add their own sections
//! (where keys come from, audit shipping) around them.

use serde::Deserialize;

use crate::route::{FieldError, RouteConfig, RouteTable};
use crate::verify::TokenRules;

/// What to do with a request no route matches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unmatched {
    /// Refuse it (403 `no_route`). The default: fail closed.
    #[default]
    Deny,
    /// Let any valid, unrevoked grant through, whatever its scopes.
    Authenticated,
}

/// Size and time limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyLimits {
    /// Clock skew tolerated, seconds (0–300).
    pub leeway_seconds: i64,
    /// Longest token accepted, bytes (256–65536).
    pub max_token_bytes: usize,
    /// Largest body buffered to read `model`, bytes (1 KiB–64 MiB); larger bodies get 413.
    pub max_body_bytes: usize,
}

/// Default body limit: roomy for chat prompts, small enough to buffer in every worker.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

impl Default for PolicyLimits {
    fn default() -> Self {
        PolicyLimits {
            leeway_seconds: TokenRules::DEFAULT_LEEWAY_SECONDS,
            max_token_bytes: TokenRules::DEFAULT_MAX_TOKEN_BYTES,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// The policy as written in JSON (snake_case, unknown fields refused).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// The trusted issuer (`iss`).
    pub issuer: String,
    /// Audiences this gateway accepts (`aud`).
    pub audiences: Vec<String>,
    /// The realm in `WWW-Authenticate` challenges.
    #[serde(default = "default_realm")]
    pub realm: String,
    /// Route rules, first match wins.
    pub routes: Vec<RouteConfig>,
    /// What happens when no route matches.
    #[serde(default)]
    pub unmatched: Unmatched,
    /// Size and time limits.
    #[serde(default)]
    pub limits: PolicyLimits,
}

fn default_realm() -> String {
    "jitgate".to_owned()
}

/// Why a policy was refused.
pub type PolicyError = FieldError;

/// A validated policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Token acceptance rules.
    pub token_rules: TokenRules,
    /// The route rules.
    pub routes: RouteTable,
    /// What happens when no route matches.
    pub unmatched: Unmatched,
    /// The realm for challenges.
    pub realm: String,
    /// Largest body buffered to read `model`.
    pub max_body_bytes: usize,
}

impl Policy {
    /// Parses and validates a policy from JSON.
    pub fn from_json(text: &str) -> Result<Policy, PolicyError> {
        let config: PolicyConfig = serde_json::from_str(text).map_err(|error| FieldError {
            field: "policy".into(),
            problem: error.to_string(),
        })?;
        Policy::compile(&config)
    }

    /// Validates a parsed configuration.
    pub fn compile(config: &PolicyConfig) -> Result<Policy, PolicyError> {
        let field = |name: &str, problem: &str| FieldError {
            field: name.into(),
            problem: problem.into(),
        };
        if config.issuer.is_empty() {
            return Err(field("issuer", "must not be empty"));
        }
        if config.audiences.is_empty() {
            return Err(field("audiences", "name at least one audience"));
        }
        if let Some(index) = config.audiences.iter().position(String::is_empty) {
            return Err(field(&format!("audiences[{index}]"), "must not be empty"));
        }
        let limits = &config.limits;
        if !(0..=TokenRules::MAX_LEEWAY_SECONDS).contains(&limits.leeway_seconds) {
            return Err(field(
                "limits.leeway_seconds",
                &format!("must be between 0 and {}", TokenRules::MAX_LEEWAY_SECONDS),
            ));
        }
        if !(256..=65_536).contains(&limits.max_token_bytes) {
            return Err(field(
                "limits.max_token_bytes",
                "must be between 256 and 65536",
            ));
        }
        if !(1024..=64 * 1024 * 1024).contains(&limits.max_body_bytes) {
            return Err(field(
                "limits.max_body_bytes",
                "must be between 1024 and 67108864",
            ));
        }
        Ok(Policy {
            token_rules: TokenRules {
                issuer: config.issuer.clone(),
                audiences: config.audiences.clone(),
                leeway_seconds: limits.leeway_seconds,
                max_token_bytes: limits.max_token_bytes,
            },
            routes: RouteTable::from_config(&config.routes)?,
            unmatched: config.unmatched,
            realm: config.realm.clone(),
            max_body_bytes: limits.max_body_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn defaults_and_field_errors() {
        let policy = Policy::from_json(r#"{"issuer":"i","audiences":["a"],"routes":[]}"#).unwrap();
        assert_eq!(policy.token_rules.leeway_seconds, 30);
        assert_eq!(policy.unmatched, Unmatched::Deny);
        assert_eq!(policy.realm, "jitgate");
        assert_eq!(policy.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        let error = Policy::from_json(r#"{"issuer":"i","audiences":[],"routes":[]}"#).unwrap_err();
        assert_eq!(error.field, "audiences");
        let error = Policy::from_json(
            r#"{"issuer":"i","audiences":["a"],"routes":[],"limits":{"leeway_seconds":3600}}"#,
        )
        .unwrap_err();
        assert_eq!(error.field, "limits.leeway_seconds");
        let error = Policy::from_json(
            r#"{"issuer":"i","audiences":["a"],"routes":[],"limits":{"leway":1}}"#,
        )
        .unwrap_err();
        assert!(error.problem.contains("unknown field `leway`"), "{error}");
        let error = Policy::from_json(r#"{"issuer":"i","audiences":["a"],"routes":[],"extra":1}"#)
            .unwrap_err();
        assert!(error.problem.contains("unknown field `extra`"), "{error}");
        let error =
            Policy::from_json(r#"{"issuer":"i","audiences":["a"],"routes":[{"path":"/x"}]}"#)
                .unwrap_err();
        assert_eq!(error.field, "routes[0].scope");
    }
}
