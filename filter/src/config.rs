//! The filter's JSON configuration: parsed and validated once in `on_configure`, then shared
//! read-only by every request on the worker.
//!
//! The decision sections (`issuer`, `audiences`, `realm`, `routes`, `unmatched`, `limits`)
//! are `jitgate_grant::PolicyConfig`, so every host reads them identically; this module adds
//! the filter's own sections: `keys`, `token`, `revocation`, `cache`. Unknown fields anywhere
//! are refused, and every error names its field (`keys.fetch.timeout_ms: invalid type…`).

use std::fmt;
use std::time::Duration;

use jitgate_grant::{KeySet, Policy, PolicyConfig};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::audit::buffer::BufferLimits;
use crate::audit::Overflow;
use crate::upstream::Upstream;

/// A configuration problem, naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted path of the field.
    pub field: String,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

impl std::error::Error for ConfigError {}

fn error(field: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        field: field.into(),
        problem: problem.into(),
    }
}

/// Where verification keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A JWKS written into the configuration.
    Inline(KeySet),
    /// Fetched from the issuer's cluster.
    Fetch(KeyFetchSettings),
}

/// How to fetch keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFetchSettings {
    /// The JWKS endpoint.
    pub upstream: Upstream,
    /// Refresh interval once loaded.
    pub refresh: Duration,
    /// Least time between fetches triggered by an unknown `kid`.
    pub unknown_kid_min_interval: Duration,
}

/// Where the token is read from and whether it goes upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSettings {
    /// Lowercase header name.
    pub header: String,
    /// Scheme prefix with its space, or empty.
    pub prefix: String,
    /// Whether the token header is passed to the upstream (default: stripped).
    pub forward: bool,
}

/// How the revocation feed is polled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationSettings {
    /// The feed endpoint.
    pub upstream: Upstream,
    /// Poll interval.
    pub interval: Duration,
    /// The data-plane credential, sent as a bearer token.
    pub credential: String,
    /// After this long without a successful poll, grants cannot be shown unrevoked.
    pub max_staleness: Duration,
}

/// How audit records are shipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSettings {
    /// The collector's OTLP/HTTP logs endpoint.
    pub upstream: Upstream,
    /// Bearer credential for the collector, if it needs one.
    pub credential: Option<String>,
    /// Batching, buffering and overflow.
    pub limits: BufferLimits,
    /// OTLP `service.name`.
    pub service_name: String,
    /// Most response-body bytes kept to read model usage.
    pub max_usage_body_bytes: usize,
}

/// How a request whose scope needs the body's `model` waits while the body is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyCheck {
    /// Hold the whole request, headers included, until the model is checked: a refused
    /// request never reaches the upstream, not even its headers. Needs Envoy ≥ 1.35 with the
    /// Wasm `PluginConfig` field `allow_on_headers_stop_iteration: true`; without it Envoy
    /// never delivers the body to a filter that held the headers, and the request waits
    /// until Envoy's own timeouts end it.
    HoldHeaders,
    /// Let the headers (token removed, subject added) go upstream and hold only the body:
    /// for hosts that cannot set that field (Istio's `WasmPlugin`). A refusal then resets the
    /// upstream stream: the model server may see the start of a request, never its body or
    /// the token.
    ForwardHeaders,
}

