//! The notifications file (`--notifications`, TOML): the channels messages go to, which
//! channel hears which event, and how delivery retries. Read once at start; every mistake is
//! a start-up error naming the key, never a message silently dropped later.
//!
//! ```toml
//! [routing]
//! reviews = "reviews"       # pending requests whose permit names no @notify channel
//! requesters = "requests"   # decisions, expiry, revocations, a window ending soon
//! security = "security"     # every event of a break-glass grant, and the guard's alerts
//!
//! [channels.reviews]
//! kind = "webhook"                          # Standard Webhooks, HMAC-SHA256
//! url = "https://hooks.example.com/jitgate"
//! secret_file = "/etc/jitgate/reviews.whsec" # whsec_…, mode 0600
//!
//! [channels.security]
//! kind = "slack"                                 # incoming webhook
//! url_file = "/etc/jitgate/slack-security.url"   # the URL is the secret
//!
//! [delivery]
//! max_attempts = 8       # then the message is a dead letter
//! first_retry = "2s"     # doubling, with full jitter, up to max_retry
//! max_retry = "10m"
//! timeout = "10s"        # one HTTP call
//! claim = "60s"          # a claimed message is this replica's for this long
//! expiring_soon = "15m"  # tell the requester this long before the window ends ("0s": never)
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::webhook::WebhookSecret;
use crate::requests::duration::parse_duration;

/// Where a channel's messages go.
#[derive(Clone)]
pub enum Sink {
    /// A generic webhook, signed per Standard Webhooks.
    Webhook {
        /// The receiver.
        url: String,
        /// The signing secret.
        secret: WebhookSecret,
    },
    /// A Slack incoming webhook (text and blocks).
    Slack {
        /// The webhook URL (a secret: whoever has it can post).
        url: String,
    },
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret nor a Slack URL (it is one).
        match self {
            Sink::Webhook { url, .. } => write!(f, "Webhook({url})"),
            Sink::Slack { .. } => write!(f, "Slack(…)"),
        }
    }
}

/// Which channel hears what.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routing {
    /// Pending reviews whose permit names no `@notify` channel.
    pub reviews: Option<String>,
    /// What the requester must hear: decisions, expiry, revocation, the window ending soon.
    pub requesters: Option<String>,
    /// Every event of a break-glass grant, and the guard's alerts.
    pub security: Option<String>,
}

/// How delivery retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Attempts before a message becomes a dead letter.
    pub max_attempts: u32,
    /// The first retry's delay (before jitter); each next one doubles.
    pub first_retry: Duration,
    /// The longest delay between two attempts.
    pub max_retry: Duration,
    /// One HTTP call's limit.
    pub timeout: Duration,
    /// How long a claimed message belongs to the replica that claimed it; after that (the
    /// replica died mid-delivery) any replica sends it again.
    pub claim: Duration,
    /// How long before a window ends the requester is told; zero: never.
    pub expiring_soon: Duration,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery {
            max_attempts: 8,
            first_retry: Duration::from_secs(2),
            max_retry: Duration::from_secs(600),
            timeout: Duration::from_secs(10),
            claim: Duration::from_secs(60),
            expiring_soon: Duration::from_secs(15 * 60),
        }
    }
}

/// The whole file, checked.
#[derive(Debug, Clone, Default)]
pub struct NotifyConfig {
    /// Channels by name.
    pub channels: BTreeMap<String, Sink>,
    /// Which channel hears what.
    pub routing: Routing,
    /// Retries.
    pub delivery: Delivery,
}

