//! The stub server on its own (no Envoy): the OpenAI-compatible answers it gives, the feed
//! contract it plays for the issuer and collector, and the stream hold tests rely on.

#![allow(clippy::expect_used)]

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use jitgate_e2e::stub::openai::{self, ModelRoute};
use jitgate_e2e::{http_client, FeedRoute, StubServer, DEFAULT_FEED_CREDENTIAL};
use serde_json::{json, Value};

fn start() -> StubServer {
    StubServer::start().expect("the stub starts")
}

fn get(stub: &StubServer, path: &str, bearer: Option<&str>) -> (u16, Value) {
    let mut request = http_client().expect("client").get(stub.url(path));
    if let Some(credential) = bearer {
        request = request.bearer_auth(credential);
    }
    let response = request.send().expect("the stub answers");
    let status = response.status().as_u16();
    (status, response.json().expect("a JSON body"))
}

fn post(stub: &StubServer, path: &str, content_type: &str, body: &str) -> (u16, Value) {
    let response = http_client()
        .expect("client")
        .post(stub.url(path))
        .header("content-type", content_type)
        .body(body.to_owned())
        .send()
        .expect("the stub answers");
    let status = response.status().as_u16();
    (status, response.json().expect("a JSON body"))
}

#[test]
fn model_routes_answer_openai_shapes_echoing_the_model() {
    let stub = start();
    let (status, body) = post(
        &stub,
        "/v1/embeddings",
        "application/json",
        r#"{"model": "e5", "input": "x"}"#,
    );
    assert_eq!(status, 200);
    assert_eq!(body, openai::embedding("e5"));
    let (status, body) = post(
        &stub,
        "/v1/responses",
        "application/json",
        r#"{"model": "o4", "input": "x"}"#,
    );
    assert_eq!(status, 200);
    assert_eq!(
        body["usage"],
        json!({ "input_tokens": 11, "output_tokens": 7, "total_tokens": 18 })
    );
    assert_eq!(body["model"], json!("o4"));
}

#[test]
fn model_routes_require_a_json_object_with_a_string_model() {
    let stub = start();
    let (status, body) = post(
        &stub,
        "/v1/chat/completions",
        "application/json",
        r#"{"messages": []}"#,
    );
    assert_eq!(status, 400);
    assert_eq!(body, openai::error("you must provide a model parameter"));
    let (status, body) = post(&stub, "/v1/completions", "application/json", "not json");
    assert_eq!(status, 400);
    assert_eq!(body, openai::error("the body must be a JSON object"));
    let (status, _) = post(
        &stub,
        "/v1/completions",
        "application/json",
        r#"{"model": 7}"#,
    );
    assert_eq!(status, 400);
    assert_eq!(
        stub.requests().len(),
        3,
        "refused requests are recorded too"
    );
}

#[test]
fn every_request_is_recorded_with_headers_and_body() {
    let stub = start();
    let response = http_client()
        .expect("client")
        .delete(stub.url("/anything?q=1"))
        .header("x-custom", "one")
        .header("authorization", "Bearer secret")
        .body("payload")
        .send()
        .expect("the stub answers");
    assert_eq!(response.status(), 200);
    let requests = stub.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "DELETE");
    assert_eq!(request.target, "/anything?q=1");
    assert_eq!(request.path(), "/anything");
    assert_eq!(request.query(), Some("q=1"));
    assert_eq!(request.header("X-Custom"), Some("one"));
    assert_eq!(request.header("authorization"), Some("Bearer secret"));
    assert_eq!(request.body, b"payload");
    stub.clear_requests();
    assert_eq!(stub.requests(), []);
}

#[test]
fn jwks_route_serves_the_key_set_it_is_given() {
    let stub = start();
    assert_eq!(
        get(&stub, "/.well-known/jwks.json", None),
        (200, json!({ "keys": [] }))
    );
    let jwks = json!({ "keys": [{ "kty": "OKP", "crv": "Ed25519", "kid": "k1", "x": "AAAA" }] });
    stub.set_jwks(jwks.clone());
    assert_eq!(get(&stub, "/.well-known/jwks.json", None), (200, jwks));
}

#[test]
fn revocation_feed_requires_the_data_plane_credential() {
    let stub = start();
    let response = http_client()
        .expect("client")
        .get(stub.url("/v1/revocations"))
        .send()
        .expect("the stub answers");
    assert_eq!(response.status(), 401);
    assert_eq!(
        response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer realm=\"jitgate\"")
    );
    assert_eq!(get(&stub, "/v1/revocations", Some("wrong")).0, 401);
    assert_eq!(
        get(&stub, "/v1/revocations", Some(DEFAULT_FEED_CREDENTIAL)).0,
        200
    );

    stub.set_feed_credential(Some("rotated"));
    assert_eq!(
        get(&stub, "/v1/revocations", Some(DEFAULT_FEED_CREDENTIAL)).0,
        401
    );
    assert_eq!(get(&stub, "/v1/revocations", Some("rotated")).0, 200);
}

