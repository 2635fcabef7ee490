//! `POST /v1/logs`: the OTLP/HTTP logs receiver. Checks, in order: the sender's credential
//! (401), the content type and encoding (415; gzip or none), the body size before and after
//! inflating (413), the envelope (400); then validates each record, refuses the whole batch
//! if any valid record is outside the sender's binding (403, nothing stored), appends the new
//! ones in one transaction and answers in the request's encoding — partial success naming
//! each rejected record, or 400 when none was accepted.

use std::io::Read;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::Response;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::error::Error;
use crate::ingest::response::{failure, success, Encoding};
use crate::ingest::{json, protobuf, validate, Rejection};
use crate::metrics::bump;
use crate::senders::Binding;
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
    let binding = match collector.config().senders.authenticate(&headers) {
        Ok(binding) => binding.clone(),
        Err(error) => {
            bump(&metrics.unauthorized, 1);
            return failure(encoding.as_ref().copied().unwrap_or(Encoding::Json), error);
        }
    };
    let (encoding, result) = match encoding {
        Ok(encoding) => (
            encoding,
            ingest(&collector, &headers, encoding, body, &binding).await,
        ),
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
                if matches!(error, Error::Forbidden(_)) {
                    bump(&metrics.batches_forbidden, 1);
                }
                // The message is built from the request's structure, never its credential;
                // the binding names the sender by what it may write.
                tracing::warn!(status = %error.status_code(), sender = %binding, reason = %error, "export request refused");
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
    binding: &Binding,
) -> Result<Response, Error> {
    let compression = compression_of(headers)?;
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
    // Decoding, canonicalizing and hashing a few MB is CPU work: off the async workers, so
    // concurrent senders use every core and nothing else waits behind one big batch.
    let binding = binding.clone();
    let (total, candidates, mut rejected) = tokio::task::spawn_blocking(move || {
        let bytes = match compression {
            Compression::None => bytes,
            Compression::Gzip => gunzip(&bytes, limit)?.into(),
        };
        let records = match encoding {
            Encoding::Json => json::decode(&bytes)?,
            Encoding::Protobuf => protobuf::decode(&bytes)?,
        };
        let total = records.len();
        let (candidates, rejected) = validate(records);
        // Before anything is stored: one record in a stream the sender does not own refuses
        // the batch whole, so a forger learns nothing and takes no sequence number.
        binding
            .check(&candidates)
            .map_err(|refusal| Error::Forbidden(Box::new(refusal)))?;
        Ok::<_, Error>((total, candidates, rejected))
    })
    .await??;
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
    tracing::warn!(rejected = rejected.len(), reason = %message, "log records rejected");
    Ok(success(encoding, rejected.len() as u64, &message))
}

/// How the body is compressed (`Content-Encoding`).
#[derive(Debug, Clone, Copy)]
enum Compression {
    None,
    Gzip,
}

fn compression_of(headers: &HeaderMap) -> Result<Compression, Error> {
    let Some(coding) = headers.get(header::CONTENT_ENCODING) else {
        return Ok(Compression::None);
    };
    match coding
        .to_str()
        .map(|c| c.trim().to_ascii_lowercase())
        .as_deref()
    {
        Ok("identity") => Ok(Compression::None),
        Ok("gzip") => Ok(Compression::Gzip),
        _ => Err(Error::UnsupportedMediaType(format!(
            "Content-Encoding {} is not supported: send gzip or an uncompressed body",
            String::from_utf8_lossy(coding.as_bytes())
        ))),
    }
}

/// Inflates a gzip body, refusing one that inflates past `limit` (a zip bomb is as large as
/// its output, not its input).
fn gunzip(compressed: &[u8], limit: usize) -> Result<Vec<u8>, Error> {
    let mut inflated = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    flate2::read::GzDecoder::new(compressed)
        .take(cap)
        .read_to_end(&mut inflated)
        .map_err(|e| Error::BadRequest(format!("body is not valid gzip: {e}")))?;
    if inflated.len() > limit {
        return Err(Error::PayloadTooLarge { limit });
    }
    Ok(inflated)
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
