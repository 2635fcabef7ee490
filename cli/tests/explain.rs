//! `jitgate explain` through the built binary: a few vectors end to end (token from a file,
//! from stdin, a body file, keys inline and from `--jwks`), with the exact exit codes,
//! words and JSON, and the usage errors that must exit 2 without a decision. Every vector
//! is checked through the same decision in the binary's unit tests (`explain::vectors`).

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use jitgate_conformance::bundle::{FILES, JWKS};
use jitgate_conformance::catalog::POLICY_JSON;
use jitgate_conformance::Vector;
use serde_json::Value;

fn vector(name: &str) -> Vector {
    let text = FILES
        .iter()
        .find(|(file, _)| {
            file.ends_with(&format!("/{name}.json")) || *file == format!("{name}.json")
        })
        .unwrap_or_else(|| panic!("no vector {name}"))
        .1;
    serde_json::from_str(text).unwrap()
}

fn token_of(vector: &Vector) -> String {
    vector.request.authorization[0]
        .strip_prefix("Bearer ")
        .unwrap()
        .to_owned()
}

fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

/// The test policy with its keys inline, as a plugin configuration file.
fn inline_config(dir: &Path) -> PathBuf {
    let mut config: Value = serde_json::from_str(POLICY_JSON).unwrap();
    config["body_check"] = serde_json::json!("hold_headers");
    config["keys"] = serde_json::json!({"jwks": serde_json::from_str::<Value>(JWKS).unwrap()});
    let path = dir.join("plugin-config.json");
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

fn explain(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_jitgate"))
        .arg("explain")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn an_allowed_request_exits_0_and_says_what_the_grant_covers() {
    let dir = tempfile::tempdir().unwrap();
    let vector = vector("eddsa-valid-chat");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{}\n", token_of(&vector))).unwrap();
    let body_file = dir.path().join("body.json");
    std::fs::write(&body_file, vector.request.body.as_deref().unwrap()).unwrap();
    let output = explain(
        &[
            "--token-file",
            token_file.to_str().unwrap(),
            "--method",
            "POST",
            "--path",
            "/v1/chat/completions",
            "--body-file",
            body_file.to_str().unwrap(),
            "--config",
            repo_file("envoy/plugin-config.example.json")
                .to_str()
                .unwrap(),
            "--jwks",
            repo_file("testdata/jwks.json").to_str().unwrap(),
            "--now",
            &vector.now.to_string(),
        ],
        None,
    );
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.starts_with("ALLOW 200 granted\n"), "{text}");
    assert!(
        text.contains("  needs     inference:meta-llama/Llama-3.1-8B-Instruct\n"),
        "{text}"
    );
    assert!(
        text.contains("  grant     grant-eddsa-valid-chat for alice@example.com\n"),
        "{text}"
    );
    assert!(
        text.contains("  expires   2026-01-01T00:05:00Z (in 5m)\n"),
        "{text}"
    );
    assert!(!text.contains(&token_of(&vector)));
}

#[test]
fn a_scope_the_grant_lacks_exits_1_naming_the_scope_to_request() {
    let dir = tempfile::tempdir().unwrap();
    let vector = vector("eddsa-valid-chat");
    let config = inline_config(dir.path());
    let now = vector.now.to_string();
    let output = explain(
        &[
            "--token",
            "-",
            "--method",
            "POST",
            "--path",
            "/v1/chat/completions",
            "--model",
            "gpt-4o",
            "--config",
            config.to_str().unwrap(),
            "--now",
            &now,
            "--json",
        ],
        Some(&token_of(&vector)),
    );
    assert_eq!(output.status.code(), Some(1));
    let json: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["outcome"], "deny");
    assert_eq!(json["reason"], "insufficient_scope");
    assert_eq!(json["status"], 403);
    assert_eq!(json["required_scope"], "inference:gpt-4o");
    assert_eq!(json["grant"]["grant_id"], "grant-eddsa-valid-chat");
    assert_eq!(json["grant"]["expires_at"], vector.now + 300);
    assert!(json["next"]
        .as_str()
        .unwrap()
        .contains("jitgate request --scope inference:gpt-4o"));
    assert!(!stdout(&output).contains(&token_of(&vector)));
}

