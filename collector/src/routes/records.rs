//! `GET /v1/records`: the records matching a filter, as JSON Lines in log order, streamed a
//! page at a time (`{"leaf_index", "received", "record"}` per line). For reading; exports
//! (with proofs) are `GET /v1/export`.

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::stream;
use serde_json::{json, Value};

use super::{bad_query, Reviewer};
use crate::error::{Error, Result};
use crate::filter::{format_time, FilterParams, RecordFilter};
use crate::Collector;

const PAGE: u32 = 500;

/// `GET /v1/records?from=&to=&subject=&grant=&model=&decision=`.
pub(crate) async fn records(
    _: Reviewer,
    State(collector): State<Collector>,
    params: Result<Query<FilterParams>, QueryRejection>,
) -> Result<Response> {
    let Query(params) = params.map_err(bad_query)?;
    let filter = RecordFilter::from_params(params)?;
    let size = collector.log().size().await;
    let (start, end) = collector.log().store().time_range(&filter, size).await?;
    let state = (collector, filter, start, false);
    let body = stream::try_unfold(state, move |(collector, filter, next, done)| async move {
        if done {
            return Ok::<_, Error>(None);
        }
        let page = collector
            .log()
            .store()
            .records_page(&filter, next, end, PAGE)
            .await?;
        let mut out = String::new();
        for record in &page {
            let value: Value = serde_json::from_str(&record.canonical).map_err(|e| {
                Error::Inconsistent(format!("record {} is not JSON: {e}", record.leaf_index))
            })?;
            out.push_str(
                &json!({
                    "leaf_index": record.leaf_index,
                    "received": format_time(record.received_unix_nano),
                    "record": value,
                })
                .to_string(),
            );
            out.push('\n');
        }
        let finished = page.len() < PAGE as usize;
        let next = page.last().map_or(next, |r| r.leaf_index + 1);
        Ok(Some((
            Bytes::from(out),
            (collector, filter, next, finished),
        )))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/jsonl")],
        Body::from_stream(body),
    )
        .into_response())
}
