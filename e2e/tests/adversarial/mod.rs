//! Shared pieces of the adversarial suite (`adversarial_*.rs`): one stack under the
//! conformance policy, byte-exact exchanges that may arrive in slow pieces, and the check that
//! the stub upstream never received a token, a refused body or a spoofed `x-jitgate-*` value.
//!
//! Every stack here audits to the collector stub, and checks one invariant when the test
//! ends ([`AdversarialStack`]'s drop): **every request the upstream served has exactly one
//! `allow` record, and no `deny` record describes a served request** — the upstream's own log
//! against the audit stream, matched by `x-request-id`.
//!
//! Every wait here is bounded: a socket read gives up after [`READ_LIMIT`].

// Each adversarial test file uses a different part of this module.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::ops::Deref;
use std::time::Duration;

use jitgate_e2e::gate::conformance_plugin_configuration;
use jitgate_e2e::wait::within;
use jitgate_e2e::{
    BootstrapTemplate, LocalStack, RawResponse, RecordedRequest, StackOptions, StubServer,
};
use jitgate_grant::audit::{AuditDecision, AuditRecord};
use serde_json::{json, Value};

/// How long a client waits for Envoy between reads before calling the exchange hung.
pub const READ_LIMIT: Duration = Duration::from_secs(5);

/// How long the invariant check waits for the audit records of served requests.
const AUDIT_SETTLE_LIMIT: Duration = Duration::from_secs(10);

/// A stack of the adversarial suite: a [`LocalStack`] that checks, when the test ends
/// without failing, that the upstream's log and the audit stream agree (see the module docs).
pub struct AdversarialStack(LocalStack);

impl Deref for AdversarialStack {
    type Target = LocalStack;

    fn deref(&self) -> &LocalStack {
        &self.0
    }
}

impl Drop for AdversarialStack {
    fn drop(&mut self) {
        // A failed test already says what went wrong; a second panic would abort the run.
        if !std::thread::panicking() {
            assert_served_iff_allowed(&self.0);
        }
    }
}

/// A stack deciding under the conformance policy (`testdata/policy.json`), auditing to the
/// collector stub, with `overrides` merged over its top-level sections.
pub fn conformance_stack(overrides: Value) -> AdversarialStack {
    conformance_stack_on(BootstrapTemplate::jitgate(), overrides)
}

/// [`conformance_stack`] on another Envoy bootstrap (for a listener option the shipped one
/// leaves at Envoy's default).
pub fn conformance_stack_on(template: BootstrapTemplate, overrides: Value) -> AdversarialStack {
    let mut configuration = conformance_plugin_configuration(200);
    configuration["audit"] = json!({"cluster": "collector", "flush_interval_ms": 100});
    if let (Some(target), Value::Object(sections)) = (configuration.as_object_mut(), overrides) {
        target.extend(sections);
    }
    let stack = LocalStack::start(StackOptions {
        plugin_configuration: configuration.to_string(),
        template,
        ..StackOptions::default()
    })
    .expect("the stack starts");
    AdversarialStack(stack)
}

/// The conformance stack as is.
pub fn plain_stack() -> AdversarialStack {
    conformance_stack(json!({}))
}

/// The suite's invariant: every request the upstream served (its body arrived whole) has
/// exactly one audit record, and it says `allow`; no `deny` record carries the request id of
/// a served request. Waits (bounded) for the served requests' records to arrive.
pub fn assert_served_iff_allowed(stack: &LocalStack) {
    let served: Vec<String> = stack
        .upstream
        .requests()
        .into_iter()
        .filter(|request| request.body_complete)
        .map(|request| {
            request
                .header("x-request-id")
                .expect("Envoy gives every upstream request an x-request-id")
                .to_owned()
        })
        .collect();
    let records_by_id = || {
        let mut by_id: BTreeMap<String, Vec<AuditRecord>> = BTreeMap::new();
        for raw in stack.collector.accepted_log_records() {
            let record = AuditRecord::from_otlp_log_record(&raw).expect("a gateway record");
            if let Some(id) = record.request_id.clone() {
                by_id.entry(id).or_default().push(record);
            }
        }
        by_id
    };
    within(AUDIT_SETTLE_LIMIT, || {
        let by_id = records_by_id();
        served.iter().all(|id| by_id.contains_key(id))
    });
    let by_id = records_by_id();
    for id in &served {
        let records = by_id.get(id).map(Vec::as_slice).unwrap_or_default();
        let decisions: Vec<(AuditDecision, &str)> = records
            .iter()
            .map(|record| (record.decision, record.reason.as_str()))
            .collect();
        assert!(
            matches!(decisions.as_slice(), [(AuditDecision::Allow, _)]),
            "request {id} was served by the upstream; its audit records must be exactly one \
             allow, found {decisions:?}"
        );
    }
}

