//! Revocation latency: the real issuer (in-process) and Envoy running jitgate with the
//! revocation feed polled at the filter's default interval (1 s). Each trial asks for a grant,
//! gets its token, sees a call allowed, then measures from just before the revoke call to the
//! first call refused with reason `revoked`.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::bench::error::BenchError;
use crate::bench::pin::{self, Cores};
use crate::bench::stats::percentile;
use crate::bootstrap::{Backends, FilterModule};
use crate::client::http_client;
use crate::envoy::{Envoy, EnvoySpec};
use crate::gate::conformance_plugin_configuration;
use crate::issuer::RunningIssuer;
use crate::raw_http::RawRequest;
use crate::stub::StubServer;

/// The filter's default `revocation.interval_ms` (docs/filter-config.md).
pub const POLL_INTERVAL_MS: u64 = 1000;
const MODEL: &str = "meta-llama/Llama-3.1-8B-Instruct";
/// A trial whose refusal has not come by then is a failure, not a slow sample.
const TRIAL_LIMIT: Duration = Duration::from_secs(10);
/// Pause between calls while waiting for the refusal: the resolution of the measurement.
const CALL_GAP: Duration = Duration::from_millis(2);
/// Demo identities the example policy approves a small inference scope for at once. Trials
/// take turns among them: the issuer limits how many access requests one identity may make
/// back to back (20 by default), and a benchmark is not what that limit is for.
const REQUESTERS: [&str; 5] = ["alice", "bob", "erin", "root", "ci-bot"];

/// Revocation latencies over all trials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationFigures {
    /// Revoke call → first refused call, one per trial.
    pub latencies: Vec<Duration>,
    /// Why the trials stopped early, when they did (a full run reports it).
    pub problem: Option<String>,
}

impl RevocationFigures {
    /// Median latency.
    pub fn p50(&self) -> Option<Duration> {
        percentile(&self.latencies, 50.0)
    }

    /// 99th percentile latency.
    pub fn p99(&self) -> Option<Duration> {
        percentile(&self.latencies, 99.0)
    }

    /// Longest latency.
    pub fn max(&self) -> Option<Duration> {
        self.latencies.iter().max().copied()
    }
}

/// Runs `trials` revocations through a fresh issuer and Envoy.
pub fn measure(
    trials: u32,
    jitgate_wasm: &Path,
    smoke: bool,
) -> Result<RevocationFigures, BenchError> {
    let data = tempfile::tempdir().map_err(BenchError::file(std::env::temp_dir()))?;
    let issuer = RunningIssuer::start(data.path())?;
    let upstream = StubServer::start()?;
    let collector = StubServer::start()?;
    let mut spec = EnvoySpec::jitgate(
        Backends {
            upstream: upstream.addr(),
            issuer: issuer.addr(),
            collector: collector.addr(),
        },
        FilterModule {
            wasm_path: jitgate_wasm.to_path_buf(),
            plugin_configuration: conformance_plugin_configuration(POLL_INTERVAL_MS).to_string(),
        },
    );
    spec.options.concurrency = 1;
    spec.options.log_level = "warn".into();
    let envoy = Envoy::start(&spec)?;
    if let Some(cores) = Cores::pick() {
        pin::pin_process(envoy.pid(), &[cores.envoy])?;
    }
    let client = http_client()?;
    let mut latencies = Vec::new();
    let mut problem = None;
    for trial in 0..trials {
        match one_trial(&issuer, &client, &envoy, trial) {
            Ok(latency) => latencies.push(latency),
            Err(error) if smoke => return Err(error),
            Err(error) => {
                eprintln!("bench: {error}");
                problem = Some(error.to_string());
                break;
            }
        }
    }
    eprintln!(
        "bench: revocation over {} trials: p50 {:?}, p99 {:?}",
        latencies.len(),
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0)
    );
    Ok(RevocationFigures { latencies, problem })
}

fn one_trial(
    issuer: &RunningIssuer,
    client: &reqwest::blocking::Client,
    envoy: &Envoy,
    trial: u32,
) -> Result<Duration, BenchError> {
    let requester = REQUESTERS[trial as usize % REQUESTERS.len()];
    let call_issuer = |path: &str, body: Value, expected: u16| -> Result<Value, BenchError> {
        let response = client
            .post(issuer.url(path))
            .bearer_auth(format!("jgt_demo_{requester}"))
            .json(&body)
            .send()
            .map_err(|error| BenchError::Revocation(format!("POST {path}: {error}")))?;
        let status = response.status().as_u16();
        let body: Value = response.json().unwrap_or(Value::Null);
        if status == expected {
            Ok(body)
        } else {
            Err(BenchError::Revocation(format!(
                "POST {path}: {status} (expected {expected}): {body}"
            )))
        }
    };
    let request = call_issuer(
        "/v1/requests",
        json!({"scopes": [format!("inference:{MODEL}")], "duration": "1h", "reason": format!("bench: revocation trial {trial}")}),
        201,
    )?;
    if request["state"] != "active" {
        return Err(BenchError::Revocation(format!(
            "{requester}'s request was not approved at once: {request}"
        )));
    }
    let id = request["id"]
        .as_str()
        .ok_or_else(|| BenchError::Revocation(format!("no request id in {request}")))?
        .to_owned();
    let issued = call_issuer(&format!("/v1/grants/{id}/token"), json!({}), 200)?;
    let token = issued["token"]
        .as_str()
        .ok_or_else(|| BenchError::Revocation("no token in the issuer's answer".into()))?;
    let bearer = format!("Bearer {token}");
    let allowed_by = Instant::now() + TRIAL_LIMIT;
    while call(envoy, &bearer)?.0 != 200 {
        if Instant::now() > allowed_by {
            return Err(BenchError::Revocation(format!("grant {id} never allowed")));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Spread the revoke calls over the poll cycle instead of locking onto one phase of it.
    std::thread::sleep(Duration::from_millis(
        u64::from(trial) * 137 % POLL_INTERVAL_MS,
    ));

    let revoked_at = Instant::now();
    call_issuer(
        &format!("/v1/grants/{id}/revoke"),
        json!({"reason": "bench"}),
        200,
    )?;
    loop {
        let (status, reason) = call(envoy, &bearer)?;
        if status == 401 && reason == "revoked" {
            return Ok(revoked_at.elapsed());
        }
        if status != 200 {
            return Err(BenchError::Revocation(format!(
                "grant {id}: {status} {reason} while waiting for the revocation"
            )));
        }
        if revoked_at.elapsed() > TRIAL_LIMIT {
            return Err(BenchError::Revocation(format!(
                "grant {id} still allowed {} s after its revocation",
                TRIAL_LIMIT.as_secs()
            )));
        }
        std::thread::sleep(CALL_GAP);
    }
}

/// One chat completion with the token: its status and the deny body's `reason`, if any.
fn call(envoy: &Envoy, bearer: &str) -> Result<(u16, String), BenchError> {
    let body = json!({"model": MODEL, "messages": []}).to_string();
    let headers = [
        ("authorization", bearer),
        ("content-type", "application/json"),
    ];
    let response = envoy.raw(RawRequest {
        method: "POST",
        target: "/v1/chat/completions",
        headers: &headers,
        body: body.as_bytes(),
    })?;
    let reason = serde_json::from_slice::<Value>(&response.body)
        .ok()
        .and_then(|body| body["reason"].as_str().map(str::to_owned))
        .unwrap_or_default();
    Ok((response.status, reason))
}
