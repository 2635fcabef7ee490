//! `GET /v1/export`: a verifiable export (see `export`), streamed.

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{bad_query, Reviewer};
use crate::error::Result;
use crate::export::stream::{export as export_stream, ExportRequest};
use crate::export::ExportFormat;
use crate::filter::{FilterParams, RecordFilter};
use crate::Collector;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExportParams {
    from: Option<String>,
    to: Option<String>,
    subject: Option<String>,
    grant: Option<String>,
    model: Option<String>,
    decision: Option<String>,
    #[serde(default)]
    format: ExportFormat,
    since_size: Option<u64>,
}

/// `GET /v1/export?<filter>&format=jsonl|csv&since_size=N`.
pub(crate) async fn export(
    _: Reviewer,
    State(collector): State<Collector>,
    params: Result<Query<ExportParams>, QueryRejection>,
) -> Result<Response> {
    let Query(params) = params.map_err(bad_query)?;
    let filter = RecordFilter::from_params(FilterParams {
        from: params.from,
        to: params.to,
        subject: params.subject,
        grant: params.grant,
        model: params.model,
        decision: params.decision,
    })?;
    let request = ExportRequest {
        filter,
        format: params.format,
        since_size: params.since_size,
    };
    let body = export_stream(collector.log().clone(), request).await?;
    Ok((
        [(header::CONTENT_TYPE, params.format.content_type())],
        Body::from_stream(body),
    )
        .into_response())
}
