//! The local stack's notification inbox: the issuer's notifications go to webhook channels
//! (`reviews`, `requests`, `security`) that all point here, at a small receiver on a loopback
//! port that checks each Standard Webhooks signature and appends one line per message to
//! `<data>/notifications.log` — what a Slack channel would show, readable with `tail`.
//!
//! ```text
//! [reviews] request.review_pending: alice asks for training:llama-3-8b for 2h: 1 approval needed (http://127.0.0.1:8380/review#request-req_…)
//! ```
//!
//! A message whose signature does not verify is answered 400 and logged as such: the issuer
//! retries it, as it would with a real receiver.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};

use jitgate_issuer::notify::webhook::WebhookSecret;
use serde_json::Value;

use crate::error::{Error, Result};

/// Channels the stack routes to, each a path under the inbox.
pub const CHANNELS: [&str; 3] = ["reviews", "requests", "security"];

/// A running inbox (its thread ends with the process).
#[derive(Debug)]
pub struct Inbox {
    addr: SocketAddr,
}

impl Inbox {
    /// Listens on a free loopback port, verifying with the secret in `secret_file` and
    /// appending to `log`.
    pub fn start(secret_file: &Path, log: PathBuf) -> Result<Inbox> {
        let text = std::fs::read_to_string(secret_file)
            .map_err(Error::io(format!("read {}", secret_file.display())))?;
        let secret = WebhookSecret::parse(&text)
            .map_err(|error| Error::Usage(format!("{}: {error}", secret_file.display())))?;
        let listener = TcpListener::bind("127.0.0.1:0").map_err(Error::io("bind the inbox"))?;
        let addr = listener.local_addr().map_err(Error::io("inbox address"))?;
        std::thread::Builder::new()
            .name("jitgate-inbox".into())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    // One message at a time is plenty for a local stack.
                    let _ = receive(stream, &secret, &log);
                }
            })
            .map_err(Error::io("start the inbox thread"))?;
        Ok(Inbox { addr })
    }

    /// The webhook URL of `channel`.
    pub fn url(&self, channel: &str) -> String {
        format!("http://{}/hook/{channel}", self.addr)
    }
}

fn receive(stream: TcpStream, secret: &WebhookSecret, log: &Path) -> std::io::Result<()> {
    stream.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split(' ').nth(1).unwrap_or("").to_owned();
    let mut headers = std::collections::HashMap::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
        .min(1 << 20);
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    let header = |name: &str| headers.get(name).map(String::as_str).unwrap_or("");
    let timestamp: i64 = header("webhook-timestamp").parse().unwrap_or(0);
    let expected = secret.sign(header("webhook-id"), timestamp, &body);
    let verified = header("webhook-signature")
        .split(' ')
        .any(|signature| signature == expected);
    let channel = path.strip_prefix("/hook/").unwrap_or(&path);
    let entry = if verified {
        let message: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        format!(
            "[{channel}] {}: {} ({})\n",
            message["type"].as_str().unwrap_or("?"),
            message["data"]["summary"].as_str().unwrap_or(""),
            message["data"]["url"].as_str().unwrap_or(""),
        )
    } else {
        format!("[{channel}] refused a message whose signature does not verify\n")
    };
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?
        .write_all(entry.as_bytes())?;
    let status = if verified {
        "204 No Content"
    } else {
        "400 Bad Request"
    };
    let mut stream = reader.into_inner();
    stream.write_all(
        format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").as_bytes(),
    )
}

/// The issuer's notifications file for the stack: every channel a webhook to the inbox.
pub fn notifications_file(inbox: &Inbox, secret_file: &Path) -> String {
    let mut text = String::from(
        "# The local stack's notifications: every channel goes to the inbox, which writes\n\
         # <data>/notifications.log. See docs/issuer.md, \"Notifications\".\n\
         [routing]\nreviews = \"reviews\"\nrequesters = \"requests\"\nsecurity = \"security\"\n\n\
         [delivery]\nfirst_retry = \"1s\"\nmax_retry = \"10s\"\nexpiring_soon = \"5m\"\n",
    );
    for channel in CHANNELS {
        text.push_str(&format!(
            "\n[channels.{channel}]\nkind = \"webhook\"\nurl = \"{}\"\nsecret_file = \"{}\"\n",
            inbox.url(channel),
            secret_file.display()
        ));
    }
    text
}
