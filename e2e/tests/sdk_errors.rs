//! What a client using the official `openai` Python SDK sees when the gate refuses it,
//! through a real Envoy with the built filter: the SDK shows `error.message` in the
//! exception's text (and nothing else of the body), and exposes `error.code` and `error.type`,
//! so the refusal's reason and what to do about it reach the person at the terminal — not a
//! bare `Error code: 403`. A used-up budget is not retried by the SDK (one request reaches the
//! gateway); a refusal for scope names the scope and the `jitgate request` line.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Command;

use jitgate_conformance::catalog::{standard_claims, STANDARD_TIMES};
use jitgate_conformance::recipe::Recipe;
use jitgate_conformance::testkeys::TestKey;
use jitgate_e2e::devstack::OPENAI_PYTHONPATH_ENV;
use jitgate_e2e::gate::conformance_plugin_configuration;
use jitgate_e2e::tokens::{grant_token, now};
use jitgate_e2e::{repo_root, LocalStack, StackOptions};
use serde_json::{json, Value};

const MODEL: &str = "meta-llama/Llama-3.1-8B-Instruct";

/// The `openai` package, where `cargo xtask test` (or `cargo xtask up`) installed it.
fn openai_python_path() -> PathBuf {
    std::env::var_os(OPENAI_PYTHONPATH_ENV)
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".tools/openai"))
}

/// Runs one chat completion with the SDK and returns what it raised, as JSON:
/// `{"class", "str", "status", "code", "type"}`, or `{"class": null}` on success.
fn sdk_call(stack: &LocalStack, token: &str, model: &str) -> Value {
    const SCRIPT: &str = r#"
import json, sys
import openai
client = openai.OpenAI(base_url=sys.argv[1], api_key=sys.argv[2])
try:
    client.chat.completions.create(model=sys.argv[3], messages=[{"role": "user", "content": "hi"}])
    print(json.dumps({"class": None}))
except openai.APIStatusError as error:
    print(json.dumps({"class": type(error).__name__, "str": str(error), "status": error.status_code,
                      "code": error.code, "type": error.type}))
"#;
    let output = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(stack.envoy.url("/v1"))
        .arg(token)
        .arg(model)
        .env("PYTHONPATH", openai_python_path())
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "the SDK script failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the script prints JSON")
}

fn stack() -> LocalStack {
    let mut configuration = conformance_plugin_configuration(200);
    configuration["audit"] = json!({"cluster": "collector", "flush_interval_ms": 100});
    LocalStack::start(StackOptions {
        plugin_configuration: configuration.to_string(),
        ..StackOptions::default()
    })
    .expect("the stack starts")
}

#[test]
fn the_sdk_shows_the_gates_message_and_code() {
    let stack = stack();
    let token = grant_token("sdk", &format!("inference:{MODEL}"));

    assert_eq!(sdk_call(&stack, &token, MODEL)["class"], Value::Null);

    let scope = sdk_call(&stack, &token, "gpt-4o");
    assert_eq!(scope["class"], "PermissionDeniedError");
    assert_eq!(
        scope["str"],
        "Error code: 403 - the grant does not cover this request, which needs \
         inference:gpt-4o; request it with `jitgate request --scope inference:gpt-4o --for 1h \
         --reason \"…\"`"
    );
    assert_eq!(scope["code"], "insufficient_scope");
    assert_eq!(scope["type"], "insufficient_scope");

    let unknown = sdk_call(&stack, "not-a-token", MODEL);
    assert_eq!(unknown["class"], "AuthenticationError");
    assert_eq!(
        unknown["str"],
        "Error code: 401 - the token is not a well-formed JWS"
    );
    assert_eq!(unknown["code"], "malformed_token");
    assert_eq!(unknown["type"], "invalid_token");
}

#[test]
fn a_used_up_budget_reads_as_such_and_is_not_retried() {
    let stack = stack();
    let mut claims = standard_claims("sdk-budget");
    claims.insert("scope".into(), format!("inference:{MODEL}").into());
    claims.insert("limits".into(), json!({"requests": 1}));
    let token = Recipe::honest(TestKey::Ed25519, claims, STANDARD_TIMES).token(now());

    assert_eq!(sdk_call(&stack, &token, MODEL)["class"], Value::Null);
    let before = stack.envoy.settled_stats().unwrap();
    let exhausted = sdk_call(&stack, &token, MODEL);
    assert_eq!(exhausted["class"], "PermissionDeniedError");
    assert_eq!(exhausted["code"], "budget_exhausted");
    assert!(
        exhausted["str"].as_str().unwrap().starts_with(
            "Error code: 403 - the grant's budget (requests or model tokens) is used up"
        ),
        "{exhausted}"
    );
    // The SDK retries 408, 409, 429 and 5xx; a 403 goes out once.
    let after = stack.envoy.settled_stats().unwrap();
    let denied = |stats: &jitgate_e2e::prometheus::PrometheusStats| {
        stats
            .counter("jitgate_denied_budget_exhausted", &[])
            .unwrap_or(0)
    };
    assert_eq!(denied(&after) - denied(&before), 1);
}
