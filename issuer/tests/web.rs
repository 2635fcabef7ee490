//! The reviewer web page over HTTP, without a browser: redirects, cookie flags, security
//! headers, CSRF and Origin checks, escaping, and self-review refused there too.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{ask, Answer, TestIssuer, TRAINING};

const CSRF: &str = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG";

fn form(path: &str, cookies: &str, body: &str) -> Request<Body> {
    Request::post(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", cookies)
        .header("host", "issuer.jitgate.test")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

fn page(path: &str, cookies: &str) -> Request<Body> {
    Request::get(path)
        .header("cookie", cookies)
        .body(Body::empty())
        .unwrap()
}

fn set_cookies(answer: &Answer) -> Vec<String> {
    answer
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .collect()
}

/// Signs `who` in with their API token; the cookies of the signed-in browser.
async fn session(issuer: &TestIssuer, who: &str) -> String {
    let signed_in = issuer
        .send(form(
            "/login",
            &format!("jitgate_csrf={CSRF}"),
            &format!("csrf={CSRF}&credential=jgt_demo_{who}"),
        ))
        .await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.text
    );
    format!("jitgate_csrf={CSRF}; {}", session_cookie(&signed_in))
}

/// `jitgate_session=<id>` from a sign-in's `Set-Cookie`.
fn session_cookie(answer: &Answer) -> String {
    set_cookies(answer)
        .iter()
        .find(|cookie| cookie.starts_with("jitgate_session="))
        .and_then(|cookie| cookie.split(';').next())
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn signing_in_opens_an_opaque_session_with_http_only_cookies() {
    let issuer = TestIssuer::sqlite().await;
    let anonymous = issuer.send(page("/review", "")).await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    assert_eq!(anonymous.headers["location"], "/login");

    let login = issuer.send(page("/login", "")).await;
    assert_eq!(login.status, StatusCode::OK);
    assert_eq!(login.headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(
        login.headers["content-security-policy"],
        "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    assert_eq!(login.headers["cache-control"], "no-store");
    let cookies = set_cookies(&login);
    assert_eq!(cookies.len(), 1);
    let csrf = cookies[0]
        .strip_prefix("jitgate_csrf=")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(csrf.len(), 43);
    assert!(
        cookies[0].ends_with("; Path=/; Max-Age=28800; SameSite=Strict; HttpOnly; Secure"),
        "{}",
        cookies[0]
    );
    assert!(login
        .text
        .contains(&format!("name=\"csrf\" value=\"{csrf}\"")));

    let wrong = issuer
        .send(form(
            "/login",
            &format!("jitgate_csrf={csrf}"),
            "csrf=other&credential=jgt_demo_bob",
        ))
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert!(wrong
        .text
        .contains("the form&#39;s CSRF token does not match; reload the page and try again"));
    assert!(set_cookies(&wrong)
        .iter()
        .all(|c| !c.starts_with("jitgate_session")));

    let unknown = issuer
        .send(form(
            "/login",
            &format!("jitgate_csrf={csrf}"),
            &format!("csrf={csrf}&credential=jgt_demo_nobody"),
        ))
        .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert!(unknown
        .text
        .contains("<p class=\"notice error\" role=\"alert\">unknown API token</p>"));

    let signed_in = issuer
        .send(form(
            "/login",
            &format!("jitgate_csrf={csrf}"),
            &format!("csrf={csrf}&credential=jgt_demo_bob"),
        ))
        .await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    assert_eq!(signed_in.headers["location"], "/review");
    let cookies = set_cookies(&signed_in);
    assert_eq!(cookies.len(), 1);
    // An opaque random id, never the credential: a leaked cookie is one session, not a token.
    let cookie = session_cookie(&signed_in);
    let id = cookie.strip_prefix("jitgate_session=").unwrap();
    assert_eq!(id.len(), 43);
    assert!(!cookies[0].contains("jgt_"), "{}", cookies[0]);
    assert!(
        cookies[0].ends_with("; Path=/; Max-Age=28800; SameSite=Lax; HttpOnly; Secure"),
        "{}",
        cookies[0]
    );
    let browser = format!("jitgate_csrf={csrf}; {cookie}");
    assert_eq!(
        issuer.send(page("/review", &browser)).await.status,
        StatusCode::OK
    );
    // The credential itself in the cookie (what the cookie used to hold) opens nothing.
    let forged = issuer
        .send(page("/review", "jitgate_session=jgt_demo_bob"))
        .await;
    assert_eq!(forged.status, StatusCode::SEE_OTHER);

    // Logout ends the session on the server: the same cookie, replayed, is no session.
    let logout = issuer
        .send(form("/logout", &browser, &format!("csrf={csrf}")))
        .await;
    assert_eq!(logout.status, StatusCode::SEE_OTHER);
    assert!(set_cookies(&logout)
        .iter()
        .any(|c| c.starts_with("jitgate_session=; Path=/; Max-Age=0")));
    let replayed = issuer.send(page("/review", &browser)).await;
    assert_eq!(replayed.status, StatusCode::SEE_OTHER);
    assert_eq!(replayed.headers["location"], "/login");
}

#[tokio::test]
async fn a_session_expires_after_eight_hours() {
    let issuer = TestIssuer::sqlite().await;
    let browser = session(&issuer, "bob").await;
    issuer.clock.advance(8 * 3600 - 1);
    assert_eq!(
        issuer.send(page("/review", &browser)).await.status,
        StatusCode::OK
    );
    issuer.clock.advance(1);
    let expired = issuer.send(page("/review", &browser)).await;
    assert_eq!(expired.status, StatusCode::SEE_OTHER);
    assert_eq!(expired.headers["location"], "/login");
}

#[tokio::test]
async fn decisions_need_the_csrf_token_and_a_same_site_origin() {
    let issuer = TestIssuer::sqlite().await;
    let created = issuer.request("alice", ask(&[TRAINING], "2h", "r")).await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/review/{id}");
    let missing = issuer
        .send(form(
            &path,
            &session(&issuer, "bob")
                .await
                .replace(&format!("jitgate_csrf={CSRF}; "), ""),
            &format!("csrf={CSRF}&verdict=approve"),
        ))
        .await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    let mismatch = issuer
        .send(form(
            &path,
            &session(&issuer, "bob").await,
            "csrf=x&verdict=approve",
        ))
        .await;
    assert_eq!(mismatch.status, StatusCode::FORBIDDEN);
    let mut cross_site = form(
        &path,
        &session(&issuer, "bob").await,
        &format!("csrf={CSRF}&verdict=approve"),
    );
    cross_site
        .headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    let cross_site = issuer.send(cross_site).await;
    assert_eq!(cross_site.status, StatusCode::FORBIDDEN);
    assert!(cross_site
        .text
        .contains("cross-site form submission refused"));
    let unchanged = issuer
        .get(&format!("/v1/requests/{id}"), Some("alice"))
        .await;
    assert_eq!(unchanged.body["state"], "pending");

    let mut same_site = form(
        &path,
        &session(&issuer, "bob").await,
        &format!("csrf={CSRF}&verdict=approve&comment=ok"),
    );
    same_site
        .headers_mut()
        .insert("origin", "https://issuer.jitgate.test".parse().unwrap());
    let approved = issuer.send(same_site).await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER);
    assert_eq!(
        approved.headers["location"],
        format!("/review?message=Approved+{id}%3A+access+granted+to+alice.")
    );
    let shown = issuer
        .get(&format!("/v1/requests/{id}"), Some("alice"))
        .await;
    assert_eq!(shown.body["state"], "active");
}

#[tokio::test]
async fn the_page_escapes_and_refuses_self_review() {
    let issuer = TestIssuer::sqlite().await;
    let created = issuer
        .request(
            "alice",
            ask(&[TRAINING], "2h", "<img src=x onerror=alert(1)> \"quoted\""),
        )
        .await;
    let id = created["id"].as_str().unwrap();
    let queue = issuer
        .send(page("/review", &session(&issuer, "bob").await))
        .await;
    assert_eq!(queue.status, StatusCode::OK);
    assert!(queue.text.contains(
        "<dd class=\"reason\">&lt;img src=x onerror=alert(1)&gt; &quot;quoted&quot;</dd>"
    ));
    assert!(!queue.text.contains("<img"));
    let flash = issuer
        .send(page(
            "/review?message=%3Cscript%3Ex%3C%2Fscript%3E",
            &session(&issuer, "bob").await,
        ))
        .await;
    assert!(flash
        .text
        .contains("<p class=\"notice\" role=\"status\">&lt;script&gt;x&lt;/script&gt;</p>"));

    // alice's queue does not show her own request, and posting a decision anyway is refused.
    let own_queue = issuer
        .send(page("/review", &session(&issuer, "alice").await))
        .await;
    assert!(own_queue.text.contains("Waiting for your review (0)"));
    let own = issuer
        .send(form(
            &format!("/review/{id}"),
            &session(&issuer, "root").await,
            &format!("csrf={CSRF}&verdict=approve"),
        ))
        .await;
    assert_eq!(
        own.status,
        StatusCode::SEE_OTHER,
        "root may review alice's request"
    );
    let created = issuer.request("root", ask(&[TRAINING], "2h", "r")).await;
    let root_own = created["id"].as_str().unwrap();
    let refused = issuer
        .send(form(
            &format!("/review/{root_own}"),
            &session(&issuer, "root").await,
            &format!("csrf={CSRF}&verdict=approve"),
        ))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused
        .text
        .contains("you cannot review your own request, whatever your role"));
}

#[tokio::test]
async fn reviewers_see_the_budget_they_approve() {
    let issuer = TestIssuer::sqlite().await;
    let budgeted = issuer
        .request(
            "erin",
            serde_json::json!({"scopes": ["inference:prod/llama-70b"], "duration": "1h", "reason": "r", "limits": {"requests": 40}}),
        )
        .await;
    let unbudgeted = issuer.request("alice", ask(&[TRAINING], "2h", "r")).await;
    let frank = issuer
        .send(page("/review", &session(&issuer, "frank").await))
        .await;
    assert!(frank.text.contains(&format!(
        "id=\"request-{}\"",
        budgeted["id"].as_str().unwrap()
    )));
    assert!(
        frank.text.contains(
            "<dt>Budget</dt><dd class=\"budget\">at most 40 requests and 100000 model tokens</dd>"
        ),
        "{}",
        frank.text
    );
    let bob = issuer
        .send(page("/review", &session(&issuer, "bob").await))
        .await;
    assert!(bob.text.contains(&format!(
        "id=\"request-{}\"",
        unbudgeted["id"].as_str().unwrap()
    )));
    assert!(bob
        .text
        .contains("<dt>Budget</dt><dd class=\"budget\">no limit on requests or tokens</dd>"));
}

#[tokio::test]
async fn the_guard_cannot_sign_in_or_decide() {
    let issuer = TestIssuer::sqlite().await;
    let created = issuer.request("alice", ask(&[TRAINING], "2h", "r")).await;
    let id = created["id"].as_str().unwrap();
    let login = issuer
        .send(form(
            "/login",
            &format!("jitgate_csrf={CSRF}"),
            &format!("csrf={CSRF}&credential=jgt_demo_guard"),
        ))
        .await;
    assert_eq!(login.status, StatusCode::FORBIDDEN);
    assert!(login.text.contains(
        "<p class=\"notice error\" role=\"alert\">the guard&#39;s identity may only revoke grants, post alerts and report usage</p>"
    ));
    assert!(set_cookies(&login)
        .iter()
        .all(|c| !c.starts_with("jitgate_session")));
    // A session cookie holding the guard's token is no session.
    let guard_cookie = format!("jitgate_csrf={CSRF}; jitgate_session=jgt_demo_guard");
    let queue = issuer.send(page("/review", &guard_cookie)).await;
    assert_eq!(queue.status, StatusCode::SEE_OTHER);
    assert_eq!(queue.headers["location"], "/login");
    let decide = issuer
        .send(form(
            &format!("/review/{id}"),
            &guard_cookie,
            &format!("csrf={CSRF}&verdict=approve"),
        ))
        .await;
    assert_eq!(decide.status, StatusCode::SEE_OTHER);
    assert_eq!(decide.headers["location"], "/login");
    let unchanged = issuer
        .get(&format!("/v1/requests/{id}"), Some("alice"))
        .await;
    assert_eq!(unchanged.body["state"], "pending");
    assert_eq!(unchanged.body["reviews"], serde_json::json!([]));
}
