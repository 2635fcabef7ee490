//! The local stack: a real Envoy running the built filter, in front of stub servers playing the
//! model server, the issuer and the collector. What `cargo xtask up`, the benchmarks and most
//! end-to-end tests start.

use crate::bootstrap::{Backends, FilterModule};
use crate::envoy::{Envoy, EnvoyOptions, EnvoySpec};
use crate::error::Result;
use crate::paths::filter_wasm;
use crate::stub::StubServer;

/// The example plugin configuration (`envoy/plugin-config.example.json`).
const EXAMPLE_PLUGIN_CONFIGURATION: &str = include_str!("../../envoy/plugin-config.example.json");

/// How to start a [`LocalStack`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackOptions {
    /// The filter's JSON configuration. Cluster names in it (`issuer`, `collector`) resolve to
    /// the stack's stubs.
    pub plugin_configuration: String,
    /// How Envoy runs.
    pub envoy: EnvoyOptions,
}

impl Default for StackOptions {
    /// The example plugin configuration and default Envoy options (two workers).
    fn default() -> Self {
        Self {
            plugin_configuration: EXAMPLE_PLUGIN_CONFIGURATION.trim_end().to_owned(),
            envoy: EnvoyOptions::default(),
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
        spec.options = options.envoy;
        let envoy = Envoy::start(&spec)?;
        Ok(Self {
            envoy,
            upstream,
            issuer,
            collector,
        })
    }
}
