//! The nine configurations measured side by side: what sits in Envoy's filter chain, which
//! request the load sends, and whether every request carries a token the gate has not seen
//! or a token whose grant has a budget.
//!
//! All of them share `envoy/bench.template.yaml` (an upstream served by the same Envoy) and differ
//! only in the filter chain spliced into it from `envoy/bench-filters/`, so a difference in
//! the figures is the filters' doing.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::bootstrap::{Backends, BootstrapTemplate, FilterModule};
use crate::envoy::{EnvoyOptions, EnvoySpec};
use crate::gate::CONFORMANCE_POLICY;

const TEMPLATE: &str = include_str!("../../../envoy/bench.template.yaml");
const NO_FILTER: &str = include_str!("../../../envoy/bench-filters/none.yaml");
const JWT_AUTHN_RBAC: &str = include_str!("../../../envoy/bench-filters/jwt-authn-rbac.yaml");
const WASM: &str = include_str!("../../../envoy/bench-filters/wasm.yaml");
const TEST_JWKS: &str = include_str!("../../../testdata/jwks.json");

/// `jwt_authn`'s cache, as large as jitgate's default cache, for configuration (2).
const JWT_CACHE: &str = "                  jwt_cache_config: { jwt_cache_size: 10000 }";

/// Audit records per batch to the collector in configuration (5).
pub const AUDIT_BATCH_RECORDS: u64 = 1000;
/// Audit records a VM may hold unacknowledged in configuration (5).
pub const AUDIT_BUFFER_RECORDS: u64 = 300_000;

/// The scope the header-scoped route requires: jitgate's `fine-tune-read` rule in
/// `testdata/policy.json`, and the entry the native RBAC policy looks for.
const REQUIRED_SCOPE: &str = "training:jobs:read";

/// One request shape for the load generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchRequest {
    /// HTTP method.
    pub method: &'static str,
    /// Request path.
    pub path: &'static str,
    /// Body; empty for none.
    pub body: &'static str,
}

/// A route whose scope is fixed (`training:jobs:read`): the decision needs only headers.
const HEADER_SCOPED: BenchRequest = BenchRequest {
    method: "GET",
    path: "/v1/fine_tuning/jobs",
    body: "",
};

/// A chat completion: jitgate buffers the body and reads `model` to know the scope.
const BODY_SCOPED: BenchRequest = BenchRequest {
    method: "POST",
    path: "/v1/chat/completions",
    body: r#"{"model":"meta-llama/Llama-3.1-8B-Instruct","messages":[{"role":"user","content":"Say ok."}],"max_tokens":1}"#,
};

/// A filter chain under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Configuration {
    /// (1) No auth filter: Envoy's own cost.
    NoAuth,
    /// (2) Native `jwt_authn` with its JWT cache, then RBAC requiring the scope.
    JwtAuthnCached,
    /// (3) Native `jwt_authn` without cache (its default), then RBAC.
    JwtAuthnUncached,
    /// (4) A Wasm filter that does nothing: the price of any Wasm filter.
    NoopWasm,
    /// (5) jitgate, audit records streamed to a running `jitgate collector serve`.
    JitgateAudit,
    /// (5b) the same, with a token whose grant has a budget (`limits`, never reached): every
    /// request is counted in the Envoy's shared data, at admission and from the response's
    /// usage.
    JitgateAuditBudget,
    /// (6) jitgate without an audit section.
    JitgateNoAudit,
    /// (7) jitgate, every request a token it has not verified recently.
    JitgateFreshTokens,
    /// (8) jitgate on a body-scoped route (`/v1/chat/completions`, scope from `model`).
    JitgateBodyScope,
}

