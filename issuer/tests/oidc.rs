//! OIDC ID tokens: verified against the IdP's JWKS (file or URL) with a strict algorithm
//! allow-list, issuer, audience and expiry, subject and groups from configurable claims.
//! The tokens are signed here with the test-only keys in `testdata/keys/`.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use jitgate_grant::jwks::{public_jwk, signing_key_from_jwk};
use jitgate_grant::mint::sign_compact;
use jitgate_grant::SigningKey;
use jitgate_issuer::identity::oidc::{JwksSource, OidcIdentity, OidcSettings, OidcVerifier};
use serde_json::{json, Value};

const ISSUER: &str = "https://idp.example.test";
const AUDIENCE: &str = "jitgate-issuer";

fn key(name: &str) -> SigningKey {
    let path = format!(
        "{}/../testdata/keys/{name}.private.jwk.json",
        env!("CARGO_MANIFEST_DIR")
    );
    signing_key_from_jwk(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

fn claims() -> Value {
    json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "00u1", "email": "alice@example.test",
        "groups": ["ml-eng", "staff"], "iat": now(), "exp": now() + 300
    })
}

fn sign(key: &SigningKey, header: Value, claims: &Value) -> String {
    sign_compact(
        header.to_string().as_bytes(),
        claims.to_string().as_bytes(),
        key,
    )
}

fn id_token(key: &SigningKey, claims: &Value) -> String {
    let header = json!({"alg": key.algorithm().jws_name(), "typ": "JWT", "kid": key.key_id()});
    sign(key, header, claims)
}

async fn verifier(jwks: JwksSource) -> OidcVerifier {
    OidcVerifier::new(OidcSettings {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        jwks,
        subject_claim: "email".into(),
        groups_claim: "groups".into(),
    })
    .await
    .unwrap()
}

fn jwks_file(dir: &std::path::Path) -> JwksSource {
    let keys = json!({"keys": [
        public_jwk(&key("ed25519").verifying_key()),
        public_jwk(&key("p256").verifying_key()),
    ]});
    let path = dir.join("idp-jwks.json");
    std::fs::write(&path, keys.to_string()).unwrap();
    JwksSource::File(path)
}

#[tokio::test]
async fn valid_id_tokens_give_subject_and_groups() {
    let dir = tempfile::tempdir().unwrap();
    let oidc = verifier(jwks_file(dir.path())).await;
    for name in ["ed25519", "p256"] {
        let identity = oidc.verify(&id_token(&key(name), &claims())).await.unwrap();
        assert_eq!(
            identity,
            OidcIdentity {
                subject: "alice@example.test".into(),
                groups: vec!["ml-eng".into(), "staff".into()]
            },
            "{name}"
        );
    }
    let mut spaced = claims();
    spaced["groups"] = json!("ml-eng oncall");
    let identity = oidc
        .verify(&id_token(&key("ed25519"), &spaced))
        .await
        .unwrap();
    assert_eq!(
        identity.groups,
        vec!["ml-eng".to_owned(), "oncall".to_owned()]
    );
    let mut none = claims();
    none.as_object_mut().unwrap().remove("groups");
    assert!(oidc
        .verify(&id_token(&key("ed25519"), &none))
        .await
        .unwrap()
        .groups
        .is_empty());
}

