//! The guard across a fleet, with real parts only: the local stack (`cargo xtask up`'s code)
//! with two Envoy processes of two workers each running the built filter, the real issuer
//! and the real collector running the guard with the stack's example rules
//! (`e2e/src/devstack/guard-rules.toml`).
//!
//! - A grant used to probe for what it does not cover is terminated: the refusals reach the
//!   collector from both gateways, the guard's probing rule fires, the issuer revokes the
//!   grant as the guard and stores the alert, and every gateway refuses the grant within a
//!   bounded wait (one audit flush + the guard + one feed poll).
//! - A requests budget of 20 on one gateway, with the real issuer and collector: exactly 20
//!   of 40 concurrent calls admitted, the rest refused with `budget_exhausted`.
//! - A requests budget of 20 spent on two gateways at once: each Envoy alone would admit 20,
//!   the guard ends the grant once the fleet's total reaches 20, every gateway refuses within
//!   2 s of that breach, and the overshoot is what the gateways admitted in that time.
//! - One token used from more client addresses than the rule allows is revoked as copied.
//! - A collector killed in the middle of a grant's window comes back with its totals: the
//!   next breach still fires.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jitgate_e2e::devstack::{Binaries, DevStack, DevStackOptions, StackPorts};
use jitgate_e2e::wait::within;
use jitgate_e2e::{http_client, Envoy};
use serde_json::{json, Value};

const MODEL: &str = "meta-llama/Llama-3.1-8B-Instruct";
const ALICE: &str = "jgt_demo_alice";
const ROOT: &str = "jgt_demo_root";
/// Audit flush (250 ms) + the guard's evaluation and its call to the issuer + one feed poll
/// (250 ms) on every VM, with room for a loaded two-core machine.
const TERMINATION_LIMIT: Duration = Duration::from_secs(10);

fn fleet() -> (tempfile::TempDir, DevStack) {
    let work = tempfile::tempdir().unwrap();
    let options = DevStackOptions {
        data_dir: work.path().join(".jitgate"),
        ports: StackPorts::free().unwrap(),
        extra_gateways: 1,
        ..DevStackOptions::default()
    };
    let binaries = Binaries::from_env().expect("JITGATE_BIN and JITGATE_FILTER_WASM");
    let stack = DevStack::start(&options, &binaries).expect("the fleet starts");
    (work, stack)
}

fn issuer_url(stack: &DevStack, path: &str) -> String {
    format!("http://127.0.0.1:{}{path}", stack.ports().issuer)
}

/// Alice asks for one model (the example policy approves it at once) and gets a token.
fn granted_token(stack: &DevStack) -> (String, String) {
    granted_token_with(stack, json!({}))
}

/// The same, with these `limits` on the grant.
fn granted_token_with(stack: &DevStack, limits: Value) -> (String, String) {
    let client = http_client().unwrap();
    let mut body = json!({
        "scopes": [format!("inference:{MODEL}")],
        "duration": "1h",
        "reason": "guard fleet test",
    });
    if limits != json!({}) {
        body["limits"] = limits;
    }
    let created: Value = client
        .post(issuer_url(stack, "/v1/requests"))
        .bearer_auth(ALICE)
        .json(&body)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let id = created["id"].as_str().expect("a request id").to_owned();
    assert_eq!(created["state"], "active", "{created}");
    let issued: Value = client
        .post(issuer_url(stack, &format!("/v1/grants/{id}/token")))
        .bearer_auth(ALICE)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let token = issued["token"].as_str().expect("a token").to_owned();
    (id, token)
}

fn chat(envoy: &Envoy, token: &str, model: &str) -> (u16, String) {
    chat_with(&http_client().unwrap(), envoy, token, model)
}

/// One chat call with `client` (its connection pool, its source address).
fn chat_with(
    client: &reqwest::blocking::Client,
    envoy: &Envoy,
    token: &str,
    model: &str,
) -> (u16, String) {
    let response = client
        .post(envoy.url("/v1/chat/completions"))
        .bearer_auth(token)
        .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().unwrap_or(Value::Null);
    let reason = body["reason"]
        .as_str()
        .or_else(|| body["error"]["code"].as_str())
        .unwrap_or_default()
        .to_owned();
    (status, reason)
}

