//! The revocation feed's contract (docs/revocation-feed.md) on every backend: full pages say
//! `more`, only revocations that can still matter are served and kept, and a cursor from
//! another database or past the head is `410 Gone` with `unknown_cursor`.

use axum::http::StatusCode;
use jitgate_issuer::rate_limit::{RateLimit, RateLimits};
use jitgate_issuer::store::revocations::{PAGE_SIZE, RETENTION_AFTER_WINDOW};
use serde_json::{json, Value};

use crate::common::{ask, TestIssuer, SMALL_MODEL, START};

fn grant_ids(page: &Value) -> Vec<String> {
    page["revoked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["grant_id"].as_str().unwrap().to_owned())
        .collect()
}

/// Asks for a small grant as alice and revokes it; returns its id.
async fn revoked_grant(issuer: &TestIssuer, duration: &str) -> String {
    let created = issuer
        .request("alice", ask(&[SMALL_MODEL], duration, "feed"))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let revoked = issuer
        .post(&format!("/v1/grants/{id}/revoke"), Some("alice"), json!({}))
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.text);
    id
}

pub async fn feed_pages_say_more_until_the_last(issuer: &TestIssuer) {
    // A replica on the same database without rate limits: this is about volume.
    let off = RateLimit {
        burst: 0,
        per_hour: 0,
    };
    let unlimited = issuer
        .replica_with_rate_limits(RateLimits {
            create_request: off,
            mint_token: off,
            revoke: off,
        })
        .await;
    let total = PAGE_SIZE + 1;
    let mut ids = Vec::new();
    for _ in 0..total {
        ids.push(revoked_grant(&unlimited, "1h").await);
    }
    let first = issuer.feed(None).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.body["more"], true);
    assert_eq!(first.body["cursor"], issuer.cursor(PAGE_SIZE).await);
    assert_eq!(grant_ids(&first.body), ids[..ids.len() - 1].to_vec());
    let last = issuer
        .feed(Some(first.body["cursor"].as_str().unwrap()))
        .await;
    assert_eq!(last.body["more"], false);
    assert_eq!(last.body["cursor"], issuer.cursor(total).await);
    assert_eq!(grant_ids(&last.body), vec![ids[ids.len() - 1].clone()]);
}

pub async fn feed_serves_and_keeps_only_revocations_that_can_still_matter(issuer: &TestIssuer) {
    let short = revoked_grant(issuer, "1h").await;
    let long = revoked_grant(issuer, "4h").await;
    let short_end = START + 3600;

    // Up to the longest gateway leeway after its window, a gateway may still accept a token
    // of the short grant: it stays on the feed.
    issuer
        .clock
        .advance(short_end + RETENTION_AFTER_WINDOW - 1 - START);
    assert_eq!(
        grant_ids(&issuer.feed(None).await.body),
        vec![short.clone(), long.clone()]
    );

    issuer.clock.advance(1);
    let page = issuer.feed(None).await;
    assert_eq!(
        page.body,
        json!({"revoked": [{"grant_id": long, "revoked_at": START, "expires_at": START + 4 * 3600}], "cursor": issuer.cursor(2).await, "more": false})
    );
    assert_eq!(
        issuer.stored_revocations().await,
        2,
        "pruned on the next write"
    );

    let third = revoked_grant(issuer, "1h").await;
    assert_eq!(
        issuer.stored_revocations().await,
        2,
        "the short grant's row went with the next revocation"
    );
    assert_eq!(grant_ids(&issuer.feed(None).await.body), vec![long, third]);
    // A reader at position 1 (the pruned entry) continues normally.
    let tail = issuer.feed(Some(&issuer.cursor(1).await)).await;
    assert_eq!(tail.status, StatusCode::OK, "{}", tail.text);
    assert_eq!(grant_ids(&tail.body).len(), 2);
}

pub async fn feed_refuses_a_cursor_from_another_database_or_past_its_head(issuer: &TestIssuer) {
    revoked_grant(issuer, "1h").await;
    let epoch = issuer.feed_epoch().await;
    assert_eq!(epoch.len(), 32, "{epoch}");
    assert!(epoch.bytes().all(|b| b.is_ascii_hexdigit()), "{epoch}");
    assert_eq!(
        issuer.replica().await.feed_epoch().await,
        epoch,
        "the epoch belongs to the database: every replica and restart shares it"
    );

    let gone = |cursor: &str| {
        let cursor = cursor.to_owned();
        async move {
            let answer = issuer.feed(Some(&cursor)).await;
            assert_eq!(answer.status, StatusCode::GONE, "{cursor}: {}", answer.text);
            assert_eq!(answer.body["error"], "unknown_cursor", "{cursor}");
            assert_eq!(answer.headers["content-type"], "application/json");
            answer.body["message"].as_str().unwrap().to_owned()
        }
    };
    let other_database = gone("0123456789abcdef0123456789abcdef.1").await;
    assert_eq!(
        other_database,
        "after: the cursor is from another revocation feed (a different or re-created database); start again from the beginning (omit `after`)"
    );
    // A cursor from before feeds had epochs is from an unknown database too.
    assert_eq!(gone("1").await, other_database);
    // Past the head: a restored backup whose counter is behind the reader.
    assert_eq!(
        gone(&issuer.cursor(2).await).await,
        "after: the cursor is past the end of this feed (position 1; a restored database?); start again from the beginning (omit `after`)"
    );
    let at_head = issuer.feed(Some(&issuer.cursor(1).await)).await;
    assert_eq!(at_head.status, StatusCode::OK);
    assert_eq!(
        at_head.body,
        json!({"revoked": [], "cursor": issuer.cursor(1).await, "more": false})
    );
}

/// `old` and `fresh` are two issuers on two databases of the same backend: a fresh database
/// (a new file, a re-created or moved database) starts its positions again at 0, so a
/// reader of the old one must be told to start again, not be served an empty page.
pub async fn a_fresh_database_has_a_new_epoch_and_refuses_old_cursors(
    old: &TestIssuer,
    fresh: &TestIssuer,
) {
    for _ in 0..3 {
        revoked_grant(old, "1h").await;
    }
    let reader = old.feed(None).await;
    assert_eq!(reader.body["cursor"], old.cursor(3).await);
    assert_ne!(old.feed_epoch().await, fresh.feed_epoch().await);

    let newest = revoked_grant(fresh, "1h").await;
    let stale = fresh
        .feed(Some(reader.body["cursor"].as_str().unwrap()))
        .await;
    assert_eq!(stale.status, StatusCode::GONE, "{}", stale.text);
    assert_eq!(stale.body["error"], "unknown_cursor");
    let again = fresh.feed(None).await;
    assert_eq!(grant_ids(&again.body), vec![newest]);
    assert_eq!(again.body["cursor"], fresh.cursor(1).await);
}
