//! Replays: every state-changing call sent again after it (or another) already took effect —
//! an approval replayed or arriving after revocation or cancellation, a revocation or
//! cancellation replayed, a mint after revocation. Each is 409 with the state named, and
//! changes nothing: no second history step, no second feed entry, no token.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::common::{ask, TestIssuer, SMALL_MODEL, TRAINING};

async fn state_and_steps(issuer: &TestIssuer, id: &str) -> (Value, usize) {
    let shown = issuer
        .get(&format!("/v1/requests/{id}"), Some("alice"))
        .await;
    (
        shown.body["state"].clone(),
        shown.body["history"].as_array().unwrap().len(),
    )
}

fn assert_conflict(answer: &crate::common::Answer, message: &str) {
    assert_eq!(answer.status, StatusCode::CONFLICT, "{}", answer.text);
    assert_eq!(
        answer.body,
        json!({"error": "conflict", "message": message})
    );
}

pub async fn late_and_replayed_reviews_change_nothing(issuer: &TestIssuer) {
    // Approved, then revoked: a replayed approval and a late denial both conflict.
    let created = issuer.request("alice", ask(&[TRAINING], "2h", "r")).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let approve = format!("/v1/requests/{id}/approve");
    let approved = issuer.post(&approve, Some("bob"), json!({})).await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.text);
    let revoked = issuer
        .post(&format!("/v1/grants/{id}/revoke"), Some("alice"), json!({}))
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.text);
    let before = state_and_steps(issuer, &id).await;
    // The state is checked before the reviewer's earlier review: a replay learns only that.
    assert_conflict(
        &issuer.post(&approve, Some("bob"), json!({})).await,
        &format!("request {id} is revoked, not pending"),
    );
    assert_conflict(
        &issuer.post(&approve, Some("root"), json!({})).await,
        &format!("request {id} is revoked, not pending"),
    );
    assert_conflict(
        &issuer
            .post(
                &format!("/v1/requests/{id}/deny"),
                Some("root"),
                json!({"comment": "late"}),
            )
            .await,
        &format!("request {id} is revoked, not pending"),
    );
    assert_eq!(state_and_steps(issuer, &id).await, before);

    // Cancelled: an approval arriving afterwards does not resurrect it.
    let created = issuer.request("alice", ask(&[TRAINING], "2h", "r")).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let cancelled = issuer
        .post(
            &format!("/v1/requests/{id}/cancel"),
            Some("alice"),
            json!({}),
        )
        .await;
    assert_eq!(cancelled.status, StatusCode::OK);
    let before = state_and_steps(issuer, &id).await;
    assert_conflict(
        &issuer
            .post(
                &format!("/v1/requests/{id}/approve"),
                Some("bob"),
                json!({}),
            )
            .await,
        &format!("request {id} is cancelled, not pending"),
    );
    assert_eq!(state_and_steps(issuer, &id).await, before);
    assert_eq!(before.0, "cancelled");
}

pub async fn replayed_revocations_and_mints_after_revocation_change_nothing(issuer: &TestIssuer) {
    let created = issuer
        .request("alice", ask(&[SMALL_MODEL], "1h", "r"))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let revoke = format!("/v1/grants/{id}/revoke");
    assert_eq!(
        issuer.post(&revoke, Some("alice"), json!({})).await.status,
        StatusCode::OK
    );
    let before = state_and_steps(issuer, &id).await;
    for who in ["alice", "bob", "root"] {
        let again = issuer.post(&revoke, Some(who), json!({})).await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{who}: {}", again.text);
    }
    let mint = issuer
        .post(
            &format!("/v1/grants/{id}/token"),
            Some("alice"),
            json!(null),
        )
        .await;
    assert_eq!(mint.status, StatusCode::CONFLICT);
    assert!(mint.body.get("token").is_none());
    assert_eq!(state_and_steps(issuer, &id).await, before);
    let feed = issuer.feed(None).await;
    assert_eq!(feed.body["revoked"].as_array().unwrap().len(), 1);
    assert_eq!(feed.body["cursor"], issuer.cursor(1).await);
}
