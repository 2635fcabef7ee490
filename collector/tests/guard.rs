#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]
//! The guard inside a real collector, on SQLite and on PostgreSQL (each test twice), with a
//! stand-in issuer on a loopback port recording every call: totals derived from stored
//! batches (a replay counts once), each rule kind firing exactly when crossed and once, the
//! firing's guard record in a verifiable export that a replay recomputes, the outbox
//! delivering to an issuer that was down, totals surviving a restart mid-window, the rules
//! file refused at start and on reload with its file and line, and the live tail. On
//! PostgreSQL also: two collectors sharing one totals database.

mod common;
mod guard_support;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{Backend, Harness, REVIEWER};
use guard_support::*;
use http_body_util::BodyExt;
use jitgate_collector::guard::replay::{replay, Comparison};
use jitgate_collector::guard::rules::Rules;
use jitgate_collector::guard::store::StepState;
use jitgate_collector::{verify, GapPolicy, VerifyOptions};
use serde_json::{json, Value};
use tower::ServiceExt;

const WAIT: Duration = Duration::from_secs(10);

/// Firings recorded so far: (firing id, step) pairs with their state.
async fn steps(guarded: &Guarded) -> Vec<StepState> {
    guarded.guard.store().steps().await.unwrap()
}

/// Waits until every queued outbox step is finished.
async fn delivered(guarded: &Guarded) {
    let guard = Arc::clone(&guarded.guard);
    within(WAIT, "the outbox is delivered", || {
        let guard = Arc::clone(&guard);
        async move {
            guard
                .store()
                .steps()
                .await
                .unwrap()
                .iter()
                .all(|step| step.done)
        }
    })
    .await;
}

/// A full JSON Lines export of the guarded collector's log.
async fn export(guarded: &Guarded) -> String {
    let answer = call(
        guarded,
        Request::get("/v1/export").header("authorization", format!("Bearer {REVIEWER}")),
    )
    .await;
    assert_eq!(answer.0, StatusCode::OK, "{}", answer.1);
    answer.1
}

