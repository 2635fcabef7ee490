//! Web sign-in at a real OpenID provider (panva's certified `oidc-provider`, started by the
//! test): the authorization code flow with PKCE, `state` and `nonce`, ending in an opaque
//! session. Each refusal — wrong `state`, a replayed code, a bad `nonce`, an expired session,
//! an ID token from another issuer — names the problem and opens no session.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod oidc_provider;

use std::net::SocketAddr;
use std::path::Path;

use oidc_provider::{sign_in, OidcProvider};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;

const CLIENT_ID: &str = "jitgate-web";
const CLIENT_SECRET: &str = "web-client-secret-for-tests-only";

struct Setup {
    base: String,
    redirect_uri: String,
    data: std::path::PathBuf,
    _provider: OidcProvider,
    _dir: tempfile::TempDir,
}

/// The provider, and an issuer on a real port configured for web sign-in at it.
async fn setup() -> Setup {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let redirect_uri = format!("{base}/login/callback");
    let provider = OidcProvider::start(CLIENT_ID, CLIENT_SECRET, &redirect_uri);
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("client-secret");
    std::fs::write(&secret, CLIENT_SECRET).unwrap();
    let data = dir.path().join("data");
    let mut config = jitgate_issuer::config::ServeConfig::local_demo(data.clone(), addr);
    config.issuer_url = base.clone();
    config.oidc_issuer = Some(provider.issuer().to_owned());
    config.oidc_audience = Some(CLIENT_ID.into());
    config.oidc_jwks = Some(format!("{}/jwks", provider.issuer()));
    config.oidc_client_secret_file = Some(secret);
    config.oidc_scopes = "openid email groups".into();
    let state = jitgate_issuer::serve::build_state(&config).await.unwrap();
    tokio::spawn(jitgate_issuer::serve::serve_on(listener, state, true));
    Setup {
        base,
        redirect_uri,
        data,
        _provider: provider,
        _dir: dir,
    }
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// `name=value` of the cookie `name` a response sets.
fn cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with(&format!("{name}=")))
        .and_then(|value| value.split(';').next())
        .map(str::to_owned)
}

