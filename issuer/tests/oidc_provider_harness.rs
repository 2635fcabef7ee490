//! The sign-in test harness on its own, without the issuer: the real `oidc-provider` starts,
//! publishes its discovery document and keys, signs bob in through its login and consent
//! pages (authorization code flow with PKCE S256, `state`, `nonce`), and the code is
//! exchanged as a confidential client would — an ID token carrying email and groups, a
//! refresh token that works — and refused when replayed. A request without PKCE is refused.
//! Loopback only; each test bounded to a minute.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod oidc_provider;

use std::future::Future;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use oidc_provider::{sign_in, OidcProvider};
use reqwest::{StatusCode, Url};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const CLIENT_ID: &str = "jitgate-issuer";
const CLIENT_SECRET: &str = "harness-client-secret-0123456789";
/// Never connected to: the sign-in stops at the provider's redirect to it.
const REDIRECT_URI: &str = "http://127.0.0.1:1/oidc/callback";
const SCOPE: &str = "openid email groups offline_access";

async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), test)
        .await
        .expect("the test took over a minute")
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn random_token() -> String {
    let mut bytes = [0_u8; 32];
    getrandom::fill(&mut bytes).unwrap();
    URL_SAFE_NO_PAD.encode(bytes)
}

async fn get_json(url: &str) -> Value {
    let response = http().get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "GET {url}");
    response.json().await.unwrap()
}

/// `{issuer}/.well-known/openid-configuration`, checked to name that issuer.
async fn discovery(provider: &OidcProvider) -> Value {
    let document = get_json(&format!(
        "{}/.well-known/openid-configuration",
        provider.issuer()
    ))
    .await;
    assert_eq!(document["issuer"], provider.issuer());
    document
}