async fn call(guarded: &Guarded, request: axum::http::request::Builder) -> (StatusCode, String) {
    let response = jitgate_collector::app(guarded.collector.clone())
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn verified(export: &str) {
    let report = verify(
        export.as_bytes(),
        &VerifyOptions {
            key: common::signer().verifier().clone(),
            trusted_checkpoint: None,
            gaps: GapPolicy::Fail,
        },
    )
    .unwrap_or_else(|e| panic!("the export does not verify: {e}"));
    assert!(report.records > 0);
}

async fn guarded(harness: &Harness, rules: &str, issuer: &str) -> Guarded {
    start_guard(
        &harness.collector,
        settings(harness.place.dir.path(), rules, issuer),
    )
    .await
}

async fn post(harness: &Harness, records: &[jitgate_grant::audit::AuditRecord]) {
    let answer = harness.post_records(records).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
}

// ---------------------------------------------------------------------------------------

async fn totals_count_each_stored_record_once(backend: Backend) {
    let harness = Harness::new(backend).await;
    let issuer = Receiver::default();
    let url = issuer.start(0).await;
    let guarded = guarded(&harness, "", &url).await;
    let batch: Vec<_> = (1..=5)
        .map(|s| {
            use_of(s, "g-totals", |r| match s {
                4 => r.client_address = Some("10.0.0.8".into()),
                5 => refused(r, "insufficient_scope"),
                _ => {}
            })
        })
        .collect();
    post(&harness, &batch).await;
    // The same batch again, and one overlapping it: the log stores each record once.
    post(&harness, &batch).await;
    let mut overlapping = batch[3..].to_vec();
    overlapping.push(use_of(6, "g-totals", |_| {}));
    post(&harness, &overlapping).await;
    assert_eq!(harness.size().await, 6);
    settled(&guarded).await;
    let totals = guarded.guard.store().totals("g-totals").await.unwrap();
    let expected: HashMap<String, u64> = [
        ("requests", 5),
        ("tokens", 5 * (57 + 211)),
        ("denied", 1),
        ("refused:insufficient_scope", 1),
        ("probing", 1),
        ("addresses", 2),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(totals, expected);
    // The issuer gets the fleet-wide usage, with the guard's token.
    within(WAIT, "a usage snapshot with every record", || {
        let issuer = issuer.clone();
        async move {
            issuer
                .calls_to("PUT", "/v1/grants/g-totals/usage")
                .last()
                .is_some_and(|c| {
                    c.bearer.as_deref() == Some(GUARD_TOKEN)
                        && c.body["requests"] == 5
                        && c.body["tokens"] == 5 * (57 + 211)
                        && c.body["denied"] == 1
                        && c.body["as_of"].as_str().is_some_and(|t| t.ends_with('Z'))
                })
        }
    })
    .await;
    assert!(steps(&guarded).await.is_empty(), "no rules, no firings");
}

/// A change to a sample record.
type Edit = Box<dyn Fn(&mut jitgate_grant::audit::AuditRecord)>;

/// With the guard's tables in the log's database, the transaction that stores a batch adds
/// it to the totals and queues its firings: both are there when the sender gets its answer,
/// with no follower running.
async fn the_ingest_transaction_adds_to_the_totals(backend: Backend) {
    let harness = Harness::new(backend).await;
    let rules = "[[rule]]\nname = \"probing\"\nkind = \"probing\"\nrefusals = 2\nwithin = \"1m\"\naction = \"alert\"\n";
    let settings = settings(harness.place.dir.path(), rules, "http://127.0.0.1:9");
    let guard = Arc::new(
        jitgate_collector::guard::Guard::open(settings, &harness.collector)
            .await
            .unwrap(),
    );
    assert_eq!(guard.store().cursor(guard.log_id()).await.unwrap(), 0);
    harness
        .collector
        .log()
        .apply_guard_inline(Arc::clone(&guard));
    let records: Vec<_> = (1..=3)
        .map(|s| use_of(s, "g-inline", |r| refused(r, "no_route")))
        .collect();
    post(&harness, &records).await;
    assert_eq!(guard.store().cursor(guard.log_id()).await.unwrap(), 3);
    assert_eq!(
        guard.store().totals("g-inline").await.unwrap()["probing"],
        3
    );
    let queued: Vec<(String, bool)> = guard
        .store()
        .steps()
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.step, s.done))
        .collect();
    assert_eq!(
        queued,
        vec![("log".to_owned(), false), ("alert".to_owned(), false)]
    );
    // A replayed batch changes nothing.
    post(&harness, &records).await;
    assert_eq!(
        guard.store().totals("g-inline").await.unwrap()["probing"],
        3
    );
}

/// One rule kind: the records that stay under it, the one that crosses, more after.
struct Case {
    rules: &'static str,
    grant: &'static str,
    below: Vec<Edit>,
    cross: Edit,
    after: usize,
    counts: &'static [(&'static str, u64)],
    window_seconds: Option<u64>,
}

fn allowed() -> Edit {
    Box::new(|_| {})
}

fn refusal(reason: &'static str) -> Edit {
    Box::new(move |r| refused(r, reason))
}

fn from(address: &'static str) -> Edit {
    Box::new(move |r| r.client_address = Some(address.into()))
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            rules: "[[rule]]\nname = \"budget\"\nkind = \"budget\"\nrequests = 4\naction = \"revoke\"\n",
            grant: "g-budget",
            below: vec![allowed(), allowed(), refusal("insufficient_scope"), allowed()],
            cross: allowed(),
            after: 2,
            counts: &[("limit", 4), ("requests", 4)],
            window_seconds: None,
        },
        Case {
            rules: "[[rule]]\nname = \"rate\"\nkind = \"rate\"\nrequests_per_minute = 3\naction = \"alert\"\n",
            grant: "g-rate",
            below: vec![allowed(), allowed(), allowed()],
            cross: allowed(),
            after: 2,
            counts: &[("limit", 3), ("requests", 4)],
            window_seconds: Some(60),
        },
        Case {
            rules: "[[rule]]\nname = \"probing\"\nkind = \"probing\"\nrefusals = 3\nwithin = \"1m\"\naction = \"alert+revoke\"\n",
            grant: "g-probing",
            below: vec![refusal("insufficient_scope"), refusal("expired"), allowed(), refusal("no_route")],
            cross: refusal("insufficient_scope"),
            after: 2,
            counts: &[("limit", 3), ("refusals", 3)],
            window_seconds: Some(60),
        },
        Case {
            rules: "[[rule]]\nname = \"copied-token\"\nkind = \"token_spread\"\naddresses = 2\naction = \"alert\"\n",
            grant: "g-spread",
            below: vec![from("10.0.0.1"), from("10.0.0.2"), from("10.0.0.1")],
            cross: from("10.0.0.3"),
            after: 2,
            counts: &[("addresses", 3), ("limit", 2)],
            window_seconds: None,
        },
        Case {
            rules: "[[rule]]\nname = \"break-glass\"\nkind = \"break_glass\"\nwithin = \"1h\"\naction = \"alert\"\n",
            grant: "g-glass",
            below: vec![allowed()],
            cross: Box::new(|r| r.break_glass = true),
            after: 2,
            counts: &[("limit", 1), ("uses", 1)],
            window_seconds: Some(3600),
        },
        Case {
            rules: "[[rule]]\nname = \"revoked-use\"\nkind = \"revoked_use\"\nattempts = 2\naction = \"alert\"\n",
            grant: "g-revoked",
            below: vec![refusal("revoked"), allowed()],
            cross: refusal("revoked"),
            after: 2,
            counts: &[("attempts", 2), ("limit", 2)],
            window_seconds: None,
        },
    ]
}

