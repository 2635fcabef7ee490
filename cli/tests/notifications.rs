#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]
//! Notifications end to end: `jitgate issuer serve --notifications …` as a real process,
//! and a real HTTP receiver (`webhook_receiver.py`) that checks every Standard Webhooks
//! signature with the `standardwebhooks` package from PyPI — an implementation independent
//! of the issuer's. Covered: routing (`@notify`, requesters, break-glass to security, Slack),
//! a receiver down for a while, an issuer killed with SIGKILL mid-delivery, dead letters
//! listed and retried with the CLI, and two replicas on PostgreSQL delivering each message
//! once.

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_jitgate");
/// Where `cargo xtask setup` put the `standardwebhooks` package.
const WEBHOOKS_PYTHONPATH_ENV: &str = "JITGATE_WEBHOOKS_PYTHONPATH";

/// A child process, killed when dropped.
struct Process(Child);

impl Process {
    /// SIGKILL, like a crash: no graceful shutdown.
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn within(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The receiver, on `port`, logging to `dir/<port>.jsonl`.
struct Receiver {
    _process: Process,
    log: PathBuf,
}

impl Receiver {
    fn start(dir: &Path, port: u16, extra: &[&str]) -> Receiver {
        let python_path = std::env::var_os(WEBHOOKS_PYTHONPATH_ENV)
            .filter(|path| !path.is_empty())
            .unwrap_or_else(|| {
                panic!("{WEBHOOKS_PYTHONPATH_ENV} is not set: run the tests with `cargo xtask test` (setup installs standardwebhooks)")
            });
        let log = dir.join(format!("receiver-{port}.jsonl"));
        let child = Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/webhook_receiver.py"))
            .args(["--port", &port.to_string(), "--secret-file"])
            .arg(dir.join("hook.whsec"))
            .arg("--log")
            .arg(&log)
            .args(extra)
            .env("PYTHONPATH", python_path)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        wait_for_port(port, "the webhook receiver");
        Receiver {
            _process: Process(child),
            log,
        }
    }

    /// Every request it got, in order.
    fn records(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// How many requests have arrived (counted before any is held).
    fn arrivals(&self) -> usize {
        let mut path = self.log.clone().into_os_string();
        path.push(".arrivals");
        std::fs::read_to_string(path)
            .map(|text| text.lines().count())
            .unwrap_or(0)
    }

    /// The requests it accepted, each once per webhook id (Slack's have none: each counts).
    fn accepted(&self) -> Vec<Value> {
        let mut seen = std::collections::HashSet::new();
        self.records()
            .into_iter()
            .filter(|record| record["answered"].as_u64().is_some_and(|s| s < 300))
            .filter(|record| match record["webhook_id"].as_str() {
                Some(id) => seen.insert(id.to_owned()),
                None => true,
            })
            .collect()
    }
}

fn private_file(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// The example policy, with `@notify` on two permits.
fn policy_file(dir: &Path) -> PathBuf {
    let example = include_str!("../../issuer/policy/example.cedar");
    let text = example
        .replace(
            "@id(\"ml-eng-inference\")",
            "@id(\"ml-eng-inference\")\n@notify(\"ml-leads\")",
        )
        .replace(
            "@id(\"ml-eng-datasets\")",
            "@id(\"ml-eng-datasets\")\n@notify(\"stewards\")",
        );
    assert_ne!(text, example);
    let path = dir.join("policy.cedar");
    std::fs::write(&path, text).unwrap();
    path
}

/// A notifications file: webhooks for ml-leads and requests, Slack for security, and a
/// `stewards` webhook pointing at a path the receiver answers 404.
fn notifications_file(dir: &Path, receiver_port: u16, delivery: &str) -> PathBuf {
    private_file(
        &dir.join("slack.url"),
        &format!("http://127.0.0.1:{receiver_port}/slack/security\n"),
    );
    let hook = |channel: &str| {
        format!(
            "[channels.{channel}]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:{receiver_port}/hook/{channel}\"\nsecret_file = \"hook.whsec\"\n"
        )
    };
    let text = format!(
        "[routing]\nreviews = \"ml-leads\"\nrequesters = \"requests\"\nsecurity = \"security\"\n\n\
         {}{}[channels.stewards]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:{receiver_port}/nowhere\"\nsecret_file = \"hook.whsec\"\n\
         [channels.security]\nkind = \"slack\"\nurl_file = \"slack.url\"\n\n[delivery]\n{delivery}\n",
        hook("ml-leads"),
        hook("requests"),
    );
    let path = dir.join("notifications.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Makes the shared webhook secret with the CLI.
fn webhook_secret(dir: &Path) {
    let output = Command::new(BIN)
        .args(["issuer", "new-webhook-secret", "--out"])
        .arg(dir.join("hook.whsec"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let mode = std::fs::metadata(dir.join("hook.whsec"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

struct Issuer {
    process: Option<Process>,
    port: u16,
    args: Vec<String>,
}

impl Issuer {
    fn start(dir: &Path, name: &str, database_url: Option<&str>) -> Issuer {
        let port = free_port();
        let mut args: Vec<String> = [
            "issuer",
            "serve",
            "--demo",
            "--request-burst",
            "0",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--issuer-url",
            &format!("http://127.0.0.1:{port}"),
        ]
        .map(str::to_owned)
        .to_vec();
        args.extend([
            "--data-dir".into(),
            dir.join(name).display().to_string(),
            "--policy".into(),
            dir.join("policy.cedar").display().to_string(),
            "--notifications".into(),
            dir.join("notifications.toml").display().to_string(),
        ]);
        if let Some(url) = database_url {
            args.extend(["--database-url".into(), url.into()]);
        }
        let mut issuer = Issuer {
            process: None,
            port,
            args,
        };
        issuer.restart(dir, name);
        issuer
    }

    fn restart(&mut self, dir: &Path, name: &str) {
        self.process = None;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(format!("{name}.log")))
            .unwrap();
        let child = Command::new(BIN)
            .args(&self.args)
            .env("JITGATE_LOG", "info")
            .env_remove("DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.process = Some(Process(child));
        wait_for_port(self.port, "the issuer");
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn post(&self, path: &str, token: &str, body: &Value) -> Value {
        runtime().block_on(async {
            let response = reqwest::Client::new()
                .post(format!("{}{path}", self.url()))
                .bearer_auth(token)
                .json(body)
                .send()
                .await
                .unwrap();
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            assert!(status.is_success(), "{path}: {status} {body}");
            body
        })
    }

    /// Asks for `scope` as `who`; the request's id.
    fn request(&self, who: &str, scope: &str, extra: Value) -> String {
        let mut body = json!({"scopes": [scope], "duration": "1h", "reason": "notification test"});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        let created = self.post("/v1/requests", &format!("jgt_demo_{who}"), &body);
        created["id"].as_str().unwrap().to_owned()
    }

    /// A gauge or counter from `/metrics`.
    fn metric(&self, name: &str) -> i64 {
        let url = format!("{}/metrics", self.url());
        let text =
            runtime().block_on(async { reqwest::get(url).await.unwrap().text().await.unwrap() });
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} not in {text}"))
    }

    /// `jitgate notifications …` as root (an admin).
    fn cli(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("notifications")
            .args(args)
            .env("JITGATE_SERVER", self.url())
            .env("JITGATE_TOKEN", "jgt_demo_root")
            .env_remove("JITGATE_CONFIG")
            .output()
            .unwrap()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn by_path(records: &[Value]) -> HashMap<String, Vec<Value>> {
    let mut paths: HashMap<String, Vec<Value>> = HashMap::new();
    for record in records {
        let body: Value = serde_json::from_str(record["body"].as_str().unwrap()).unwrap();
        paths
            .entry(record["path"].as_str().unwrap().to_owned())
            .or_default()
            .push(body);
    }
    paths
}

const FAST_RETRIES: &str =
    "max_attempts = 50\nfirst_retry = \"1s\"\nmax_retry = \"2s\"\ntimeout = \"3s\"\nclaim = \"5s\"";

#[test]
fn messages_are_signed_routed_and_wait_out_a_receiver_that_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    webhook_secret(dir);
    policy_file(dir);
    let receiver_port = free_port();
    notifications_file(dir, receiver_port, FAST_RETRIES);
    let issuer = Issuer::start(dir, "issuer", None);

    // The receiver is down: every change is still taken, and its messages wait.
    let pending = issuer.request("alice", "inference:gpt-4o", json!({}));
    issuer.post(
        &format!("/v1/requests/{pending}/approve"),
        "jgt_demo_bob",
        &json!({"comment": "ok for the eval"}),
    );
    let break_glass = issuer.request(
        "erin",
        "inference:prod/llama-70b",
        json!({"urgency": "emergency"}),
    );
    // The guard flags alice's grant: security hears of it.
    issuer.post(
        "/v1/alerts",
        "jgt_demo_guard",
        &json!({
            "grant_id": pending, "subject": "alice", "rule": "probing", "action": "alert",
            "window_seconds": 3600, "counts": {"refusals": 3}, "detail": "3 refusals out of scope",
            "fired_at": "2026-12-05T09:00:00Z", "firing_id": "gf-notify-1"
        }),
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(issuer.metric("jitgate_notifications{state=\"pending\"}"), 5);
    assert!(issuer.metric("jitgate_notification_attempts_total{outcome=\"failed\"}") >= 5);
    assert_eq!(issuer.metric("jitgate_notifications{state=\"dead\"}"), 0);

    let receiver = Receiver::start(dir, receiver_port, &[]);
    within(Duration::from_secs(20), "every message delivered", || {
        issuer.metric("jitgate_notifications{state=\"delivered\"}") == 5
    });
    let records = receiver.records();
    for record in &records {
        if record["path"].as_str().unwrap().starts_with("/hook/") {
            assert_eq!(
                record["verified"], true,
                "standardwebhooks refused {record}"
            );
        }
    }
    let paths = by_path(&receiver.accepted());
    // alice's pending review (the permit's @notify) and erin's (the routing's reviews).
    let leads = &paths["/hook/ml-leads"];
    assert_eq!(leads.len(), 2, "{leads:?}");
    assert!(leads.iter().all(|m| m["type"] == "request.review_pending"));
    let alice = leads
        .iter()
        .find(|m| m["data"]["request_id"] == pending.as_str())
        .unwrap();
    assert_eq!(alice["data"]["requester"], "alice");
    assert_eq!(alice["data"]["scopes"], json!(["inference:gpt-4o"]));
    assert_eq!(alice["data"]["approvals_missing"], 1);
    assert_eq!(
        alice["data"]["url"],
        format!("{}/review#request-{pending}", issuer.url())
    );
    // The decision, to the requesters' channel, naming who and why.
    let decided = &paths["/hook/requests"];
    assert_eq!(decided.len(), 1, "{decided:?}");
    assert_eq!(decided[0]["type"], "request.approved");
    assert_eq!(decided[0]["data"]["actor"], "bob");
    assert_eq!(decided[0]["data"]["comment"], "ok for the eval");
    assert_eq!(decided[0]["data"]["state"], "active");
    // Break-glass and the guard's alert reach security, on Slack: text, blocks and a link
    // to the request.
    let security = &paths["/slack/security"];
    assert_eq!(security.len(), 2, "{security:?}");
    let text = |message: &Value| message["text"].as_str().unwrap().to_owned();
    let alert = security
        .iter()
        .find(|m| text(m).starts_with("the guard flagged alice's grant"))
        .unwrap_or_else(|| panic!("{security:?}"));
    assert!(alert["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap()
        .contains("probing"));
    let emergency = security
        .iter()
        .find(|m| text(m).starts_with("erin asks for inference:prod/llama-70b"))
        .unwrap_or_else(|| panic!("{security:?}"));
    let link = emergency["blocks"][1]["elements"][0]["text"]
        .as_str()
        .unwrap();
    assert!(
        link.contains(&format!("/review#request-{break_glass}|")),
        "{link}"
    );
    // Every webhook attempt of one message carries one id; no two messages share one.
    let ids: std::collections::HashSet<&str> = records
        .iter()
        .filter_map(|record| record["webhook_id"].as_str())
        .collect();
    assert_eq!(ids.len(), 3);
}

#[test]
fn a_killed_issuer_loses_nothing_and_dead_letters_are_listed_and_retried() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    webhook_secret(dir);
    policy_file(dir);
    let receiver_port = free_port();
    notifications_file(
        dir,
        receiver_port,
        "max_attempts = 3\nfirst_retry = \"1s\"\nmax_retry = \"1s\"\ntimeout = \"4s\"\nclaim = \"5s\"",
    );
    // The receiver holds its first request 2 s: the issuer is killed while it waits.
    let receiver = Receiver::start(dir, receiver_port, &["--hold-first", "2"]);
    let mut issuer = Issuer::start(dir, "issuer", None);
    let id = issuer.request("alice", "inference:gpt-4o", json!({}));
    within(
        Duration::from_secs(10),
        "the first delivery arrived",
        || receiver.arrivals() == 1,
    );
    // SIGKILL (dropping the process kills it), like a crash.
    issuer.process = None;
    issuer.restart(dir, "issuer");
    // The lease lapses and the message goes again, under the same id: at least once.
    within(
        Duration::from_secs(20),
        "the message delivered after the restart",
        || issuer.metric("jitgate_notifications{state=\"delivered\"}") == 1,
    );
    let records = receiver.records();
    let pending: Vec<&Value> = records
        .iter()
        .filter(|r| r["path"] == "/hook/ml-leads")
        .collect();
    assert!(pending.len() >= 2, "{records:?}");
    assert!(pending.iter().all(|r| r["verified"] == true));
    let first_id = pending[0]["webhook_id"].as_str().unwrap();
    assert!(pending.iter().all(|r| r["webhook_id"] == first_id));
    let body: Value = serde_json::from_str(pending[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["data"]["request_id"], id.as_str());

    // A channel that always answers 404: three attempts, then a dead letter.
    let dataset = issuer.request("alice", "dataset:eval-set:read", json!({"ticket": "ML-42"}));
    within(Duration::from_secs(20), "a dead letter", || {
        issuer.metric("jitgate_notifications{state=\"dead\"}") == 1
    });
    let listed = issuer.cli(&[]);
    let text = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(listed.status.success(), "{listed:?}");
    assert!(
        text.starts_with("0 pending, 1 delivered, 1 dead\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "request.review_pending  {dataset} → stewards  3 attempts: the receiver answered 404 Not Found"
        )),
        "{text}"
    );
    let json_listing = issuer.cli(&["--json"]);
    let answer: Value = serde_json::from_slice(&json_listing.stdout).unwrap();
    let letter = answer["dead_letters"][0]["id"].as_i64().unwrap();
    assert_eq!(issuer.metric("jitgate_notification_dead_letters_total"), 1);
    // Retried: three fresh attempts, then dead again (the receiver still answers 404).
    let retried = issuer.cli(&["retry", &letter.to_string()]);
    assert!(retried.status.success(), "{retried:?}");
    within(
        Duration::from_secs(20),
        "the retried letter dead again",
        || issuer.metric("jitgate_notification_dead_letters_total") == 2,
    );
    let nowhere = receiver
        .records()
        .iter()
        .filter(|r| r["path"] == "/nowhere")
        .count();
    assert_eq!(nowhere, 6);
    // Only admins see the outbox; a retry of what is no dead letter is a 404.
    let refused = Command::new(BIN)
        .arg("notifications")
        .env("JITGATE_SERVER", issuer.url())
        .env("JITGATE_TOKEN", "jgt_demo_alice")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("admin"));
    let missing = issuer.cli(&["retry", "999999"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("dead letter 999999"));
}

#[test]
fn two_replicas_on_postgres_deliver_each_message_once() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let database = runtime.block_on(jitgate_testdb::PostgresDatabase::create());
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    webhook_secret(dir);
    policy_file(dir);
    let receiver_port = free_port();
    notifications_file(dir, receiver_port, FAST_RETRIES);
    let receiver = Receiver::start(dir, receiver_port, &[]);
    let first = Issuer::start(dir, "first", Some(&database.url));
    let second = Issuer::start(dir, "second", Some(&database.url));
    const MESSAGES: usize = 40;
    for n in 0..MESSAGES {
        let replica = if n % 2 == 0 { &first } else { &second };
        replica.request("alice", &format!("inference:model-{n}"), json!({}));
    }
    within(Duration::from_secs(30), "every message delivered", || {
        first.metric("jitgate_notifications{state=\"delivered\"}") == MESSAGES as i64
    });
    // Let any duplicate arrive before counting.
    std::thread::sleep(Duration::from_secs(1));
    let records = receiver.records();
    let mut per_id: HashMap<&str, usize> = HashMap::new();
    for record in &records {
        assert_eq!(record["verified"], true, "{record}");
        *per_id
            .entry(record["webhook_id"].as_str().unwrap())
            .or_default() += 1;
    }
    assert_eq!(per_id.len(), MESSAGES);
    let twice: Vec<_> = per_id.iter().filter(|(_, count)| **count > 1).collect();
    assert!(twice.is_empty(), "delivered twice: {twice:?}");
    let delivered_by = |issuer: &Issuer| {
        issuer.metric("jitgate_notification_attempts_total{outcome=\"delivered\"}")
    };
    assert_eq!(
        delivered_by(&first) + delivered_by(&second),
        MESSAGES as i64
    );
    drop(first);
    drop(second);
    drop(database);
}
