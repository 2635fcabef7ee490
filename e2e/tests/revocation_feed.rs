//! The revocation feed between the real issuer (in-process) and a real Envoy running the
//! filter, where it used to fail open (security issue 13, findings 3 and 4):
//! - a freshly started Envoy, facing more revocations than one feed page holds, refuses the
//!   newest from the first answer it gives that is not 503 — it reads every page before it
//!   counts as current, instead of one page per poll interval;
//! - an issuer restarted on a fresh database under a running Envoy (its positions start
//!   again at 0): the gateway is told its cursor is unknown, reads the new feed from the
//!   beginning, and a revocation made there is enforced.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use jitgate_e2e::gate::conformance_plugin_configuration;
use jitgate_e2e::issuer::RunningIssuer;
use jitgate_e2e::wait::within;
use jitgate_e2e::{
    filter_wasm, http_client, Backends, Envoy, EnvoySpec, FilterModule, RawRequest, StubServer,
};
use serde_json::{json, Value};

const MODEL: &str = "meta-llama/Llama-3.1-8B-Instruct";
/// One more than the issuer's feed page (`store::revocations::PAGE_SIZE`).
const REVOCATIONS: usize = 1001;

struct Gateway {
    envoy: Envoy,
    _upstream: StubServer,
    _collector: StubServer,
}

fn gateway(issuer: &RunningIssuer, interval_ms: u64) -> Gateway {
    let upstream = StubServer::start().unwrap();
    let collector = StubServer::start().unwrap();
    let spec = EnvoySpec::jitgate(
        Backends {
            upstream: upstream.addr(),
            issuer: issuer.addr(),
            collector: collector.addr(),
        },
        FilterModule {
            wasm_path: filter_wasm().unwrap(),
            plugin_configuration: conformance_plugin_configuration(interval_ms).to_string(),
        },
    );
    Gateway {
        envoy: Envoy::start(&spec).expect("Envoy starts"),
        _upstream: upstream,
        _collector: collector,
    }
}

/// Calls the issuer as alice, expecting `expected`.
fn as_alice(
    client: &reqwest::blocking::Client,
    issuer: &RunningIssuer,
    path: &str,
    expected: u16,
) -> Value {
    let body = match path {
        "/v1/requests" => {
            json!({"scopes": [format!("inference:{MODEL}")], "duration": "1h", "reason": "e2e: feed"})
        }
        _ => json!({}),
    };
    let response = client
        .post(issuer.url(path))
        .bearer_auth("jgt_demo_alice")
        .json(&body)
        .send()
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().unwrap_or(Value::Null);
    assert_eq!(status, expected, "POST {path}: {body}");
    body
}

/// A fresh auto-approved grant: its id and a token for it.
fn grant_with_token(
    client: &reqwest::blocking::Client,
    issuer: &RunningIssuer,
) -> (String, String) {
    let request = as_alice(client, issuer, "/v1/requests", 201);
    assert_eq!(request["state"], "active", "{request}");
    let id = request["id"].as_str().unwrap().to_owned();
    let issued = as_alice(client, issuer, &format!("/v1/grants/{id}/token"), 200);
    (id, issued["token"].as_str().unwrap().to_owned())
}

fn revoke(client: &reqwest::blocking::Client, issuer: &RunningIssuer, id: &str) {
    as_alice(client, issuer, &format!("/v1/grants/{id}/revoke"), 200);
}

/// A chat call through the gate: status and refusal reason (empty when allowed).
fn chat(gateway: &Gateway, token: &str) -> (u16, String) {
    let authorization = format!("Bearer {token}");
    let body = json!({"model": MODEL, "messages": []}).to_string();
    let response = gateway
        .envoy
        .raw(RawRequest {
            method: "POST",
            target: "/v1/chat/completions",
            headers: &[
                ("authorization", authorization.as_str()),
                ("content-type", "application/json"),
            ],
            body: body.as_bytes(),
        })
        .expect("Envoy answers");
    let reason = serde_json::from_slice::<Value>(&response.body)
        .ok()
        .and_then(|body| body["reason"].as_str().map(str::to_owned))
        .unwrap_or_default();
    (response.status, reason)
}

fn copy_keys(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.join("keys")).unwrap();
    for entry in std::fs::read_dir(from.join("keys")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join("keys").join(entry.file_name())).unwrap();
    }
}

