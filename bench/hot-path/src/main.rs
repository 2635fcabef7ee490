//! `jitgate-bench-hot-path`: runs requests through jitgate's filter glue natively, with the
//! fake host standing in for Envoy, so the per-request path can be profiled where profilers
//! work (`valgrind --tool=callgrind`); inside Envoy's V8 they do not.
//!
//! ```sh
//! cargo build --release -p jitgate-bench-hot-path
//! valgrind --tool=callgrind target/release/jitgate-bench-hot-path cached 20000
//! ```
//!
//! Modes mirror the benchmark configurations: `cached` (one token, audit off), `audit` (one
//! token, audit records buffered), `fresh` (a new token every request), `body` (the
//! body-scoped chat route). What the host calls cost in Envoy is not in this profile, only
//! what the filter's own code does between them — but it does count them: after the run it
//! prints the host calls per request, by proxy-wasm ABI function. Not a test and not a
//! benchmark: it reports the request count and those calls, and panics on a request that is
//! not allowed.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use jitgate_conformance::bundle::JWKS;
use jitgate_conformance::catalog::{standard_claims, POLICY_JSON};
use jitgate_conformance::recipe::{Recipe, Times};
use jitgate_conformance::testkeys::TestKey;
use jitgate_filter::fake::FakeHost;
use jitgate_filter::request::{RequestFlow, Step};
use jitgate_filter::root;
use serde_json::{json, Value};

const NOW_S: i64 = 1_800_000_000;
const NOW_MS: u64 = 1_800_000_000_000;
const SCOPE: &str = "training:jobs:read inference:meta-llama/Llama-3.1-8B-Instruct";
const CHAT: &str = r#"{"model":"meta-llama/Llama-3.1-8B-Instruct","messages":[{"role":"user","content":"Say ok."}],"max_tokens":1}"#;
const USAGE: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}}"#;

fn token(name: &str) -> String {
    let mut claims = standard_claims(name);
    claims.insert("scope".into(), Value::String(SCOPE.to_owned()));
    let times = Times {
        iat: Some(-60),
        nbf: None,
        exp: Some(3600),
    };
    Recipe::honest(TestKey::Ed25519, claims, times).token(NOW_S)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().map_or("cached", String::as_str);
    let requests: usize = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(20_000);
    let mut config: Value = serde_json::from_str(POLICY_JSON).unwrap();
    config["body_check"] = json!("hold_headers");
    config["keys"] = json!({"jwks": serde_json::from_str::<Value>(JWKS).unwrap()});
    if mode == "audit" {
        // Large enough never to fill: nothing is sent in this driver.
        config["audit"] = json!({"cluster": "collector", "buffer_max_records": 1_000_000});
    }
    let mut host = FakeHost::at(NOW_MS);
    let mut state = root::configure(&mut host, config.to_string().as_bytes(), &|_| None).unwrap();
    let tokens: Vec<String> = if mode == "fresh" {
        (0..requests)
            .map(|i| token(&format!("fresh-{i}")))
            .collect()
    } else {
        vec![token("cached")]
    };
    let (method, path, body) = if mode == "body" {
        ("POST", "/v1/chat/completions", CHAT)
    } else {
        ("GET", "/v1/fine_tuning/jobs", "")
    };
    let mut crossings: BTreeMap<&'static str, u64> = BTreeMap::new();
    for i in 0..requests {
        let mut host = FakeHost::request(NOW_MS, method, path)
            .header(
                "authorization",
                &format!("Bearer {}", tokens[i % tokens.len()]),
            )
            .header("content-type", "application/json")
            .body(body.as_bytes());
        host.response_headers = vec![("content-type".into(), "application/json".into())];
        host.response_chunk = USAGE.as_bytes().to_vec();
        let mut flow = RequestFlow::new();
        let mut step = flow.on_headers(&mut state, &mut host, body.is_empty());
        if flow.awaits_body() {
            step = flow.on_body(&mut state, &mut host, body.len(), true);
        }
        assert_eq!(step, Step::Continue, "request {i}: {:?}", host.response);
        flow.on_response_headers(&state, &host);
        flow.on_response_body(&host, USAGE.len());
        flow.on_log(&mut state, &mut host);
        for (function, count) in host.crossings() {
            *crossings.entry(function).or_default() += count;
        }
    }
    println!("{mode}: {requests} requests allowed");
    let total: u64 = crossings.values().sum();
    println!(
        "host calls per request: {:.2} in all",
        total as f64 / requests as f64
    );
    for (function, count) in &crossings {
        println!("  {function}: {:.2}", *count as f64 / requests as f64);
    }
}
