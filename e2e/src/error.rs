//! The harness's one error type: every failure says what was being attempted and, for Envoy,
//! carries its log so a failing test shows why without a rerun.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// Lines of Envoy's log shown when it fails to start or to become ready.
const LOG_TAIL_LINES: usize = 40;

/// Everything that can go wrong while setting up or driving the end-to-end stack.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No Envoy binary where the harness looked.
    #[error("Envoy binary not found at {}: run `cargo xtask setup` (or set JITGATE_ENVOY)", path.display())]
    EnvoyNotFound {
        /// Where the harness looked.
        path: PathBuf,
    },
    /// The filter has not been built to `wasm32-wasip1`.
    #[error("built filter not found at {}: run `cargo xtask build` (or set JITGATE_FILTER_WASM)", path.display())]
    FilterNotBuilt {
        /// Where the harness looked.
        path: PathBuf,
    },
    /// A file, socket or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What the harness was doing.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A bootstrap template names a placeholder the harness has no value for.
    #[error("bootstrap template {template}: unknown placeholder {{{{{name}}}}}")]
    UnknownPlaceholder {
        /// The template's name.
        template: String,
        /// The placeholder, without braces.
        name: String,
    },
    /// `envoy --mode validate` refused a configuration.
    #[error("Envoy rejected the configuration {}:\n{}", path.display(), tail(output))]
    ConfigRejected {
        /// The configuration file given to Envoy.
        path: PathBuf,
        /// Everything Envoy printed.
        output: String,
    },
    /// Envoy exited before its admin `/ready` said LIVE (for example a config the filter refused).
    #[error(
        "Envoy exited before becoming ready ({status}); log tail:\n{}",
        tail(log)
    )]
    EnvoyExited {
        /// How it exited.
        status: ExitStatus,
        /// Its whole log (stderr, then stdout).
        log: String,
    },
    /// Envoy kept running but did not become ready in time.
    #[error("Envoy not ready after {waited:?}; log tail:\n{}", tail(log))]
    EnvoyNotReady {
        /// How long the harness waited.
        waited: Duration,
        /// Its whole log so far.
        log: String,
    },
    /// A plain HTTP exchange (admin or raw request) failed or was malformed.
    #[error("HTTP {method} {target} to {addr}: {reason}")]
    Http {
        /// Request method.
        method: String,
        /// Request target as sent.
        target: String,
        /// Server address.
        addr: std::net::SocketAddr,
        /// What went wrong.
        reason: String,
    },
    /// A statistic was absent, or its name and labels matched no single sample.
    #[error("stat {name}{labels} not found in /stats/prometheus")]
    StatNotFound {
        /// Metric name as Prometheus shows it.
        name: String,
        /// The label set asked for, rendered `{k="v",…}`.
        labels: String,
    },
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    /// A condition the harness waits on did not come true in time.
    #[error("timed out after {waited:?} waiting for {what}")]
    Timeout {
        /// The condition.
        what: String,
        /// How long the harness waited.
        waited: Duration,
    },
    /// The `jitgate` binary is not built where the harness looked.
    #[error(
        "the jitgate binary is not at {path:?}: run `cargo build -p jitgate` or set JITGATE_BIN"
    )]
    JitgateNotBuilt {
        /// Where it was expected.
        path: std::path::PathBuf,
    },
    /// The in-process issuer could not start.
    #[error("the issuer did not start: {0}")]
    IssuerFailed(String),
    /// A command-line flag was wrong (`cargo xtask up`).
    #[error("{0}")]
    Usage(String),
    /// A port the local stack needs is taken by another process.
    #[error(
        "{addr} ({role}) is already in use: is an earlier `cargo xtask up` still running? \
         Stop whatever listens there, or choose another port with {flag}"
    )]
    PortInUse {
        /// What the port was for.
        role: &'static str,
        /// The address.
        addr: std::net::SocketAddr,
        /// The flag that moves it.
        flag: &'static str,
    },
    /// A process of the local stack exited on its own.
    #[error("the {what} exited ({status}); last lines of {}:\n{}", log_path.display(), tail(log))]
    ServiceExited {
        /// Which process.
        what: String,
        /// How it exited.
        status: ExitStatus,
        /// Its log file.
        log_path: PathBuf,
        /// The log's content.
        log: String,
    },
}

/// The harness's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with what the harness was doing.
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }

    /// Envoy's log, for errors raised while Envoy ran or validated a config.
    pub fn envoy_log(&self) -> Option<&str> {
        match self {
            Error::ConfigRejected { output, .. } => Some(output),
            Error::EnvoyExited { log, .. } | Error::EnvoyNotReady { log, .. } => Some(log),
            _ => None,
        }
    }
}

/// The last [`LOG_TAIL_LINES`] lines of a log.
fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}