#[tokio::test]
async fn bad_id_tokens_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let oidc = verifier(jwks_file(dir.path())).await;
    let ed = key("ed25519");
    let with = |field: &str, value: Value| {
        let mut claims = claims();
        claims[field] = value;
        id_token(&ed, &claims)
    };
    let cases = [
        (
            with("iss", json!("https://evil.test")),
            "ID token rejected: InvalidIssuer",
        ),
        (
            with("aud", json!("someone-else")),
            "ID token rejected: InvalidAudience",
        ),
        (
            with("exp", json!(now() - 3600)),
            "ID token rejected: ExpiredSignature",
        ),
        (
            with("email", json!(7)),
            "the ID token has no string claim `email`",
        ),
        (
            with("groups", json!([1, 2])),
            "claim `groups` must hold strings",
        ),
        (
            with("groups", json!({"a": 1})),
            "claim `groups` must be an array of strings",
        ),
        (
            sign(
                &ed,
                json!({"alg": "HS256", "typ": "JWT", "kid": ed.key_id()}),
                &claims(),
            ),
            "ID tokens signed with HS256 are not accepted",
        ),
        (
            sign(
                &ed,
                json!({"alg": "EdDSA", "typ": "JWT", "kid": "unknown"}),
                &claims(),
            ),
            "the ID token's kid is not a key of the IdP",
        ),
        (
            sign(&ed, json!({"alg": "EdDSA", "typ": "JWT"}), &claims()),
            "the ID token has no kid",
        ),
        (
            // The header names the P-256 key but claims EdDSA: the key's alg decides.
            sign(
                &ed,
                json!({"alg": "EdDSA", "typ": "JWT", "kid": key("p256").key_id()}),
                &claims(),
            ),
            "the ID token's alg does not match its key",
        ),
        (
            id_token(&key("attacker-ed25519"), &claims()),
            "the ID token's kid is not a key of the IdP",
        ),
        ("not.a.jwt".to_owned(), "the bearer token is not a JWT"),
        (
            "eyJhbGciOiJub25lIn0.e30.".to_owned(),
            "the bearer token is not a JWT",
        ),
    ];
    for (token, expected) in cases {
        let error = oidc.verify(&token).await.unwrap_err();
        assert_eq!(error.status_code(), axum::http::StatusCode::UNAUTHORIZED);
        assert_eq!(error.to_string(), expected);
    }
    // A forged signature with a known kid.
    let forged = id_token(&key("attacker-ed25519"), &claims())
        .replace(&key("attacker-ed25519").key_id(), &ed.key_id());
    assert!(oidc.verify(&forged).await.is_err());
}

#[tokio::test]
async fn keys_can_come_from_the_idp_url() {
    let dir = tempfile::tempdir().unwrap();
    let JwksSource::File(path) = jwks_file(dir.path()) else {
        unreachable!()
    };
    let document = std::fs::read_to_string(path).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router =
        axum::Router::new().route("/jwks", axum::routing::get(move || async move { document }));
    tokio::spawn(async move { axum::serve(listener, router).await });
    let oidc = verifier(JwksSource::Url(format!("http://{address}/jwks"))).await;
    let identity = oidc
        .verify(&id_token(&key("ed25519"), &claims()))
        .await
        .unwrap();
    assert_eq!(identity.subject, "alice@example.test");
}

#[tokio::test]
async fn an_issuer_configured_for_oidc_attributes_actions_to_the_id_token_subject() {
    use clap::Parser;
    use jitgate_issuer::config::ServeConfig;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        config: ServeConfig,
    }
    let dir = tempfile::tempdir().unwrap();
    let JwksSource::File(jwks) = jwks_file(dir.path()) else {
        unreachable!()
    };
    let policy = dir.path().join("policy.cedar");
    std::fs::write(&policy, jitgate_issuer::policy::EXAMPLE_POLICY).unwrap();
    let data = dir.path().join("data");
    let args: Vec<std::ffi::OsString> = vec![
        "serve".into(),
        "--data-dir".into(),
        data.clone().into_os_string(),
        "--policy".into(),
        policy.into_os_string(),
        "--oidc-issuer".into(),
        ISSUER.into(),
        "--oidc-audience".into(),
        AUDIENCE.into(),
        "--oidc-jwks".into(),
        jwks.into_os_string(),
        "--oidc-subject-claim".into(),
        "email".into(),
        "--data-plane-credential".into(),
        "feed-secret".into(),
    ];
    let wrapper = Wrapper::try_parse_from(args).unwrap();
    let state = jitgate_issuer::serve::build_state(&wrapper.config)
        .await
        .unwrap();
    let token = id_token(&key("ed25519"), &claims());
    let router = jitgate_issuer::app(state);
    use tower::ServiceExt;
    let request = axum::http::Request::post("/v1/requests")
        .header("authorization", format!("Bearer {token}"))
        .body(axum::body::Body::from(
            json!({"scopes": [common::SMALL_MODEL], "duration": "1h", "reason": "eval"})
                .to_string(),
        ))
        .unwrap();
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), axum::http::StatusCode::CREATED);
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["requester"], "alice@example.test");
    assert_eq!(body["requester_groups"], json!(["ml-eng", "staff"]));
    assert_eq!(body["state"], "active");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&data).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
