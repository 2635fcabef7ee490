//! The whole access flow with the real issuer (in-process, demo identities) behind a real
//! Envoy running the filter: ask → auto-approved → token → call allowed; a training request
//! waits for a reviewer, the requester cannot approve it, another person does → allowed;
//! revoked → refused on every worker within one poll interval. And Envoy's own `jwt_authn`,
//! pointed at the issuer's JWKS URL, accepts the issuer's tokens.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use jitgate_e2e::gate::conformance_plugin_configuration;
use jitgate_e2e::issuer::RunningIssuer;
use jitgate_e2e::wait::within;
use jitgate_e2e::{
    filter_wasm, http_client, Backends, BootstrapTemplate, Envoy, EnvoySpec, FilterModule,
    RawRequest, StubServer,
};
use serde_json::{json, Value};

const MODEL: &str = "meta-llama/Llama-3.1-8B-Instruct";

struct Stack {
    issuer: RunningIssuer,
    upstream: StubServer,
    envoy: Envoy,
    _data: tempfile::TempDir,
}

fn start(template: Option<BootstrapTemplate>) -> Stack {
    let data = tempfile::tempdir().unwrap();
    let issuer = RunningIssuer::start(data.path()).expect("the issuer starts");
    let upstream = StubServer::start().unwrap();
    let collector = StubServer::start().unwrap();
    let mut spec = EnvoySpec::jitgate(
        Backends {
            upstream: upstream.addr(),
            issuer: issuer.addr(),
            collector: collector.addr(),
        },
        FilterModule {
            wasm_path: filter_wasm().unwrap(),
            plugin_configuration: conformance_plugin_configuration(200).to_string(),
        },
    );
    if let Some(template) = template {
        spec.template = template;
    }
    let envoy = Envoy::start(&spec).expect("Envoy starts");
    Stack {
        issuer,
        upstream,
        envoy,
        _data: data,
    }
}

