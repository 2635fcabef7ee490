//! The life of a request: auto-approval, reviews, break-glass, denial, expiry, cancellation,
//! revocation and the feed.

use axum::http::StatusCode;
use jitgate_grant::{verify_token, KeySet, TokenRules, UnixTime};
use serde_json::{json, Value};

use crate::common::{ask, TestIssuer, ISSUER_URL, SMALL_MODEL, START, TRAINING};

const PROD: &str = "inference:prod/llama-70b";

fn history(request: &Value) -> Vec<(Value, String, String, String)> {
    request["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| {
            (
                step["from"].clone(),
                step["to"].as_str().unwrap().to_owned(),
                step["actor"].as_str().unwrap().to_owned(),
                step["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn verify(issuer: &TestIssuer, token: &str) -> jitgate_grant::GrantClaims {
    let jwks = issuer.get("/.well-known/jwks.json", None).await;
    let keys = KeySet::from_jwks_json(&jwks.text).unwrap();
    let rules = TokenRules {
        issuer: ISSUER_URL.into(),
        audiences: vec!["jitgate-gateway".into()],
        leeway_seconds: 0,
        max_token_bytes: TokenRules::DEFAULT_MAX_TOKEN_BYTES,
    };
    verify_token(token, &keys, &rules, UnixTime(issuer.clock_now()))
        .unwrap()
        .claims
}

trait Now {
    fn clock_now(&self) -> i64;
}

impl Now for TestIssuer {
    fn clock_now(&self) -> i64 {
        self.state.now()
    }
}

async fn token(issuer: &TestIssuer, who: &str, id: &str) -> crate::common::Answer {
    issuer
        .call(
            axum::http::Method::POST,
            &format!("/v1/grants/{id}/token"),
            Some(who),
            None,
        )
        .await
}

pub async fn auto_approved_grant_yields_tokens_until_revoked(issuer: &TestIssuer) {
    let created = issuer
        .request("alice", ask(&[SMALL_MODEL], "2h", "evaluate the 8B model"))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("req_") && id.len() == 28, "{id}");
    assert_eq!(created["state"], "active");
    assert_eq!(created["approvals_required"], 0);
    assert_eq!(created["approved_at"], START);
    assert_eq!(created["window_end"], START + 7200);
    assert_eq!(
        created["assessment"]["scopes"][0]["auto_approved_by"],
        json!(["auto-small-inference"])
    );
    assert_eq!(
        history(&created),
        vec![
            (
                Value::Null,
                "pending".into(),
                "alice".into(),
                "evaluate the 8B model".into()
            ),
            (
                json!("pending"),
                "approved".into(),
                "policy".into(),
                "approved by policy: auto-small-inference".into()
            ),
            (
                json!("approved"),
                "active".into(),
                "issuer".into(),
                "access window started".into()
            ),
        ]
    );
    assert_eq!(
        created["next_step"],
        format!("granted until 2026-01-01T02:00:00Z: get a token with `jitgate token {id}`")
    );

    let minted = token(issuer, "alice", &id).await;
    assert_eq!(minted.status, StatusCode::OK, "{}", minted.text);
    assert_eq!(minted.headers["cache-control"], "no-store");
    assert_eq!(minted.body["token_type"], "Bearer");
    assert_eq!(minted.body["expires_at"], START + 900);
    assert_eq!(minted.body["expires_in"], 900);
    assert_eq!(minted.body["grant_id"], id.as_str());
    let claims = verify(issuer, minted.body["token"].as_str().unwrap()).await;
    assert_eq!(claims.sub, "alice");
    assert_eq!(claims.iss, ISSUER_URL);
    assert_eq!(claims.scope, SMALL_MODEL);
    assert_eq!(claims.grant_id, id);
    assert_eq!(
        (claims.iat, claims.nbf, claims.exp),
        (START, Some(START), START + 900)
    );
    assert!(claims.approvers.is_empty());
    assert!(!claims.break_glass);
    assert_eq!(claims.limits, None);

    // Re-minting while active gives a new token id.
    issuer.clock.advance(60);
    let again = token(issuer, "alice", &id).await;
    let second = verify(issuer, again.body["token"].as_str().unwrap()).await;
    assert_ne!(second.jti, claims.jti);
    assert_eq!(second.exp, START + 60 + 900);

    let revoked = issuer
        .post(
            &format!("/v1/grants/{id}/revoke"),
            Some("alice"),
            json!({"reason": "done early"}),
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.text);
    assert_eq!(revoked.body["state"], "revoked");
    assert_eq!(revoked.body["ended_at"], START + 60);
    assert_eq!(
        history(&revoked.body).last().unwrap(),
        &(
            json!("active"),
            "revoked".into(),
            "alice".into(),
            "done early".into()
        )
    );
    let feed = issuer.feed(None).await;
    assert_eq!(feed.status, StatusCode::OK);
    assert_eq!(
        feed.body,
        json!({"revoked": [{"grant_id": id, "revoked_at": START + 60, "expires_at": START + 7200}], "cursor": issuer.cursor(1).await, "more": false})
    );
    let after = token(issuer, "alice", &id).await;
    assert_eq!(after.status, StatusCode::CONFLICT);
    assert_eq!(
        after.body,
        json!({"error": "conflict", "message": format!("grant {id} is revoked: revoked; tokens of this grant are refused by the gateway")})
    );
}

pub async fn one_reviewer_starts_the_window_at_approval(issuer: &TestIssuer) {
    let created = issuer
        .request(
            "alice",
            ask(&[TRAINING], "8h", "fine-tune on the support corpus"),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["state"], "pending");
    assert_eq!(created["approvals_required"], 1);
    assert_eq!(created["approvals_missing"], 1);
    assert_eq!(
        created["next_step"],
        "waiting for 1 more approval from group ml-leads; expires in 1d if nobody decides"
    );
    let early = token(issuer, "alice", &id).await;
    assert_eq!(early.status, StatusCode::CONFLICT);

    // bob sees it in his review queue.
    let queue = issuer
        .get("/v1/requests?view=reviewable", Some("bob"))
        .await;
    assert_eq!(queue.status, StatusCode::OK);
    assert_eq!(queue.body["requests"][0]["id"], id.as_str());

    issuer.clock.advance(600);
    let approved = issuer
        .post(
            &format!("/v1/requests/{id}/approve"),
            Some("bob"),
            json!({"comment": "ticket checked"}),
        )
        .await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.text);
    assert_eq!(approved.body["state"], "active");
    assert_eq!(approved.body["approved_at"], START + 600);
    assert_eq!(approved.body["window_end"], START + 600 + 8 * 3600);
    assert_eq!(
        approved.body["reviews"],
        json!([{"reviewer": "bob", "decision": "approve", "comment": "ticket checked", "at": START + 600}])
    );
    assert_eq!(
        &history(&approved.body)[1..],
        &[
            (
                json!("pending"),
                "approved".into(),
                "bob".into(),
                "ticket checked".into()
            ),
            (
                json!("approved"),
                "active".into(),
                "issuer".into(),
                "access window started".into()
            ),
        ]
    );
    let minted = token(issuer, "alice", &id).await;
    let claims = verify(issuer, minted.body["token"].as_str().unwrap()).await;
    assert_eq!(claims.approvers, vec!["bob".to_owned()]);
    assert_eq!(claims.scope, TRAINING);
}

pub async fn break_glass_needs_two_reviewers_and_is_flagged(issuer: &TestIssuer) {
    let created = issuer
        .request(
            "erin",
            json!({"scopes": [PROD], "duration": "1h", "reason": "SEV1: prod model down", "urgency": "emergency", "ticket": "INC-7"}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["break_glass"], true);
    assert_eq!(created["approvals_required"], 2);
    assert_eq!(
        created["next_step"],
        "waiting for 2 more approvals from group sre-leads; expires in 1d if nobody decides"
    );
    // An ML lead is not an SRE lead: the request is not even visible to bob.
    let bob = issuer
        .post(
            &format!("/v1/requests/{id}/approve"),
            Some("bob"),
            json!({}),
        )
        .await;
    assert_eq!(bob.status, StatusCode::NOT_FOUND);
    let first = issuer
        .post(
            &format!("/v1/requests/{id}/approve"),
            Some("frank"),
            json!({}),
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.body["state"], "pending");
    assert_eq!(first.body["approvals_missing"], 1);
    assert_eq!(
        first.body["next_step"],
        "waiting for 1 more approval from group sre-leads; expires in 1d if nobody decides"
    );
    let second = issuer
        .post(
            &format!("/v1/requests/{id}/approve"),
            Some("carol"),
            json!({"comment": "confirmed with on-call"}),
        )
        .await;
    assert_eq!(second.body["state"], "active");
    let minted = token(issuer, "erin", &id).await;
    let claims = verify(issuer, minted.body["token"].as_str().unwrap()).await;
    assert!(claims.break_glass);
    assert_eq!(
        claims.approvers,
        vec!["carol".to_owned(), "frank".to_owned()]
    );
}

pub async fn one_denial_ends_the_request(issuer: &TestIssuer) {
    let created = issuer
        .request(
            "erin",
            json!({"scopes": [PROD], "duration": "1h", "reason": "debugging", "urgency": "emergency"}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    issuer
        .post(
            &format!("/v1/requests/{id}/approve"),
            Some("frank"),
            json!({}),
        )
        .await;
    let missing_comment = issuer
        .post(&format!("/v1/requests/{id}/deny"), Some("carol"), json!({}))
        .await;
    assert_eq!(missing_comment.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        missing_comment.body,
        json!({"error": "invalid_request", "message": "comment: say why you deny the request"})
    );
    let denied = issuer
        .post(
            &format!("/v1/requests/{id}/deny"),
            Some("carol"),
            json!({"comment": "not an emergency"}),
        )
        .await;
    assert_eq!(denied.status, StatusCode::OK);
    assert_eq!(denied.body["state"], "denied");
    assert_eq!(denied.body["ended_at"], START);
    assert_eq!(
        history(&denied.body).last().unwrap(),
        &(
            json!("pending"),
            "denied".into(),
            "carol".into(),
            "not an emergency".into()
        )
    );
    let late = issuer
        .post(
            &format!("/v1/requests/{id}/approve"),
            Some("frank"),
            json!({}),
        )
        .await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    assert_eq!(
        late.body["message"],
        format!("request {id} is denied, not pending")
    );
    // An admin sees every request, so is told why policy refuses rather than 404.
    let admin = issuer
        .post(
            &format!("/v1/requests/{id}/approve"),
            Some("root"),
            json!({}),
        )
        .await;
    assert_eq!(admin.status, StatusCode::FORBIDDEN);
    assert_eq!(
        admin.body,
        json!({"error": "forbidden", "message": format!("policy does not let root review scope {PROD}")})
    );
    let shown = issuer
        .get(&format!("/v1/requests/{id}"), Some("erin"))
        .await;
    assert_eq!(
        shown.body["next_step"],
        "denied; see the reviewer's comment in the history"
    );
}

pub async fn pending_requests_expire_after_the_ttl(issuer: &TestIssuer) {
    let created = issuer.request("alice", ask(&[TRAINING], "2h", "r")).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["pending_until"], START + 86400);
    issuer.clock.advance(86400);
    let shown = issuer
        .get(&format!("/v1/requests/{id}"), Some("alice"))
        .await;
    assert_eq!(shown.body["state"], "expired");
    assert_eq!(shown.body["ended_at"], START + 86400);
    assert_eq!(
        history(&shown.body).last().unwrap(),
        &(
            json!("pending"),
            "expired".into(),
            "issuer".into(),
            "no decision before the pending TTL ran out".into()
        )
    );
    let late = issuer
        .post(
            &format!("/v1/requests/{id}/approve"),
            Some("bob"),
            json!({}),
        )
        .await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    assert_eq!(
        late.body,
        json!({"error": "conflict", "message": format!("request {id} is expired, not pending")})
    );
}

pub async fn grants_expire_at_the_window_end(issuer: &TestIssuer) {
    let created = issuer
        .request("alice", ask(&[SMALL_MODEL], "1h", "r"))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let grants = issuer.get("/v1/grants", Some("alice")).await;
    assert_eq!(grants.body["grants"].as_array().unwrap().len(), 1);
    issuer.clock.advance(3600);
    let minted = token(issuer, "alice", &id).await;
    assert_eq!(minted.status, StatusCode::CONFLICT);
    assert_eq!(
        minted.body["message"],
        format!("grant {id} is expired: expired; ask again with `jitgate request` if you still need access")
    );
    let grants = issuer.get("/v1/grants", Some("alice")).await;
    assert_eq!(grants.body, json!({"grants": []}));
    let revoke = issuer
        .post(&format!("/v1/grants/{id}/revoke"), Some("alice"), json!({}))
        .await;
    assert_eq!(revoke.status, StatusCode::CONFLICT);
}

pub async fn token_expiry_is_the_earlier_of_window_and_ttl(issuer: &TestIssuer) {
    let created = issuer
        .request("alice", json!({"scopes": [SMALL_MODEL], "duration": 600, "reason": "r", "limits": {"requests": 50}}))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    issuer.clock.advance(100);
    let minted = token(issuer, "alice", &id).await;
    assert_eq!(minted.body["expires_at"], START + 600);
    assert_eq!(minted.body["expires_in"], 500);
    let claims = verify(issuer, minted.body["token"].as_str().unwrap()).await;
    assert_eq!(claims.exp, START + 600);
    assert_eq!(
        claims.limits,
        Some(jitgate_grant::Limits {
            requests: Some(50),
            tokens: None
        })
    );
}

pub async fn requester_cancels_a_pending_request(issuer: &TestIssuer) {
    let created = issuer.request("alice", ask(&[TRAINING], "2h", "r")).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let by_bob = issuer
        .post(&format!("/v1/requests/{id}/cancel"), Some("bob"), json!({}))
        .await;
    assert_eq!(by_bob.status, StatusCode::FORBIDDEN);
    assert_eq!(
        by_bob.body,
        json!({"error": "forbidden", "message": "only the requester can cancel a request; reviewers deny it"})
    );
    let cancelled = issuer
        .post(
            &format!("/v1/requests/{id}/cancel"),
            Some("alice"),
            json!({"reason": "not needed"}),
        )
        .await;
    assert_eq!(cancelled.status, StatusCode::OK);
    assert_eq!(cancelled.body["state"], "cancelled");
    assert_eq!(
        history(&cancelled.body).last().unwrap(),
        &(
            json!("pending"),
            "cancelled".into(),
            "alice".into(),
            "not needed".into()
        )
    );
    let again = issuer
        .post(
            &format!("/v1/requests/{id}/cancel"),
            Some("alice"),
            json!({}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
}

pub async fn reviewers_and_admins_revoke_too(issuer: &TestIssuer) {
    for (revoker, position) in [("bob", 1), ("root", 2)] {
        let created = issuer
            .request("alice", ask(&[SMALL_MODEL], "1h", "r"))
            .await;
        let id = created["id"].as_str().unwrap().to_owned();
        let stranger = issuer
            .post(&format!("/v1/grants/{id}/revoke"), Some("dana"), json!({}))
            .await;
        assert_eq!(stranger.status, StatusCode::NOT_FOUND);
        let revoked = issuer
            .post(&format!("/v1/grants/{id}/revoke"), Some(revoker), json!({}))
            .await;
        assert_eq!(
            revoked.status,
            StatusCode::OK,
            "{revoker}: {}",
            revoked.text
        );
        assert_eq!(
            history(&revoked.body).last().unwrap(),
            &(
                json!("active"),
                "revoked".into(),
                revoker.into(),
                format!("revoked by {revoker}")
            )
        );
        let feed = issuer.feed(None).await;
        assert_eq!(feed.body["cursor"], issuer.cursor(position).await);
    }
}

pub async fn feed_pages_with_its_cursor(issuer: &TestIssuer) {
    let empty = issuer.feed(None).await;
    assert_eq!(
        empty.body,
        json!({"revoked": [], "cursor": issuer.cursor(0).await, "more": false})
    );
    assert_eq!(empty.headers["cache-control"], "no-store");
    let mut ids = Vec::new();
    for _ in 0..3 {
        let created = issuer
            .request("alice", ask(&[SMALL_MODEL], "1h", "r"))
            .await;
        let id = created["id"].as_str().unwrap().to_owned();
        issuer
            .post(&format!("/v1/grants/{id}/revoke"), Some("alice"), json!({}))
            .await;
        issuer.clock.advance(1);
        ids.push(id);
    }
    let all = issuer.feed(Some("")).await;
    let seen: Vec<&str> = all.body["revoked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["grant_id"].as_str().unwrap())
        .collect();
    assert_eq!(seen, ids.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(all.body["cursor"], issuer.cursor(3).await);
    assert_eq!(all.body["more"], false);
    let tail = issuer.feed(Some(&issuer.cursor(2).await)).await;
    assert_eq!(
        tail.body,
        json!({"revoked": [{"grant_id": ids[2], "revoked_at": START + 2, "expires_at": START + 2 + 3600}], "cursor": issuer.cursor(3).await, "more": false})
    );
    let at_the_head = issuer.feed(Some(&issuer.cursor(3).await)).await;
    assert_eq!(
        at_the_head.body,
        json!({"revoked": [], "cursor": issuer.cursor(3).await, "more": false})
    );
}
