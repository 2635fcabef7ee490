//! `jitgate login`, `jitgate logout`, `jitgate whoami`: signing the CLI in at the company's
//! identity provider, so nobody keeps a long-lived API token on their laptop.
//!
//! `login` asks the issuer where to sign in (`GET /v1/login/cli`: the IdP and the CLI's
//! client there), then runs the OAuth flow for native apps (RFC 8252): a one-shot listener on
//! a loopback port receives the redirect, PKCE (S256) protects the code, `state` and `nonce`
//! tie the answer to this attempt. The ID token (what the CLI presents to the issuer) and the
//! refresh token are kept in `~/.config/jitgate/credentials.json` (`JITGATE_CREDENTIALS`),
//! mode 0600; every command uses them when no other credential is given, refreshing the ID
//! token silently shortly before it expires. `logout` revokes the refresh token at the IdP
//! when it offers revocation, and deletes the file.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::client::{Client, ClientOptions};

/// How long `login` waits for the browser to come back.
const SIGN_IN_WAIT: Duration = Duration::from_secs(300);
/// An ID token this close to its expiry is refreshed before use.
const REFRESH_MARGIN_SECONDS: i64 = 60;

/// `jitgate login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Print the sign-in URL instead of opening a browser.
    #[arg(long)]
    no_browser: bool,
    #[command(flatten)]
    client: ClientOptions,
}

/// `jitgate logout` / `jitgate whoami`.
#[derive(Debug, Args)]
pub struct SessionArgs {
    #[command(flatten)]
    client: ClientOptions,
}

/// What `login` keeps (mode 0600).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredLogin {
    /// The jitgate issuer this login is for.
    pub server: String,
    /// The IdP.
    pub issuer: String,
    /// The CLI's client id there.
    pub client_id: String,
    /// Where tokens are refreshed.
    pub token_endpoint: String,
    /// Where the refresh token is revoked at logout, if the IdP offers it.
    pub revocation_endpoint: Option<String>,
    /// The current ID token (the bearer credential for the issuer).
    pub id_token: String,
    /// Its `exp`, Unix seconds.
    pub expires_at: i64,
    /// The refresh token, if the IdP gave one.
    pub refresh_token: Option<String>,
}

#[derive(Deserialize)]
struct LoginConfig {
    issuer: String,
    client_id: String,
    scopes: String,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    revocation_endpoint: Option<String>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    id_token: Option<String>,
    refresh_token: Option<String>,
}

/// The credentials file.
pub fn credentials_path() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("JITGATE_CREDENTIALS").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    let home = std::env::var_os("HOME").ok_or(
        "error: HOME is not set; set JITGATE_CREDENTIALS to where `jitgate login` keeps its tokens",
    )?;
    Ok(PathBuf::from(home).join(".config/jitgate/credentials.json"))
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| i64::try_from(since.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn http() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|error| format!("error: HTTP client: {error}"))
}

fn random_text() -> Result<String, String> {
    jitgate_issuer::ids::random_bytes::<32>()
        .map(|bytes| jitgate_grant::base64url::encode(&bytes))
        .map_err(|error| format!("error: {error}"))
}

/// Runs `jitgate login`.
pub async fn login(args: LoginArgs) -> Result<(), String> {
    let server = Client::server_of(&args.client)?;
    let http = http()?;
    let config: LoginConfig = get_json(&http, &format!("{server}/v1/login/cli"))
        .await
        .map_err(|error| {
            format!("{error}\nThis issuer offers no CLI sign-in: use an API token (JITGATE_TOKEN).")
        })?;
    let discovery: Discovery = get_json(
        &http,
        &format!(
            "{}/.well-known/openid-configuration",
            config.issuer.trim_end_matches('/')
        ),
    )
    .await?;
    if discovery.issuer != config.issuer {
        return Err(format!(
            "error: the identity provider's discovery document names issuer {:?}, not {:?}",
            discovery.issuer, config.issuer
        ));
    }
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|error| format!("error: cannot listen on a loopback port: {error}"))?;
    let port = listener
        .local_addr()
        .map_err(|error| format!("error: {error}"))?
        .port();
    let redirect_uri = format!("http://127.0.0.1:{port}/callback");
    let (state, nonce, verifier) = (random_text()?, random_text()?, random_text()?);
    let challenge = jitgate_grant::base64url::encode(&Sha256::digest(verifier.as_bytes()));
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", config.client_id.as_str()),
        ("redirect_uri", redirect_uri.as_str()),
        ("scope", config.scopes.as_str()),
        ("state", state.as_str()),
        ("nonce", nonce.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        // Asking for a refresh token (offline_access) needs the consent prompt (OIDC Core 11).
        ("prompt", "consent"),
    ])
    .map_err(|error| format!("error: {error}"))?;
    let url = format!("{}?{query}", discovery.authorization_endpoint);
    eprintln!("Sign in at your identity provider:\n  {url}");
    if !args.no_browser {
        // Best effort: without a browser, the URL above is the way.
        let _ = std::process::Command::new("xdg-open")
            .arg(&url)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }
    eprintln!("Waiting for the browser to come back to {redirect_uri} …");
    let code = tokio::time::timeout(SIGN_IN_WAIT, receive_code(&listener, &state))
        .await
        .map_err(|_| {
            "error: nobody signed in within 5 minutes; run `jitgate login` again".to_owned()
        })??;
    let answer: TokenAnswer = post_form(
        &http,
        &discovery.token_endpoint,
        &[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect_uri.as_str()),
            ("client_id", config.client_id.as_str()),
            ("code_verifier", verifier.as_str()),
        ],
    )
    .await?;
    let id_token = answer
        .id_token
        .ok_or("error: the identity provider returned no ID token")?;
    let claims = payload(&id_token)?;
    if claims["nonce"].as_str() != Some(nonce.as_str()) {
        return Err(
            "error: the ID token's nonce is not this sign-in's; run `jitgate login` again".into(),
        );
    }
    let stored = StoredLogin {
        server: server.clone(),
        issuer: config.issuer,
        client_id: config.client_id,
        token_endpoint: discovery.token_endpoint,
        revocation_endpoint: discovery.revocation_endpoint,
        expires_at: claims["exp"].as_i64().unwrap_or(0),
        id_token,
        refresh_token: answer.refresh_token,
    };
    save(&stored)?;
    let client = Client::with_token(&server, &stored.id_token)?;
    let me = client.call(Method::GET, "/v1/whoami", None).await?;
    println!(
        "Signed in as {} ({}). Credentials in {}.",
        me["subject"].as_str().unwrap_or("?"),
        groups(&me),
        credentials_path()?.display()
    );
    if stored.refresh_token.is_none() {
        eprintln!("note: the identity provider gave no refresh token: sign in again when the ID token expires");
    }
    Ok(())
}

