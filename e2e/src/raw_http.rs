//! A minimal blocking HTTP/1.1 client over `std::net::TcpStream`.
//!
//! Used for Envoy's admin API and for requests whose target must reach Envoy byte for byte
//! (`..` segments, `//`, `%2F`) — which URL-parsing clients normalise away. Being plain std,
//! it is also safe to call from inside an async runtime. One request per connection.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::error::{Error, Result};

/// How long any raw exchange may take to connect, and then between reads.
pub const RAW_HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// A request sent exactly as given (plus `Host`, `Content-Length` and `Connection: close`).
#[derive(Debug, Clone, Copy)]
pub struct RawRequest<'a> {
    /// Method, e.g. `GET`.
    pub method: &'a str,
    /// Request target, e.g. `/v1/x/../models`: not normalised.
    pub target: &'a str,
    /// Extra headers, in order.
    pub headers: &'a [(&'a str, &'a str)],
    /// Body bytes (empty for none).
    pub body: &'a [u8],
}

impl<'a> RawRequest<'a> {
    /// A `GET` with no headers.
    pub fn get(target: &'a str) -> Self {
        Self::new("GET", target)
    }

    /// A body-less request with no headers.
    pub fn new(method: &'a str, target: &'a str) -> Self {
        Self {
            method,
            target,
            headers: &[],
            body: &[],
        }
    }
}

/// A response read to the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// Body bytes, de-chunked.
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first value of a header (name matched case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request and reads the whole response.
pub fn send(addr: SocketAddr, request: RawRequest<'_>) -> Result<RawResponse> {
    let fail = |reason: String| Error::Http {
        method: request.method.to_owned(),
        target: request.target.to_owned(),
        addr,
        reason,
    };
    let mut head = format!(
        "{} {} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        request.method,
        request.target,
        request.body.len()
    );
    for (name, value) in request.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");

    let mut stream = TcpStream::connect_timeout(&addr, RAW_HTTP_TIMEOUT)
        .map_err(|error| fail(format!("connect: {error}")))?;
    stream
        .set_read_timeout(Some(RAW_HTTP_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(RAW_HTTP_TIMEOUT)))
        .map_err(|error| fail(format!("socket: {error}")))?;
    // Head and body in one write, as HTTP clients do for small bodies: a server that answers
    // after the headers (a refusal) and closes would otherwise reset the connection when the
    // body arrives in a later segment, and the reset can discard its answer.
    let mut message = head.into_bytes();
    message.extend_from_slice(request.body);
    let written = stream.write_all(&message);
    let mut raw = Vec::new();
    let read = read_message(&mut stream, &mut raw);
    // An early answer still counts if it arrived before the connection ended badly.
    match (parse_response(&raw), written, read) {
        (Ok(response), _, _) => Ok(response),
        (Err(_), Err(error), _) => Err(fail(format!("send: {error}"))),
        (Err(_), _, Err(error)) => Err(fail(format!("read: {error}"))),
        (Err(problem), Ok(()), Ok(_)) => Err(fail(problem)),
    }
}

/// Reads until one whole response has arrived (by `content-length`, the end of a chunked
/// body, or the connection closing), without waiting for the server to close first: after a
/// refusal Envoy holds the connection open for its delayed-close timeout.
fn read_message(stream: &mut TcpStream, raw: &mut Vec<u8>) -> std::io::Result<()> {
    let mut buffer = [0_u8; 16 * 1024];
    loop {
        if is_complete(raw) {
            return Ok(());
        }
        let read = stream.read(&mut buffer)?;
        if read == 0 {
            return Ok(());
        }
        raw.extend_from_slice(&buffer[..read]);
    }
}

/// Whether `raw` holds a whole response.
fn is_complete(raw: &[u8]) -> bool {
    let Some(split) = find(raw, b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let body = &raw[split + 4..];
    if head.contains("transfer-encoding: chunked") {
        return body.ends_with(b"0\r\n\r\n");
    }
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse::<usize>().ok());
    length.is_some_and(|length| body.len() >= length)
}

/// Parses a complete HTTP/1.1 response.
fn parse_response(raw: &[u8]) -> Result<RawResponse, String> {
    let split = find(raw, b"\r\n\r\n").ok_or("no end of headers")?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| "headers are not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(name, value)| name == "transfer-encoding" && value.eq_ignore_ascii_case("chunked"));
    let body = &raw[split + 4..];
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

/// Decodes a chunked body (no trailers expected).
fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = find(body, b"\r\n").ok_or("chunk size line not terminated")?;
        let size_text = std::str::from_utf8(&body[..line_end]).map_err(|_| "bad chunk size")?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = body.get(..size).ok_or("chunk shorter than its size")?;
        out.extend_from_slice(chunk);
        body = body.get(size + 2..).ok_or("chunk not terminated")?;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_chunked_response() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;x=y\r\n, world\r\n0\r\n\r\n";
        let response = parse_response(raw).expect("parses");
        assert_eq!(response.status, 200);
        assert_eq!(response.header("content-type"), Some("text/plain"));
        assert_eq!(response.text(), "hello, world");
    }

    #[test]
    fn parses_a_content_length_response() {
        let raw = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\nLIVE";
        let response = parse_response(raw).expect("parses");
        assert_eq!(response.status, 503);
        assert_eq!(response.body, b"LIVE");
    }

    #[test]
    fn rejects_a_truncated_chunk() {
        let raw = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nff\r\nshort";
        assert_eq!(
            parse_response(raw),
            Err("chunk shorter than its size".to_owned())
        );
    }
}
