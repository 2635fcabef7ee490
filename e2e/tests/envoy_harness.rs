//! The Envoy harness itself: failures surface with Envoy's log, instances run side by side,
//! and a graceful shutdown exits cleanly.

#![allow(clippy::expect_used)]

use std::thread;

use jitgate_e2e::ports::free_loopback_addr;
use jitgate_e2e::{filter_wasm, Backends, Envoy, EnvoySpec, Error, FilterModule, RawRequest};

fn spec(wasm_path: std::path::PathBuf) -> EnvoySpec {
    let free = || free_loopback_addr().expect("a free port");
    EnvoySpec::jitgate(
        Backends {
            upstream: free(),
            issuer: free(),
            collector: free(),
        },
        FilterModule {
            wasm_path,
            plugin_configuration: jitgate_e2e::stack::EXAMPLE_PLUGIN_CONFIGURATION.to_owned(),
        },
    )
}

fn built_filter() -> std::path::PathBuf {
    filter_wasm().expect("the filter is built")
}

#[test]
fn envoy_that_cannot_load_the_filter_fails_to_start_with_its_log() {
    let missing = built_filter().with_file_name("missing_filter.wasm");
    let error = Envoy::start(&spec(missing.clone())).expect_err("Envoy cannot start");
    assert!(matches!(error, Error::EnvoyExited { .. }), "{error}");
    let log = error.envoy_log().expect("the error carries Envoy's log");
    assert!(
        log.contains(&format!("Invalid path: {}", missing.display())),
        "log: {log}"
    );
}

#[test]
fn two_envoys_start_side_by_side_on_their_own_ports() {
    let starts: Vec<_> = (0..2)
        .map(|_| thread::spawn(|| Envoy::start(&spec(built_filter())).expect("Envoy starts")))
        .collect();
    let envoys: Vec<Envoy> = starts
        .into_iter()
        .map(|start| start.join().expect("start thread"))
        .collect();
    assert_ne!(envoys[0].listener(), envoys[1].listener());
    assert_ne!(envoys[0].admin_addr(), envoys[1].admin_addr());
    for envoy in &envoys {
        let ready = envoy
            .admin(RawRequest::get("/ready"))
            .expect("admin answers");
        assert_eq!((ready.status, ready.text()), (200, "LIVE\n".to_owned()));
        assert_eq!(
            envoy
                .counter("envoy_server_concurrency", &[])
                .expect("concurrency gauge"),
            2
        );
    }
}

#[test]
fn shutdown_asks_envoy_to_quit_and_it_exits_cleanly() {
    let envoy = Envoy::start(&spec(built_filter())).expect("Envoy starts");
    let admin = envoy.admin_addr();
    let status = envoy.shutdown().expect("Envoy exits");
    assert!(status.success(), "exit status {status}");
    assert!(
        jitgate_e2e::raw_http::send(admin, RawRequest::get("/ready")).is_err(),
        "admin still answers after shutdown"
    );
}