/// A POST to the token endpoint authenticated with client_secret_basic: status and body.
async fn token_request(token_endpoint: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = http()
        .post(token_endpoint)
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

/// The JSON in the middle part of a compact JWS (not verified: the provider is trusted here).
fn jwt_part(jwt: &str, index: usize) -> Value {
    let part = jwt.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// One authorization request, as a relying party makes it, and the secrets it keeps.
struct Authorization {
    url: Url,
    state: String,
    nonce: String,
    verifier: String,
}

/// A code-flow request for `SCOPE` with `prompt=consent` (for the refresh token), a fresh
/// `state`, `nonce` and PKCE S256 challenge.
fn authorization(authorization_endpoint: &str) -> Authorization {
    let (state, nonce, verifier) = (random_token(), random_token(), random_token());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let url = Url::parse_with_params(
        authorization_endpoint,
        [
            ("client_id", CLIENT_ID),
            ("redirect_uri", REDIRECT_URI),
            ("response_type", "code"),
            ("scope", SCOPE),
            ("prompt", "consent"),
            ("state", &state),
            ("nonce", &nonce),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .unwrap();
    Authorization {
        url,
        state,
        nonce,
        verifier,
    }
}

/// The code-for-tokens form of `code`.
fn code_exchange<'a>(code: &'a str, verifier: &'a str) -> [(&'static str, &'a str); 4] {
    [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", verifier),
    ]
}

fn query(url: &str) -> Vec<(String, String)> {
    Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

#[tokio::test]
async fn bob_signs_in_with_pkce_and_the_code_works_once() {
    bounded(async {
        let provider = OidcProvider::start(CLIENT_ID, CLIENT_SECRET, REDIRECT_URI);
        let document = discovery(&provider).await;
        let authorization_endpoint = document["authorization_endpoint"].as_str().unwrap();
        let token_endpoint = document["token_endpoint"].as_str().unwrap();
        assert_eq!(
            document["code_challenge_methods_supported"],
            json!(["S256"])
        );

        let request = authorization(authorization_endpoint);
        let callback = sign_in(request.url.as_str(), "bob", REDIRECT_URI).await;
        let pairs = query(&callback);
        assert_eq!(param(&pairs, "error"), None, "callback {callback}");
        assert_eq!(param(&pairs, "state"), Some(request.state.as_str()));
        // RFC 9207: the provider names itself in the authorization response.
        assert_eq!(param(&pairs, "iss"), Some(provider.issuer()));
        let code = param(&pairs, "code").unwrap().to_owned();

        let exchange = code_exchange(&code, &request.verifier);
        let (status, tokens) = token_request(token_endpoint, &exchange).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        assert_eq!(tokens["token_type"], "Bearer");
        let id_token = tokens["id_token"].as_str().unwrap();
        let header = jwt_part(id_token, 0);
        assert_eq!(header["alg"], "RS256");
        let claims = jwt_part(id_token, 1);
        assert_eq!(claims["iss"], provider.issuer());
        assert_eq!(claims["aud"], CLIENT_ID);
        assert_eq!(claims["nonce"], request.nonce.as_str());
        assert_eq!(claims["sub"], "bob");
        assert_eq!(claims["email"], "bob@example.com");
        assert_eq!(claims["groups"], json!(["ml-leads", "ml-eng"]));
        // The key that signed it is published.
        let jwks = get_json(document["jwks_uri"].as_str().unwrap()).await;
        assert!(
            jwks["keys"]
                .as_array()
                .unwrap()
                .iter()
                .any(|key| key["kid"] == header["kid"]),
            "kid {} not in {jwks}",
            header["kid"]
        );
        let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();

        // The same code again: refused (and, per RFC 6749, its tokens revoked).
        let (status, replay) = token_request(token_endpoint, &exchange).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{replay}");
        assert_eq!(replay["error"], "invalid_grant");

        // The refresh token (what the CLI login keeps) gets a new ID token for bob. It was
        // issued by the replayed code's grant, which the replay revoked, so a fresh sign-in
        // is needed to show it working.
        let second = authorization(authorization_endpoint);
        let callback = sign_in(second.url.as_str(), "bob", REDIRECT_URI).await;
        let code = param(&query(&callback), "code").unwrap().to_owned();
        let (status, tokens) =
            token_request(token_endpoint, &code_exchange(&code, &second.verifier)).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        let fresh_refresh = tokens["refresh_token"].as_str().unwrap();
        assert_ne!(fresh_refresh, refresh_token);
        let (status, refreshed) = token_request(
            token_endpoint,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", fresh_refresh),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{refreshed}");
        let claims = jwt_part(refreshed["id_token"].as_str().unwrap(), 1);
        assert_eq!(claims["sub"], "bob");
        assert_eq!(claims["groups"], json!(["ml-leads", "ml-eng"]));

        // The revoked grant's refresh token no longer works.
        let (status, revoked) = token_request(
            token_endpoint,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh_token),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{revoked}");
        assert_eq!(revoked["error"], "invalid_grant");
    })
    .await;
}

#[tokio::test]
async fn an_authorization_request_without_pkce_is_refused() {
    bounded(async {
        let provider = OidcProvider::start(CLIENT_ID, CLIENT_SECRET, REDIRECT_URI);
        let document = discovery(&provider).await;
        let authorize_url = Url::parse_with_params(
            document["authorization_endpoint"].as_str().unwrap(),
            [
                ("client_id", CLIENT_ID),
                ("redirect_uri", REDIRECT_URI),
                ("response_type", "code"),
                ("scope", "openid"),
                ("state", "s1"),
                ("nonce", "n1"),
            ],
        )
        .unwrap();
        // Refused before any page: straight back to the client with an error.
        let callback = sign_in(authorize_url.as_str(), "alice", REDIRECT_URI).await;
        let pairs = query(&callback);
        assert_eq!(
            param(&pairs, "error"),
            Some("invalid_request"),
            "{callback}"
        );
        assert!(
            param(&pairs, "error_description").is_some_and(|text| text.contains("PKCE")),
            "{callback}"
        );
        assert_eq!(param(&pairs, "state"), Some("s1"));
        assert_eq!(param(&pairs, "code"), None);
    })
    .await;
}
