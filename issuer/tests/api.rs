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
        "/v1/requests",
        "/v1/requests/{id}",
        "/v1/requests/{id}/approve",
        "/v1/requests/{id}/deny",
        "/v1/requests/{id}/cancel",
        "/v1/grants",
        "/v1/grants/{id}/token",
        "/v1/grants/{id}/revoke",
        "/v1/revocations",
        "/v1/admin/policy/reload",
        "/v1/admin/keys/rotate",
        "/v1/admin/keys/reload",
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
        json!({"subject": "root", "kind": "person", "groups": ["jitgate-admins", "ml-leads", "ml-eng"], "admin": true})
    );
    let bot = issuer.get("/v1/whoami", Some("ci-bot")).await;
    assert_eq!(bot.body["kind"], "service");
    assert_eq!(bot.body["admin"], false);
}
