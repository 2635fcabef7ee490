//! `jitgate request --wait` and `jitgate status ID --wait` against a real `jitgate issuer
//! serve --demo` process on a loopback port: the waiting CLI runs as a child process while
//! the test decides as a reviewer, and the exit status, stdout and stderr are checked. Every
//! wait is bounded: a CLI that outlives its limit is killed and the test fails.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_jitgate");
/// Needs one approval from group ml-leads (bob) when alice asks for an hour.
const REVIEWED: &str = "inference:gpt-4o";
/// Approved by policy at once for up to four hours.
const AT_ONCE: &str = "inference:meta-llama/Llama-3.1-8B-Instruct";

/// A demo issuer on a loopback port, restartable on the same port and data.
struct Issuer {
    child: Option<Child>,
    port: u16,
    url: String,
    home: tempfile::TempDir,
    data: tempfile::TempDir,
}

impl Drop for Issuer {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Issuer {
    fn start() -> Issuer {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut issuer = Issuer {
            child: None,
            port,
            url: format!("http://127.0.0.1:{port}"),
            home: tempfile::tempdir().unwrap(),
            data: tempfile::tempdir().unwrap(),
        };
        issuer.resume();
        issuer
    }

    /// Starts the issuer process (again) on its port and data directory.
    fn resume(&mut self) {
        let child = Command::new(BIN)
            .args(["issuer", "serve", "--demo", "--listen"])
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--data-dir")
            .arg(self.data.path())
            .env("JITGATE_LOG", "warn")
            .env_remove("DATABASE_URL")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "the issuer did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn command(&self, who: &str, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .env("JITGATE_SERVER", &self.url)
            .env("JITGATE_TOKEN", format!("jgt_demo_{who}"))
            .env("HOME", self.home.path())
            .env_remove("JITGATE_CONFIG");
        command
    }

    fn run(&self, who: &str, args: &[&str]) -> Output {
        self.command(who, args).output().unwrap()
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

    /// Starts a waiting CLI in the background.
    fn spawn(&self, who: &str, args: &[&str]) -> Waiting {
        let mut child = self
            .command(who, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = collect(child.stdout.take().unwrap());
        let stderr = collect(child.stderr.take().unwrap());
        Waiting {
            child,
            started: Instant::now(),
            stdout,
            stderr,
        }
    }

    /// The id of the one request waiting for bob's review, once there is one.
    fn pending_for_bob(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let queue = self.ok("bob", &["status", "--reviewable", "--json"]);
            let queue: serde_json::Value = serde_json::from_str(&queue).unwrap();
            if let Some(id) = queue["requests"][0]["id"].as_str() {
                return id.to_owned();
            }
            assert!(Instant::now() < deadline, "no request reached bob's queue");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Text read from a child's pipe as it comes, readable while the child runs.
struct Collected {
    text: Arc<Mutex<String>>,
    reader: JoinHandle<()>,
}

fn collect(mut pipe: impl Read + Send + 'static) -> Collected {
    let text = Arc::new(Mutex::new(String::new()));
    let shared = Arc::clone(&text);
    let reader = std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(read) = pipe.read(&mut buffer) {
            if read == 0 {
                break;
            }
            shared
                .lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buffer[..read]));
        }
    });
    Collected { text, reader }
}

/// A CLI running in the background.
struct Waiting {
    child: Child,
    started: Instant,
    stdout: Collected,
    stderr: Collected,
}

/// How a background CLI ended.
struct Ended {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Waiting {
    fn stderr_so_far(&self) -> String {
        self.stderr.text.lock().unwrap().clone()
    }