#[test]
fn a_fresh_envoy_refuses_the_newest_of_more_revocations_than_a_page_from_its_first_ready_answer() {
    let data = tempfile::tempdir().unwrap();
    // Creating and revoking a thousand grants as one identity is what the rate limits stop;
    // this test is about the feed.
    let issuer = RunningIssuer::start_with(data.path(), None, |config| {
        config.request_burst = 0;
        config.revoke_burst = 0;
    })
    .expect("the issuer starts");
    let client = http_client().unwrap();
    let (oldest, oldest_token) = grant_with_token(&client, &issuer);
    revoke(&client, &issuer, &oldest);
    for _ in 2..REVOCATIONS {
        let request = as_alice(&client, &issuer, "/v1/requests", 201);
        revoke(&client, &issuer, request["id"].as_str().unwrap());
    }
    let (newest, newest_token) = grant_with_token(&client, &issuer);
    revoke(&client, &issuer, &newest);
    let (_, unrevoked_token) = grant_with_token(&client, &issuer);

    // The default interval: one page per interval would leave the newest open for a second.
    let gateway = gateway(&issuer, 1000);
    let mut first_ready = None;
    let ready = within(Duration::from_secs(20), || {
        let answer = chat(&gateway, &newest_token);
        if answer.0 == 503 {
            return false;
        }
        first_ready = Some(answer);
        true
    });
    assert!(ready.is_some(), "the gate never became ready");
    assert_eq!(
        first_ready.unwrap(),
        (401, "revoked".to_owned()),
        "the first answer after 503 already refuses the newest revocation"
    );
    // Fresh connections reach both workers: no answer but 503 or refused, ever.
    let mut refused = 0;
    let all_refused = within(Duration::from_secs(10), || {
        let answer = chat(&gateway, &newest_token);
        assert!(
            answer.0 == 503 || answer == (401, "revoked".to_owned()),
            "{answer:?}"
        );
        refused += usize::from(answer.0 == 401);
        refused >= 20
    });
    assert!(all_refused.is_some(), "only {refused} refusals");
    assert_eq!(chat(&gateway, &oldest_token), (401, "revoked".to_owned()));
    assert_eq!(chat(&gateway, &unrevoked_token), (200, String::new()));
}

#[test]
fn an_issuer_restarted_on_a_fresh_database_is_followed_and_its_revocations_enforced() {
    let first_data = tempfile::tempdir().unwrap();
    let first = RunningIssuer::start(first_data.path()).expect("the issuer starts");
    let client = http_client().unwrap();
    let (before, before_token) = grant_with_token(&client, &first);
    for _ in 0..3 {
        let request = as_alice(&client, &first, "/v1/requests", 201);
        revoke(&client, &first, request["id"].as_str().unwrap());
    }
    revoke(&client, &first, &before);
    let gateway = gateway(&first, 200);
    let caught_up = within(Duration::from_secs(10), || {
        (0..4).all(|_| chat(&gateway, &before_token) == (401, "revoked".to_owned()))
    });
    assert!(caught_up.is_some(), "the gate never read the first feed");

    // The same address and keys, a new database: its feed positions start again at 0,
    // below the cursor every worker holds (4).
    let addr = first.addr();
    first.stop();
    let second_data = tempfile::tempdir().unwrap();
    copy_keys(first_data.path(), second_data.path());
    let second =
        RunningIssuer::start_with(second_data.path(), Some(addr), |_| {}).expect("restarts");
    let (after, after_token) = grant_with_token(&client, &second);
    let following = within(Duration::from_secs(10), || {
        (0..4).all(|_| chat(&gateway, &after_token) == (200, String::new()))
    });
    assert!(following.is_some(), "the gate never followed the new feed");

    revoke(&client, &second, &after);
    let enforced = within(Duration::from_secs(5), || {
        (0..6).all(|_| chat(&gateway, &after_token) == (401, "revoked".to_owned()))
    });
    assert!(
        enforced.is_some(),
        "a revocation on the new database never reached the gate: {:?}",
        chat(&gateway, &after_token)
    );
    assert!(
        gateway.envoy.log().contains(
            "revocation poll failed: HTTP status 410: the issuer no longer knows our cursor"
        ),
        "the gate started again because it was told to, not by chance"
    );
    assert_eq!(
        chat(&gateway, &before_token),
        (401, "revoked".to_owned()),
        "what the gate knew stays revoked"
    );
}
