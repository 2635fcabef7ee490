//! Talking to the issuer: where it is and which credential to present, from flags,
//! environment or a config file (in that order), and turning its errors into messages that
//! say what to do next.
//!
//! Config file (`$JITGATE_CONFIG`, else `~/.config/jitgate/config.json`):
//! `{"server": "https://issuer.example", "token_file": "~/.config/jitgate/token"}` (or
//! `"token"` inline). The credential is never printed.

use std::path::PathBuf;

use clap::Args;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;

/// Where the issuer is and who we are.
#[derive(Debug, Clone, Args)]
pub struct ClientOptions {
    /// The issuer's URL.
    #[arg(long, env = "JITGATE_SERVER")]
    pub server: Option<String>,
    /// An API token (jgt_…) or OIDC ID token.
    #[arg(long, env = "JITGATE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Config file with `server` and `token` or `token_file`.
    #[arg(long, env = "JITGATE_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    server: Option<String>,
    token: Option<String>,
    token_file: Option<PathBuf>,
}

/// The default server when nothing says otherwise (a local `jitgate issuer serve`).
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8380";

/// A configured issuer client.
pub struct Client {
    http: reqwest::Client,
    server: String,
    token: String,
}

impl Client {
    /// Resolves flags, environment and config file, then the sign-in `jitgate login` keeps
    /// (refreshing its ID token first when it is about to expire).
    pub async fn from_options(options: &ClientOptions) -> Result<Client, String> {
        let file = read_config(options.config.as_ref())?;
        let server = options
            .server
            .clone()
            .or(file.server)
            .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
        let token = match (&options.token, file.token, file.token_file) {
            (Some(token), _, _) => token.clone(),
            (None, Some(token), _) => token,
            (None, None, Some(path)) => std::fs::read_to_string(expand_home(&path))
                .map_err(|error| format!("error: cannot read token_file {}: {error}", path.display()))?
                .trim()
                .to_owned(),
            (None, None, None) => match super::login::stored_token(&server).await? {
                Some(token) => token,
                None => return Err("error: no credential.\nRun `jitgate login` to sign in at your identity provider, or set JITGATE_TOKEN (or --token) to your API token, or put `token_file` in ~/.config/jitgate/config.json.".into()),
            },
        };
        Client::with_token(&server, &token)
    }

    /// A client for `server` presenting `token`.
    pub fn with_token(server: &str, token: &str) -> Result<Client, String> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|error| format!("error: HTTP client: {error}"))?;
        Ok(Client {
            http,
            server: server.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        })
    }

    /// The issuer's URL from flags, environment or config file (no credential needed).
    pub fn server_of(options: &ClientOptions) -> Result<String, String> {
        let file = read_config(options.config.as_ref())?;
        Ok(options
            .server
            .clone()
            .or(file.server)
            .unwrap_or_else(|| DEFAULT_SERVER.to_owned())
            .trim_end_matches('/')
            .to_owned())
    }

    /// Calls the issuer; `Err` is a message ready to print.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let url = format!("{}{path}", self.server);
        let mut request = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|error| {
            format!(
                "error: cannot reach the issuer at {}: {error}\nIs it running? Set JITGATE_SERVER or --server to its URL.",
                self.server
            )
        })?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|error| format!("error: reading the issuer's answer: {error}"))?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        let message = body["message"].as_str().unwrap_or(text.as_str()).to_owned();
        Err(format!(
            "error: {message}{}",
            hint(status, body["error"].as_str().unwrap_or(""), &message)
        ))
    }
}

/// What to do about an error, by the issuer's error code (and, for budgets, its field).
fn hint(status: StatusCode, code: &str, message: &str) -> &'static str {
    match (status, code) {
        (_, "invalid_request") if message.starts_with("limits.") => "\nSet the budget with --max-requests N and --max-tokens N, within what the policy allows.",
        (StatusCode::UNAUTHORIZED, _) => "\nCheck JITGATE_TOKEN (or --token): it must be an API token (jgt_…) or a current OIDC ID token the issuer knows.",
        (_, "self_review") => "\nAsk someone in the reviewing group to approve it.",
        (_, "policy_denied") => "\nAsk for a narrower scope or a shorter time, or ask an admin which policy applies to you.",
        (_, "not_found") => "\nCheck the id with `jitgate status`; you only see your requests and those you may review.",
        (_, "conflict") => "\nSee `jitgate status <id>` for where the request stands.",
        _ => "",
    }
}

fn read_config(explicit: Option<&PathBuf>) -> Result<ConfigFile, String> {
    let path = match explicit {
        Some(path) => path.clone(),
        None => match std::env::var_os("HOME") {
            Some(home) => PathBuf::from(home).join(".config/jitgate/config.json"),
            None => return Ok(ConfigFile::default()),
        },
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|error| format!("error: config file {}: {error}", path.display())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => {
            Ok(ConfigFile::default())
        }
        Err(error) => Err(format!(
            "error: cannot read config file {}: {error}",
            path.display()
        )),
    }
}

fn expand_home(path: &std::path::Path) -> PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => path.to_owned(),
    }
}
