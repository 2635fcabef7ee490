//! Breach to refusal, fleet-wide: the local stack's code (`cargo xtask up`) with two Envoy
//! processes of two workers each, the real issuer and the real collector running the guard,
//! and the filter at its default timings (audit flush within 250 ms, revocation poll every
//! second). Each
//! trial spends a grant's fleet budget half on each gateway, then calls both gateways until
//! each refuses the grant as `revoked`, and measures from the answer that reached the budget
//! (the breach) to the first refusal on *every* gateway: one audit flush + the guard's
//! revocation through the issuer + one feed poll.
//!
//! The grants carry no `limits` of their own, so no gateway refuses them by itself: the
//! budget is the rules file's default, and only the guard can end them. The calls made while
//! waiting are the fleet-wide overshoot, reported with the latency.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::bench::error::BenchError;
use crate::bench::stats::percentile;
use crate::client::http_client;
use crate::devstack::{Binaries, DevStack, DevStackOptions, GateTiming, StackPorts};
use crate::envoy::Envoy;
use crate::raw_http::RawRequest;

const MODEL: &str = "meta-llama/Llama-3.1-8B-Instruct";
/// The fleet budget (requests) of every trial's grant: two calls on each gateway.
const FLEET_BUDGET: u32 = 4;
/// A trial whose refusals have not all come by then is a failure, not a slow sample.
const TRIAL_LIMIT: Duration = Duration::from_secs(15);
/// Pause between rounds of calls (one per gateway still serving) while waiting.
const CALL_GAP: Duration = Duration::from_millis(5);
/// Demo identities the example policy approves the model for at once; trials take turns so
/// no one hits the issuer's limit on back-to-back requests.
const REQUESTERS: [&str; 5] = ["alice", "bob", "erin", "root", "ci-bot"];

/// The rules the stack's guard runs for the measurement: the fleet budget only, so nothing
/// else (probing, rate) ends a grant first.
fn guard_rules() -> String {
    format!(
        "# cargo xtask bench: the breach-to-refusal measurement's only rule.\n\
         [[rule]]\nname = \"fleet-budget\"\nkind = \"budget\"\nrequests = {FLEET_BUDGET}\naction = \"revoke\"\n"
    )
}

/// Breach-to-refusal latencies and overshoots over all trials.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BreachFigures {
    /// Breach → refused on every gateway, one per trial.
    pub latencies: Vec<Duration>,
    /// Calls allowed after the breach (across both gateways), one per trial.
    pub overshoots: Vec<u32>,
    /// Gateways in the fleet.
    pub gateways: usize,
    /// Why the trials stopped early, when they did.
    pub problem: Option<String>,
}

impl BreachFigures {
    /// Median latency.
    pub fn p50(&self) -> Option<Duration> {
        percentile(&self.latencies, 50.0)
    }

    /// 99th percentile latency.
    pub fn p99(&self) -> Option<Duration> {
        percentile(&self.latencies, 99.0)
    }

    /// Largest overshoot of any trial.
    pub fn max_overshoot(&self) -> Option<u32> {
        self.overshoots.iter().max().copied()
    }
}

/// Runs `trials` breaches through a fresh two-gateway local stack.
pub fn measure(trials: u32, jitgate_wasm: &Path, smoke: bool) -> Result<BreachFigures, BenchError> {
    let work = tempfile::tempdir().map_err(BenchError::file(std::env::temp_dir()))?;
    let data_dir = work.path().join("stack");
    std::fs::create_dir_all(&data_dir).map_err(BenchError::file(&data_dir))?;
    // The stack keeps a rules file it finds in its data folder.
    let rules = data_dir.join("guard-rules.toml");
    std::fs::write(&rules, guard_rules()).map_err(BenchError::file(&rules))?;
    let options = DevStackOptions {
        data_dir,
        ports: StackPorts::free()?,
        extra_gateways: 1,
        gate_timing: GateTiming::FilterDefaults,
    };
    let mut binaries = Binaries::from_env()?;
    binaries.filter_wasm = jitgate_wasm.to_path_buf();
    let stack = DevStack::start(&options, &binaries)?;
    let mut figures = BreachFigures {
        gateways: stack.gateways().len(),
        ..BreachFigures::default()
    };
    for trial in 0..trials {
        match one_trial(&stack, trial) {
            Ok((latency, overshoot)) => {
                figures.latencies.push(latency);
                figures.overshoots.push(overshoot);
            }
            Err(error) if smoke => return Err(error),
            Err(error) => {
                eprintln!("bench: {error}");
                figures.problem = Some(error.to_string());
                break;
            }
        }
    }
    stack.stop()?;
    eprintln!(
        "bench: breach → refusal on every gateway over {} trials: p50 {:?}, p99 {:?}",
        figures.latencies.len(),
        figures.p50(),
        figures.p99()
    );
    Ok(figures)
}

