//! The configs in `envoy/` are ones Envoy 1.40 accepts, and the example is exactly the
//! template rendered with the example values; a broken config is refused with the reason.

#![allow(clippy::expect_used)]

use jitgate_e2e::ports::free_loopback_addr;
use jitgate_e2e::{
    filter_wasm, repo_root, validate_in, validate_yaml, Backends, BootstrapTemplate,
    BootstrapValues, Error, FilterModule,
};

/// Regenerates `envoy/envoy.yaml` instead of comparing against it.
const BLESS_ENV: &str = "JITGATE_BLESS";

fn free() -> std::net::SocketAddr {
    free_loopback_addr().expect("a free loopback port")
}

fn rendered_for_tests() -> String {
    let wasm_path = filter_wasm().expect("the filter must be built for config validation");
    let values = BootstrapValues {
        admin_port: free().port(),
        listener: free(),
        backends: Backends {
            upstream: free(),
            issuer: free(),
            collector: free(),
        },
        filter: FilterModule {
            wasm_path,
            plugin_configuration: BootstrapValues::example().filter.plugin_configuration,
        },
    };
    BootstrapTemplate::jitgate()
        .render(&values)
        .expect("the template renders")
}

#[test]
fn rendered_bootstrap_is_accepted_by_envoy_validate() {
    let yaml = rendered_for_tests();
    validate_yaml(&yaml).expect("Envoy accepts the rendered bootstrap");
}

#[test]
fn example_envoy_yaml_is_the_template_rendered_with_example_values() {
    let expected = BootstrapTemplate::jitgate()
        .render(&BootstrapValues::example())
        .expect("the template renders");
    let path = repo_root().join("envoy/envoy.yaml");
    if std::env::var_os(BLESS_ENV).is_some() {
        std::fs::write(&path, &expected).expect("write envoy/envoy.yaml");
    }
    let actual = std::fs::read_to_string(&path).expect("read envoy/envoy.yaml");
    assert!(
        actual == expected,
        "envoy/envoy.yaml is stale: regenerate it with \
         `{BLESS_ENV}=1 cargo test -p jitgate-e2e --test config_validation`"
    );
}

#[test]
fn example_envoy_yaml_is_accepted_by_envoy_validate() {
    // The example names the .wasm relative to the repository root, where `cargo xtask build`
    // puts it by default. Validate the file as it is, from a directory laid out the same way
    // around the built filter, so a custom target directory does not matter.
    let built = filter_wasm().expect("the filter must be built for config validation");
    let root = tempfile::tempdir().expect("temp dir");
    let relative_wasm = BootstrapValues::example().filter.wasm_path;
    let linked = root.path().join(&relative_wasm);
    std::fs::create_dir_all(linked.parent().expect("the .wasm path has a folder"))
        .expect("create the target folders");
    std::os::unix::fs::symlink(&built, &linked).expect("link the built filter");

    validate_in(&repo_root().join("envoy/envoy.yaml"), root.path())
        .expect("Envoy accepts envoy/envoy.yaml");
}

#[test]
fn envoy_validate_refuses_an_unknown_failure_policy_and_names_it() {
    let yaml = rendered_for_tests().replace(
        "failure_policy: FAIL_CLOSED",
        "failure_policy: FAIL_SOMETIMES",
    );
    let error = validate_yaml(&yaml).expect_err("Envoy refuses an unknown enum value");
    assert!(matches!(error, Error::ConfigRejected { .. }), "{error}");
    let output = error
        .envoy_log()
        .expect("the rejection carries Envoy's output");
    assert!(
        output.contains("FAIL_SOMETIMES"),
        "Envoy's output: {output}"
    );
}

#[test]
fn envoy_validate_refuses_a_missing_wasm_file_and_names_it() {
    let wasm_path = filter_wasm().expect("the filter must be built for config validation");
    let missing = wasm_path.with_file_name("no_such_filter.wasm");
    let yaml = rendered_for_tests().replace(
        &serde_json::Value::from(wasm_path.to_string_lossy()).to_string(),
        &serde_json::Value::from(missing.to_string_lossy()).to_string(),
    );
    let error = validate_yaml(&yaml).expect_err("Envoy refuses a missing .wasm");
    let output = error
        .envoy_log()
        .expect("the rejection carries Envoy's output");
    assert!(
        output.contains(&format!("Invalid path: {}", missing.display())),
        "Envoy's output: {output}"
    );
}
