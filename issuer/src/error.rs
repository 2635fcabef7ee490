//! The issuer's one error type: every failure a handler can meet, its HTTP status, and the
//! JSON body a client sees.
//!
//! Internal failures (database, I/O, signing) are logged with their detail and answered with
//! a bare `internal_error`: a client never learns about our tables, paths or keys.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Everything that can go wrong while serving a call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No credential, or one that is not valid.
    #[error("{0}")]
    Unauthenticated(String),
    /// The data-plane credential for the revocation feed is missing or wrong.
    #[error("a valid data-plane credential is required")]
    DataPlaneUnauthenticated,
    /// The caller is known but may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// A reviewer tried to approve or deny their own request.
    #[error("you cannot review your own request, whatever your role")]
    SelfReview,
    /// The policy refused the request.
    #[error("{0}")]
    PolicyDenied(String),
    /// The input is malformed; the message names the field and the problem.
    #[error("{0}")]
    BadRequest(String),
    /// Nothing with this id is visible to the caller.
    #[error("{0} not found")]
    NotFound(String),
    /// The thing exists but is in a state that does not allow this.
    #[error("{0}")]
    Conflict(String),
    /// A revocation feed cursor from another database (its epoch is not this feed's) or past
    /// the feed's head (a restored database): the reader must start again from the beginning.
    #[error("{0}")]
    UnknownFeedCursor(String),
    /// Too many calls of one kind from one identity; try again after the given seconds.
    #[error("too many {what} from you; try again in {retry_after_seconds} s")]
    RateLimited {
        /// What was limited, e.g. "token mints".
        what: &'static str,
        /// Whole seconds until the next call is allowed (the `Retry-After` value).
        retry_after_seconds: u64,
    },
    /// The identity provider could not be reached or answered nonsense (web sign-in); the
    /// message says which call and why, never a secret.
    #[error("the identity provider: {0}")]
    IdentityProvider(String),
    /// A policy file failed to load or validate; the old policy stays in force.
    #[error("{0}")]
    Policy(String),
    /// Configuration is unusable (reported at start-up).
    #[error("configuration: {0}")]
    Config(String),
    /// A storage failure.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failure.
    #[error("migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A file-system failure (keys, policy, data dir).
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Anything else that is our fault.
    #[error("internal: {0}")]
    Internal(String),
}

/// The issuer's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with what we were doing.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status_code(&self) -> StatusCode {
        match self {
            Error::Unauthenticated(_) | Error::DataPlaneUnauthenticated => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) | Error::SelfReview | Error::PolicyDenied(_) => {
                StatusCode::FORBIDDEN
            }
            Error::BadRequest(_) | Error::Policy(_) => StatusCode::BAD_REQUEST,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::UnknownFeedCursor(_) => StatusCode::GONE,
            Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::IdentityProvider(_) => StatusCode::BAD_GATEWAY,
            Error::Config(_)
            | Error::Database(_)
            | Error::Migration(_)
            | Error::Io { .. }
            | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code in the body's `error` member.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Unauthenticated(_) => "unauthenticated",
            Error::DataPlaneUnauthenticated => "invalid_token",
            Error::Forbidden(_) => "forbidden",
            Error::SelfReview => "self_review",
            Error::PolicyDenied(_) => "policy_denied",
            Error::BadRequest(_) => "invalid_request",
            Error::NotFound(_) => "not_found",
            Error::Conflict(_) => "conflict",
            Error::UnknownFeedCursor(_) => "unknown_cursor",
            Error::RateLimited { .. } => "rate_limited",
            Error::Policy(_) => "invalid_policy",
            Error::IdentityProvider(_) => "identity_provider_failed",
            _ => "internal_error",
        }
    }

    /// What the client is told: the message for client errors, nothing for ours.
    pub fn public_message(&self) -> String {
        if let Error::IdentityProvider(_) = self {
            // Ours to explain: the person signing in can tell their IT what failed.
            return self.to_string();
        }
        if self.status_code().is_server_error() {
            "the issuer failed; the error is in its log".to_owned()
        } else {
            self.to_string()
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let retry_after = match &self {
            Error::RateLimited {
                retry_after_seconds,
                ..
            } => Some(*retry_after_seconds),
            _ => None,
        };
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let body = json!({ "error": self.code(), "message": self.public_message() });
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"jitgate\""),
            );
        }
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