fn one_trial(stack: &DevStack, trial: u32) -> Result<(Duration, u32), BenchError> {
    let requester = REQUESTERS[trial as usize % REQUESTERS.len()];
    let bearer = format!("Bearer {}", granted_token(stack, requester, trial)?);
    let gateways = stack.gateways();
    // Spread the breaches over the flush and poll cycles instead of locking onto one phase.
    std::thread::sleep(Duration::from_millis(u64::from(trial) * 137 % 1000));

    let mut breach = None;
    for index in 0..FLEET_BUDGET as usize {
        let envoy = gateways[index % gateways.len()];
        match call(envoy, &bearer)? {
            (200, _) => breach = Some(Instant::now()),
            (status, reason) => {
                return Err(BenchError::Breach(format!(
                    "call {} of the budget refused: {status} {reason}",
                    index + 1
                )))
            }
        }
    }
    let breach = breach.ok_or_else(|| BenchError::Breach("no budget to spend".into()))?;
    let mut refused = vec![None; gateways.len()];
    let mut overshoot = 0;
    while refused.iter().any(Option::is_none) {
        for (index, envoy) in gateways.iter().enumerate() {
            if refused[index].is_some() {
                continue;
            }
            match call(envoy, &bearer)? {
                (200, _) => overshoot += 1,
                (401, reason) if reason == "revoked" => refused[index] = Some(breach.elapsed()),
                (status, reason) => {
                    return Err(BenchError::Breach(format!(
                        "gateway {index}: {status} {reason} while waiting for the guard"
                    )))
                }
            }
        }
        if breach.elapsed() > TRIAL_LIMIT {
            return Err(BenchError::Breach(format!(
                "trial {trial}: a gateway still served the grant {} s after the breach",
                TRIAL_LIMIT.as_secs()
            )));
        }
        std::thread::sleep(CALL_GAP);
    }
    let latency = refused.into_iter().flatten().max().unwrap_or_default();
    Ok((latency, overshoot))
}

/// Asks the issuer for a grant of the model (approved at once) and returns its token.
fn granted_token(stack: &DevStack, requester: &str, trial: u32) -> Result<String, BenchError> {
    let client = http_client()?;
    let issuer = format!("http://127.0.0.1:{}", stack.ports().issuer);
    let post = |path: &str, body: Value, expected: u16| -> Result<Value, BenchError> {
        let response = client
            .post(format!("{issuer}{path}"))
            .bearer_auth(format!("jgt_demo_{requester}"))
            .json(&body)
            .send()
            .map_err(|error| BenchError::Breach(format!("POST {path}: {error}")))?;
        let status = response.status().as_u16();
        let body: Value = response.json().unwrap_or(Value::Null);
        if status == expected {
            Ok(body)
        } else {
            Err(BenchError::Breach(format!(
                "POST {path}: {status} (expected {expected}): {body}"
            )))
        }
    };
    let request = post(
        "/v1/requests",
        json!({"scopes": [format!("inference:{MODEL}")], "duration": "1h", "reason": format!("bench: breach trial {trial}")}),
        201,
    )?;
    if request["state"] != "active" {
        return Err(BenchError::Breach(format!(
            "{requester}'s request was not approved at once: {request}"
        )));
    }
    let id = request["id"]
        .as_str()
        .ok_or_else(|| BenchError::Breach(format!("no request id in {request}")))?;
    let issued = post(&format!("/v1/grants/{id}/token"), json!({}), 200)?;
    issued["token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| BenchError::Breach("no token in the issuer's answer".into()))
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
