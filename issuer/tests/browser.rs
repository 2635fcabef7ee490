//! The reviewer web page in a real headless Chromium (Debian's `chromium`), driven over the
//! DevTools protocol: sign in, read the queue, approve with a comment, deny without one.
//! Set JITGATE_SCREENSHOT=<file.png> to keep a picture of the queue.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

#[path = "browser/cdp.rs"]
mod cdp;
mod common;

use cdp::Browser;
use common::{TestIssuer, TRAINING};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_signs_in_reads_the_queue_and_decides() {
    let issuer = TestIssuer::sqlite().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = issuer.router.clone();
    tokio::spawn(async move { axum::serve(listener, router).await });

    let reason = "<b>fine-tune</b> <script>document.title='pwned'</script> & more";
    let first = issuer
        .request(
            "alice",
            json!({"scopes": [TRAINING], "duration": "2h", "reason": reason, "ticket": "ML-42"}),
        )
        .await;
    let first_id = first["id"].as_str().unwrap().to_owned();
    let second = issuer
        .request(
            "alice",
            json!({"scopes": ["inference:mistral-7b"], "duration": "90m", "reason": "compare"}),
        )
        .await;
    let second_id = second["id"].as_str().unwrap().to_owned();

    let mut browser = Browser::start().await;
    browser.navigate(&format!("{base}/review")).await;
    assert_eq!(browser.eval("location.pathname").await, "/login");
    browser.fill("#credential", "jgt_demo_nobody").await;
    browser.click_and_wait("form[action='/login'] button").await;
    assert_eq!(
        browser
            .eval("document.querySelector('[role=alert]').textContent")
            .await,
        "unknown API token"
    );
    browser.fill("#credential", "jgt_demo_bob").await;
    browser.click_and_wait("form[action='/login'] button").await;
    assert_eq!(browser.eval("location.pathname").await, "/review");
    assert_eq!(
        browser
            .eval("document.querySelector('.account strong').textContent")
            .await,
        "bob"
    );
    assert_eq!(
        browser
            .eval("document.querySelector('main h2').textContent")
            .await,
        "Waiting for your review (2)"
    );

    let card = format!("#request-{first_id}");
    let text = |field: &str| format!("document.querySelector('{card} .{field}').textContent");
    assert_eq!(browser.eval(&text("requester")).await, "alice");
    assert_eq!(browser.eval(&text("scopes")).await, format!("{TRAINING} "));
    assert_eq!(browser.eval(&text("duration")).await, "2h");
    // The reason is shown as text: no element, no script, no changed title.
    assert_eq!(browser.eval(&text("reason")).await, reason);
    assert_eq!(
        browser
            .eval("document.querySelectorAll('main script, main b').length")
            .await,
        0
    );
    assert_eq!(browser.eval("document.title").await, "Review · jitgate");
    assert_eq!(
        browser.eval(&text("policy")).await,
        format!("{TRAINING}: allowed by ml-eng-training; needs 1 approval from ml-leads")
    );

    if let Ok(path) = std::env::var("JITGATE_SCREENSHOT") {
        std::fs::write(path, browser.screenshot().await).unwrap();
    }

    browser
        .fill(&format!("#comment-{first_id}"), "ticket ML-42 checked")
        .await;
    browser
        .click_and_wait(&format!("{card} button.approve"))
        .await;
    assert_eq!(
        browser
            .eval("document.querySelector('[role=status]').textContent")
            .await,
        format!("Approved {first_id}: access granted to alice.")
    );
    assert_eq!(
        browser
            .eval("document.querySelector('main h2').textContent")
            .await,
        "Waiting for your review (1)"
    );
    let approved = issuer
        .get(&format!("/v1/requests/{first_id}"), Some("alice"))
        .await;
    assert_eq!(approved.body["state"], "active");
    assert_eq!(
        approved.body["reviews"][0]["comment"],
        "ticket ML-42 checked"
    );
    assert_eq!(approved.body["reviews"][0]["reviewer"], "bob");

    // Denying needs a comment: the page says so and nothing changes.
    browser
        .click_and_wait(&format!("#request-{second_id} button.deny"))
        .await;
    assert_eq!(
        browser
            .eval("document.querySelector('[role=alert]').textContent")
            .await,
        "comment: say why you deny the request"
    );
    let still = issuer
        .get(&format!("/v1/requests/{second_id}"), Some("alice"))
        .await;
    assert_eq!(still.body["state"], "pending");
    browser.navigate(&format!("{base}/review")).await;
    browser
        .fill(&format!("#comment-{second_id}"), "use the 8B model instead")
        .await;
    browser
        .click_and_wait(&format!("#request-{second_id} button.deny"))
        .await;
    assert_eq!(
        browser
            .eval("document.querySelector('[role=status]').textContent")
            .await,
        format!("Denied {second_id}.")
    );
    assert_eq!(
        browser
            .eval("document.getElementById('empty').textContent")
            .await,
        "Nothing is waiting for your review."
    );
    let denied = issuer
        .get(&format!("/v1/requests/{second_id}"), Some("alice"))
        .await;
    assert_eq!(denied.body["state"], "denied");

    browser
        .click_and_wait("form[action='/logout'] button")
        .await;
    assert_eq!(browser.eval("location.pathname").await, "/login");
    browser.navigate(&format!("{base}/review")).await;
    assert_eq!(browser.eval("location.pathname").await, "/login");
}
