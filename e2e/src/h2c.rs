//! A blocking HTTP/2 client over cleartext TCP with prior knowledge (h2c), for requests an
//! HTTP/1.1 client cannot make: a body whose last DATA frame does not end the stream because
//! trailers follow, trailers with no body at all, and a stream the client resets mid-body.
//!
//! One connection per request, every wait bounded by [`H2C_TIMEOUT`], so a gate that holds a
//! stream forever fails the test instead of hanging it.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{HeaderMap, Request};
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::error::{Error, Result};
use crate::raw_http::RawResponse;

/// How long one exchange may take, from connecting to the end of the response.
pub const H2C_TIMEOUT: Duration = Duration::from_secs(5);

/// How the request stream ends after its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd<'a> {
    /// The last DATA frame carries END_STREAM (or the HEADERS frame, with no body).
    Body,
    /// A HEADERS frame of trailers carries END_STREAM; the DATA frames before it do not.
    Trailers(&'a [(&'a str, &'a str)]),
    /// The client resets the stream (RST_STREAM) after sending the body, never ending it.
    Reset,
}

/// One HTTP/2 request.
#[derive(Debug, Clone, Copy)]
pub struct H2Request<'a> {
    /// `:method`.
    pub method: &'a str,
    /// `:path`.
    pub path: &'a str,
    /// Regular headers, in order.
    pub headers: &'a [(&'a str, &'a str)],
    /// Body bytes, sent as one DATA frame (none when empty).
    pub body: &'a [u8],
    /// How the stream ends.
    pub end: StreamEnd<'a>,
}

/// What came back: a whole response, or the stream ended without one (a reset, from either
/// side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum H2Outcome {
    /// A response read to its end.
    Response(RawResponse),
    /// No response: the stream or the connection ended first.
    NoResponse(String),
}

impl H2Outcome {
    /// The response, if there was one.
    pub fn response(&self) -> Option<&RawResponse> {
        match self {
            H2Outcome::Response(response) => Some(response),
            H2Outcome::NoResponse(_) => None,
        }
    }
}

/// Sends `request` to `addr` over h2c and reads the answer.
pub fn send(addr: SocketAddr, request: H2Request<'_>) -> Result<H2Outcome> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::io("start the h2c client runtime"))?;
    runtime.block_on(async {
        match tokio::time::timeout(H2C_TIMEOUT, exchange(addr, request)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Error::Timeout {
                what: format!("an h2c answer from {addr} for {}", request.path),
                waited: H2C_TIMEOUT,
            }),
        }
    })
}

type FrameResult = std::result::Result<Frame<Bytes>, std::io::Error>;

async fn exchange(addr: SocketAddr, request: H2Request<'_>) -> Result<H2Outcome> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(Error::io(format!("connect to {addr} over h2c")))?;
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .map_err(|error| failed(&request, addr, format!("h2c handshake: {error}")))?;
    tokio::spawn(async move {
        // The connection ends with the exchange; its error, if any, shows in the outcome.
        let _ = connection.await;
    });

    let mut frames: Vec<FrameResult> = Vec::new();
    if !request.body.is_empty() {
        frames.push(Ok(Frame::data(Bytes::copy_from_slice(request.body))));
    }
    match request.end {
        StreamEnd::Body => {}
        StreamEnd::Trailers(trailers) => {
            let trailers = header_map(trailers)
                .map_err(|reason| failed(&request, addr, format!("trailers: {reason}")))?;
            frames.push(Ok(Frame::trailers(trailers)));
        }
        // An error from the body stream makes hyper reset the stream (RST_STREAM CANCEL).
        StreamEnd::Reset => frames.push(Err(std::io::Error::other("client reset"))),
    }
    let body = StreamBody::new(futures_util::stream::iter(frames));

    let mut builder = Request::builder()
        .method(request.method)
        .uri(format!("http://{addr}{}", request.path));
    for (name, value) in request.headers {
        builder = builder.header(*name, *value);
    }
    let http_request = builder
        .body(body)
        .map_err(|error| failed(&request, addr, format!("build the request: {error}")))?;

    let response = match sender.send_request(http_request).await {
        Ok(response) => response,
        Err(error) => return Ok(H2Outcome::NoResponse(error.to_string())),
    };
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), value)
        })
        .collect();
    match response.into_body().collect().await {
        Ok(collected) => Ok(H2Outcome::Response(RawResponse {
            status,
            headers,
            body: collected.to_bytes().to_vec(),
        })),
        Err(error) => Ok(H2Outcome::NoResponse(format!(
            "status {status}, then the body failed: {error}"
        ))),
    }
}

fn failed(request: &H2Request<'_>, addr: SocketAddr, reason: String) -> Error {
    Error::Http {
        method: request.method.to_owned(),
        target: request.path.to_owned(),
        addr,
        reason,
    }
}

fn header_map(pairs: &[(&str, &str)]) -> std::result::Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|error| format!("name {name:?}: {error}"))?;
        let value = HeaderValue::from_str(value).map_err(|error| format!("value: {error}"))?;
        map.append(name, value);
    }
    Ok(map)
}