impl BodyCheck {
    /// The configuration's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            BodyCheck::HoldHeaders => "hold_headers",
            BodyCheck::ForwardHeaders => "forward_headers",
        }
    }
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The decision policy.
    pub policy: Policy,
    /// Where keys come from.
    pub keys: KeySource,
    /// Where the token is.
    pub token: TokenSettings,
    /// The revocation feed, if any.
    pub revocation: Option<RevocationSettings>,
    /// Verification cache size (0 disables).
    pub cache_entries: usize,
    /// Audit streaming, if configured.
    pub audit: Option<AuditSettings>,
    /// How model-scoped requests wait for their body.
    pub body_check: BodyCheck,
    /// Publish the decision as Envoy filter state (`wasm.jitgate_*`) for access logs and later
    /// filters. Off unless asked for: each property is a host call on every request.
    pub filter_state: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysConfig {
    #[serde(default)]
    jwks: Option<Value>,
    #[serde(default)]
    fetch: Option<FetchConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FetchConfig {
    cluster: String,
    #[serde(default)]
    authority: Option<String>,
    #[serde(default = "default_jwks_path")]
    path: String,
    #[serde(default = "default_refresh_seconds")]
    refresh_seconds: u64,
    #[serde(default = "default_fetch_timeout_ms")]
    timeout_ms: u64,
    #[serde(default = "default_unknown_kid_seconds")]
    unknown_kid_min_interval_seconds: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenConfig {
    #[serde(default = "default_token_header")]
    header: String,
    #[serde(default = "default_token_prefix")]
    prefix: String,
    #[serde(default)]
    forward: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevocationConfig {
    cluster: String,
    #[serde(default)]
    authority: Option<String>,
    #[serde(default = "default_feed_path")]
    path: String,
    #[serde(default = "default_interval_ms")]
    interval_ms: u64,
    #[serde(default = "default_feed_timeout_ms")]
    timeout_ms: u64,
    #[serde(default)]
    credential: Option<String>,
    #[serde(default)]
    credential_env: Option<String>,
    #[serde(default = "default_max_staleness_ms")]
    max_staleness_ms: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditConfig {
    cluster: String,
    #[serde(default)]
    authority: Option<String>,
    #[serde(default = "default_logs_path")]
    path: String,
    #[serde(default = "default_audit_timeout_ms")]
    timeout_ms: u64,
    #[serde(default)]
    credential: Option<String>,
    #[serde(default)]
    credential_env: Option<String>,
    #[serde(default = "default_batch_max_records")]
    batch_max_records: usize,
    #[serde(default = "default_batch_max_bytes")]
    batch_max_bytes: usize,
    #[serde(default = "default_flush_interval_ms")]
    flush_interval_ms: u64,
    #[serde(default = "default_buffer_max_records")]
    buffer_max_records: usize,
    #[serde(default)]
    overflow: OverflowConfig,
    #[serde(default = "default_max_batches_in_flight")]
    max_batches_in_flight: usize,
    #[serde(default = "default_service_name")]
    service_name: String,
    #[serde(default = "default_max_usage_body_bytes")]
    max_usage_body_bytes: usize,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "snake_case")]
enum OverflowConfig {
    #[default]
    Deny,
    DropOldest,
}

fn default_logs_path() -> String {
    "/v1/logs".into()
}
fn default_audit_timeout_ms() -> u64 {
    5000
}
fn default_batch_max_records() -> usize {
    100
}
/// Four: after an outage the backlog drains in a quarter of the round trips, and a collector
/// taking batches from many VMs at once sees at most four times its usual load per VM.
fn default_max_batches_in_flight() -> usize {
    4
}
fn default_batch_max_bytes() -> usize {
    512 * 1024
}
/// A quarter of a second: under load a batch fills (`batch_max_records`) long before, so
/// this only decides how soon a quiet gateway's records reach the collector — and with them
/// the guard, whose fleet-wide refusal comes one flush plus one revocation poll after a
/// breach (docs/guard.md). Four small POSTs a second per busy-but-quiet VM is cheap.
fn default_flush_interval_ms() -> u64 {
    250
}
fn default_buffer_max_records() -> usize {
    10_000
}
fn default_service_name() -> String {
    "jitgate-filter".into()
}
fn default_max_usage_body_bytes() -> usize {
    1024 * 1024
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CacheConfig {
    #[serde(default = "default_cache_entries")]
    max_entries: usize,
}

fn default_jwks_path() -> String {
    "/.well-known/jwks.json".into()
}
fn default_refresh_seconds() -> u64 {
    300
}
fn default_fetch_timeout_ms() -> u64 {
    2000
}
fn default_unknown_kid_seconds() -> u64 {
    10
}
fn default_token_header() -> String {
    "authorization".into()
}
fn default_token_prefix() -> String {
    "Bearer ".into()
}
fn default_feed_path() -> String {
    "/v1/revocations".into()
}
fn default_interval_ms() -> u64 {
    1000
}
fn default_feed_timeout_ms() -> u64 {
    1000
}
fn default_max_staleness_ms() -> u64 {
    10_000
}
/// Default verification cache size.
pub const DEFAULT_CACHE_ENTRIES: usize = 10_000;
fn default_cache_entries() -> usize {
    DEFAULT_CACHE_ENTRIES
}

/// The filter's own top-level sections; everything else belongs to the policy.
const FILTER_SECTIONS: [&str; 7] = [
    "keys",
    "token",
    "revocation",
    "cache",
    "audit",
    "body_check",
    "filter_state",
];

impl Settings {
    /// Parses and validates the plugin configuration. `environment` resolves
    /// `credential_env` (Envoy passes variables via `vm_config.environment_variables`).
    pub fn from_json(
        text: &[u8],
        environment: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigError> {
        let value: Value = serde_json::from_slice(text)
            .map_err(|e| error("configuration", format!("not valid JSON: {e}")))?;
        let Value::Object(mut root) = value else {
            return Err(error("configuration", "must be a JSON object"));
        };
        let mut sections = Map::new();
        for name in FILTER_SECTIONS {
            if let Some(section) = root.remove(name) {
                sections.insert(name.to_owned(), section);
            }
        }
        let policy_config: PolicyConfig = parse_section("", Value::Object(root))?;
        let policy = Policy::compile(&policy_config).map_err(|e| error(e.field, e.problem))?;

        let keys = match sections.remove("keys") {
            None => {
                return Err(error(
                    "keys",
                    "missing: give \"jwks\" (inline) or \"fetch\" (from the issuer)",
                ))
            }
            Some(value) => parse_keys(parse_section("keys", value)?)?,
        };
        let token = match sections.remove("token") {
            None => parse_section::<TokenConfig>("token", Value::Object(Map::new()))?,
            Some(value) => parse_section("token", value)?,
        };
        let token = check_token(token)?;
        let revocation = match sections.remove("revocation") {
            None => None,
            Some(value) => Some(parse_revocation(
                parse_section("revocation", value)?,
                environment,
            )?),
        };
        let cache: CacheConfig = match sections.remove("cache") {
            None => parse_section("cache", Value::Object(Map::new()))?,
            Some(value) => parse_section("cache", value)?,
        };
        if cache.max_entries > 1_000_000 {
            return Err(error("cache.max_entries", "must be at most 1000000"));
        }
        let audit = match sections.remove("audit") {
            None => None,
            Some(value) => Some(parse_audit(parse_section("audit", value)?, environment)?),
        };
        let body_check = parse_body_check(&policy, sections.remove("body_check"))?;
        let filter_state = match sections.remove("filter_state") {
            None => false,
            Some(Value::Bool(on)) => on,
            Some(_) => return Err(error("filter_state", "must be true or false")),
        };
        Ok(Settings {
            policy,
            keys,
            token,
            revocation,
            cache_entries: cache.max_entries,
            audit,
            body_check,
            filter_state,
        })
    }
}

/// `body_check` must be given when a route's scope needs the body's `model`: which mode is
/// right depends on the Envoy the filter runs in, which the filter cannot see, and the wrong
/// guess either hangs every such request or lets refused requests' headers reach the model
/// server. Without such routes it changes nothing and may be left out.
fn parse_body_check(policy: &Policy, value: Option<Value>) -> Result<BodyCheck, ConfigError> {
    let needs_body = policy.routes.rules().iter().any(|rule| {
        matches!(&rule.action, jitgate_grant::route::RouteAction::Require(scope) if scope.needs_model())
    });
    match value {
        Some(value) => serde_json::from_value(value).map_err(|_| {
            error(
                "body_check",
                "must be \"hold_headers\" or \"forward_headers\"",
            )
        }),
        None if needs_body => Err(error(
            "body_check",
            "missing: a route's scope needs the body's model, so say how the request waits \
             for it: \"hold_headers\" (Envoy >= 1.35 with the Wasm PluginConfig field \
             allow_on_headers_stop_iteration: true; a refused request never reaches the \
             upstream) or \"forward_headers\" (any host; the headers go upstream before the \
             body is checked)",
        )),
        None => Ok(BodyCheck::HoldHeaders),
    }
}

/// Deserializes one section, reporting the full path of the failing field.
fn parse_section<T: DeserializeOwned>(section: &str, value: Value) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.path().to_string();
        let field = match (section.is_empty(), inner.as_str()) {
            (true, ".") => "configuration".to_owned(),
            (true, _) => inner,
            (false, ".") => section.to_owned(),
            (false, _) => format!("{section}.{inner}"),
        };
        error(field, e.into_inner().to_string())
    })
}

fn parse_keys(config: KeysConfig) -> Result<KeySource, ConfigError> {
    match (config.jwks, config.fetch) {
        (Some(jwks), None) => KeySet::from_jwks_json(&jwks.to_string())
            .map(KeySource::Inline)
            .map_err(|e| error("keys.jwks", e.to_string())),
        (None, Some(fetch)) => {
            let upstream = Upstream::new(
                &fetch.cluster,
                fetch.authority.as_deref(),
                &fetch.path,
                fetch.timeout_ms,
            )
            .map_err(|problem| error("keys.fetch", problem))?;
            if !(10..=86_400).contains(&fetch.refresh_seconds) {
                return Err(error(
                    "keys.fetch.refresh_seconds",
                    "must be between 10 and 86400",
                ));
            }
            Ok(KeySource::Fetch(KeyFetchSettings {
                upstream,
                refresh: Duration::from_secs(fetch.refresh_seconds),
                unknown_kid_min_interval: Duration::from_secs(
                    fetch.unknown_kid_min_interval_seconds,
                ),
            }))
        }
        _ => Err(error("keys", "give exactly one of \"jwks\" and \"fetch\"")),
    }
}

fn parse_audit(
    config: AuditConfig,
    environment: &dyn Fn(&str) -> Option<String>,
) -> Result<AuditSettings, ConfigError> {
    let upstream = Upstream::new(
        &config.cluster,
        config.authority.as_deref(),
        &config.path,
        config.timeout_ms,
    )
    .map_err(|problem| error("audit", problem))?;
    let credential = match (config.credential, config.credential_env) {
        (None, None) => None,
        (Some(credential), None) => Some(credential),
        (None, Some(variable)) => Some(environment(&variable).ok_or_else(|| {
            error(
                "audit.credential_env",
                format!("environment variable {variable:?} is not set in the Wasm VM"),
            )
        })?),
        _ => {
            return Err(error(
                "audit",
                "give at most one of \"credential\" and \"credential_env\"",
            ))
        }
    };
    if credential
        .as_deref()
        .is_some_and(|c| c.is_empty() || c.chars().any(|c| c.is_control() || c == ' '))
    {
        return Err(error(
            "audit.credential",
            "must be a non-empty token without spaces",
        ));
    }
    if !(1..=10_000).contains(&config.batch_max_records) {
        return Err(error(
            "audit.batch_max_records",
            "must be between 1 and 10000",
        ));
    }
    if !(1024..=8 * 1024 * 1024).contains(&config.batch_max_bytes) {
        return Err(error(
            "audit.batch_max_bytes",
            "must be between 1024 and 8388608",
        ));
    }
    if !(10..=60_000).contains(&config.flush_interval_ms) {
        return Err(error(
            "audit.flush_interval_ms",
            "must be between 10 and 60000",
        ));
    }
    if config.buffer_max_records < config.batch_max_records || config.buffer_max_records > 1_000_000
    {
        return Err(error(
            "audit.buffer_max_records",
            "must be at least batch_max_records and at most 1000000",
        ));
    }
    if !(1..=16).contains(&config.max_batches_in_flight) {
        return Err(error(
            "audit.max_batches_in_flight",
            "must be between 1 and 16",
        ));
    }
    if config.service_name.is_empty() {
        return Err(error("audit.service_name", "must not be empty"));
    }
    if config.max_usage_body_bytes > 64 * 1024 * 1024 {
        return Err(error(
            "audit.max_usage_body_bytes",
            "must be at most 67108864",
        ));
    }
    Ok(AuditSettings {
        upstream,
        credential,
        limits: BufferLimits {
            batch_max_records: config.batch_max_records,
            batch_max_bytes: config.batch_max_bytes,
            flush_interval: Duration::from_millis(config.flush_interval_ms),
            max_records: config.buffer_max_records,
            overflow: match config.overflow {
                OverflowConfig::Deny => Overflow::Deny,
                OverflowConfig::DropOldest => Overflow::DropOldest,
            },
            max_in_flight: config.max_batches_in_flight,
        },
        service_name: config.service_name,
        max_usage_body_bytes: config.max_usage_body_bytes,
    })
}

fn check_token(config: TokenConfig) -> Result<TokenSettings, ConfigError> {
    let header = config.header.to_ascii_lowercase();
    let token_char = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if header.is_empty() || !header.chars().all(token_char) {
        return Err(error(
            "token.header",
            format!("{:?} is not an HTTP header name", config.header),
        ));
    }
    if config.prefix.chars().any(|c| c.is_control()) {
        return Err(error("token.prefix", "must not contain control characters"));
    }
    Ok(TokenSettings {
        header,
        prefix: config.prefix,
        forward: config.forward,
    })
}

fn parse_revocation(
    config: RevocationConfig,
    environment: &dyn Fn(&str) -> Option<String>,
) -> Result<RevocationSettings, ConfigError> {
    let upstream = Upstream::new(
        &config.cluster,
        config.authority.as_deref(),
        &config.path,
        config.timeout_ms,
    )
    .map_err(|problem| error("revocation", problem))?;
    if !(50..=60_000).contains(&config.interval_ms) {
        return Err(error(
            "revocation.interval_ms",
            "must be between 50 and 60000",
        ));
    }
    if config.max_staleness_ms < config.interval_ms.saturating_mul(2) {
        return Err(error(
            "revocation.max_staleness_ms",
            "must be at least twice interval_ms",
        ));
    }
    let credential = match (config.credential, config.credential_env) {
        (Some(credential), None) => credential,
        (None, Some(variable)) => environment(&variable).ok_or_else(|| {
            error(
                "revocation.credential_env",
                format!("environment variable {variable:?} is not set in the Wasm VM"),
            )
        })?,
        _ => {
            return Err(error(
                "revocation",
                "give exactly one of \"credential\" and \"credential_env\"",
            ))
        }
    };
    if credential.is_empty() || credential.chars().any(|c| c.is_control() || c == ' ') {
        return Err(error(
            "revocation.credential",
            "must be a non-empty token without spaces",
        ));
    }
    Ok(RevocationSettings {
        upstream,
        interval: Duration::from_millis(config.interval_ms),
        credential,
        max_staleness: Duration::from_millis(config.max_staleness_ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWKS: &str = include_str!("../../testdata/jwks.json");

    fn base() -> Value {
        serde_json::json!({
            "issuer": "https://issuer.test",
            "audiences": ["gw"],
            "routes": [{"path": "/v1/chat/completions", "scope": "inference:{model}"}],
            "keys": {"jwks": serde_json::from_str::<Value>(JWKS).unwrap()},
            "body_check": "hold_headers",
        })
    }

    fn parse(value: &Value) -> Result<Settings, ConfigError> {
        Settings::from_json(value.to_string().as_bytes(), &|name| {
            (name == "FEED_CREDENTIAL").then(|| "s3cret".into())
        })
    }

    fn field_of(value: Value) -> String {
        parse(&value).unwrap_err().field
    }

    #[test]
    fn minimal_configuration_gets_the_defaults() {
        let settings = parse(&base()).unwrap();
        assert!(matches!(settings.keys, KeySource::Inline(ref keys) if keys.len() == 2));
        assert_eq!(
            settings.token,
            TokenSettings {
                header: "authorization".into(),
                prefix: "Bearer ".into(),
                forward: false
            }
        );
        assert_eq!(settings.revocation, None);
        assert_eq!(settings.cache_entries, DEFAULT_CACHE_ENTRIES);
        assert_eq!(settings.policy.token_rules.leeway_seconds, 30);
    }

    #[test]
    fn body_check_is_required_only_where_a_scope_needs_the_body() {
        let mut config = base();
        config.as_object_mut().unwrap().remove("body_check");
        let error = parse(&config).unwrap_err();
        assert_eq!(error.field, "body_check");
        assert!(
            error.problem.contains("allow_on_headers_stop_iteration"),
            "{error}"
        );

        config["body_check"] = serde_json::json!("forward_headers");
        assert_eq!(
            parse(&config).unwrap().body_check,
            BodyCheck::ForwardHeaders
        );
        config["body_check"] = serde_json::json!("hold");
        assert_eq!(field_of(config.clone()), "body_check");

        // Header-scoped routes only: nothing waits for a body, so it may be left out.
        config.as_object_mut().unwrap().remove("body_check");
        config["routes"] = serde_json::json!([{"path": "/v1/files", "scope": "files:read"}]);
        assert_eq!(parse(&config).unwrap().body_check, BodyCheck::HoldHeaders);
    }

    #[test]
    fn fetch_and_revocation_sections() {
        let mut config = base();
        config["keys"] = serde_json::json!({"fetch": {"cluster": "issuer"}});
        config["revocation"] =
            serde_json::json!({"cluster": "issuer", "credential_env": "FEED_CREDENTIAL"});
        let settings = parse(&config).unwrap();
        let KeySource::Fetch(fetch) = settings.keys else {
            panic!("expected fetch")
        };
        assert_eq!(fetch.upstream.path, "/.well-known/jwks.json");
        assert_eq!(fetch.upstream.authority, "issuer");
        let revocation = settings.revocation.unwrap();
        assert_eq!(revocation.credential, "s3cret");
        assert_eq!(revocation.interval, Duration::from_millis(1000));
    }

    #[test]
    fn every_error_names_its_field() {
        let with = |path: &[&str], value: Value| {
            let mut config = base();
            let mut target = &mut config;
            for key in &path[..path.len() - 1] {
                target = &mut target[*key];
            }
            target[path[path.len() - 1]] = value;
            config
        };
        assert_eq!(
            field_of(with(&["audiences"], serde_json::json!([]))),
            "audiences"
        );
        assert_eq!(field_of(with(&["extra"], serde_json::json!(1))), "extra");
        assert!(parse(&with(&["extra"], serde_json::json!(1)))
            .unwrap_err()
            .problem
            .contains("unknown field `extra`"));
        assert_eq!(
            field_of(with(
                &["limits"],
                serde_json::json!({"leeway_seconds": "30"})
            )),
            "limits.leeway_seconds"
        );
        assert_eq!(
            field_of(with(
                &["routes"],
                serde_json::json!([{"path": "/a", "scope": "x"}])
            )),
            "routes[0].scope"
        );
        assert_eq!(field_of(with(&["keys"], serde_json::json!({}))), "keys");
        assert_eq!(
            field_of(with(
                &["keys"],
                serde_json::json!({"fetch": {"cluster": "c", "timeout_ms": "x"}})
            )),
            "keys.fetch.timeout_ms"
        );
        assert_eq!(
            field_of(with(
                &["keys"],
                serde_json::json!({"jwks": {"keys": [{"kty": "RSA"}]}})
            )),
            "keys.jwks"
        );
        assert_eq!(
            field_of(with(
                &["token"],
                serde_json::json!({"header": "bad header"})
            )),
            "token.header"
        );
        assert_eq!(
            field_of(with(&["token"], serde_json::json!({"headr": "x"}))),
            "token.headr"
        );
        assert_eq!(
            field_of(with(&["revocation"], serde_json::json!({"cluster": "c"}))),
            "revocation"
        );
        assert_eq!(
            field_of(with(
                &["revocation"],
                serde_json::json!({"cluster": "c", "credential_env": "UNSET"})
            )),
            "revocation.credential_env"
        );
        assert_eq!(
            field_of(with(
                &["revocation"],
                serde_json::json!({"cluster": "c", "credential": "x", "interval_ms": 5})
            )),
            "revocation.interval_ms"
        );
        assert_eq!(
            field_of(with(
                &["cache"],
                serde_json::json!({"max_entries": 5_000_000})
            )),
            "cache.max_entries"
        );
        let mut no_keys = base();
        no_keys.as_object_mut().unwrap().remove("keys");
        assert_eq!(field_of(no_keys), "keys");
        assert_eq!(
            Settings::from_json(b"[]", &|_| None).unwrap_err().field,
            "configuration"
        );
        assert_eq!(
            Settings::from_json(b"{", &|_| None).unwrap_err().field,
            "configuration"
        );
    }

    #[test]
    fn errors_never_echo_the_credential() {
        let mut config = base();
        config["revocation"] = serde_json::json!({"cluster": "c", "credential": "sec ret"});
        let error = parse(&config).unwrap_err();
        assert!(!error.to_string().contains("sec ret"));
    }
}
