#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]
//! The real `jitgate` binary with the guard: `collector serve` refuses a bad rules file at
//! start naming its file and line; `audit tail` prints a decision as it is stored; a firing
//! lands in the log, the export verifies, and `audit guard-replay` recomputes it from the
//! export alone.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use jitgate_collector::bench::sample_record;
use jitgate_grant::audit::otlp::{export_logs_request, Resource};
use jitgate_grant::audit::{AuditDecision, AuditRecord};

const SENDER: &str = "cli-guard-test-sender-credential";
const REVIEWER: &str = "cli-guard-test-reviewer-credential";

const PROBING: &str = "[[rule]]\nname = \"probing\"\nkind = \"probing\"\nrefusals = 3\nwithin = \"1m\"\naction = \"alert+revoke\"\n";

fn jitgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_jitgate"))
}

fn private_file(path: &Path, text: &str) -> PathBuf {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path.to_owned()
}

/// `collector serve` with the guard's flags for `rules`, its issuer on a closed port.
fn serve_command(dir: &Path, rules: &str) -> Command {
    let sender = private_file(&dir.join("sender"), &format!("{SENDER}\n"));
    let token = private_file(&dir.join("guard-token"), "jgt_guard_cli_test_0123456789\n");
    let rules_path = dir.join("rules.toml");
    std::fs::write(&rules_path, rules).unwrap();
    let mut command = jitgate();
    command
        .args(["collector", "serve", "--listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--sender")
        .arg(format!("gateway:vm-:{}", sender.display()))
        .arg("--guard-rules")
        .arg(&rules_path)
        .args(["--guard-issuer-url", "http://127.0.0.1:9"])
        .arg("--guard-token-file")
        .arg(&token)
        .env("JITGATE_COLLECTOR_REVIEWER_CREDENTIALS", REVIEWER)
        .env("JITGATE_LOG", "error");
    command
}

/// A running collector, stopped when dropped.
struct Server {
    child: Child,
    url: String,
    key: String,
}

impl Server {
    fn start(dir: &Path, rules: &str) -> Server {
        let mut child = serve_command(dir, rules)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let url = line
            .strip_prefix("jitgate collector listening on ")
            .and_then(|rest| rest.split(' ').next())
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_owned();
        line.clear();
        stdout.read_line(&mut line).unwrap();
        let key = line
            .strip_prefix("checkpoint verifier key: ")
            .unwrap()
            .trim_end()
            .to_owned();
        Server { child, url, key }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// Sends records over OTLP/HTTP; returns the status.
fn send(url: &str, records: &[AuditRecord]) -> u16 {
    let body = export_logs_request(
        &Resource {
            service_name: "jitgate-filter".into(),
            instance_id: "cli-guard-test".into(),
        },
        "0.1.0",
        records,
    )
    .to_string();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        reqwest::Client::new()
            .post(format!("{url}/v1/logs"))
            .bearer_auth(SENDER)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    })
}

fn refusal(sequence: u64, grant: &str, reason: &str) -> AuditRecord {
    let mut record = sample_record("vm-1", sequence);
    record.grant_id = Some(grant.into());
    record.decision = AuditDecision::Deny;
    record.reason = reason.into();
    record.status = 403;
    record.input_tokens = None;
    record.output_tokens = None;
    record
}

#[test]
fn collector_serve_refuses_a_bad_rules_file_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let output = serve_command(
        dir.path(),
        "# rules\n[[rule]]\nname = \"probing\"\nkind = \"probing\"\nrefusals = 3\nwithin = \"a while\"\naction = \"alert\"\n",
    )
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty(), "nothing served");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(&format!(
            "jitgate collector serve: {}:6: rule \"probing\": within: \"a while\" is not a duration",
            dir.path().join("rules.toml").display()
        )),
        "{stderr}"
    );
}

#[test]
fn audit_tail_prints_a_decision_as_it_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), "");
    let mut tail = jitgate()
        .args([
            "audit",
            "tail",
            "--collector",
            &server.url,
            "--decision",
            "deny",
        ])
        .env("JITGATE_AUDIT_CREDENTIAL", REVIEWER)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // It says when it follows; only then are records sent.
    let mut stderr = BufReader::new(tail.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert_eq!(
        line,
        format!("following {}/v1/tail (Ctrl-C to stop)\n", server.url)
    );
    let (lines, received) = mpsc::channel();
    let stdout = tail.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if lines.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    let allowed = sample_record("vm-1", 1);
    let denied = refusal(2, "g-watched", "insufficient_scope");
    assert_eq!(send(&server.url, &[allowed, denied]), 200);
    let printed = received
        .recv_timeout(Duration::from_secs(5))
        .expect("a line within 5 s");
    assert_eq!(
        printed,
        "2026-01-01T00:00:00.002000000Z deny insufficient_scope POST /v1/chat/completions status=403 grant=g-watched subject=user2@example.com model=meta-llama/Llama-3.1-8B-Instruct client=10.0.0.7"
    );
    let _ = Command::new("kill")
        .args(["-INT", &tail.id().to_string()])
        .status();
    assert_eq!(tail.wait().unwrap().code(), Some(0));
}

#[test]
fn a_firing_verifies_and_guard_replay_recomputes_it_from_the_export() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), PROBING);
    let records: Vec<_> = (1..=3).map(|s| refusal(s, "g-probe", "no_route")).collect();
    assert_eq!(send(&server.url, &records), 200);
    // The guard record is appended to the log (the issuer being down does not hold it up).
    let export = dir.path().join("export.jsonl");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = jitgate()
            .args(["audit", "export", "--collector", &server.url, "--output"])
            .arg(&export)
            .env("JITGATE_AUDIT_CREDENTIAL", REVIEWER)
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        let mut text = String::new();
        std::fs::File::open(&export)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        if text.contains("\"jitgate.guard\"") {
            break;
        }
        assert!(Instant::now() < deadline, "no guard record within 10 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    let verified = jitgate()
        .args(["audit", "verify", "--key", &server.key])
        .arg(&export)
        .output()
        .unwrap();
    assert_eq!(
        verified.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    let replayed = jitgate()
        .args(["audit", "guard-replay", "--rules"])
        .arg(dir.path().join("rules.toml"))
        .arg(&export)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&replayed.stdout);
    assert_eq!(replayed.status.code(), Some(0), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].starts_with("2026-01-01T00:00:00.003000000Z gf-"),
        "{stdout}"
    );
    assert!(
        lines[0].ends_with(
            " rule probing grant=g-probe evidence leaf 2: 3 refusals for scope or route (insufficient_scope, no_route) for grant g-probe in the 1m from 2026-01-01T00:00:00.000000000Z [match]"
        ),
        "{stdout}"
    );
    assert_eq!(
        lines[1],
        "4 records, 1 firings recomputed, 1 guard records in the export: the log matches"
    );
    // Under other rules the same export does not explain its firing: exit 1.
    let other = dir.path().join("other.toml");
    std::fs::write(
        &other,
        "[[rule]]\nname = \"probing\"\nkind = \"probing\"\nrefusals = 2\nwithin = \"1m\"\naction = \"alert+revoke\"\n",
    )
    .unwrap();
    let mismatch = jitgate()
        .args(["audit", "guard-replay", "--rules"])
        .arg(&other)
        .arg(&export)
        .output()
        .unwrap();
    assert_eq!(mismatch.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&mismatch.stdout).contains("[differs: logged "));
}