/// Accepts connections on the loopback listener until the redirect with our `state` comes.
async fn receive_code(listener: &TcpListener, state: &str) -> Result<String, String> {
    loop {
        let (mut stream, _) = listener
            .accept()
            .await
            .map_err(|error| format!("error: loopback listener: {error}"))?;
        let mut head = Vec::new();
        let mut buffer = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buffer[..n]),
            }
        }
        let text = String::from_utf8_lossy(&head);
        let target = text
            .lines()
            .next()
            .and_then(|line| line.strip_prefix("GET "))
            .and_then(|rest| rest.split(' ').next())
            .unwrap_or("");
        let Some(query) = target.strip_prefix("/callback?") else {
            let _ = respond(&mut stream, "404 Not Found", "Not the sign-in callback.").await;
            continue;
        };
        let params: HashMap<String, String> = serde_urlencoded::from_str(query).unwrap_or_default();
        if params.get("state").map(String::as_str) != Some(state) {
            let _ = respond(
                &mut stream,
                "400 Bad Request",
                "Wrong state: this is not the sign-in jitgate started.",
            )
            .await;
            return Err("error: the identity provider answered with the wrong state; run `jitgate login` again".into());
        }
        if let Some(error) = params.get("error") {
            let _ = respond(
                &mut stream,
                "400 Bad Request",
                "The identity provider refused the sign-in.",
            )
            .await;
            return Err(format!(
                "error: the identity provider refused the sign-in: {error}{}",
                params
                    .get("error_description")
                    .map(|text| format!(" ({text})"))
                    .unwrap_or_default()
            ));
        }
        let code = params
            .get("code")
            .cloned()
            .ok_or("error: the identity provider's answer has no code")?;
        let _ = respond(
            &mut stream,
            "200 OK",
            "Signed in to jitgate. You can close this window.",
        )
        .await;
        return Ok(code);
    }
}

async fn respond(
    stream: &mut tokio::net::TcpStream,
    status: &str,
    text: &str,
) -> std::io::Result<()> {
    let body = format!("<!doctype html><title>jitgate</title><p>{text}</p>\n");
    let answer = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(answer.as_bytes()).await
}

async fn get_json<T: for<'de> Deserialize<'de>>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, String> {
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|error| format!("error: cannot reach {url}: {}", error.without_url()))?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let message = body["message"].as_str().unwrap_or("");
        return Err(format!("error: {url} answered {status}. {message}"));
    }
    serde_json::from_value(body)
        .map_err(|error| format!("error: {url}: unexpected answer: {error}"))
}

async fn post_form<T: for<'de> Deserialize<'de>>(
    http: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
) -> Result<T, String> {
    let response = http.post(url).form(form).send().await.map_err(|error| {
        format!(
            "error: cannot reach the identity provider: {}",
            error.without_url()
        )
    })?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(format!(
            "error: the identity provider refused: {}{}",
            body["error"].as_str().unwrap_or("unknown error"),
            body["error_description"]
                .as_str()
                .map(|text| format!(" ({text})"))
                .unwrap_or_default()
        ));
    }
    serde_json::from_value(body)
        .map_err(|error| format!("error: the identity provider's answer: {error}"))
}

