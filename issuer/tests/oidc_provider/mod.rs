//! A real OpenID provider for sign-in tests — panva's certified `oidc-provider` (npm, pinned
//! and installed by `cargo xtask setup`), run by `provider.mjs` beside this file — and a
//! minimal browser that signs a user in through its login and consent pages.
//!
//! Use from an integration test with `mod oidc_provider;` (or
//! `#[path = "oidc_provider/mod.rs"] mod oidc_provider;`):
//!
//! ```ignore
//! let provider = OidcProvider::start("jitgate", "secret", "http://127.0.0.1:8080/callback");
//! // … fetch `{issuer}/.well-known/openid-configuration`, build an authorization URL …
//! let callback = sign_in(&authorize_url, "bob", "http://127.0.0.1:8080/callback").await;
//! ```
//!
//! Needs `$JITGATE_OIDC_PROVIDER_DIR` (the folder setup installed the package into; `cargo
//! xtask test` passes it) and runs `$JITGATE_NODE`, else `node` from `PATH`.
//!
//! The provider's accounts: any login name signs in (any password), with `sub` = the login,
//! `email` = `<login>@example.com` and `groups` from a fixed map: alice `[ml-eng]`, bob
//! `[ml-leads, ml-eng]`, carol `[ml-leads, sre-leads]`, root `[jitgate-admins, ml-leads,
//! ml-eng]`, anyone else `[]`. `email` and `groups` are in the ID token. PKCE (S256) is
//! required; a refresh token comes with `offline_access` asked with `prompt=consent`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::redirect::Policy;
use reqwest::{Method, StatusCode, Url};

/// How long the provider may take to print its ready line.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Requests a sign-in may make before it is considered stuck (a normal one makes 7).
const MAX_SIGN_IN_STEPS: usize = 16;
/// How long one request of a sign-in may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of a page a failure message shows.
const SNIPPET_CHARS: usize = 2_000;

/// The environment variable naming the folder `oidc-provider` is installed in.
pub const PROVIDER_DIR_ENV: &str = "JITGATE_OIDC_PROVIDER_DIR";
/// The environment variable naming the `node` binary to run it with.
pub const NODE_ENV: &str = "JITGATE_NODE";

/// A running `oidc-provider` on `http://127.0.0.1:<free port>`, killed on drop.
pub struct OidcProvider {
    child: Child,
    issuer: String,
    stderr: Arc<Mutex<String>>,
}

impl OidcProvider {
    /// Starts the provider with one confidential client (`client_secret_basic`) allowed to
    /// redirect to exactly `redirect_uri`, and waits (up to 20 s) until it listens.
    ///
    /// Panics, saying to run `cargo xtask setup`, when `$JITGATE_OIDC_PROVIDER_DIR` is not
    /// set or holds no `oidc-provider`; panics with its stderr when it does not start.
    pub fn start(client_id: &str, client_secret: &str, redirect_uri: &str) -> OidcProvider {
        OidcProvider::start_with(client_id, client_secret, redirect_uri, None)
    }

