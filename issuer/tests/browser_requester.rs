//! The requester's page in a real headless Chromium (Debian's `chromium`), driven over the
//! DevTools protocol: sign in, check a request with the policy (nothing stored), ask, see it
//! pending, cancel it; ask for what the policy approves at once, get a token (shown once, as
//! `export` lines, and accepted by the API's token check), revoke the grant. Refusals show the
//! issuer's message with the form still filled in.
//! Set JITGATE_SCREENSHOT_DIR=<dir> to keep pictures of the pages (docs/images/ holds them).
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

#[path = "browser/cdp.rs"]
mod cdp;
mod common;

use cdp::Browser;
use common::TestIssuer;
use serde_json::Value;

const SMALL: &str = "inference:meta-llama/Llama-3.1-8B-Instruct";

async fn screenshot(browser: &mut Browser, name: &str) {
    if let Ok(dir) = std::env::var("JITGATE_SCREENSHOT_DIR") {
        let path = std::path::Path::new(&dir).join(format!("{name}.png"));
        std::fs::write(path, browser.screenshot().await).unwrap();
    }
}

async fn text(browser: &mut Browser, selector: &str) -> String {
    let value = browser
        .eval(&format!(
            "(document.querySelector({}) || {{}}).textContent",
            serde_json::to_string(selector).unwrap()
        ))
        .await;
    value.as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requester_checks_asks_gets_a_token_and_ends_it() {
    let issuer = TestIssuer::sqlite().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = issuer.router.clone();
    tokio::spawn(async move { axum::serve(listener, router).await });

    let mut browser = Browser::start().await;
    browser.navigate(&format!("{base}/requests")).await;
    assert_eq!(browser.eval("location.pathname").await, "/login");
    browser.fill("#credential", "jgt_demo_alice").await;
    browser.click_and_wait("form[action='/login'] button").await;
    browser.navigate(&format!("{base}/requests")).await;
    assert_eq!(
        text(&mut browser, "#none").await,
        "You have not asked for anything yet."
    );

    // Check with the policy: the verdict, and nothing stored.
    browser.fill("#scopes", "inference:gpt-4o").await;
    browser.fill("#duration", "2h").await;
    browser
        .fill("#reason", "compare against the eval baseline")
        .await;
    browser.fill("#max_requests", "200").await;
    browser.click_and_wait("#check").await;
    assert_eq!(
        text(&mut browser, "#verdict strong").await,
        "The policy says: needs 1 approval from ml-leads."
    );
    assert!(text(&mut browser, "#verdict")
        .await
        .contains("Budget: at most 200 requests."));
    // What was typed is still there.
    assert_eq!(
        browser
            .eval("document.querySelector('#scopes').value")
            .await,
        "inference:gpt-4o"
    );
    assert_eq!(
        browser
            .eval("document.querySelector('#duration').value")
            .await,
        "2h"
    );
    screenshot(&mut browser, "requester-check").await;
    let stored = issuer.get("/v1/requests", Some("alice")).await;
    assert_eq!(
        stored.body["requests"],
        serde_json::json!([]),
        "{}",
        stored.text
    );

    // Ask: pending, with its next step and history; then cancel it.
    browser.click_and_wait("#submit").await;
    let notice = text(&mut browser, "[role=status]").await;
    assert!(notice.starts_with("Asked: req_"), "{notice}");
    assert!(
        notice.contains("waiting for 1 more approval from group ml-leads"),
        "{notice}"
    );
    assert_eq!(text(&mut browser, ".state-pending .state").await, "pending");
    assert_eq!(
        text(&mut browser, ".state-pending details summary").await,
        "History (1)"
    );
    let pending_id = browser
        .eval("document.querySelector('.state-pending').id.replace('request-', '')")
        .await
        .as_str()
        .unwrap()
        .to_owned();
    screenshot(&mut browser, "requester-pending").await;
    browser.click_and_wait(".state-pending button.deny").await;
    assert_eq!(
        text(&mut browser, "[role=status]").await,
        format!("{pending_id} is cancelled now.")
    );

    // A refusal shows the issuer's message, the form still filled in.
    browser.fill("#scopes", "dataset:eval-set:read").await;
    browser.fill("#reason", "needs the eval set").await;
    browser.click_and_wait("#submit").await;
    assert_eq!(
        text(&mut browser, "[role=alert]").await,
        "scope dataset:eval-set:read: dataset access must cite a ticket (--ticket) [datasets-need-a-ticket]"
    );
    assert_eq!(
        browser
            .eval("document.querySelector('#scopes').value")
            .await,
        "dataset:eval-set:read"
    );

    // Approved at once: a token shown once, as export lines, that the issuer minted.
    browser.fill("#scopes", SMALL).await;
    browser.fill("#duration", "1h").await;
    browser.fill("#reason", "smoke test").await;
    browser.fill("#max_requests", "").await;
    browser.click_and_wait("#submit").await;
    assert!(text(&mut browser, "[role=status]")
        .await
        .contains("approved at once by policy"));
    assert_eq!(text(&mut browser, ".state-active .state").await, "active");
    assert!(text(&mut browser, ".state-active .time-left")
        .await
        .starts_with("1h"));
    browser.click_and_wait(".state-active button.approve").await;
    let exports = text(&mut browser, "#token").await;
    let token = exports
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("export OPENAI_API_KEY="))
        .unwrap()
        .to_owned();
    assert_eq!(token.split('.').count(), 3, "a JWS: {exports}");
    assert_eq!(
        exports.lines().nth(1),
        Some("export OPENAI_BASE_URL=http://gateway.jitgate.test/v1")
    );
    let claims: Value = serde_json::from_slice(
        &jitgate_grant::base64url::decode(token.split('.').nth(1).unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["scope"], SMALL);
    screenshot(&mut browser, "requester-token").await;

    // Revoke it from the page.
    browser.navigate(&format!("{base}/requests")).await;
    browser.click_and_wait(".state-active button.deny").await;
    assert!(text(&mut browser, "[role=status]")
        .await
        .ends_with("is revoked now."));
    let grants = issuer.get("/v1/grants", Some("alice")).await;
    assert_eq!(
        grants.body["grants"],
        serde_json::json!([]),
        "{}",
        grants.text
    );
    screenshot(&mut browser, "requester-list").await;
}