async fn each_rule_kind_fires_exactly_when_crossed_and_once(backend: Backend) {
    for case in cases() {
        let harness = Harness::new(backend).await;
        let issuer = Receiver::default();
        let url = issuer.start(0).await;
        let guarded = guarded(&harness, case.rules, &url).await;
        let below: Vec<_> = case
            .below
            .iter()
            .enumerate()
            .map(|(i, edit)| use_of(i as u64 + 1, case.grant, edit))
            .collect();
        post(&harness, &below).await;
        settled(&guarded).await;
        assert!(
            steps(&guarded).await.is_empty(),
            "{}: fired below the limit",
            case.grant
        );

        let crossing = below.len() as u64 + 1;
        post(&harness, &[use_of(crossing, case.grant, &case.cross)]).await;
        settled(&guarded).await;
        delivered(&guarded).await;
        let after: Vec<_> = (1..=case.after as u64)
            .map(|i| use_of(crossing + i, case.grant, &case.cross))
            .collect();
        post(&harness, &after).await;
        settled(&guarded).await;
        delivered(&guarded).await;

        let export = export(&guarded).await;
        let firings = guard_records(&export);
        assert_eq!(firings.len(), 1, "{}: {firings:?}", case.grant);
        let firing = &firings[0];
        assert_eq!(firing.grant_id, case.grant);
        assert_eq!(firing.subject.as_deref(), Some("alice@example.com"));
        assert_eq!(
            firing.counts,
            case.counts
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect::<BTreeMap<_, _>>(),
            "{}",
            case.grant
        );
        // The evidence is the crossing record: leaf index = its sequence - 1 here.
        assert_eq!(firing.evidence_leaf_index, crossing - 1, "{}", case.grant);
        assert_eq!(firing.window_seconds, case.window_seconds, "{}", case.grant);
        assert_eq!(firing.stream_id, guarded.guard.stream_id());
        assert_eq!(firing.sequence, 1);
        let rule = Rules::parse(std::path::Path::new("r"), case.rules).unwrap();
        assert_eq!(firing.rule, rule.rules[0].name);
        let outbox: Vec<(String, bool)> = steps(&guarded)
            .await
            .into_iter()
            .map(|s| (s.step, s.done))
            .collect();
        let mut expected = vec![("log".to_owned(), true)];
        if rule.rules[0].action.alerts() {
            expected.push(("alert".to_owned(), true));
        }
        if rule.rules[0].action.revokes() {
            expected.push(("revoke".to_owned(), true));
        }
        assert_eq!(outbox, expected, "{}", case.grant);
        guarded.tasks.stop().await;
    }
}

