//! The local stack: a real Envoy running the built filter, in front of stub servers playing the
//! model server, the issuer and the collector. What `cargo xtask up`, the benchmarks and most
//! end-to-end tests start.

use crate::bootstrap::{Backends, BootstrapTemplate, FilterModule};
use crate::envoy::{Envoy, EnvoyOptions, EnvoySpec};
use crate::error::Result;
use crate::paths::filter_wasm;
use crate::stub::StubServer;

/// The example plugin configuration (`envoy/plugin-config.example.json`).
pub const EXAMPLE_PLUGIN_CONFIGURATION: &str =
    include_str!("../../envoy/plugin-config.example.json");
/// The TEST-ONLY key set the stub issuer publishes by default.
const TEST_JWKS: &str = include_str!("../../testdata/jwks.json");

/// How to start a [`LocalStack`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackOptions {
    /// The filter's JSON configuration. Cluster names in it (`issuer`, `collector`) resolve to
    /// the stack's stubs.
    pub plugin_configuration: String,
    /// How Envoy runs.
    pub envoy: EnvoyOptions,
    /// The Envoy bootstrap (`envoy/bootstrap.template.yaml` unless a test needs a listener
    /// option the shipped one leaves at Envoy's default).
    pub template: BootstrapTemplate,
    /// The JWKS the stub issuer publishes from the start.
    pub issuer_jwks: serde_json::Value,
    /// Whether `start` waits until every Wasm VM has loaded keys and read the revocation
    /// feed (when the configuration fetches them), so the first request is not a 503.
    pub wait_for_gate: bool,
}

impl Default for StackOptions {
    /// The example plugin configuration and default Envoy options (two workers).
    fn default() -> Self {
        Self {
            plugin_configuration: EXAMPLE_PLUGIN_CONFIGURATION.trim_end().to_owned(),
            envoy: EnvoyOptions::default(),
            template: BootstrapTemplate::jitgate(),
            issuer_jwks: serde_json::from_str(TEST_JWKS).unwrap_or_default(),
            wait_for_gate: true,
        }
    }
}

/// Envoy and its three stub backends. Fields drop in order: Envoy stops before the stubs.
#[derive(Debug)]
pub struct LocalStack {
    /// Envoy with the filter (cluster `upstream` → `upstream`, `issuer`, `collector`).
    pub envoy: Envoy,
    /// The OpenAI-compatible model server.
    pub upstream: StubServer,
    /// Plays the issuer: JWKS and revocation feed.
    pub issuer: StubServer,
    /// Plays the collector: OTLP/HTTP log sink.
    pub collector: StubServer,
}

impl LocalStack {
    /// Starts the stubs, then Envoy with the built filter; ready when this returns.
    pub fn start(options: StackOptions) -> Result<Self> {
        let wasm_path = filter_wasm()?;
        let upstream = StubServer::start()?;
        let issuer = StubServer::start()?;
        let collector = StubServer::start()?;
        // Keys first: the filter fetches them as soon as Envoy is up.
        issuer.set_jwks(options.issuer_jwks);
        let mut spec = EnvoySpec::jitgate(
            Backends {
                upstream: upstream.addr(),
                issuer: issuer.addr(),
                collector: collector.addr(),
            },
            FilterModule {
                wasm_path,
                plugin_configuration: options.plugin_configuration,
            },
        );
        let concurrency = options.envoy.concurrency;
        let configuration: serde_json::Value =
            serde_json::from_str(&spec.filter.plugin_configuration).unwrap_or_default();
        spec.options = options.envoy;
        spec.template = options.template;
        let envoy = Envoy::start(&spec)?;
        if options.wait_for_gate {
            // One VM per worker plus the main thread's, each fetching on its own.
            let vms = u64::from(concurrency) + 1;
            let timeout = std::time::Duration::from_secs(10);
            if configuration.pointer("/keys/fetch").is_some() {
                envoy.wait_for_counter_at_least("jitgate_keys_fetch_ok", &[], vms, timeout)?;
            }
            if configuration.get("revocation").is_some() {
                envoy.wait_for_counter_at_least("jitgate_revocation_poll_ok", &[], vms, timeout)?;
            }
        }
        Ok(Self {
            envoy,
            upstream,
            issuer,
            collector,
        })
    }
}
