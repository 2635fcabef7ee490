//! The issuer over a real socket, started in-process the way a local stack or an end-to-end
//! test would: `ServeConfig::local_demo` + `serve::build_state` + `serve::serve_on`.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use jitgate_issuer::config::ServeConfig;
use jitgate_issuer::demo::DEMO_DATA_PLANE_CREDENTIAL;
use jitgate_issuer::serve::{build_state, serve_on};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_demo_issuer_serves_requests_tokens_jwks_and_the_feed() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let mut config = ServeConfig::local_demo(dir.path().join("data"), address);
    config.issuer_url = "https://issuer.jitgate.test".into();
    let state = build_state(&config).await.unwrap();
    tokio::spawn(serve_on(listener, state, true));
    let base = format!("http://{address}");
    let http = reqwest::Client::new();

    let created: Value = http
        .post(format!("{base}/v1/requests"))
        .bearer_auth("jgt_demo_alice")
        .json(&json!({"scopes": ["inference:tiny-llama"], "duration": "1h", "reason": "smoke"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(created["state"], "active");
    let id = created["id"].as_str().unwrap();
    let token: Value = http
        .post(format!("{base}/v1/grants/{id}/token"))
        .bearer_auth("jgt_demo_alice")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwks = http
        .get(format!("{base}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(jwks.headers()["cache-control"], "public, max-age=300");
    let keys = jitgate_grant::KeySet::from_jwks_json(&jwks.text().await.unwrap()).unwrap();
    let rules = jitgate_grant::TokenRules {
        issuer: "https://issuer.jitgate.test".into(),
        audiences: vec!["jitgate-gateway".into()],
        leeway_seconds: 30,
        max_token_bytes: 4096,
    };
    let now = jitgate_grant::UnixTime(token["expires_at"].as_i64().unwrap() - 900);
    let verified =
        jitgate_grant::verify_token(token["token"].as_str().unwrap(), &keys, &rules, now).unwrap();
    assert_eq!(verified.claims.grant_id, id);

    http.post(format!("{base}/v1/grants/{id}/revoke"))
        .bearer_auth("jgt_demo_root")
        .send()
        .await
        .unwrap();
    let feed = http
        .get(format!("{base}/v1/revocations"))
        .bearer_auth(DEMO_DATA_PLANE_CREDENTIAL)
        .send()
        .await
        .unwrap();
    assert_eq!(feed.status(), 200);
    let feed: Value = feed.json().await.unwrap();
    assert_eq!(feed["revoked"][0]["grant_id"], id);
    let (epoch, position) = feed["cursor"].as_str().unwrap().rsplit_once('.').unwrap();
    assert_eq!(position, "1");
    assert!(
        epoch.len() == 32 && epoch.bytes().all(|b| b.is_ascii_hexdigit()),
        "{epoch}"
    );
    assert_eq!(feed["more"], false);
    let refused = http
        .get(format!("{base}/v1/revocations"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused.headers()["www-authenticate"],
        "Bearer realm=\"jitgate\""
    );
}

#[tokio::test]
async fn the_demo_guard_is_the_guard_and_a_group_cannot_be_both_admin_and_guard() {
    let dir = tempfile::tempdir().unwrap();
    let address = "127.0.0.1:0".parse().unwrap();
    let config = ServeConfig::local_demo(dir.path().join("data"), address);
    let state = build_state(&config).await.unwrap();
    let guard = state
        .auth
        .authenticate_token(&jitgate_issuer::demo::demo_token(
            jitgate_issuer::demo::DEMO_GUARD,
        ))
        .await
        .unwrap();
    assert_eq!(
        (guard.id.as_str(), guard.guard, guard.admin),
        ("guard", true, false)
    );

    let mut both = ServeConfig::local_demo(dir.path().join("other"), address);
    both.guard_group = vec!["jitgate-guards".into(), "jitgate-admins".into()];
    let error = build_state(&both).await.unwrap_err().to_string();
    assert_eq!(
        error,
        "configuration: group \"jitgate-admins\" is both an --admin-group and a --guard-group; the guard's group must be its own"
    );
}
