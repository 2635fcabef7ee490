//! The API scenarios on SQLite, plus the endpoints that do not depend on storage: JWKS, key
//! rotation, OpenAPI, health.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;
mod scenarios;

use axum::http::{Method, StatusCode};
use common::TestIssuer;
use jitgate_grant::KeySet;
use serde_json::json;

scenario_tests!(TestIssuer::sqlite());

#[tokio::test]
async fn a_fresh_sqlite_file_has_a_new_feed_epoch_and_refuses_old_cursors() {
    let (old, fresh) = (TestIssuer::sqlite().await, TestIssuer::sqlite().await);
    scenarios::feed::a_fresh_database_has_a_new_epoch_and_refuses_old_cursors(&old, &fresh).await;
}

#[tokio::test]
async fn jwks_publishes_current_and_previous_keys_with_cache_headers() {
    let issuer = TestIssuer::sqlite().await;
    let first = issuer.get("/.well-known/jwks.json", None).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.headers["cache-control"], "public, max-age=300");
    assert_eq!(first.headers["content-type"], "application/jwk-set+json");
    let keys = KeySet::from_jwks_json(&first.text).unwrap();
    assert_eq!(keys.len(), 1);
    let old_kid = issuer.state.keys.pair().current.key_id();
    assert!(keys.contains(&old_kid));
    let jwk = &first.body["keys"][0];
    assert_eq!(jwk["kty"], "OKP");
    assert_eq!(jwk["crv"], "Ed25519");
    assert_eq!(jwk["alg"], "EdDSA");
    assert_eq!(jwk["use"], "sig");
    assert_eq!(jwk["kid"], old_kid.as_str());
    assert!(jwk.get("d").is_none());

    let rotated = issuer
        .call(Method::POST, "/v1/admin/keys/rotate", Some("root"), None)
        .await;
    assert_eq!(rotated.status, StatusCode::OK);
    let new_kid = rotated.body["current_kid"].as_str().unwrap().to_owned();
    assert_ne!(new_kid, old_kid);
    let after =
        KeySet::from_jwks_json(&issuer.get("/.well-known/jwks.json", None).await.text).unwrap();
    assert_eq!(after.len(), 2);
    assert!(after.contains(&old_kid) && after.contains(&new_kid));
    // New tokens are signed with the new key.
    let created = issuer
        .request("alice", common::ask(&[common::SMALL_MODEL], "1h", "r"))
        .await;
    let id = created["id"].as_str().unwrap();
    let minted = issuer
        .call(
            Method::POST,
            &format!("/v1/grants/{id}/token"),
            Some("alice"),
            None,
        )
        .await;
    let token = minted.body["token"].as_str().unwrap();
    let header: serde_json::Value = serde_json::from_slice(
        &jitgate_grant::base64url::decode(token.split('.').next().unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(
        header,
        json!({"alg": "EdDSA", "typ": "at+jwt", "kid": new_kid})
    );
}

#[tokio::test]
async fn openapi_lists_every_route() {
    let issuer = TestIssuer::sqlite().await;
    let answer = issuer.get("/openapi.json", None).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["openapi"], "3.1.0");
    let paths = answer.body["paths"].as_object().unwrap();
    for path in [
        "/healthz",
        "/.well-known/jwks.json",
        "/openapi.json",
        "/v1/whoami",
        "/v1/login/cli",
        "/v1/requests",
        "/v1/requests/{id}",
        "/v1/requests/{id}/approve",
        "/v1/requests/{id}/deny",
        "/v1/requests/{id}/cancel",
        "/v1/grants",
        "/v1/grants/{id}/token",
        "/v1/grants/{id}/revoke",
        "/v1/grants/{id}/usage",
        "/v1/alerts",
        "/v1/revocations",
        "/v1/admin/policy/reload",
        "/v1/admin/keys/rotate",
        "/v1/admin/keys/reload",
        "/v1/admin/notifications",
        "/v1/admin/notifications/{id}/retry",
        "/metrics",
    ] {
        assert!(paths.contains_key(path), "{path} missing from openapi.json");
    }
}

#[tokio::test]
async fn health_and_whoami() {
    let issuer = TestIssuer::sqlite().await;
    let health = issuer.get("/healthz", None).await;
    assert_eq!(
        (health.status, health.body.clone()),
        (StatusCode::OK, json!({"status": "ok"}))
    );
    let who = issuer.get("/v1/whoami", Some("root")).await;
    assert_eq!(
        who.body,
        json!({"subject": "root", "kind": "person", "groups": ["jitgate-admins", "ml-leads", "ml-eng"], "admin": true, "guard": false})
    );
    let guard = issuer.get("/v1/whoami", Some("guard")).await;
    assert_eq!(
        guard.body,
        json!({"subject": "guard", "kind": "service", "groups": ["jitgate-guards"], "admin": false, "guard": true})
    );
    let bot = issuer.get("/v1/whoami", Some("ci-bot")).await;
    assert_eq!(bot.body["kind"], "service");
    assert_eq!(bot.body["admin"], false);
}