async fn a_firing_is_logged_verifies_and_replays_from_the_export(backend: Backend) {
    let harness = Harness::new(backend).await;
    let issuer = Receiver::default();
    let url = issuer.start(0).await;
    let guarded = guarded(&harness, ALL_KINDS, &url).await;
    // Probing on one grant (3 refusals), a break-glass use and a budget crossed on another.
    let mut records: Vec<_> = (1..=3)
        .map(|s| use_of(s, "g-probe", |r| refused(r, "no_route")))
        .collect();
    records.extend((4..=8).map(|s| use_of(s, "g-heavy", |r| r.break_glass = s == 8)));
    post(&harness, &records).await;
    settled(&guarded).await;
    delivered(&guarded).await;
    let export = export(&guarded).await;
    verified(&export);
    let firings = guard_records(&export);
    let named: Vec<(&str, &str, u64)> = firings
        .iter()
        .map(|f| (f.rule.as_str(), f.grant_id.as_str(), f.evidence_leaf_index))
        .collect();
    assert_eq!(
        named,
        vec![
            ("probing", "g-probe", 2),
            ("budget", "g-heavy", 6),
            ("break-glass", "g-heavy", 7)
        ]
    );
    let probing = &firings[0];
    assert_eq!(probing.kind, "probing");
    assert_eq!(probing.action, "alert+revoke");
    assert_eq!(probing.counted_by, "grant");
    assert_eq!(probing.window_seconds, Some(60));
    assert_eq!(probing.window_start, Some(1_767_225_600));
    assert_eq!(
        probing.detail,
        "3 refusals for scope or route (insufficient_scope, no_route) for grant g-probe in the 1m from 2026-01-01T00:00:00.000000000Z"
    );
    // Anyone with the export and the rules recomputes the same firings.
    let rules = Rules::parse(std::path::Path::new("r"), ALL_KINDS).unwrap();
    let replayed = replay(export.as_bytes(), &rules).unwrap();
    assert_eq!(replayed.recomputed.len(), 3);
    for firing in &replayed.recomputed {
        assert_eq!(
            replayed.compare(firing),
            Comparison::Matches,
            "{}",
            firing.rule
        );
    }
    assert!(replayed.unexplained().is_empty());
    // Filtered and CSV exports carry and verify it too.
    let answer = call(
        &guarded,
        Request::get("/v1/export?grant=g-probe&format=csv")
            .header("authorization", format!("Bearer {REVIEWER}")),
    )
    .await;
    assert_eq!(answer.0, StatusCode::OK);
    assert!(
        answer
            .1
            .contains(",guard,guard:probing,alice@example.com,g-probe,"),
        "{}",
        answer.1
    );
    verified(&answer.1);
}

async fn the_outbox_delivers_once_the_issuer_is_back(backend: Backend) {
    let harness = Harness::new(backend).await;
    let port = free_port().await;
    let guarded = guarded(&harness, ALL_KINDS, &format!("http://127.0.0.1:{port}")).await;
    let records: Vec<_> = (1..=3)
        .map(|s| use_of(s, "g-probe", |r| refused(r, "insufficient_scope")))
        .collect();
    post(&harness, &records).await;
    settled(&guarded).await;
    // The issuer is down: the steps fail and are retried, the guard record is logged anyway.
    within(WAIT, "failed attempts while the issuer is down", || {
        let guard = Arc::clone(&guarded.guard);
        async move {
            let steps = guard.store().steps().await.unwrap();
            steps
                .iter()
                .any(|s| s.step == "revoke" && s.attempts >= 2 && !s.done)
        }
    })
    .await;
    assert_eq!(guard_records(&export(&guarded).await).len(), 1);
    let issuer = Receiver::default();
    issuer.start(port).await;
    delivered(&guarded).await;
    let firing = guard_records(&export(&guarded).await).remove(0);
    let revokes = issuer.calls_to("POST", "/v1/grants/g-probe/revoke");
    assert_eq!(revokes.len(), 1, "{revokes:?}");
    assert_eq!(revokes[0].bearer.as_deref(), Some(GUARD_TOKEN));
    assert_eq!(
        revokes[0].body,
        json!({"reason": format!("guard: rule probing fired: {}", firing.detail)})
    );
    let alerts = issuer.calls_to("POST", "/v1/alerts");
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].bearer.as_deref(), Some(GUARD_TOKEN));
    assert_eq!(
        alerts[0].body,
        json!({
            "grant_id": "g-probe",
            "subject": "alice@example.com",
            "rule": "probing",
            "action": "alert+revoke",
            "window_seconds": 60,
            "counts": {"limit": 3, "refusals": 3},
            "detail": firing.detail,
            "fired_at": "2026-01-01T00:00:00.003000000Z",
            "firing_id": firing.firing_id,
        })
    );
    let outcomes: Vec<(String, Option<String>)> = steps(&guarded)
        .await
        .into_iter()
        .map(|s| (s.step, s.outcome))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            ("log".into(), Some("logged".into())),
            ("alert".into(), Some("201".into())),
            ("revoke".into(), Some("200".into())),
        ]
    );
    let (_, metrics) = call(&guarded, Request::get("/metrics")).await;
    let metric = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in {metrics}"))
            .parse()
            .unwrap()
    };
    assert_eq!(metric("jitgate_guard_firings_total"), 1);
    assert_eq!(metric("jitgate_guard_steps_done_total"), 3);
    assert!(metric("jitgate_guard_steps_retried_total") >= 2);
    assert_eq!(metric("jitgate_guard_steps_given_up_total"), 0);
    assert_eq!(metric("jitgate_guard_lag_records"), 0);
}

