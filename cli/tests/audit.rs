#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]
//! The real `jitgate` binary end to end: `collector serve` on a loopback port with one
//! sender per gateway deployment and one for the issuer, records sent over OTLP/HTTP,
//! `audit export` to a file, `audit verify` offline — a tampered export refused with exit
//! code 1 and a precise message, and a record forged into another sender's stream refused
//! before it can take the genuine record's place.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use jitgate_collector::bench::sample_record;
use jitgate_grant::audit::otlp::{export_logs_request, Resource};
use jitgate_grant::audit::AuditRecord;

/// The `vm-` gateway deployment's credential.
const SENDER: &str = "cli-test-sender-credential";
/// The `gw-eu-` gateway deployment's credential.
const OTHER_GATEWAY: &str = "cli-test-other-gateway-credential";
/// The issuer's credential.
const ISSUER: &str = "cli-test-issuer-credential";
const REVIEWER: &str = "cli-test-reviewer-credential";
const ORIGIN: &str = "cli.test.jitgate.invalid/audit";

/// Writes `credential` to a file only its owner can read; returns its path.
fn secret_file(dir: &Path, name: &str, credential: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{credential}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// `--sender` flags for the three senders, their secret files under `dir`.
fn sender_flags(dir: &Path) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    [
        ("gateway", "vm-", "vm-gateway", SENDER),
        ("gateway", "gw-eu-", "eu-gateway", OTHER_GATEWAY),
        ("issuer", "issuer-", "issuer", ISSUER),
    ]
    .into_iter()
    .flat_map(|(kind, prefix, name, credential)| {
        let file = secret_file(dir, name, credential);
        [
            "--sender".to_owned(),
            format!("{kind}:{prefix}:{}", file.display()),
        ]
    })
    .collect()
}

/// A running `jitgate collector serve`, stopped with SIGTERM when dropped.
struct Server {
    child: Child,
    url: String,
    key: String,
}

impl Server {
    fn start(data_dir: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_jitgate"))
            .args([
                "collector",
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--origin",
                ORIGIN,
            ])
            .arg("--data-dir")
            .arg(data_dir)
            .args(sender_flags(&data_dir.with_extension("secrets")))
            .env("JITGATE_COLLECTOR_REVIEWER_CREDENTIALS", REVIEWER)
            .env("JITGATE_LOG", "warn")
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
        assert!(line.ends_with(" (sqlite log)\n"), "{line:?}");
        line.clear();
        stdout.read_line(&mut line).unwrap();
        let key = line
            .strip_prefix("checkpoint verifier key: ")
            .unwrap_or_else(|| panic!("unexpected second line: {line:?}"))
            .trim_end()
            .to_owned();
        Server { child, url, key }
    }

    fn stop(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.stop();
        }
    }
}

fn send(url: &str, stream: &str, sequences: std::ops::RangeInclusive<u64>) {
    let records: Vec<_> = sequences.map(|s| sample_record(stream, s)).collect();
    assert_eq!(send_as(url, SENDER, &records), "200 {}");
}

/// A `send_as` answer's status and JSON body.
fn refusal(answer: &str) -> (String, serde_json::Value) {
    let (status, body) = answer.split_once(' ').unwrap();
    (status.to_owned(), serde_json::from_str(body).unwrap())
}

/// Posts `records` with `credential`; returns the status and body.
fn send_as(url: &str, credential: &str, records: &[AuditRecord]) -> String {
    let body = export_logs_request(
        &Resource {
            service_name: "jitgate-filter".into(),
            instance_id: "cli-test".into(),
        },
        "0.1.0",
        records,
    );
    reqwest::blocking_post(url, credential, &body.to_string())
}

/// A tiny blocking client on a current-thread runtime, so the test needs no async.
mod reqwest {
    pub fn blocking_post(url: &str, credential: &str, body: &str) -> String {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let response = ::reqwest::Client::new()
                .post(format!("{url}/v1/logs"))
                .bearer_auth(credential)
                .header("content-type", "application/json")
                .body(body.to_owned())
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            format!("{status} {}", response.text().await.unwrap())
        })
    }
}

