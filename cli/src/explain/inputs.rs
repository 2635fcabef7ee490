//! Reading what `jitgate explain` needs from files, stdin and the network — the token, the
//! plugin configuration, the key set, the body — with one error enum whose messages name
//! the flag at fault and never contain the token.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jitgate_filter::config::{KeySource, Settings};
use jitgate_grant::{read_model, KeySet, Reason, UnixTime};

/// Largest token file read: well above `limits.max_token_bytes` allows (65536), so an
/// oversized token still reaches the gate's own `token_too_large` check.
const MAX_TOKEN_FILE_BYTES: u64 = 128 * 1024;

/// Largest key set fetched or read.
const MAX_JWKS_BYTES: u64 = 1024 * 1024;

/// How long a `--jwks` URL may take to answer.
const JWKS_FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Why `explain` could not make a decision (exit code 2).
#[derive(Debug)]
pub enum ExplainError {
    /// A file could not be read.
    Read {
        /// The flag naming the file.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The plugin configuration is invalid, as the filter would refuse it.
    Config {
        /// The field at fault.
        field: String,
        /// What is wrong.
        problem: String,
    },
    /// The configuration fetches keys and no `--jwks` was given.
    KeysNeeded,
    /// The key set is invalid or could not be fetched.
    Jwks(String),
    /// The token file or stdin held no token.
    EmptyToken,
    /// `--now` is neither seconds since the epoch nor RFC 3339.
    BadNow(String),
}

impl fmt::Display for ExplainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExplainError::Read { flag, path, error } => {
                write!(f, "{flag} {}: cannot read: {error}", path.display())
            }
            ExplainError::Config { field, problem } => {
                write!(f, "--config: the gate would refuse it: {field}: {problem}")
            }
            ExplainError::KeysNeeded => f.write_str(
                "--config fetches keys from the issuer (keys.fetch): pass them with \
                 --jwks FILE or --jwks URL (e.g. http://127.0.0.1:8081/.well-known/jwks.json)",
            ),
            ExplainError::Jwks(problem) => write!(f, "--jwks: {problem}"),
            ExplainError::EmptyToken => f.write_str("--token/--token-file: no token found"),
            ExplainError::BadNow(value) => write!(
                f,
                "--now {value:?}: give seconds since the epoch or an RFC 3339 time \
                 (2026-01-01T00:00:00Z)"
            ),
        }
    }
}

impl std::error::Error for ExplainError {}

/// Reads a token from `--token VALUE`, `--token -`, or `--token-file PATH|-`; surrounding
/// whitespace (the newline of a file) is dropped.
pub fn read_token(
    token: Option<&str>,
    token_file: Option<&Path>,
) -> Result<Option<String>, ExplainError> {
    let text = match (token, token_file) {
        (Some("-"), _) => read_stdin("--token")?,
        (Some(value), _) => value.to_owned(),
        (None, Some(path)) if path == Path::new("-") => read_stdin("--token-file")?,
        (None, Some(path)) => {
            let file = std::fs::File::open(path).map_err(|error| ExplainError::Read {
                flag: "--token-file",
                path: path.to_owned(),
                error,
            })?;
            read_bounded("--token-file", path, file, MAX_TOKEN_FILE_BYTES)?
        }
        (None, None) => return Ok(None),
    };
    let token = text.trim();
    if token.is_empty() {
        return Err(ExplainError::EmptyToken);
    }
    Ok(Some(token.to_owned()))
}

fn read_stdin(flag: &'static str) -> Result<String, ExplainError> {
    read_bounded(flag, Path::new("-"), std::io::stdin(), MAX_TOKEN_FILE_BYTES)
}

fn read_bounded(
    flag: &'static str,
    path: &Path,
    source: impl Read,
    limit: u64,
) -> Result<String, ExplainError> {
    let mut text = String::new();
    source
        .take(limit)
        .read_to_string(&mut text)
        .map_err(|error| ExplainError::Read {
            flag,
            path: path.to_owned(),
            error,
        })?;
    Ok(text)
}