async fn a_restart_mid_window_keeps_the_totals_and_the_next_breach_fires(backend: Backend) {
    let harness = Harness::new(backend).await;
    let issuer = Receiver::default();
    let url = issuer.start(0).await;
    let rules = "[[rule]]\nname = \"probing\"\nkind = \"probing\"\nrefusals = 3\nwithin = \"1h\"\naction = \"alert\"\n";
    let first = guarded(&harness, rules, &url).await;
    let records: Vec<_> = (1..=2)
        .map(|s| use_of(s, "g-probe", |r| refused(r, "no_route")))
        .collect();
    post(&harness, &records).await;
    settled(&first).await;
    assert!(steps(&first).await.is_empty());
    first.tasks.stop().await;
    drop(first.collector);
    drop(first.guard);

    let harness = harness.restart().await;
    let second = guarded(&harness, rules, &url).await;
    settled(&second).await;
    assert_eq!(
        second.guard.store().totals("g-probe").await.unwrap()["probing"],
        2
    );
    post(
        &harness,
        &[use_of(3, "g-probe", |r| refused(r, "no_route"))],
    )
    .await;
    settled(&second).await;
    delivered(&second).await;
    let firings = guard_records(&export(&second).await);
    assert_eq!(firings.len(), 1);
    assert_eq!(firings[0].counts["refusals"], 3);
    assert_eq!(firings[0].evidence_leaf_index, 2);
    assert_eq!(issuer.calls_to("POST", "/v1/alerts").len(), 1);
}

async fn a_bad_rules_file_is_refused_at_start_with_its_line(backend: Backend) {
    let harness = Harness::new(backend).await;
    let settings = settings(
        harness.place.dir.path(),
        "[[rule]]\nname = \"x\"\nkind = \"probing\"\nrefusals = 3\nwithin = \"1m\"\naction = \"ban\"\n",
        "http://127.0.0.1:9",
    );
    let path = settings.rules_path.clone();
    let error = jitgate_collector::guard::Guard::open(settings, &harness.collector)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{}:6: rule \"x\": action \"ban\" is unknown: give alert, revoke or alert+revoke",
            path.display()
        )
    );
}

