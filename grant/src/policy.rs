//! The decision policy: which issuer and audiences to trust, how strict to be about time
//! and size, and the route rules. Parsed from JSON once, validated with errors that name
//! the field, then shared read-only by every request.

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
    /// Clock skew tolerated, seconds (0–300).
    #[serde(default = "default_leeway")]
    pub leeway_seconds: i64,
    /// Longest token accepted, bytes (256–65536).
    #[serde(default = "default_max_token_bytes")]
    pub max_token_bytes: usize,
    /// Largest body buffered to read `model`, bytes (1 KiB–64 MiB); larger bodies get 413.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
}

/// Default body limit: roomy for chat prompts, small enough to buffer in every worker.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

fn default_max_body_bytes() -> usize {
    DEFAULT_MAX_BODY_BYTES
}

fn default_realm() -> String {
    "jitgate".to_owned()
}

fn default_leeway() -> i64 {
    TokenRules::DEFAULT_LEEWAY_SECONDS
}

fn default_max_token_bytes() -> usize {
    TokenRules::DEFAULT_MAX_TOKEN_BYTES
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
        if !(0..=300).contains(&config.leeway_seconds) {
            return Err(field("leeway_seconds", "must be between 0 and 300"));
        }
        if !(256..=65_536).contains(&config.max_token_bytes) {
            return Err(field("max_token_bytes", "must be between 256 and 65536"));
        }
        if !(1024..=64 * 1024 * 1024).contains(&config.max_body_bytes) {
            return Err(field("max_body_bytes", "must be between 1024 and 67108864"));
        }
        Ok(Policy {
            token_rules: TokenRules {
                issuer: config.issuer.clone(),
                audiences: config.audiences.clone(),
                leeway_seconds: config.leeway_seconds,
                max_token_bytes: config.max_token_bytes,
            },
            routes: RouteTable::from_config(&config.routes)?,
            unmatched: config.unmatched,
            realm: config.realm.clone(),
            max_body_bytes: config.max_body_bytes,
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
        let error = Policy::from_json(r#"{"issuer":"i","audiences":[],"routes":[]}"#).unwrap_err();
        assert_eq!(error.field, "audiences");
        let error = Policy::from_json(
            r#"{"issuer":"i","audiences":["a"],"routes":[],"leeway_seconds":3600}"#,
        )
        .unwrap_err();
        assert_eq!(error.field, "leeway_seconds");
        let error = Policy::from_json(r#"{"issuer":"i","audiences":["a"],"routes":[],"extra":1}"#)
            .unwrap_err();
        assert!(error.problem.contains("unknown field `extra`"), "{error}");
        let error =
            Policy::from_json(r#"{"issuer":"i","audiences":["a"],"routes":[{"path":"/x"}]}"#)
                .unwrap_err();
        assert_eq!(error.field, "routes[0].scope");
    }
}