impl Configuration {
    /// Every configuration, in the order of the report (and of each round).
    pub const ALL: [Configuration; 9] = [
        Configuration::NoAuth,
        Configuration::JwtAuthnCached,
        Configuration::JwtAuthnUncached,
        Configuration::NoopWasm,
        Configuration::JitgateAudit,
        Configuration::JitgateAuditBudget,
        Configuration::JitgateNoAudit,
        Configuration::JitgateFreshTokens,
        Configuration::JitgateBodyScope,
    ];

    /// Its number in the issue and the report: 1–8, and 5b next to the 5 it varies.
    pub fn number(self) -> &'static str {
        match self {
            Configuration::NoAuth => "1",
            Configuration::JwtAuthnCached => "2",
            Configuration::JwtAuthnUncached => "3",
            Configuration::NoopWasm => "4",
            Configuration::JitgateAudit => "5",
            Configuration::JitgateAuditBudget => "5b",
            Configuration::JitgateNoAudit => "6",
            Configuration::JitgateFreshTokens => "7",
            Configuration::JitgateBodyScope => "8",
        }
    }

    /// A short description for the report.
    pub fn label(self) -> &'static str {
        match self {
            Configuration::NoAuth => "no auth filter",
            Configuration::JwtAuthnCached => "native jwt_authn (JWT cache) + RBAC scope",
            Configuration::JwtAuthnUncached => "native jwt_authn (no cache) + RBAC scope",
            Configuration::NoopWasm => "no-op Wasm filter",
            Configuration::JitgateAudit => "jitgate, audit streaming to the collector",
            Configuration::JitgateAuditBudget => "(5) with a budget on the grant (counted)",
            Configuration::JitgateNoAudit => "jitgate, audit off",
            Configuration::JitgateFreshTokens => "jitgate, a fresh token every request",
            Configuration::JitgateBodyScope => "jitgate, body-scoped /v1/chat/completions",
        }
    }

    /// The request the load sends.
    pub fn request(self) -> BenchRequest {
        match self {
            Configuration::JitgateBodyScope => BODY_SCOPED,
            _ => HEADER_SCOPED,
        }
    }

    /// Whether requests cycle through many distinct tokens instead of repeating one.
    pub fn fresh_tokens(self) -> bool {
        self == Configuration::JitgateFreshTokens
    }

    /// Whether requests carry a token whose grant has a budget.
    pub fn budgeted(self) -> bool {
        self == Configuration::JitgateAuditBudget
    }

    /// Whether jitgate's filter is in the chain.
    pub fn is_jitgate(self) -> bool {
        matches!(
            self,
            Configuration::JitgateAudit
                | Configuration::JitgateAuditBudget
                | Configuration::JitgateNoAudit
                | Configuration::JitgateFreshTokens
                | Configuration::JitgateBodyScope
        )
    }

    /// Whether audit records stream to the collector.
    pub fn streams_audit(self) -> bool {
        matches!(
            self,
            Configuration::JitgateAudit | Configuration::JitgateAuditBudget
        )
    }

    /// The Envoy to start for it: one worker, the bench template with this filter chain.
    pub fn spec(
        self,
        jitgate_wasm: &Path,
        noop_wasm: &Path,
        model_server: SocketAddr,
        collector: SocketAddr,
        collector_credential: &str,
    ) -> EnvoySpec {
        let quoted = |text: &str| Value::from(text).to_string();
        let filters = match self {
            Configuration::NoAuth => NO_FILTER.to_owned(),
            Configuration::JwtAuthnCached | Configuration::JwtAuthnUncached => JWT_AUTHN_RBAC
                .replace("{{bench:jwks}}", &quoted(TEST_JWKS.trim()))
                .replace("{{bench:required_scope}}", &quoted(REQUIRED_SCOPE))
                .replace(
                    "{{bench:jwt_cache}}",
                    if self == Configuration::JwtAuthnCached {
                        JWT_CACHE
                    } else {
                        ""
                    },
                ),
            Configuration::NoopWasm => WASM.replace("{{bench:wasm_name}}", "noop"),
            _ => WASM.replace("{{bench:wasm_name}}", "jitgate"),
        };
        let template = BootstrapTemplate::new(
            format!(
                "envoy/bench.template.yaml with configuration ({})",
                self.number()
            ),
            TEMPLATE.replace("{{bench:http_filters}}", filters.trim_end()),
        );
        let wasm_path = if self == Configuration::NoopWasm {
            noop_wasm
        } else {
            jitgate_wasm
        };
        // Batches of 1000 (like the collector's ingest benchmark) and a buffer that holds a
        // whole round, so a collector slower than Envoy shows as records still queued after
        // the round (reported), not as 503 `audit_unavailable` answers. Every record is still
        // delivered: the runner waits for the collector to acknowledge them all.
        let audit = self.streams_audit().then(|| {
            streamed_audit(
                collector_credential,
                AUDIT_BATCH_RECORDS,
                AUDIT_BUFFER_RECORDS,
            )
        });
        EnvoySpec {
            template,
            // The template has no issuer cluster: keys are inline.
            backends: Backends {
                upstream: model_server,
                issuer: collector,
                collector,
            },
            filter: FilterModule {
                wasm_path: wasm_path.to_path_buf(),
                plugin_configuration: if self.is_jitgate() {
                    jitgate_configuration(audit).to_string()
                } else {
                    "{}".to_owned()
                },
            },
            options: EnvoyOptions {
                concurrency: 1,
                // Nothing is logged per request at `warn`, so logging costs none of them.
                log_level: "warn".to_owned(),
                ready_timeout: Duration::from_secs(30),
                ..EnvoyOptions::default()
            },
        }
    }
}

