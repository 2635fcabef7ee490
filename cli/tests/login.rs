#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]
//! `jitgate login` against a real OpenID provider (panva's `oidc-provider`, started by the
//! test) and the real issuer: the loopback redirect with PKCE, credentials kept 0600, used
//! by later commands, renewed silently with the refresh token once the ID token is about to
//! expire, and gone after `jitgate logout`.

#[path = "../../issuer/tests/oidc_provider/mod.rs"]
mod oidc_provider;

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use oidc_provider::{sign_in, OidcProvider};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_jitgate");

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn jitgate(home: &Path, server: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("HOME", home)
        .env("JITGATE_SERVER", server)
        .env("JITGATE_CREDENTIALS", home.join("credentials.json"))
        .env_remove("JITGATE_TOKEN")
        .env_remove("JITGATE_CONFIG")
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_keeps_a_renewable_sign_in_and_logout_ends_it() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let port = free_port();
    let server = format!("http://127.0.0.1:{port}");
    let provider = OidcProvider::start_with(
        "jitgate-web",
        "web-secret-for-tests",
        &format!("{server}/login/callback"),
        Some("jitgate-cli"),
    );
    let _issuer = Process(
        Command::new(BIN)
            .args([
                "issuer",
                "serve",
                "--demo",
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .args(["--issuer-url", &server])
            .arg("--data-dir")
            .arg(home.join("issuer"))
            .args(["--oidc-issuer", provider.issuer()])
            .args(["--oidc-audience", "jitgate-web"])
            .args(["--oidc-jwks", &format!("{}/jwks", provider.issuer())])
            .args(["--oidc-cli-client-id", "jitgate-cli"])
            .args(["--oidc-scopes", "openid email groups"])
            .env("JITGATE_LOG", "warn")
            .env_remove("DATABASE_URL")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the issuer did not start");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Nobody signed in yet: the CLI says what to do.
    let before = jitgate(home, &server, &["whoami"]);
    assert_eq!(before.status.code(), Some(1));
    assert!(
        text(&before).contains("Run `jitgate login`"),
        "{}",
        text(&before)
    );

    let mut login = Command::new(BIN)
        .args(["login", "--no-browser"])
        .env("HOME", home)
        .env("JITGATE_SERVER", &server)
        .env("JITGATE_CREDENTIALS", home.join("credentials.json"))
        .env_remove("JITGATE_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(login.stderr.take().unwrap());
    let mut url = String::new();
    while !url.trim_start().starts_with("http") {
        url.clear();
        assert_ne!(
            stderr.read_line(&mut url).unwrap(),
            0,
            "login printed no URL"
        );
    }
    let url = url.trim().to_owned();
    let redirect_uri = url
        .split("redirect_uri=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .replace("%3A", ":")
        .replace("%2F", "/");
    assert!(
        redirect_uri.starts_with("http://127.0.0.1:"),
        "{redirect_uri}"
    );
    assert!(url.contains("code_challenge_method=S256"));
    // The user's browser: sign in at the provider, then follow the redirect to the CLI.
    let callback = sign_in(&url, "alice", &redirect_uri).await;
    let page = reqwest::get(&callback).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Signed in to jitgate"));
    let done = tokio::task::spawn_blocking(move || login.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let said = String::from_utf8_lossy(&done.stdout).into_owned();
    assert!(done.status.success(), "{said}");
    assert!(
        said.starts_with("Signed in as alice (groups ml-eng)."),
        "{said}"
    );

    let credentials = home.join("credentials.json");
    let mode = std::fs::metadata(&credentials)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let stored: Value =
        serde_json::from_str(&std::fs::read_to_string(&credentials).unwrap()).unwrap();
    assert!(stored["refresh_token"].is_string(), "{stored}");
    // No token is ever printed.
    assert!(!said.contains(stored["id_token"].as_str().unwrap()));

    // Later commands use the sign-in.
    let whoami = jitgate(home, &server, &["whoami"]);
    assert_eq!(text(&whoami), "alice (person, groups ml-eng)\n");
    let asked = jitgate(
        home,
        &server,
        &[
            "request",
            "--scope",
            "inference:meta-llama/Llama-3.1-8B-Instruct",
            "--for",
            "1h",
            "--reason",
            "signed in",
        ],
    );
    assert!(asked.status.success(), "{}", text(&asked));
    assert!(
        text(&asked).starts_with("Granted: req_"),
        "{}",
        text(&asked)
    );

    // An ID token about to expire is renewed silently with the refresh token.
    let mut stale = stored.clone();
    stale["expires_at"] = Value::from(0);
    std::fs::write(&credentials, stale.to_string()).unwrap();
    let renewed = jitgate(home, &server, &["whoami"]);
    assert_eq!(text(&renewed), "alice (person, groups ml-eng)\n");
    let after: Value =
        serde_json::from_str(&std::fs::read_to_string(&credentials).unwrap()).unwrap();
    // (Within the same second the provider's RS256 ID token may be byte for byte the old
    // one: the signature is deterministic. The renewed expiry shows the refresh happened.)
    assert!(after["expires_at"].as_i64().unwrap() > 0, "{after}");
    assert!(after["id_token"].is_string());
    let mode = std::fs::metadata(&credentials)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // Logout revokes the refresh token and deletes the file.
    let refresh_token = after["refresh_token"].as_str().unwrap().to_owned();
    let out = jitgate(home, &server, &["logout"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).starts_with("Signed out:"), "{}", text(&out));
    assert!(!credentials.exists());
    let refused = reqwest::Client::new()
        .post(format!("{}/token", provider.issuer()))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.as_str()),
            ("client_id", "jitgate-cli"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400, "the refresh token still works");
    let gone = jitgate(home, &server, &["whoami"]);
    assert_eq!(gone.status.code(), Some(1));
}
