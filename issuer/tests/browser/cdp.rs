//! A small Chrome DevTools Protocol client: start headless Chromium, open a page, navigate,
//! evaluate JavaScript, wait for loads, take screenshots. Just what the web-page test needs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A headless Chromium with one page open.
pub struct Browser {
    child: Child,
    socket: Socket,
    session: String,
    next_id: u64,
    events: Vec<Value>,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Chromium binary: `$JITGATE_CHROMIUM`, else `chromium` on PATH.
fn chromium_binary() -> String {
    let binary = std::env::var("JITGATE_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let found = Command::new(&binary)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    assert!(
        found,
        "the web-page test needs headless Chromium: `{binary}` did not run. Install Debian's \
         package (apt-get install -y chromium; `cargo xtask setup` does it) or point \
         JITGATE_CHROMIUM at a Chromium binary."
    );
    binary
}

impl Browser {
    /// Starts Chromium and opens a blank page.
    pub async fn start() -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(chromium_binary())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--remote-debugging-port=0",
                "--window-size=1200,1400",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        // Chromium prints the DevTools URL on stderr once it listens.
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    let _ = sender.send(url.trim().to_owned());
                }
            }
        });
        let url = receiver
            .recv_timeout(Duration::from_secs(30))
            .expect("Chromium did not print its DevTools URL within 30 s");
        let (socket, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        let mut browser = Browser {
            child,
            socket,
            session: String::new(),
            next_id: 0,
            events: Vec::new(),
            _profile: profile,
        };
        let target = browser
            .command("Target.createTarget", json!({"url": "about:blank"}))
            .await;
        let attached = browser
            .command(
                "Target.attachToTarget",
                json!({"targetId": target["targetId"], "flatten": true}),
            )
            .await;
        browser.session = attached["sessionId"].as_str().unwrap().to_owned();
        browser.command("Page.enable", json!({})).await;
        browser
    }

    /// Sends a command (to the page session once attached) and returns its result.
    pub async fn command(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            message["sessionId"] = Value::String(self.session.clone());
        }
        self.socket
            .send(Message::Text(message.to_string().into()))
            .await
            .unwrap();
        loop {
            let incoming = self.receive().await;
            if incoming["id"] == id {
                assert!(incoming.get("error").is_none(), "{method}: {incoming}");
                return incoming["result"].clone();
            }
            self.events.push(incoming);
        }
    }

    async fn receive(&mut self) -> Value {
        let next = tokio::time::timeout(Duration::from_secs(30), self.socket.next())
            .await
            .expect("no message from Chromium within 30 s")
            .expect("Chromium closed the DevTools connection")
            .unwrap();
        match next {
            Message::Text(text) => serde_json::from_str(&text).unwrap(),
            _ => Value::Null,
        }
    }

    async fn wait_for_load(&mut self) {
        loop {
            if let Some(index) = self
                .events
                .iter()
                .position(|event| event["method"] == "Page.loadEventFired")
            {
                self.events.drain(..=index);
                return;
            }
            let event = self.receive().await;
            self.events.push(event);
        }
    }

    /// Opens `url` and waits until it has loaded.
    pub async fn navigate(&mut self, url: &str) {
        self.events.clear();
        self.command("Page.navigate", json!({"url": url})).await;
        self.wait_for_load().await;
    }

    /// Evaluates `expression` in the page and returns its value.
    pub async fn eval(&mut self, expression: &str) -> Value {
        let result = self
            .command(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true}),
            )
            .await;
        assert!(
            result.get("exceptionDetails").is_none(),
            "{expression}: {result}"
        );
        result["result"]["value"].clone()
    }

    /// Clicks the element `selector` names (a form button) and waits for the next page.
    pub async fn click_and_wait(&mut self, selector: &str) {
        self.events.clear();
        let clicked = self
            .eval(&format!(
                "(() => {{ const e = document.querySelector({}); if (!e) return false; e.click(); return true; }})()",
                serde_json::to_string(selector).unwrap()
            ))
            .await;
        assert_eq!(clicked, Value::Bool(true), "nothing matches {selector}");
        self.wait_for_load().await;
    }

    /// Types `text` into the field `selector` names.
    pub async fn fill(&mut self, selector: &str, text: &str) {
        let filled = self
            .eval(&format!(
                "(() => {{ const e = document.querySelector({}); if (!e) return false; e.value = {}; return true; }})()",
                serde_json::to_string(selector).unwrap(),
                serde_json::to_string(text).unwrap()
            ))
            .await;
        assert_eq!(filled, Value::Bool(true), "nothing matches {selector}");
    }

    /// A PNG of the page.
    pub async fn screenshot(&mut self) -> Vec<u8> {
        let shot = self
            .command("Page.captureScreenshot", json!({"format": "png"}))
            .await;
        jitgate_grant::base64url::decode(
            shot["data"]
                .as_str()
                .unwrap()
                .replace('+', "-")
                .replace('/', "_")
                .trim_end_matches('='),
        )
        .unwrap()
    }
}
