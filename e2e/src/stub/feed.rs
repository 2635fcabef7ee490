//! The stub's feed roles, standing in for the issuer and the collector until they exist.
//!
//! Contract (the issuer and collector must follow it too):
//!
//! - `GET /.well-known/jwks.json` → 200 with the JWKS set by [`StubServer::set_jwks`]
//!   (`{"keys": []}` until then).
//! - `GET /v1/revocations?after=<cursor>` with `Authorization: Bearer <data-plane credential>`
//!   → 200 `{"revoked": [{"grant_id": "…", "revoked_at": <unix seconds>}, …], "cursor": "…"}`:
//!   the revocations made after `cursor`, oldest first, and the cursor to send next time.
//!   Cursors are opaque strings to clients (the stub uses decimal positions, `"0"` = start);
//!   omit `after` to start from the beginning. A missing or wrong credential → 401 with
//!   `WWW-Authenticate: Bearer realm="jitgate"`; a malformed cursor → 400.
//! - `POST /v1/logs` (OTLP/HTTP JSON `ExportLogsServiceRequest`, `Content-Type:
//!   application/json`) → 200 `{}`; anything but JSON → 415, a body that is not JSON → 400.
//!
//! [`StubServer::fail_feed`] makes one route answer a given status (an outage) until
//! [`StubServer::restore_feed`]. Requests are recorded whatever the answer.

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};

use super::record::RecordedRequest;
use super::{lock, Reply, StubServer};
use crate::error::Result;
use crate::wait::wait_until;

/// The JWKS path.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
/// The revocation feed path.
pub const REVOCATIONS_PATH: &str = "/v1/revocations";
/// The OTLP/HTTP logs path.
pub const LOGS_PATH: &str = "/v1/logs";
/// The data-plane credential the revocation feed requires unless changed.
pub const DEFAULT_FEED_CREDENTIAL: &str = "jitgate-test-data-plane-credential";

/// One of the feed routes, to take down or restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeedRoute {
    /// `GET /.well-known/jwks.json`
    Jwks,
    /// `GET /v1/revocations`
    Revocations,
    /// `POST /v1/logs`
    Logs,
}

/// One revoked grant in the feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Revocation {
    /// The revoked grant (the token's `grant_id` claim).
    pub grant_id: String,
    /// When it was revoked, Unix seconds.
    pub revoked_at: u64,
}

/// The feed's mutable state.
#[derive(Debug)]
pub(crate) struct FeedState {
    jwks: Value,
    revocations: Vec<Revocation>,
    credential: Option<String>,
    outages: HashMap<FeedRoute, u16>,
    accepted_logs: Vec<Value>,
}

impl Default for FeedState {
    fn default() -> Self {
        Self {
            jwks: json!({ "keys": [] }),
            revocations: Vec::new(),
            credential: Some(DEFAULT_FEED_CREDENTIAL.to_owned()),
            outages: HashMap::new(),
            accepted_logs: Vec::new(),
        }
    }
}

impl FeedState {
    fn outage(&self, route: FeedRoute) -> Option<Reply> {
        self.outages
            .get(&route)
            .map(|status| Reply::json(*status, json!({ "error": "stub outage" })))
    }

    /// `GET /.well-known/jwks.json`
    pub(crate) fn jwks(&self) -> Reply {
        self.outage(FeedRoute::Jwks)
            .unwrap_or_else(|| Reply::json(200, self.jwks.clone()))
    }