fn jitgate(args: &[&str]) -> (i32, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_jitgate"));
    // Only the flags given here count, whatever the environment running the tests holds.
    for (name, _) in std::env::vars() {
        if name.starts_with("JITGATE_COLLECTOR_") || name.starts_with("JITGATE_AUDIT_") {
            command.env_remove(name);
        }
    }
    let output = command
        .args(args)
        .env("JITGATE_LOG", "warn")
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn export_then_verify_offline_and_detect_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&dir.path().join("collector"));
    assert!(
        server.key.starts_with(&format!("{ORIGIN}+")),
        "{}",
        server.key
    );
    send(&server.url, "vm-cli", 1..=5);

    let export = dir.path().join("audit.jsonl");
    let export = export.to_str().unwrap();
    let (code, _, stderr) = jitgate(&[
        "audit",
        "export",
        "--collector",
        &server.url,
        "--credential",
        REVIEWER,
        "-o",
        export,
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stderr, format!("wrote {export} (7 lines)\n"));

    let checkpoint = dir.path().join("trusted.checkpoint");
    let checkpoint = checkpoint.to_str().unwrap();
    let (code, stdout, stderr) = jitgate(&[
        "audit",
        "verify",
        export,
        "--key",
        &server.key,
        "--save-checkpoint",
        checkpoint,
    ]);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "export:      JSON Lines, filter every record");
    assert!(lines[1].starts_with(&format!("checkpoint:  {ORIGIN} at size 5, root ")));
    assert!(lines[1].ends_with(" — signature OK"));
    assert_eq!(
        lines[2],
        "records:     5 verified, each included in the checkpoint, in log order"
    );
    assert_eq!(
        lines[3],
        "manifest:    signature OK, record count and digest match"
    );
    assert_eq!(lines[4], "consistency: no earlier checkpoint given");
    assert_eq!(lines[5], "gaps:        none in 1 streams");
    assert_eq!(lines[6], format!("saved:       checkpoint to {checkpoint}"));
    assert_eq!(lines[7], "OK: the export verifies");

    // One character of one record changed: exit 1 and the line that gave it away.
    let original = std::fs::read_to_string(export).unwrap();
    let tampered = dir.path().join("tampered.jsonl");
    std::fs::write(
        &tampered,
        original.replacen("user1@example.com", "user2@example.com", 1),
    )
    .unwrap();
    let (code, stdout, stderr) = jitgate(&[
        "audit",
        "verify",
        tampered.to_str().unwrap(),
        "--key",
        &server.key,
    ]);
    assert_eq!(code, 1);
    assert_eq!(stdout, "");
    assert_eq!(
        stderr,
        "verification FAILED: line 2: record at leaf index 0 (stream \"vm-cli\", sequence 1) is \
         not in the log at that position: the proof leads to a different root hash — the record \
         was changed after it was logged\n"
    );

    // The log grows; the next export proves it only grew since the saved checkpoint.
    send(&server.url, "vm-cli", 6..=8);
    let csv = dir.path().join("audit.csv");
    let csv = csv.to_str().unwrap();
    let (code, _, stderr) = jitgate(&[
        "audit",
        "export",
        "--collector",
        &server.url,
        "--credential",
        REVIEWER,
        "--format",
        "csv",
        "--decision",
        "allow",
        "--since-checkpoint",
        checkpoint,
        "-o",
        csv,
    ]);
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, stderr) = jitgate(&[
        "audit",
        "verify",
        csv,
        "--key",
        &server.key,
        "--trusted-checkpoint",
        checkpoint,
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with("export:      CSV, filter {\"decision\":\"allow\"}\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("consistency: extends the trusted checkpoint at size 5 (append-only)\n")
    );
    assert!(stdout.contains(
        "gaps:        not checked (a filtered export shows only some sequence numbers)\n"
    ));

    assert!(server.stop().success());
}

#[test]
fn usage_errors_exit_2_and_refusals_exit_1() {
    let (code, _, stderr) = jitgate(&["audit", "verify", "missing.jsonl", "--key", "not-a-key"]);
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with("jitgate audit verify: --key not-a-key: "),
        "{stderr}"
    );
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("collector"));
    let (code, _, stderr) = jitgate(&[
        "audit",
        "export",
        "--collector",
        &server.url,
        "--credential",
        "wrong-credential-123456",
    ]);
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        "jitgate audit export: the collector refused the export (401 Unauthorized): missing or unknown bearer credential\n"
    );
}

#[test]
fn serve_refuses_to_start_without_sender_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = jitgate(&[
        "collector",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        "jitgate collector serve: configuration: no senders: give each gateway deployment and \
         the issuer its own credential with --sender KIND:STREAM_PREFIX:SECRET_FILE\n"
    );
}