    /// [`OidcProvider::start`], plus, with `cli_client_id`, a public native client for
    /// `jitgate login` (no secret, PKCE, `http://127.0.0.1/callback` on any port).
    pub fn start_with(
        client_id: &str,
        client_secret: &str,
        redirect_uri: &str,
        cli_client_id: Option<&str>,
    ) -> OidcProvider {
        let package_dir = provider_dir();
        let node = std::env::var(NODE_ENV).unwrap_or_else(|_| "node".to_owned());
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../issuer/tests/oidc_provider/provider.mjs"
        );
        let mut child = Command::new(&node)
            .arg(script)
            .args(["--port", "0"])
            .args(["--client-id", client_id])
            .args(["--client-secret", client_secret])
            .args(["--redirect-uri", redirect_uri])
            .args(
                cli_client_id
                    .map(|id| vec!["--cli-client-id", id])
                    .unwrap_or_default(),
            )
            .env(PROVIDER_DIR_ENV, &package_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "could not start `{node}` for the OpenID provider: {error}; set {NODE_ENV} \
                     to a Node.js >= 18 binary (`cargo xtask test` passes the one setup found)"
                )
            });

        // Kept for failure messages; read on a thread so a chatty provider never blocks.
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut stderr_pipe = child.stderr.take().unwrap();
        let stderr_sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buffer = [0_u8; 4096];
            while let Ok(read) = stderr_pipe.read(&mut buffer) {
                if read == 0 {
                    break;
                }
                stderr_sink
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buffer[..read]));
            }
        });

        let stdout = child.stdout.take().unwrap();
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = sender.send(line);
            }
            // Drain the rest (there should be none) so the pipe never fills.
            for _ in lines.map_while(Result::ok) {}
        });

        let mut provider = OidcProvider {
            child,
            issuer: String::new(),
            stderr,
        };
        let line = match receiver.recv_timeout(START_TIMEOUT) {
            Ok(line) => line,
            Err(_) => {
                let status = provider.child.try_wait().ok().flatten();
                // Give the stderr thread a moment to collect the last words of a crash.
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "the OpenID provider (`{node} {script}`) did not say it was ready within \
                     {START_TIMEOUT:?} ({}); its stderr:\n{}",
                    status.map_or_else(|| "still running".to_owned(), |s| s.to_string()),
                    provider.stderr_output()
                );
            }
        };
        let ready: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|error| {
            panic!("the OpenID provider's ready line {line:?} is not JSON: {error}")
        });
        provider.issuer = ready["issuer"]
            .as_str()
            .unwrap_or_else(|| panic!("the OpenID provider's ready line {line:?} has no issuer"))
            .to_owned();
        provider
    }

    /// The issuer identifier, `http://127.0.0.1:<port>` (no trailing slash); the discovery
    /// document is at `{issuer}/.well-known/openid-configuration`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// What the provider wrote to stderr so far (its warnings and errors).
    pub fn stderr_output(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `$JITGATE_OIDC_PROVIDER_DIR`, checked to hold the package.
fn provider_dir() -> String {
    let hint = "run `cargo xtask setup` (it installs oidc-provider into <tools>/oidc-provider) \
                and run the tests with JITGATE_OIDC_PROVIDER_DIR=<tools>/oidc-provider and \
                JITGATE_NODE=<node>, as `cargo xtask test` does";
    let Ok(dir) = std::env::var(PROVIDER_DIR_ENV) else {
        panic!("the sign-in tests need a real OpenID provider and {PROVIDER_DIR_ENV} is not set: {hint}");
    };
    let package = std::path::Path::new(&dir).join("node_modules/oidc-provider/package.json");
    assert!(
        package.is_file(),
        "{PROVIDER_DIR_ENV}={dir} holds no oidc-provider ({} is missing): {hint}",
        package.display()
    );
    dir
}

/// Signs `login` in the way a browser would, from `authorize_url` (the client's
/// authorization request) through the provider's login page and consent page, until the
/// provider redirects to `redirect_uri`; returns that whole callback URL (`code`, `state`,
/// `iss`, or `error` if the provider refused the request).
///
/// Cookies are kept as a browser keeps them, redirects are followed by hand (only `GET`),
/// forms are submitted to their `action` with their hidden fields. Panics with the page when
/// the flow goes anywhere else or takes more than 16 requests.
pub async fn sign_in(authorize_url: &str, login: &str, redirect_uri: &str) -> String {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .timeout(REQUEST_TIMEOUT)
        .build()
        .unwrap();
    let mut method = Method::GET;
    let mut url = Url::parse(authorize_url)
        .unwrap_or_else(|error| panic!("authorization URL {authorize_url:?}: {error}"));
    let mut form: Vec<(String, String)> = Vec::new();
    let mut trail = Vec::new();

    for _ in 0..MAX_SIGN_IN_STEPS {
        trail.push(format!("{method} {url}"));
        let mut request = client.request(method.clone(), url.clone());
        if method == Method::POST {
            request = request.form(&form);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|error| panic!("sign-in: {method} {url}: {error}"));
        let status = response.status();

        if status.is_redirection() {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_else(|| panic!("sign-in: {status} from {url} without a Location"))
                .to_owned();
            if location.starts_with(redirect_uri) {
                return location;
            }
            let next = url.join(&location).unwrap_or_else(|error| {
                panic!("sign-in: {status} from {url} to a bad Location {location:?}: {error}")
            });
            if next.as_str().starts_with(redirect_uri) {
                return next.into();
            }
            method = Method::GET;
            url = next;
            continue;
        }

        let body = response.text().await.unwrap_or_default();
        let found = (status == StatusCode::OK)
            .then(|| post_form(&body))
            .flatten();
        let Some(page_form) = found else {
            panic!(
                "sign-in as {login:?} got stuck: {status} from {url}, which is neither a \
                 redirect nor a page with a form; requests so far:\n  {}\npage:\n{}",
                trail.join("\n  "),
                snippet(&body)
            );
        };
        form = page_form
            .fields
            .into_iter()
            .map(|(name, value)| match name.as_str() {
                "login" => (name, login.to_owned()),
                "password" => (name, "any password".to_owned()),
                _ => (name, value),
            })
            .collect();
        method = Method::POST;
        url = url.join(&page_form.action).unwrap_or_else(|error| {
            panic!(
                "sign-in: the form at {url} posts to a bad action {:?}: {error}",
                page_form.action
            )
        });
    }
    panic!(
        "sign-in as {login:?} did not reach {redirect_uri} within {MAX_SIGN_IN_STEPS} requests:\n  {}",
        trail.join("\n  ")
    );
}

/// A form found on a page: where it posts and the fields it would send.
struct PageForm {
    action: String,
    fields: Vec<(String, String)>,
}

/// The first `method="post"` form of `html`, with every named `<input>` in it. Enough for
/// the provider's own simple pages; not a general HTML parser.
fn post_form(html: &str) -> Option<PageForm> {
    let lower = html.to_ascii_lowercase();
    let mut from = 0;
    while let Some(start) = lower[from..].find("<form").map(|at| at + from) {
        let tag_end = lower[start..].find('>')? + start;
        let end = lower[tag_end..]
            .find("</form")
            .map_or(html.len(), |at| at + tag_end);
        from = end;
        let tag = &html[start..=tag_end];
        let is_post = attribute(tag, "method").is_some_and(|m| m.eq_ignore_ascii_case("post"));
        if !is_post {
            continue;
        }
        let action = attribute(tag, "action").unwrap_or_default();
        let body = &html[tag_end + 1..end];
        let body_lower = &lower[tag_end + 1..end];
        let mut fields = Vec::new();
        let mut at = 0;
        while let Some(input) = body_lower[at..].find("<input").map(|i| i + at) {
            let input_end = body_lower[input..]
                .find('>')
                .map_or(body.len(), |i| i + input + 1);
            let input_tag = &body[input..input_end];
            at = input_end;
            if let Some(name) = attribute(input_tag, "name") {
                fields.push((name, attribute(input_tag, "value").unwrap_or_default()));
            }
        }
        return Some(PageForm { action, fields });
    }
    None
}

/// The value of attribute `name` in the start tag `tag`, quoted with `"` or `'` (or bare),
/// with the usual HTML character references decoded.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(found) = lower[from..].find(name).map(|at| at + from) {
        from = found + name.len();
        let before_ok = found > 0
            && lower[..found]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_whitespace());
        let rest = lower[from..].trim_start();
        if !before_ok || !rest.starts_with('=') {
            continue;
        }
        let value_start = tag.len() - rest.len() + 1;
        let value = tag[value_start..].trim_start();
        let raw = match value.chars().next() {
            Some(quote @ ('"' | '\'')) => value[1..].split(quote).next().unwrap_or_default(),
            _ => value
                .split(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
                .next()
                .unwrap_or_default(),
        };
        return Some(decode_entities(raw));
    }
    None
}

fn decode_entities(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&#x2F;", "/")
        .replace("&#x2f;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn snippet(body: &str) -> String {
    let mut cut: String = body.chars().take(SNIPPET_CHARS).collect();
    if cut.len() < body.len() {
        cut.push_str("\n[…]");
    }
    cut
}
