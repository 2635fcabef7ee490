//! Test support for the guard: a stand-in issuer on a loopback port that records every call
//! it gets (method, path, bearer token, JSON body) and answers as the issuer's contract says;
//! the guard's rules and token files; gateway records built for each rule; bounded waits.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::Router;
use jitgate_collector::bench::sample_record;
use jitgate_collector::guard::record::GuardRecord;
use jitgate_collector::guard::{Guard, GuardSettings, GuardTasks};
use jitgate_collector::Collector;
use jitgate_grant::audit::{AuditDecision, AuditRecord};
use serde_json::Value;

/// The guard's API token at the issuer in these tests.
pub const GUARD_TOKEN: &str = "jgt_guard_test_token_0123456789";

/// One call the stand-in issuer received.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub bearer: Option<String>,
    pub body: Value,
}

/// The stand-in issuer.
#[derive(Clone, Default)]
pub struct Receiver {
    calls: Arc<Mutex<Vec<Call>>>,
}

impl Receiver {
    /// Serves on `127.0.0.1:port` (0: any); returns its base URL.
    pub async fn start(&self, port: u16) -> String {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let address = listener.local_addr().unwrap();
        let app = Router::new().fallback(record_call).with_state(self.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        format!("http://{address}")
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// Calls to paths ending with `suffix`.
    pub fn calls_to(&self, method: &str, suffix: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method && c.path.ends_with(suffix))
            .collect()
    }
}

async fn record_call(
    State(receiver): State<Receiver>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let call = Call {
        method: method.to_string(),
        path: uri.path().to_owned(),
        bearer,
        body: body.clone(),
    };
    let mut calls = receiver.calls.lock().unwrap();
    // As the issuer: a first alert is 201, a replay of its firing_id 200.
    let status = if call.path == "/v1/alerts" {
        let seen = calls
            .iter()
            .any(|c| c.path == "/v1/alerts" && c.body["firing_id"] == body["firing_id"]);
        if seen {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        }
    } else {
        StatusCode::OK
    };
    calls.push(call);
    (status, "{}".to_owned())
}

/// A loopback port nothing listens on (yet).
pub async fn free_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

/// Writes the rules file and the guard's token file under `dir`; settings for `issuer`.
pub fn settings(dir: &Path, rules: &str, issuer: &str) -> GuardSettings {
    let rules_path = dir.join("guard-rules.toml");
    std::fs::write(&rules_path, rules).unwrap();
    let token_path = dir.join("guard-token");
    std::fs::write(&token_path, format!("{GUARD_TOKEN}\n")).unwrap();
    std::fs::set_permissions(&token_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut settings = GuardSettings::new(rules_path, issuer.to_owned(), token_path);
    settings.retry_first = Duration::from_millis(50);
    settings.retry_max = Duration::from_millis(200);
    settings.usage_every = Duration::from_millis(100);
    settings.issuer_timeout = Duration::from_secs(2);
    settings
}

/// A collector with a running guard.
pub struct Guarded {
    pub collector: Collector,
    pub guard: Arc<Guard>,
    pub tasks: GuardTasks,
}

/// Opens the guard beside `collector` and starts it.
pub async fn start_guard(collector: &Collector, settings: GuardSettings) -> Guarded {
    let guard = Arc::new(Guard::open(settings, collector).await.unwrap());
    let collector = collector.clone().with_guard(Arc::clone(&guard));
    let tasks = guard.spawn(&collector);
    Guarded {
        collector,
        guard,
        tasks,
    }
}

/// A gateway record of stream `vm-1` at `sequence` under `grant`, changed by `edit`.
pub fn use_of(sequence: u64, grant: &str, edit: impl FnOnce(&mut AuditRecord)) -> AuditRecord {
    let mut record = sample_record("vm-1", sequence);
    record.grant_id = Some(grant.to_owned());
    record.subject = Some("alice@example.com".into());
    edit(&mut record);
    record
}

/// A refusal with `reason`.
pub fn refused(record: &mut AuditRecord, reason: &str) {
    record.decision = AuditDecision::Deny;
    record.reason = reason.to_owned();
    record.status = 403;
    record.input_tokens = None;
    record.output_tokens = None;
}

/// Polls `check` every 20 ms until it holds; fails after `limit`.
pub async fn within<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check().await {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("not within {limit:?}: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the guard has applied every stored record.
pub async fn settled(guarded: &Guarded) {
    let log = guarded.collector.log().clone();
    let guard = Arc::clone(&guarded.guard);
    within(Duration::from_secs(10), "the guard applies the log", || {
        let log = log.clone();
        let guard = Arc::clone(&guard);
        async move { guard.store().cursor(guard.log_id()).await.unwrap() == log.size().await }
    })
    .await;
}

/// The guard records in a JSON Lines export, in log order.
pub fn guard_records(export: &str) -> Vec<GuardRecord> {
    export
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|entry| {
            let record = entry.get("record")?;
            GuardRecord::from_otlp_log_record(record).ok()
        })
        .collect()
}

/// The rules file with every kind, as the tests use it.
pub const ALL_KINDS: &str = r#"
[[rule]]
name = "budget"
kind = "budget"
requests = 4
action = "revoke"

[[rule]]
name = "rate"
kind = "rate"
requests_per_minute = 6
action = "alert"

[[rule]]
name = "probing"
kind = "probing"
refusals = 3
within = "1m"
action = "alert+revoke"

[[rule]]
name = "copied-token"
kind = "token_spread"
addresses = 2
action = "alert"

[[rule]]
name = "break-glass"
kind = "break_glass"
within = "1h"
action = "alert"

[[rule]]
name = "revoked-use"
kind = "revoked_use"
attempts = 2
action = "alert"
"#;

/// A path under a temp dir.
pub fn path_in(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}
