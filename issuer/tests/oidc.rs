//! OIDC ID tokens: verified against the IdP's JWKS (file or URL) with a strict algorithm
//! allow-list, issuer, audience and expiry, subject and groups from configurable claims; a
//! JWKS URL refreshed on a TTL (withdrawn keys drop out) and re-fetched for unknown `kid`s at
//! most once per interval, without ever holding up a sign-in, against a real HTTP IdP on
//! loopback. The tokens are signed here with the test-only keys in `testdata/keys/`.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jitgate_grant::jwks::{public_jwk, signing_key_from_jwk};
use jitgate_grant::mint::sign_compact;
use jitgate_grant::SigningKey;
use jitgate_issuer::identity::oidc::{
    JwksRefresh, JwksSource, OidcIdentity, OidcSettings, OidcVerifier,
};
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
    verifier_with(jwks, JwksRefresh::default()).await
}

async fn verifier_with(jwks: JwksSource, refresh: JwksRefresh) -> OidcVerifier {
    OidcVerifier::new(OidcSettings {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        cli_audience: None,
        jwks,
        subject_claim: "email".into(),
        groups_claim: "groups".into(),
        refresh,
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
                groups: vec!["ml-eng".into(), "staff".into()],
                nonce: None,
                expires_at: identity.expires_at,
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

/// An issuer trusting the test IdP (subjects from `email`), with `extra` flags.
async fn issuer_with_oidc(dir: &std::path::Path, extra: &[std::ffi::OsString]) -> axum::Router {
    use clap::Parser;
    use jitgate_issuer::config::ServeConfig;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        config: ServeConfig,
    }
    let JwksSource::File(jwks) = jwks_file(dir) else {
        unreachable!()
    };
    let policy = dir.join("policy.cedar");
    std::fs::write(&policy, jitgate_issuer::policy::EXAMPLE_POLICY).unwrap();
    let mut args: Vec<std::ffi::OsString> = vec![
        "serve".into(),
        "--data-dir".into(),
        dir.join("data").into_os_string(),
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
    ];
    args.extend(extra.iter().cloned());
    let wrapper = Wrapper::try_parse_from(args).unwrap();
    let state = jitgate_issuer::serve::build_state(&wrapper.config)
        .await
        .unwrap();
    jitgate_issuer::app(state)
}

async fn call(router: &axum::Router, path: &str, bearer: &str, body: Value) -> (u16, Value) {
    use tower::ServiceExt;
    let request = axum::http::Request::post(path)
        .header("authorization", format!("Bearer {bearer}"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.to_string()))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_person_linked_across_identity_kinds_cannot_approve_their_own_request() {
    use jitgate_issuer::identity::api_tokens::digest;
    // alice's API token, linked to her identity at the IdP; at the IdP she is also an ML lead.
    let mut lead = claims();
    lead["groups"] = json!(["ml-leads", "ml-eng"]);
    let id_token = id_token(&key("ed25519"), &lead);
    let ask = json!({"scopes": ["inference:gpt-4o"], "duration": "1h", "reason": "eval"});
    for linked in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("tokens.json");
        let links = if linked {
            json!(["alice@example.test"])
        } else {
            json!([])
        };
        std::fs::write(
            &tokens,
            json!({"tokens": [{"subject": "alice", "kind": "person", "groups": ["ml-eng"],
                "sha256": digest("jgt_alice_test"), "oidc_subjects": links}]})
            .to_string(),
        )
        .unwrap();
        let router = issuer_with_oidc(
            dir.path(),
            &["--api-tokens".into(), tokens.into_os_string()],
        )
        .await;
        let (status, created) = call(&router, "/v1/requests", "jgt_alice_test", ask.clone()).await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["requester"], "alice");
        let id = created["id"].as_str().unwrap();
        let (status, answer) = call(
            &router,
            &format!("/v1/requests/{id}/approve"),
            &id_token,
            json!({"comment": "looks fine"}),
        )
        .await;
        if linked {
            // One person, two credentials: the approval is self-review, whatever the kind.
            assert_eq!(status, 403, "{answer}");
            assert_eq!(answer["error"], "self_review");
        } else {
            // Unlinked, the IdP's alice@example.test is someone else to the issuer.
            assert_eq!(status, 200, "{answer}");
            assert_eq!(answer["state"], "active");
        }
    }
}

#[test]
fn links_are_for_people_and_one_oidc_subject_is_one_person() {
    use jitgate_issuer::identity::api_tokens::ApiTokens;
    let entry = |subject: &str, kind: &str, link: &str, n: u8| json!({"subject": subject, "kind": kind, "sha256": format!("{n:064x}"), "oidc_subjects": [link]});
    let service = json!({"tokens": [entry("ci-bot", "service", "00u1", 1)]});
    assert_eq!(
        ApiTokens::parse(&service.to_string()).unwrap_err(),
        "tokens[0].oidc_subjects: only a person's token may be linked to an OIDC subject"
    );
    let twice =
        json!({"tokens": [entry("alice", "person", "00u1", 1), entry("bob", "person", "00u1", 2)]});
    assert_eq!(
        ApiTokens::parse(&twice.to_string()).unwrap_err(),
        "tokens[1].oidc_subjects: \"00u1\" is already linked to \"alice\""
    );
    let tokens =
        ApiTokens::parse(&json!({"tokens": [entry("alice", "person", "00u1", 1)]}).to_string())
            .unwrap();
    assert_eq!(tokens.linked_subject("00u1"), Some("alice"));
    assert_eq!(tokens.linked_subject("00u2"), None);
}

/// A JWKS endpoint on loopback that the test can change while it runs.
#[derive(Clone)]
struct Idp {
    document: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
    /// How long every answer after the first waits (a slow IdP).
    delay_after_first: Duration,
    cache_control: Option<&'static str>,
    down: Arc<AtomicBool>,
}

impl Idp {
    fn with_both_keys() -> Idp {
        Idp {
            document: Arc::new(Mutex::new(json!({"keys": [
                public_jwk(&key("ed25519").verifying_key()),
                public_jwk(&key("p256").verifying_key()),
            ]}))),
            fetches: Arc::new(AtomicUsize::new(0)),
            delay_after_first: Duration::ZERO,
            cache_control: None,
            down: Arc::new(AtomicBool::new(false)),
        }
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// Removes `name`'s key from the published set.
    fn withdraw(&self, name: &str) {
        let kid = key(name).key_id();
        let mut document = self.document.lock().unwrap();
        let keys = document["keys"].as_array_mut().unwrap();
        keys.retain(|jwk| jwk["kid"] != kid);
        assert_eq!(keys.len(), 1);
    }

    async fn answer(self) -> axum::response::Response {
        use axum::response::IntoResponse;
        if self.fetches.fetch_add(1, Ordering::SeqCst) > 0 {
            tokio::time::sleep(self.delay_after_first).await;
        }
        if self.down.load(Ordering::SeqCst) {
            return axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        let body = self.document.lock().unwrap().to_string();
        let mut response = body.into_response();
        if let Some(cache_control) = self.cache_control {
            response.headers_mut().insert(
                axum::http::header::CACHE_CONTROL,
                axum::http::HeaderValue::from_static(cache_control),
            );
        }
        response
    }

    /// Serves the set on a loopback port; the URL to configure.
    async fn serve(&self) -> JwksSource {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let idp = self.clone();
        let router =
            axum::Router::new().route("/jwks", axum::routing::get(move || idp.clone().answer()));
        tokio::spawn(async move { axum::serve(listener, router).await });
        JwksSource::Url(format!("http://{address}/jwks"))
    }
}

const UNKNOWN_KID: &str = "the ID token's kid is not a key of the IdP";

/// Polls `condition` every 50 ms until it holds, for at most `limit`.
async fn within<F, Fut>(limit: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if condition().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn a_withdrawn_key_stops_being_accepted_after_the_ttl() {
    let idp = Idp::with_both_keys();
    let refresh = JwksRefresh {
        default_ttl: Duration::from_secs(1),
        ..JwksRefresh::default()
    };
    let oidc = verifier_with(idp.serve().await, refresh).await;
    let withdrawn = id_token(&key("p256"), &claims());
    let kept = id_token(&key("ed25519"), &claims());
    assert_eq!(oidc.key_set_ttl(), Duration::from_secs(1));
    assert!(oidc.verify(&withdrawn).await.is_ok());

    idp.withdraw("p256");
    let refused = within(Duration::from_secs(15), || async {
        oidc.verify(&withdrawn).await.is_err()
    })
    .await;
    assert!(
        refused,
        "the withdrawn key was still trusted after 15 s (TTL 1 s)"
    );
    assert_eq!(
        oidc.verify(&withdrawn).await.unwrap_err().to_string(),
        UNKNOWN_KID
    );
    assert!(oidc.verify(&kept).await.is_ok());
    assert!(idp.fetches() >= 2, "{} fetches", idp.fetches());
}

#[tokio::test]
async fn an_idp_that_stops_answering_leaves_the_last_keys_in_place() {
    let idp = Idp::with_both_keys();
    let refresh = JwksRefresh {
        default_ttl: Duration::from_secs(1),
        ..JwksRefresh::default()
    };
    let oidc = verifier_with(idp.serve().await, refresh).await;
    idp.down.store(true, Ordering::SeqCst);
    let retried = within(Duration::from_secs(15), || async { idp.fetches() >= 3 }).await;
    assert!(retried, "{} fetches", idp.fetches());
    let identity = oidc
        .verify(&id_token(&key("p256"), &claims()))
        .await
        .unwrap();
    assert_eq!(identity.subject, "alice@example.test");
}

#[tokio::test]
async fn the_idps_max_age_sets_the_refresh_within_bounds() {
    for (cache_control, expected) in [
        (None, JwksRefresh::DEFAULT_TTL),
        (Some("public, max-age=120"), Duration::from_secs(120)),
        (Some("public, max-age=86400"), Duration::from_secs(3600)),
        (Some("no-store"), Duration::from_secs(60)),
    ] {
        let idp = Idp {
            cache_control,
            ..Idp::with_both_keys()
        };
        let oidc = verifier(idp.serve().await).await;
        assert_eq!(oidc.key_set_ttl(), expected, "{cache_control:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bogus_kid_flood_fetches_once_per_window_and_never_stalls_a_sign_in() {
    // Every fetch after the first takes 5 s: the refetch a bogus kid starts is slow.
    let idp = Idp {
        delay_after_first: Duration::from_secs(5),
        ..Idp::with_both_keys()
    };
    let oidc = Arc::new(verifier(idp.serve().await).await);
    assert_eq!(idp.fetches(), 1);
    let ed = key("ed25519");
    let bogus = |index: usize| {
        sign(
            &ed,
            json!({"alg": "EdDSA", "typ": "JWT", "kid": format!("bogus-{index}")}),
            &claims(),
        )
    };
    let flood: Vec<_> = (0..20)
        .map(|index| {
            let oidc = Arc::clone(&oidc);
            let token = bogus(index);
            tokio::spawn(async move { oidc.verify(&token).await })
        })
        .collect();
    assert!(
        within(Duration::from_secs(5), || async { idp.fetches() == 2 }).await,
        "the first bogus kid starts one refetch"
    );

    // While that refetch waits on the slow IdP, a valid sign-in and more bogus kids are
    // answered at once.
    let started = Instant::now();
    let identity = oidc
        .verify(&id_token(&key("p256"), &claims()))
        .await
        .unwrap();
    assert_eq!(identity.subject, "alice@example.test");
    for index in 20..40 {
        let error = oidc.verify(&bogus(index)).await.unwrap_err();
        assert_eq!(error.to_string(), UNKNOWN_KID);
    }
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(3),
        "answered in {waited:?}, not after the 5 s refetch"
    );

    for outcome in flood {
        assert_eq!(outcome.await.unwrap().unwrap_err().to_string(), UNKNOWN_KID);
    }
    // Still inside the window: refused without another fetch.
    let error = oidc
        .verify(&id_token(&key("attacker-ed25519"), &claims()))
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), UNKNOWN_KID);
    assert_eq!(idp.fetches(), 2);
}
