//! Per-identity rate limits on request creation, token minting and revocation (admins and the
//! guard revoke without a limit): 429 with `Retry-After`
//! once the burst is spent, nothing stored for a limited call, buckets per identity and per
//! action, refilled by the (manual) clock — so no test sleeps.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::StatusCode;
use common::{ask, Answer, TestIssuer, SMALL_MODEL};
use jitgate_issuer::rate_limit::{RateLimit, RateLimits};
use serde_json::{json, Value};

/// Three requests at once, then one a minute; two tokens at once, then one a second; two
/// revocations at once, then one every two minutes.
const LIMITS: RateLimits = RateLimits {
    create_request: RateLimit {
        burst: 3,
        per_hour: 60,
    },
    mint_token: RateLimit {
        burst: 2,
        per_hour: 3600,
    },
    revoke: RateLimit {
        burst: 2,
        per_hour: 30,
    },
};

async fn create(issuer: &TestIssuer, who: &str) -> Answer {
    issuer
        .post("/v1/requests", Some(who), ask(&[SMALL_MODEL], "1h", "rate"))
        .await
}

async fn mint(issuer: &TestIssuer, who: &str, grant: &Value) -> Answer {
    let path = format!("/v1/grants/{}/token", grant["id"].as_str().unwrap());
    issuer.post(&path, Some(who), json!(null)).await
}

async fn mine(issuer: &TestIssuer, who: &str) -> usize {
    let listed = issuer.get("/v1/requests", Some(who)).await;
    listed.body["requests"].as_array().unwrap().len()
}

fn assert_limited(answer: &Answer, what: &str, retry_after: &str) {
    assert_eq!(
        answer.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        answer.text
    );
    assert_eq!(answer.headers["retry-after"], retry_after);
    assert_eq!(
        answer.body,
        json!({
            "error": "rate_limited",
            "message": format!("too many {what} from you; try again in {retry_after} s"),
        })
    );
}

#[tokio::test]
async fn request_creation_is_limited_per_identity_and_a_limited_call_stores_nothing() {
    let issuer = TestIssuer::sqlite_with_rate_limits(LIMITS).await;
    for _ in 0..3 {
        assert_eq!(create(&issuer, "alice").await.status, StatusCode::CREATED);
    }
    let fourth = create(&issuer, "alice").await;
    assert_limited(&fourth, "access requests", "60");
    assert_eq!(
        mine(&issuer, "alice").await,
        3,
        "the limited call stored nothing"
    );

    // Another identity has its own bucket.
    assert_eq!(create(&issuer, "bob").await.status, StatusCode::CREATED);

    // A minute refills one.
    issuer.clock.advance(59);
    assert_limited(&create(&issuer, "alice").await, "access requests", "1");
    issuer.clock.advance(1);
    assert_eq!(create(&issuer, "alice").await.status, StatusCode::CREATED);
    assert_limited(&create(&issuer, "alice").await, "access requests", "60");
    assert_eq!(mine(&issuer, "alice").await, 4);
}

#[tokio::test]
async fn invalid_requests_count_too() {
    let issuer = TestIssuer::sqlite_with_rate_limits(LIMITS).await;
    for _ in 0..3 {
        let junk = issuer
            .post("/v1/requests", Some("alice"), json!({"scopes": "nope"}))
            .await;
        assert_eq!(junk.status, StatusCode::BAD_REQUEST, "{}", junk.text);
    }
    assert_limited(&create(&issuer, "alice").await, "access requests", "60");
    assert_eq!(mine(&issuer, "alice").await, 0);
}

#[tokio::test]
async fn token_minting_is_limited_per_identity_across_grants() {
    let issuer = TestIssuer::sqlite_with_rate_limits(LIMITS).await;
    let first = issuer
        .request("alice", ask(&[SMALL_MODEL], "1h", "a"))
        .await;
    let second = issuer
        .request("alice", ask(&[SMALL_MODEL], "1h", "b"))
        .await;
    assert_eq!(mint(&issuer, "alice", &first).await.status, StatusCode::OK);
    assert_eq!(mint(&issuer, "alice", &second).await.status, StatusCode::OK);
    let third = mint(&issuer, "alice", &first).await;
    assert_limited(&third, "token mints", "1");
    assert!(third.body.get("token").is_none());

    // Someone else's bucket is untouched (bob is refused as not the grantee, not limited).
    let bob = mint(&issuer, "bob", &first).await;
    assert_eq!(bob.status, StatusCode::FORBIDDEN, "{}", bob.text);

    issuer.clock.advance(1);
    assert_eq!(mint(&issuer, "alice", &second).await.status, StatusCode::OK);
    assert_limited(&mint(&issuer, "alice", &second).await, "token mints", "1");
}