#[test]
fn a_probing_grant_is_revoked_by_the_guard_and_refused_on_every_gateway() {
    let (_work, stack) = fleet();
    let gateways = stack.gateways();
    assert_eq!(gateways.len(), 2);
    let (grant, token) = granted_token(&stack);

    for envoy in &gateways {
        assert_eq!(chat(envoy, &token, MODEL), (200, String::new()));
    }
    // Three refusals for scope, spread over both gateways: the example rule's threshold.
    for (index, model) in ["gpt-4o", "gpt-4o-mini", "o3"].iter().enumerate() {
        let envoy = gateways[index % gateways.len()];
        assert_eq!(
            chat(envoy, &token, model),
            (403, "insufficient_scope".to_owned())
        );
    }
    let probed = Instant::now();

    let refused_everywhere = within(TERMINATION_LIMIT, || {
        gateways
            .iter()
            .all(|envoy| chat(envoy, &token, MODEL) == (401, "revoked".to_owned()))
    });
    assert!(
        refused_everywhere.is_some(),
        "the grant was still served {TERMINATION_LIMIT:?} after the probing"
    );
    eprintln!("probing → refused on every gateway: {:?}", probed.elapsed());

    let client = http_client().unwrap();
    let status: Value = client
        .get(issuer_url(&stack, &format!("/v1/requests/{grant}")))
        .bearer_auth(ALICE)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(status["state"], "revoked", "{status}");
    let alerts: Value = client
        .get(issuer_url(&stack, &format!("/v1/alerts?grant_id={grant}")))
        .bearer_auth(ROOT)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let alerts = alerts
        .as_array()
        .or_else(|| alerts["alerts"].as_array())
        .cloned()
        .unwrap_or_default();
    let rules: Vec<&str> = alerts
        .iter()
        .filter_map(|alert| alert["rule"].as_str())
        .collect();
    assert_eq!(rules, vec!["probing"], "{alerts:?}");
    stack.stop().unwrap();
}