async fn a_bad_reload_keeps_the_rules_in_force(backend: Backend) {
    let harness = Harness::new(backend).await;
    let issuer = Receiver::default();
    let url = issuer.start(0).await;
    let rules = "[[rule]]\nname = \"probing\"\nkind = \"probing\"\nrefusals = 3\nwithin = \"1h\"\naction = \"alert\"\n";
    let guarded = guarded(&harness, rules, &url).await;
    let path = guarded.guard.settings().rules_path.clone();
    let before = guarded.guard.rules();
    std::fs::write(&path, "[[rule]]\nname = \"probing\"\nkind = \"probing\"\nrefusals = 0\nwithin = \"1h\"\naction = \"alert\"\n").unwrap();
    let reload = || Request::post("/v1/admin/guard/reload");
    assert_eq!(call(&guarded, reload()).await.0, StatusCode::UNAUTHORIZED);
    let (status, body) = call(
        &guarded,
        reload().header("authorization", format!("Bearer {REVIEWER}")),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({
            "error": "rules_invalid",
            "message": format!("{}:4: rule \"probing\": refusals must be at least 1", path.display()),
        })
    );
    assert_eq!(guarded.guard.rules(), before);
    // The old rule still fires.
    let records: Vec<_> = (1..=3)
        .map(|s| use_of(s, "g-probe", |r| refused(r, "no_route")))
        .collect();
    post(&harness, &records).await;
    settled(&guarded).await;
    delivered(&guarded).await;
    assert_eq!(guard_records(&export(&guarded).await).len(), 1);
    // A good file replaces them.
    std::fs::write(&path, "[[rule]]\nname = \"rate\"\nkind = \"rate\"\nrequests_per_minute = 100\naction = \"alert\"\n").unwrap();
    let (status, body) = call(
        &guarded,
        reload().header("authorization", format!("Bearer {REVIEWER}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"rules": 1, "file": path.display().to_string()})
    );
    assert_eq!(guarded.guard.rules().rules[0].name, "rate");
}

/// Reads server-sent events from `response` until `stop` says so or `limit` passes.
async fn read_events(
    response: &mut reqwest::Response,
    limit: Duration,
    mut stop: impl FnMut(&[(String, String)]) -> bool,
) -> Vec<(String, String)> {
    let mut buffer = String::new();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .unwrap_or_else(|_| panic!("no event within {limit:?}; got {events:?}"))
            .unwrap();
        let Some(chunk) = chunk else {
            return events;
        };
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut name = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event: ") {
                    name = value.to_owned();
                } else if let Some(value) = line.strip_prefix("data: ") {
                    data = value.to_owned();
                }
            }
            if !name.is_empty() {
                events.push((name, data));
            }
        }
        if stop(&events) {
            return events;
        }
    }
}

async fn tail_streams_matching_decisions_within_a_bounded_wait(backend: Backend) {
    let harness = Harness::new(backend).await;
    let url = harness.serve().await;
    let client = reqwest::Client::new();
    let refused_tail = client
        .get(format!("{url}/v1/tail?decision=maybe"))
        .bearer_auth(REVIEWER)
        .send()
        .await
        .unwrap();
    assert_eq!(refused_tail.status(), 400);
    let unauthenticated = client.get(format!("{url}/v1/tail")).send().await.unwrap();
    assert_eq!(unauthenticated.status(), 401);
    let mut response = client
        .get(format!("{url}/v1/tail?grant=g-watched&decision=deny"))
        .bearer_auth(REVIEWER)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    post(
        &harness,
        &[
            use_of(1, "g-watched", |_| {}),
            use_of(2, "g-other", |r| refused(r, "no_route")),
            use_of(3, "g-watched", |r| refused(r, "insufficient_scope")),
        ],
    )
    .await;
    let events = read_events(&mut response, Duration::from_secs(5), |e| !e.is_empty()).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0, "record");
    let record: Value = serde_json::from_str(&events[0].1).unwrap();
    let record = jitgate_grant::audit::AuditRecord::from_otlp_log_record(&record).unwrap();
    assert_eq!(record.sequence, 3);
    assert_eq!(record.reason, "insufficient_scope");
}

