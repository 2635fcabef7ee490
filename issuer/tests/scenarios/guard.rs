//! What the issuer takes from the guard (demo identity `guard`, group `jitgate-guards`):
//! revocations under its own name and channel, alerts stored once per firing and shown in the
//! grant's history, alerts listed for admins and reviewers, and usage snapshots that only move
//! forward.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{ask, Answer, TestIssuer, SMALL_MODEL, START};

const PROD: &str = "inference:prod/llama-70b";

fn alert(grant: &str, firing: &str, fired_at: &str) -> Value {
    json!({
        "grant_id": grant, "subject": "alice", "rule": "probing", "action": "alert+revoke",
        "window_seconds": 60, "counts": {"limit": 5, "refusals": 5},
        "detail": format!("5 refusals for scope or route for grant {grant}"),
        "fired_at": fired_at, "firing_id": firing
    })
}

async fn grant(issuer: &TestIssuer) -> String {
    let created = issuer
        .request("alice", ask(&[SMALL_MODEL], "2h", "eval"))
        .await;
    assert_eq!(created["state"], "active");
    created["id"].as_str().unwrap().to_owned()
}

async fn shown(issuer: &TestIssuer, id: &str) -> Value {
    issuer
        .get(&format!("/v1/requests/{id}"), Some("root"))
        .await
        .body
}

async fn put_usage(issuer: &TestIssuer, who: &str, id: &str, body: Value) -> Answer {
    issuer
        .call(
            Method::PUT,
            &format!("/v1/grants/{id}/usage"),
            Some(who),
            Some(body),
        )
        .await
}

