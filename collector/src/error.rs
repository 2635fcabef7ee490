//! The collector's one error type: what went wrong, which HTTP status it is, and what the
//! client may see. Client mistakes carry a precise message built from their own input;
//! server faults are logged here in full and answered with a bare "internal error".

use std::path::PathBuf;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::checkpoint::CheckpointError;
use crate::merkle::ProofError;
use crate::note::NoteError;
use crate::senders::BindingRefusal;

/// Result with the collector's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the collector.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No credential, or one that matches none configured.
    #[error("missing or unknown bearer credential")]
    Unauthorized,
    /// A batch holding a record its sender's credential may not write (403).
    #[error("{0}")]
    Forbidden(Box<BindingRefusal>),
    /// A body in an encoding the endpoint does not take.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A body over the configured limit.
    #[error("request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The limit.
        limit: usize,
    },
    /// Input that cannot be accepted; the message says exactly why.
    #[error("{0}")]
    BadRequest(String),
    /// Something asked for that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The store failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed at startup.
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A file (signing key, data directory) could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What happened.
        source: std::io::Error,
    },
    /// The signing key is unusable, or signing failed.
    #[error("signing key: {0}")]
    Key(#[from] NoteError),
    /// A stored checkpoint does not check out.
    #[error("{0}")]
    Checkpoint(#[from] CheckpointError),
    /// The stored tree cannot produce a proof it should be able to.
    #[error("merkle tree: {0}")]
    Proof(#[from] ProofError),
    /// What is stored contradicts itself: tampering outside the collector, or a bug.
    #[error("the stored log is inconsistent: {0}")]
    Inconsistent(String),
    /// Configuration that cannot work.
    #[error("configuration: {0}")]
    Config(String),
    /// A guard rules file that cannot be used (file and line in the message).
    #[error("{0}")]
    Rules(#[from] crate::guard::rules::RulesError),
    /// A worker task died (a panic in decoding, caught by the runtime).
    #[error("worker task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl Error {
    /// The HTTP status for this error.
    pub fn status_code(&self) -> StatusCode {
        match self {
            Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            // Only the reload route returns it: the file on disk is unusable, the old rules stay.
            Error::Rules(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::Database(_)
            | Error::Migrate(_)
            | Error::Io { .. }
            | Error::Key(_)
            | Error::Checkpoint(_)
            | Error::Proof(_)
            | Error::Inconsistent(_)
            | Error::Config(_)
            | Error::Task(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A short machine-readable code for the body.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Unauthorized => "unauthorized",
            Error::Forbidden(refusal) => refusal.code(),
            Error::UnsupportedMediaType(_) => "unsupported_media_type",
            Error::PayloadTooLarge { .. } => "payload_too_large",
            Error::BadRequest(_) => "bad_request",
            Error::NotFound(_) => "not_found",
            Error::Rules(_) => "rules_invalid",
            _ => "internal_error",
        }
    }

    /// What the client may read: the message for its own mistakes, nothing for ours.
    pub fn public_message(&self) -> String {
        if self.status_code().is_server_error() {
            "internal error".to_owned()
        } else {
            self.to_string()
        }
    }

    /// Logs a server-side failure (once, where it is turned into a response).
    pub(crate) fn log(&self) {
        if self.status_code().is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        self.log();
        let mut response = (
            self.status_code(),
            Json(json!({"error": self.code(), "message": self.public_message()})),
        )
            .into_response();
        if matches!(self, Error::Unauthorized) {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"jitgate-collector\""),
            );
        }
        response
    }
}