/// What is wrong with the file: the key at fault and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyConfigError {
    /// It cannot be read.
    #[error("{path}: {problem}")]
    Unreadable {
        /// The file.
        path: String,
        /// The OS error.
        problem: String,
    },
    /// It is not the TOML described in the module docs.
    #[error("{path}: {problem}")]
    Syntax {
        /// The file.
        path: String,
        /// toml's message, with line and column.
        problem: String,
    },
    /// A key has a value that cannot work.
    #[error("{path}: {key}: {problem}")]
    Invalid {
        /// The file.
        path: String,
        /// The key, e.g. `channels.reviews.secret_file`.
        key: String,
        /// Why.
        problem: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    channels: BTreeMap<String, RawChannel>,
    #[serde(default)]
    routing: RawRouting,
    #[serde(default)]
    delivery: RawDelivery,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChannel {
    kind: String,
    url: Option<String>,
    url_file: Option<PathBuf>,
    secret_file: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRouting {
    reviews: Option<String>,
    requesters: Option<String>,
    security: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDelivery {
    max_attempts: Option<u32>,
    first_retry: Option<String>,
    max_retry: Option<String>,
    timeout: Option<String>,
    claim: Option<String>,
    expiring_soon: Option<String>,
}

/// Most attempts a message may be given: more is a typo for a duration.
const MAX_ATTEMPTS: u32 = 100;

impl NotifyConfig {
    /// Reads and checks the file at `path`. Relative secret files are relative to it.
    pub fn load(path: &Path) -> Result<NotifyConfig, NotifyConfigError> {
        let shown = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|error| NotifyConfigError::Unreadable {
                path: shown.clone(),
                problem: error.to_string(),
            })?;
        let base = path.parent().unwrap_or(Path::new("."));
        NotifyConfig::parse(&text, &shown, base)
    }

    /// Checks `text`, shown as `path` in errors, with files relative to `base`.
    pub fn parse(text: &str, path: &str, base: &Path) -> Result<NotifyConfig, NotifyConfigError> {
        let raw: RawFile = toml::from_str(text).map_err(|error| NotifyConfigError::Syntax {
            path: path.to_owned(),
            problem: error.to_string().trim_end().to_owned(),
        })?;
        let invalid = |key: String, problem: String| NotifyConfigError::Invalid {
            path: path.to_owned(),
            key,
            problem,
        };
        let mut channels = BTreeMap::new();
        for (name, channel) in raw.channels {
            if !valid_channel_name(&name) {
                return Err(invalid(
                    format!("channels.{name}"),
                    "a channel name is 1 to 64 of a-z, 0-9, '-' and '_'".into(),
                ));
            }
            let key = |field: &str| format!("channels.{name}.{field}");
            let sink = match channel.kind.as_str() {
                "webhook" => {
                    if channel.url_file.is_some() {
                        return Err(invalid(key("url_file"), "a webhook takes `url`".into()));
                    }
                    let url = channel
                        .url
                        .ok_or_else(|| invalid(key("url"), "required".into()))?;
                    check_url(&url).map_err(|problem| invalid(key("url"), problem))?;
                    let file = channel
                        .secret_file
                        .ok_or_else(|| invalid(key("secret_file"), "required".into()))?;
                    let text = read_secret(&base.join(&file))
                        .map_err(|problem| invalid(key("secret_file"), problem))?;
                    let secret = WebhookSecret::parse(&text)
                        .map_err(|problem| invalid(key("secret_file"), problem.to_string()))?;
                    Sink::Webhook { url, secret }
                }
                "slack" => {
                    if channel.url.is_some() {
                        return Err(invalid(
                            key("url"),
                            "a Slack webhook URL is a secret: put it in a file named by `url_file`"
                                .into(),
                        ));
                    }
                    if channel.secret_file.is_some() {
                        return Err(invalid(
                            key("secret_file"),
                            "Slack webhooks are not signed; the URL is the secret".into(),
                        ));
                    }
                    let file = channel
                        .url_file
                        .ok_or_else(|| invalid(key("url_file"), "required".into()))?;
                    let url = read_secret(&base.join(&file))
                        .map_err(|problem| invalid(key("url_file"), problem))?;
                    check_url(&url).map_err(|problem| invalid(key("url_file"), problem))?;
                    Sink::Slack { url }
                }
                other => {
                    return Err(invalid(
                        key("kind"),
                        format!("{other:?} is not a kind (webhook or slack)"),
                    ))
                }
            };
            channels.insert(name, sink);
        }
        let route = |key: &str, value: Option<String>| match value {
            Some(name) if !channels.contains_key(&name) => Err(invalid(
                format!("routing.{key}"),
                format!("no channel {name:?} (channels: {})", names(&channels)),
            )),
            other => Ok(other),
        };
        let routing = Routing {
            reviews: route("reviews", raw.routing.reviews)?,
            requesters: route("requesters", raw.routing.requesters)?,
            security: route("security", raw.routing.security)?,
        };
        let defaults = Delivery::default();
        let duration = |key: &str, value: Option<String>, default: Duration| match value {
            None => Ok(default),
            Some(text) => parse_duration(&text)
                .map(|seconds| Duration::from_secs(seconds.unsigned_abs()))
                .map_err(|problem| invalid(format!("delivery.{key}"), problem)),
        };
        let max_attempts = raw.delivery.max_attempts.unwrap_or(defaults.max_attempts);
        if !(1..=MAX_ATTEMPTS).contains(&max_attempts) {
            return Err(invalid(
                "delivery.max_attempts".into(),
                format!("{max_attempts} is not between 1 and {MAX_ATTEMPTS}"),
            ));
        }
        let delivery = Delivery {
            max_attempts,
            first_retry: duration(
                "first_retry",
                raw.delivery.first_retry,
                defaults.first_retry,
            )?,
            max_retry: duration("max_retry", raw.delivery.max_retry, defaults.max_retry)?,
            timeout: duration("timeout", raw.delivery.timeout, defaults.timeout)?,
            claim: duration("claim", raw.delivery.claim, defaults.claim)?,
            expiring_soon: duration(
                "expiring_soon",
                raw.delivery.expiring_soon,
                defaults.expiring_soon,
            )?,
        };
        if delivery.first_retry.is_zero() || delivery.max_retry < delivery.first_retry {
            return Err(invalid(
                "delivery.max_retry".into(),
                "first_retry must be above zero and max_retry at least first_retry".into(),
            ));
        }
        if delivery.timeout.is_zero() || delivery.claim <= delivery.timeout {
            // A claim shorter than one call would let another replica send the message
            // while the first is still sending it.
            return Err(invalid(
                "delivery.claim".into(),
                "must be longer than delivery.timeout (and the timeout above zero)".into(),
            ));
        }
        Ok(NotifyConfig {
            channels,
            routing,
            delivery,
        })
    }

    /// Whether a channel of that name is configured.
    pub fn has_channel(&self, name: &str) -> bool {
        self.channels.contains_key(name)
    }
}

fn names(channels: &BTreeMap<String, Sink>) -> String {
    if channels.is_empty() {
        return "none".into();
    }
    channels.keys().cloned().collect::<Vec<_>>().join(", ")
}

/// Channel names as `@notify` and the routing table spell them.
pub fn valid_channel_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn check_url(url: &str) -> Result<(), String> {
    if url.starts_with("https://") || url.starts_with("http://") {
        if url.chars().any(char::is_whitespace) {
            return Err("a URL has no whitespace".into());
        }
        Ok(())
    } else {
        Err("must be an http:// or https:// URL".into())
    }
}

/// A secret file's text, trimmed; refused when others may read it.
fn read_secret(path: &Path) -> Result<String, String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|error| format!("{}: {error}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(format!(
                "{}: mode {:o} lets others read a secret; chmod 600 it",
                path.display(),
                mode & 0o777
            ));
        }
    }
    let text =
        std::fs::read_to_string(path).map_err(|error| format!("{}: {error}", path.display()))?;
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret_file(dir: &Path, name: &str, text: &str, mode: u32) {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
    }

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn reads_channels_routing_and_delivery() {
        let dir = tempfile::tempdir().unwrap();
        secret_file(dir.path(), "r.whsec", SECRET, 0o600);
        secret_file(
            dir.path(),
            "slack.url",
            "https://hooks.slack.test/T/B/x\n",
            0o600,
        );
        let config = NotifyConfig::parse(
            r#"
            [routing]
            reviews = "reviews"
            security = "sec"
            [channels.reviews]
            kind = "webhook"
            url = "http://127.0.0.1:9/hook"
            secret_file = "r.whsec"
            [channels.sec]
            kind = "slack"
            url_file = "slack.url"
            [delivery]
            max_attempts = 3
            first_retry = "1s"
            "#,
            "n.toml",
            dir.path(),
        )
        .unwrap();
        assert_eq!(config.routing.reviews.as_deref(), Some("reviews"));
        assert_eq!(config.routing.requesters, None);
        assert_eq!(config.delivery.max_attempts, 3);
        assert_eq!(config.delivery.first_retry, Duration::from_secs(1));
        assert_eq!(config.delivery.max_retry, Duration::from_secs(600));
        assert!(
            matches!(&config.channels["sec"], Sink::Slack { url } if url == "https://hooks.slack.test/T/B/x")
        );
        assert!(!format!("{config:?}").contains("hooks.slack.test"));
    }

    #[test]
    fn every_mistake_names_its_key() {
        let dir = tempfile::tempdir().unwrap();
        secret_file(dir.path(), "ok.whsec", SECRET, 0o600);
        secret_file(dir.path(), "open.whsec", SECRET, 0o644);
        secret_file(dir.path(), "bad.whsec", "whsec_***", 0o600);
        let hook = |extra: &str| {
            format!("[channels.a]\nkind = \"webhook\"\nurl = \"http://h/\"\n{extra}\n")
        };
        let cases = [
            (
                hook("secret_file = \"ok.whsec\"\n[routing]\nreviews = \"b\""),
                "routing.reviews",
            ),
            (
                hook("secret_file = \"open.whsec\""),
                "channels.a.secret_file",
            ),
            (
                hook("secret_file = \"bad.whsec\""),
                "channels.a.secret_file",
            ),
            (
                hook("secret_file = \"missing.whsec\""),
                "channels.a.secret_file",
            ),
            (hook(""), "channels.a.secret_file"),
            (
                "[channels.a]\nkind = \"slack\"\nurl = \"https://x\"".into(),
                "channels.a.url",
            ),
            ("[channels.a]\nkind = \"sms\"".into(), "channels.a.kind"),
            ("[channels.Bad]\nkind = \"slack\"".into(), "channels.Bad"),
            (
                "[delivery]\nmax_attempts = 0".into(),
                "delivery.max_attempts",
            ),
            (
                "[delivery]\nfirst_retry = \"soon\"".into(),
                "delivery.first_retry",
            ),
            ("[delivery]\nclaim = \"5s\"".into(), "delivery.claim"),
        ];
        for (text, key) in cases {
            match NotifyConfig::parse(&text, "n.toml", dir.path()) {
                Err(NotifyConfigError::Invalid { key: got, .. }) => assert_eq!(got, key, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        assert!(matches!(
            NotifyConfig::parse("[routing]\nreviewers = \"a\"", "n.toml", dir.path()),
            Err(NotifyConfigError::Syntax { .. })
        ));
    }
}