    /// Waits until stderr contains `text`, at most `limit`.
    fn until_stderr_has(&self, text: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.stderr_so_far().contains(text) {
            assert!(
                Instant::now() < deadline,
                "stderr has no {text:?} within {limit:?}: {:?}",
                self.stderr_so_far()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the CLI to exit, at most `limit` after it started; kills it and fails the
    /// test beyond.
    fn finish_within(mut self, limit: Duration) -> Ended {
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if self.started.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "the CLI was still running after {limit:?}; stderr: {:?}",
                    self.stderr_so_far()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let took = self.started.elapsed();
        let text = |collected: Collected| {
            collected.reader.join().unwrap();
            Arc::try_unwrap(collected.text)
                .unwrap()
                .into_inner()
                .unwrap()
        };
        let (stdout, stderr) = (text(self.stdout), text(self.stderr));
        Ended {
            code: status.code(),
            stdout,
            stderr,
            took,
        }
    }
}

fn ask_with_wait<'a>(scope: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "request", "--scope", scope, "--for", "1h", "--reason", "eval", "--wait",
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn an_approval_while_waiting_exits_0_with_the_grant() {
    let issuer = Issuer::start();
    let waiting = issuer.spawn("alice", &ask_with_wait(REVIEWED, &[]));
    let id = issuer.pending_for_bob();
    std::thread::sleep(Duration::from_millis(1_500));
    issuer.ok("bob", &["approve", &id, "-m", "go ahead"]);

    let ended = waiting.finish_within(Duration::from_secs(20));
    assert_eq!(ended.code, Some(0), "{}", ended.stderr);
    assert_eq!(
        ended.stderr,
        format!(
            "{id}: waiting for 1 more approval from group ml-leads (expires in 1d) …\n\
             approved by bob (1 of 1)\n"
        )
    );
    assert!(
        ended.stdout.starts_with(&format!(
            "{id}  active\n  requester:  alice\n  scopes:     {REVIEWED}\n"
        )),
        "{}",
        ended.stdout
    );
    assert!(
        ended
            .stdout
            .contains(" pending -> approved  by bob: go ahead\n"),
        "{}",
        ended.stdout
    );
}

#[test]
fn a_denial_while_waiting_exits_3_with_the_comment() {
    let issuer = Issuer::start();
    let waiting = issuer.spawn("alice", &ask_with_wait(REVIEWED, &["--json"]));
    let id = issuer.pending_for_bob();
    issuer.ok("bob", &["deny", &id, "-m", "use the small model"]);

    let ended = waiting.finish_within(Duration::from_secs(20));
    assert_eq!(ended.code, Some(3), "{}", ended.stderr);
    assert!(
        ended
            .stderr
            .ends_with("\ndenied by bob: use the small model\n"),
        "{}",
        ended.stderr
    );
    let request: serde_json::Value = serde_json::from_str(&ended.stdout).unwrap();
    assert_eq!(request["id"], id.as_str());
    assert_eq!(request["state"], "denied");
    assert_eq!(request["reviews"][0]["comment"], "use the small model");
}

#[test]
fn nobody_deciding_exits_5_when_the_timeout_runs_out() {
    let issuer = Issuer::start();
    let waiting = issuer.spawn("alice", &ask_with_wait(REVIEWED, &["--timeout", "2s"]));
    let ended = waiting.finish_within(Duration::from_secs(10));
    assert_eq!(ended.code, Some(5), "{}", ended.stderr);
    assert!(ended.took >= Duration::from_secs(2), "{:?}", ended.took);
    let id = ended.stdout.split_whitespace().next().unwrap().to_owned();
    assert!(
        ended.stdout.starts_with(&format!("{id}  pending\n")),
        "{}",
        ended.stdout
    );
    assert_eq!(
        ended.stderr,
        format!(
            "{id}: waiting for 1 more approval from group ml-leads (expires in 1d) …\n\
             {id} is still pending after 2s; wait again with: jitgate status {id} --wait\n"
        )
    );
}

#[test]
fn a_grant_by_policy_returns_at_once() {
    let issuer = Issuer::start();
    let ended = issuer
        .spawn("alice", &ask_with_wait(AT_ONCE, &[]))
        .finish_within(Duration::from_secs(10));
    assert_eq!(ended.code, Some(0), "{}", ended.stderr);
    assert_eq!(ended.stderr, "");
    let id = ended.stdout.split_whitespace().next().unwrap().to_owned();
    assert!(
        ended.stdout.starts_with(&format!("{id}  active\n")),
        "{}",
        ended.stdout
    );
    assert!(
        ended.stdout.contains("   pending -> approved  by policy: "),
        "{}",
        ended.stdout
    );

    // Waiting on a request that is already decided answers at once too.
    let again = issuer.run("alice", &["status", &id, "--wait", "--json"]);
    assert_eq!(again.status.code(), Some(0));
    let request: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(request["state"], "active");
}

#[test]
fn ended_requests_exit_4_and_refusals_exit_1_at_once() {
    let issuer = Issuer::start();
    let text = issuer.ok(
        "alice",
        &[
            "request", "--scope", REVIEWED, "--for", "1h", "--reason", "eval",
        ],
    );
    let id = text.split_whitespace().nth(1).unwrap().to_owned();
    issuer.ok("alice", &["cancel", &id]);
    let cancelled = issuer.run("alice", &["status", &id, "--wait"]);
    assert_eq!(cancelled.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&cancelled.stdout).starts_with(&format!("{id}  cancelled\n")));

    let granted = issuer.ok(
        "alice",
        &[
            "request", "--scope", AT_ONCE, "--for", "1h", "--reason", "eval", "--json",
        ],
    );
    let granted: serde_json::Value = serde_json::from_str(&granted).unwrap();
    let granted = granted["id"].as_str().unwrap();
    issuer.ok("alice", &["revoke", granted]);
    let revoked = issuer.run("alice", &["status", granted, "--wait"]);
    assert_eq!(revoked.status.code(), Some(4));

    // Someone else's request is not found for dana: the wait ends with the issuer's message.
    let unseen = issuer.run("dana", &["status", &id, "--wait"]);
    assert_eq!(unseen.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&unseen.stderr),
        format!("error: request {id} not found\nCheck the id with `jitgate status`; you only see your requests and those you may review.\n")
    );
    let unknown = issuer.run("mallory", &["status", &id, "--wait"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).starts_with("error: unknown API token\n"));
}

#[test]
fn the_wait_outlives_an_issuer_restart() {
    let mut issuer = Issuer::start();
    let waiting = issuer.spawn("alice", &ask_with_wait(REVIEWED, &["--timeout", "60s"]));
    let id = issuer.pending_for_bob();
    waiting.until_stderr_has("waiting for 1 more approval", Duration::from_secs(10));
    issuer.stop();
    waiting.until_stderr_has("cannot reach the issuer", Duration::from_secs(15));
    issuer.resume();
    issuer.ok("bob", &["approve", &id]);

    let ended = waiting.finish_within(Duration::from_secs(60));
    assert_eq!(ended.code, Some(0), "{}", ended.stderr);
    // The outage is told once, as news (no "error:"), and so is its end.
    let lines: Vec<&str> = ended.stderr.lines().collect();
    assert_eq!(lines.len(), 4, "{}", ended.stderr);
    assert!(
        lines[1].starts_with(&format!("cannot reach the issuer at {}: ", issuer.url))
            && lines[1].ends_with("; still waiting, trying again every few seconds"),
        "{}",
        lines[1]
    );
    assert_eq!(
        lines[2..],
        [
            "in contact with the issuer again",
            "approved by bob (1 of 1)"
        ]
    );
    assert!(ended.stdout.starts_with(&format!("{id}  active\n")));
}

#[test]
fn wait_flags_are_checked_before_anything_is_sent() {
    // No issuer: clap refuses these before a connection is tried.
    let usage = |args: &[&str]| {
        let output = Command::new(BIN)
            .args(args)
            .env("JITGATE_SERVER", "http://127.0.0.1:1")
            .env("JITGATE_TOKEN", "jgt_demo_alice")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        String::from_utf8(output.stderr).unwrap()
    };
    let no_id = usage(&["status", "--wait"]);
    assert!(
        no_id.contains("<ID>") && no_id.contains("--wait"),
        "{no_id}"
    );
    let timeout_alone = usage(&["status", "req_1", "--timeout", "5s"]);
    assert!(
        timeout_alone.contains("--timeout") && timeout_alone.contains("--wait"),
        "{timeout_alone}"
    );
    let request_timeout = usage(&[
        "request",
        "--scope",
        AT_ONCE,
        "--for",
        "1h",
        "--timeout",
        "5s",
    ]);
    assert!(request_timeout.contains("--wait"), "{request_timeout}");
    let bad_timeout = usage(&["status", "req_1", "--wait", "--timeout", "soon"]);
    assert!(bad_timeout.contains("--timeout"), "{bad_timeout}");
}