/// Every endpoint × every role, as one table: anonymous, the requester (alice), a reviewer
/// (bob), a stranger (dana), an admin who also reviews (root), a service account (ci-bot),
/// the guard.
#[tokio::test]
async fn every_endpoint_answers_every_role_as_specified() {
    let issuer = TestIssuer::sqlite().await;
    let pending = issuer
        .request("alice", common::ask(&[common::TRAINING], "2h", "r"))
        .await;
    let pending = pending["id"].as_str().unwrap().to_owned();
    let grant = issuer
        .request("alice", common::ask(&[common::SMALL_MODEL], "2h", "r"))
        .await;
    let grant = grant["id"].as_str().unwrap().to_owned();
    let roles = [
        None,
        Some("alice"),
        Some("bob"),
        Some("dana"),
        Some("root"),
        Some("ci-bot"),
        Some("guard"),
    ];
    let alert = json!({
        "grant_id": grant, "subject": "alice", "rule": "probing", "action": "alert",
        "window_seconds": 60, "counts": {"limit": 3, "refusals": 3}, "detail": "3 refusals",
        "fired_at": "2026-01-01T00:00:00Z", "firing_id": "gf-table"
    });
    let usage = json!({"requests": 1, "tokens": 2, "denied": 0, "as_of": "2026-01-01T00:00:00Z"});
    //                                                    anon alice bob  dana root ci-bot guard
    let table: Vec<(Method, String, Option<serde_json::Value>, [u16; 7])> = vec![
        (
            Method::GET,
            "/healthz".into(),
            None,
            [200, 200, 200, 200, 200, 200, 200],
        ),
        (
            Method::GET,
            "/.well-known/jwks.json".into(),
            None,
            [200, 200, 200, 200, 200, 200, 200],
        ),
        (
            Method::GET,
            "/openapi.json".into(),
            None,
            [200, 200, 200, 200, 200, 200, 200],
        ),
        (
            Method::GET,
            "/v1/whoami".into(),
            None,
            [401, 200, 200, 200, 200, 200, 200],
        ),
        (
            Method::GET,
            "/v1/requests".into(),
            None,
            [401, 200, 200, 200, 200, 200, 403],
        ),
        (
            Method::GET,
            "/v1/requests?view=reviewable".into(),
            None,
            [401, 200, 200, 200, 200, 200, 403],
        ),
        (
            Method::GET,
            "/v1/requests?view=all".into(),
            None,
            [401, 403, 403, 403, 200, 403, 403],
        ),
        (
            Method::GET,
            format!("/v1/requests/{pending}"),
            None,
            [401, 200, 200, 404, 200, 404, 403],
        ),
        (
            Method::POST,
            format!("/v1/requests/{pending}/approve"),
            Some(json!({})),
            [401, 403, 999, 404, 999, 404, 403],
        ),
        (
            Method::POST,
            format!("/v1/requests/{pending}/deny"),
            Some(json!({"comment": "no"})),
            [401, 403, 999, 404, 999, 404, 403],
        ),
        (
            Method::POST,
            format!("/v1/requests/{pending}/cancel"),
            Some(json!({})),
            [401, 999, 403, 404, 403, 404, 403],
        ),
        (
            Method::GET,
            "/v1/grants".into(),
            None,
            [401, 200, 200, 200, 200, 200, 403],
        ),
        (
            Method::GET,
            "/v1/grants?view=all".into(),
            None,
            [401, 403, 403, 403, 200, 403, 403],
        ),
        (
            Method::POST,
            format!("/v1/grants/{grant}/token"),
            None,
            [401, 200, 403, 404, 403, 404, 403],
        ),
        (
            Method::POST,
            format!("/v1/grants/{grant}/revoke"),
            Some(json!({})),
            [401, 999, 999, 404, 999, 404, 999],
        ),
        (
            Method::POST,
            "/v1/alerts".into(),
            Some(alert),
            [401, 403, 403, 403, 403, 403, 201],
        ),
        (
            Method::GET,
            "/v1/alerts".into(),
            None,
            [401, 200, 200, 200, 200, 200, 403],
        ),
        (
            Method::PUT,
            format!("/v1/grants/{grant}/usage"),
            Some(usage),
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            Method::GET,
            "/v1/revocations".into(),
            None,
            [401, 401, 401, 401, 401, 401, 401],
        ),
        (
            Method::POST,
            "/v1/admin/keys/reload".into(),
            None,
            [401, 403, 403, 403, 200, 403, 403],
        ),
        (
            Method::POST,
            "/v1/admin/policy/reload".into(),
            None,
            [401, 403, 403, 403, 400, 403, 403],
        ),
        (
            Method::POST,
            "/v1/admin/keys/rotate".into(),
            None,
            [401, 403, 403, 403, 200, 403, 403],
        ),
    ];
    for (method, path, body, expected) in table {
        for (role, status) in roles.iter().zip(expected) {
            if status == 999 {
                continue; // changes state; covered by the lifecycle scenarios
            }
            let answer = issuer
                .call(method.clone(), &path, *role, body.clone())
                .await;
            assert_eq!(
                answer.status.as_u16(),
                status,
                "{method} {path} as {role:?}: {}",
                answer.text
            );
            if status == 401 {
                assert_eq!(
                    answer.headers["www-authenticate"],
                    "Bearer realm=\"jitgate\""
                );
            }
        }
    }
    let still = issuer
        .get(&format!("/v1/requests/{pending}"), Some("alice"))
        .await;
    assert_eq!(still.body["state"], "pending");
    assert_eq!(still.body["history"].as_array().unwrap().len(), 1);
    // The guard's one alert and one usage report, nothing else: no request of its own, and
    // the grant's history grew by the alert only.
    let all = issuer.get("/v1/requests?view=all", Some("root")).await;
    assert_eq!(all.body["requests"].as_array().unwrap().len(), 2);
    let grant = issuer
        .get(&format!("/v1/requests/{grant}"), Some("alice"))
        .await;
    assert_eq!(grant.body["state"], "active");
    let events: Vec<&str> = grant.body["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| step["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["transition", "transition", "transition", "alert"]);
    assert_eq!(
        grant.body["usage"],
        json!({"requests": 1, "tokens": 2, "denied": 0, "as_of": "2026-01-01T00:00:00.000000000Z"})
    );
}
