//! The audit trail end to end with the real collector: Envoy (two workers) under steady load
//! ships records to `jitgate collector serve`; the collector is killed for three seconds and
//! started again on the same data; afterwards every request the model server served has
//! exactly one record, the export verifies offline with the collector's public key, and an
//! edited export does not.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use jitgate_e2e::collector::{CollectorProcess, CollectorSender, FILTER_SERVICE_NAME};
use jitgate_e2e::gate::conformance_plugin_configuration;
use jitgate_e2e::ports::free_loopback_addr;
use jitgate_e2e::tokens::grant_token;
use jitgate_e2e::{filter_wasm, Backends, Envoy, EnvoySpec, FilterModule, RawRequest, StubServer};
use serde_json::json;

const SENDER: &str = "e2e-sender-credential";
const REVIEWER: &str = "e2e-reviewer-credential";
const BODY: &str = r#"{"model":"meta-llama/Llama-3.1-8B-Instruct","messages":[]}"#;

/// How often each string value that looks like an Envoy request id (a UUID) occurs in the
/// export, in one pass over the text.
fn request_ids(text: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for piece in text.split("\"stringValue\":\"").skip(1) {
        let value = piece.split('"').next().unwrap_or_default();
        let is_uuid = value.len() == 36 && value.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
        if is_uuid {
            *counts.entry(value.to_owned()).or_insert(0) += 1;
        }
    }
    counts
}

#[test]
fn a_collector_restart_under_load_loses_nothing_and_the_export_verifies() {
    let data = tempfile::tempdir().unwrap();
    let mut collector = CollectorProcess::start(
        data.path(),
        free_loopback_addr().unwrap(),
        &[CollectorSender::gateway(FILTER_SERVICE_NAME, SENDER)],
        REVIEWER,
    )
    .expect("the collector starts");
    let upstream = StubServer::start().unwrap();
    let issuer = StubServer::start().unwrap();
    issuer.set_jwks(serde_json::from_str(include_str!("../../testdata/jwks.json")).unwrap());
    let mut configuration = conformance_plugin_configuration(200);
    configuration["audit"] = json!({"cluster": "collector", "credential": SENDER, "flush_interval_ms": 100, "timeout_ms": 1000});
    let spec = EnvoySpec::jitgate(
        Backends {
            upstream: upstream.addr(),
            issuer: issuer.addr(),
            collector: collector.addr(),
        },
        FilterModule {
            wasm_path: filter_wasm().unwrap(),
            plugin_configuration: configuration.to_string(),
        },
    );
    let envoy = Arc::new(Envoy::start(&spec).expect("Envoy starts"));
    envoy
        .wait_for_counter_at_least(
            "jitgate_revocation_poll_ok",
            &[],
            3,
            Duration::from_secs(10),
        )
        .unwrap();
    let bearer = format!("Bearer {}", grant_token("audited-load", "inference:*"));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..3)
        .map(|_| {
            let (envoy, bearer, stop) = (Arc::clone(&envoy), bearer.clone(), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut statuses = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let headers = [
                        ("authorization", bearer.as_str()),
                        ("content-type", "application/json"),
                    ];
                    let request = RawRequest {
                        method: "POST",
                        target: "/v1/chat/completions",
                        headers: &headers,
                        body: BODY.as_bytes(),
                    };
                    statuses.push(envoy.raw(request).map(|r| r.status).unwrap_or(0));
                }
                statuses
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(800));
    collector.kill();
    std::thread::sleep(Duration::from_secs(3));
    collector.restart().expect("the collector starts again");
    std::thread::sleep(Duration::from_millis(800));
    stop.store(true, Ordering::Relaxed);
    let statuses: Vec<u16> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    assert!(
        statuses.iter().all(|s| *s == 200),
        "every call succeeded: {:?}",
        statuses.iter().collect::<BTreeSet<_>>()
    );

    let served: BTreeSet<String> = upstream
        .requests()
        .iter()
        .filter_map(|r| r.header("x-request-id").map(str::to_owned))
        .collect();
    assert!(served.len() > 30, "only {} served", served.len());

    // Every VM has shipped everything (the collector acknowledged it), a checkpoint covers
    // it, then one export.
    let drained = envoy.wait_for_counter_at_least(
        "jitgate_audit_sent",
        &[],
        served.len() as u64,
        Duration::from_secs(30),
    );
    assert!(drained.is_ok(), "records still buffered: {drained:?}");
    std::thread::sleep(Duration::from_millis(1500));
    let export = data.path().join("export.jsonl");
    let export_arg = export.display().to_string();
    let (ok, output) = collector.audit(&["export", "-o", &export_arg]).unwrap();
    assert!(ok, "{output}");
    let text = std::fs::read_to_string(&export).unwrap();
    let recorded = request_ids(&text);
    for id in &served {
        assert_eq!(
            recorded.get(id),
            Some(&1),
            "request {id} has exactly one record"
        );
    }
    assert!(
        envoy.counter("jitgate_audit_batches_failed", &[]).unwrap() > 0,
        "the outage was felt"
    );
    let key = collector.verifier_key_file().display().to_string();
    let (ok, report) = collector
        .audit(&["verify", &export_arg, "--key", &key])
        .unwrap();
    assert!(ok, "{report}");
    assert!(report.contains("OK: the export verifies"), "{report}");
    assert!(report.contains("gaps:        none"), "{report}");

    let tampered = data.path().join("tampered.jsonl");
    std::fs::write(
        &tampered,
        text.replacen("\"stringValue\":\"allow\"", "\"stringValue\":\"deny\"", 1),
    )
    .unwrap();
    let (ok, report) = collector
        .audit(&["verify", &tampered.display().to_string(), "--key", &key])
        .unwrap();
    assert!(!ok, "an edited export must not verify: {report}");
    assert!(report.contains("verification FAILED"), "{report}");
}