#[test]
fn serve_refuses_unbound_shared_or_exposed_sender_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("collector");
    let data = data.to_str().unwrap();
    let serve = |extra: &[&str]| {
        let mut args = vec![
            "collector",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data,
        ];
        args.extend_from_slice(extra);
        jitgate(&args)
    };
    let gateway = secret_file(dir.path(), "gateway", SENDER);
    let gateway_flag = format!("gateway:vm-:{}", gateway.display());

    // The old, unbound credential flag is refused with the way forward.
    let (code, _, stderr) = serve(&["--sender-credential", SENDER]);
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        "jitgate collector serve: configuration: --sender-credential and \
         --sender-credentials-file (JITGATE_COLLECTOR_SENDER_CREDENTIALS and …_FILE) are no \
         longer read: give each gateway deployment and the issuer its own credential, bound to \
         its streams, with --sender KIND:STREAM_PREFIX:SECRET_FILE (docs/audit.md, \"Senders\")\n"
    );
    // One credential for two senders.
    let issuer_flag = format!("issuer:issuer-:{}", gateway.display());
    let (code, _, stderr) = serve(&["--sender", &gateway_flag, "--sender", &issuer_flag]);
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        "jitgate collector serve: configuration: the senders of gateway records in streams \
         \"vm-\"… and of issuer records in streams \"issuer-\"… share a credential: give each \
         sender its own\n"
    );
    // A secret file others can read; the credential itself is never printed.
    std::fs::set_permissions(&gateway, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, stdout, stderr) = serve(&["--sender", &gateway_flag]);
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        format!(
            "jitgate collector serve: configuration: {} has mode 0644: a file of sender \
             credentials must be readable by its owner only (chmod 600)\n",
            gateway.display()
        )
    );
    assert!(!stdout.contains(SENDER) && !stderr.contains(SENDER));
}

#[test]
fn a_record_forged_into_another_senders_stream_is_refused_and_the_genuine_export_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("collector"));
    let stream = "gw-eu-18c2f3a4b5c-0a1b2c3d";
    let genuine: Vec<AuditRecord> = (1..=3).map(|s| sample_record(stream, s)).collect();
    assert_eq!(send_as(&server.url, OTHER_GATEWAY, &genuine[..1]), "200 {}");

    // The `vm-` deployment's credential forges the next record of the `gw-eu-` deployment,
    // and an issuer event in its own stream.
    let mut forged = sample_record(stream, 2);
    forged.subject = Some("mallory@example.com".into());
    let (status, body) = refusal(&send_as(&server.url, SENDER, &[forged]));
    assert_eq!(status, "403");
    assert_eq!(body["code"], 7);
    assert_eq!(
        body["details"][0]["@type"],
        "type.googleapis.com/google.rpc.ErrorInfo"
    );
    assert_eq!(body["details"][0]["reason"], "stream_not_permitted");
    assert_eq!(body["details"][0]["metadata"]["stream_id"], stream);
    let mut issuer_event = sample_record("vm-1", 1);
    issuer_event.route = Some("issuer".into());
    issuer_event.reason = "issuer.approved".into();
    let (status, body) = refusal(&send_as(&server.url, SENDER, &[issuer_event]));
    assert_eq!(status, "403");
    assert_eq!(body["details"][0]["reason"], "record_kind_not_permitted");
    assert_eq!(body["details"][0]["metadata"]["stream_id"], "vm-1");

    // The genuine records then land as new records, not as conflicts.
    assert_eq!(send_as(&server.url, OTHER_GATEWAY, &genuine[1..]), "200 {}");

    let export = dir.path().join("audit.jsonl");
    let export = export.to_str().unwrap();
    let (code, _, stderr) = jitgate(&[
        "audit",
        "export",
        "--collector",
        &server.url,
        "--credential",
        REVIEWER,
        "-o",
        export,
    ]);
    assert_eq!(code, 0, "{stderr}");
    let text = std::fs::read_to_string(export).unwrap();
    assert!(!text.contains("mallory@example.com"));
    let (code, stdout, stderr) = jitgate(&["audit", "verify", export, "--key", &server.key]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("records:     3 verified, each included in the checkpoint, in log order\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("gaps:        none in 1 streams\n"),
        "{stdout}"
    );
    assert!(stdout.ends_with("OK: the export verifies\n"), "{stdout}");
}