/// Parses the plugin configuration exactly as the filter's `on_configure` does.
/// `credential_env` names are resolved from the environment when set; explain never polls
/// the feed, so an unset one is filled with a placeholder rather than refused.
pub fn read_config(path: &Path) -> Result<Settings, ExplainError> {
    let text = std::fs::read(path).map_err(|error| ExplainError::Read {
        flag: "--config",
        path: path.to_owned(),
        error,
    })?;
    let environment = |name: &str| {
        Some(std::env::var(name).unwrap_or_else(|_| "unused-by-jitgate-explain".to_owned()))
    };
    Settings::from_json(&text, &environment).map_err(|error| ExplainError::Config {
        field: error.field,
        problem: error.problem,
    })
}

/// The keys to decide with: `--jwks` (a file or an http(s) URL) when given, else the
/// configuration's inline key set.
pub async fn read_keys(settings: &Settings, jwks: Option<&str>) -> Result<KeySet, ExplainError> {
    let text = match jwks {
        None => {
            return match &settings.keys {
                KeySource::Inline(keys) => Ok(keys.clone()),
                KeySource::Fetch(_) => Err(ExplainError::KeysNeeded),
            }
        }
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
            fetch_jwks(url).await?
        }
        Some(path) => {
            let path = Path::new(path);
            let file = std::fs::File::open(path).map_err(|error| ExplainError::Read {
                flag: "--jwks",
                path: path.to_owned(),
                error,
            })?;
            read_bounded("--jwks", path, file, MAX_JWKS_BYTES)?
        }
    };
    KeySet::from_jwks_json(&text).map_err(|error| ExplainError::Jwks(error.to_string()))
}

async fn fetch_jwks(url: &str) -> Result<String, ExplainError> {
    let failed = |error: reqwest::Error| ExplainError::Jwks(format!("GET {url}: {error}"));
    let client = reqwest::Client::builder()
        .timeout(JWKS_FETCH_TIMEOUT)
        .build()
        .map_err(failed)?;
    let response = client.get(url).send().await.map_err(failed)?;
    if !response.status().is_success() {
        return Err(ExplainError::Jwks(format!(
            "GET {url}: status {}",
            response.status()
        )));
    }
    let body = response.bytes().await.map_err(failed)?;
    if body.len() as u64 > MAX_JWKS_BYTES {
        return Err(ExplainError::Jwks(format!(
            "GET {url}: larger than {MAX_JWKS_BYTES} bytes"
        )));
    }
    String::from_utf8(body.to_vec())
        .map_err(|_| ExplainError::Jwks(format!("GET {url}: not UTF-8")))
}

/// The model as the gate would read it: from `--model` (as the body `{"model": …}`, so it
/// is checked like any body's model) or from `--body-file` with `content_type`. `Ok(None)`
/// when neither is given (the body was not read).
pub fn read_body_model(
    model: Option<&str>,
    body_file: Option<&Path>,
    content_type: &str,
    max_body_bytes: usize,
) -> Result<Option<Result<String, Reason>>, ExplainError> {
    let body = match (model, body_file) {
        (Some(model), _) => serde_json::json!({ "model": model })
            .to_string()
            .into_bytes(),
        (None, Some(path)) => {
            let file = std::fs::File::open(path).map_err(|error| ExplainError::Read {
                flag: "--body-file",
                path: path.to_owned(),
                error,
            })?;
            // One byte past the limit is enough for the gate's `body_too_large`.
            let limit = u64::try_from(max_body_bytes)
                .unwrap_or(u64::MAX)
                .saturating_add(1);
            let mut body = Vec::new();
            file.take(limit)
                .read_to_end(&mut body)
                .map_err(|error| ExplainError::Read {
                    flag: "--body-file",
                    path: path.to_owned(),
                    error,
                })?;
            body
        }
        (None, None) => return Ok(None),
    };
    Ok(Some(read_model(Some(content_type), &body, max_body_bytes)))
}

/// `--now`: seconds since the epoch or RFC 3339; the system clock when absent.
pub fn read_now(now: Option<&str>) -> Result<UnixTime, ExplainError> {
    let Some(value) = now else {
        let seconds = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        return Ok(UnixTime(i64::try_from(seconds).unwrap_or(i64::MAX)));
    };
    if let Ok(seconds) = value.parse::<i64>() {
        return Ok(UnixTime(seconds));
    }
    let time =
        humantime::parse_rfc3339(value).map_err(|_| ExplainError::BadNow(value.to_owned()))?;
    let seconds = time
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| ExplainError::BadNow(value.to_owned()))?
        .as_secs();
    i64::try_from(seconds)
        .map(UnixTime)
        .map_err(|_| ExplainError::BadNow(value.to_owned()))
}
