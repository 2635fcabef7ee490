//! Which changes write which notifications, in-process with a manual clock (delivery itself
//! is tested with real processes and a real receiver in `cli/tests/notifications.rs`): the
//! "ending soon" notice once per grant however often the sweep runs, none for a grant whose
//! whole window is shorter than the notice, and nothing written by a refused change.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{ask, TestIssuer, SMALL_MODEL, TRAINING};
use jitgate_issuer::notify::NotifyConfig;
use jitgate_issuer::service::expiry::notify_ending_soon;
use jitgate_issuer::store::outbox;

async fn issuer() -> TestIssuer {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("hook.whsec");
    std::fs::write(&secret, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let config = NotifyConfig::parse(
        "[routing]\nreviews = \"hook\"\nrequesters = \"hook\"\n[delivery]\nexpiring_soon = \"15m\"\n\
         [channels.hook]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/\"\nsecret_file = \"hook.whsec\"\n",
        "n.toml",
        dir.path(),
    )
    .unwrap();
    TestIssuer::notifying(config).await
}

/// The event types in the outbox, oldest first.
async fn events(issuer: &TestIssuer) -> Vec<String> {
    let claimed = outbox::claim(&issuer.state.store, "test", i64::MAX - 1, i64::MAX, 100)
        .await
        .unwrap();
    // Claimed until the end of time: release them for the next look.
    for message in &claimed {
        outbox::failed(&issuer.state.store, message.id, "looked at", 0, None)
            .await
            .unwrap();
    }
    claimed
        .iter()
        .map(|message| {
            let payload: serde_json::Value = serde_json::from_str(&message.payload).unwrap();
            payload["type"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[tokio::test]
async fn a_grant_ending_soon_is_announced_once() {
    let issuer = issuer().await;
    let long = issuer
        .request("alice", ask(&[SMALL_MODEL], "1h", "eval"))
        .await;
    let short = issuer
        .request("erin", ask(&[SMALL_MODEL], "10m", "eval"))
        .await;
    assert_eq!(long["state"], "active");
    assert_eq!(short["state"], "active");
    assert_eq!(
        events(&issuer).await,
        ["request.approved", "request.approved"]
    );
    // Not yet within 15 minutes of the end of the 1 h window; the 10 min one never counts.
    assert_eq!(notify_ending_soon(&issuer.state).await.unwrap(), 0);
    issuer.clock.advance(46 * 60);
    // Every replica's sweep finds it; the notice is written once.
    for _ in 0..3 {
        assert_eq!(notify_ending_soon(&issuer.state).await.unwrap(), 1);
    }
    let written = events(&issuer).await;
    assert_eq!(
        written,
        [
            "request.approved",
            "request.approved",
            "grant.expiring_soon"
        ]
    );
}

#[tokio::test]
async fn a_refused_change_writes_nothing() {
    let issuer = issuer().await;
    let pending = issuer
        .request("alice", ask(&[TRAINING], "2h", "fine-tune"))
        .await;
    let id = pending["id"].as_str().unwrap();
    assert_eq!(events(&issuer).await, ["request.review_pending"]);
    // Self-review and a denial without a comment are refused: no new message.
    let own = issuer
        .post(
            &format!("/v1/requests/{id}/approve"),
            Some("alice"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(own.status, 403);
    let bare = issuer
        .post(
            &format!("/v1/requests/{id}/deny"),
            Some("bob"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(bare.status, 400);
    assert_eq!(events(&issuer).await, ["request.review_pending"]);
    let denied = issuer
        .post(
            &format!("/v1/requests/{id}/deny"),
            Some("bob"),
            serde_json::json!({"comment": "use the shared run"}),
        )
        .await;
    assert_eq!(denied.status, 200, "{}", denied.text);
    assert_eq!(
        events(&issuer).await,
        ["request.review_pending", "request.denied"]
    );
}