/// The claims of a JWT, unverified: the CLI only reads its own token's `exp` and `nonce`;
/// the issuer verifies the signature on every call.
fn payload(token: &str) -> Result<Value, String> {
    token
        .split('.')
        .nth(1)
        .and_then(jitgate_grant::base64url::decode)
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| "error: the identity provider's ID token is not a JWT".to_owned())
}

fn groups(me: &Value) -> String {
    let groups: Vec<&str> = me["groups"]
        .as_array()
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if groups.is_empty() {
        "no groups".into()
    } else {
        format!("groups {}", groups.join(", "))
    }
}

fn load() -> Result<Option<StoredLogin>, String> {
    let path = credentials_path()?;
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|error| {
            format!(
                "error: {}: {error}; run `jitgate login` again",
                path.display()
            )
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(format!("error: cannot read {}: {error}", path.display())),
    }
}

/// Writes the file with mode 0600 (its folder 0700), replacing it atomically.
fn save(stored: &StoredLogin) -> Result<(), String> {
    use std::io::Write;
    let path = credentials_path()?;
    let failed = |error: std::io::Error| format!("error: cannot write {}: {error}", path.display());
    let dir = path
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&dir).map_err(failed)?;
    let text = serde_json::to_string_pretty(stored).map_err(|error| format!("error: {error}"))?;
    let temporary = dir.join(format!(".credentials.{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
    }
    let mut file = options.open(&temporary).map_err(failed)?;
    file.write_all(text.as_bytes()).map_err(failed)?;
    file.sync_all().map_err(failed)?;
    std::fs::rename(&temporary, &path).map_err(failed)
}

/// The stored login's ID token for `server`, refreshed first when it is about to expire;
/// `None` when nobody is signed in for that server.
pub async fn stored_token(server: &str) -> Result<Option<String>, String> {
    let Some(mut stored) = load()? else {
        return Ok(None);
    };
    if stored.server.trim_end_matches('/') != server.trim_end_matches('/') {
        return Ok(None);
    }
    if stored.expires_at - REFRESH_MARGIN_SECONDS > now() {
        return Ok(Some(stored.id_token));
    }
    let Some(refresh_token) = stored.refresh_token.clone() else {
        return Err("error: your sign-in has expired; run `jitgate login`".into());
    };
    let answer: TokenAnswer = post_form(
        &http()?,
        &stored.token_endpoint,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.as_str()),
            ("client_id", stored.client_id.as_str()),
        ],
    )
    .await
    .map_err(|error| format!("{error}\nYour sign-in could not be renewed; run `jitgate login`."))?;
    let id_token = answer.id_token.ok_or(
        "error: the identity provider renewed the sign-in without an ID token; run `jitgate login`",
    )?;
    stored.expires_at = payload(&id_token)?["exp"].as_i64().unwrap_or(0);
    stored.id_token = id_token;
    // Providers that rotate refresh tokens send a new one; the old one is dead then.
    if let Some(rotated) = answer.refresh_token {
        stored.refresh_token = Some(rotated);
    }
    save(&stored)?;
    Ok(Some(stored.id_token))
}

/// Runs `jitgate logout`.
pub async fn logout(_args: SessionArgs) -> Result<(), String> {
    let path = credentials_path()?;
    let Some(stored) = load()? else {
        println!("Not signed in (no {}).", path.display());
        return Ok(());
    };
    if let (Some(endpoint), Some(refresh_token)) =
        (&stored.revocation_endpoint, &stored.refresh_token)
    {
        // RFC 7009. Best effort: the file goes either way, and says so if revocation failed.
        let revoked: Result<Value, String> = post_form(
            &http()?,
            endpoint,
            &[
                ("token", refresh_token.as_str()),
                ("token_type_hint", "refresh_token"),
                ("client_id", stored.client_id.as_str()),
            ],
        )
        .await;
        if let Err(error) = revoked {
            eprintln!(
                "warning: revoking the refresh token at the identity provider failed: {error}"
            );
        }
    }
    std::fs::remove_file(&path)
        .map_err(|error| format!("error: cannot delete {}: {error}", path.display()))?;
    println!("Signed out: {} deleted.", path.display());
    Ok(())
}

/// Runs `jitgate whoami`.
pub async fn whoami(args: SessionArgs) -> Result<(), String> {
    let client = Client::from_options(&args.client).await?;
    let me = client.call(Method::GET, "/v1/whoami", None).await?;
    let roles: Vec<&str> = [("admin", "admin"), ("guard", "guard")]
        .into_iter()
        .filter(|(key, _)| me[*key].as_bool() == Some(true))
        .map(|(_, name)| name)
        .collect();
    println!(
        "{} ({}, {}{})",
        me["subject"].as_str().unwrap_or("?"),
        me["kind"].as_str().unwrap_or("?"),
        groups(&me),
        if roles.is_empty() {
            String::new()
        } else {
            format!(", {}", roles.join(", "))
        }
    );
    Ok(())
}