fn alert_rules(stack: &DevStack, grant: &str) -> Vec<String> {
    let alerts: Value = http_client()
        .unwrap()
        .get(issuer_url(stack, &format!("/v1/alerts?grant_id={grant}")))
        .bearer_auth(ROOT)
        .send()
        .unwrap()
        .json()
        .unwrap();
    alerts
        .as_array()
        .or_else(|| alerts["alerts"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|alert| alert["rule"].as_str().map(str::to_owned))
        .collect()
}

fn grant_state(stack: &DevStack, grant: &str) -> Value {
    http_client()
        .unwrap()
        .get(issuer_url(stack, &format!("/v1/requests/{grant}")))
        .bearer_auth(ALICE)
        .send()
        .unwrap()
        .json()
        .unwrap()
}

#[test]
fn a_requests_budget_of_twenty_on_one_gateway_admits_exactly_twenty() {
    let (_work, stack) = fleet();
    let envoy = stack.gateways()[0];
    let (_grant, token) = granted_token_with(&stack, json!({"requests": FLEET_BUDGET}));
    // 40 calls from 8 callers, each on its own connections, so both workers admit some.
    let outcomes: Vec<(u16, String)> = std::thread::scope(|scope| {
        let callers: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    let client = http_client().unwrap();
                    (0..5)
                        .map(|_| chat_with(&client, envoy, &token, MODEL))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        callers
            .into_iter()
            .flat_map(|caller| caller.join().unwrap())
            .collect()
    });
    let allowed = outcomes.iter().filter(|(status, _)| *status == 200).count();
    assert_eq!(allowed, FLEET_BUDGET, "{outcomes:?}");
    // The gateway refuses the rest by itself; the guard's revocation may overtake the last few.
    let exhausted = outcomes
        .iter()
        .filter(|outcome| **outcome == (403, "budget_exhausted".to_owned()))
        .count();
    assert!(exhausted >= 1, "{outcomes:?}");
    assert!(
        outcomes.iter().all(|outcome| outcome.0 == 200
            || *outcome == (403, "budget_exhausted".to_owned())
            || *outcome == (401, "revoked".to_owned())),
        "{outcomes:?}"
    );
    stack.stop().unwrap();
}

/// The grant's budget, spent on both gateways at once.
const FLEET_BUDGET: usize = 20;
/// Callers per gateway: the requests that can be in flight at once across the fleet is
/// twice this.
const CALLERS_PER_GATEWAY: usize = 2;
/// Each caller's pause between calls: 4 × 1/0.2 s = 20 calls/s across the fleet, slow enough
/// that neither gateway reaches the budget on its own before the guard's revocation arrives.
const CALL_GAP: Duration = Duration::from_millis(200);
/// What the issue asks of the fleet tier: every gateway refuses within 2 s of the breach.
const BREACH_TO_REFUSAL: Duration = Duration::from_secs(2);

/// One call's outcome, with when it started and ended.
#[derive(Debug, Clone)]
struct Call {
    gateway: usize,
    started: Instant,
    ended: Instant,
    status: u16,
    reason: String,
}

#[test]
fn a_requests_budget_spent_on_two_gateways_ends_on_every_gateway_within_two_seconds() {
    let (_work, stack) = fleet();
    let gateways = stack.gateways();
    let (grant, token) = granted_token_with(&stack, json!({"requests": FLEET_BUDGET}));

    let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
    let refused_on: Arc<[AtomicBool; 2]> =
        Arc::new([AtomicBool::new(false), AtomicBool::new(false)]);
    let give_up = Instant::now() + Duration::from_secs(30);
    std::thread::scope(|scope| {
        for (gateway, envoy) in gateways.iter().enumerate() {
            for _ in 0..CALLERS_PER_GATEWAY {
                let (calls, refused_on, token) = (calls.clone(), refused_on.clone(), token.clone());
                scope.spawn(move || {
                    let client = http_client().unwrap();
                    while !refused_on[gateway].load(Ordering::SeqCst) && Instant::now() < give_up {
                        let started = Instant::now();
                        let (status, reason) = chat_with(&client, envoy, &token, MODEL);
                        let ended = Instant::now();
                        if status != 200 {
                            refused_on[gateway].store(true, Ordering::SeqCst);
                        }
                        calls.lock().unwrap().push(Call {
                            gateway,
                            started,
                            ended,
                            status,
                            reason,
                        });
                        std::thread::sleep(CALL_GAP);
                    }
                });
            }
        }
    });
    let mut calls = Arc::try_unwrap(calls).unwrap().into_inner().unwrap();
    calls.sort_by_key(|call| call.ended);

    let allowed: Vec<&Call> = calls.iter().filter(|call| call.status == 200).collect();
    assert!(
        allowed.len() >= FLEET_BUDGET,
        "the grant was ended before its budget was spent: {} allowed",
        allowed.len()
    );
    // The breach: the answer that brought the fleet's total to the budget.
    let breach = allowed[FLEET_BUDGET - 1].ended;
    for gateway in 0..gateways.len() {
        let first_refusal = calls
            .iter()
            .find(|call| call.gateway == gateway && call.status != 200)
            .unwrap_or_else(|| panic!("gateway {gateway} never refused: {calls:?}"));
        // The guard's revocation, not the gateway's own count, ended it: neither gateway
        // reached 20 by itself.
        assert_eq!(
            (first_refusal.status, first_refusal.reason.as_str()),
            (401, "revoked"),
            "gateway {gateway}: {first_refusal:?}"
        );
        let after = first_refusal.ended.saturating_duration_since(breach);
        eprintln!("gateway {gateway}: breach → first refusal {after:?}");
        assert!(
            after <= BREACH_TO_REFUSAL,
            "gateway {gateway} still served {after:?} after the breach"
        );
    }
    // The overshoot is exactly the calls admitted after the breach, and each of them started
    // before its gateway's refusal (in flight, or within one audit flush + the guard + one
    // feed poll); nothing is admitted on a gateway after it has refused.
    let overshoot = allowed.len() - FLEET_BUDGET;
    for gateway in 0..gateways.len() {
        let refused_at = calls
            .iter()
            .find(|call| call.gateway == gateway && call.status != 200)
            .map(|call| call.started)
            .unwrap();
        assert!(
            !allowed
                .iter()
                .any(|call| call.gateway == gateway && call.started > refused_at),
            "gateway {gateway} admitted a call after refusing the grant"
        );
    }
    let in_window = calls
        .iter()
        .filter(|call| call.ended > breach && call.started <= breach + BREACH_TO_REFUSAL)
        .count();
    eprintln!(
        "allowed {} of a budget of {FLEET_BUDGET} (overshoot {overshoot}; {in_window} calls in the 2 s after the breach)",
        allowed.len()
    );
    assert!(
        overshoot <= in_window,
        "overshoot {overshoot} > {in_window}"
    );
    assert!(
        allowed.len() < 2 * FLEET_BUDGET,
        "the per-Envoy counts, not the guard, ended it"
    );

    assert_eq!(grant_state(&stack, &grant)["state"], "revoked");
    stack.wait_until_audited(Duration::from_secs(20)).unwrap();
    let usage = grant_state(&stack, &grant);
    assert_eq!(
        usage["usage"]["requests"].as_u64(),
        Some(allowed.len() as u64),
        "the guard's fleet-wide count: {usage}"
    );
    stack.stop().unwrap();
}

#[test]
fn one_token_from_more_addresses_than_the_rule_allows_is_revoked_as_copied() {
    let (_work, stack) = fleet();
    let gateways = stack.gateways();
    let (grant, token) = granted_token(&stack);

    // The example rule allows 3 addresses; the fourth is one too many. Loopback answers on
    // every 127.0.0.0/8 address, so each client binds its own.
    for (index, last_octet) in (2u8..=5).enumerate() {
        let client = reqwest::blocking::Client::builder()
            .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last_octet)))
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let envoy = gateways[index % gateways.len()];
        assert_eq!(
            chat_with(&client, envoy, &token, MODEL),
            (200, String::new())
        );
    }
    let refused_everywhere = within(TERMINATION_LIMIT, || {
        gateways
            .iter()
            .all(|envoy| chat(envoy, &token, MODEL) == (401, "revoked".to_owned()))
    });
    assert!(
        refused_everywhere.is_some(),
        "the copied token was still served"
    );
    assert_eq!(grant_state(&stack, &grant)["state"], "revoked");
    assert_eq!(alert_rules(&stack, &grant), vec!["copied-token"]);
    stack.stop().unwrap();
}

