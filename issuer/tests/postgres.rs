//! The API scenarios again on PostgreSQL, and what only matters with several replicas on one
//! database: concurrent approvals and revocations. Needs `JITGATE_TEST_DATABASE_URL` (see
//! `common::PostgresDatabase`); fails, saying how to set it, when it is missing.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;
mod scenarios;

use axum::http::StatusCode;
use common::{ask, TestIssuer, SMALL_MODEL, TRAINING};
use serde_json::json;

scenario_tests!(TestIssuer::postgres());

#[tokio::test]
async fn a_fresh_postgres_database_has_a_new_feed_epoch_and_refuses_old_cursors() {
    let (old, fresh) = (TestIssuer::postgres().await, TestIssuer::postgres().await);
    scenarios::feed::a_fresh_database_has_a_new_epoch_and_refuses_old_cursors(&old, &fresh).await;
}

fn transitions_to(request: &serde_json::Value, state: &str) -> usize {
    request["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|step| step["to"] == state)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_approvals_on_two_replicas_reach_the_threshold_once() {
    let a = TestIssuer::postgres().await;
    let b = a.replica().await;
    for _ in 0..5 {
        let created = a
            .request(
                "erin",
                json!({"scopes": ["inference:prod/llama-70b"], "duration": "1h", "reason": "SEV1", "urgency": "emergency"}),
            )
            .await;
        let id = created["id"].as_str().unwrap().to_owned();
        let path = format!("/v1/requests/{id}/approve");
        let (first, second) = tokio::join!(
            a.post(&path, Some("frank"), json!({})),
            b.post(&path, Some("carol"), json!({}))
        );
        assert_eq!(
            (first.status, second.status),
            (StatusCode::OK, StatusCode::OK)
        );
        let shown = a.get(&format!("/v1/requests/{id}"), Some("erin")).await;
        assert_eq!(shown.body["state"], "active", "{}", shown.text);
        assert_eq!(shown.body["reviews"].as_array().unwrap().len(), 2);
        assert_eq!(transitions_to(&shown.body, "approved"), 1);
        assert_eq!(transitions_to(&shown.body, "active"), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_reviewers_on_two_replicas_grant_exactly_once() {
    let a = TestIssuer::postgres().await;
    let b = a.replica().await;
    for _ in 0..5 {
        let created = a.request("alice", ask(&[TRAINING], "2h", "r")).await;
        let id = created["id"].as_str().unwrap().to_owned();
        let path = format!("/v1/requests/{id}/approve");
        let (first, second) = tokio::join!(
            a.post(&path, Some("bob"), json!({})),
            b.post(&path, Some("root"), json!({}))
        );
        let mut statuses = [first.status, second.status];
        statuses.sort();
        assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT]);
        let loser = if first.status == StatusCode::CONFLICT {
            &first
        } else {
            &second
        };
        assert_eq!(
            loser.body,
            json!({"error": "conflict", "message": format!("request {id} is active, not pending")})
        );
        let shown = a.get(&format!("/v1/requests/{id}"), Some("alice")).await;
        assert_eq!(shown.body["reviews"].as_array().unwrap().len(), 1);
        assert_eq!(transitions_to(&shown.body, "active"), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_revocations_put_a_grant_on_the_feed_once() {
    let a = TestIssuer::postgres().await;
    let b = a.replica().await;
    let created = a.request("alice", ask(&[SMALL_MODEL], "1h", "r")).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/grants/{id}/revoke");
    let (first, second) = tokio::join!(
        a.post(&path, Some("alice"), json!({})),
        b.post(&path, Some("root"), json!({}))
    );
    let mut statuses = [first.status, second.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT]);
    let feed = b.feed(None).await;
    assert_eq!(feed.body["revoked"].as_array().unwrap().len(), 1);
    assert_eq!(feed.body["cursor"], b.cursor(1).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn feed_positions_stay_gapless_and_ordered_under_concurrent_revocations() {
    let a = TestIssuer::postgres().await;
    let b = a.replica().await;
    let mut ids = Vec::new();
    for _ in 0..8 {
        let created = a.request("alice", ask(&[SMALL_MODEL], "1h", "r")).await;
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    let revocations = ids.iter().enumerate().map(|(index, id)| {
        let replica = if index % 2 == 0 { &a } else { &b };
        let path = format!("/v1/grants/{id}/revoke");
        async move { replica.post(&path, Some("alice"), json!({})).await }
    });
    for answer in futures_join_all(revocations).await {
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    }
    let feed = a.feed(None).await;
    let mut seen: Vec<String> = feed.body["revoked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["grant_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(feed.body["cursor"], a.cursor(8).await);
    // Reading page by page from every position gives the same sequence.
    for position in 0..8_usize {
        let cursor = b.cursor(i64::try_from(position).unwrap()).await;
        let page = b.feed(Some(&cursor)).await;
        let tail: Vec<String> = page.body["revoked"]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| entry["grant_id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(tail, seen[position..].to_vec());
    }
    seen.sort();
    ids.sort();
    assert_eq!(seen, ids);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_mint_racing_a_revocation_never_yields_a_token_the_feed_does_not_cover() {
    let a = TestIssuer::postgres().await;
    let b = a.replica().await;
    for _ in 0..6 {
        let created = a.request("alice", ask(&[SMALL_MODEL], "1h", "r")).await;
        let id = created["id"].as_str().unwrap().to_owned();
        let (token_path, revoke_path) = (
            format!("/v1/grants/{id}/token"),
            format!("/v1/grants/{id}/revoke"),
        );
        let (minted, revoked) = tokio::join!(
            a.post(&token_path, Some("alice"), json!(null)),
            b.post(&revoke_path, Some("alice"), json!({}))
        );
        assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.text);
        match minted.status {
            // Minted first: the token names the grant the feed now revokes.
            StatusCode::OK => assert_eq!(minted.body["grant_id"], id.as_str()),
            StatusCode::CONFLICT => assert!(minted.body.get("token").is_none()),
            other => panic!("mint answered {other}: {}", minted.text),
        }
        let feed = a.feed(None).await;
        let on_feed = feed.body["revoked"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|entry| entry["grant_id"] == id.as_str())
            .count();
        assert_eq!(on_feed, 1, "the grant is on the feed exactly once");
        let after = b
            .post(
                &format!("/v1/grants/{id}/token"),
                Some("alice"),
                json!(null),
            )
            .await;
        assert_eq!(after.status, StatusCode::CONFLICT, "{}", after.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_approval_racing_a_cancellation_or_a_denial_ends_in_one_state() {
    let a = TestIssuer::postgres().await;
    let b = a.replica().await;
    for round in 0..6 {
        let created = a.request("alice", ask(&[TRAINING], "2h", "r")).await;
        let id = created["id"].as_str().unwrap().to_owned();
        let (approve_path, cancel_path, deny_path) = (
            format!("/v1/requests/{id}/approve"),
            format!("/v1/requests/{id}/cancel"),
            format!("/v1/requests/{id}/deny"),
        );
        let approve = a.post(&approve_path, Some("bob"), json!({}));
        let (approved, other, other_state) = if round % 2 == 0 {
            let cancel = b.post(&cancel_path, Some("alice"), json!({}));
            let (approved, cancelled) = tokio::join!(approve, cancel);
            (approved, cancelled, "cancelled")
        } else {
            let deny = b.post(&deny_path, Some("root"), json!({"comment": "no"}));
            let (approved, denied) = tokio::join!(approve, deny);
            (approved, denied, "denied")
        };
        let mut statuses = [approved.status, other.status];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::CONFLICT],
            "{} / {}",
            approved.text,
            other.text
        );
        let winner = if approved.status == StatusCode::OK {
            "active"
        } else {
            other_state
        };
        let shown = a.get(&format!("/v1/requests/{id}"), Some("alice")).await;
        assert_eq!(shown.body["state"], winner, "{}", shown.text);
        let terminal = ["active", "cancelled", "denied"]
            .iter()
            .map(|state| transitions_to(&shown.body, state))
            .sum::<usize>();
        assert_eq!(terminal, 1, "one ending in the history: {}", shown.text);
    }
}

async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let handles: Vec<_> = futures.collect();
    let mut outputs = Vec::new();
    // Poll them all concurrently on this task.
    let mut pinned: Vec<_> = handles.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (index, future) in pinned.iter_mut().enumerate() {
            if done[index].is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(output) => done[index] = Some(output),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    for output in done.into_iter().flatten() {
        outputs.push(output);
    }
    outputs
}