/// The `reason` of a deny body, if the filter wrote one.
pub fn reason(response: &RawResponse) -> Option<String> {
    serde_json::from_slice::<Value>(&response.body)
        .ok()
        .and_then(|body| body["reason"].as_str().map(str::to_owned))
}

/// `(status, reason)` for compact assertions.
pub fn verdict(response: &RawResponse) -> (u16, Option<String>) {
    (response.status, reason(response))
}

/// Sends `pieces` in order on one connection, sleeping `pause` between them, then reads one
/// response. Unlike `RawRequest`, nothing is added: the caller writes the whole message
/// (request line, every header, framing). Returns `None` if the connection ended without a
/// whole response.
pub fn exchange(addr: SocketAddr, pieces: &[&[u8]], pause: Duration) -> Option<RawResponse> {
    let mut stream = TcpStream::connect_timeout(&addr, READ_LIMIT).expect("connect to Envoy");
    stream
        .set_read_timeout(Some(READ_LIMIT))
        .expect("read timeout");
    stream
        .set_write_timeout(Some(READ_LIMIT))
        .expect("write timeout");
    for (index, piece) in pieces.iter().enumerate() {
        if index > 0 {
            std::thread::sleep(pause);
        }
        // Envoy may answer (and close) before the last piece: the answer still counts.
        if stream.write_all(piece).is_err() {
            break;
        }
    }
    read_response(&mut stream)
}

/// Opens a connection and writes `head` only, for a test that then controls what follows.
pub fn open_with(addr: SocketAddr, head: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect_timeout(&addr, READ_LIMIT).expect("connect to Envoy");
    stream
        .set_read_timeout(Some(READ_LIMIT))
        .expect("read timeout");
    stream
        .set_write_timeout(Some(READ_LIMIT))
        .expect("write timeout");
    stream.write_all(head).expect("write the head");
    stream
}

/// Reads one response (content-length or chunked framing), within [`READ_LIMIT`] per read.
pub fn read_response(stream: &mut TcpStream) -> Option<RawResponse> {
    let mut raw = Vec::new();
    let mut buffer = [0_u8; 16 * 1024];
    loop {
        if let Some(response) = parse_complete(&raw) {
            return Some(response);
        }
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return parse_complete(&raw),
            Ok(read) => raw.extend_from_slice(&buffer[..read]),
        }
    }
}

fn parse_complete(raw: &[u8]) -> Option<RawResponse> {
    let split = raw.windows(4).position(|window| window == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let body = &raw[split + 4..];
    let header = |name: &str| {
        headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let body = if header("transfer-encoding").is_some_and(|value| value == "chunked") {
        dechunk(body)?
    } else {
        let length: usize = header("content-length").map_or(Some(0), |v| v.parse().ok())?;
        body.get(..length)?.to_vec()
    };
    Some(RawResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|window| window == b"\r\n")?;
        let size = usize::from_str_radix(std::str::from_utf8(&body[..line_end]).ok()?, 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..size)?);
        body = body.get(size + 2..)?;
    }
}

/// A request head (request line, `host`, the given headers, blank line) as bytes.
pub fn head(method: &str, target: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut text = format!("{method} {target} HTTP/1.1\r\nhost: jitgate.test\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.into_bytes()
}

/// One chunk of a chunked body.
pub fn chunk(data: &[u8]) -> Vec<u8> {
    let mut framed = format!("{:x}\r\n", data.len()).into_bytes();
    framed.extend_from_slice(data);
    framed.extend_from_slice(b"\r\n");
    framed
}

/// The end of a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Checks every request the upstream received: no token header, none of `secrets` anywhere
/// (target, any header, body), and every `x-jitgate-*` header one the filter wrote, holding a
/// value from `allowed_identity`.
pub fn assert_upstream_clean(upstream: &StubServer, secrets: &[&str], allowed_identity: &[&str]) {
    for request in upstream.requests() {
        assert_eq!(
            request.header("authorization"),
            None,
            "a token header reached the upstream: {}",
            request.target
        );
        for secret in secrets {
            assert!(
                !mentions(&request, secret),
                "the upstream saw {secret:?} in {}",
                request.target
            );
        }
        for (name, value) in &request.headers {
            if name.starts_with("x-jitgate-") {
                assert!(
                    ["x-jitgate-subject", "x-jitgate-grant"].contains(&name.as_str())
                        && allowed_identity.contains(&value.as_str()),
                    "the upstream saw {name}: {value} on {}",
                    request.target
                );
            }
        }
    }
}

fn mentions(request: &RecordedRequest, secret: &str) -> bool {
    request.target.contains(secret)
        || request
            .headers
            .iter()
            .any(|(name, value)| name.contains(secret) || value.contains(secret))
        || String::from_utf8_lossy(&request.body).contains(secret)
}