#[test]
fn a_collector_killed_mid_window_keeps_its_totals_and_the_next_breach_fires() {
    let (_work, mut stack) = fleet();
    let (grant, token) = granted_token_with(&stack, json!({"requests": 10}));
    let served = AtomicUsize::new(0);
    let spend = |stack: &DevStack, calls: usize| {
        let gateways = stack.gateways();
        for index in 0..calls {
            assert_eq!(
                chat(gateways[index % 2], &token, MODEL),
                (200, String::new())
            );
            served.fetch_add(1, Ordering::SeqCst);
        }
    };

    // 6 of 10, split over both gateways, stored and counted; then the collector dies.
    spend(&stack, 6);
    stack.wait_until_audited(Duration::from_secs(20)).unwrap();
    assert_eq!(grant_state(&stack, &grant)["usage"]["requests"], 6);
    stack.crash_and_restart_collector().unwrap();

    // 4 more (2 on each gateway: neither reaches 10 by itself) bring the fleet to 10 only if
    // the restarted guard still knows about the first 6.
    spend(&stack, 4);
    // No call after the tenth: the grant is revoked only if the restarted guard counted the
    // six from before the crash.
    let revoked = within(TERMINATION_LIMIT, || {
        grant_state(&stack, &grant)["state"] == "revoked"
    });
    assert!(
        revoked.is_some(),
        "the breach after the restart did not fire: {}",
        grant_state(&stack, &grant)
    );
    // Until its feed poll brings the revocation, a gateway still serves (and counts) calls.
    let refused_everywhere = within(TERMINATION_LIMIT, || {
        stack
            .gateways()
            .iter()
            .all(|envoy| match chat(envoy, &token, MODEL) {
                (200, _) => {
                    served.fetch_add(1, Ordering::SeqCst);
                    false
                }
                outcome => outcome == (401, "revoked".to_owned()),
            })
    });
    assert!(
        refused_everywhere.is_some(),
        "a gateway still served the grant"
    );
    stack.wait_until_audited(Duration::from_secs(20)).unwrap();
    // Every call served before and after the crash, counted once.
    let served = served.load(Ordering::SeqCst) as u64;
    assert_eq!(
        grant_state(&stack, &grant)["usage"]["requests"].as_u64(),
        Some(served)
    );
    stack.stop().unwrap();
}
