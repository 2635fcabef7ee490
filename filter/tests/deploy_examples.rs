//! The configurations the deployment guide tells operators to copy are ones the filter
//! accepts: the Istio `WasmPlugin` example's `pluginConfig` (Istio hands it to the filter as
//! JSON) and the plain-Envoy example configuration.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use jitgate_filter::config::Settings;

fn repo_file(path: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join(path)).unwrap()
}

/// The JSON after `pluginConfig:` (written in YAML's JSON-compatible flow style).
fn istio_plugin_config() -> String {
    let yaml = repo_file("envoy/istio-wasmplugin.yaml");
    let (_, config) = yaml
        .split_once("  pluginConfig: ")
        .expect("the example has a pluginConfig");
    config.to_owned()
}

fn mesh_environment(name: &str) -> Option<String> {
    match name {
        "JITGATE_FEED_CREDENTIAL" => Some("feed-credential-from-a-secret".into()),
        "JITGATE_COLLECTOR_CREDENTIAL" => Some("collector-credential-from-a-secret".into()),
        _ => None,
    }
}

#[test]
fn the_istio_example_plugin_config_is_accepted() {
    let config = istio_plugin_config();
    let settings = Settings::from_json(config.as_bytes(), &mesh_environment);
    assert!(settings.is_ok(), "{:?}", settings.err());
}

#[test]
fn the_istio_example_needs_its_credentials_in_the_sidecar_environment() {
    let config = istio_plugin_config();
    let error = Settings::from_json(config.as_bytes(), &|_| None)
        .err()
        .map(|error| error.to_string())
        .unwrap_or_default();
    assert!(error.contains("JITGATE_FEED_CREDENTIAL"), "{error}");
}

#[test]
fn the_plain_envoy_example_config_is_accepted() {
    let config = repo_file("envoy/plugin-config.example.json");
    let settings = Settings::from_json(config.as_bytes(), &|_| None);
    assert!(settings.is_ok(), "{:?}", settings.err());
}