#[test]
fn a_revoked_grant_and_an_expired_token_are_denied_with_their_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let config = inline_config(dir.path());
    let valid = vector("eddsa-valid-chat");
    let token = token_of(&valid);
    let common = |now: String, extra: &[&str]| {
        let mut args = vec![
            "--token".to_owned(),
            token.clone(),
            "--method".into(),
            "POST".into(),
            "--path".into(),
            "/v1/chat/completions".into(),
            "--model".into(),
            "meta-llama/Llama-3.1-8B-Instruct".into(),
            "--config".into(),
            config.to_str().unwrap().into(),
            "--now".into(),
            now,
            "--json".into(),
        ];
        args.extend(extra.iter().map(|arg| (*arg).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        explain(&args, None)
    };
    let revoked = common(
        valid.now.to_string(),
        &["--revoked", "grant-eddsa-valid-chat"],
    );
    assert_eq!(revoked.status.code(), Some(1));
    let json: Value = serde_json::from_str(&stdout(&revoked)).unwrap();
    assert_eq!(
        (json["reason"].as_str(), json["status"].as_u64()),
        (Some("revoked"), Some(401))
    );
    // `exp` plus the 30 s leeway is the first instant the token is refused.
    let expired = common("2026-01-01T00:05:30Z".into(), &[]);
    assert_eq!(expired.status.code(), Some(1));
    let json: Value = serde_json::from_str(&stdout(&expired)).unwrap();
    assert_eq!(json["reason"], "expired");
    let still_valid = common("2026-01-01T00:05:29Z".into(), &[]);
    assert_eq!(still_valid.status.code(), Some(0));
}

#[test]
fn usage_and_configuration_errors_exit_2_without_a_decision() {
    let dir = tempfile::tempdir().unwrap();
    let example = repo_file("envoy/plugin-config.example.json");
    let base = ["--method", "GET", "--path", "/v1/models"];
    // Keys fetched from the issuer, and no --jwks given.
    let output = explain(
        &[&base[..], &["--config", example.to_str().unwrap()]].concat(),
        None,
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(stdout(&output).is_empty());
    assert!(String::from_utf8_lossy(&output.stderr).contains("pass them with --jwks"));
    // A configuration the filter would refuse names its field.
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, POLICY_JSON.replacen("\"issuer\"", "\"isuer\"", 1)).unwrap();
    let output = explain(
        &[&base[..], &["--config", broken.to_str().unwrap()]].concat(),
        None,
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(stderr.contains("isuer"), "{stderr}");
    // An empty token file, and a time that is not a time.
    let config = inline_config(dir.path());
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let config = config.to_str().unwrap();
    let output = explain(
        &[
            &base[..],
            &["--config", config, "--token-file", empty.to_str().unwrap()],
        ]
        .concat(),
        None,
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no token found"));
    let output = explain(
        &[&base[..], &["--config", config, "--now", "tomorrow"]].concat(),
        None,
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--now \"tomorrow\""));
    // A route whose scope needs the model, with no model given: undecided, exit 2 — but
    // without a token the gate denies before the model matters.
    let route = [
        "--method",
        "POST",
        "--path",
        "/v1/chat/completions",
        "--config",
        config,
    ];
    let token = token_of(&vector("eddsa-valid-chat"));
    let now = vector("eddsa-valid-chat").now.to_string();
    let output = explain(
        &[&route[..], &["--now", &now, "--token", &token]].concat(),
        None,
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(stdout(&output).starts_with("UNDECIDED 200 granted\n"));
    assert!(stdout(&output).contains("pass --model or --body-file"));
    let output = explain(&[&route[..], &["--now", &now]].concat(), None);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).starts_with("DENY 401 missing_token\n"));
}

#[test]
fn a_used_up_budget_is_explained_with_the_counts_given() {
    let dir = tempfile::tempdir().unwrap();
    let config = inline_config(dir.path());
    let vector = vector("budget-requests-exhausted");
    let token = token_of(&vector);
    let now = vector.now.to_string();
    let run = |used_requests: &str, json: bool| {
        let mut args = vec![
            "--token",
            token.as_str(),
            "--method",
            "POST",
            "--path",
            "/v1/chat/completions",
            "--model",
            "meta-llama/Llama-3.1-8B-Instruct",
            "--config",
            config.to_str().unwrap(),
            "--now",
            now.as_str(),
            "--used-requests",
            used_requests,
        ];
        if json {
            args.push("--json");
        }
        explain(&args, None)
    };
    let exhausted = run("20", false);
    assert_eq!(exhausted.status.code(), Some(1));
    let text = stdout(&exhausted);
    assert!(text.starts_with("DENY 403 budget_exhausted\n"), "{text}");
    assert!(text.contains("\n  check     budget: "), "{text}");
    assert!(
        text.contains(
            "\n  next      the grant's budget is used up and retrying will not help: request a \
             new grant, or a larger budget, with jitgate request\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("\n  budget    requests 20/20, tokens 0 (no limit) as given by"),
        "{text}"
    );
    let json: Value = serde_json::from_str(&stdout(&run("20", true))).unwrap();
    assert_eq!(
        (
            json["reason"].as_str(),
            json["status"].as_u64(),
            &json["grant"]["limits"]
        ),
        (
            Some("budget_exhausted"),
            Some(403),
            &serde_json::json!({"requests": 20})
        )
    );
    let one_left = run("19", true);
    assert_eq!(one_left.status.code(), Some(0));
}