async fn tail_drops_a_client_that_falls_behind(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let harness = Harness::new(backend).await;
    let url = harness.serve().await;
    let address: std::net::SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    // A client with a small receive buffer that reads nothing while records arrive.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(address).await.unwrap();
    stream
        .write_all(
            format!(
                "GET /v1/tail HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {REVIEWER}\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    // More than the ring holds, in a few batches.
    for batch in 0..6u64 {
        let records = common::records("vm-1", batch * 1000 + 1..=batch * 1000 + 1000);
        post(&harness, &records).await;
    }
    // Read on until the chunked body ends (the connection itself stays open).
    let mut received = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !received.ends_with(b"\r\n0\r\n\r\n") {
        let mut buffer = [0u8; 65536];
        let read = tokio::time::timeout_at(deadline, stream.read(&mut buffer))
            .await
            .expect("the collector ends the stream")
            .unwrap();
        assert!(read > 0, "the connection closed before the stream ended");
        received.extend_from_slice(&buffer[..read]);
    }
    let text = String::from_utf8_lossy(&received);
    let events = text.matches("event: record").count();
    assert!(
        events < 6000,
        "{events} records sent to a client that read nothing"
    );
    assert!(
        text.contains("event: dropped\ndata: {\"error\":\"too_slow\",\"message\":\"this client fell more than 4096 records behind ("),
        "{}",
        &text[text.len().saturating_sub(600)..]
    );
}

/// Two collectors, each with its own log, keep their guard totals in one PostgreSQL
/// database: a budget is counted across both, and fires once.
async fn two_collectors_share_one_totals_database(backend: Backend) {
    use jitgate_collector::audit_log::{AuditLog, CheckpointPolicy};
    use jitgate_collector::metrics::Metrics;
    use jitgate_collector::note::NoteSigner;
    use jitgate_collector::store::{Location, Store};
    use jitgate_collector::{Collector, CollectorConfig, Credentials};

    assert_eq!(backend, Backend::Postgres);
    let totals = common::PostgresDatabase::create().await;
    let issuer = Receiver::default();
    let url = issuer.start(0).await;
    let rules =
        "[[rule]]\nname = \"budget\"\nkind = \"budget\"\nrequests = 4\naction = \"alert+revoke\"\n";
    let dir = tempfile::tempdir().unwrap();
    let mut fleet = Vec::new();
    for (name, seed) in [("a", 1u8), ("b", 2u8)] {
        let store = Store::open(&Location::Sqlite(dir.path().join(format!("{name}.db"))))
            .await
            .unwrap();
        let signer =
            NoteSigner::from_seed(&format!("collector-{name}.test/audit"), [seed; 32]).unwrap();
        let log = AuditLog::open(
            store,
            signer,
            CheckpointPolicy::default(),
            Arc::new(Metrics::default()),
        )
        .await
        .unwrap();
        let collector = Collector::new(
            log,
            CollectorConfig {
                senders: common::senders(),
                reviewers: Credentials::new("reviewer credential", [REVIEWER]).unwrap(),
                max_body_bytes: jitgate_collector::DEFAULT_MAX_BODY_BYTES,
            },
        );
        let place = dir.path().join(name);
        std::fs::create_dir_all(&place).unwrap();
        let mut settings = settings(&place, rules, &url);
        settings.database_url = Some(totals.url.clone());
        fleet.push(start_guard(&collector, settings).await);
    }
    // Two uses through each collector: four in all reach the budget of four.
    for (index, guarded) in fleet.iter().enumerate() {
        let first = index as u64 * 2 + 1;
        let records = vec![
            use_of(first, "g-fleet", |_| {}),
            use_of(first + 1, "g-fleet", |_| {}),
        ];
        let response = jitgate_collector::app(guarded.collector.clone())
            .oneshot(
                Request::post("/v1/logs")
                    .header("content-type", "application/json")
                    .header("authorization", format!("Bearer {}", common::SENDER))
                    .body(Body::from(common::json_request(&records)))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        settled(guarded).await;
    }
    assert_eq!(
        fleet[0].guard.store().totals("g-fleet").await.unwrap()["requests"],
        4
    );
    for guarded in &fleet {
        delivered(guarded).await;
    }
    let firings: Vec<_> = [export(&fleet[0]).await, export(&fleet[1]).await]
        .iter()
        .flat_map(|text| guard_records(text))
        .collect();
    assert_eq!(firings.len(), 1, "{firings:?}");
    // The second collector applied the fourth use: the firing is in its log.
    assert_eq!(firings[0].stream_id, fleet[1].guard.stream_id());
    assert_eq!(firings[0].counts["requests"], 4);
    assert_eq!(
        issuer.calls_to("POST", "/v1/grants/g-fleet/revoke").len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_collectors_share_one_totals_database_on_postgres() {
    two_collectors_share_one_totals_database(Backend::Postgres).await
}

macro_rules! guard_tests {
    ($module:ident, $backend:expr) => {
        mod $module {
            use super::*;
            guard_tests!(@each $backend;
                totals_count_each_stored_record_once,
                the_ingest_transaction_adds_to_the_totals,
                each_rule_kind_fires_exactly_when_crossed_and_once,
                a_firing_is_logged_verifies_and_replays_from_the_export,
                the_outbox_delivers_once_the_issuer_is_back,
                a_restart_mid_window_keeps_the_totals_and_the_next_breach_fires,
                a_bad_rules_file_is_refused_at_start_with_its_line,
                a_bad_reload_keeps_the_rules_in_force,
                tail_streams_matching_decisions_within_a_bounded_wait,
                tail_drops_a_client_that_falls_behind,
            );
        }
    };
    (@each $backend:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name($backend).await
            }
        )*
    };
}

guard_tests!(sqlite, Backend::Sqlite);
guard_tests!(postgres, Backend::Postgres);