    /// `GET /v1/revocations?after=…`
    pub(crate) fn revocations(&self, request: &RecordedRequest) -> Reply {
        if let Some(outage) = self.outage(FeedRoute::Revocations) {
            return outage;
        }
        if let Some(credential) = &self.credential {
            let expected = format!("Bearer {credential}");
            if request.header("authorization") != Some(expected.as_str()) {
                return Reply::json(401, json!({ "error": "invalid_token" }))
                    .with_header("www-authenticate", "Bearer realm=\"jitgate\"");
            }
        }
        let after = request
            .query()
            .unwrap_or_default()
            .split('&')
            .find_map(|pair| pair.strip_prefix("after="))
            .filter(|cursor| !cursor.is_empty())
            .unwrap_or("0");
        let Ok(after) = after.parse::<usize>() else {
            return Reply::json(
                400,
                json!({ "error": "invalid_request", "reason": "bad cursor" }),
            );
        };
        let revoked = self.revocations.get(after..).unwrap_or_default();
        Reply::json(
            200,
            json!({ "revoked": revoked, "cursor": self.revocations.len().max(after).to_string() }),
        )
    }

    /// `POST /v1/logs`
    pub(crate) fn accept_logs(&mut self, request: &RecordedRequest) -> Reply {
        if let Some(outage) = self.outage(FeedRoute::Logs) {
            return outage;
        }
        let json_type = request
            .header("content-type")
            .is_some_and(|value| value.starts_with("application/json"));
        if !json_type {
            return Reply::json(415, json!({ "error": "OTLP/HTTP JSON only" }));
        }
        match serde_json::from_slice(&request.body) {
            Ok(batch) => {
                self.accepted_logs.push(batch);
                Reply::json(200, json!({}))
            }
            Err(error) => Reply::json(400, json!({ "error": error.to_string() })),
        }
    }
}

/// Feed controls, for tests playing issuer or collector.
impl StubServer {
    /// Serves this JWKS from now on.
    pub fn set_jwks(&self, jwks: Value) {
        lock(&self.state().feed).jwks = jwks;
    }

    /// Appends a revocation to the feed and returns the cursor that follows it.
    pub fn revoke(&self, grant_id: &str, revoked_at: u64) -> String {
        let mut feed = lock(&self.state().feed);
        feed.revocations.push(Revocation {
            grant_id: grant_id.to_owned(),
            revoked_at,
        });
        feed.revocations.len().to_string()
    }

    /// Every revocation in the feed, oldest first.
    pub fn revocations(&self) -> Vec<Revocation> {
        lock(&self.state().feed).revocations.clone()
    }

    /// The bearer credential the revocation feed requires (`None`: none).
    pub fn set_feed_credential(&self, credential: Option<&str>) {
        lock(&self.state().feed).credential = credential.map(str::to_owned);
    }

    /// Makes `route` answer `status` until [`Self::restore_feed`].
    pub fn fail_feed(&self, route: FeedRoute, status: u16) {
        lock(&self.state().feed).outages.insert(route, status);
    }

    /// Ends an outage started by [`Self::fail_feed`].
    pub fn restore_feed(&self, route: FeedRoute) {
        lock(&self.state().feed).outages.remove(&route);
    }

    /// Every OTLP batch accepted by `POST /v1/logs` (answered 200), in arrival order.
    pub fn accepted_logs(&self) -> Vec<Value> {
        lock(&self.state().feed).accepted_logs.clone()
    }

    /// The log records of every accepted batch
    /// (`resourceLogs[].scopeLogs[].logRecords[]`), in arrival order.
    pub fn accepted_log_records(&self) -> Vec<Value> {
        self.accepted_logs()
            .iter()
            .flat_map(|batch| items(batch, "resourceLogs"))
            .flat_map(|resource| items(resource, "scopeLogs"))
            .flat_map(|scope| items(scope, "logRecords"))
            .cloned()
            .collect()
    }

    /// Waits until at least `count` log records have been accepted, and returns them all.
    pub fn wait_for_log_records(&self, count: usize, timeout: Duration) -> Result<Vec<Value>> {
        wait_until(&format!("{count} accepted log records"), timeout, || {
            let records = self.accepted_log_records();
            Ok((records.len() >= count).then_some(records))
        })
    }
}

fn items<'a>(value: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(|array| array.iter())
        .into_iter()
        .flatten()
}