pub async fn the_guard_revokes_any_grant_under_its_own_name(issuer: &TestIssuer) {
    let id = grant(issuer).await;
    let reason = "guard: rule probing fired: 5 refusals";
    let revoked = issuer
        .post(
            &format!("/v1/grants/{id}/revoke"),
            Some("guard"),
            json!({"reason": reason}),
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.text);
    assert_eq!(revoked.body["state"], "revoked");
    assert_eq!(
        revoked.body["history"].as_array().unwrap().last().unwrap(),
        &json!({"event": "transition", "from": "active", "to": "revoked", "actor": "guard",
                "channel": "guard", "at": START, "reason": reason})
    );
    let feed = issuer.feed(None).await;
    assert_eq!(feed.body["revoked"][0]["grant_id"], id.as_str());

    // A grant no longer active is a conflict (the guard counts it done), an unknown one 404.
    let again = issuer
        .post(
            &format!("/v1/grants/{id}/revoke"),
            Some("guard"),
            json!({"reason": reason}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(
        again.body,
        json!({"error": "conflict", "message": format!("request {id} is revoked, not active")})
    );
    let unknown = issuer
        .post(
            "/v1/grants/req_000000000000000000000000/revoke",
            Some("guard"),
            json!({}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    // Every other step of the history records how it came: the API, the issuer itself.
    let channels: Vec<(Value, Value)> = shown(issuer, &id).await["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| (step["actor"].clone(), step["channel"].clone()))
        .collect();
    assert_eq!(
        channels,
        [
            (json!("alice"), json!("api")),
            (json!("policy"), json!("issuer")),
            (json!("issuer"), json!("issuer")),
            (json!("guard"), json!("guard")),
        ]
    );
}

pub async fn alerts_are_stored_once_per_firing_and_shown_in_the_history(issuer: &TestIssuer) {
    let id = grant(issuer).await;
    issuer.clock.advance(5);
    let body = alert(&id, "gf-0001", "2026-01-01T00:00:04.5Z");
    let first = issuer.post("/v1/alerts", Some("guard"), body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    let stored = json!({
        "firing_id": "gf-0001", "grant_id": id, "subject": "alice", "rule": "probing",
        "action": "alert+revoke", "window_seconds": 60, "counts": {"limit": 5, "refusals": 5},
        "detail": format!("5 refusals for scope or route for grant {id}"),
        "fired_at": "2026-01-01T00:00:04.500000000Z", "received_at": "2026-01-01T00:00:05Z",
        "reported_by": "guard"
    });
    assert_eq!(first.body, stored);
    let entry = json!({
        "event": "alert", "from": "active", "to": "active", "actor": "guard", "channel": "guard",
        "at": START + 5, "firing_id": "gf-0001",
        "reason": format!("guard: rule probing fired: 5 refusals for scope or route for grant {id}")
    });
    let history = shown(issuer, &id).await["history"].clone();
    assert_eq!(history.as_array().unwrap().len(), 4);
    assert_eq!(history[3], entry);

    // The guard retries until it hears back: a replay answers what was stored, changes nothing.
    issuer.clock.advance(5);
    let replay = issuer.post("/v1/alerts", Some("guard"), body.clone()).await;
    assert_eq!(replay.status, StatusCode::OK);
    assert_eq!(replay.body, stored);
    // The same firing id with other content is refused.
    let mut other = body.clone();
    other["detail"] = json!("something else");
    let conflict = issuer.post("/v1/alerts", Some("guard"), other).await;
    assert_eq!(conflict.status, StatusCode::CONFLICT);
    assert_eq!(
        conflict.body,
        json!({"error": "conflict", "message": "firing gf-0001 was already posted with other content"})
    );
    // An unknown grant: 404, nothing stored.
    let unknown = issuer
        .post(
            "/v1/alerts",
            Some("guard"),
            alert(
                "req_000000000000000000000000",
                "gf-0002",
                "2026-01-01T00:00:09Z",
            ),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(
        unknown.body,
        json!({"error": "not_found", "message": "request req_000000000000000000000000 not found"})
    );
    // A bad body: 400 naming the field, nothing stored.
    let mut bad = alert(&id, "gf-0003", "2026-01-01T00:00:09Z");
    bad["action"] = json!("page");
    let refused = issuer.post("/v1/alerts", Some("guard"), bad).await;
    assert_eq!(
        refused.body,
        json!({"error": "invalid_request", "message": "action: \"page\" is not one of alert, revoke, alert+revoke"})
    );
    let listed = issuer.get("/v1/alerts", Some("root")).await;
    assert_eq!(listed.body, json!({"alerts": [stored]}));
    assert_eq!(shown(issuer, &id).await["history"], history);

    // Rules about revoked grants (use after revocation) alert on them too: the entry shows
    // the state the grant is in.
    let revoked = issuer
        .post(&format!("/v1/grants/{id}/revoke"), Some("alice"), json!({}))
        .await;
    assert_eq!(revoked.status, StatusCode::OK);
    let late = issuer
        .post(
            "/v1/alerts",
            Some("guard"),
            alert(&id, "gf-0004", "2026-01-01T00:00:10Z"),
        )
        .await;
    assert_eq!(late.status, StatusCode::CREATED);
    let last = shown(issuer, &id).await["history"]
        .as_array()
        .unwrap()
        .last()
        .cloned()
        .unwrap();
    assert_eq!(
        (&last["event"], &last["from"], &last["to"]),
        (&json!("alert"), &json!("revoked"), &json!("revoked"))
    );
}

pub async fn alerts_are_listed_for_admins_and_reviewers(issuer: &TestIssuer) {
    let small = grant(issuer).await; // reviewed by ml-leads
    let prod = issuer
        .request(
            "erin",
            json!({"scopes": [PROD], "duration": "1h", "reason": "r", "limits": {"requests": 10}}),
        )
        .await;
    let prod = prod["id"].as_str().unwrap().to_owned(); // reviewed by sre-leads
    for (grant, firing, at) in [
        (&small, "gf-a", "2026-01-01T00:00:01Z"),
        (&prod, "gf-b", "2026-01-01T00:00:02Z"),
    ] {
        let posted = issuer
            .post("/v1/alerts", Some("guard"), alert(grant, firing, at))
            .await;
        assert_eq!(posted.status, StatusCode::CREATED, "{}", posted.text);
    }
    let firings = |answer: &Answer| -> Vec<String> {
        answer.body["alerts"]
            .as_array()
            .unwrap_or_else(|| panic!("{}", answer.text))
            .iter()
            .map(|alert| alert["firing_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let list = |who: &'static str, query: String| async move {
        issuer.get(&format!("/v1/alerts{query}"), Some(who)).await
    };
    assert_eq!(
        firings(&list("root", String::new()).await),
        ["gf-b", "gf-a"]
    );
    assert_eq!(firings(&list("bob", String::new()).await), ["gf-a"]);
    assert_eq!(firings(&list("frank", String::new()).await), ["gf-b"]);
    assert_eq!(
        firings(&list("dana", String::new()).await),
        Vec::<String>::new()
    );
    assert_eq!(
        firings(&list("root", "?since=2026-01-01T00:00:02Z".into()).await),
        ["gf-b"]
    );
    assert_eq!(
        firings(&list("root", format!("?grant_id={small}")).await),
        ["gf-a"]
    );
    assert_eq!(
        firings(&list("bob", format!("?grant_id={small}")).await),
        ["gf-a"]
    );
    assert_eq!(firings(&list("root", "?limit=1".into()).await), ["gf-b"]);
    // The requester is pointed at the history; strangers see nothing; the guard only posts.
    let own = list("alice", format!("?grant_id={small}")).await;
    assert_eq!(own.status, StatusCode::FORBIDDEN);
    assert_eq!(
        own.body["message"],
        format!("alerts are listed for reviewers and admins; `jitgate status {small}` shows your grant's alerts in its history")
    );
    let stranger = list("dana", format!("?grant_id={small}")).await;
    assert_eq!(stranger.status, StatusCode::NOT_FOUND);
    let guard = list("guard", String::new()).await;
    assert_eq!(guard.status, StatusCode::FORBIDDEN);
    assert_eq!(
        guard.body,
        json!({"error": "forbidden", "message": "the guard's identity may only revoke grants, post alerts and report usage"})
    );
    for (query, message) in [
        (
            "?since=yesterday",
            "since: \"yesterday\" is not an RFC 3339 UTC time like 2026-01-01T00:00:00Z",
        ),
        ("?limit=0", "limit: from 1 to 500"),
    ] {
        let answer = list("root", query.into()).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(answer.body["message"], message, "{query}");
    }
}

pub async fn usage_keeps_the_newest_snapshot(issuer: &TestIssuer) {
    let id = issuer
        .request(
            "alice",
            json!({"scopes": [SMALL_MODEL], "duration": "1h", "reason": "r", "limits": {"requests": 20, "tokens": 10000}}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let report = |requests: u64, tokens: u64, as_of: &str| json!({"requests": requests, "tokens": tokens, "denied": 1, "as_of": as_of});
    let first = put_usage(
        issuer,
        "guard",
        &id,
        report(12, 3400, "2026-01-01T00:00:10Z"),
    )
    .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let twelve = json!({"requests": 12, "tokens": 3400, "denied": 1, "as_of": "2026-01-01T00:00:10.000000000Z"});
    assert_eq!(
        first.body,
        json!({"grant_id": id, "stored": true, "usage": twelve})
    );
    // An older snapshot (a late retry, a collector behind) changes nothing.
    let older = put_usage(issuer, "guard", &id, report(5, 100, "2026-01-01T00:00:09Z")).await;
    assert_eq!(
        older.body,
        json!({"grant_id": id, "stored": false, "usage": twelve})
    );
    let newer = put_usage(
        issuer,
        "guard",
        &id,
        report(13, 3500, "2026-01-01T00:00:11Z"),
    )
    .await;
    assert_eq!(newer.body["stored"], true);
    let thirteen = json!({"requests": 13, "tokens": 3500, "denied": 1, "as_of": "2026-01-01T00:00:11.000000000Z"});
    let request = shown(issuer, &id).await;
    assert_eq!(request["usage"], thirteen);
    assert_eq!(request["limits"], json!({"requests": 20, "tokens": 10000}));
    let grants = issuer.get("/v1/grants", Some("alice")).await;
    assert_eq!(grants.body["grants"][0]["usage"], thirteen);
    assert_eq!(
        grants.body["grants"][0]["limits"],
        json!({"requests": 20, "tokens": 10000})
    );

    // Only the guard reports; only granted requests have usage; bodies are checked.
    let alice = put_usage(issuer, "alice", &id, report(0, 0, "2026-01-01T00:01:00Z")).await;
    assert_eq!(alice.status, StatusCode::FORBIDDEN);
    assert_eq!(
        alice.body["message"],
        "only the guard's identity (--guard-group) may call this"
    );
    let pending = issuer
        .request("alice", ask(&["training:llama-3-8b"], "2h", "r"))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let never = put_usage(
        issuer,
        "guard",
        &pending,
        report(1, 1, "2026-01-01T00:00:10Z"),
    )
    .await;
    assert_eq!(never.status, StatusCode::CONFLICT);
    assert_eq!(
        never.body["message"],
        format!("request {pending} is pending and was never granted: it has no usage")
    );
    let unknown = put_usage(
        issuer,
        "guard",
        "req_000000000000000000000000",
        report(1, 1, "2026-01-01T00:00:10Z"),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let bad = put_usage(
        issuer,
        "guard",
        &id,
        json!({"requests": 1, "tokens": 1, "denied": 0, "as_of": "later"}),
    )
    .await;
    assert_eq!(
        bad.body,
        json!({"error": "invalid_request", "message": "as_of: \"later\" is not an RFC 3339 UTC time like 2026-01-01T00:00:00Z"})
    );
    assert_eq!(shown(issuer, &id).await["usage"], thirteen);
}
