//! OTLP/HTTP responses in the request's own encoding: `ExportLogsServiceResponse` (with
//! `partialSuccess` when some records were rejected) on success, `google.rpc.Status` on
//! failure — JSON for JSON requests, protobuf for protobuf ones. A batch refused for its
//! sender's binding also carries a `google.rpc.ErrorInfo` detail: the machine-readable code
//! and the offending stream.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use prost::Message;
use serde_json::json;

use super::protobuf::{
    ErrorInfo, ExportLogsPartialSuccess, ExportLogsServiceResponse, ProtoAny, Status,
    ERROR_INFO_TYPE_URL,
};
use crate::error::Error;
use crate::senders::BindingRefusal;

/// `google.rpc.ErrorInfo.domain` of the collector's errors.
pub const ERROR_DOMAIN: &str = "jitgate-collector";

/// How the request body was encoded, and so how to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/json`.
    Json,
    /// `application/x-protobuf`.
    Protobuf,
}

impl Encoding {
    fn content_type(self) -> HeaderValue {
        match self {
            Encoding::Json => HeaderValue::from_static("application/json"),
            Encoding::Protobuf => HeaderValue::from_static("application/x-protobuf"),
        }
    }
}

/// 200 with the records accepted; `rejected` of them were refused, for `message`.
pub fn success(encoding: Encoding, rejected: u64, message: &str) -> Response {
    let body = match encoding {
        Encoding::Json if rejected == 0 => json!({}).to_string().into_bytes(),
        // Proto3 JSON writes int64 as a string; OTLP receivers accept both forms.
        Encoding::Json => json!({"partialSuccess": {
            "rejectedLogRecords": rejected.to_string(),
            "errorMessage": message,
        }})
        .to_string()
        .into_bytes(),
        Encoding::Protobuf => ExportLogsServiceResponse {
            partial_success: (rejected > 0).then(|| ExportLogsPartialSuccess {
                rejected_log_records: i64::try_from(rejected).unwrap_or(i64::MAX),
                error_message: message.to_owned(),
            }),
        }
        .encode_to_vec(),
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, encoding.content_type())],
        body,
    )
        .into_response()
}

/// The error as a `google.rpc.Status` body with the error's HTTP status.
pub fn failure(encoding: Encoding, error: Error) -> Response {
    error.log();
    let code = grpc_code(error.status_code());
    let message = error.public_message();
    let info = match &error {
        Error::Forbidden(refusal) => Some(error_info(refusal)),
        _ => None,
    };
    let body = match encoding {
        Encoding::Json => {
            let mut body = json!({"code": code, "message": message});
            if let Some(info) = &info {
                body["details"] = json!([{
                    "@type": ERROR_INFO_TYPE_URL,
                    "reason": info.reason,
                    "domain": info.domain,
                    "metadata": info.metadata,
                }]);
            }
            body.to_string().into_bytes()
        }
        Encoding::Protobuf => Status {
            code,
            message,
            details: info
                .into_iter()
                .map(|info| ProtoAny {
                    type_url: ERROR_INFO_TYPE_URL.to_owned(),
                    value: info.encode_to_vec(),
                })
                .collect(),
        }
        .encode_to_vec(),
    };
    let mut response = (
        error.status_code(),
        [(header::CONTENT_TYPE, encoding.content_type())],
        body,
    )
        .into_response();
    if matches!(error, Error::Unauthorized) {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"jitgate-collector\""),
        );
    }
    response
}

/// The refusal's code and particulars, for a sender's program to act on.
fn error_info(refusal: &BindingRefusal) -> ErrorInfo {
    let metadata = [
        ("stream_id", refusal.stream_id.clone()),
        ("position", refusal.position.clone()),
        ("record_kind", refusal.record_kind.as_str().to_owned()),
        ("permitted_kind", refusal.binding.kind.as_str().to_owned()),
        (
            "permitted_stream_prefix",
            refusal.binding.stream_prefix.clone(),
        ),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value))
    .collect();
    ErrorInfo {
        reason: refusal.code().to_owned(),
        domain: ERROR_DOMAIN.to_owned(),
        metadata,
    }
}

/// The gRPC status code matching an HTTP status, as OTLP/HTTP pairs them.
fn grpc_code(status: StatusCode) -> i32 {
    match status {
        StatusCode::BAD_REQUEST | StatusCode::UNSUPPORTED_MEDIA_TYPE => 3, // INVALID_ARGUMENT
        StatusCode::UNAUTHORIZED => 16,                                    // UNAUTHENTICATED
        StatusCode::FORBIDDEN => 7,                                        // PERMISSION_DENIED
        StatusCode::PAYLOAD_TOO_LARGE => 8,                                // RESOURCE_EXHAUSTED
        StatusCode::SERVICE_UNAVAILABLE => 14,                             // UNAVAILABLE
        _ => 13,                                                           // INTERNAL
    }
}
