//! The HTTP surface: which path does what, and who may call it. Senders post records;
//! reviewers query, export, fetch proofs, tail the log live and reload the guard's rules;
//! checkpoints, the verifier key, metrics and health are public (a checkpoint is a signed
//! public statement by design).

mod checkpoint;
mod export;
mod guard;
mod logs;
mod metrics;
mod proofs;
mod records;
mod streams;
mod tail;

use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::Router;

use crate::error::Error;
use crate::metrics::bump;
use crate::Collector;

/// The collector's routes over `collector`.
pub fn app(collector: Collector) -> Router {
    Router::new()
        .route(
            "/v1/logs",
            // The handler enforces the configured limit itself, with an OTLP-shaped 413.
            post(logs::export_logs).layer(DefaultBodyLimit::disable()),
        )
        .route("/v1/checkpoint", get(checkpoint::latest))
        .route("/v1/checkpoint/key", get(checkpoint::verifier_key))
        .route("/v1/checkpoints/{size}", get(checkpoint::at_size))
        .route("/v1/records", get(records::records))
        .route("/v1/export", get(export::export))
        .route("/v1/proofs/inclusion", get(proofs::inclusion))
        .route("/v1/proofs/consistency", get(proofs::consistency))
        .route("/v1/streams", get(streams::streams))
        .route("/v1/tail", get(tail::tail))
        .route("/v1/admin/guard/reload", post(guard::reload))
        .route("/metrics", get(metrics::metrics))
        .route("/healthz", get(metrics::health))
        .with_state(collector)
}

/// A request carrying a reviewer credential. Extracting it is the access check.
pub(crate) struct Reviewer;

impl FromRequestParts<Collector> for Reviewer {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        collector: &Collector,
    ) -> Result<Self, Self::Rejection> {
        collector
            .config()
            .reviewers
            .check(&parts.headers)
            .inspect_err(|_| bump(&collector.log().metrics().unauthorized, 1))?;
        Ok(Reviewer)
    }
}

/// A query string serde could not read, as a precise 400.
pub(crate) fn bad_query(rejection: axum::extract::rejection::QueryRejection) -> Error {
    Error::BadRequest(rejection.body_text())
}