/// `GET /login/oidc`: the provider's authorization URL and the `jitgate_login` cookie.
async fn begin(setup: &Setup) -> (String, String) {
    let response = browser()
        .get(format!("{}/login/oidc", setup.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let login_cookie = cookie(&response, "jitgate_login").unwrap();
    let location = response.headers()[LOCATION].to_str().unwrap().to_owned();
    (location, login_cookie)
}

async fn callback(url: &str, cookie_header: &str) -> reqwest::Response {
    browser()
        .get(url)
        .header(COOKIE, cookie_header)
        .send()
        .await
        .unwrap()
}

async fn page(setup: &Setup, path: &str, cookie_header: &str) -> reqwest::Response {
    browser()
        .get(format!("{}{path}", setup.base))
        .header(COOKIE, cookie_header)
        .send()
        .await
        .unwrap()
}

/// Asserts a refused callback: the status, the message on the sign-in page, no session.
async fn refused(response: reqwest::Response, status: u16, message: &str) {
    assert_eq!(response.status(), status);
    assert!(
        cookie(&response, "jitgate_session").is_none(),
        "a session was opened"
    );
    let body = response.text().await.unwrap();
    assert!(body.contains(message), "{message:?} not in {body}");
}

fn sessions_in(data: &Path) -> i64 {
    let url = format!("sqlite://{}?mode=ro", data.join("issuer.db").display());
    let runtime = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                use sqlx::Connection;
                let mut connection = sqlx::SqliteConnection::connect(&url).await.unwrap();
                sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM web_sessions")
                    .fetch_one(&mut connection)
                    .await
                    .unwrap()
            })
    });
    runtime.join().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_signs_in_at_the_identity_provider() {
    let setup = setup().await;
    let login_page = page(&setup, "/login", "").await.text().await.unwrap();
    assert!(login_page.contains("href=\"/login/oidc\""), "{login_page}");

    let (authorize, login_cookie) = begin(&setup).await;
    assert!(
        authorize.contains("code_challenge_method=S256"),
        "{authorize}"
    );
    let back = sign_in(&authorize, "bob", &setup.redirect_uri).await;
    let done = callback(&back, &login_cookie).await;
    assert_eq!(done.status(), 303);
    assert_eq!(done.headers()[LOCATION], "/review");
    let session = cookie(&done, "jitgate_session").unwrap();
    // An opaque id, not the ID token.
    assert_eq!(session.len(), "jitgate_session=".len() + 43);
    let review = page(&setup, "/review", &session).await;
    assert_eq!(review.status(), 200);
    let text = review.text().await.unwrap();
    assert!(text.contains("Signed in as <strong>bob</strong>"), "{text}");
    assert!(text.contains("Waiting for your review"), "{text}");

    // The same callback again: its state was taken by the first.
    refused(
        callback(&back, &login_cookie).await,
        400,
        "wrong state: no sign-in is waiting for it (already finished?)",
    )
    .await;
    // The same code under a fresh sign-in: the provider refuses it.
    let (_, fresh_cookie) = begin(&setup).await;
    let fresh_state = fresh_cookie.strip_prefix("jitgate_login=").unwrap();
    let code = back
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let replayed = format!("{}?code={code}&state={fresh_state}", setup.redirect_uri);
    refused(
        callback(&replayed, &fresh_cookie).await,
        401,
        "the identity provider refused the sign-in: invalid_grant",
    )
    .await;
    assert_eq!(sessions_in(&setup.data), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_state_or_nonce_opens_no_session() {
    let setup = setup().await;
    // Another browser's state: the callback does not match this browser's cookie.
    let (authorize, _) = begin(&setup).await;
    let (_, other_cookie) = begin(&setup).await;
    let back = sign_in(&authorize, "bob", &setup.redirect_uri).await;
    refused(
        callback(&back, &other_cookie).await,
        400,
        "wrong state: this sign-in was not started in this browser",
    )
    .await;
    // No cookie at all (a link someone was sent).
    let (authorize, _) = begin(&setup).await;
    let back = sign_in(&authorize, "bob", &setup.redirect_uri).await;
    refused(callback(&back, "").await, 400, "wrong state").await;

    // A nonce other than this sign-in's (as an attacker injecting a token would bring).
    let (authorize, login_cookie) = begin(&setup).await;
    let nonce = authorize
        .split("nonce=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let tampered = authorize.replace(&format!("nonce={nonce}"), "nonce=someone-elses-nonce");
    let back = sign_in(&tampered, "bob", &setup.redirect_uri).await;
    refused(
        callback(&back, &login_cookie).await,
        401,
        "the ID token&#39;s nonce is not this sign-in&#39;s",
    )
    .await;
    // The provider answering with an error (e.g. the user declined) for this sign-in.
    let (_, login_cookie) = begin(&setup).await;
    let state = login_cookie.strip_prefix("jitgate_login=").unwrap();
    let denied = format!(
        "{}?error=access_denied&error_description=nope&state={state}",
        setup.redirect_uri
    );
    refused(
        callback(&denied, &login_cookie).await,
        401,
        "the identity provider refused the sign-in: access_denied (nope)",
    )
    .await;
    assert_eq!(sessions_in(&setup.data), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_or_another_issuers_token_is_refused() {
    let setup = setup().await;
    let (authorize, login_cookie) = begin(&setup).await;
    let back = sign_in(&authorize, "alice", &setup.redirect_uri).await;
    let session = cookie(&callback(&back, &login_cookie).await, "jitgate_session").unwrap();
    assert_eq!(page(&setup, "/requests", &session).await.status(), 200);
    // The session's end comes (set in the database, rather than waiting 8 hours).
    let url = format!("sqlite://{}", setup.data.join("issuer.db").display());
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                use sqlx::Connection;
                let mut connection = sqlx::SqliteConnection::connect(&url).await.unwrap();
                sqlx::query("UPDATE web_sessions SET expires_at = 0")
                    .execute(&mut connection)
                    .await
                    .unwrap();
            })
    })
    .join()
    .unwrap();
    let expired = page(&setup, "/requests", &session).await;
    assert_eq!(expired.status(), 303);
    assert_eq!(expired.headers()[LOCATION], "/login");

    // An ID token from another provider, pasted: refused by issuer, no session.
    let other_redirect = "http://127.0.0.1:9/callback";
    let other = OidcProvider::start(CLIENT_ID, CLIENT_SECRET, other_redirect);
    let id_token = other_id_token(&other, other_redirect).await;
    let csrf = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG";
    let pasted = browser()
        .post(format!("{}/login", setup.base))
        .header(COOKIE, format!("jitgate_csrf={csrf}"))
        .form(&[("csrf", csrf), ("credential", id_token.as_str())])
        .send()
        .await
        .unwrap();
    // Signed by the other provider's key, it is refused at the key (a token signed with the
    // right key but naming another `iss` is refused too: `tests/oidc.rs`).
    refused(
        pasted,
        401,
        "the ID token&#39;s kid is not a key of the IdP",
    )
    .await;
    assert_eq!(sessions_in(&setup.data), 1);
}

/// An ID token from `provider`, through its own code flow.
async fn other_id_token(provider: &OidcProvider, redirect_uri: &str) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let verifier = "a-code-verifier-long-enough-for-pkce-0123456789";
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let authorize = format!(
        "{}/auth?response_type=code&client_id={CLIENT_ID}&redirect_uri={}&scope=openid%20email&state=s&nonce=n&code_challenge={challenge}&code_challenge_method=S256",
        provider.issuer(),
        urlencode(redirect_uri)
    );
    let back = sign_in(&authorize, "alice", redirect_uri).await;
    let code = back
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/token", provider.issuer()))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["id_token"].as_str().unwrap().to_owned()
}

fn urlencode(text: &str) -> String {
    serde_urlencoded::to_string([("", text)])
        .unwrap()
        .trim_start_matches('=')
        .to_owned()
}
