#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]
//! The guard against the real issuer: `jitgate issuer serve --demo` and `jitgate collector
//! serve --guard-rules …` with the demo guard's token, both on loopback. Refusals out of
//! scope on an active grant trip the probing rule: the grant is revoked by the guard (its
//! history says so), the alert is stored at the issuer once, and usage reaches it.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use jitgate_collector::bench::sample_record;
use jitgate_grant::audit::otlp::{export_logs_request, Resource};
use jitgate_grant::audit::{AuditDecision, AuditRecord};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_jitgate");
const SENDER: &str = "cli-guard-issuer-sender-credential";
const REVIEWER: &str = "cli-guard-issuer-reviewer-credential";

/// A child process, killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_issuer(data: &Path) -> (Process, String) {
    let port = free_port();
    let child = Command::new(BIN)
        .args(["issuer", "serve", "--demo", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(data)
        .env("JITGATE_LOG", "warn")
        .env_remove("DATABASE_URL")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the issuer did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (Process(child), format!("http://127.0.0.1:{port}"))
}

fn private_file(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn start_collector(dir: &Path, issuer: &str) -> (Process, String) {
    private_file(&dir.join("sender"), &format!("{SENDER}\n"));
    private_file(&dir.join("guard-token"), "jgt_demo_guard\n");
    std::fs::write(
        dir.join("rules.toml"),
        "[[rule]]\nname = \"probing\"\nkind = \"probing\"\nrefusals = 3\nwithin = \"1h\"\naction = \"alert+revoke\"\n",
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args([
            "collector",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.join("collector"))
        .arg("--sender")
        .arg(format!("gateway:vm-:{}", dir.join("sender").display()))
        .arg("--guard-rules")
        .arg(dir.join("rules.toml"))
        .args(["--guard-issuer-url", issuer, "--guard-token-file"])
        .arg(dir.join("guard-token"))
        .env("JITGATE_COLLECTOR_REVIEWER_CREDENTIALS", REVIEWER)
        .env("JITGATE_LOG", "error")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .strip_prefix("jitgate collector listening on ")
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_owned();
    (Process(child), url)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn get(url: &str, token: &str) -> (u16, Value) {
    runtime().block_on(async {
        let response = reqwest::Client::new()
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    })
}

fn post_json(url: &str, token: &str, body: &Value) -> (u16, Value) {
    runtime().block_on(async {
        let response = reqwest::Client::new()
            .post(url)
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    })
}

fn send(collector: &str, records: &[AuditRecord]) {
    let body = export_logs_request(
        &Resource {
            service_name: "jitgate-filter".into(),
            instance_id: "cli-guard-issuer".into(),
        },
        "0.1.0",
        records,
    );
    let status = runtime().block_on(async {
        reqwest::Client::new()
            .post(format!("{collector}/v1/logs"))
            .bearer_auth(SENDER)
            .json(&body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    assert_eq!(status, 200);
}

fn within(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn probing_revokes_the_grant_at_the_issuer_and_stores_the_alert() {
    let dir = tempfile::tempdir().unwrap();
    let (_issuer, issuer) = start_issuer(&dir.path().join("issuer"));
    let (_collector, collector) = start_collector(dir.path(), &issuer);
    let (status, granted) = post_json(
        &format!("{issuer}/v1/requests"),
        "jgt_demo_alice",
        &serde_json::json!({
            "scopes": ["inference:meta-llama/Llama-3.1-8B-Instruct"],
            "duration": "2h",
            "reason": "eval",
        }),
    );
    assert_eq!(status, 201, "{granted}");
    assert_eq!(granted["state"], "active", "{granted}");
    let grant = granted["id"].as_str().unwrap().to_owned();

    // Three refusals for a model outside the grant, as a gateway records them.
    let records: Vec<AuditRecord> = (1..=3)
        .map(|sequence| {
            let mut record = sample_record("vm-1", sequence);
            record.grant_id = Some(grant.clone());
            record.subject = Some("alice".into());
            record.decision = AuditDecision::Deny;
            record.reason = "insufficient_scope".into();
            record.model = Some("meta-llama/Llama-3.1-405B-Instruct".into());
            record.status = 403;
            record.input_tokens = None;
            record.output_tokens = None;
            record
        })
        .collect();
    send(&collector, &records);

    let request_url = format!("{issuer}/v1/requests/{grant}");
    within(
        Duration::from_secs(10),
        "the guard revokes the grant",
        || get(&request_url, "jgt_demo_alice").1["state"] == "revoked",
    );
    let (_, request) = get(&request_url, "jgt_demo_alice");
    let history = request["history"].as_array().cloned().unwrap_or_default();
    let text = serde_json::to_string(&history).unwrap();
    assert!(
        text.contains("guard: rule probing fired: 3 refusals for scope or route"),
        "{text}"
    );
    assert!(text.contains("\"guard\""), "the guard is the actor: {text}");

    let (status, alerts) = get(
        &format!("{issuer}/v1/alerts?grant_id={grant}"),
        "jgt_demo_root",
    );
    assert_eq!(status, 200, "{alerts}");
    let alerts = alerts
        .get("alerts")
        .and_then(Value::as_array)
        .cloned()
        .or_else(|| alerts.as_array().cloned())
        .unwrap_or_else(|| panic!("no alert list in {alerts}"));
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["rule"], "probing");
    assert_eq!(alerts[0]["action"], "alert+revoke");
    assert_eq!(alerts[0]["counts"]["refusals"], 3);
    assert_eq!(alerts[0]["grant_id"], grant.as_str());
}
