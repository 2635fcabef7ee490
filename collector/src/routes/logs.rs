//! `POST /v1/logs`: the OTLP/HTTP logs receiver. Checks, in order: the sender's credential
//! (401), the content type (415), the body size (413), the envelope (400); then validates
//! each record, appends the new ones in one transaction and answers in the request's
//! encoding — partial success naming each rejected record, or 400 when none was accepted.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::Response;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::error::Error;
use crate::ingest::response::{failure, success, Encoding};
use crate::ingest::{json, protobuf, validate, Rejection};
use crate::metrics::bump;
use crate::Collector;

/// Rejections listed by name in a response; the rest are counted.
const LISTED_REJECTIONS: usize = 10;

pub(crate) async fn export_logs(
    State(collector): State<Collector>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let encoding = encoding_of(&headers);
    let metrics = collector.log().metrics();
    if let Err(error) = collector.config().senders.check(&headers) {
        bump(&metrics.unauthorized, 1);
        return failure(encoding.as_ref().copied().unwrap_or(Encoding::Json), error);
    }
    let (encoding, result) = match encoding {
        Ok(encoding) => (encoding, ingest(&collector, &headers, encoding, body).await),
        // Unknown encoding: answer in JSON, the one every client can read.
        Err(error) => (Encoding::Json, Err(error)),
    };
    match result {
        Ok(response) => {
            bump(&metrics.batches_accepted, 1);
            response
        }
        Err(error) => {
            if error.status_code().is_client_error() {
                bump(&metrics.batches_refused, 1);
            }
            failure(encoding, error)
        }
    }
}

async fn ingest(
    collector: &Collector,
    headers: &HeaderMap,
    encoding: Encoding,
    body: Body,
) -> Result<Response, Error> {
    if let Some(coding) = headers.get(header::CONTENT_ENCODING) {
        if coding.as_bytes() != b"identity" {
            return Err(Error::UnsupportedMediaType(format!(
                "Content-Encoding {} is not supported: send the body uncompressed",
                String::from_utf8_lossy(coding.as_bytes())
            )));
        }
    }
    let limit = collector.config().max_body_bytes;
    let bytes = Limited::new(body, limit)
        .collect()
        .await
        .map_err(|error| {
            if error.downcast_ref::<LengthLimitError>().is_some() {
                Error::PayloadTooLarge { limit }
            } else {
                Error::BadRequest(format!("could not read the request body: {error}"))
            }
        })?
        .to_bytes();
    let records = match encoding {
        Encoding::Json => json::decode(&bytes)?,
        Encoding::Protobuf => protobuf::decode(&bytes)?,
    };
    let total = records.len();
    let (candidates, mut rejected) = validate(records);
    bump(
        &collector.log().metrics().records_rejected_invalid,
        rejected.len() as u64,
    );
    let accepted_any = if candidates.is_empty() {
        false
    } else {
        let outcome = collector.log().append(candidates).await?;
        rejected.extend(outcome.conflicts);
        outcome.stored + outcome.duplicates > 0
    };
    if rejected.is_empty() {
        return Ok(success(encoding, 0, ""));
    }
    let message = describe(&rejected, total);
    if !accepted_any {
        // Nothing in the request could be accepted: a permanent error, nothing stored.
        return Err(Error::BadRequest(message));
    }
    Ok(success(encoding, rejected.len() as u64, &message))
}

fn encoding_of(headers: &HeaderMap) -> Result<Encoding, Error> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => Ok(Encoding::Json),
        "application/x-protobuf" => Ok(Encoding::Protobuf),
        "" => Err(Error::UnsupportedMediaType(
            "Content-Type is missing: send application/json or application/x-protobuf".into(),
        )),
        other => Err(Error::UnsupportedMediaType(format!(
            "Content-Type {other} is not supported: send application/json or application/x-protobuf"
        ))),
    }
}

fn describe(rejected: &[Rejection], total: usize) -> String {
    let listed: Vec<String> = rejected
        .iter()
        .take(LISTED_REJECTIONS)
        .map(ToString::to_string)
        .collect();
    let more = rejected.len().saturating_sub(LISTED_REJECTIONS);
    let mut message = format!(
        "{} of {total} log records rejected: {}",
        rejected.len(),
        listed.join("; ")
    );
    if more > 0 {
        message.push_str(&format!("; and {more} more"));
    }
    message
}