/// Calls the issuer as a demo identity.
fn issuer_call(
    stack: &Stack,
    who: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let client = http_client().unwrap();
    let url = stack.issuer.url(path);
    let request = match method {
        "POST" => client.post(url).json(&body.unwrap_or(json!({}))),
        _ => client.get(url),
    };
    let response = request
        .bearer_auth(format!("jgt_demo_{who}"))
        .send()
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

fn token_for(stack: &Stack, who: &str, id: &str) -> String {
    let (status, issued) = issuer_call(stack, who, "POST", &format!("/v1/grants/{id}/token"), None);
    assert_eq!(status, 200, "{issued}");
    issued["token"].as_str().unwrap().to_owned()
}

fn call(stack: &Stack, token: &str, path: &str, model: &str) -> (u16, Value) {
    let authorization = format!("Bearer {token}");
    let body = json!({"model": model, "messages": []}).to_string();
    let headers = [
        ("authorization", authorization.as_str()),
        ("content-type", "application/json"),
    ];
    let response = stack
        .envoy
        .raw(RawRequest {
            method: "POST",
            target: path,
            headers: &headers,
            body: body.as_bytes(),
        })
        .unwrap();
    (
        response.status,
        serde_json::from_slice(&response.body).unwrap_or(Value::Null),
    )
}

#[test]
fn ask_approve_call_review_revoke_through_envoy() {
    let stack = start(None);

    // Small inference scope: the example policy approves it at once.
    let (status, request) = issuer_call(
        &stack,
        "alice",
        "POST",
        "/v1/requests",
        Some(json!({
            "scopes": [format!("inference:{MODEL}")], "duration": "1h", "reason": "e2e: evaluate the 8B model",
        })),
    );
    assert_eq!(status, 201, "{request}");
    assert_eq!(request["state"], "active", "{request}");
    let inference_id = request["id"].as_str().unwrap().to_owned();
    let token = token_for(&stack, "alice", &inference_id);
    assert!(within(Duration::from_secs(10), || call(
        &stack,
        &token,
        "/v1/chat/completions",
        MODEL
    )
    .0 == 200)
    .is_some());
    let seen = stack.upstream.requests_to("/v1/chat/completions");
    let last = seen.last().unwrap();
    assert_eq!(last.header("x-jitgate-subject"), Some("alice"));
    assert_eq!(last.header("x-jitgate-grant"), Some(inference_id.as_str()));
    assert_eq!(last.header("authorization"), None);

    let (status, refused) = call(&stack, &token, "/v1/chat/completions", "gpt-4o");
    assert_eq!(
        (status, refused["reason"].as_str()),
        (403, Some("insufficient_scope"))
    );

    // Training needs a reviewer; the requester may not be it.
    let (status, training) = issuer_call(
        &stack,
        "alice",
        "POST",
        "/v1/requests",
        Some(json!({
            "scopes": ["training:llama-3-8b"], "duration": "2h", "reason": "e2e: fine-tune on the support set",
        })),
    );
    assert_eq!(status, 201, "{training}");
    assert_eq!(training["state"], "pending", "{training}");
    let training_id = training["id"].as_str().unwrap().to_owned();
    let (status, own) = issuer_call(
        &stack,
        "alice",
        "POST",
        &format!("/v1/requests/{training_id}/approve"),
        Some(json!({"comment": "mine"})),
    );
    assert_eq!(
        (status, own["error"].as_str()),
        (403, Some("self_review")),
        "{own}"
    );
    let (status, approved) = issuer_call(
        &stack,
        "bob",
        "POST",
        &format!("/v1/requests/{training_id}/approve"),
        Some(json!({"comment": "ok for the support set"})),
    );
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["state"], "active", "{approved}");
    let training_token = token_for(&stack, "alice", &training_id);
    assert_eq!(
        call(
            &stack,
            &training_token,
            "/v1/fine_tuning/jobs",
            "llama-3-8b"
        )
        .0,
        200
    );

    // Revoked: refused on every worker within one poll interval (200 ms here).
    let (status, revoked) = issuer_call(
        &stack,
        "alice",
        "POST",
        &format!("/v1/grants/{inference_id}/revoke"),
        Some(json!({"reason": "done"})),
    );
    assert_eq!(status, 200, "{revoked}");
    let refused_everywhere = within(Duration::from_secs(2), || {
        (0..6).all(|_| {
            let (status, body) = call(&stack, &token, "/v1/chat/completions", MODEL);
            status == 401 && body["reason"] == "revoked"
        })
    })
    .is_some();
    assert!(
        refused_everywhere,
        "the revocation did not reach every worker in time"
    );
    assert_eq!(
        call(
            &stack,
            &training_token,
            "/v1/fine_tuning/jobs",
            "llama-3-8b"
        )
        .0,
        200,
        "other grants untouched"
    );
}

#[test]
fn envoy_jwt_authn_accepts_the_issuers_tokens_from_its_jwks_url() {
    let template = BootstrapTemplate::new(
        "interop-jwt-authn",
        include_str!("../../envoy/interop-jwt-authn.template.yaml"),
    );
    let stack = start(Some(template));
    let (status, request) = issuer_call(
        &stack,
        "alice",
        "POST",
        "/v1/requests",
        Some(json!({
            "scopes": [format!("inference:{MODEL}")], "duration": "1h", "reason": "interop",
        })),
    );
    assert_eq!(status, 201, "{request}");
    let token = token_for(&stack, "alice", request["id"].as_str().unwrap());
    let models = |token: &str| {
        let authorization = format!("Bearer {token}");
        let headers = [("authorization", authorization.as_str())];
        let request = RawRequest {
            method: "GET",
            target: "/v1/models",
            headers: &headers,
            body: b"",
        };
        stack.envoy.raw(request).unwrap()
    };
    let accepted = models(&token);
    assert_eq!(accepted.status, 200, "{}", accepted.text());
    assert_eq!(
        models(&format!("{token}A")).status,
        401,
        "a tampered token is refused"
    );
}