/// The conformance policy with the TEST-ONLY keys inline (like the native configurations),
/// the default verification cache, and `audit` as its audit section when given.
pub fn jitgate_configuration(audit: Option<Value>) -> Value {
    let mut configuration: Value = serde_json::from_str(CONFORMANCE_POLICY).unwrap_or_default();
    configuration["body_check"] = json!("hold_headers");
    configuration["keys"] =
        json!({"jwks": serde_json::from_str::<Value>(TEST_JWKS).unwrap_or_default()});
    if let Some(audit) = audit {
        configuration["audit"] = audit;
    }
    configuration
}

/// An audit section streaming to the template's `collector` cluster with `credential`, in
/// batches of `batch` records, holding at most `buffer` unacknowledged.
pub fn streamed_audit(credential: &str, batch: u64, buffer: u64) -> Value {
    json!({
        "cluster": "collector",
        "credential": credential,
        "batch_max_records": batch,
        "buffer_max_records": buffer,
    })
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;
    use crate::bootstrap::BootstrapValues;

    #[test]
    fn every_configuration_renders_without_leftover_placeholders() {
        for configuration in Configuration::ALL {
            let spec = configuration.spec(
                Path::new("/x/jitgate.wasm"),
                Path::new("/x/noop.wasm"),
                SocketAddr::from(([127, 0, 0, 1], 8000)),
                SocketAddr::from(([127, 0, 0, 1], 4318)),
                "sender",
            );
            let rendered = spec
                .template
                .render(&BootstrapValues::example())
                .expect("renders");
            assert!(!rendered.contains("{{"), "{configuration:?}: {rendered}");
        }
    }

    #[test]
    fn only_the_cached_native_configuration_has_a_jwt_cache() {
        let address = SocketAddr::from(([127, 0, 0, 1], 4318));
        let has_cache = |configuration: Configuration| {
            let spec = configuration.spec(Path::new("j"), Path::new("n"), address, address, "s");
            spec.template
                .render(&BootstrapValues::example())
                .expect("renders")
                // The YAML key, not the word: the filter chain's comment names it too.
                .contains("jwt_cache_config:")
        };
        assert!(has_cache(Configuration::JwtAuthnCached));
        assert!(!has_cache(Configuration::JwtAuthnUncached));
    }
}
