//! The access commands end to end: a real `jitgate issuer serve --demo` process on a loopback
//! port, driven by the real `jitgate` binary, with exact output checked.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_jitgate");

struct Issuer {
    child: Child,
    url: String,
    home: tempfile::TempDir,
    _data: tempfile::TempDir,
}

impl Drop for Issuer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_issuer() -> Issuer {
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(BIN)
        .args([
            "issuer",
            "serve",
            "--demo",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .arg("--data-dir")
        .arg(data.path())
        .env("JITGATE_LOG", "warn")
        .env_remove("DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the issuer did not start listening on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Issuer {
        child,
        url: format!("http://127.0.0.1:{port}"),
        home,
        _data: data,
    }
}

impl Issuer {
    fn run(&self, who: &str, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .env("JITGATE_SERVER", &self.url)
            .env("JITGATE_TOKEN", format!("jgt_demo_{who}"))
            .env("HOME", self.home.path())
            .env_remove("JITGATE_CONFIG")
            .output()
            .unwrap()
    }

    fn ok(&self, who: &str, args: &[&str]) -> String {
        let output = self.run(who, args);
        assert!(
            output.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    fn json(&self, who: &str, args: &[&str]) -> serde_json::Value {
        let mut args = args.to_vec();
        args.push("--json");
        serde_json::from_str(&self.ok(who, &args)).unwrap()
    }
}

#[test]
fn request_review_token_revoke_through_the_cli() {
    let issuer = start_issuer();
    let small = "inference:meta-llama/Llama-3.1-8B-Instruct";

    let granted = issuer.json(
        "alice",
        &[
            "request", "--scope", small, "--for", "2h", "--reason", "eval",
        ],
    );
    assert_eq!(granted["state"], "active");
    let granted_id = granted["id"].as_str().unwrap();
    let exported = issuer.ok("alice", &["token", granted_id, "--export"]);
    assert!(
        exported.starts_with("export OPENAI_API_KEY=eyJ"),
        "{exported}"
    );
    assert_eq!(exported.matches('.').count(), 2, "{exported}");

    let text = issuer.ok(
        "alice",
        &[
            "request",
            "--scope",
            "training:llama-3-8b",
            "--for",
            "8h",
            "--reason",
            "fine-tune",
        ],
    );
    let id = text.split_whitespace().nth(1).unwrap().to_owned();
    assert_eq!(
        text,
        format!(
            "Requested: {id} (training:llama-3-8b) is pending.\n\
             waiting for 1 more approval from group ml-leads; expires in 1d if nobody decides\n\
             Check on it with: jitgate status {id}\n"
        )
    );

    let own = issuer.run("alice", &["approve", &id]);
    assert_eq!(own.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&own.stderr),
        "error: you cannot review your own request, whatever your role\nAsk someone in the reviewing group to approve it.\n"
    );
    let queue = issuer.ok("bob", &["status", "--reviewable"]);
    assert!(
        queue.contains(&format!("{id}  pending    alice       training:llama-3-8b")),
        "{queue}"
    );

    let approved = issuer.ok("bob", &["approve", &id, "-m", "ok"]);
    assert_eq!(approved, format!("Approved {id}. It is now active.\n"));
    let token = issuer.ok("alice", &["token", &id]);
    assert!(token.starts_with("eyJ") && token.ends_with('\n'));

    let grants = issuer.ok("alice", &["grants"]);
    assert_eq!(grants.lines().count(), 3, "{grants}");

    let revoked = issuer.ok("bob", &["revoke", &id, "--reason", "done"]);
    assert_eq!(
        revoked,
        format!("{id}: revoked; tokens of this grant are refused by the gateway\n")
    );
    let detail = issuer.ok("alice", &["status", &id]);
    assert!(
        detail.starts_with(&format!(
            "{id}  revoked\n  requester:  alice\n  scopes:     training:llama-3-8b\n  duration:   8h\n  reason:     fine-tune\n"
        )),
        "{detail}"
    );
    assert!(
        detail.contains("   active -> revoked   by bob: done\n"),
        "{detail}"
    );

    let late = issuer.run("alice", &["token", &id]);
    assert_eq!(late.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&late.stderr),
        format!("error: grant {id} is revoked: revoked; tokens of this grant are refused by the gateway\nSee `jitgate status <id>` for where the request stands.\n")
    );
}

#[test]
fn cli_errors_say_what_to_do() {
    let issuer = start_issuer();
    let unknown = issuer.run("mallory", &["grants"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&unknown.stderr),
        "error: unknown API token\nCheck JITGATE_TOKEN (or --token): it must be an API token (jgt_…) or a current OIDC ID token the issuer knows.\n"
    );
    let denied = issuer.run(
        "dana",
        &[
            "request",
            "--scope",
            "training:x",
            "--for",
            "1h",
            "--reason",
            "r",
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&denied.stderr),
        "error: no policy lets you request scope training:x\nAsk for a narrower scope or a shorter time, or ask an admin which policy applies to you.\n"
    );
    let bad_scope = issuer.run(
        "alice",
        &[
            "request",
            "--scope",
            "training x",
            "--for",
            "1h",
            "--reason",
            "r",
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&bad_scope.stderr),
        "error: scopes[0]: scope \"training x\" is invalid at position 8: character ' ' (U+0020) is not allowed; use ASCII letters, digits and . _ - / : @ +\n"
    );
    let no_token = Command::new(BIN)
        .args(["grants"])
        .env("JITGATE_SERVER", &issuer.url)
        .env("HOME", issuer.home.path())
        .env_remove("JITGATE_TOKEN")
        .env_remove("JITGATE_CONFIG")
        .output()
        .unwrap();
    assert_eq!(no_token.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&no_token.stderr)
        .starts_with("error: no credential.\nRun `jitgate login`"));
    let empty = issuer.ok("dana", &["grants"]);
    assert_eq!(
        empty,
        "No active grants. Ask with: jitgate request --scope <kind:resource> --for 2h --reason \"…\"\n"
    );
}

#[test]
fn admin_chores_work_on_files() {
    let dir = tempfile::tempdir().unwrap();
    let rotate = |dir: &std::path::Path| {
        Command::new(BIN)
            .args(["issuer", "rotate-key", "--data-dir"])
            .arg(dir)
            .output()
            .unwrap()
    };
    let first = rotate(dir.path());
    assert!(first.status.success());
    let second = rotate(dir.path());
    let text = String::from_utf8(second.stdout).unwrap();
    assert!(text.starts_with("New signing key "), "{text}");
    assert!(dir.path().join("keys/current.jwk.json").exists());
    assert!(dir.path().join("keys/previous.jwk.json").exists());

    let made = Command::new(BIN)
        .args([
            "issuer",
            "new-api-token",
            "--subject",
            "ci-bot",
            "--group",
            "ml-eng",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(made.stdout).unwrap();
    let token = text.lines().next().unwrap().rsplit(' ').next().unwrap();
    assert!(token.starts_with("jgt_") && token.len() == 47, "{token}");
    let line = text.lines().nth(1).unwrap();
    let entry: serde_json::Value = serde_json::from_str(line.split_once(": ").unwrap().1).unwrap();
    assert_eq!(
        entry["sha256"],
        jitgate_issuer::identity::api_tokens::digest(token)
    );
    assert!(!line.contains(token));

    let policy = dir.path().join("bad.cedar");
    std::fs::write(
        &policy,
        "permit (principal, action == Jitgate::Action::\"fly\", resource);\n",
    )
    .unwrap();
    let checked = Command::new(BIN)
        .args(["issuer", "check-policy", "--policy"])
        .arg(&policy)
        .output()
        .unwrap();
    assert_eq!(checked.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&checked.stderr);
    assert!(
        stderr.starts_with(&format!("{}:1:", policy.display())),
        "{stderr}"
    );
    assert!(stderr.contains("fly"), "{stderr}");
}

/// A call as the demo guard (`jgt_demo_guard`): the collector's guard does this over HTTP.
fn as_guard(issuer: &Issuer, method: reqwest::Method, path: &str, body: serde_json::Value) -> u16 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        reqwest::Client::new()
            .request(method, format!("{}{path}", issuer.url))
            .bearer_auth("jgt_demo_guard")
            .json(&body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    })
}

#[test]
fn budgets_usage_and_alerts_through_the_cli() {
    let issuer = start_issuer();
    let prod = "inference:prod/llama-70b";
    let missing = issuer.run(
        "erin",
        &[
            "request", "--scope", prod, "--for", "1h", "--reason", "latency",
        ],
    );
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&missing.stderr),
        "error: limits.requests: policy requires a limit on requests for scope inference:prod/llama-70b; ask for one\n\
         Set the budget with --max-requests N and --max-tokens N, within what the policy allows.\n"
    );
    let over = issuer.run(
        "erin",
        &[
            "request",
            "--scope",
            prod,
            "--for",
            "1h",
            "--reason",
            "latency",
            "--max-requests",
            "501",
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&over.stderr),
        "error: limits.requests: 501 is more than policy allows for scope inference:prod/llama-70b (at most 500)\n\
         Set the budget with --max-requests N and --max-tokens N, within what the policy allows.\n"
    );

    let text = issuer.ok(
        "erin",
        &[
            "request",
            "--scope",
            prod,
            "--for",
            "1h",
            "--reason",
            "latency",
            "--max-requests",
            "20",
        ],
    );
    let id = text.split_whitespace().nth(1).unwrap().to_owned();
    assert_eq!(
        text,
        format!(
            "Requested: {id} (inference:prod/llama-70b) is pending.\n\
             waiting for 1 more approval from group sre-leads; expires in 1d if nobody decides\n\
             Check on it with: jitgate status {id}\n\
             Budget: 20 requests, 100000 tokens (tokens of this grant carry it).\n"
        )
    );
    // The reviewer sees the budget before approving.
    let before = issuer.ok("frank", &["status", &id]);
    assert!(
        before.contains(
            "  duration:   1h\n  budget:     20 requests, 100000 tokens\n  reason:     latency\n"
        ),
        "{before}"
    );
    issuer.ok("frank", &["approve", &id]);

    let usage = serde_json::json!({"requests": 12, "tokens": 3400, "denied": 1, "as_of": "2026-11-24T19:46:15.123456789Z"});
    assert_eq!(
        as_guard(
            &issuer,
            reqwest::Method::PUT,
            &format!("/v1/grants/{id}/usage"),
            usage
        ),
        200
    );
    let alert = serde_json::json!({
        "grant_id": id, "subject": "erin", "rule": "probing", "action": "alert",
        "window_seconds": 60, "counts": {"limit": 3, "refusals": 3}, "detail": "3 refusals",
        "fired_at": "2026-11-24T19:46:16.5Z", "firing_id": "gf-cli-1"
    });
    assert_eq!(
        as_guard(&issuer, reqwest::Method::POST, "/v1/alerts", alert),
        201
    );

    let detail = issuer.ok("erin", &["status", &id]);
    assert!(
        detail.contains(
            "  budget:     20 requests, 100000 tokens\n  used:       requests 12/20, tokens 3400/100000, 1 refused (as of 2026-11-24T19:46:15Z)\n"
        ),
        "{detail}"
    );
    assert!(
        detail.ends_with(
            "      alert              by guard: guard: rule probing fired: 3 refusals\n"
        ),
        "{detail}"
    );
    let grants = issuer.ok("erin", &["grants"]);
    assert_eq!(
        grants,
        format!(
            "ID                            REQUESTER   USAGE                               SCOPES\n\
             {id}  erin        requests 12/20, tokens 3400/100000  inference:prod/llama-70b\n"
        )
    );

    let alerts = issuer.ok("frank", &["alerts"]);
    assert_eq!(
        alerts,
        format!(
            "FIRED                 GRANT                         RULE        ACTION        DETAIL\n\
             2026-11-24T19:46:16Z  {id}  probing     alert         3 refusals\n"
        )
    );
    assert_eq!(issuer.ok("frank", &["alerts", "--grant", &id]), alerts);
    assert_eq!(
        issuer.ok("frank", &["alerts", "--since", "2026-11-24T19:46:17Z"]),
        "No alerts.\n"
    );
    let listed = issuer.json("root", &["alerts"]);
    assert_eq!(listed["alerts"][0]["firing_id"], "gf-cli-1");
    let own = issuer.run("erin", &["alerts", "--grant", &id]);
    assert_eq!(own.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&own.stderr),
        format!("error: alerts are listed for reviewers and admins; `jitgate status {id}` shows your grant's alerts in its history\n")
    );

    // The guard's credential asks for nothing.
    let guard = issuer.run(
        "guard",
        &[
            "request",
            "--scope",
            "inference:tiny-llama",
            "--for",
            "1h",
            "--reason",
            "r",
        ],
    );
    assert_eq!(guard.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&guard.stderr),
        "error: the guard's identity may only revoke grants, post alerts and report usage\n"
    );
}
