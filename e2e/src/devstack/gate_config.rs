//! The filter's configuration in the local stack: the example configuration
//! (`envoy/plugin-config.example.json`, the same routes an operator starts from) pointed at
//! the stack's own issuer and collector.

use serde_json::{json, Value};

use super::options::GateTiming;
use crate::error::{Error, Result};
use crate::stack::EXAMPLE_PLUGIN_CONFIGURATION;

/// How often the filter polls the revocation feed: a revoked grant is refused within about a
/// quarter of a second, well inside the one second the walkthrough waits.
pub const REVOCATION_INTERVAL_MS: u64 = 250;

/// How long an audit record may wait in the filter before its batch is sent.
pub const AUDIT_FLUSH_INTERVAL_MS: u64 = 250;

/// The gateway's `audit.service_name`: its VMs' streams are `jitgate-gateway-local-…`, the
/// streams the collector lets the gateway's credential write.
pub const SERVICE_NAME: &str = "jitgate-gateway-local";

/// The plugin configuration for a stack whose issuer signs tokens as `issuer_url`.
pub fn plugin_configuration(
    issuer_url: &str,
    data_plane_credential: &str,
    collector_sender_credential: &str,
    timing: GateTiming,
) -> Result<Value> {
    let mut configuration: Value =
        serde_json::from_str(EXAMPLE_PLUGIN_CONFIGURATION).map_err(|error| {
            Error::Usage(format!(
                "envoy/plugin-config.example.json is not JSON: {error}"
            ))
        })?;
    configuration["issuer"] = json!(issuer_url);
    configuration["revocation"] = json!({
        "cluster": "issuer",
        "path": "/v1/revocations",
        "interval_ms": REVOCATION_INTERVAL_MS,
        "max_staleness_ms": 10_000,
        "credential": data_plane_credential,
    });
    configuration["audit"]["credential"] = json!(collector_sender_credential);
    configuration["audit"]["service_name"] = json!(SERVICE_NAME);
    // Records reach the collector a quarter of a second after the call, so an export taken
    // right after a walkthrough step already holds it.
    configuration["audit"]["flush_interval_ms"] = json!(AUDIT_FLUSH_INTERVAL_MS);
    if timing == GateTiming::FilterDefaults {
        let revocation = configuration["revocation"].as_object_mut();
        revocation.map(|revocation| revocation.remove("interval_ms"));
        let audit = configuration["audit"].as_object_mut();
        audit.map(|audit| audit.remove("flush_interval_ms"));
    }
    Ok(configuration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_configuration_is_pointed_at_the_local_issuer_and_collector() {
        let configuration = plugin_configuration(
            "http://127.0.0.1:8380",
            "feed-secret",
            "sender-secret",
            GateTiming::Local,
        )
        .unwrap();
        assert_eq!(configuration["issuer"], "http://127.0.0.1:8380");
        assert_eq!(configuration["revocation"]["credential"], "feed-secret");
        assert_eq!(configuration["audit"]["credential"], "sender-secret");
        assert_eq!(configuration["audit"]["cluster"], "collector");
        // The routes are the example's, unchanged.
        let example: Value = serde_json::from_str(EXAMPLE_PLUGIN_CONFIGURATION).unwrap();
        assert_eq!(configuration["routes"], example["routes"]);
    }

    #[test]
    fn with_the_filter_defaults_neither_interval_is_set() {
        let configuration = plugin_configuration(
            "http://127.0.0.1:8380",
            "f",
            "s",
            GateTiming::FilterDefaults,
        )
        .unwrap();
        assert!(configuration["revocation"].get("interval_ms").is_none());
        assert!(configuration["audit"].get("flush_interval_ms").is_none());
        assert_eq!(configuration["revocation"]["credential"], "f");
    }
}