#[tokio::test]
async fn the_defaults_let_a_person_work_and_stop_a_loop() {
    let issuer = TestIssuer::sqlite_with_rate_limits(RateLimits::default()).await;
    let defaults = RateLimits::default();
    let grant = issuer
        .request("alice", ask(&[SMALL_MODEL], "1h", "loop"))
        .await;
    let mut minted = 0;
    let mut limited = None;
    for _ in 0..defaults.mint_token.burst + 5 {
        let answer = mint(&issuer, "alice", &grant).await;
        match answer.status {
            StatusCode::OK => minted += 1,
            _ => {
                limited = Some(answer);
                break;
            }
        }
    }
    assert_eq!(minted, defaults.mint_token.burst);
    assert_limited(&limited.unwrap(), "token mints", "3");
}

#[tokio::test]
async fn each_replica_keeps_its_own_buckets() {
    // Documented in docs/issuer.md: N replicas allow up to N times the rate.
    let a = TestIssuer::sqlite_with_rate_limits(LIMITS).await;
    let b = a.replica_with_rate_limits(LIMITS).await;
    for replica in [&a, &b] {
        for _ in 0..3 {
            assert_eq!(create(replica, "alice").await.status, StatusCode::CREATED);
        }
        assert_limited(&create(replica, "alice").await, "access requests", "60");
    }
    assert_eq!(mine(&a, "alice").await, 6);
}

async fn revoke(issuer: &TestIssuer, who: &str, grant: &Value) -> Answer {
    let path = format!("/v1/grants/{}/revoke", grant["id"].as_str().unwrap());
    issuer.post(&path, Some(who), json!({})).await
}

#[tokio::test]
async fn revocation_is_limited_per_identity_and_a_limited_call_revokes_nothing() {
    let issuer = TestIssuer::sqlite_with_rate_limits(LIMITS).await;
    let mut grants = Vec::new();
    for reason in ["a", "b", "c"] {
        grants.push(
            issuer
                .request("alice", ask(&[SMALL_MODEL], "1h", reason))
                .await,
        );
    }
    assert_eq!(
        revoke(&issuer, "alice", &grants[0]).await.status,
        StatusCode::OK
    );
    // A refused attempt (already revoked: 409) counts too.
    assert_eq!(
        revoke(&issuer, "alice", &grants[0]).await.status,
        StatusCode::CONFLICT
    );
    let third = revoke(&issuer, "alice", &grants[1]).await;
    assert_limited(&third, "revocations", "120");
    let shown = issuer
        .get(
            &format!("/v1/requests/{}", grants[1]["id"].as_str().unwrap()),
            Some("alice"),
        )
        .await;
    assert_eq!(
        shown.body["state"], "active",
        "the limited call revoked nothing"
    );
    let feed = issuer.feed(None).await;
    assert_eq!(feed.body["revoked"].as_array().unwrap().len(), 1);

    // Bob, who reviews alice's inference grants, revokes from his own bucket.
    assert_eq!(
        revoke(&issuer, "bob", &grants[1]).await.status,
        StatusCode::OK
    );

    issuer.clock.advance(120);
    assert_eq!(
        revoke(&issuer, "alice", &grants[2]).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn admins_revoke_without_a_limit() {
    let issuer = TestIssuer::sqlite_with_rate_limits(RateLimits {
        create_request: RateLimit {
            burst: 0,
            per_hour: 0,
        },
        ..LIMITS
    })
    .await;
    for round in 0..10 {
        let grant = issuer
            .request("alice", ask(&[SMALL_MODEL], "1h", &format!("{round}")))
            .await;
        let answer = revoke(&issuer, "root", &grant).await;
        assert_eq!(answer.status, StatusCode::OK, "{round}: {}", answer.text);
    }
}

#[tokio::test]
async fn the_guard_revokes_without_a_limit() {
    // Terminating every grant of a copied token, or a probing burst across many grants, must
    // not wait for a bucket: the guard is the incident path, like admins.
    let issuer = TestIssuer::sqlite_with_rate_limits(RateLimits {
        create_request: RateLimit {
            burst: 0,
            per_hour: 0,
        },
        ..LIMITS
    })
    .await;
    for round in 0..10 {
        let grant = issuer
            .request("alice", ask(&[SMALL_MODEL], "1h", &format!("{round}")))
            .await;
        // Refusals would count too; none of the guard's calls is limited.
        assert_eq!(
            revoke(&issuer, "guard", &grant).await.status,
            StatusCode::OK
        );
        assert_eq!(
            revoke(&issuer, "guard", &grant).await.status,
            StatusCode::CONFLICT
        );
    }
    let feed = issuer.feed(None).await;
    assert_eq!(feed.body["revoked"].as_array().unwrap().len(), 10);
}