#[test]
fn revocation_feed_returns_what_was_revoked_after_the_cursor() {
    let stub = start();
    let feed = |after: &str| {
        get(
            &stub,
            &format!("/v1/revocations{after}"),
            Some(DEFAULT_FEED_CREDENTIAL),
        )
    };
    assert_eq!(feed(""), (200, json!({ "revoked": [], "cursor": "0" })));

    assert_eq!(stub.revoke("grant-a", 1_700_000_100), "1");
    assert_eq!(stub.revoke("grant-b", 1_700_000_200), "2");
    assert_eq!(
        feed(""),
        (
            200,
            json!({
                "revoked": [
                    { "grant_id": "grant-a", "revoked_at": 1_700_000_100 },
                    { "grant_id": "grant-b", "revoked_at": 1_700_000_200 },
                ],
                "cursor": "2",
            })
        )
    );
    assert_eq!(
        feed("?after=1"),
        (
            200,
            json!({ "revoked": [{ "grant_id": "grant-b", "revoked_at": 1_700_000_200 }], "cursor": "2" })
        )
    );
    assert_eq!(
        feed("?after=2"),
        (200, json!({ "revoked": [], "cursor": "2" }))
    );
    assert_eq!(feed("?after=banana").0, 400);
}

#[test]
fn log_sink_accepts_otlp_json_batches_only() {
    let stub = start();
    let batch = json!({ "resourceLogs": [{ "scopeLogs": [{ "logRecords": [
        { "body": { "stringValue": "one" } },
        { "body": { "stringValue": "two" } },
    ] }] }] });
    assert_eq!(
        post(&stub, "/v1/logs", "application/json", &batch.to_string()),
        (200, json!({}))
    );
    assert_eq!(
        post(&stub, "/v1/logs", "application/x-protobuf", "\u{8}\u{1}").0,
        415
    );
    assert_eq!(post(&stub, "/v1/logs", "application/json", "{").0, 400);

    assert_eq!(stub.accepted_logs(), [batch]);
    let records = stub
        .wait_for_log_records(2, Duration::from_secs(1))
        .expect("two records");
    assert_eq!(records[1], json!({ "body": { "stringValue": "two" } }));
    assert_eq!(stub.requests_to("/v1/logs").len(), 3);
}

#[test]
fn a_feed_outage_answers_its_status_until_restored() {
    let stub = start();
    stub.fail_feed(FeedRoute::Jwks, 503);
    stub.fail_feed(FeedRoute::Logs, 500);
    assert_eq!(
        get(&stub, "/.well-known/jwks.json", None),
        (503, json!({ "error": "stub outage" }))
    );
    assert_eq!(post(&stub, "/v1/logs", "application/json", "{}").0, 500);
    assert_eq!(stub.accepted_logs(), Vec::<Value>::new());

    stub.restore_feed(FeedRoute::Jwks);
    assert_eq!(get(&stub, "/.well-known/jwks.json", None).0, 200);
    assert_eq!(post(&stub, "/v1/logs", "application/json", "{}").0, 500);
}

#[test]
fn a_held_stream_stops_after_its_first_event_until_released() {
    let stub = start();
    let events = ModelRoute::Completions.stream_events("m");
    stub.hold_streams();

    let body = r#"{"model": "m", "stream": true}"#;
    let mut stream = TcpStream::connect(stub.addr()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("read timeout");
    write!(
        stream,
        "POST /v1/completions HTTP/1.1\r\nhost: stub\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("send");

    let mut received = Vec::new();
    let mut buffer = [0_u8; 4096];
    let first_event = events[0].as_bytes();
    while !received
        .windows(first_event.len())
        .any(|window| window == first_event)
    {
        let read = stream.read(&mut buffer).expect("the first event arrives");
        assert_ne!(read, 0, "closed early");
        received.extend_from_slice(&buffer[..read]);
    }
    let error = stream
        .read(&mut buffer)
        .expect_err("nothing more while held");
    assert!(
        matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{error}"
    );

    stub.release_streams();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    stream.read_to_end(&mut received).expect("the rest");
    let text = String::from_utf8_lossy(&received);
    for event in &events {
        assert!(
            text.contains(event.as_str()),
            "missing event {event:?} in {text}"
        );
    }
    assert!(text.contains("transfer-encoding: chunked"));
}
